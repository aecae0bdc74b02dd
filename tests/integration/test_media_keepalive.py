"""Media keepalive (tenant.media_keepalive) on the real stack: a carrier that stops sending (silence
suppression without comfort noise) leaves a gateway like LiveKit without RTP, and it hangs up after 15 s.
With keepalive, rtpengine's audio player sends the gateway a continuous stream, silence where the carrier
sent nothing. rtpengine 10 (the Debian 12 host path) has no audio player: there sbcctl refuses the setting,
and a tenant row that has it anyway (SQL) routes as before, with no stream in the silence.

The tenant voxket (demo data: DID +14155550401, gateway 127.0.3.24) carries the setting in these tests.
"""

from __future__ import annotations

import json
import time

import pytest

from sbclib.probes import AUDIO_PLAYER_SINCE
from testkit.harness import cdr_rows, last_cdr_id, wait_for
from testkit.sipua import wait_until
from tests.integration.conftest import db, new_routing_generation, rtpengine_version
from tests.integration.inbound_call import InboundCall as Call

CARRIER_SECONDS, SILENT_SECONDS = 1, 3  # the carrier talks, then is silent while the gateway talks on


@pytest.fixture
def audio_player(quiet_sbc) -> bool:
    version = rtpengine_version(quiet_sbc)
    assert version is not None, "no rtpengine version"
    print(f"\nrtpengine {'.'.join(map(str, version))}")
    return version >= AUDIO_PLAYER_SINCE


@pytest.fixture
def keepalive(quiet_sbc):
    """voxket's calls kept alive, set in the DB as sbcctl would where it can (it refuses on rtpengine 10)."""
    db(quiet_sbc, "UPDATE tenant SET media_keepalive = 1 WHERE name = 'voxket'")
    new_routing_generation(quiet_sbc)
    yield
    db(quiet_sbc, "UPDATE tenant SET media_keepalive = 0 WHERE name = 'voxket'")
    new_routing_generation(quiet_sbc)


def heard(peer) -> int:
    with peer._lock:
        return peer.heard.received


def test_each_leg_gets_a_stream_while_the_other_is_silent_with_keepalive(quiet_sbc, keepalive, audio_player):
    """The carrier talks for 1 s, then is silent while the gateway talks on; then the gateway too is silent.
    Packets are counted in windows that start 0.5 s after a sender's last packet."""
    sbc, after = quiet_sbc, last_cdr_id(quiet_sbc)
    call = Call("keepalive")
    gateway_seconds = CARRIER_SECONDS + 0.5 + SILENT_SECONDS
    try:
        call.start_media(carrier_seconds=CARRIER_SECONDS, gateway_seconds=gateway_seconds)
        time.sleep(CARRIER_SECONDS + 0.5)
        at_carrier_silence = heard(call.gateway_media)
        time.sleep(SILENT_SECONDS)
        to_gateway = heard(call.gateway_media) - at_carrier_silence
        time.sleep(0.5)
        at_gateway_silence = heard(call.carrier_media)
        time.sleep(2)
        to_carrier = heard(call.carrier_media) - at_gateway_silence
        dialog = call.caller.dialogs[call.call_id]
        call.caller.send(dialog.request("BYE", call.caller.ip, call.caller.port).render(), call.caller.sbc)
        assert wait_until(lambda: call.byes()[1], 5)
    finally:
        call.close()
    print(f"in silence, one packet per 20 ms would be {SILENT_SECONDS * 50} and {2 * 50}: the gateway heard "
          f"{to_gateway} in {SILENT_SECONDS} s of the carrier's, the carrier {to_carrier} in 2 s of the gateway's")
    if audio_player:
        assert to_gateway >= SILENT_SECONDS * 50 * 0.9 and to_carrier >= 2 * 50 * 0.9
    else:  # rtpengine 10 ignores the flag: the call works, nothing fills the silence
        assert to_gateway == to_carrier == 0
    # What rtpengine generated is not counted as sent by a leg: the record has what each one sent.
    rows = wait_for(lambda: [r for r in cdr_rows(sbc, after) if r["call_id"] == call.call_id], 10)
    assert rows and int(rows[0]["carrier_packets"]) == call.carrier_media.sent == CARRIER_SECONDS * 50
    assert int(rows[0]["gateway_packets"]) == call.gateway_media.sent == int(gateway_seconds * 50)


def test_sbcctl_sets_a_tenants_media_settings_or_names_the_field(quiet_sbc, sbcctl, audio_player):
    def voxket() -> dict:
        rows = json.loads(sbcctl("--json", "tenant", "list").stdout)
        return next(r for r in rows if r["name"] == "voxket")

    before = voxket()
    assert (before["media_timeout"], before["media_keepalive"], before["transfer"]) == ("default", 0, "refuse")
    for args, field in ((["voxket", "--timeout", "86401"], "media_timeout"), (["nobody", "--timeout", "5"], "name"),
                        (["voxket"], "set"), (["voxket", "--timeout", "5", "--default-timeout"], "media_timeout"),
                        (["voxket", "--transfers", "forward"], "transfer")):
        done = sbcctl("tenant", "set", *args)
        assert done.returncode == 2 and f"sbcctl: {field}:" in done.stderr, done.stdout + done.stderr
    assert voxket() == before
    try:
        done = sbcctl("tenant", "set", "voxket", "--timeout", "20", "--keepalive")
        if audio_player:
            assert done.returncode == 0, done.stderr
            assert (voxket()["media_timeout"], voxket()["media_keepalive"]) == ("20", 1)
        else:  # refused as a whole: the timeout is not written either
            assert done.returncode == 2 and "sbcctl: media_keepalive: rtpengine 10." in done.stderr, done.stderr
            assert voxket() == before
    finally:
        assert sbcctl("tenant", "set", "voxket", "--default-timeout", "--no-keepalive").returncode == 0
    assert voxket() == before
