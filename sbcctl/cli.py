"""sbcctl: manage gateways, carriers, DIDs, the ACL, peer credentials and tenants' media settings (every change
takes effect at once via RPC); see the SBC's state, its active calls and its call records.

Exit codes: 0 done, 1 the DB or Kamailio did not answer, 2 bad input (nothing written).
"""

from __future__ import annotations

import functools
import json
import sys
import time
from decimal import Decimal
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from sbcctl import status, validate
from sbcctl.snapshotstore import SnapshotStore
from sbcctl.store import Reads, Store
from sbclib import dotenv, policy, rpc, snapshot
from sbclib import settings as settings_mod

REPO = Path(__file__).resolve().parent.parent
app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
credential_app = typer.Typer(help="what the SBC answers a gateway's or carrier's 401/407 with", no_args_is_help=True)
app.add_typer(credential_app, name="credential")
account_app = typer.Typer(help="gateways that authenticate by digest (sources in ACL group 4)", no_args_is_help=True)
app.add_typer(account_app, name="account")
console = Console()
state: dict = {}


@app.callback()
def main(env_file: Path = typer.Option(REPO / ".env", envvar="SBCCTL_ENV_FILE", help="configuration file"),
         run_dir: Path = typer.Option(REPO / "run", envvar="SBCCTL_RUN_DIR",
                                      help="the SBC's run directory (control sockets)"),
         as_json: bool = typer.Option(False, "--json", help="machine-readable output")):
    try:
        state["settings"] = settings_mod.load(dotenv.environment(env_file))
    except settings_mod.ConfigError as exc:
        fail(2, f"configuration error: {exc}")
    state["rpc"] = rpc.socket_path(run_dir)
    configured = state["settings"].snapshot_dir
    state["snapshot"] = Path(configured) if configured else run_dir / "snapshot"
    state["json"] = as_json


def json_anywhere(args: list[str]) -> list[str]:
    """--json is sbcctl's own option; operators also put it after the command (`sbcctl did list --json`): moved
    to the front (up to a `--`, after which every word is an argument)."""
    end = args.index("--") if "--" in args else len(args)
    rest = [a for a in args[:end] if a != "--json"] + args[end:]
    return (["--json"] if len(rest) < len(args) else []) + rest


def fail(code: int, message: str):
    typer.echo(f"sbcctl: {message}", err=True)
    raise typer.Exit(code)


def read_store() -> Reads:
    """The DB; while it does not answer, the SBC's snapshot of its last known configuration (said so)."""
    try:
        return Store(state["settings"])
    except Exception as exc:  # noqa: BLE001 - any DB failure is an operator-facing error
        try:
            reads = _SnapshotReads(state["snapshot"])
        except (snapshot.SnapshotError, OSError):
            fail(1, f"database: {exc}")
        typer.echo(f"sbcctl: database: {exc}; showing the snapshot of {reads.taken:%Y-%m-%d %H:%M:%S} "
                   f"({state['snapshot']})", err=True)
        return reads


class _SnapshotReads(SnapshotStore):
    def rows(self, sql: str, *args) -> list[dict]:
        try:
            return super().rows(sql, *args)
        except snapshot.SnapshotError as exc:
            fail(1, f"database does not answer, and this is {exc}")


def checked(*checks):
    """Run validators; on the first bad value exit 2 naming the field, before any write."""
    try:
        return [check() for check in checks]
    except validate.InputError as exc:
        fail(2, str(exc))


def tenant_exists(db, name: str, field: str = "tag") -> None:
    if not db.rows("SELECT name FROM tenant WHERE name = %s", name):
        fail(2, f"{field}: no tenant named {name!r}")


def kamailio_rpc(method: str, *params, failure: str = "Kamailio", unless=lambda error: False):
    """One RPC; when Kamailio does not take it, exit 1 saying `failure` and why (not when `unless(error)`)."""
    try:
        return rpc.call(state["rpc"], method, *params)
    except (rpc.RpcError, ValueError) as exc:
        if not unless(str(exc)):
            fail(1, f"{failure}: {exc}")
        return None


def kamailio_answers():
    """Before any write: a change Kamailio cannot be told about is not made at all."""
    try:
        rpc.call(state["rpc"], "core.version", timeout=2)
    except (rpc.RpcError, ValueError) as exc:
        fail(1, f"Kamailio does not answer, nothing written: {exc}")


def store() -> Store:
    """The DB for a change: only once Kamailio answers, so that the change also takes effect."""
    kamailio_answers()
    return read_store()


def reload(*methods: str):
    for method in methods:
        known = _states_now() if method == "dispatcher.reload" else []
        for attempt in range(10):
            try:
                rpc.call(state["rpc"], method)
                _restore(known)
                break
            except rpc.RpcError as exc:
                if "ongoing reload" in str(exc).lower() and attempt < 9:  # modules' reload_delta
                    time.sleep(0.5)
                    continue
                if method == "dispatcher.reload" and _only_unresolved_names_left_out():
                    _restore(known)  # the rows it loaded
                    break
                fail(1, f"written to the DB, but Kamailio did not reload: {exc}")
            except ValueError as exc:
                fail(1, f"written to the DB, but Kamailio did not reload: {exc}")


def _restore(known: list[tuple[str, int, str]]) -> None:
    status.restore_states(functools.partial(rpc.call, state["rpc"]), known, state["settings"].carrier_group)


def _states_now() -> list[tuple[str, int, str]]:
    """What dispatcher's probes have found: its reload would load every row as its DB flags say instead, so an
    unrelated change sent calls to dead gateways until their probes failed again."""
    try:
        return status.states_before_reload(rpc.call(state["rpc"], "dispatcher.list"),
                                           state["settings"].carrier_group)
    except (rpc.RpcError, ValueError, KeyError, TypeError):
        return []


def _only_unresolved_names_left_out() -> bool:
    """dispatcher.reload answers "Reload Failed" when a row did not load, having loaded all the others;
    a row named by host name is left out while its name does not resolve, and joins its set when it does
    (the gateway DNS timer reloads, kemi/gateways/hostnames.py). True, with a warning, when only such rows are out."""
    try:
        listed = status.peers(rpc.call(state["rpc"], "dispatcher.list"), state["settings"].carrier_group)
    except (rpc.RpcError, ValueError, KeyError, TypeError):
        return False
    loaded = {peer["uri"] for peer in listed}
    out = [row["uri"] for row in store().gateways() if row["uri"] not in loaded]
    if not out or not all(policy.named(uri) for uri in out):
        return False
    typer.echo(f"sbcctl: warning: not in use until their names resolve (checked every GATEWAY_DNS_INTERVAL s): "
               f"{', '.join(out)}", err=True)
    return True


def new_routing_generation():
    """Every worker empties its DID and tenant caches before its next call (no TTL wait, no restart)."""
    try:
        rpc.new_routing_generation(functools.partial(rpc.call, state["rpc"]))
    except (rpc.RpcError, ValueError) as exc:
        fail(1, f"written to the DB, but Kamailio's caches were not refreshed: {exc}")


def _json_value(value):
    """DECIMAL columns (MOS, round trip) as numbers; dates and the rest as text."""
    return float(value) if isinstance(value, Decimal) else str(value)


def show(rows: list[dict], title: str):
    if state["json"]:
        typer.echo(json.dumps(rows, default=_json_value))
        return
    table = Table(title=title)
    for column in (rows[0].keys() if rows else ["(none)"]):
        table.add_column(str(column), overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    # Off a terminal (a pipe, a file) nothing is cut to 80 columns: the table is as wide as its content.
    (console if console.is_terminal else Console(width=100_000)).print(table)


# ---- credentials for peers that challenge the SBC ----------------------------------------------

@credential_app.command("list")
def credential_list():
    """Secrets are never shown: only which kind is kept (HA1 for a known realm, else the password)."""
    show(read_store().rows("SELECT host, username, realm, IF(ha1 <> '', 'ha1 ********', 'password ********') "
                           "AS secret, updated_at FROM peer_credential ORDER BY host"), "peer credentials")


@credential_app.command("set")
def credential_set(host: str = typer.Argument(..., help="the peer's host, as in its gateway URI"),
                   username: str = typer.Option(...),
                   password: str = typer.Option(..., prompt=True, hide_input=True,
                                                help="asked for when not given (keeps it out of shell history)"),
                   realm: str = typer.Option("", help="the peer's realm, if known: then only HA1 is kept")):
    host, username, realm, password = checked(
        lambda: validate.host(host), lambda: validate.digest_token(username, "username"),
        lambda: validate.digest_token(realm, "realm", 128, empty=True),
        lambda: validate.secret(password, "password"))
    ha1 = validate.ha1(username, realm, password) if realm else ""
    store().write("INSERT INTO peer_credential (host, username, realm, ha1, password) VALUES (%s, %s, %s, %s, %s) "
                  "ON DUPLICATE KEY UPDATE username = VALUES(username), realm = VALUES(realm), ha1 = VALUES(ha1), "
                  "password = VALUES(password)", host, username, realm, ha1, "" if realm else password)
    new_routing_generation()  # every process reads it again at the peer's next challenge
    typer.echo(f"credential for {host} set ({'HA1 for realm ' + realm if realm else 'password, any realm'})")


@credential_app.command("remove")
def credential_remove(host: str = typer.Argument(...)):
    if not store().write("DELETE FROM peer_credential WHERE host = %s", host.lower()):
        fail(2, f"host: no credential for {host}")
    new_routing_generation()
    typer.echo(f"removed the credential for {host}")


# ---- accounts of gateways that authenticate to the SBC -----------------------------------------

@account_app.command("list")
def account_list():
    realm = state["settings"].auth_realm
    show(read_store().rows("SELECT username, tenant, enabled, 'ha1 ********' AS secret, updated_at "
                           "FROM gateway_account ORDER BY username"), f"gateway accounts (realm {realm})")


@account_app.command("set")
def account_set(username: str = typer.Argument(...),
                tenant: str = typer.Option(..., help="the tenant whose calls these are"),
                password: str = typer.Option(None, help="omit to have one generated (printed once); else at "
                                             f"least {validate.MIN_PASSWORD} characters"),
                weak_password: bool = typer.Option(False, "--weak-password",
                                                   help="accept a short password (tests, never a deployment)")):
    """A gateway account (VAPI's outbound authentication plan, a LiveKit outbound trunk's username and
    password): its calls toward the carrier are its tenant's."""
    realm = state["settings"].auth_realm
    generated = password is None
    if generated:
        password = validate.strong_password()
    username, password, tenant = checked(lambda: validate.digest_token(username, "username"),
                                         lambda: validate.password(password, "password", weak_password),
                                         lambda: validate.text(tenant, "tenant"))
    db = store()
    tenant_exists(db, tenant, "tenant")
    db.write("INSERT INTO gateway_account (username, ha1, tenant) VALUES (%s, %s, %s) ON DUPLICATE KEY UPDATE "
             "ha1 = VALUES(ha1), tenant = VALUES(tenant), enabled = 1",
             username, validate.ha1(username, realm, password), tenant)
    new_routing_generation()
    typer.echo(f"account {username} set (realm {realm}, tenant {tenant})")
    if generated:
        typer.echo(f"password: {password}  (shown once; give it to the platform, it is not kept)")


@account_app.command("disable")
def account_disable(username: str = typer.Argument(...)):
    """Its next INVITE is challenged and refused as any unknown account's (calls up go on)."""
    _account_enabled(username, 0)


@account_app.command("enable")
def account_enable(username: str = typer.Argument(...)):
    _account_enabled(username, 1)


def _account_enabled(username: str, value: int) -> None:
    db = store()
    if not db.rows("SELECT username FROM gateway_account WHERE username = %s", username):
        fail(2, f"username: no account {username!r}")
    db.write("UPDATE gateway_account SET enabled = %s WHERE username = %s", value, username)
    new_routing_generation()
    typer.echo(f"account {username} {'enabled' if value else 'disabled'}")


@account_app.command("remove")
def account_remove(username: str = typer.Argument(...)):
    if not store().write("DELETE FROM gateway_account WHERE username = %s", username):
        fail(2, f"username: no account {username!r}")
    new_routing_generation()
    typer.echo(f"removed account {username}")


@app.command("reload")
def reload_all():
    """Dispatcher, ACL, Python routing code and the DID and tenant caches, from the DB and disk."""
    reload("dispatcher.reload", "permissions.addressReload", "app_python.reload")
    new_routing_generation()
    typer.echo("reloaded")


# The commands of these modules use this module's helpers: imported once those exist.
from sbcctl import backup, fraud, monitoring  # noqa: E402, F401 - register export/import, check, status, calls, cdr
from sbcctl.acl import acl_app  # noqa: E402
from sbcctl.apitokens import audit, token_app  # noqa: E402
from sbcctl.dids import did_app  # noqa: E402
from sbcctl.gateways import gateway_app  # noqa: E402
from sbcctl.registrations import registration_app  # noqa: E402
from sbcctl.tenants import tenant_app  # noqa: E402

app.add_typer(gateway_app, name="gateway")
app.add_typer(acl_app, name="acl")
app.add_typer(token_app, name="token")
app.command("audit")(audit)
app.add_typer(did_app, name="did")
app.add_typer(tenant_app, name="tenant")
app.add_typer(registration_app, name="registration")

if __name__ == "__main__":
    sys.exit(app(args=json_anywhere(sys.argv[1:])))
