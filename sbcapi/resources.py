"""The API's resources: the sections of the configuration document (sbcctl.configdoc), each item created,
read, changed and removed one at a time. Every write is checked as sbcctl import checks a whole document (the
same validators, the references across sections), then written as one row in a transaction with its audit
line, then reloaded into Kamailio. A tenant's token reaches only that tenant's DIDs, calls and records."""

from __future__ import annotations

import json
from collections.abc import Callable

from sbcapi.tokens import Caller
from sbcctl import configdoc, validate
from sbcctl.validate import InputError
from sbclib import registrations
from sbclib.rpc import new_routing_generation
from sbclib.settings import Settings

KEY = {"gateways": "id", "tenants": "name", "dids": "did", "acl": "id", "accounts": "username",
       "credentials": "host", "registrations": "name"}
WRITABLE = {section: [f for f in configdoc.TABLES[section][1] if f != "id" and f not in configdoc.SECRETS.get(
    section, ())] + (["password"] if section in configdoc.SECRETS else []) for section in configdoc.SECTIONS}
TENANT_WRITABLE = ("did", "tenant", "enabled", "description")  # a tenant's DIDs route by its own set only
LOCK = "sbc_configuration"  # MariaDB named lock: one writer of the configuration at a time


class ApiError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field

    def body(self) -> dict:
        return {"error": self.message, **({"field": self.field} if self.field else {})}


def public(section: str, item: dict) -> dict:
    """An item as the API shows it: never a secret."""
    return {k: v for k, v in item.items() if k not in configdoc.SECRETS.get(section, ())}


class Resources:
    def __init__(self, settings: Settings, connect: Callable, rpc: Callable):
        self.settings, self.connect, self.rpc = settings, connect, rpc  # rpc(method, *params)

    # ---- reads ----------------------------------------------------------------------------------

    def list(self, caller: Caller, section: str) -> list[dict]:
        self._may(caller, section)
        items = self._document(self.connect())[section]
        return [public(section, item) for item in items if self._own(caller, section, item)]

    def get(self, caller: Caller, section: str, key: str) -> dict:
        self._may(caller, section)
        doc = self._document(self.connect())
        return public(section, doc[section][self._find(caller, doc, section, key)])

    # ---- writes ---------------------------------------------------------------------------------

    def create(self, caller: Caller, section: str, body, path: str, force: bool = False) -> dict:
        self._may(caller, section)
        item, shown = self._item(caller, section, body, None)

        def mutate(doc):
            key = KEY[section]
            if key != "id" and any(str(i.get(key)).lower() == str(item.get(key)).lower() for i in doc[section]):
                raise ApiError(409, f"{item.get(key)} exists already (PATCH it)", key)
            doc[section].append(item)
            return len(doc[section]) - 1, None

        return {**self._write(caller, "POST", path, section, mutate, force), **shown}

    def update(self, caller: Caller, section: str, key: str, body, path: str, force: bool = False) -> dict:
        self._may(caller, section)

        def mutate(doc):
            index = self._find(caller, doc, section, key)
            before = dict(doc[section][index])
            item, _ = self._item(caller, section, body, before)
            doc[section][index] = item
            return index, before

        return self._write(caller, "PATCH", path, section, mutate, force)

    def delete(self, caller: Caller, section: str, key: str, path: str, force: bool = False) -> None:
        self._may(caller, section)

        def mutate(doc):
            index = self._find(caller, doc, section, key)
            return None, doc[section].pop(index)

        self._write(caller, "DELETE", path, section, mutate, force)

    # ---- the rules ------------------------------------------------------------------------------

    @staticmethod
    def _may(caller: Caller, section: str) -> None:
        if section not in configdoc.SECTIONS:
            raise ApiError(404, f"no such collection {section!r}")
        if caller.tenant is not None and section != "dids":
            raise ApiError(403, f"a tenant's token reaches its DIDs, calls and call records, not {section}")

    @staticmethod
    def _own(caller: Caller, section: str, item: dict) -> bool:
        return caller.tenant is None or (section == "dids" and item.get("tenant") == caller.tenant)

    def _find(self, caller: Caller, doc: dict, section: str, key: str) -> int:
        name = KEY[section]
        for index, item in enumerate(doc[section]):
            if str(item.get(name)).lower() == key.lower() and self._own(caller, section, item):
                return index
        raise ApiError(404, f"no {section} item {key!r}")  # another tenant's is not said to exist

    def _item(self, caller: Caller, section: str, body, before: dict | None) -> tuple[dict, dict]:
        """The document item a request body makes (merged into `before` for a PATCH), and what the answer
        shows once only (a generated password)."""
        if not isinstance(body, dict):
            raise ApiError(400, "the body is a JSON object of fields")
        allowed = TENANT_WRITABLE if caller.tenant is not None else WRITABLE[section]
        for name in body:
            if name not in allowed:
                status = 403 if caller.tenant is not None and name in WRITABLE[section] else 422
                raise ApiError(status, f"{name!r} cannot be set here (fields: {', '.join(allowed)})", name)
        if before is not None and KEY[section] in body and str(body[KEY[section]]).lower() != str(
                before[KEY[section]]).lower():
            raise ApiError(422, f"{KEY[section]} names the item: remove it and create another", KEY[section])
        item = {**(before or {}), **{k: v for k, v in body.items() if k != "password"}}
        if caller.tenant is not None:
            if item.get("tenant", caller.tenant) != caller.tenant:
                raise ApiError(403, "a tenant's DIDs are its own", "tenant")
            item["tenant"] = caller.tenant
        shown = {}
        if section in configdoc.SECRETS and ("password" in body or before is None):
            shown = self._secret(section, item, body)
        return item, shown

    def _secret(self, section: str, item: dict, body: dict) -> dict:
        """HA1 (or, for a credential without a realm, the password) from the body's password; an account
        without one gets a generated password, shown in this answer only."""
        password = body.get("password")
        try:
            if section == "accounts":
                generated = password is None
                password = validate.strong_password() if generated else password
                if not isinstance(password, str):
                    raise InputError("password", "text")
                validate.password(password, "password")
                if not isinstance(item.get("username"), str):
                    raise InputError("username", "missing")
                item["ha1"] = validate.ha1(item["username"], self.settings.auth_realm, password)
                return {"password": password} if generated else {}
            if not isinstance(password, str):
                raise InputError("password", "the peer's password (text)")
            validate.secret(password, "password")
            realm = item.get("realm") or ""
            # the digest's user: a registration's auth_username when it has one
            user = item.get("auth_username") or item.get("username") if section == "registrations" \
                else item.get("username")
            if realm and isinstance(user, str):
                item["ha1"] = validate.ha1(user, realm, password)
                item.pop("password", None)
            else:
                item["password"] = password
                item.pop("ha1", None)
            return {}
        except InputError as exc:
            raise ApiError(422, str(exc), exc.field) from None

    # ---- the write ------------------------------------------------------------------------------

    def _document(self, db) -> dict:
        return configdoc.to_document(configdoc.read_tables(db.rows), secrets=True)

    def _plan(self, doc: dict) -> configdoc.Plan:
        return configdoc.plan(doc, self.settings, {}, {}, force=True)

    def _write(self, caller: Caller, method: str, path: str, section: str, mutate, force: bool) -> dict:
        db = self.connect()
        conn = db.conn
        if db.rows("SELECT GET_LOCK(%s, 10) AS got", LOCK)[0]["got"] != 1:
            raise ApiError(503, "the configuration is being changed by another writer; try again")
        try:
            conn.begin()
            try:
                doc = self._document(db)
                unroutable_before = set(self._plan(doc).unroutable)
                served_before = self._served_sets(doc)
                index, before = mutate(doc)
                try:
                    plan = self._plan(doc)
                except configdoc.DocumentError as exc:
                    raise self._refusal(exc, section, index) from None
                emptied = sorted(served_before - self._served_sets(doc))
                if emptied and not force:
                    raise ApiError(409, f"sets {', '.join(map(str, emptied))} would have no enabled gateway, and "
                                        f"calls are sent there (.env's sets, tenants, DIDs); ?force=true writes it")
                newly = sorted(set(plan.unroutable) - unroutable_before)
                if newly and not force:
                    mine = section == "dids" and index is not None and doc[section][index]["did"] in newly
                    raise ApiError(422 if mine else 409, f"DIDs that could take no call after this: "
                                   f"{', '.join(newly)} (no enabled gateway in their set; ?force=true writes it)",
                                   "group" if mine else None)
                after = self._row(db, section, plan, index, before)
                db.write("INSERT INTO api_audit (token, method, path, status, before_json, after_json) "
                         "VALUES (%s, %s, %s, %s, %s, %s)", caller.name, method, path[:255],
                         201 if method == "POST" else 200,
                         json.dumps(public(section, before), default=str) if before else None,
                         json.dumps(public(section, after), default=str) if after else None)
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
        finally:
            db.rows("SELECT RELEASE_LOCK(%s) AS released", LOCK)
        self._reload(section, str((after or before or {}).get(KEY[section], "")), after is None)
        return public(section, after) if after else {}

    def _served_sets(self, doc: dict) -> set[int]:
        """The sets calls are sent to (.env's gateway and carrier sets, tenants', DIDs') that hold an enabled
        gateway."""
        used = {*self.settings.gateway_groups, self.settings.carrier_group}
        used |= {t.get("group") for t in doc["tenants"]} | {d.get("group") for d in doc["dids"] if d.get("group")}
        return {g.get("group") for g in doc["gateways"] if g.get("enabled", True)} & used

    @staticmethod
    def _refusal(exc: configdoc.DocumentError, section: str, index: int | None) -> ApiError:
        """A document error as the API answers it: the item's own field (422), or what else it breaks (409)."""
        own = f"{section}[{index}]"
        if index is not None and exc.field.startswith(own + "."):
            return ApiError(422, str(exc).split(": ", 1)[1], exc.field[len(own) + 1:])
        if exc.field == own:
            return ApiError(409, str(exc).split(": ", 1)[1])
        return ApiError(409, f"it would break {exc}")

    def _row(self, db, section: str, plan: configdoc.Plan, index: int | None, before: dict | None) -> dict | None:
        """Writes the item's row; returns the item as written (None once removed)."""
        table, columns, _ = configdoc.TABLES[section]
        key = KEY[section]
        key_column = columns[key]
        if index is None:
            db.write(f"DELETE FROM `{table}` WHERE `{key_column}` = %s", before[key])
            return None
        row = {c: v for c, v in plan.rows[section][index].items() if c != "id"}
        if before is None:
            new_id = db.insert(f"INSERT INTO `{table}` ({', '.join(f'`{c}`' for c in row)}) "
                               f"VALUES ({', '.join(['%s'] * len(row))})", *row.values())
            match_key = new_id if key == "id" else row[key_column]
        else:
            db.write(f"UPDATE `{table}` SET {', '.join(f'`{c}` = %s' for c in row)} WHERE `{key_column}` = %s",
                     *row.values(), before[key])
            match_key = before[key]
        written = configdoc.to_document({section: db.rows(
            f"SELECT * FROM `{table}` WHERE `{key_column}` = %s", match_key)}, secrets=True)[section]
        return written[0]

    def _reload(self, section: str, key: str = "", removed: bool = False) -> None:
        """What Kamailio must be told (the DB holds the change already: a failure is said, not undone)."""
        try:
            if section == "gateways":
                reload_dispatcher(self.rpc, self.settings.carrier_group)
            elif section == "acl":
                self.rpc("permissions.addressReload")
            elif section == "registrations":  # the one record (uac.reg_reload: once per 150 s at most)
                try:
                    self.rpc("uac.reg_remove" if removed else "uac.reg_refresh", key)
                except Exception as exc:  # a record uac never loaded needs no removing
                    if not (removed and registrations.forgotten(str(exc))):
                        raise
            new_routing_generation(self.rpc)
        except Exception as exc:  # noqa: BLE001 - any RPC failure: the change is in the DB, said so
            raise ApiError(502, f"written, but Kamailio was not told: {exc}") from None


def reload_dispatcher(call: Callable, carrier_group: int) -> None:
    """dispatcher.reload, each known peer kept in the state its probes found (as sbcctl does)."""
    from sbcctl import status

    known = status.states_before_reload(call("dispatcher.list"), carrier_group)
    try:
        call("dispatcher.reload")
    except Exception as exc:
        if "reload failed" not in str(exc).lower():  # a row named by an unresolved host is left out: the rest loaded
            raise
    status.restore_states(call, known, carrier_group)
