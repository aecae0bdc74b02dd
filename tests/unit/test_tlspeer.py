"""TLS toward the gateways (kemi/topology/tlspeer.py, settings, stack/tlsconf.py): names a certificate must carry,
the SNI asked, the socket a TLS destination leaves by, and what the settings refuse."""

import pytest

from kemi.gateways import attempts
from kemi.telemetry import metrics
from kemi.topology import tlspeer
from sbclib import settings
from stack import tlsconf
from tests.integration.tlsca import Authority
from tests.unit.test_routes import make_routes

VAPI = "66e592d6-d690-45bb-8996-18215af542d0.sip.vapi.ai"
TLS_ENV = {"TLS_CERT": "/etc/sbc/tls/sbc.crt", "TLS_KEY": "/etc/sbc/tls/sbc.key"}


@pytest.mark.parametrize("expected,presented,ok", [
    (VAPI, VAPI, True),
    (VAPI, VAPI.upper(), True),
    (VAPI, "*.sip.vapi.ai", True),
    (VAPI, "*.vapi.ai", False),  # one label only
    ("sip.vapi.ai", "*.vapi.ai", True),
    ("vapi.ai", "*.ai", False),  # never a wildcard for a whole registry
    (VAPI, "sip.vapi.ai", False),
    (VAPI, "x*.sip.vapi.ai", False),  # a partial-label wildcard is not honoured
    ("gw.tls.test.", "gw.tls.test", True),
])
def test_a_presented_name_matches_as_rfc_6125_says(expected, presented, ok):
    assert tlspeer.name_matches(expected, presented) is ok


def test_a_certificate_names_come_from_its_subject_alt_names_and_an_address_only_as_an_ip_name():
    cert, _ = Authority("unit CA").issue(["gw.tls.test", "*.sip.vapi.ai", "127.0.7.60"])
    dns, ips = tlspeer.certificate_names(cert.decode())
    assert dns == ("gw.tls.test", "*.sip.vapi.ai") and ips == ("127.0.7.60",)
    assert tlspeer.verified([VAPI, "127.0.9.9"], dns, ips)
    assert tlspeer.verified(["other.test", "127.0.7.60"], dns, ips)
    assert not tlspeer.verified(["other.test", "127.0.9.9"], dns, ips)
    assert not tlspeer.verified(["127.0.7.60"], ("127.0.7.60",), ())  # an address in a DNS name is not one


def pem_for(*names: str) -> str:
    return Authority("unit CA").issue(list(names))[0].decode()


def over_tls(ksr, pem, src="127.0.7.60", hosts=None):
    ksr.pvs.update({"$pr": "tls", "$tls_peer_raw_cert": pem})
    ksr.returns["kx.get_srcip"] = src
    ksr.returns["htable.sht_get"] = hosts


def test_a_message_over_tls_from_the_gateway_its_certificate_names_passes(ksr):
    over_tls(ksr, pem_for("gw.tls.test"), hosts="gw.tls.test other.tls.test")
    assert tlspeer.refusal("public") is None
    assert ksr.counted(metrics.TLS_REFUSED) == []


def test_a_certificate_for_another_name_is_refused_logged_and_counted(ksr):
    over_tls(ksr, pem_for("impostor.test"), hosts="gw.tls.test")
    assert tlspeer.refusal("public") == "certificate name"
    assert ksr.counted(metrics.TLS_REFUSED) == [("public", "certificate name")]
    assert "impostor.test, not for gw.tls.test, 127.0.7.60" in ksr.logged()


def test_an_address_only_gateway_needs_its_address_in_the_certificate(ksr):
    over_tls(ksr, pem_for("gw.tls.test", "127.0.3.70"), src="127.0.3.70")
    assert tlspeer.refusal("public") is None
    over_tls(ksr, pem_for("gw.tls.test"), src="127.0.3.70")
    assert tlspeer.refusal("public") == "certificate name"


@pytest.mark.parametrize("proto,pem", [("udp", None), ("tcp", None), ("tls", None), ("tls", "")])
def test_without_a_peer_certificate_there_is_nothing_to_check(ksr, proto, pem):
    """A connection the gateway opened (we ask no client certificate), or no TLS at all."""
    ksr.pvs.update({"$pr": proto, "$tls_peer_raw_cert": pem})
    assert tlspeer.refusal("public") is None
    assert ksr.called("kx.get_srcip") == []


def test_an_unreadable_certificate_is_refused(ksr):
    over_tls(ksr, "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n", hosts="gw.tls.test")
    assert tlspeer.refusal("public") == "certificate name"


@pytest.mark.parametrize("destination,sni", [
    (f"sip:{VAPI};transport=tls", VAPI),
    (f"sips:{VAPI}", VAPI),
    ("sip:127.0.3.70:5061;transport=tls", None),  # an address: no SNI, and no earlier attempt's either
])
def test_a_tls_destination_is_asked_for_by_its_name(ksr, destination, sni):
    tlspeer.ask_for_name(destination)
    assert ksr.actions() == [("pv.unset", ("$xavp(tls)",))] + ([("pv.sets", (tlspeer.SNI, sni))] if sni else [])


@pytest.mark.parametrize("destination", [f"sip:{VAPI}", f"sip:{VAPI};transport=tcp", "sip:127.0.3.1:5060"])
def test_other_destinations_touch_no_tls_state(ksr, destination):
    tlspeer.ask_for_name(destination)
    assert ksr.actions() == []


def test_a_tls_attempt_leaves_by_the_tls_socket_with_its_sni(ksr):
    routes = make_routes(**{k.lower(): v for k, v in TLS_ENV.items()})
    ksr.returns["kx.get_duri"] = f"sip:{VAPI};transport=tls"
    attempts.resend(routes.svc, routes.svc.to_gateway, attempts.destination())
    assert ksr.actions()[:3] == [("pv.sets", ("$fs", "tls:127.0.2.1:5061")), ("pv.unset", ("$xavp(tls)",)),
                                 ("pv.sets", (tlspeer.SNI, VAPI))]


def test_without_tls_configured_a_tls_destination_gets_no_tls_socket():
    s = settings.load({})
    assert not s.tls and s.socket("public", "tls") == "udp:127.0.2.1:5060"
    assert settings.load(TLS_ENV).socket("public", "tls") == "tls:127.0.2.1:5061"
    assert settings.load(TLS_ENV).socket("private", "tls") == "udp:127.0.1.1:5060"


@pytest.mark.parametrize("env,field", [
    ({"TLS_CERT": "/etc/sbc/tls/sbc.crt"}, "TLS_KEY"),
    ({"TLS_KEY": "/etc/sbc/tls/sbc.key"}, "TLS_CERT"),
    ({**TLS_ENV, "TLS_CERT": "sbc.crt"}, "TLS_CERT"),
    ({**TLS_ENV, "TLS_KEY": "/etc/sbc/my key.pem"}, "TLS_KEY"),
    ({**TLS_ENV, "TLS_CA": ""}, "TLS_CA"),
    ({**TLS_ENV, "TLS_PORT": "5060"}, "TLS_PORT"),
    ({**TLS_ENV, "TLS_PORT": "70000"}, "TLS_PORT"),
])
def test_bad_tls_settings_name_their_field(env, field):
    with pytest.raises(settings.ConfigError) as err:
        settings.load(env)
    assert err.value.field == field


def test_tls_cfg_serves_tls_1_2_or_newer_and_checks_gateways_against_tls_ca(tmp_path):
    for name in ("sbc.crt", "sbc.key", "ca.pem"):
        (tmp_path / name).write_text("x")
    s = settings.load({"TLS_CERT": f"{tmp_path}/sbc.crt", "TLS_KEY": f"{tmp_path}/sbc.key",
                       "TLS_CA": f"{tmp_path}/ca.pem"})
    text = tlsconf.write(s, tmp_path).read_text()
    server, client = text.split("[server:default]")[1].split("[client:default]")
    assert "method = TLSv1.2+" in server and "method = TLSv1.2+" in client
    assert f"certificate = {tmp_path}/sbc.crt" in server and "verify_certificate = no" in server
    assert "verify_certificate = yes" in client and "require_certificate = yes" in client
    assert f"ca_list = {tmp_path}/ca.pem" in client


def test_a_tls_file_that_cannot_be_read_is_named_before_kamailio_starts(tmp_path):
    s = settings.load({"TLS_CERT": f"{tmp_path}/missing.crt", "TLS_KEY": f"{tmp_path}/k", "TLS_CA": f"{tmp_path}/c"})
    with pytest.raises(settings.ConfigError) as err:
        tlsconf.write(s, tmp_path)
    assert err.value.field == "TLS_CERT" and not (tmp_path / tlsconf.NAME).exists()
