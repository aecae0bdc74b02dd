"""sbcctl tenant: tenants' call settings: media timeout and keepalive, transfers, limits, and where their
calls may go (sbclib/destinations.py). The rest of a tenant row is provisioned in SQL for now."""

from __future__ import annotations

import typer

from sbcctl.cli import checked, fail, new_routing_generation, read_store, show, store
from sbcctl.validate import InputError
from sbclib import destinations
from sbclib.probes import AUDIO_PLAYER_SINCE, rtpengine_version
from sbclib.tenancy import TRANSFERS

tenant_app = typer.Typer(help="tenants: list them; their media, transfers, limits and allowed destinations",
                         no_args_is_help=True)


@tenant_app.command("list")
def tenant_list():
    """Limits of 0 are .env's TENANT_MAX_* (there is no unlimited), a minutes cap of 0 is none; empty destination
    lists are the defaults."""
    show(read_store().rows(
        "SELECT name, enabled, gateway_group, allow_backup, max_calls, max_cps, max_duration, "
        "IF(max_minutes_24h = 0, 'none', max_minutes_24h) AS max_minutes_24h, callerid_policy, "
        "default_did, IFNULL(media_timeout, 'default') AS media_timeout, media_keepalive, transfer, "
        "allowed_countries, allowed_prefixes, denied_prefixes, number_types FROM tenant ORDER BY name"), "tenants")


def media_timeout(value: int) -> int:
    if not 0 <= value <= 86400:
        raise InputError("media_timeout", f"{value} is outside 0..86400 (0 = never)")
    return value


def keepalive_supported(version: tuple[int, ...] | None) -> None:
    """Refuse keepalive where the rtpengine here would ignore it; say so when there is none to ask."""
    if version is None:
        typer.echo("sbcctl: warning: no rtpengine here to check: media_keepalive needs rtpengine 11 or later",
                   err=True)
    elif version < AUDIO_PLAYER_SINCE:
        raise InputError("media_keepalive", f"rtpengine {'.'.join(map(str, version))} has no audio player "
                                            "(rtpengine 11 or later; the Docker image has it)")


def transfer(value: str) -> str:
    if value not in TRANSFERS:
        raise InputError("transfer", f"{value!r} is not one of {', '.join(TRANSFERS)}")
    return value


def limit(value: int, field: str, high: int) -> int:
    if not 0 <= value <= high:
        raise InputError(field, f"{value} is outside 0..{high} (0 = the .env default; there is no unlimited)")
    return value


def minutes_cap(value: int) -> int:
    if not 0 <= value <= 1440 * 100_000:
        raise InputError("max_minutes_24h", f"{value} is outside 0..{1440 * 100_000} (0 = no cap)")
    return value


def destination_list(parse, value: str, field: str) -> str:
    """A comma-separated list as the tenant row keeps it, or InputError naming the field."""
    try:
        return ",".join(parse(value, field))
    except destinations.PolicyError as exc:
        raise InputError(exc.field, str(exc).split(": ", 1)[1]) from None


_SETTABLE = ("timeout", "default_timeout", "keepalive", "transfers", "max_calls", "max_cps", "max_duration",
             "max_minutes_24h", "countries", "allow_prefixes", "deny_prefixes", "types")


@tenant_app.command("set")
def tenant_set(name: str = typer.Argument(...),
               timeout: int = typer.Option(None, help="s without RTP from a leg before the call ends; 0 = never"),
               default_timeout: bool = typer.Option(False, "--default-timeout", help="back to MEDIA_TIMEOUT"),
               keepalive: bool = typer.Option(None, "--keepalive/--no-keepalive",
                                              help="rtpengine streams to both legs, silence where none came"),
               transfers: str = typer.Option(None, help="a gateway's REFER: refuse (403) or relay (to the carrier)"),
               max_calls: int = typer.Option(None, help="concurrent calls; 0 = TENANT_MAX_CALLS"),
               max_cps: int = typer.Option(None, help="call attempts per second; 0 = TENANT_MAX_CPS"),
               max_duration: int = typer.Option(None, help="s before a call is ended; 0 = TENANT_MAX_DURATION"),
               max_minutes_24h: int = typer.Option(None, help="outbound minutes per rolling 24 h, both nodes of a "
                                                   "pair together; past them calls are refused and ended; 0 = no cap"),
               countries: str = typer.Option(None, help="ISO regions callable besides home, e.g. GB,FR ('' clears)"),
               allow_prefixes: str = typer.Option(None, help="E.164 prefixes callable whatever else, e.g. +4420"),
               deny_prefixes: str = typer.Option(None, help="E.164 prefixes never callable, e.g. +1900"),
               types: str = typer.Option(None, help="number types callable ('' = fixed_line, mobile, toll_free, "
                                         "voip, uan); e.g. mobile,fixed_line")):
    """A tenant's media timeout and keepalive, transfers, limits and allowed destinations. Each change is
    checked before anything is written, and takes effect with the next call (no restart)."""
    given = {k: v for k, v in locals().items() if k in _SETTABLE and v not in (None, False)}
    if timeout is not None and default_timeout:
        fail(2, "media_timeout: give --timeout or --default-timeout, not both")
    if not given:
        fail(2, "set: give at least one of --" + ", --".join(k.replace("_", "-") for k in _SETTABLE))
    checked(
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
        lambda: destination_list(destinations.parse_types, types, "number_types"))
    columns = {"media_timeout": timeout if (timeout is not None or default_timeout) else ...,
               "media_keepalive": int(keepalive) if keepalive is not None else ...,
               "transfer": transfers if transfers is not None else ..., "max_calls": _given(max_calls),
               "max_cps": _given(max_cps), "max_duration": _given(max_duration),
               "max_minutes_24h": _given(max_minutes_24h),
               "allowed_countries": lists[0] if countries is not None else ...,
               "allowed_prefixes": lists[1] if allow_prefixes is not None else ...,
               "denied_prefixes": lists[2] if deny_prefixes is not None else ...,
               "number_types": lists[3] if types is not None else ...}
    columns = {k: v for k, v in columns.items() if v is not ...}
    db = store()
    if not db.rows("SELECT name FROM tenant WHERE name = %s", name):
        fail(2, f"name: no tenant named {name!r}")
    db.write(f"UPDATE tenant SET {', '.join(f'{c} = %s' for c in columns)} WHERE name = %s", *columns.values(), name)
    new_routing_generation()
    show(db.rows(f"SELECT name, {', '.join(columns)} FROM tenant WHERE name = %s", name), "tenant")


def _given(value):
    return value if value is not None else ...
