"""The demo `make run` brings up: SIPp peers standing in for the demo gateways and carriers, and
`python -m stack call`, one call from a demo carrier through the SBC with the path it took.

Peers answer the SBC's OPTIONS probes (so dispatcher keeps them active), answer calls with 180/200 and
echo the media. Only loopback peers of the demo data are started; a deployment has real ones.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from sbclib import ng
from sbclib.settings import Settings
from stack.services import REPO, MariaDB, Service, StartError
from stack.sipplog import SipMessage, parse_messages

SCENARIOS = REPO / "tests" / "scenarios"  # the integration tests' peers, the same SIPp scenarios
DEMO_CARRIER = "127.0.4.2"  # in the demo ACL's carrier network, not a dispatcher destination
DEMO_NUMBER = "+14155550101"  # demo DID routed to dispatcher set 1 (VAPI)
_HOST_PORT = re.compile(r"^sips?:(?:[^@]*@)?(?P<host>[\d.]+)(?::(?P<port>\d+))?")


def peer_addresses(db: MariaDB, settings: Settings) -> list[tuple[str, int]]:
    """Loopback (host, port) of every dispatcher destination and DID direct URI in the DB."""
    rows = db.query("SELECT destination FROM dispatcher UNION SELECT gateway_uri FROM did_routing "
                    "WHERE gateway_uri IS NOT NULL", settings.db_name, header=False).split()
    found = set()
    for uri in rows:
        m = _HOST_PORT.match(uri)
        if m and ipaddress.ip_address(m["host"]).is_loopback:
            found.add((m["host"], int(m["port"] or 5060)))
    return sorted(found)


class DemoPeers(Service):
    """One SIPp UAS per demo peer address, all stopped together."""

    name = "demo-peers"

    def __init__(self, settings: Settings, db: MariaDB, run_dir: Path, log_to_files: bool):
        super().__init__(run_dir, log_to_files)
        self.settings = settings
        self.db = db
        self.dir = run_dir / "demo"
        self.procs: list[subprocess.Popen] = []

    def start(self) -> None:
        if not shutil.which("sipp"):
            raise StartError("sipp not found: run `make deps`")
        self.dir.mkdir(parents=True, exist_ok=True)
        for index, (host, port) in enumerate(peer_addresses(self.db, self.settings)):
            self.procs.append(subprocess.Popen(
                ["sipp", "-sf", str(SCENARIOS / "uas_answer.xml"), "-i", host, "-p", str(port), "-mi", host,
                 "-mp", str(20000 + 10 * index), "-bind_local", "-nostdin", "-aa", "-rtp_echo", "-trace_msg",
                 "-message_file", str(self.dir / f"{host}.messages.log")],
                cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                start_new_session=True))
        time.sleep(0.3)
        if not self.alive():
            raise StartError("a demo peer exited at start (is port 5060 of a 127.0.3.x/127.0.4.x address taken?)")

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def stop(self, timeout: float = 5) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()


def call(settings: Settings, run_dir: Path, number: str = DEMO_NUMBER, hold_s: float = 2.0) -> int:
    """Place one call as the demo carrier, print each hop and the media figures; exit code of SIPp."""
    work = Path(tempfile.mkdtemp(prefix="sbc-call-"))
    sbc = f"{settings.private_ip}:{settings.private_port}"
    log = work / "carrier.messages.log"
    started = time.time()
    uac = subprocess.Popen(
        ["sipp", sbc, "-sf", str(SCENARIOS / "uac_call.xml"), "-s", number, "-i", DEMO_CARRIER, "-p", "5060",
         "-mi", DEMO_CARRIER, "-mp", "17000", "-bind_local", "-nostdin", "-m", "1", "-d", str(int(hold_s * 1000)),
         "-timeout", "30s", "-timeout_error", "-trace_msg", "-message_file", str(log)],
        cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    media = _media_while_up(settings, uac, hold_s)
    code = uac.wait(60)
    carrier = parse_messages(log)
    call_id = next((m.call_id for m in carrier if m.method == "INVITE"), "")
    gateway, seen_by = _gateway_view(run_dir / "demo", call_id, started)
    print(f"call {number} from demo carrier {DEMO_CARRIER} to the SBC's private side {sbc}")
    for who, message in sorted([("carrier", m) for m in carrier] + [(seen_by, m) for m in gateway],
                               key=lambda pair: pair[1].at):
        print("  " + _hop(who, message, sbc))
    print(f"media through rtpengine (packets per leg): {media or 'no session seen'}")
    print(f"result: {'answered and ended cleanly' if code == 0 else f'failed (SIPp exit {code}); see {work}'}")
    return code


def _media_while_up(settings: Settings, uac: subprocess.Popen, hold_s: float) -> dict[str, int]:
    ng_at = (settings.rtpengine_ng_ip, settings.rtpengine_ng_port)
    deadline = time.monotonic() + 5
    calls: list[str] = []
    while not calls and time.monotonic() < deadline and uac.poll() is None:
        calls = ng.calls(*ng_at)
        time.sleep(0.1)
    if not calls:
        return {}
    time.sleep(hold_s * 0.75)
    return ng.packets_per_leg(ng.query(*ng_at, calls[0]))


def _gateway_view(demo_dir: Path, call_id: str, since: float) -> tuple[list[SipMessage], str]:
    """The answering demo gateway's messages of this call: the INVITE with the carrier's Call-ID (Kamailio
    5.6), else the only INVITE any peer got meanwhile (6.0 masks the Call-ID)."""
    found = []
    for log in sorted(demo_dir.glob("*.messages.log")):
        messages = [m for m in parse_messages(log) if m.at >= since - 1 and m.cseq_method != "OPTIONS"]
        for invite in (m for m in messages if m.method == "INVITE"):
            ours = invite.call_id == call_id
            found.append((ours, [m for m in messages if m.call_id == invite.call_id],
                          f"gateway {log.name.removesuffix('.messages.log')}"))
    mine = [f for f in found if f[0]] or (found if len(found) == 1 else [])
    return (mine[0][1], mine[0][2]) if mine else ([], "gateway")


def _hop(who: str, message: SipMessage, sbc: str) -> str:
    arrow = "->" if message.direction == "sent" else "<-"
    what = message.first_line if message.status else f"{message.method} {message.request_uri}"
    return f"{who:<22} {arrow} SBC   {what}"
