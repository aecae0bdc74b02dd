"""Drives SIPp as carrier and gateways against the real SBC, and reads what they received."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from sbclib import mediastats, ng
from stack.sipplog import SipMessage, parse_messages

SCENARIOS = Path(__file__).resolve().parent.parent / "tests" / "scenarios"
class Sipp:
    """One SIPp process; `received()` parses what it got so far."""

    def __init__(self, workdir: Path, name: str, scenario: str, ip: str, port: int = 5060,
                 media_port: int = 16000, remote: str | None = None, args: tuple[str, ...] = (),
                 trace_messages: bool = True):
        self.workdir = workdir
        self.name = name
        self.message_file = workdir / f"{name}.messages.log"
        self.output = workdir / f"{name}.out"
        self.error_file = workdir / f"{name}.errors.log"
        argv = ["sipp"]
        if remote:
            argv.append(remote)
        argv += ["-sf", str(SCENARIOS / scenario), "-i", ip, "-p", str(port), "-mi", ip,
                 "-mp", str(media_port), "-bind_local", "-nostdin", "-aa",
                 *(("-trace_msg", "-message_file", str(self.message_file)) if trace_messages else ()),
                 "-trace_err",
                 "-error_file", str(self.error_file), *args]
        self.argv = argv
        self.proc: subprocess.Popen | None = None

    def start(self) -> Sipp:
        with open(self.output, "wb") as out:
            self.proc = subprocess.Popen(self.argv, cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        return self

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"{self.name}: SIPp still running after {timeout}s") from None

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            # SIPp writes its message log as it goes; SIGUSR1 would wait for open (probe) calls.
            self.proc.terminate()
            try:
                self.proc.wait(2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def received(self, method: str | None = None, probes: bool = False) -> list[SipMessage]:
        """What this peer received; the SBC's OPTIONS health probes only when `probes` is set."""
        msgs = [m for m in parse_messages(self.message_file) if m.direction == "received"]
        if not probes:
            msgs = [m for m in msgs if m.method != "OPTIONS"]
        return [m for m in msgs if method is None or m.method == method]

    def sent(self) -> list[SipMessage]:
        return [m for m in parse_messages(self.message_file) if m.direction == "sent"]

    def kill(self) -> None:
        """Die like a crashed gateway: no goodbye, no answer to anything after this."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def log(self) -> str:
        """What an assertion shows: SIPp's errors (why a call failed), the last messages, its screen."""
        parts = []
        for title, path, size in (("errors", self.error_file, 2000), ("messages", self.message_file, 4000),
                                  ("screen", self.output, 1500)):
            if path.exists():
                parts.append(f"--- {self.name} {title} ---\n{path.read_text(errors='replace')[-size:]}")
        return "\n".join(parts)

    def failed_calls(self) -> set[str]:
        """The Call-IDs SIPp reports dead or unexpected answers for."""
        errors = self.error_file.read_text(errors="replace") if self.error_file.exists() else ""
        return set(re.findall(r"(?:Dead call |for Call-Id ')([^\s',]+)", errors))


def sbc_lines(sbc, call_ids: set[str], limit: int = 40) -> str:
    """What Kamailio logged about these calls: for an assertion's message, so that a failure in CI says why."""
    if not call_ids:
        return ""
    log = sbc.kamailio.log_path.read_text(errors="replace").splitlines()
    lines = [line for line in log if any(call_id in line for call_id in call_ids)]
    return "\n--- Kamailio on " + ", ".join(sorted(call_ids)) + " ---\n" + "\n".join(lines[-limit:])


def run_uac(workdir: Path, name: str, sbc: str, number: str, ip: str, scenario: str = "uac_call.xml",
            calls: int = 1, rate: float = 1, limit: int = 10, duration_ms: int = 500,
            media_port: int = 17000, timeout: float = 60, extra: tuple[str, ...] = (), port: int = 5060) -> Sipp:
    uac = Sipp(workdir, name, scenario, ip, port, media_port, remote=sbc,
               args=("-s", number, "-m", str(calls), "-r", str(rate), "-l", str(limit),
                     "-d", str(duration_ms), "-timeout", f"{int(timeout)}s", "-timeout_error",
                     "-recv_timeout", "10000", *extra)).start()
    return uac


def rtpengine_calls(settings) -> list[str]:
    return ng.calls(settings.rtpengine_ng_ip, settings.rtpengine_ng_port)


def rtpengine_query(settings, call_id: str) -> dict:
    return ng.query(settings.rtpengine_ng_ip, settings.rtpengine_ng_port, call_id)


def wait_for(predicate, timeout: float = 10, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def send_request(src_ip: str, dst: tuple[str, int], method: str = "INVITE", ruser: str = "4155550101",
                 user_agent: str = "test", timeout: float = 2.0, sdp: bool = True,
                 caller: str = "probe", headers: str = "") -> int | None:
    """One request from `src_ip`; the final (or first non-100) status, or None on silence."""
    import os
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((src_ip, 0))
        sock.settimeout(timeout)
        port = sock.getsockname()[1]
        tag = os.urandom(4).hex()
        body = (f"v=0\r\no=x 1 1 IN IP4 {src_ip}\r\ns=-\r\nc=IN IP4 {src_ip}\r\nt=0 0\r\n"
                f"m=audio 40000 RTP/AVP 0\r\n") if sdp and method == "INVITE" else ""
        msg = (f"{method} sip:{ruser}@{dst[0]}:{dst[1]} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP {src_ip}:{port};branch=z9hG4bK{tag};rport\r\n"
               f"From: <sip:{caller}@{src_ip}>;tag={tag}\r\nTo: <sip:{ruser}@{dst[0]}>\r\n"
               f"Call-ID: {tag}@{src_ip}\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n"
               f"Contact: <sip:probe@{src_ip}:{port}>\r\nUser-Agent: {user_agent}\r\n{headers}"
               + ("Content-Type: application/sdp\r\n" if body else "")
               + f"Content-Length: {len(body)}\r\n\r\n{body}")
        sock.sendto(msg.encode(), dst)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data, _ = sock.recvfrom(65535)
            except OSError:
                return None
            code = int(data.split(b" ", 2)[1])
            if code >= 200 or (code > 100 and method != "INVITE"):
                if code >= 300 and method == "INVITE":  # be a good UAC: ACK the negative reply
                    to = next(h for h in data.decode().split("\r\n") if h.lower().startswith("to:"))
                    ack = (f"ACK sip:{ruser}@{dst[0]}:{dst[1]} SIP/2.0\r\n"
                           f"Via: SIP/2.0/UDP {src_ip}:{port};branch=z9hG4bK{tag};rport\r\n"
                           f"From: <sip:{caller}@{src_ip}>;tag={tag}\r\n{to}\r\nCall-ID: {tag}@{src_ip}\r\n"
                           f"CSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
                    sock.sendto(ack.encode(), dst)
                return code
        return None


DEMO_GATEWAYS = ["127.0.3.1", "127.0.3.2", "127.0.3.3", "127.0.3.9"]  # sets 1-3 in the demo data: no peer here
# The demo data's address dedicated to tenant acme (its DID +12125550199, the scenarios' caller ID, is what its
# calls show: caller ID policy replace): a gateway whose calls toward the carrier need no digest. Any other
# 127.0.3.x is a shared platform address.
OUTBOUND_CALLER = "127.0.3.30"


def gateways(sbcctl) -> list[dict]:
    """sbcctl's gateway rows."""
    done = sbcctl("--json", "gateway", "list")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def remove_gateways_since(sbcctl, before: set[int]) -> None:
    """Removes every gateway row added since `before` (the row ids then)."""
    for row in gateways(sbcctl):
        if row["id"] not in before:
            sbcctl("gateway", "remove", str(row["id"]))


def host_of(request_uri: str) -> str:
    return request_uri.split(":", 1)[1].split("@", 1)[-1].split(";")[0].split(":")[0]


def dispatcher_states(sbc) -> dict[str, str]:
    """Destination URI -> dispatcher flags ("AP" active and probed, "IP" inactive, ...)."""
    states, uri = {}, None
    for line in sbc.kamailio.rpc("dispatcher.list").splitlines():
        line = line.strip()
        if line.startswith("URI:"):
            uri = line.split(":", 1)[1].strip()
        elif line.startswith("FLAGS:") and uri:
            states[uri] = line.split(":", 1)[1].strip()
    return states


def wait_state(sbc, ips, active: bool, timeout: float = 10) -> None:
    """Wait until dispatcher's probing has seen each of `ips` (port 5060) as up (or down); one that is not in
    dispatcher's list never is."""
    uris = [f"sip:{ip}:5060" for ip in ips]

    def reached():
        states = dispatcher_states(sbc)
        return all(states.get(u, "").startswith("A" if active else "I") for u in uris)

    assert wait_for(reached, timeout), f"dispatcher states: {dispatcher_states(sbc)}"


def start_peers(work, sbc, ips, scenario="uas_answer.xml", args=("-rtp_echo",)) -> dict[str, Sipp]:
    """SIPp peers (answering OPTIONS like real gateways), returned once dispatcher sees them up."""
    peers = {ip: Sipp(work, f"peer-{ip}", scenario, ip, args=args).start() for ip in ips}
    time.sleep(0.3)
    dead = {ip: p.log() for ip, p in peers.items() if p.proc.poll() is not None}
    assert not dead, f"SIPp peers exited at start: {dead}"
    probed = dispatcher_states(sbc)  # a peer reached by a DID's own URI is not in dispatcher's list
    wait_state(sbc, [ip for ip in ips if f"sip:{ip}:5060" in probed], active=True)
    return peers


def stop_peers(peers: dict[str, Sipp]) -> None:
    for peer in peers.values():
        peer.stop()


# ---- metrics and call records, as an operator reads them ----------------------------------------

def scrape(sbc) -> dict[tuple, float]:
    """(metric name, sorted label items) -> value, parsed with prometheus_client's text parser."""
    s = sbc.settings
    with urllib.request.urlopen(f"http://{s.metrics_ip}:{s.metrics_port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def snapshot_events(sbc, event: str) -> float:
    """kamailio_sbc_snapshot_total{event} since Kamailio started."""
    return scrape(sbc).get(("kamailio_sbc_snapshot_total", (("event", event),)), 0)


def in_snapshot(sbc, table: str, text: str) -> bool:
    """Whether the snapshot's file of `table` holds `text` (escaped as db_text writes it)."""
    if os.environ.get("SBC_BACKEND") == "compose":
        content = sbc.exec("kamailio", "cat", f"/var/lib/sbc/snapshot/{table}", check=False)
    else:
        path = sbc.kamailio.snapshot_dir / table
        content = path.read_text() if path.exists() else ""
    return text in content


def delta(after, before, name, **labels):
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0) - before.get(key, 0)


def delta_sum(after, before, name, **labels):
    """Sum over every label set that includes `labels`."""
    def total(m):
        return sum(v for (n, ls), v in m.items() if n == name and set(labels.items()) <= set(ls))
    return total(after) - total(before)


def cdr_rows(sbc, after_id: int) -> list[dict]:
    """CDR rows after `after_id`, as text ("NULL" for none)."""
    out = sbc.db.query(
        "SELECT id, setup_time, answer_time, end_time, duration, direction, did, tenant, gw_group, gateway, "
        f"carrier, code, call_id, pdd_ms, answer_ms, end_reason, {', '.join(mediastats.COLUMNS)}, agent_headers, "
        "stir, agent_rtp_ms "
        f"FROM sbc_cdr WHERE id > {int(after_id)} ORDER BY id",
        sbc.settings.db_name,
    ).splitlines()
    if not out:
        return []
    header = out[0].split("\t")
    return [dict(zip(header, line.split("\t"), strict=True)) for line in out[1:]]


def last_cdr_id(sbc) -> int:
    return int(sbc.db.query("SELECT COALESCE(MAX(id), 0) FROM sbc_cdr", sbc.settings.db_name, header=False))
