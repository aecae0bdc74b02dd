
import pytest

from sbclib import policy, settings
from sbclib.didcache import DidRoute
from sbclib.settings import ConfigError


def test_defaults_are_loopback_demo_values():
    s = settings.load({})
    assert (s.private_ip, s.public_ip, s.private_port) == ("127.0.1.1", "127.0.2.1", 5060)
    assert s.default_gateway_group is None and s.gateway_groups == (1, 2, 3)


def test_kamailio_env_is_derived_from_the_same_values():
    env = settings.load({"PUBLIC_IP": "127.0.2.7", "DB_PASSWORD": "s3cret"}).kamailio_env()
    assert env["PUBLIC_IP"] == "127.0.2.7"
    assert env["DB_URL"] == "mysql://kamailio:s3cret@127.0.0.1:3306/kamailio"
    assert env["DB_CLUSTER_LIVE"] == "live=>" + env["DB_URL"]  # db_cluster's connection, the same URL
    assert env["PROBE_FROM"] == "sip:keepalive@sbc.invalid"  # dispatcher's ds_ping_from, and kemi/gateways/gwprobe.py's


@pytest.mark.parametrize("name,value", [
    ("PRIVATE_IP", "10.0.0"), ("PUBLIC_IP", "gateway"), ("PRIVATE_PORT", "0"), ("PUBLIC_PORT", "70000"),
    ("DB_PORT", "x"), ("DB_NAME", "kam;drop"), ("DB_PASSWORD", "a@b"), ("DEFAULT_REGION", "XX"),
    ("TECH_PREFIXES", "12a"), ("DEFAULT_GATEWAY_GROUP", "-1"), ("GATEWAY_GROUPS", ""),
    ("CARRIER_GROUP", "2"), ("RTP_PORT_MAX", "100"), ("DID_CACHE_TTL", "0"),
    ("UNKNOWN_PUBLIC_ACTION", "ignore"), ("UNKNOWN_PRIVATE_ACTION", ""), ("BAN_SECONDS", "0"),
    ("PIKE_MAX_REQUESTS", "1"), ("REDIS_IP", "localhost"), ("DROP_PRIVILEGES", "yes"),
    ("METRICS_IP", "::1"), ("METRICS_PORT", "0"), ("SNAPSHOT_DIR", "relative/dir"),
    ("SNAPSHOT_DIR", "/var/lib/sbc snap"), ("SNAPSHOT_DIR", "/a;b"), ("SNAPSHOT_INTERVAL", "0"),
])
def test_bad_values_name_the_field(name, value):
    with pytest.raises(ConfigError) as err:
        settings.load({name: value})
    assert err.value.field in (name, "RTP_PORT_MAX")
    assert str(err.value).startswith(err.value.field)


def test_same_socket_for_both_sides_is_refused():
    with pytest.raises(ConfigError, match="PUBLIC_PORT"):
        settings.load({"PUBLIC_IP": "127.0.1.1"})


def test_metrics_on_a_sip_socket_is_refused():
    with pytest.raises(ConfigError, match="METRICS_PORT"):
        settings.load({"METRICS_IP": "127.0.2.1", "METRICS_PORT": "5060"})
    with pytest.raises(ConfigError, match="METRICS_PORT"):  # the loopback SIP socket would take it
        settings.load({"PUBLIC_IP": "127.0.0.1", "METRICS_PORT": "5060"})


def test_choose_target_prefers_uri_then_group_then_default():
    assert policy.choose_target(DidRoute("+1", 2, "sip:a@127.0.3.5"), None) == policy.Target(uri="sip:a@127.0.3.5")
    assert policy.choose_target(DidRoute("+1", 2, None), 3) == policy.Target(group=2)
    assert policy.choose_target(None, 3) == policy.Target(group=3)
    assert policy.choose_target(None, None) is None


@pytest.mark.parametrize("uri,expected", [
    ("sip:127.0.3.5", "sip:+1415@127.0.3.5"),
    ("sip:agent@127.0.3.5:5080;transport=tcp", "sip:+1415@127.0.3.5:5080;transport=tcp"),
    ("sips:abc.sip.vapi.ai", "sips:+1415@abc.sip.vapi.ai"),
])
def test_with_user_sets_the_user_and_keeps_params(uri, expected):
    assert policy.with_user(uri, "+1415") == expected


@pytest.mark.parametrize("uri", ["http://x", "sip:", "sip:a@b?Route=x", "sip:a b@c", "tel:+1415"])
def test_foreign_or_header_bearing_uris_are_not_sip_uris(uri):
    assert not policy.is_sip_uri(uri)
    with pytest.raises(ValueError):
        policy.with_user(uri, "+1")


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504, 599, 401, 407, 301, 302])
def test_peer_failures_fail_over(status):
    assert policy.fails_over(status)


@pytest.mark.parametrize("status", [400, 403, 404, 480, 486, 487, 488, 600, 603, 606])
def test_answers_about_the_call_do_not_fail_over(status):
    assert not policy.fails_over(status)


def test_only_timeouts_and_unavailable_mark_a_peer_down():
    assert [s for s in range(300, 700) if policy.marks_down(s)] == [408, 503]


@pytest.mark.parametrize("target,route,backup,chain", [
    (policy.Target(group=1), DidRoute("+1", 1, None), 3, [3]),
    (policy.Target(group=3), DidRoute("+1", 3, None), 3, []),
    (policy.Target(group=1), DidRoute("+1", 1, None), None, []),
    (policy.Target(uri="sip:127.0.3.6"), DidRoute("+1", 2, "sip:127.0.3.6"), 3, [2, 3]),
    (policy.Target(uri="sip:127.0.3.6"), DidRoute("+1", 3, "sip:127.0.3.6"), 3, [3]),
    (policy.Target(uri="sip:127.0.3.6"), DidRoute("+1", None, "sip:127.0.3.6"), 3, [3]),
    (policy.Target(group=2), None, 3, [3]),
])
def test_failover_chain(target, route, backup, chain):
    assert policy.failover_groups(target, route, backup) == chain


def test_groups_round_trip_through_an_avp_string():
    assert policy.decode_groups(policy.encode_groups([2, 3])) == [2, 3]
    assert policy.decode_groups("") == [] and policy.decode_groups(None) == []


@pytest.mark.parametrize("name,value", [("DS_PING_REPLY_CODES", "class=9"), ("DS_PING_REPLY_CODES", "200"),
                                        ("BACKUP_GATEWAY_GROUP", "7"), ("GATEWAY_NO_REPLY_MS", "5")])
def test_bad_failover_settings_name_the_field(name, value):
    with pytest.raises(ConfigError, match=name):
        settings.load({name: value})


def test_the_demo_db_password_is_refused_in_a_deployment():
    with pytest.raises(ConfigError, match="DB_PASSWORD"):
        settings.load({"DROP_PRIVILEGES": "1"})
    assert settings.load({"DROP_PRIVILEGES": "1", "DB_PASSWORD": "s3cret-from-env", "REDIS_PASSWORD": "r3dis-secret",
                          "SBCCTL_DB_PASSWORD": "sbcctl-s3cret",
                          "CALLID_MASK_KEY": "a-secret-key-of-32-characters-xx"}).drop_privileges


def test_the_demo_callid_mask_key_is_refused_in_a_deployment():
    with pytest.raises(ConfigError, match="CALLID_MASK_KEY"):
        settings.load({"DROP_PRIVILEGES": "1", "DB_PASSWORD": "s3cret-from-env", "REDIS_PASSWORD": "r3dis-secret",
                       "SBCCTL_DB_PASSWORD": "sbcctl-s3cret"})


def test_redis_always_asks_for_a_password_and_a_deployment_refuses_the_demo_one():
    with pytest.raises(ConfigError, match="REDIS_PASSWORD"):
        settings.load({"REDIS_PASSWORD": ""})
    with pytest.raises(ConfigError, match="REDIS_PASSWORD"):
        settings.load({"DROP_PRIVILEGES": "1", "DB_PASSWORD": "s3cret-from-env", "SBCCTL_DB_PASSWORD": "sbcctl-s3cret"})
    assert settings.load({}).kamailio_env()["REDIS_SERVER"] == \
        "name=tps;addr=127.0.0.1;port=6379;pass=demo-only-change-me-redis"


@pytest.mark.parametrize("key", ["", "short-key", "with space in the key",
                                 'quote"in-the-key-here', "back\\slash-in-the-key"])
def test_a_mask_key_kamailio_cannot_take_is_refused(key):
    with pytest.raises(ConfigError, match="CALLID_MASK_KEY"):
        settings.load({"CALLID_MASK_KEY": key})


def test_the_mask_key_reaches_kamailio():
    env = settings.load({"CALLID_MASK_KEY": "k" * 20}).kamailio_env()
    assert env["CALLID_MASK_KEY"] == "k" * 20


@pytest.mark.parametrize("name", ["User-Agent", "Server", "X-Tenant", "X-Gateway-Trace", "P-Charging-Vector",
                                  "Organization", "Warning", "P-Access-Network-Info"])
def test_side_headers_cover_software_and_internals(name):
    assert policy.side_headers((name.lower(),)) == [name.lower()]


@pytest.mark.parametrize("name", ["Via", "Route", "Record-Route", "Contact", "From", "To", "Call-ID", "CSeq",
                                  "Content-Type", "Content-Length", "Refer-To", "Reason", "P-Asserted-Identity",
                                  "Allow", "Supported", "RSeq", "RAck"])
def test_side_headers_never_touch_what_routing_or_the_call_needs(name):
    assert policy.side_headers((name.lower(),)) == []
    assert policy.outside_whitelist((name.lower(),)) == []  # nor does the whitelist of a new call


@pytest.mark.parametrize("name", ["authorization", "proxy-authorization"])
def test_credentials_never_cross_to_the_other_side(name):
    assert policy.outside_whitelist((name,)) == [name]  # a new call
    assert policy.side_headers((name,)) == [name]  # requests inside a call


def test_each_kamailio_start_gets_a_fresh_nonzero_server_id(tmp_path):
    """rtpengine answers a repeated ng cookie (server_id, PID, counter) with a cached reply: a container's
    restart repeats the PIDs, so only a fresh server_id keeps the first offers after it from old replies."""
    from stack.services import Kamailio

    ids = {int(Kamailio(settings.load({}), {}, tmp_path, False).env()["SERVER_ID"]) for _ in range(50)}
    assert len(ids) == 50
    assert all(0 < i < 2**31 for i in ids)


@pytest.mark.parametrize("field", ["RTPENGINE_NG_IP", "REDIS_IP", "METRICS_IP", "API_IP"])
@pytest.mark.parametrize("value", ["127.0.2.1", "0.0.0.0"])
def test_control_and_state_sockets_are_refused_on_the_public_side(field, value):
    with pytest.raises(settings.ConfigError) as refused:
        settings.load({field: value})
    assert refused.value.field == field


@pytest.mark.parametrize("env,field", [
    ({"API_IP": "198.51.100.7"}, "API_IP"),  # off loopback without TLS: the tokens would cross in clear
    ({"API_TLS_CERT": "/etc/ssl/certs/ca-certificates.crt"}, "API_TLS_KEY"),
    ({"API_PORT": "9494"}, "API_PORT"),  # the metrics' port
    ({"API_IP": "127.0.1.1", "API_PORT": "5060"}, "API_PORT"),  # the private SIP socket
])
def test_the_api_stays_on_a_management_address_and_leaves_loopback_only_over_tls(env, field):
    with pytest.raises(ConfigError) as refused:
        settings.load(env)
    assert refused.value.field == field


def test_the_api_off_loopback_with_tls_is_accepted():
    pem = "/etc/ssl/certs/ca-certificates.crt"  # any readable PEM file: the check is that the pair is given
    s = settings.load({"API_IP": "198.51.100.7", "API_TLS_CERT": pem, "API_TLS_KEY": pem})
    assert (s.api_ip, s.api_port, s.api_tls_cert) == ("198.51.100.7", 9480, pem)


def test_limits_have_no_unlimited_value():
    for field in ("TENANT_MAX_CALLS", "TENANT_MAX_CPS", "OUTBOUND_MAX_CALLS", "OUTBOUND_MAX_CPS"):
        with pytest.raises(settings.ConfigError):
            settings.load({field: "0"})


def test_sbcctl_writes_the_configuration_with_its_own_db_user_and_password():
    with pytest.raises(ConfigError, match="SBCCTL_DB_USER"):
        settings.load({"SBCCTL_DB_USER": "kamailio"})
    with pytest.raises(ConfigError, match="SBCCTL_DB_PASSWORD"):
        settings.load({"DROP_PRIVILEGES": "1", "DB_PASSWORD": "s3cret-from-env"})
    with pytest.raises(ConfigError, match="SBCCTL_DB_PASSWORD"):
        settings.load({"SBCCTL_DB_PASSWORD": "with space"})


def test_kamailios_db_user_may_read_and_write_call_records_and_dialogs_only():  # (and topos' state of them)
    from stack.services import grants
    statements = grants(settings.load({}))
    kamailio = [g for g in statements if g.startswith("GRANT") and "'kamailio'" in g]
    assert kamailio == ["GRANT SELECT ON `kamailio`.* TO 'kamailio'@'%';",
                        "GRANT INSERT ON `kamailio`.`sbc_cdr` TO 'kamailio'@'%';",
                        "GRANT INSERT, UPDATE, DELETE ON `kamailio`.`dialog` TO 'kamailio'@'%';",
                        "GRANT INSERT, UPDATE, DELETE ON `kamailio`.`dialog_vars` TO 'kamailio'@'%';",
                        "GRANT INSERT, DELETE ON `kamailio`.`topos_dialog` TO 'kamailio'@'%';"]
    assert [g for g in statements if g.startswith("GRANT") and "'sbcctl'" in g] == \
        ["GRANT SELECT, INSERT, UPDATE, DELETE ON `kamailio`.* TO 'sbcctl'@'%';"]
    # Each start takes back whatever an earlier version granted, before granting anew.
    for user in ("kamailio", "sbcctl"):
        revoke = statements.index(f"REVOKE ALL PRIVILEGES, GRANT OPTION FROM '{user}'@'%';")
        assert revoke < min(i for i, g in enumerate(statements) if g.startswith("GRANT") and f"'{user}'" in g)
