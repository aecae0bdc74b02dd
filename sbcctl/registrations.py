"""sbcctl registration: the SBC's own registrations with providers and carriers that want one (Kamailio's uac
module, table uacreg): added, changed, disabled, enabled, removed, and listed with what the registrar last
said. Secrets as for peer credentials: with a realm only the HA1 is kept; neither is ever shown."""

from __future__ import annotations

import typer

from sbcctl import validate
from sbcctl.cli import checked, fail, read_store, show, state, store
from sbcctl.validate import InputError
from sbclib import policy, registrations, rpc

registration_app = typer.Typer(help="the SBC's own registrations with providers and carriers (uac)",
                               no_args_is_help=True)

_COLUMNS = ("l_uuid AS name, auth_proxy AS registrar, r_username AS username, r_domain AS domain, "
            "auth_username, realm, IF(auth_ha1 <> '', 'ha1 ********', 'password ********') AS secret, expires, "
            "socket, IF(flags & 1, 'no', 'yes') AS enabled")


def _name(value: str) -> str:
    if not registrations.NAME.fullmatch(value):
        raise InputError("name", "a letter, then up to 63 letters, digits, '_', '.' or '-' (the Contact's user)")
    return value


def _expires(value: int) -> int:
    low, high = registrations.EXPIRES
    if not low <= value <= high:
        raise InputError("expires", f"{value} is outside {low}..{high}")
    return value


def _domain(value: str) -> str:
    """host[:port], as a Request-URI names a registrar's domain."""
    host, _, port = value.partition(":")
    if port and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise InputError("domain", f"port {port!r} is not 1..65535")
    return validate.host(host, "domain") + (f":{port}" if port else "")


def _side(registrar: str, carrier: bool) -> registrations.Side:
    """The socket a registration leaves by: a carrier's the private side's, a provider's the public side's."""
    s, transport = state["settings"], policy.transport(registrar)
    if carrier:
        if transport == "tls":
            raise InputError("registrar", "a carrier is reached over UDP or TCP")
        return registrations.side(transport, s.private_ip, s.private_port)
    if transport == "tls":
        if not s.tls:
            raise InputError("registrar", "TLS needs TLS_CERT/TLS_KEY set in .env")
        return registrations.side("tls", s.public_ip, s.tls_port)
    return registrations.side(transport, s.public_ip, s.public_port)


def _rpc(method: str, *params):
    try:
        return rpc.call(state["rpc"], method, *params)
    except (rpc.RpcError, ValueError) as exc:
        fail(1, f"written to the DB, but Kamailio did not take it: {exc}")


@registration_app.command("list")
def registration_list():
    """Each registration and its state now: registered (seconds left), registering, not registered, disabled."""
    rows = read_store().rows(f"SELECT {_COLUMNS} FROM uacreg ORDER BY l_uuid")
    try:
        dump = rpc.call(state["rpc"], "uac.reg_dump")
    except (rpc.RpcError, ValueError):
        dump = None
    now = registrations.states(dump)
    left = {str(r["l_uuid"]): int(r.get("diff_expires", 0)) for r in dump or [] if isinstance(r, dict)}
    for row in rows:
        row["state"] = now.get(row["name"], "unknown" if dump is None else "not loaded")
        row["expires_in"] = left.get(row["name"], "") if row["state"] == "registered" else ""
    show(rows, "registrations")


@registration_app.command("add")
def registration_add(name: str = typer.Argument(..., help="the registration's name: its Contact's user"),
                     registrar: str = typer.Option(..., help="where REGISTERs go: sip:host[:port][;transport=...]"),
                     username: str = typer.Option(..., help="the user registered (the AoR's user)"),
                     domain: str = typer.Option("", help="the AoR's domain (default: the registrar's host[:port])"),
                     auth_username: str = typer.Option("", help="the digest user, if not --username"),
                     password: str = typer.Option(..., prompt=True, hide_input=True,
                                                  help="asked for when not given (keeps it out of shell history)"),
                     realm: str = typer.Option("", help="the registrar's realm, if known: then only HA1 is kept"),
                     expires: int = typer.Option(600, help="seconds asked for (the registrar may give fewer)"),
                     carrier: bool = typer.Option(False, "--carrier",
                                                  help="a carrier: registers from the private side")):
    """The SBC registers NAME with REGISTRAR at once, then before each expiry; a refusal is retried after
    REGISTRATION_RETRY s. Calls sent to its Contact are routed by their To."""
    name, registrar, username, auth_username, realm, password, expires, side = checked(
        lambda: _name(name), lambda: validate.sip_uri(registrar, "registrar"),
        lambda: validate.digest_token(username, "username"),
        lambda: validate.digest_token(auth_username or username, "auth_username"),
        lambda: validate.digest_token(realm, "realm", 64, empty=True), lambda: validate.secret(password, "password"),
        lambda: _expires(expires), lambda: _side(registrar, carrier))
    domain = checked(lambda: _domain(domain))[0] if domain else \
        registrations.request_domain(policy.uri_host(registrar) or "", policy.named_port(registrar))
    ha1 = validate.ha1(auth_username, realm, password) if realm else ""
    db = store()
    if db.rows("SELECT id FROM uacreg WHERE l_uuid = %s", name):
        fail(2, f"name: a registration {name!r} exists (remove it first)")
    db.write("INSERT INTO uacreg (l_uuid, l_username, l_domain, r_username, r_domain, realm, auth_username, "
             "auth_password, auth_ha1, auth_proxy, expires, flags, reg_delay, contact_addr, socket) "
             "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0, 0, %s, %s)",
             name, name, side.contact.split(":")[0], username, domain, realm, auth_username,
             "" if realm else password, ha1, registrar, expires, side.contact, side.socket)
    _rpc("uac.reg_refresh", name)
    typer.echo(f"registration {name} added: {username}@{domain} via {registrar} from {side.socket}")


def _existing(name: str) -> None:
    if not store().rows("SELECT id FROM uacreg WHERE l_uuid = %s", name):
        fail(2, f"name: no registration {name!r}")


@registration_app.command("disable")
def registration_disable(name: str = typer.Argument(...)):
    """No more REGISTERs (the registrar's binding lapses at its expiry)."""
    _flag(name, 1)


@registration_app.command("enable")
def registration_enable(name: str = typer.Argument(...)):
    """Registers at once."""
    _flag(name, 0)


def _flag(name: str, disabled: int) -> None:
    _existing(name)
    store().write("UPDATE uacreg SET flags = %s WHERE l_uuid = %s", disabled, name)
    _rpc("uac.reg_refresh", name)
    _rpc("uac.reg_disable" if disabled else "uac.reg_enable", "l_uuid", name)
    typer.echo(f"registration {name} {'disabled' if disabled else 'enabled'}")


@registration_app.command("remove")
def registration_remove(name: str = typer.Argument(...)):
    """Forgotten at once (the registrar's binding lapses at its expiry)."""
    _existing(name)
    store().write("DELETE FROM uacreg WHERE l_uuid = %s", name)
    _rpc("uac.reg_remove", name)
    typer.echo(f"registration {name} removed")
