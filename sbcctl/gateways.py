"""sbcctl gateway: AI gateways and carriers, rows of Kamailio's dispatcher table: added (duplicates refused),
changed in place, disabled, enabled and removed; a change that would leave a set in use with no gateway to
take its calls needs --force and says who uses it."""

from __future__ import annotations

import typer

from sbcctl import validate
from sbcctl.cli import checked, fail, read_store, reload, show, state, store
from sbcctl.store import DISABLED, TRYING
from sbclib import codecs, dsattrs, policy

gateway_app = typer.Typer(help="AI gateways and carriers (dispatcher)", no_args_is_help=True)


@gateway_app.command("list")
def gateway_list(group: int = typer.Option(None, help="only this dispatcher set")):
    show(read_store().gateways(group), "gateways and carriers")


def attrs_text(attrs: dict[str, str]) -> str:
    return ";".join(f"{k}={v}" for k, v in attrs.items())


_MAX_CALLS = typer.Option(None, "--max-calls", help="concurrent calls this row takes (ringing included; 0: no cap); "
                                                   "a full row is passed over for the next one")
_MAX_CPS = typer.Option(None, "--max-cps", help="new calls per second this row takes (0: no cap)")
_CODECS = typer.Option(None, "--codecs", help="what the gateway takes, preferred first: pcmu, pcma, g722, g729, opus "
                                             "(\"\" removes the list: offers go as they came)")
_TRANSCODE = typer.Option(None, "--transcode/--no-transcode", help="rtpengine transcodes toward it what it does not "
                                                                   "take (else such an offer goes to the next gateway)")


@gateway_app.command("add")
def gateway_add(uri: str = typer.Option(..., help="sip:host[:port][;transport=udp|tcp|tls]"),
                group: int = typer.Option(..., help="dispatcher set (1 VAPI, 2 LiveKit, 3 backup, tenant sets)"),
                priority: int = typer.Option(10), weight: int = typer.Option(50),
                description: str = typer.Option(""),
                carrier: bool = typer.Option(False, "--carrier", help="a carrier: probed from the private side"),
                media_: str = typer.Option("rtp", "--media", help="toward a gateway: rtp, srtp (SDES) or dtls"),
                max_calls: int = _MAX_CALLS, max_cps: int = _MAX_CPS, codecs_: str = _CODECS,
                transcode: bool = _TRANSCODE):
    s = state["settings"]
    uri, group, priority, weight, description, media_, max_calls, max_cps, listed = checked(
        lambda: validate.sip_uri(uri), lambda: validate.group(group), lambda: validate.priority(priority),
        lambda: validate.weight(weight), lambda: validate.text(description, "description"),
        lambda: validate.gateway_media(media_, uri, carrier, s.tls), lambda: validate.cap(max_calls or 0, "max_calls"),
        lambda: validate.cap(max_cps or 0, "max_cps"), lambda: validate.codec_policy(codecs_, transcode, carrier))
    if carrier and group != s.carrier_group:
        fail(2, f"group: carriers belong to CARRIER_GROUP {s.carrier_group}")
    if policy.transport(uri) == "tls" and policy.named(uri) and group not in s.gateway_groups:
        # Only their names are resolved: its certificate could not be checked, nor its targets probed.
        fail(2, f"group: a TLS gateway named by host name belongs to GATEWAY_GROUPS "
                f"({','.join(map(str, s.gateway_groups))})")
    attrs = f"weight={weight}" + (";sockname=private" if carrier else "")
    if policy.transport(uri) == "tls":
        attrs += ";sockname=public_tls"  # dispatcher's probes leave by the TLS socket (kamailio.cfg)
    if media_ != "rtp":
        attrs += f";media={media_}"
    attrs += "".join(f";{name}={value}" for name, value in (("max_calls", max_calls), ("max_cps", max_cps)) if value)
    if listed:
        attrs += f";codecs={codecs.operator_names(listed)}" + (";transcode=1" if transcode else "")
    db = store()
    same = db.rows("SELECT id FROM dispatcher WHERE setid = %s AND LOWER(destination) = LOWER(%s)", group, uri)
    if same:
        fail(2, f"uri: {uri} is in group {group} already (id {same[0]['id']}; change it with `gateway set`)")
    db.write("INSERT INTO dispatcher (setid, destination, flags, priority, attrs, description) "
             "VALUES (%s, %s, %s, %s, %s, %s)", group, uri, TRYING, priority, attrs, description)
    reload("dispatcher.reload")
    row = db.rows("SELECT id FROM dispatcher WHERE setid = %s AND destination = %s ORDER BY id DESC LIMIT 1",
                  group, uri)[0]
    if state["json"]:
        show([{"id": row["id"], "group": group, "uri": uri}], "")
    else:
        typer.echo(f"added {uri} to group {group} (id {row['id']})")


@gateway_app.command("set")
def gateway_set(gateway_id: int = typer.Argument(..., metavar="ID"), priority: int = typer.Option(None),
                weight: int = typer.Option(None), description: str = typer.Option(None),
                media_: str = typer.Option(None, "--media", help="toward a gateway: rtp, srtp (SDES) or dtls"),
                max_calls: int = _MAX_CALLS, max_cps: int = _MAX_CPS, codecs_: str = _CODECS,
                transcode: bool = _TRANSCODE):
    """Priority, weight, description, media, caps or codecs of a gateway, in place (its calls up go on; the
    codecs count from their next offer)."""
    caps = {"max_calls": max_calls, "max_cps": max_cps}
    if (priority is None and weight is None and description is None and media_ is None and codecs_ is None
            and transcode is None and caps == dict.fromkeys(caps)):
        fail(2, "set: give at least one of --priority, --weight, --description, --media, --max-calls, --max-cps, "
                "--codecs, --transcode")
    db = store()
    row = _row(db, gateway_id)
    attrs = dsattrs.parse(row["attrs"])
    carrier = attrs.get("sockname") == "private"
    checked(*([lambda: validate.priority(priority)] if priority is not None else []),
            *([lambda: validate.weight(weight)] if weight is not None else []),
            *([lambda: validate.text(description, "description")] if description is not None else []),
            *([lambda: validate.gateway_media(media_, row["uri"], carrier, state["settings"].tls)]
              if media_ is not None else []),
            *[lambda name=name, value=value: validate.cap(value, name) for name, value in caps.items()
              if value is not None])
    if codecs_ is not None or transcode is not None:
        # "" removes the list, and transcoding with it unless --transcode says otherwise (and is refused)
        wants = transcode if transcode is not None else attrs.get("transcode") == "1" and codecs_ != ""
        listed = checked(lambda: validate.codec_policy(
            codecs_ if codecs_ is not None else attrs.get("codecs", ""), wants, carrier))[0]
        attrs.pop("codecs", None)
        attrs.pop("transcode", None)
        if listed:
            attrs["codecs"] = codecs.operator_names(listed)
            if wants:
                attrs["transcode"] = "1"
    for name, value in caps.items():
        if value is not None:
            attrs.pop(name, None)
            if value:
                attrs[name] = str(value)
    if weight is not None:
        attrs["weight"] = str(weight)
    if media_ is not None:
        attrs.pop("media", None)
        if media_ != "rtp":
            attrs["media"] = media_
    db.write("UPDATE dispatcher SET priority = %s, attrs = %s, description = %s WHERE id = %s",
             row["priority"] if priority is None else priority, attrs_text(attrs),
             row["description"] if description is None else description, gateway_id)
    reload("dispatcher.reload")
    show([r for r in db.gateways(row["group"]) if r["id"] == gateway_id], "gateway")


def _row(db, gateway_id: int) -> dict:
    rows = [r for r in db.rows("SELECT id, setid AS `group`, destination AS uri, priority, attrs, flags, "
                               "description FROM dispatcher WHERE id = %s", gateway_id)]
    if not rows:
        fail(2, f"id: no gateway with id {gateway_id}")
    return rows[0]


def set_users(db, group: int) -> list[str]:
    """Who sends calls to this set: the configured platform, backup and carrier sets, tenants, DIDs."""
    s = state["settings"]
    users = [f"{name} (.env)" for name, sets in (("GATEWAY_GROUPS", s.gateway_groups),
                                                ("CARRIER_GROUP", (s.carrier_group,))) if group in sets]
    users += [f"tenant {r['name']}" for r in db.rows("SELECT name FROM tenant WHERE gateway_group = %s "
                                                     "ORDER BY name", group)]
    users += [f"DID {r['did']}" for r in db.rows("SELECT did FROM did_routing WHERE gateway_group = %s "
                                                 "AND gateway_uri IS NULL ORDER BY did", group)]
    return users


def _leaves_set_empty(db, row: dict, force: bool) -> None:
    """Refuse (exit 2) taking out a set's last enabled gateway while something sends calls to that set."""
    others = db.rows(f"SELECT id FROM dispatcher WHERE setid = %s AND id <> %s AND (flags & {DISABLED}) = 0 "
                     "LIMIT 1", row["group"], row["id"])
    users = [] if others else set_users(db, row["group"])
    if not users:
        return
    shown = ", ".join(users[:10]) + (f" and {len(users) - 10} more" if len(users) > 10 else "")
    if not force:
        fail(2, f"id: gateway {row['id']} is the last enabled one of set {row['group']}, which {shown} use; "
                "add another first, or give --force (their calls are then refused)")
    typer.echo(f"sbcctl: warning: set {row['group']} has no enabled gateway now: calls of {shown} are refused",
               err=True)


_FORCE = typer.Option(False, "--force", help="even if it leaves a set in use without a gateway")


def _change(gateway_id: int, sql: str, done: str, *args, force: bool = False, takes_out: bool = False):
    db = store()
    row = _row(db, gateway_id)
    if takes_out:
        _leaves_set_empty(db, row, force)
    db.write(sql, *args, gateway_id)
    reload("dispatcher.reload")
    typer.echo(f"gateway {gateway_id} {done}")


@gateway_app.command("remove")
def gateway_remove(gateway_id: int = typer.Argument(..., metavar="ID"), force: bool = _FORCE):
    _change(gateway_id, "DELETE FROM dispatcher WHERE id = %s", "removed", force=force, takes_out=True)


@gateway_app.command("disable")
def gateway_disable(gateway_id: int = typer.Argument(..., metavar="ID"), force: bool = _FORCE):
    _change(gateway_id, "UPDATE dispatcher SET flags = flags | %s WHERE id = %s", "disabled", DISABLED, force=force,
            takes_out=True)


@gateway_app.command("enable")
def gateway_enable(gateway_id: int = typer.Argument(..., metavar="ID")):
    _change(gateway_id, "UPDATE dispatcher SET flags = flags & ~%s WHERE id = %s", "enabled", DISABLED)
