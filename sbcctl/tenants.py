"""sbcctl tenant: tenants, created, changed in place, enabled, disabled and removed: their gateway set, backup
and caller-ID policy, media timeout and keepalive, transfers, limits, and where their calls may go
(sbclib/destinations.py). Every change reaches the next call (no restart, no gap)."""

from __future__ import annotations

import typer

from sbcctl import validate
from sbcctl.cli import checked, fail, new_routing_generation, read_store, show, state, store
from sbcctl.validate import (
    InputError,
    callerid_policy,
    destination_list,
    limit,
    media_timeout,
    minutes_cap,
    tenant_name,
    transfer,
)
from sbclib import destinations
from sbclib.probes import AUDIO_PLAYER_SINCE, rtpengine_version

tenant_app = typer.Typer(help="tenants: their gateway set, caller-ID policy, media, transfers, limits and allowed "
                              "destinations", no_args_is_help=True)



@tenant_app.command("list")
def tenant_list():
    """Limits of 0 are .env's TENANT_MAX_* (there is no unlimited), a minutes cap of 0 is none; empty destination
    lists are the defaults."""
    show(read_store().rows(
        "SELECT name, enabled, gateway_group, allow_backup, max_calls, max_cps, max_duration, "
        "IF(max_minutes_24h = 0, 'none', max_minutes_24h) AS max_minutes_24h, callerid_policy, "
        "default_did, IFNULL(media_timeout, 'default') AS media_timeout, media_keepalive, transfer, "
        "allowed_countries, allowed_prefixes, denied_prefixes, number_types, context_headers, early_ringing, "
        "stir_required, ringback "
        "FROM tenant ORDER BY name"), "tenants")



def tenant_group(value: int) -> int:
    """The dispatcher set the tenant's calls go to: any set but the carriers'."""
    validate.group(value)
    if value == state["settings"].carrier_group:
        raise InputError("group", f"{value} is CARRIER_GROUP, the carriers' set")
    return value




def keepalive_supported(version: tuple[int, ...] | None) -> None:
    """Refuse keepalive where the rtpengine here would ignore it; say so when there is none to ask."""
    if version is None:
        typer.echo("sbcctl: warning: no rtpengine here to check: media_keepalive needs rtpengine 11 or later",
                   err=True)
    elif version < AUDIO_PLAYER_SINCE:
        raise InputError("media_keepalive", f"rtpengine {'.'.join(map(str, version))} has no audio player "
                                            "(rtpengine 11 or later; the Docker image has it)")






_SETTABLE = ("group", "allow_backup", "callerid_policy", "default_did", "timeout", "default_timeout", "keepalive",
             "transfers", "max_calls", "max_cps", "max_duration", "max_minutes_24h", "countries", "allow_prefixes",
             "deny_prefixes", "types", "context_headers", "early_ringing", "stir_required", "ringback")


def _columns(current: dict, group=None, allow_backup=None, callerid_policy_=None, default_did=None, timeout=None,
             default_timeout=False, keepalive=None, transfers=None, max_calls=None, max_cps=None, max_duration=None,
             max_minutes_24h=None, countries=None, allow_prefixes=None, deny_prefixes=None, types=None,
             context_headers=None, early_ringing=None, stir_required=None, ringback=None) -> dict:
    """The tenant columns these options change, each checked (exit 2 naming the field) before anything is
    written; `current` is the row as it is (empty for a new one), for the checks that span two columns."""
    if timeout is not None and default_timeout:
        fail(2, "media_timeout: give --timeout or --default-timeout, not both")
    if stir_required and not state["settings"].stir:
        fail(2, "stir_required: STIR_CA_FILE is not set in .env: no caller ID could be verified")
    region = state["settings"].default_region  # a default DID is E.164 as written, like a DID
    policy = callerid_policy_ if callerid_policy_ is not None else current.get("callerid_policy", "reject")
    did = default_did if default_did is not None else current.get("default_did")
    checked(
        *([lambda: tenant_group(group)] if group is not None else []),
        *([lambda: validate.did(default_did, region, "default_did")] if default_did else []),
        *([lambda: callerid_policy(policy, did)] if callerid_policy_ is not None or default_did == "" else []),
        *([lambda: media_timeout(timeout)] if timeout is not None else []),
        *([lambda: keepalive_supported(rtpengine_version())] if keepalive else []),
        *([lambda: transfer(transfers)] if transfers is not None else []),
        *([lambda: limit(max_calls, "max_calls", 100_000)] if max_calls is not None else []),
        *([lambda: limit(max_cps, "max_cps", 10_000)] if max_cps is not None else []),
        *([lambda: limit(max_duration, "max_duration", 86400)] if max_duration is not None else []),
        *([lambda: minutes_cap(max_minutes_24h)] if max_minutes_24h is not None else []))
    lists = checked(
        lambda: destination_list(destinations.parse_countries, countries, "allowed_countries"),
        lambda: destination_list(destinations.parse_prefixes, allow_prefixes, "allowed_prefixes"),
        lambda: destination_list(destinations.parse_prefixes, deny_prefixes, "denied_prefixes"),
        lambda: destination_list(destinations.parse_types, types, "number_types"),
        lambda: validate.context_list(context_headers))
    columns = {"gateway_group": _given(group), "allow_backup": _given(allow_backup, int),
               "callerid_policy": _given(callerid_policy_),
               "default_did": (default_did or None) if default_did is not None else ...,
               "media_timeout": timeout if (timeout is not None or default_timeout) else ...,
               "media_keepalive": _given(keepalive, int), "transfer": _given(transfers),
               "max_calls": _given(max_calls), "max_cps": _given(max_cps), "max_duration": _given(max_duration),
               "max_minutes_24h": _given(max_minutes_24h),
               "allowed_countries": lists[0] if countries is not None else ...,
               "allowed_prefixes": lists[1] if allow_prefixes is not None else ...,
               "denied_prefixes": lists[2] if deny_prefixes is not None else ...,
               "number_types": lists[3] if types is not None else ...,
               "context_headers": lists[4] if context_headers is not None else ...,
               "early_ringing": _given(early_ringing, int), "stir_required": _given(stir_required, int),
               "ringback": _given(ringback, int)}
    return {k: v for k, v in columns.items() if v is not ...}


def _group_free(db, group: int | None, name: str) -> None:
    """A tenant's set is its own (the schema says so too): name the field rather than fail on the constraint."""
    if group is None:
        return
    holder = db.rows("SELECT name FROM tenant WHERE gateway_group = %s AND name <> %s", group, name)
    if holder:
        fail(2, f"group: set {group} is tenant {holder[0]['name']!r}'s")


_GROUP = typer.Option(None, "--group", help="the dispatcher set its calls go to (its own set of gateways)")
_BACKUP = typer.Option(None, "--allow-backup/--no-allow-backup", help="may fail over to BACKUP_GATEWAY_GROUP")
_POLICY = typer.Option(None, "--callerid-policy",
                       help="a caller ID it does not own: reject (403) or replace (by --default-did)")
_DEFAULT_DID = typer.Option(None, "--default-did", help="caller ID presented under replace ('' clears)")
_TIMEOUT = typer.Option(None, help="s without RTP from a leg before the call ends; 0 = never")
_KEEPALIVE = typer.Option(None, "--keepalive/--no-keepalive",
                          help="rtpengine streams to both legs, silence where none came")
_TRANSFERS = typer.Option(None, help="a gateway's REFER: refuse (403) or relay (to the carrier)")
_MAX_CALLS = typer.Option(None, help="concurrent calls; 0 = TENANT_MAX_CALLS")
_MAX_CPS = typer.Option(None, help="call attempts per second; 0 = TENANT_MAX_CPS")
_MAX_DURATION = typer.Option(None, help="s before a call is ended; 0 = TENANT_MAX_DURATION")
_MAX_MINUTES = typer.Option(None, help="outbound minutes per rolling 24 h, both nodes of a pair together; past "
                                       "them calls are refused and ended; 0 = no cap")
_COUNTRIES = typer.Option(None, help="ISO regions callable besides home, e.g. GB,FR ('' clears)")
_ALLOW = typer.Option(None, help="E.164 prefixes callable whatever else, e.g. +4420")
_DENY = typer.Option(None, help="E.164 prefixes never callable, e.g. +1900")
_EARLY = typer.Option(None, "--early-ringing/--no-early-ringing",
                      help="inbound: the carrier gets 180 Ringing at once, not when the agent's platform rings")
_STIR = typer.Option(None, "--stir-required/--no-stir-required",
                     help="inbound: refuse calls whose caller ID did not verify (STIR/SHAKEN; 428, 438)")
_RINGBACK = typer.Option(None, "--ringback/--no-ringback",
                         help="inbound: 180 with SDP at once and RINGBACK_TONE played until the agent's audio")
_CONTEXT = typer.Option(None, "--context-headers", help="carrier headers its agent gets: diversion, history-info, "
                        "user-to-user, X- names ('' = none); numbers and opaque values only (docs/tenants.md)")
_TYPES = typer.Option(None, help="number types callable ('' = fixed_line, mobile, toll_free, voip, uan); "
                                 "e.g. mobile,fixed_line")


@tenant_app.command("add")
def tenant_add(name: str = typer.Argument(...),
               group: int = typer.Option(..., "--group", help="the dispatcher set its calls go to (its own)"),
               allow_backup: bool = _BACKUP, callerid_policy_: str = typer.Option(
                   "reject", "--callerid-policy", help="a caller ID it does not own: reject (403) or replace"),
               default_did: str = _DEFAULT_DID, disabled: bool = typer.Option(False, "--disabled",
                                                                              help="created, taking no calls yet"),
               timeout: int = _TIMEOUT, keepalive: bool = _KEEPALIVE, transfers: str = _TRANSFERS,
               max_calls: int = _MAX_CALLS, max_cps: int = _MAX_CPS, max_duration: int = _MAX_DURATION,
               max_minutes_24h: int = _MAX_MINUTES, countries: str = _COUNTRIES, allow_prefixes: str = _ALLOW,
               deny_prefixes: str = _DENY, types: str = _TYPES, context_headers: str = _CONTEXT,
               early_ringing: bool = _EARLY, stir_required: bool = _STIR, ringback: bool = _RINGBACK):
    """A new tenant, with any of the settings `tenant set` changes; prints its id."""
    checked(lambda: tenant_name(name))
    columns = _columns({}, group, allow_backup, callerid_policy_, default_did, timeout, False, keepalive, transfers,
                       max_calls, max_cps, max_duration, max_minutes_24h, countries, allow_prefixes, deny_prefixes,
                       types, context_headers, early_ringing, stir_required, ringback)
    db = store()
    if db.rows("SELECT name FROM tenant WHERE name = %s", name):
        fail(2, f"name: tenant {name!r} exists already (change it with `tenant set`)")
    _group_free(db, group, name)
    columns = {"name": name, "enabled": 0 if disabled else 1, **columns}
    db.write(f"INSERT INTO tenant ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})",
             *columns.values())
    new_routing_generation()
    row = db.rows("SELECT id FROM tenant WHERE name = %s", name)[0]
    _print_done(f"added tenant {name} (id {row['id']})", row)


@tenant_app.command("set")
def tenant_set(name: str = typer.Argument(...), group: int = _GROUP, allow_backup: bool = _BACKUP,
               callerid_policy_: str = _POLICY, default_did: str = _DEFAULT_DID, timeout: int = _TIMEOUT,
               default_timeout: bool = typer.Option(False, "--default-timeout", help="back to MEDIA_TIMEOUT"),
               keepalive: bool = _KEEPALIVE, transfers: str = _TRANSFERS, max_calls: int = _MAX_CALLS,
               max_cps: int = _MAX_CPS, max_duration: int = _MAX_DURATION, max_minutes_24h: int = _MAX_MINUTES,
               countries: str = _COUNTRIES, allow_prefixes: str = _ALLOW, deny_prefixes: str = _DENY,
               types: str = _TYPES, context_headers: str = _CONTEXT, early_ringing: bool = _EARLY,
               stir_required: bool = _STIR, ringback: bool = _RINGBACK):
    """A tenant's gateway set, backup, caller-ID policy, media timeout and keepalive, transfers, limits and allowed
    destinations, changed in place. Each change is checked before anything is written, and takes effect with the
    next call (no restart)."""
    options = {k: v for k, v in locals().items() if k != "name"}
    options["callerid_policy"] = options.pop("callerid_policy_")
    if all(v is None for k, v in options.items() if k != "default_timeout") and not default_timeout:
        fail(2, "set: give at least one of --" + ", --".join(k.replace("_", "-") for k in _SETTABLE))
    db = store()
    current = db.rows("SELECT callerid_policy, default_did FROM tenant WHERE name = %s", name)
    if not current:
        fail(2, f"name: no tenant named {name!r}")
    columns = _columns(current[0], group, allow_backup, callerid_policy_, default_did, timeout, default_timeout,
                       keepalive, transfers, max_calls, max_cps, max_duration, max_minutes_24h, countries,
                       allow_prefixes, deny_prefixes, types, context_headers, early_ringing, stir_required,
                       ringback)
    _group_free(db, group, name)
    db.write(f"UPDATE tenant SET {', '.join(f'{c} = %s' for c in columns)} WHERE name = %s", *columns.values(), name)
    new_routing_generation()
    show(db.rows(f"SELECT name, {', '.join(columns)} FROM tenant WHERE name = %s", name), "tenant")


@tenant_app.command("enable")
def tenant_enable(name: str = typer.Argument(...)):
    _enabled(name, 1)


@tenant_app.command("disable")
def tenant_disable(name: str = typer.Argument(...)):
    """Its calls are refused from the next one on (both directions); calls up go on."""
    _enabled(name, 0)


def _enabled(name: str, value: int) -> None:
    db = store()
    if not db.rows("SELECT name FROM tenant WHERE name = %s", name):
        fail(2, f"name: no tenant named {name!r}")
    db.write("UPDATE tenant SET enabled = %s WHERE name = %s", value, name)
    new_routing_generation()
    _print_done(f"{'enabled' if value else 'disabled'} tenant {name}", {"name": name, "enabled": value})


def references(db, name: str) -> list[str]:
    """What names this tenant: its DIDs, its gateway accounts and the ACL rows tagged with it."""
    found = [f"DID {r['did']}" for r in db.rows("SELECT did FROM did_routing WHERE tenant = %s ORDER BY did", name)]
    found += [f"account {r['username']}" for r in db.rows(
        "SELECT username FROM gateway_account WHERE tenant = %s ORDER BY username", name)]
    found += [f"ACL row {r['id']} ({r['ip_addr']}/{r['mask']})" for r in db.rows(
        "SELECT id, ip_addr, mask FROM address WHERE tag = %s ORDER BY id", name)]
    return found


@tenant_app.command("remove")
def tenant_remove(name: str = typer.Argument(...),
                  force: bool = typer.Option(False, "--force", help="remove it although rows name it (their calls "
                                                                    "are refused from then on)")):
    """Refused while DIDs, accounts or ACL rows name the tenant (they would be refused calls), unless --force."""
    db = store()
    if not db.rows("SELECT name FROM tenant WHERE name = %s", name):
        fail(2, f"name: no tenant named {name!r}")
    named_by = references(db, name)
    if named_by and not force:
        fail(2, f"name: {name!r} is named by {', '.join(named_by)}; remove or move those first, or give --force "
                "(their calls are then refused)")
    db.write("DELETE FROM tenant WHERE name = %s", name)
    new_routing_generation()
    if named_by:
        typer.echo(f"sbcctl: warning: calls of these are refused from now on: {', '.join(named_by)}", err=True)
    _print_done(f"removed tenant {name}", {"name": name, "removed": True})


def _print_done(message: str, row: dict) -> None:
    if state["json"]:
        show([row], "")
    else:
        typer.echo(message)


def _given(value, convert=None):
    return ... if value is None else (convert(value) if convert else value)
