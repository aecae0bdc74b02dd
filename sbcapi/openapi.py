"""The API's OpenAPI 3.0 document, built from the configuration document's sections (sbcctl.configdoc) so that
what is published and what is checked cannot drift (tests/unit/test_sbcapi.py holds them together)."""

from __future__ import annotations

from sbcapi.resources import KEY, WRITABLE
from sbcctl import configdoc

_TEXT, _INT, _BOOL = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
# Each field's JSON type; nullable ones say so. What the validators accept beyond the type is in the
# descriptions (and in the 422 answers, which name the field).
FIELDS: dict[str, dict[str, dict]] = {
    "gateways": {"id": _INT, "group": _INT, "uri": {**_TEXT, "description": "sip:host[:port][;transport=udp|tcp|tls]"},
                 "priority": _INT, "attrs": {**_TEXT, "description": "dispatcher attrs: weight=N;media=srtp;..."},
                 "enabled": _BOOL, "description": _TEXT},
    "tenants": {"name": _TEXT, "enabled": _BOOL, "group": _INT, "allow_backup": _BOOL, "max_calls": _INT,
                "max_cps": _INT, "max_duration": _INT, "max_minutes_24h": _INT,
                "callerid_policy": {"type": "string", "enum": ["reject", "replace"]},
                "default_did": {**_TEXT, "nullable": True}, "media_timeout": {**_INT, "nullable": True},
                "media_keepalive": _BOOL, "transfer": {"type": "string", "enum": ["refuse", "relay"]},
                "allowed_countries": _TEXT, "allowed_prefixes": _TEXT, "denied_prefixes": _TEXT,
                "number_types": _TEXT,
                "context_headers": {**_TEXT, "description": "diversion, history-info, user-to-user, X- names"},
                "early_ringing": _BOOL, "stir_required": _BOOL, "ringback": _BOOL},
    "dids": {"did": {**_TEXT, "description": "E.164 with +"}, "group": {**_INT, "nullable": True},
             "uri": {**_TEXT, "nullable": True}, "tenant": _TEXT, "enabled": _BOOL, "description": _TEXT},
    "acl": {"id": _INT, "group": {"type": "integer", "enum": [1, 2, 3, 4]}, "ip": _TEXT, "mask": _INT,
            "port": _INT, "tag": {**_TEXT, "nullable": True}, "dedicated": _BOOL},
    "accounts": {"username": _TEXT, "tenant": _TEXT, "enabled": _BOOL},
    "credentials": {"host": _TEXT, "username": _TEXT, "realm": _TEXT},
    "registrations": {"name": {**_TEXT, "description": "its Contact's user: a letter first, never a number"},
                      "registrar": {**_TEXT, "description": "sip:host[:port][;transport=udp|tcp|tls]"},
                      "username": _TEXT, "domain": _TEXT, "auth_username": _TEXT, "realm": _TEXT,
                      "expires": _INT, "carrier": _BOOL, "enabled": _BOOL},
}
PASSWORD = {"type": "string", "writeOnly": True, "description": "accounts: 16+ characters, omitted = generated and "
                                                                "answered once; credentials: the peer's; "
                                                                "registrations: the registrar's"}
REQUIRED = {"gateways": ["group", "uri"], "tenants": ["name", "group"], "dids": ["did"],
            "acl": ["group", "ip"], "accounts": ["username", "tenant"], "credentials": ["host", "username",
                                                                                     "password"],
            "registrations": ["name", "registrar", "username", "password"]}
_ERROR = {"type": "object", "properties": {"error": _TEXT, "field": _TEXT}, "required": ["error"]}


def _answer(description: str, schema: dict | None = None) -> dict:
    return {"description": description, **({"content": {"application/json": {"schema": schema}}} if schema else {})}


def _errors(*codes: int) -> dict:
    said = {400: "bad request (not JSON, or not an object)", 401: "no or unknown token",
            403: "the token's scope does not reach this", 404: "no such item (or another tenant's)",
            409: "it conflicts with another item (named)", 415: "not application/json",
            422: "a field is wrong (named in `field`)", 502: "written, but Kamailio was not told",
            503: "the database does not answer, or another write is under way"}
    return {str(code): _answer(said[code], {"$ref": "#/components/schemas/Error"}) for code in codes}


def document() -> dict:
    schemas: dict = {"Error": _ERROR}
    paths: dict = {}
    for section in configdoc.SECTIONS:
        name = section.capitalize()
        fields = FIELDS[section]
        schemas[name] = {"type": "object", "properties": fields, "additionalProperties": False}
        writable = {f: FIELDS[section].get(f, PASSWORD) for f in WRITABLE[section]}
        schemas[f"{name}New"] = {"type": "object", "properties": writable, "required": REQUIRED[section],
                                 "additionalProperties": False}
        schemas[f"{name}Change"] = {"type": "object", "properties": writable, "additionalProperties": False}
        item = {"$ref": f"#/components/schemas/{name}"}
        key = {"name": "key", "in": "path", "required": True, "schema": _TEXT,
               "description": f"the item's {KEY[section]}"}
        force = {"name": "force", "in": "query", "required": False, "schema": _BOOL,
                 "description": "write it although DIDs could then take no call"}
        body = {"required": True, "content": {"application/json": {"schema": {
            "$ref": f"#/components/schemas/{name}New"}}}}
        change = {"required": True, "content": {"application/json": {"schema": {
            "$ref": f"#/components/schemas/{name}Change"}}}}
        paths[f"/v1/{section}"] = {
            "get": {"operationId": f"list_{section}", "summary": f"all {section} (a tenant's token: its own DIDs)",
                    "responses": {"200": _answer("the items", {"type": "array", "items": item}), **_errors(401, 403)}},
            "post": {"operationId": f"create_{section}", "parameters": [force], "requestBody": body,
                     "responses": {"201": _answer("created", item), **_errors(400, 401, 403, 409, 415, 422, 502,
                                                                              503)}}}
        paths[f"/v1/{section}/{{key}}"] = {
            "get": {"operationId": f"get_{section}", "parameters": [key],
                    "responses": {"200": _answer("the item", item), **_errors(401, 403, 404)}},
            "patch": {"operationId": f"change_{section}", "parameters": [key, force], "requestBody": change,
                      "responses": {"200": _answer("changed", item), **_errors(400, 401, 403, 404, 409, 415, 422,
                                                                               502, 503)}},
            "delete": {"operationId": f"remove_{section}", "parameters": [key, force],
                       "responses": {"204": _answer("removed"), **_errors(401, 403, 404, 409, 502, 503)}}}
    row = {"type": "object", "additionalProperties": True}
    paths["/v1/calls"] = {"get": {"operationId": "calls", "summary": "active calls (a tenant's token: its own)",
                                  "responses": {"200": _answer("calls", {"type": "array", "items": row}),
                                                **_errors(401, 502)}}}
    paths["/v1/cdrs"] = {"get": {"operationId": "cdrs", "summary": "call records, newest first (a tenant's: its own)",
                                 "parameters": [{"name": "limit", "in": "query", "required": False,
                                                 "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}],
                                 "responses": {"200": _answer("records", {"type": "array", "items": row}),
                                               **_errors(401, 422, 503)}}}
    paths["/v1/status"] = {"get": {"operationId": "status", "summary": "gateways' and carriers' states (operator)",
                                   "responses": {"200": _answer("status", row), **_errors(401, 403, 502)}}}
    return {"openapi": "3.0.3",
            "info": {"title": "Voice AI SBC provisioning API", "version": "1",
                     "description": "Bearer tokens from `sbcctl token add` (scope operator, or tenant:<name>)."
                                    " Every write is checked as `sbcctl import` checks a document, written in one "
                                    "transaction with its audit line, and reloaded into Kamailio."},
            "paths": paths,
            "components": {"schemas": schemas,
                           "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}},
            "security": [{"token": []}]}
