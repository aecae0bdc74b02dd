"""sbcctl export / import: the whole configuration as one YAML document, for review, backup and moving it
between SBCs. An import is checked whole (sbcctl.configdoc) and then written in one transaction, followed by
the reloads it needs: it applies entirely or not at all."""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

import typer
import yaml

from sbcctl import configdoc
from sbcctl.cli import app, fail, kamailio_rpc, new_routing_generation, read_store, reload, state, store
from sbclib import registrations

_ORDER = ("dispatcher", "tenant", "did_routing", "address", "gateway_account", "peer_credential", "uacreg")


def _read(db) -> dict[str, list[dict]]:
    return configdoc.read_tables(db.rows)


@app.command("export")
def export(file: Path = typer.Option(None, "--file", "-f", help="write here (default: standard output)"),
           secrets: bool = typer.Option(False, "--secrets", help="include accounts' HA1s and credentials' secrets "
                                                                 "(a backup; keep the file as you keep the DB)")):
    """The whole configuration: gateways and carriers, tenants, DIDs, ACL, accounts, credentials, registrations."""
    doc = configdoc.to_document(_read(read_store()), secrets)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    text = (json.dumps(doc, indent=1, default=str) + "\n" if state["json"] else
            f"# sbcctl export, {stamp}{', with secrets' if secrets else ' (secrets left out)'}\n"
            + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120))
    if file is None:
        sys.stdout.write(text)
    else:
        file.write_text(text)
        if secrets:
            file.chmod(0o600)
        typer.echo(f"exported to {file}", err=True)


@app.command("import")
def import_(file: Path = typer.Argument(..., help="a document `sbcctl export` wrote ('-' = standard input)"),
            dry_run: bool = typer.Option(False, "--dry-run", help="check it and say what would change; write nothing"),
            force: bool = typer.Option(False, "--force", help="import DIDs whose set has no enabled gateway")):
    """Replace the whole configuration by the document's: checked whole first (exit 2 naming the first bad
    field, nothing written), then written in one transaction and reloaded. Accounts and credentials without
    their secrets in the document keep the ones the DB holds."""
    try:
        doc = yaml.safe_load(sys.stdin.read() if str(file) == "-" else file.read_text())
    except (OSError, yaml.YAMLError) as exc:
        fail(2, f"file: {exc}")
    db = store() if not dry_run else read_store()
    current = _read(db)
    try:
        plan = configdoc.plan(doc, state["settings"], {r["username"]: r for r in current["accounts"]},
                              {r["host"]: r for r in current["credentials"]}, force,
                              {r["l_uuid"]: r for r in current["registrations"]})
    except configdoc.DocumentError as exc:
        fail(2, str(exc))
    summary = configdoc.changes(current, plan)
    if not dry_run:
        _write(db, plan)
        reload("dispatcher.reload", "permissions.addressReload")
        _registrations_reloaded({r["l_uuid"] for r in current["registrations"]},
                                {r["l_uuid"] for r in plan.rows["registrations"]})
        new_routing_generation()
    if state["json"]:
        typer.echo(json.dumps({"dry_run": dry_run, "changes": summary, "secrets_kept": plan.missing_secrets}))
        return
    for section, counts in summary.items():
        typer.echo(f"{section}: " + ", ".join(f"{n} {what}" for what, n in counts.items()))
    if plan.missing_secrets:
        typer.echo(f"secrets kept from the DB: {', '.join(plan.missing_secrets)}")
    typer.echo("checked; nothing written (--dry-run)" if dry_run else "imported")


def _registrations_reloaded(before: set[str], after: set[str]) -> None:
    """uac told record by record (its uac.reg_reload refuses a second reload within its GC interval, 150 s, and
    would register every record again): the removed forgotten, the rest read again."""
    for name in sorted(before - after):
        kamailio_rpc("uac.reg_remove", name, failure="written to the DB, but Kamailio did not take it",
                     unless=registrations.forgotten)
    for name in sorted(after):
        kamailio_rpc("uac.reg_refresh", name, failure="written to the DB, but Kamailio did not take it")


def _write(db, plan: configdoc.Plan) -> None:
    """Every table replaced in one transaction: a failure leaves the DB as it was."""
    conn = db.conn
    conn.begin()
    try:
        with conn.cursor() as cur:
            for table in reversed(_ORDER):
                cur.execute(f"DELETE FROM `{table}`")
            for section in configdoc.SECTIONS:
                table = configdoc.TABLES[section][0]
                for row in plan.rows[section]:
                    cur.execute(f"INSERT INTO `{table}` ({', '.join(f'`{c}`' for c in row)}) "
                                f"VALUES ({', '.join(['%s'] * len(row))})", tuple(row.values()))
        conn.commit()
    except Exception as exc:  # noqa: BLE001 - any DB failure: rolled back, said, exit 1
        conn.rollback()
        fail(1, f"database: {exc}; nothing written")
