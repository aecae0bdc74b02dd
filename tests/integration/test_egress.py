"""The egress check end to end: the last look at what leaves (onsend), proven on a real Kamailio.

The ingress checks refuse every message that would leak before it is routed, so no message of a working
SBC reaches the egress check. This module starts a second SBC with the ingress checks off
(SBC_BENCH_OFF=ingress: tests and bench only, refused in a deployment) and sends it a new call whose Reason
header names a carrier address (a header new calls keep). What leaves toward the gateway would name it:
the egress check must drop it. Kamailio 6.0 (the image) honours a KEMI drop in onsend_route; on 5.6, whose
app_python3 ignores one, kamailio.cfg's native onsend route asks the same Python check and drops.

Host: a second stack (MariaDB, Redis, rtpengine, Kamailio) from this host's packages on its own addresses.
Image: the image's rtpengine and Kamailio roles (`docker run`, beside the compose stack, whose MariaDB and
Redis they use) on their own addresses.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from sbclib import settings as settings_mod
from stack.stack import Stack
from testkit.harness import delta, scrape, wait_for, wait_state
from testkit.pair import IMAGE, _ContainerKamailio
from testkit.sipua import AnsweringPeer, Caller, wait_until
from testkit.suite import TEST_SETTINGS
from tests.integration.conftest import COMPOSE_SETTINGS

OWN = {"PRIVATE_IP": "127.0.1.31", "PUBLIC_IP": "127.0.2.31", "RTPENGINE_NG_PORT": "2225", "METRICS_PORT": "9496",
       "RTP_PORT_MIN": "36000", "RTP_PORT_MAX": "36999", "SBC_BENCH_OFF": "ingress"}
GATEWAY = ("127.0.3.1", 5060)  # DID +14155550101's set 1 (demo data)
CARRIER = ("127.0.4.2", 5097)
LEAKED = "127.0.4.99"  # a carrier-side address the gateway must never see
ROLES = ("egress-rtpengine", "egress-kamailio")


class _ImageSbc:
    """The image's rtpengine and Kamailio roles on OWN's addresses, with the compose stack's DB and Redis."""

    def __init__(self, env_file):
        self.env_file = env_file
        self.kamailio = _ContainerKamailio(ROLES[1])

    def start(self, env: dict[str, str]) -> _ImageSbc:
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        self.settings = settings_mod.load(env)
        for role, container in zip(("rtpengine", "kamailio"), ROLES, strict=True):
            _docker("rm", "-f", container)
            _docker("run", "-d", "--name", container, "--network", "host", "--cap-add", "SYS_NICE",
                    "--env-file", str(self.env_file), IMAGE, role)
        if not wait_for(lambda: self.kamailio.rpc_or_empty("core.uptime"), 90, 0.5):
            said = self.logs()[-3000:]
            self.stop()  # no container left behind for the tests after this one
            raise RuntimeError(f"the egress SBC did not start: {said}")
        return self

    def logs(self) -> str:
        return _docker("logs", ROLES[1]).stdout + _docker("logs", ROLES[1]).stderr

    def stop(self) -> None:
        for container in reversed(ROLES):
            _docker("rm", "-f", container)


def _docker(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def open_sbc(sbc, tmp_path_factory):
    """The second SBC, ingress checks off. Needs the session's stack only for the image's DB and Redis."""
    run_dir = tmp_path_factory.mktemp("egress")
    if os.environ.get("SBC_BACKEND") == "compose":
        # without the session's TLS directory (not mounted in these containers): no TLS, no STIR
        env = {k: v for k, v in COMPOSE_SETTINGS.items() if not k.startswith(("TLS_", "STIR_CA_FILE"))} | OWN
        second = _ImageSbc(run_dir / "egress.env").start(env)
    else:
        env = {"PATH": os.environ["PATH"], **TEST_SETTINGS, **OWN, "DB_PORT": "3308", "REDIS_PORT": "6381"}
        second = Stack(env, run_dir, demo_data=True, log_to_files=True).start()
    try:
        yield second
    finally:
        second.stop()


def log_of(second) -> str:
    return second.logs() if hasattr(second, "logs") else second.kamailio.log_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def leaking_call(open_sbc):
    """One new call from the carrier whose Reason names a carrier address: what the egress check counted
    (with tm's retransmissions), what reached the gateway, what the carrier was answered."""
    gateway = AnsweringPeer(*GATEWAY, lambda invite: 200).start()
    carrier = Caller(CARRIER, (OWN["PRIVATE_IP"], 5060), "4155550101", [])
    before = scrape(open_sbc)
    try:
        wait_state(open_sbc, [GATEWAY[0]], active=True, timeout=20)
        msg = carrier.invite(f"egress-{time.monotonic_ns()}@{CARRIER[0]}")
        msg.set("Reason", f'SIP;cause=480;text="via {LEAKED}"')
        carrier.send(msg.render(), carrier.sbc)
        # the attempt's timer (GATEWAY_NO_REPLY_MS 1 s) and its retransmissions, each looked at on the way out
        wait_until(lambda: carrier.pump(keep_dialogs=True) or carrier.codes, 6)
        time.sleep(0.5)
        carrier.pump(keep_dialogs=True)
        reached = [m for m in gateway.requests if m.method == "INVITE"]
        for dialog in list(carrier.dialogs.values()):  # had the call gone through (a failing check): end it
            carrier.send(dialog.request("BYE", *CARRIER).render(), carrier.sbc)
        time.sleep(0.5)
    finally:
        gateway.stop()
        carrier.close()
    counted = delta(scrape(open_sbc), before, "kamailio_sbc_topology_guard_total", stage="egress", side="public",
                    reason="foreign address")
    print(f"\nan INVITE naming {LEAKED} in its Reason, ingress checks off: the egress check counted it "
          f"{counted:.0f} times (with tm's retransmissions); the gateway received {len(reached)} INVITEs; "
          f"the carrier got {dict(carrier.codes)}")
    return counted, reached, log_of(open_sbc), dict(carrier.codes)


def test_a_message_that_would_leak_is_seen_logged_and_counted_at_egress(leaking_call):
    counted, _, log, _ = leaking_call
    assert counted >= 1, log[-2000:]
    assert any("egress: dropped a message to the public side naming" in line and LEAKED in line
               for line in log.splitlines()), log[-2000:]


def test_a_message_that_would_leak_never_reaches_the_other_side(leaking_call):
    _, reached, _, codes = leaking_call
    assert reached == [], [m.header("reason") for m in reached]
    assert set(codes) == {503}, codes  # the attempt failed on the way out, as an unreachable gateway
