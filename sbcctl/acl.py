"""sbcctl acl: who may talk to the SBC, rows of Kamailio's address table (permissions module): carriers (1),
gateways (2, a row tagged with a tenant and declared dedicated makes its calls that tenant's), health checkers
(3), gateways that authenticate by digest (4). Duplicates are refused, and so is removing the last row of a
group something needs."""

from __future__ import annotations

import typer

from sbcctl import fraud, validate
from sbcctl.cli import checked, fail, read_store, reload, show, state, store, tenant_exists

acl_app = typer.Typer(help="who may talk to the SBC (address table)", no_args_is_help=True)


@acl_app.command("list")
def acl_list():
    """Each row with what a new INVITE from its sources gets toward the carrier (the `outbound` column)."""
    rows = read_store().rows("SELECT id, grp AS `group`, ip_addr, mask, port, tag, IFNULL(dedicated, 0) AS dedicated "
                             "FROM address ORDER BY grp, id")
    show([{**row, "outbound": fraud.acl_outbound(row)} for row in rows], "ACL")



@acl_app.command("add")
def acl_add(ip: str = typer.Argument(..., help="address or network, e.g. 10.20.0.0/24"),
            group: int = typer.Option(..., help="1 carriers, 2 gateways, 3 health checkers, 4 digest gateways"),
            tag: str = typer.Option("", help="for gateways: the owning tenant"),
            dedicated: bool = typer.Option(False, "--dedicated", help="only that tenant sends from here: its calls "
                                           "toward the carrier need no digest. Never for a shared platform address")):
    (address, mask), group, tag = checked(lambda: validate.network(ip), lambda: validate.acl_group(group),
                                          lambda: validate.text(tag, "tag"))
    if dedicated and (group != 2 or not tag):
        fail(2, "dedicated: only a gateway row (--group 2) with --tag naming its tenant")
    db = store()
    same = db.rows("SELECT id FROM address WHERE grp = %s AND ip_addr = %s AND mask = %s AND port = 0",
                   group, address, mask)
    if same:
        fail(2, f"ip: {address}/{mask} is in group {group} already (ACL entry {same[0]['id']})")
    if dedicated:
        tenant_exists(db, tag)
    row = db.insert("INSERT INTO address (grp, ip_addr, mask, port, tag, dedicated) VALUES (%s, %s, %s, 0, %s, %s)",
                    group, address, mask, tag or None, int(dedicated))
    reload("permissions.addressReload")
    typer.echo(f"added ACL entry {row}: {address}/{mask} to group {group}"
               + (f", dedicated to tenant {tag}" if dedicated else ""))


def _dedication(acl_id: int, dedicated: bool) -> None:
    db = store()
    found = db.rows("SELECT grp, tag FROM address WHERE id = %s", acl_id)
    if not found:
        fail(2, f"id: no ACL entry with id {acl_id}")
    if dedicated and (found[0]["grp"] != 2 or not found[0]["tag"]):
        fail(2, f"id: entry {acl_id} is not a gateway row (group 2) tagged with a tenant")
    if dedicated:
        tenant_exists(db, found[0]["tag"])
    db.write("UPDATE address SET dedicated = %s WHERE id = %s", int(dedicated), acl_id)
    reload("permissions.addressReload")


@acl_app.command("dedicate")
def acl_dedicate(acl_id: int = typer.Argument(..., metavar="ID")):
    """Declare a tagged gateway row's sources the tenant's alone: its calls toward the carrier are then the
    tenant's without a digest. Never for a platform's shared addresses (VAPI, LiveKit Cloud)."""
    _dedication(acl_id, True)
    typer.echo(f"ACL entry {acl_id} dedicated: its calls are its tenant's")


@acl_app.command("share")
def acl_share(acl_id: int = typer.Argument(..., metavar="ID")):
    """Undo dedicate: the row's sources are a platform's, their calls challenged for a digest account."""
    _dedication(acl_id, False)
    typer.echo(f"ACL entry {acl_id} shared: its calls authenticate by digest")


def _acl_users(db, group: int) -> list[str]:
    """Who needs some row of this ACL group: carriers (1) the carrier set's rows, gateways (2) the gateway rows
    and the digest accounts (a shared platform's calls come from its rows), digest gateways (4) the accounts."""
    carriers = state["settings"].carrier_group
    users = []
    if group == 1:
        users += [f"carrier {r['uri']}" for r in db.gateways(carriers)]
    if group == 2:
        users += [f"gateway {r['uri']}" for r in db.gateways() if r["group"] != carriers]
    if group in (2, 4):
        users += [f"account {r['username']}" for r in db.rows(
            "SELECT username FROM gateway_account WHERE enabled = 1 ORDER BY username")]
    return users


@acl_app.command("remove")
def acl_remove(acl_id: int = typer.Argument(..., metavar="ID"),
               force: bool = typer.Option(False, "--force", help="even if it is its group's last row in use")):
    """Refused for the last row of a group that carriers, gateways or accounts need, unless --force."""
    db = store()
    found = db.rows("SELECT grp FROM address WHERE id = %s", acl_id)
    if not found:
        fail(2, f"id: no ACL entry with id {acl_id}")
    group = found[0]["grp"]
    last = not db.rows("SELECT id FROM address WHERE grp = %s AND id <> %s LIMIT 1", group, acl_id)
    users = _acl_users(db, group) if last else []
    if users:
        shown = ", ".join(users[:5]) + (f" and {len(users) - 5} more" if len(users) > 5 else "")
        if not force:
            fail(2, f"id: entry {acl_id} is the last of group {group}, which {shown} need; --force removes it "
                    "(their traffic is then refused)")
        typer.echo(f"sbcctl: warning: group {group} is empty now: traffic of {shown} is refused", err=True)
    db.write("DELETE FROM address WHERE id = %s", acl_id)
    reload("permissions.addressReload")
    typer.echo(f"removed ACL entry {acl_id}")


