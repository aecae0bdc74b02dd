"""sbcctl did: which gateways a dialled number reaches: a direct URI, a dispatcher set, or a tenant (its set).
A DID is checked against what it names (the tenant exists, the set has a gateway that takes calls) and changed
in place, so that it never answers 404 between a removal and an add."""

from __future__ import annotations

import typer

from sbcctl import validate
from sbcctl.cli import checked, fail, new_routing_generation, read_store, show, state, store
from sbcctl.store import DISABLED

did_app = typer.Typer(help="DID routing", no_args_is_help=True)


@did_app.command("list")
def did_list():
    show(read_store().rows("SELECT did, gateway_group, gateway_uri, tenant, enabled, description "
                           "FROM did_routing ORDER BY did"), "DIDs")


def target_problems(db, group: int | None, uri: str | None, tenant: str) -> list[tuple[str, str]]:
    """(field, problem) for each thing a DID names that cannot take its calls: a tenant that does not exist, a
    set with no enabled gateway. (A direct URI is the operator's word.)"""
    problems = []
    if tenant:
        row = db.rows("SELECT enabled, gateway_group FROM tenant WHERE name = %s", tenant)
        if not row:
            problems.append(("tenant", f"no tenant named {tenant!r} (sbcctl tenant list)"))
        elif not row[0]["enabled"]:
            problems.append(("tenant", f"tenant {tenant!r} is disabled"))
        elif group is None and uri is None:
            group = row[0]["gateway_group"]
    if group is not None and uri is None and not db.rows(
            f"SELECT id FROM dispatcher WHERE setid = %s AND (flags & {DISABLED}) = 0 LIMIT 1", group):
        problems.append(("group", f"set {group} has no enabled gateway (sbcctl gateway add --group {group})"))
    return problems


def _refuse_unroutable(problems: list[tuple[str, str]], force: bool) -> None:
    if not problems:
        return
    if not force:
        fail(2, "; ".join(f"{field}: {problem}" for field, problem in problems)
             + " (--force writes it anyway; its calls are refused until then)")
    for field, problem in problems:
        typer.echo(f"sbcctl: warning: {field}: {problem}; its calls are refused until then", err=True)


_FORCE = typer.Option(False, "--force", help="write it although what it names cannot take calls yet")


@did_app.command("add")
def did_add(did: str = typer.Argument(..., help="E.164 with +"), group: int = typer.Option(None),
            uri: str = typer.Option(None), tenant: str = typer.Option(""), description: str = typer.Option(""),
            force: bool = _FORCE):
    s = state["settings"]
    checks = [lambda: validate.did(did, s.default_region), lambda: validate.text(tenant, "tenant"),
              lambda: validate.text(description, "description", 255)]
    if group is not None:
        checks.append(lambda: validate.group(group))
    if uri is not None:
        checks.append(lambda: validate.sip_uri(uri))
    checked(*checks)
    if group is None and uri is None and not tenant:
        fail(2, "group: give --group, --uri or --tenant")
    db = store()
    if db.rows("SELECT did FROM did_routing WHERE did = %s", did):
        fail(2, f"did: {did} exists already (change it with `did set`)")
    _refuse_unroutable(target_problems(db, group, uri, tenant), force)
    db.write("INSERT INTO did_routing (did, gateway_group, gateway_uri, tenant, description) "
             "VALUES (%s, %s, %s, %s, %s)", did, group, uri, tenant, description)
    new_routing_generation()  # the next call sees the row
    row = db.rows("SELECT id, did FROM did_routing WHERE did = %s", did)[0]
    if state["json"]:
        show([row], "")
    else:
        typer.echo(f"added {did} (id {row['id']})")


@did_app.command("set")
def did_set(did: str = typer.Argument(...),
            group: int = typer.Option(None, help="the dispatcher set (0 clears: the tenant's set)"),
            uri: str = typer.Option(None, help="a direct target ('' clears)"),
            tenant: str = typer.Option(None, help="the tenant its calls are ('' clears)"),
            description: str = typer.Option(None), enabled: bool = typer.Option(None, "--enable/--disable"),
            force: bool = _FORCE):
    """Changed in one write: the next call takes the new route, the one before it the old (never a 404)."""
    checks = []
    if group:
        checks.append(lambda: validate.group(group))
    if uri:
        checks.append(lambda: validate.sip_uri(uri))
    if tenant is not None:
        checks.append(lambda: validate.text(tenant, "tenant"))
    if description is not None:
        checks.append(lambda: validate.text(description, "description", 255))
    checked(*checks)
    db = store()
    rows = db.rows("SELECT gateway_group, gateway_uri, tenant, enabled, description FROM did_routing "
                   "WHERE did = %s", did)
    if not rows:
        fail(2, f"did: {did} is not routed (add it with `did add`)")
    changed = {"gateway_group": (group or None) if group is not None else ...,
               "gateway_uri": (uri or None) if uri is not None else ...,
               "tenant": tenant if tenant is not None else ..., "description": description
               if description is not None else ..., "enabled": int(enabled) if enabled is not None else ...}
    changed = {k: v for k, v in changed.items() if v is not ...}
    if not changed:
        fail(2, "set: give at least one of --group, --uri, --tenant, --description, --enable/--disable")
    after = {**rows[0], **changed}
    if after["gateway_group"] is None and after["gateway_uri"] is None and not after["tenant"]:
        fail(2, "group: the DID would have no target (a group, a URI or a tenant)")
    _refuse_unroutable(target_problems(db, after["gateway_group"], after["gateway_uri"], after["tenant"]), force)
    db.write(f"UPDATE did_routing SET {', '.join(f'{c} = %s' for c in changed)} WHERE did = %s",
             *changed.values(), did)
    new_routing_generation()
    show(db.rows("SELECT did, gateway_group, gateway_uri, tenant, enabled, description FROM did_routing "
                 "WHERE did = %s", did), "DID")


@did_app.command("remove")
def did_remove(did: str = typer.Argument(...)):
    if not store().write("DELETE FROM did_routing WHERE did = %s", did):
        fail(2, f"did: {did} is not routed")
    new_routing_generation()
    typer.echo(f"removed {did}")
