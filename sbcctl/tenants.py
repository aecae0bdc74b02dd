"""sbcctl tenant: tenants' call settings: media timeout and keepalive, transfers (the rest of a tenant row
is provisioned in SQL for now)."""

from __future__ import annotations

import typer

from kemi.tenancy import TRANSFERS
from stack.services import AUDIO_PLAYER_SINCE, rtpengine_version

from .cli import checked, fail, new_routing_generation, read_store, show, store
from .validate import InputError

tenant_app = typer.Typer(help="tenants: list them; their media timeout, media keepalive and transfers",
                         no_args_is_help=True)


@tenant_app.command("list")
def tenant_list():
    show(read_store().rows(
        "SELECT name, enabled, gateway_group, allow_backup, max_calls, max_cps, callerid_policy, default_did, "
        "IFNULL(media_timeout, 'default') AS media_timeout, media_keepalive, transfer FROM tenant ORDER BY name"),
        "tenants")


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


@tenant_app.command("set")
def tenant_set(name: str = typer.Argument(...),
               timeout: int = typer.Option(None, help="s without RTP from a leg before the call ends; 0 = never"),
               default_timeout: bool = typer.Option(False, "--default-timeout", help="back to MEDIA_TIMEOUT"),
               keepalive: bool = typer.Option(None, "--keepalive/--no-keepalive",
                                              help="rtpengine streams to both legs, silence where none came"),
               transfers: str = typer.Option(None, help="a gateway's REFER: refuse (403) or relay (to the carrier)")):
    """A tenant's dead-media timeout, media keepalive and transfers."""
    if timeout is not None and default_timeout:
        fail(2, "media_timeout: give --timeout or --default-timeout, not both")
    if timeout is None and not default_timeout and keepalive is None and transfers is None:
        fail(2, "set: give --timeout, --default-timeout, --keepalive/--no-keepalive or --transfers")
    checked(*([lambda: media_timeout(timeout)] if timeout is not None else []),
            *([lambda: keepalive_supported(rtpengine_version())] if keepalive else []),
            *([lambda: transfer(transfers)] if transfers is not None else []))
    sets, args = [], []
    if timeout is not None or default_timeout:
        sets.append("media_timeout = %s")
        args.append(timeout)
    if keepalive is not None:
        sets.append("media_keepalive = %s")
        args.append(int(keepalive))
    if transfers is not None:
        sets.append("transfer = %s")
        args.append(transfers)
    db = store()
    if not db.rows("SELECT name FROM tenant WHERE name = %s", name):
        fail(2, f"name: no tenant named {name!r}")
    db.write(f"UPDATE tenant SET {', '.join(sets)} WHERE name = %s", *args, name)
    new_routing_generation()
    show(db.rows("SELECT name, IFNULL(media_timeout, 'default') AS media_timeout, media_keepalive, transfer "
                 "FROM tenant WHERE name = %s", name), "tenant")
