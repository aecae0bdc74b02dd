"""sbcctl token: the provisioning API's bearer tokens (sbcapi), and its audit trail."""

from __future__ import annotations

import typer

from sbcctl import validate
from sbcctl.cli import checked, fail, read_store, show, state, store

token_app = typer.Typer(help="the provisioning API's tokens (scope operator, or tenant:<name>)", no_args_is_help=True)


@token_app.command("add")
def token_add(name: str = typer.Argument(..., help="who uses it (a system, a tenant's portal)"),
              scope: str = typer.Option(..., help="operator (everything), or tenant:<name> (its DIDs, calls, "
                                                  "records)")):
    """A new token, printed once: only its SHA-256 is kept."""
    name, scope = checked(lambda: validate.digest_token(name, "name"), lambda: validate.api_scope(scope))
    db = store()
    tenant = validate.scope_tenant(scope)
    if tenant and not db.rows("SELECT name FROM tenant WHERE name = %s", tenant):
        fail(2, f"scope: no tenant named {tenant!r}")
    if db.rows("SELECT name FROM api_token WHERE name = %s", name):
        fail(2, f"name: a token named {name!r} exists (remove it first)")
    token = validate.new_api_token()
    db.write("INSERT INTO api_token (name, token_sha256, scope) VALUES (%s, %s, %s)", name,
             validate.api_token_digest(token), scope)
    if state["json"]:
        show([{"name": name, "scope": scope, "token": token}], "")
    else:
        typer.echo(f"token {name} ({scope}): {token}  (shown once; it is not kept)")


@token_app.command("list")
def token_list():
    show(read_store().rows("SELECT name, scope, created_at FROM api_token ORDER BY name"), "API tokens")


@token_app.command("remove")
def token_remove(name: str = typer.Argument(...)):
    """Refused from its next request on."""
    if not store().write("DELETE FROM api_token WHERE name = %s", name):
        fail(2, f"name: no token named {name!r}")
    typer.echo(f"removed token {name}")


def audit(limit: int = typer.Option(20, help="newest N")):
    """The API's writes, newest first: who, what, the item before and after."""
    if not 1 <= limit <= 100_000:
        fail(2, "limit: must be 1..100000")
    show(read_store().rows("SELECT id, at, token, method, path, status, before_json, after_json FROM api_audit "
                           "ORDER BY id DESC LIMIT %s", limit), "API audit")
