"""The SBC's whole configuration as one document (sbcctl export / import): gateways and carriers, tenants,
DIDs, the ACL, gateway accounts, peer credentials and the SBC's own registrations. Pure functions: rows to a
document, a document checked into rows (every field through the validators sbcctl's commands use; errors
name `section[i].field`), and what an import would change. Secrets (HA1s, passwords) leave only when asked
for; a document without them keeps the ones the DB holds."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from sbcctl import validate
from sbcctl.store import DISABLED, TRYING  # an imported row is pending (trying) until its first answered probe
from sbcctl.validate import InputError
from sbclib import capacity, destinations, dsattrs, registrations
from sbclib.settings import Settings

VERSION = 1
SECTIONS = ("gateways", "tenants", "dids", "acl", "accounts", "credentials", "registrations")
# Each section's columns as the document names them -> the table's; the key that identifies a row.
TABLES = {
    "gateways": ("dispatcher", {"id": "id", "group": "setid", "uri": "destination", "priority": "priority",
                                "attrs": "attrs", "enabled": "flags", "description": "description"}, ("group", "uri")),
    "tenants": ("tenant", {"name": "name", "enabled": "enabled", "group": "gateway_group",
                           "allow_backup": "allow_backup", "max_calls": "max_calls", "max_cps": "max_cps",
                           "max_duration": "max_duration", "max_minutes_24h": "max_minutes_24h",
                           "callerid_policy": "callerid_policy", "default_did": "default_did",
                           "media_timeout": "media_timeout", "media_keepalive": "media_keepalive",
                           "transfer": "transfer", "allowed_countries": "allowed_countries",
                           "allowed_prefixes": "allowed_prefixes", "denied_prefixes": "denied_prefixes",
                           "number_types": "number_types", "context_headers": "context_headers",
                           "early_ringing": "early_ringing", "stir_required": "stir_required",
                           "ringback": "ringback"}, ("name",)),
    "dids": ("did_routing", {"did": "did", "group": "gateway_group", "uri": "gateway_uri", "tenant": "tenant",
                             "enabled": "enabled", "description": "description"}, ("did",)),
    "acl": ("address", {"id": "id", "group": "grp", "ip": "ip_addr", "mask": "mask", "port": "port", "tag": "tag",
                        "dedicated": "dedicated"}, ("group", "ip", "mask", "port")),
    "accounts": ("gateway_account", {"username": "username", "tenant": "tenant", "enabled": "enabled",
                                     "ha1": "ha1"}, ("username",)),
    "credentials": ("peer_credential", {"host": "host", "username": "username", "realm": "realm", "ha1": "ha1",
                                        "password": "password"}, ("host",)),
    "registrations": ("uacreg", {"name": "l_uuid", "registrar": "auth_proxy", "username": "r_username",
                                 "domain": "r_domain", "auth_username": "auth_username", "realm": "realm",
                                 "expires": "expires", "carrier": "l_domain", "enabled": "flags",
                                 "ha1": "auth_ha1", "password": "auth_password"}, ("name",)),
}
SECRETS = {"accounts": ("ha1",), "credentials": ("ha1", "password"), "registrations": ("ha1", "password")}
# Columns a section's rows hold that the document does not name (derived from .env and the named fields):
# read with the rest, so that an import says whether they change.
DERIVED = {"registrations": ("l_username", "contact_addr", "socket", "reg_delay")}
_HA1 = re.compile(r"[0-9a-f]{32}")
_SOCKETS = ("private", "public", "public_tls")


class DocumentError(InputError):
    """A bad document: `where` is section[i].field."""


def to_document(tables: dict[str, list[dict]], secrets: bool) -> dict:
    """Rows as read from each table (columns as TABLES names them) -> the document."""
    doc: dict = {"version": VERSION}
    for section in SECTIONS:
        _, columns, _ = TABLES[section]
        items = []
        for row in tables.get(section, []):
            item = {name: row.get(column) for name, column in columns.items()}
            if section == "gateways":
                item["enabled"] = not (int(row["flags"] or 0) & DISABLED)
            elif section == "registrations":
                item["enabled"] = not (int(row["flags"] or 0) & registrations.DISABLED)
                item["carrier"] = row.get("l_domain") == "private"
            for flag in ("enabled", "allow_backup", "media_keepalive", "dedicated", "early_ringing", "stir_required",
                         "ringback"):
                if flag in item and not isinstance(item[flag], bool):
                    item[flag] = bool(item[flag])
            if not secrets:
                for name in SECRETS.get(section, ()):
                    item.pop(name, None)
            elif section in ("credentials", "registrations"):
                item.pop("ha1" if not row.get("realm") else "password", None)
            items.append(item)
        doc[section] = items
    return doc


def read_tables(rows) -> dict[str, list[dict]]:
    """Each section's rows as its table holds them (columns as TABLES names them); `rows(sql)` queries the DB."""
    tables = {}
    for section in SECTIONS:
        table, columns, key = TABLES[section]
        order = ", ".join(columns[k] for k in key)
        wanted = sorted({*columns.values(), *DERIVED.get(section, ())})
        tables[section] = rows(f"SELECT {', '.join(f'`{c}`' for c in wanted)} FROM `{table}` ORDER BY {order}")
    return tables


@dataclass
class Plan:
    """What an import writes: each table's rows (columns as the table names them)."""

    rows: dict[str, list[dict]] = field(default_factory=dict)
    missing_secrets: list[str] = field(default_factory=list)  # where the document relies on the DB's
    unroutable: list[str] = field(default_factory=list)  # DIDs no enabled gateway can take (written by force)


def _fail(where: str, problem: str):
    raise DocumentError(where, problem)


def _items(doc: dict, section: str) -> list[dict]:
    items = doc.get(section, [])
    if items is None:
        return []
    if not isinstance(items, list):
        _fail(section, "a list of items")
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            _fail(f"{section}[{i}]", "an item with named fields")
        unknown = set(item) - set(TABLES[section][1])
        if unknown:
            _fail(f"{section}[{i}].{sorted(unknown)[0]}", f"unknown field (known: {', '.join(TABLES[section][1])})")
    return items


def _get(item: dict, where: str, name: str, kind, default=..., nullable: bool = False):
    value = item.get(name, default)
    if value is ...:
        _fail(f"{where}.{name}", "missing")
    if value is None and (nullable or default is None):
        return None
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        _fail(f"{where}.{name}", f"a whole number (got {value!r})")
    if kind is bool and not isinstance(value, bool):
        _fail(f"{where}.{name}", f"true or false (got {value!r})")
    if kind is str and not isinstance(value, str):
        _fail(f"{where}.{name}", f"text (got {value!r}; quote numbers such as DIDs)")
    return value


def _checked(where: str, check, *args):
    """check(*args); its InputError re-named with the item's place in the document."""
    try:
        return check(*args)
    except InputError as exc:
        raise DocumentError(f"{where}.{exc.field}", str(exc).split(": ", 1)[1]) from None


def _unique(section: str, items: list[dict], key) -> None:
    seen: dict = {}
    for i, item in enumerate(items):
        k = key(item)
        if k in seen:
            _fail(f"{section}[{i}]", f"the same as {section}[{seen[k]}] ({', '.join(map(str, k))})")
        seen[k] = i


def gateways(items: list[dict], settings: Settings) -> list[dict]:
    rows = []
    for i, item in enumerate(items):
        where = f"gateways[{i}]"
        uri = _checked(where, validate.sip_uri, _get(item, where, "uri", str))
        group = _checked(where, validate.group, _get(item, where, "group", int))
        priority = _checked(where, validate.priority, _get(item, where, "priority", int, 10))
        description = _checked(where, validate.text, _get(item, where, "description", str, ""), "description")
        attrs = _get(item, where, "attrs", str, "")
        parsed = dsattrs.parse(attrs)
        if "weight" in parsed:
            if not parsed["weight"].isdigit():
                _fail(f"{where}.attrs", f"weight={parsed['weight']} is not a whole number")
            _checked(f"{where}.attrs", validate.weight, int(parsed["weight"]))
        for name in capacity.CAP_ATTRS:
            if name in parsed and (error := capacity.cap_error(name, parsed[name])):
                _fail(f"{where}.attrs", error)
        if "codecs" in parsed or "transcode" in parsed:
            if parsed.get("transcode", "0") not in ("0", "1"):
                _fail(f"{where}.attrs", f"transcode={parsed['transcode']} is not 0 or 1")
            try:
                validate.codec_policy(parsed.get("codecs", ""), parsed.get("transcode") == "1",
                                      parsed.get("sockname") == "private")
            except validate.InputError as exc:
                _fail(f"{where}.attrs", str(exc))
        if parsed.get("sockname", "public") not in _SOCKETS:
            _fail(f"{where}.attrs", f"sockname={parsed['sockname']} is not one of {', '.join(_SOCKETS)}")
        carrier = parsed.get("sockname") == "private"
        if carrier != (group == settings.carrier_group):
            _fail(f"{where}.attrs", f"sockname=private is for CARRIER_GROUP {settings.carrier_group} "
                                    "and all of its rows")
        _checked(where, validate.gateway_media, parsed.get("media", "rtp"), uri, carrier, settings.tls)
        enabled = _get(item, where, "enabled", bool, True)
        row = {"setid": group, "destination": uri, "priority": priority, "attrs": attrs,
               "flags": TRYING if enabled else TRYING | DISABLED, "description": description}
        if item.get("id") is not None:
            row["id"] = _get(item, where, "id", int)
        rows.append(row)
    _unique("gateways", items, lambda it: (it["group"], it["uri"].lower()))
    _unique("gateways", [r for r in items if r.get("id") is not None], lambda it: (it["id"],))
    return rows


def tenants(items: list[dict], settings: Settings) -> list[dict]:
    rows = []
    for i, item in enumerate(items):
        w = f"tenants[{i}]"
        name = _checked(w, validate.tenant_name, _get(item, w, "name", str))
        group = _get(item, w, "group", int)
        if group == settings.carrier_group:
            _fail(f"{w}.group", f"{group} is CARRIER_GROUP, the carriers' set")
        _checked(w, validate.group, group)
        default_did = _get(item, w, "default_did", str, None)
        if default_did:
            _checked(w, validate.did, default_did, settings.default_region, "default_did")
        policy = _get(item, w, "callerid_policy", str, "reject")
        _checked(w, validate.callerid_policy, policy, default_did)
        timeout = _get(item, w, "media_timeout", int, None)
        if timeout is not None:
            _checked(w, validate.media_timeout, timeout)
        transfer = _checked(w, validate.transfer, _get(item, w, "transfer", str, "refuse"))
        stir_required = _get(item, w, "stir_required", bool, False)
        if stir_required and not settings.stir:
            _fail(f"{w}.stir_required", "STIR_CA_FILE is not set in .env: no caller ID could be verified")
        limits = {f: _checked(w, validate.limit, _get(item, w, f, int, 0), f, high)
                  for f, high in (("max_calls", 100_000), ("max_cps", 10_000), ("max_duration", 86400))}
        minutes = _checked(w, validate.minutes_cap, _get(item, w, "max_minutes_24h", int, 0))
        lists = {column: _checked(w, validate.destination_list, parse, _get(item, w, column, str, "") or "", column)
                 for column, parse in (("allowed_countries", destinations.parse_countries),
                                       ("allowed_prefixes", destinations.parse_prefixes),
                                       ("denied_prefixes", destinations.parse_prefixes),
                                       ("number_types", destinations.parse_types))}
        rows.append({"name": name, "enabled": int(_get(item, w, "enabled", bool, True)), "gateway_group": group,
                     "allow_backup": int(_get(item, w, "allow_backup", bool, False)), **limits,
                     "max_minutes_24h": minutes, "callerid_policy": policy, "default_did": default_did or None,
                     "media_timeout": timeout, "media_keepalive": int(_get(item, w, "media_keepalive", bool, False)),
                     "transfer": transfer, **lists,
                     "early_ringing": int(_get(item, w, "early_ringing", bool, False)),
                     "stir_required": int(stir_required),
                     "ringback": int(_get(item, w, "ringback", bool, False)),
                     # null as absent: a document of a version before the column
                     "context_headers": _checked(w, validate.context_list, _get(item, w, "context_headers", str, "")
                                                 if item.get("context_headers") is not None else "")})
    _unique("tenants", items, lambda it: (it["name"],))
    _unique("tenants", items, lambda it: (it["group"],))
    return rows


def dids(items: list[dict], settings: Settings, tenant_names: set[str], enabled_sets: set[int],
         tenant_sets: dict[str, int]) -> tuple[list[dict], list[tuple[str, str, int | None]]]:
    """The rows, and what cannot take calls (a set without an enabled gateway): refused unless forced."""
    rows, unroutable = [], []
    for i, item in enumerate(items):
        w = f"dids[{i}]"
        did = _checked(w, validate.did, _get(item, w, "did", str), settings.default_region)
        group = _get(item, w, "group", int, None)
        if group is not None:
            _checked(w, validate.group, group)
        uri = _get(item, w, "uri", str, None)
        if uri is not None:
            _checked(w, validate.sip_uri, uri)
        tenant = _checked(w, validate.text, _get(item, w, "tenant", str, ""), "tenant")
        if group is None and uri is None and not tenant:
            _fail(f"{w}.group", "a DID needs a group, a uri or a tenant")
        if tenant and tenant not in tenant_names:
            _fail(f"{w}.tenant", f"no tenant named {tenant!r} in the document")
        target = group if group is not None else tenant_sets.get(tenant)
        if uri is None and target not in enabled_sets:
            unroutable.append((w, did, target))
        rows.append({"did": did, "gateway_group": group, "gateway_uri": uri, "tenant": tenant,
                     "enabled": int(_get(item, w, "enabled", bool, True)),
                     "description": _checked(w, validate.text, _get(item, w, "description", str, ""),
                                             "description", 255)})
    _unique("dids", items, lambda it: (it["did"],))
    return rows, unroutable


def acl(items: list[dict], tenant_names: set[str]) -> list[dict]:
    rows = []
    for i, item in enumerate(items):
        w = f"acl[{i}]"
        group = _checked(w, validate.acl_group, _get(item, w, "group", int))
        mask = _get(item, w, "mask", int, 32)
        ip, mask = _checked(w, validate.network, f"{_get(item, w, 'ip', str)}/{mask}")
        port = _get(item, w, "port", int, 0)
        if not 0 <= port <= 65535:
            _fail(f"{w}.port", f"{port} is outside 0..65535 (0 = any)")
        tag = _get(item, w, "tag", str, None)
        if tag is not None:
            _checked(w, validate.text, tag, "tag")
        dedicated = _get(item, w, "dedicated", bool, False)
        if dedicated and (group != 2 or tag not in tenant_names):
            _fail(f"{w}.dedicated", "only a gateway row (group 2) tagged with a tenant of the document")
        row = {"grp": group, "ip_addr": ip, "mask": mask, "port": port, "tag": tag, "dedicated": int(dedicated)}
        if item.get("id") is not None:
            row["id"] = _get(item, w, "id", int)
        rows.append(row)
    _unique("acl", items, lambda it: (it["group"], it["ip"], it.get("mask", 32), it.get("port", 0)))
    return rows


def accounts(items: list[dict], tenant_names: set[str], kept: dict[str, dict]) -> tuple[list[dict], list[str]]:
    rows, missing = [], []
    for i, item in enumerate(items):
        w = f"accounts[{i}]"
        username = _checked(w, validate.digest_token, _get(item, w, "username", str), "username")
        tenant = _get(item, w, "tenant", str)
        if tenant not in tenant_names:
            _fail(f"{w}.tenant", f"no tenant named {tenant!r} in the document")
        ha1 = _get(item, w, "ha1", str, None)
        if ha1 is None:
            ha1 = (kept.get(username) or {}).get("ha1")
            if not ha1:
                _fail(f"{w}.ha1", "not in the document and none kept for this username (export --secrets)")
            missing.append(w)
        elif not _HA1.fullmatch(ha1):
            _fail(f"{w}.ha1", "32 lowercase hex digits")
        rows.append({"username": username, "tenant": tenant, "enabled": int(_get(item, w, "enabled", bool, True)),
                     "ha1": ha1})
    _unique("accounts", items, lambda it: (it["username"],))
    return rows, missing


def credentials(items: list[dict], kept: dict[str, dict]) -> tuple[list[dict], list[str]]:
    rows, missing = [], []
    for i, item in enumerate(items):
        w = f"credentials[{i}]"
        host = _checked(w, validate.host, _get(item, w, "host", str))
        username = _checked(w, validate.digest_token, _get(item, w, "username", str), "username")
        realm = _checked(w, validate.digest_token, _get(item, w, "realm", str, ""), "realm", 128, True)
        secret_field = "ha1" if realm else "password"
        secret = _get(item, w, secret_field, str, None)
        if secret is None:
            old = kept.get(host) or {}
            if old.get("realm", "") != realm or not old.get(secret_field):
                _fail(f"{w}.{secret_field}", "not in the document and none kept for this host and realm "
                                             "(export --secrets)")
            secret = old[secret_field]
            missing.append(w)
        elif realm and not _HA1.fullmatch(secret):
            _fail(f"{w}.ha1", "32 lowercase hex digits")
        elif not realm:
            _checked(w, validate.secret, secret, "password")
        rows.append({"host": host, "username": username, "realm": realm, "ha1": secret if realm else "",
                     "password": "" if realm else secret})
    _unique("credentials", items, lambda it: (it["host"].lower(),))
    return rows, missing


def registrations_rows(items: list[dict], settings: Settings, kept: dict[str, dict]) -> tuple[list[dict], list[str]]:
    """uacreg rows, by the validator `sbcctl registration add` uses; socket and Contact from this SBC's .env."""
    rows, missing = [], []
    for i, item in enumerate(items):
        w = f"registrations[{i}]"
        name = _get(item, w, "name", str)
        realm = _get(item, w, "realm", str, "")
        secret_field = "ha1" if realm else "password"
        secret = _get(item, w, secret_field, str, None)
        if secret is None:
            old = kept.get(name) or {}
            if (old.get("realm") or "") != realm or not old.get(f"auth_{secret_field}"):
                _fail(f"{w}.{secret_field}", "not in the document and none kept for this registration and realm "
                                             "(export --secrets)")
            secret = old[f"auth_{secret_field}"]
            missing.append(w)
        registrar, username = _get(item, w, "registrar", str), _get(item, w, "username", str)
        given = {"domain": _get(item, w, "domain", str, ""), "auth_username": _get(item, w, "auth_username", str, ""),
                 "expires": _get(item, w, "expires", int, 600), "carrier": _get(item, w, "carrier", bool, False),
                 "enabled": _get(item, w, "enabled", bool, True)}
        rows.append(_checked(w, functools.partial(
            validate.registration, settings, name, registrar, username, realm=realm,
            password=None if realm else secret, given_ha1=secret if realm else None, **given)))
    _unique("registrations", items, lambda it: (str(it["name"]),))
    return rows, missing


def plan(doc, settings: Settings, kept_accounts: dict[str, dict], kept_credentials: dict[str, dict],
         force: bool = False, kept_registrations: dict[str, dict] | None = None) -> Plan:
    """The document checked whole, before anything is written; DocumentError names the first bad field."""
    if not isinstance(doc, dict):
        _fail("document", "a mapping of sections (sbcctl export writes one)")
    if doc.get("version") != VERSION:
        _fail("version", f"{doc.get('version')!r}: this sbcctl reads version {VERSION}")
    unknown = set(doc) - {"version", *SECTIONS}
    if unknown:
        _fail(sorted(unknown)[0], f"unknown section (known: {', '.join(SECTIONS)})")
    items = {section: _items(doc, section) for section in SECTIONS}
    out = Plan()
    out.rows["gateways"] = gateways(items["gateways"], settings)
    out.rows["tenants"] = tenants(items["tenants"], settings)
    names = {row["name"] for row in out.rows["tenants"]}
    enabled_sets = {row["setid"] for row in out.rows["gateways"] if not row["flags"] & DISABLED}
    tenant_sets = {row["name"]: row["gateway_group"] for row in out.rows["tenants"]}
    out.rows["dids"], unroutable = dids(items["dids"], settings, names, enabled_sets, tenant_sets)
    out.unroutable = [did for _, did, _ in unroutable]
    if unroutable and not force:
        said = [f"{where} ({did}): set {target} has no enabled gateway" for where, did, target in unroutable[:5]]
        _fail("dids", "these could take no call: " + "; ".join(said)
              + (f" and {len(unroutable) - 5} more" if len(unroutable) > 5 else "") + " (--force imports them)")
    out.rows["acl"] = acl(items["acl"], names)
    out.rows["accounts"], missing = accounts(items["accounts"], names, kept_accounts)
    out.rows["credentials"], missing_creds = credentials(items["credentials"], kept_credentials)
    out.rows["registrations"], missing_regs = registrations_rows(items["registrations"], settings,
                                                                 kept_registrations or {})
    out.missing_secrets = missing + missing_creds + missing_regs
    return out


def changes(current: dict[str, list[dict]], planned: Plan) -> dict[str, dict[str, int]]:
    """Per section: rows added, removed, changed and unchanged, matched by each section's key."""
    summary = {}
    for section in SECTIONS:
        _, columns, key = TABLES[section]
        keyed = [columns[k] for k in key]

        def index(rows, keyed=keyed):
            return {tuple(str(r.get(k)).lower() for k in keyed): {c: r.get(c) for c in r if c != "id"} for r in rows}

        before, after = index(current.get(section, [])), index(planned.rows.get(section, []))
        same = [k for k in after if k in before and _same(before[k], after[k])]
        summary[section] = {"added": len(set(after) - set(before)), "removed": len(set(before) - set(after)),
                            "changed": len([k for k in after if k in before]) - len(same), "unchanged": len(same)}
    return summary


def _same(old: dict, new: dict) -> bool:
    def text(column, value):
        if column == "flags":  # only whether it is disabled is configuration; the rest is probing state
            return str(int(value or 0) & DISABLED)
        return str(value if value is not None else "")
    return all(text(c, old.get(c)) == text(c, v) for c, v in new.items())
