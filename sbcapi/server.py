"""The provisioning API's HTTP server: JSON over HTTPS (plain HTTP only on loopback), bearer tokens, the
resources of sbcapi.resources, active calls, call records and status; its OpenAPI document at
/v1/openapi.json. Python's own threaded HTTP server: the API serves operators' systems, not call traffic.

    python3 -m sbcapi [--env-file .env] [--run-dir run]
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import re
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from sbcapi import openapi, tokens
from sbcapi.resources import ApiError, Resources
from sbcctl import status
from sbcctl.store import Store
from sbcctl.validate import api_token_digest
from sbclib import dotenv, mediastats, rpc
from sbclib import settings as settings_mod

log = logging.getLogger("sbcapi")
MAX_BODY = 64 * 1024
_ITEM = re.compile(r"/v1/([a-z]+)(?:/([^/]+))?")
CDR_COLUMNS = ("id", "setup_time", "answer_time", "end_time", "duration", "direction", "did", "tenant", "gw_group",
               "gateway", "carrier", "code", "call_id", "pdd_ms", "answer_ms", "end_reason", *mediastats.COLUMNS)


class Api:
    """What the handler calls: authentication, then the resource or view a path names."""

    def __init__(self, settings: settings_mod.Settings, rpc_socket: Path):
        self.settings = settings
        self.rpc = functools.partial(rpc.call, rpc_socket)
        self.resources = Resources(settings, self.connect, self.rpc)
        self.schema = json.dumps(openapi.document()).encode()

    def connect(self) -> Store:
        try:
            return Store(self.settings)
        except Exception as exc:  # noqa: BLE001 - any DB failure: 503, said
            raise ApiError(503, f"the database does not answer: {exc}") from None

    def caller(self, authorization: str | None) -> tokens.Caller:
        presented = (authorization or "").removeprefix("Bearer ").strip()
        if not authorization or not authorization.startswith("Bearer ") or not presented:
            raise ApiError(401, "give a token: Authorization: Bearer <token> (sbcctl token add)")
        rows = self.connect().rows("SELECT name, scope FROM api_token WHERE token_sha256 = %s",
                                   api_token_digest(presented))
        if not rows:
            raise ApiError(401, "unknown token")
        return tokens.Caller(rows[0]["name"], rows[0]["scope"])

    def handle(self, method: str, target: str, authorization: str | None, body) -> tuple[int, object]:
        url = urlsplit(target)
        path, query = url.path.rstrip("/") or "/", parse_qs(url.query)
        if method == "GET" and path == "/v1/openapi.json":
            return 200, self.schema
        if method == "GET" and path == "/v1/health":
            return 200, {"ok": True}
        caller = self.caller(authorization)
        force = query.get("force", ["false"])[-1].lower() in ("1", "true", "yes")
        if path == "/v1/calls" and method == "GET":
            return 200, self.calls(caller)
        if path == "/v1/cdrs" and method == "GET":
            return 200, self.cdrs(caller, query.get("limit", ["50"])[-1])
        if path == "/v1/status" and method == "GET":
            if caller.tenant is not None:
                raise ApiError(403, "status is the operator's")
            return 200, self.status()
        m = _ITEM.fullmatch(path)
        if not m:
            raise ApiError(404, f"no such path {path!r} (see /v1/openapi.json)")
        section, key = m.group(1), unquote(m.group(2)) if m.group(2) else None
        r = self.resources
        if key is None and method == "GET":
            return 200, r.list(caller, section)
        if key is None and method == "POST":
            return 201, r.create(caller, section, body, target, force)
        if key is not None and method == "GET":
            return 200, r.get(caller, section, key)
        if key is not None and method == "PATCH":
            return 200, r.update(caller, section, key, body, target, force)
        if key is not None and method == "DELETE":
            r.delete(caller, section, key, target, force)
            return 204, None
        raise ApiError(405, f"{method} is not served on {path}")

    def calls(self, caller: tokens.Caller) -> list[dict]:
        try:
            dialogs = self.rpc("dlg.list") or []
        except (rpc.RpcError, OSError, ValueError) as exc:
            raise ApiError(502, f"Kamailio: {exc}") from None
        rows = status.calls(dialogs)
        return [row for row in rows if caller.tenant is None or row["tenant"] == caller.tenant]

    def cdrs(self, caller: tokens.Caller, limit: str) -> list[dict]:
        if not limit.isdigit() or not 1 <= int(limit) <= 1000:
            raise ApiError(422, "1..1000", "limit")
        sql = f"SELECT {', '.join(CDR_COLUMNS)} FROM sbc_cdr"
        args: list = []
        if caller.tenant is not None:
            sql += " WHERE tenant = %s"
            args.append(caller.tenant)
        rows = self.connect().rows(sql + " ORDER BY id DESC LIMIT %s", *args, int(limit))
        return json.loads(json.dumps(rows, default=str))

    def status(self) -> dict:
        try:
            listed = status.peers(self.rpc("dispatcher.list"), self.settings.carrier_group)
        except (rpc.RpcError, OSError, ValueError) as exc:
            raise ApiError(502, f"Kamailio: {exc}") from None
        return {"peers": listed, "rtpengine": status.rtpengine(self.settings), "redis": status.redis(self.settings)}


class Handler(BaseHTTPRequestHandler):
    api: Api  # set on the class by serve()
    server_version = "sbcapi"  # no Python version in the Server header
    sys_version = ""

    def _serve(self, method: str) -> None:
        body = None
        try:
            if method in ("POST", "PATCH", "PUT"):
                body = self._body()
            code, answer = self.api.handle(method, self.path, self.headers.get("Authorization"), body)
        except ApiError as exc:
            code, answer = exc.status, exc.body()
        except Exception:
            log.exception("%s %s", method, self.path)
            code, answer = 500, {"error": "internal error (logged)"}
        data = answer if isinstance(answer, bytes) else (json.dumps(answer).encode() if answer is not None else b"")
        self.send_response(code)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            raise ApiError(415, "send application/json")
        length = self.headers.get("Content-Length")
        if not length or not length.isdigit():
            raise ApiError(400, "a body with its Content-Length")
        if int(length) > MAX_BODY:
            raise ApiError(400, f"at most {MAX_BODY} bytes")
        try:
            return json.loads(self.rfile.read(int(length)))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"not JSON: {exc}") from None

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def do_PATCH(self):
        self._serve("PATCH")

    def do_DELETE(self):
        self._serve("DELETE")

    def do_PUT(self):  # not served: answered 405 in JSON, like every other refusal
        self._serve("PUT")

    def do_OPTIONS(self):
        self._serve("OPTIONS")

    def log_message(self, format, *args):
        log.info("%s %s", self.address_string(), format % args)


def serve(settings: settings_mod.Settings, rpc_socket: Path) -> ThreadingHTTPServer:
    handler = type("BoundHandler", (Handler,), {"api": Api(settings, rpc_socket)})
    server = ThreadingHTTPServer((settings.api_ip, settings.api_port), handler)
    server.daemon_threads = True
    if settings.api_tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(settings.api_tls_cert, settings.api_tls_key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sbcapi", description=__doc__.split("\n\n")[0])
    parser.add_argument("--env-file", type=Path, default=Path(__file__).resolve().parent.parent / ".env")
    parser.add_argument("--run-dir", type=Path, default=Path(__file__).resolve().parent.parent / "run")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="sbcapi: %(message)s", stream=sys.stderr)
    try:
        settings = settings_mod.load(dotenv.environment(args.env_file))
    except settings_mod.ConfigError as exc:
        print(f"sbcapi: configuration error: {exc}", file=sys.stderr)
        return 2
    server = serve(settings, rpc.socket_path(args.run_dir))
    scheme = "https" if settings.api_tls_cert else "http"
    log.info("serving on %s://%s:%d/v1 (schema: /v1/openapi.json)", scheme, settings.api_ip, settings.api_port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
