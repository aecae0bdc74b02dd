"""SIPp as the carrier and as the two AI gateways, without message traces (they would cost more than
the calls): the bench's call flow is INVITE, 100, 200 with SDP, ACK, BYE, 200, signalling only."""

from __future__ import annotations

import csv
import re
import statistics
import time
from pathlib import Path

from testkit.harness import SCENARIOS, Sipp

CARRIER = "127.0.4.2"
GATEWAYS = ("127.0.3.2", "127.0.3.3")  # set 2 of the demo data: the bench DID spreads over these
DID = "+14155550199"
# The bench's own tenant and DID (group 2 for the native reference's lookup, the tenant for the SBC's):
# the SBC's calls pass the tenant checks (lookup, rate and call limits, profile, context headers), which
# `--off tenant` measures; its limits are far above any ladder rate.
TENANT_SQL = (
    "INSERT INTO tenant (name, enabled, gateway_group, allow_backup, max_calls, max_cps, callerid_policy, "
    "default_did) VALUES ('bench', 1, 2, 0, 1000000, 1000000, 'reject', NULL);"
    f"INSERT INTO did_routing (did, gateway_group, gateway_uri, tenant, description) "
    f"VALUES ('{DID}', 2, NULL, 'bench', 'make bench');")


def _scenarios(work: Path) -> tuple[str, str]:
    """The tests' caller and callee, made bench-shaped: no RTP, latency to the 200, no ring pause."""
    uac = (SCENARIOS / "uac_call.xml").read_text()
    uac = re.sub(r"\s*<nop><action><exec play_pcap_audio=[^\n]*</nop>", "", uac)
    uac = uac.replace('<recv response="180" optional="true" rtd="true"/>', '<recv response="180" optional="true"/>')
    uac = uac.replace('<recv response="200" rrs="true"/>', '<recv response="200" rrs="true" rtd="true"/>', 1)
    # The flow has no 180: back-to-back 180/200 from SIPp can overtake each other in two workers,
    # and the caller then fails a good call on a late 180 (the tests' callee pauses between them).
    uas = (SCENARIOS / "uas_answer.xml").read_text()
    uas = re.sub(r"<send>\s*<!\[CDATA\[\s*SIP/2.0 180 Ringing.*?</send>\s*", "", uas, count=1, flags=re.S)
    uas = re.sub(r"\s*<!--[^>]*-->\s*<pause milliseconds=\"50\"/>", "", uas)
    (work / "bench_uac.xml").write_text(uac)
    (work / "bench_uas.xml").write_text(uas)
    return str(work / "bench_uac.xml"), str(work / "bench_uas.xml")


def _count(out: str, what: str) -> int:
    found = re.findall(rf"{what}\s*\|\s*\d+\s*\|\s*(\d+)", out)
    return int(found[-1]) if found else 0


class Load:
    def __init__(self, work: Path, settings, duration_ms: int):
        self.work = work
        self.sbc = f"{settings.private_ip}:{settings.private_port}"
        self.duration_ms = duration_ms
        self.uac, self.uas = _scenarios(work)
        self.gateways: list[Sipp] = []

    def __enter__(self) -> Load:
        self.gateways = [Sipp(self.work, f"gw-{ip}", self.uas, ip, trace_messages=False).start()
                         for ip in GATEWAYS]
        return self

    def __exit__(self, *exc) -> None:
        for gw in self.gateways:
            gw.stop()

    def calls(self, name: str, calls: int, rate: float) -> dict:
        """Place `calls` at `rate` from the carrier to the SBC's private socket (see place)."""
        run = self.work / name
        run.mkdir(exist_ok=True)
        return place(run, self.uac, CARRIER, self.sbc, DID, calls, rate, self.duration_ms)


def place(run: Path, uac_scenario: str, carrier: str, sbc: str, did: str, calls: int, rate: float,
          duration_ms: int) -> dict:
    """Place `calls` at `rate` with SIPp from `carrier` to `sbc` (ip:port), in the directory `run`;
    successes, failures and INVITE->200 percentiles (ms)."""
    limit = int(rate * (duration_ms / 1000 + 2)) + 10
    uac = Sipp(run, "carrier", uac_scenario, carrier, 5060, remote=sbc, trace_messages=False, args=(
        "-s", did, "-m", str(calls), "-r", str(rate), "-l", str(limit), "-d", str(duration_ms),
        "-timeout", f"{int(calls / rate) + 60}s", "-timeout_error", "-recv_timeout", "10000",
        "-trace_rtt", "-rtt_freq", "1"))
    started = time.monotonic()
    uac.start()
    exit_code = uac.wait(calls / rate + 120)
    wall = time.monotonic() - started
    out = uac.output.read_text(errors="replace")
    rtts = []
    for path in run.glob("*_rtt.csv"):
        with open(path) as f:
            rtts += [float(row["response_time_ms"]) for row in csv.DictReader(f, delimiter=";")]
    q = statistics.quantiles(rtts, n=100, method="inclusive") if len(rtts) > 1 else [0.0] * 99
    return {"ok": _count(out, "Successful call"), "failed": _count(out, "Failed call"),
            "sipp_exit": exit_code, "wall_s": round(wall, 1),
            # SIPp queues calls it cannot place in time: a saturated side shows here, not in failures.
            "achieved_cps": round(calls / max(wall - duration_ms / 1000, 1e-3), 1),
            "invite_200_p50_ms": round(q[49], 2), "invite_200_p99_ms": round(q[98], 2)}
