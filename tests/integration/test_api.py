"""The provisioning API (sbcapi) against the real stack: tokens and their scopes, a DID created through it
taking the next call, bad input answered 4xx naming the field, every write audited, and its OpenAPI document
as the contract requests generated from it are checked against (schemathesis)."""

import json
import random
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from testkit.harness import run_uac, start_peers, stop_peers, wait_for


def api_url(sbc) -> str:
    return f"http://{sbc.settings.api_ip}:{sbc.settings.api_port}"


def request(sbc, method: str, path: str, token: str | None = None, body=None, raw: bytes | None = None,
            content_type: str = "application/json") -> tuple[int, object]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if data is not None:
        headers["Content-Type"] = content_type
    req = urllib.request.Request(api_url(sbc) + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=15) as answer:
            text = answer.read()
            return answer.status, json.loads(text) if text else None
    except urllib.error.HTTPError as exc:
        text = exc.read()
        return exc.code, json.loads(text) if text else None


@pytest.fixture
def tokens(quiet_sbc, sbcctl):
    made = {}
    for name, scope in (("portal", "operator"), ("acme-portal", "tenant:acme"), ("voxket-portal", "tenant:voxket")):
        done = sbcctl("token", "add", name, "--scope", scope, "--json")
        assert done.returncode == 0, done.stderr
        made[name] = json.loads(done.stdout)[0]["token"]
    yield made
    for name in made:
        sbcctl("token", "remove", name)


def audit_rows(sbc, after_id: int) -> list[dict]:
    text = sbc.db.query(f"SELECT id, token, method, path, status, before_json, after_json FROM api_audit "
                        f"WHERE id > {after_id} ORDER BY id", sbc.settings.db_name)
    lines = text.strip().splitlines()
    head = lines[0].split("\t") if lines else []
    return [dict(zip(head, line.split("\t"), strict=True)) for line in lines[1:]]


def last_audit_id(sbc) -> int:
    return int(sbc.db.query("SELECT IFNULL(MAX(id), 0) FROM api_audit", sbc.settings.db_name, header=False).strip())


def test_the_schema_is_published_and_every_other_path_wants_a_known_token(quiet_sbc, tokens):
    code, schema = request(quiet_sbc, "GET", "/v1/openapi.json")
    assert code == 200 and schema["openapi"].startswith("3.") and "/v1/dids/{key}" in schema["paths"]
    assert request(quiet_sbc, "GET", "/v1/dids")[0] == 401
    assert request(quiet_sbc, "GET", "/v1/dids", "sbc_not-a-token")[0] == 401
    assert request(quiet_sbc, "GET", "/v1/dids", tokens["portal"])[0] == 200


def test_a_did_added_through_the_api_takes_the_next_call_and_every_write_is_audited(quiet_sbc, work, tokens):
    first = last_audit_id(quiet_sbc)
    did = "+14155550757"
    code, created = request(quiet_sbc, "POST", "/v1/dids", tokens["portal"],
                            {"did": did, "group": 1, "description": "through the API"})
    assert code == 201, created
    assert created == {"did": did, "group": 1, "uri": None, "tenant": "", "enabled": True,
                       "description": "through the API"}
    try:
        peers = start_peers(work, quiet_sbc, ["127.0.3.1", "127.0.3.9"])
        try:
            uac = run_uac(work, "api-did", "127.0.1.1:5060", did, "127.0.4.2")
            assert uac.wait(30) == 0, uac.log()
            code, changed = request(quiet_sbc, "PATCH", f"/v1/dids/{did}", tokens["portal"], {"group": 3})
            assert code == 200 and changed["group"] == 3, changed
            moved = run_uac(work, "api-moved", "127.0.1.1:5060", did, "127.0.4.2")
            assert moved.wait(30) == 0, moved.log()
        finally:
            stop_peers(peers)
        assert [m.request_uri for m in peers["127.0.3.1"].received("INVITE")] == [f"sip:{did}@127.0.3.1:5060"]
        assert [m.request_uri for m in peers["127.0.3.9"].received("INVITE")] == [f"sip:{did}@127.0.3.9:5060"]
    finally:
        code, _ = request(quiet_sbc, "DELETE", f"/v1/dids/{did}", tokens["portal"])
    assert code == 204
    assert request(quiet_sbc, "GET", f"/v1/dids/{did}", tokens["portal"])[0] == 404
    rows = audit_rows(quiet_sbc, first)
    assert [(r["token"], r["method"], r["path"]) for r in rows] == [
        ("portal", "POST", "/v1/dids"), ("portal", "PATCH", f"/v1/dids/{did}"), ("portal", "DELETE", f"/v1/dids/{did}")]
    assert rows[0]["before_json"] == "NULL" and json.loads(rows[0]["after_json"])["group"] == 1
    assert json.loads(rows[1]["before_json"])["group"] == 1 and json.loads(rows[1]["after_json"])["group"] == 3
    assert json.loads(rows[2]["before_json"])["did"] == did and rows[2]["after_json"] == "NULL"


@pytest.mark.parametrize("method,path,body,code,field", [
    ("POST", "/v1/dids", {"did": "4155550758", "group": 1}, 422, "did"),
    ("POST", "/v1/dids", {"did": "+14155550758", "tenant": "acmee"}, 422, "tenant"),
    ("POST", "/v1/dids", {"did": "+14155550758", "group": 77}, 422, "group"),  # no gateway in set 77
    ("POST", "/v1/dids", {"did": "+14155550101", "group": 1}, 409, "did"),  # exists
    ("POST", "/v1/dids", {"did": "+14155550758", "group": "1"}, 422, "group"),
    ("POST", "/v1/dids", {"did": "+14155550758", "gruop": 1}, 422, "gruop"),
    ("PATCH", "/v1/dids/+14155550101", {"group": None}, 422, "group"),  # no target left
    ("PATCH", "/v1/dids/+14155550101", {"did": "+14155550102"}, 422, "did"),
    ("POST", "/v1/gateways", {"uri": "sip:127.0.3.45;transport=tpc", "group": 7}, 422, "uri"),
    ("POST", "/v1/gateways", {"uri": "sip:127.0.3.1:5060", "group": 1}, 409, None),  # set 1 has it
    ("POST", "/v1/tenants", {"name": "new co", "group": 26}, 422, "name"),
    ("POST", "/v1/tenants", {"name": "newco", "group": 21}, 409, None),  # livekit-primary's set
    ("POST", "/v1/tenants", {"name": "newco", "group": 26, "callerid_policy": "replace"}, 422, "default_did"),
    ("PATCH", "/v1/tenants/acme", {"max_cps": -1}, 422, "max_cps"),
    ("DELETE", "/v1/tenants/acme", None, 409, None),  # its DID, account, ACL row name it
    ("DELETE", "/v1/gateways/4", None, 409, None),  # the backup set's only gateway: DIDs would take no call
    ("POST", "/v1/acl", {"group": 1, "ip": "127.0.4.1", "mask": 24}, 422, "ip"),
    ("POST", "/v1/accounts", {"username": "vapi-x", "tenant": "acme", "password": "short"}, 422, "password"),
    ("GET", "/v1/nothing", None, 404, None),
    ("GET", "/v1/dids/+19995550000", None, 404, None),
    ("PUT", "/v1/dids", {}, 405, None),
])
def test_bad_input_is_answered_4xx_naming_the_field_and_nothing_is_written(quiet_sbc, sbcctl, tokens, method, path,
                                                                          body, code, field):
    before = sbcctl("export").stdout
    first = last_audit_id(quiet_sbc)
    got, answer = request(quiet_sbc, method, path, tokens["portal"], body)
    assert got == code, answer
    assert answer["error"] and answer.get("field") == field, answer
    assert sbcctl("export").stdout.split("\n", 1)[1] == before.split("\n", 1)[1]  # (its first line: the time)
    assert audit_rows(quiet_sbc, first) == []


def test_malformed_requests_get_400_or_415(quiet_sbc, tokens):
    token = tokens["portal"]
    assert request(quiet_sbc, "POST", "/v1/dids", token, raw=b"{not json")[0] == 400
    assert request(quiet_sbc, "POST", "/v1/dids", token, raw=b"[1, 2]")[0] == 400
    assert request(quiet_sbc, "POST", "/v1/dids", token, raw=b"{}", content_type="text/plain")[0] == 415


def scope_cases(seed: int, count: int) -> list[tuple[str, str, str, object]]:
    """(method, path, which token, body): a tenant's token aimed at the other tenant's DIDs, at sections that
    are the operator's, at its own DIDs through another tenant's name; generated, not listed."""
    rnd = random.Random(seed)
    other_dids = ["+14155550401"]  # voxket's
    sections = ["gateways", "tenants", "acl", "accounts", "credentials"]
    cases = []
    for _ in range(count):
        kind = rnd.choice(["read-other", "change-other", "delete-other", "operator-section", "claim-other",
                           "status", "write-operator-section"])
        if kind == "read-other":
            cases.append(("GET", f"/v1/dids/{rnd.choice(other_dids)}", "acme-portal", None))
        elif kind == "change-other":
            cases.append(("PATCH", f"/v1/dids/{rnd.choice(other_dids)}", "acme-portal",
                          rnd.choice([{"description": "mine"}, {"enabled": False}, {"tenant": "acme"}])))
        elif kind == "delete-other":
            cases.append(("DELETE", f"/v1/dids/{rnd.choice(other_dids)}", "acme-portal", None))
        elif kind == "operator-section":
            cases.append(("GET", f"/v1/{rnd.choice(sections)}", rnd.choice(["acme-portal", "voxket-portal"]), None))
        elif kind == "write-operator-section":
            cases.append(("POST", f"/v1/{rnd.choice(sections)}", "acme-portal", {"name": "x", "group": 26}))
        elif kind == "claim-other":
            cases.append(("POST", "/v1/dids", "acme-portal",
                          {"did": f"+1415555{rnd.randint(1000, 9999)}", "tenant": "voxket"}))
        else:
            cases.append(("GET", "/v1/status", "acme-portal", None))
    return cases


def test_a_tenants_token_never_reads_or_changes_another_tenants_rows(quiet_sbc, sbcctl, tokens):
    before = sbcctl("export").stdout.split("\n", 1)[1]
    first = last_audit_id(quiet_sbc)
    answers = {}
    for method, path, who, body in scope_cases(20261205, 60):
        code, answer = request(quiet_sbc, method, path, tokens[who], body)
        answers.setdefault(code, 0)
        answers[code] += 1
        assert code in (403, 404), (method, path, who, body, code, answer)
        assert "Voxket main line" not in json.dumps(answer), answer  # the other's DID's fields never shown
    print(f"\nscope matrix (seed 20261205): 60 generated cases, answers {dict(sorted(answers.items()))}")
    assert sbcctl("export").stdout.split("\n", 1)[1] == before and audit_rows(quiet_sbc, first) == []
    code, own = request(quiet_sbc, "GET", "/v1/dids", tokens["acme-portal"])
    assert code == 200 and own and {d["tenant"] for d in own} == {"acme"}, own
    code, records = request(quiet_sbc, "GET", "/v1/cdrs?limit=1000", tokens["voxket-portal"])
    assert code == 200 and {r["tenant"] for r in records} <= {"voxket"}
    code, calls = request(quiet_sbc, "GET", "/v1/calls", tokens["acme-portal"])
    assert code == 200 and {c["tenant"] for c in calls} <= {"acme"}


def test_a_tenants_token_adds_and_removes_its_own_did(quiet_sbc, tokens):
    did = "+12125550777"
    code, created = request(quiet_sbc, "POST", "/v1/dids", tokens["acme-portal"], {"did": did})
    assert code == 201 and created["tenant"] == "acme" and created["group"] is None, created
    assert request(quiet_sbc, "GET", f"/v1/dids/{did}", tokens["voxket-portal"])[0] == 404
    assert request(quiet_sbc, "POST", "/v1/dids", tokens["acme-portal"], {"did": "+12125550778", "group": 1})[0] == 403
    assert request(quiet_sbc, "DELETE", f"/v1/dids/{did}", tokens["voxket-portal"])[0] == 404
    assert request(quiet_sbc, "DELETE", f"/v1/dids/{did}", tokens["acme-portal"])[0] == 204


def test_requests_generated_from_the_schema_get_no_5xx_and_answers_that_match_it(quiet_sbc, sbcctl, tokens):
    """Schemathesis: requests from /v1/openapi.json for every operation (valid and not), each answer checked
    against the schema and for server errors; the configuration is restored from an export afterwards (valid
    generated writes are written: that is the point)."""
    schemathesis = pytest.importorskip("schemathesis")  # a dev requirement (scripts/requirements-dev.txt)
    from hypothesis import HealthCheck, given, settings

    saved = sbcctl("export", "--secrets").stdout
    schema = schemathesis.from_uri(api_url(quiet_sbc) + "/v1/openapi.json", base_url=api_url(quiet_sbc))
    failures, counts = [], {}
    try:
        for result in schema.get_all_operations():
            operation = result.ok()

            @settings(max_examples=12, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy())
            def check(case):
                case.headers = {**(case.headers or {}), "Authorization": f"Bearer {tokens['portal']}"}
                response = case.call(timeout=15)
                counts[response.status_code] = counts.get(response.status_code, 0) + 1
                try:
                    case.validate_response(response, checks=(schemathesis.checks.not_a_server_error,
                                                             schemathesis.checks.status_code_conformance,
                                                             schemathesis.checks.content_type_conformance,
                                                             schemathesis.checks.response_schema_conformance))
                except AssertionError as exc:
                    failures.append(f"{case.method} {case.formatted_path}: {exc}")

            check()
    finally:
        restored = sbcctl("import", "-", "--force", stdin=saved)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    print(f"\nschemathesis: {sum(counts.values())} requests, answers {dict(sorted(counts.items()))}")
    assert not failures, "\n".join(failures[:10])
    assert wait_for(lambda: request(quiet_sbc, "GET", "/v1/health")[0] == 200, 5)


@pytest.mark.host_only  # the same Python ssl serves either runtime; this starts a second API beside the stack
def test_over_tls_it_answers_only_tls_1_2_or_newer_with_its_certificate(quiet_sbc, tls_ca, tokens, tmp_path):
    import os
    import ssl
    import subprocess
    import sys

    directory, authority = tls_ca
    authority.write(tmp_path, "api", ["127.0.0.1"])
    env = {**os.environ, **quiet_sbc.env, "API_PORT": "9496", "API_TLS_CERT": str(tmp_path / "api.crt"),
           "API_TLS_KEY": str(tmp_path / "api.key"), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    server = subprocess.Popen([sys.executable, "-m", "sbcapi", "--env-file", "/dev/null", "--run-dir",
                               str(quiet_sbc.run_dir)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    trusted = ssl.create_default_context(cafile=str(directory / "ca.pem"))

    def get(context, path="/v1/dids", scheme="https"):
        req = urllib.request.Request(f"{scheme}://127.0.0.1:9496{path}",
                                     headers={"Authorization": f"Bearer {tokens['portal']}"})
        with urllib.request.urlopen(req, timeout=5, context=context) as answer:
            return answer.status

    try:
        assert wait_for(lambda: _answers(get, trusted), 15), server.stderr.read1().decode() if server.poll() else ""
        assert get(trusted) == 200
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.load_verify_locations(str(directory / "ca.pem"))
        old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
        old.set_ciphers("ALL:@SECLEVEL=0")
        with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
            get(old)
        with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
            get(None, scheme="http")  # plain HTTP to the TLS port: no answer as HTTP
        untrusted = ssl.create_default_context()  # the system's CAs: the suite's CA is not among them
        with pytest.raises((ssl.SSLError, urllib.error.URLError)):
            get(untrusted)
    finally:
        server.terminate()
        server.wait(10)


def _answers(get, context) -> bool:
    try:
        return get(context, "/v1/health") == 200
    except (OSError, urllib.error.URLError):
        return False
