"""sbcctl registration: the SBC's own registrations with providers and carriers that want one (Kamailio's uac
module, table uacreg): added, disabled, enabled, removed, and listed with what the registrar last said.
Secrets as for peer credentials: with a realm only the HA1 is kept; neither is ever shown."""

from __future__ import annotations

import typer

from sbcctl import validate
from sbcctl.cli import checked, fail, kamailio_rpc, read_store, show, state, store
from sbclib import registrations, rpc

registration_app = typer.Typer(help="the SBC's own registrations with providers and carriers (uac)",
                               no_args_is_help=True)

_COLUMNS = ("l_uuid AS name, auth_proxy AS registrar, r_username AS username, r_domain AS domain, auth_username, "
            "realm, IF(auth_ha1 <> '', 'ha1 ********', 'password ********') AS secret, expires, l_domain AS side, "
            "socket, IF(flags & 1, 'no', 'yes') AS enabled")


def _rpc(method: str, *params):
    return kamailio_rpc(method, *params, failure="written to the DB, but Kamailio did not take it",
                        unless=registrations.forgotten if method == "uac.reg_remove" else lambda error: False)


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
    row = checked(lambda: validate.registration(
        state["settings"], name, registrar, username, domain=domain, auth_username=auth_username, realm=realm,
        password=password, expires=expires, carrier=carrier))[0]
    db = store()
    if db.rows("SELECT id FROM uacreg WHERE l_uuid = %s", name):
        fail(2, f"name: a registration {name!r} exists (remove it first)")
    db.write(f"INSERT INTO uacreg ({', '.join(row)}) VALUES ({', '.join(['%s'] * len(row))})", *row.values())
    _rpc("uac.reg_refresh", name)
    typer.echo(f"registration {name} added: {username}@{row['r_domain']} via {registrar} from {row['socket']}")


def _existing(name: str) -> None:
    if not store().rows("SELECT id FROM uacreg WHERE l_uuid = %s", name):
        fail(2, f"name: no registration {name!r}")


@registration_app.command("disable")
def registration_disable(name: str = typer.Argument(...)):
    """No more REGISTERs (the registrar's binding lapses at its expiry)."""
    _flag(name, registrations.DISABLED)


@registration_app.command("enable")
def registration_enable(name: str = typer.Argument(...)):
    """Registers at once."""
    _flag(name, 0)


def _flag(name: str, flags: int) -> None:
    _existing(name)
    store().write("UPDATE uacreg SET flags = %s WHERE l_uuid = %s", flags, name)
    _rpc("uac.reg_refresh", name)
    _rpc("uac.reg_disable" if flags else "uac.reg_enable", "l_uuid", name)
    typer.echo(f"registration {name} {'disabled' if flags else 'enabled'}")


@registration_app.command("remove")
def registration_remove(name: str = typer.Argument(...)):
    """Forgotten at once (the registrar's binding lapses at its expiry)."""
    _existing(name)
    store().write("DELETE FROM uacreg WHERE l_uuid = %s", name)
    _rpc("uac.reg_remove", name)
    typer.echo(f"registration {name} removed")
