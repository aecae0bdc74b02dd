"""A small SIP model and user agents on raw UDP sockets, for tests that must send what no real user
agent would (the fuzzer) and record every byte the SBC sends back."""

from __future__ import annotations

import collections
import os
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

COMPACT = {"v": "via", "m": "contact", "f": "from", "t": "to", "i": "call-id", "l": "content-length",
           "c": "content-type"}


@dataclass
class Msg:
    start: str
    headers: list[list[str]]  # [name, value], in order
    body: str = ""

    @property
    def is_reply(self) -> bool:
        return self.start.startswith("SIP/2.0 ")

    @property
    def status(self) -> int:
        return int(self.start.split()[1]) if self.is_reply else 0

    @property
    def method(self) -> str:
        return ((self.header("cseq") or "").split() or [""])[-1] if self.is_reply else self.start.split(" ", 1)[0]

    def all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for n, v in self.headers if COMPACT.get(n.lower().strip(), n.lower().strip()) == name]

    def header(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def set(self, name: str, value: str) -> Msg:
        self.headers = [h for h in self.headers if COMPACT.get(h[0].lower(), h[0].lower()) != name.lower()]
        self.headers.append([name, value])
        return self

    def render(self, content_length: bool = True) -> bytes:
        lines = [self.start] + [f"{n}: {v}" for n, v in self.headers
                                if not (content_length and n.lower() in ("content-length", "l"))]
        body = self.body.encode("utf-8", "surrogateescape")
        if content_length:
            lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape") + body


def parse(data: bytes) -> Msg | None:
    text = data.decode("utf-8", "surrogateescape")
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    headers: list[list[str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # folded continuation
            headers[-1][1] = (headers[-1][1] + " " + line.strip()).strip()
            continue
        name, sep, value = line.partition(":")
        if sep:
            headers.append([name.strip(), value.strip()])
    msg = Msg(lines[0], headers, body)
    try:
        _ = msg.status if msg.is_reply else msg.method
    except (IndexError, ValueError):
        return None
    return msg


def tag() -> str:
    return os.urandom(5).hex()


def sdp(ip: str, port: int = 40000) -> str:
    return (f"v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n")


def uri_of(value: str) -> str:
    """The URI of a name-addr or addr-spec header value."""
    if "<" in value and ">" in value:
        return value[value.index("<") + 1:value.index(">")]
    return value.split(";", 1)[0].strip()


def reply(request: Msg, code: int, reason: str, to_tag: str, contact: str | None = None,
          body: str = "") -> Msg:
    headers = [["Via", v] for v in request.all("via")]
    to = request.header("to") or ""
    if ";tag=" not in to:
        to += f";tag={to_tag}"
    headers += [["From", request.header("from") or ""], ["To", to], ["Call-ID", request.header("call-id") or ""],
                ["CSeq", request.header("cseq") or ""]]
    if contact:
        headers.append(["Contact", f"<{contact}>"])
    if body:
        headers.append(["Content-Type", "application/sdp"])
    return Msg(f"SIP/2.0 {code} {reason}", headers, body)


@dataclass
class Dialog:
    """One established call as one of its ends knows it: enough to send in-dialog requests."""

    call_id: str
    local: str  # our From value for requests we send (with our tag)
    remote: str  # their (To) value, with their tag
    target: str  # Request-URI: the other end's Contact
    routes: list[str] = field(default_factory=list)
    cseq: int = 100

    def request(self, method: str, via_host: str, via_port: int, body: str = "") -> Msg:
        self.cseq += 1
        headers = [["Via", f"SIP/2.0/UDP {via_host}:{via_port};branch=z9hG4bK{tag()};rport"],
                   ["Max-Forwards", "70"], ["From", self.local], ["To", self.remote], ["Call-ID", self.call_id],
                   ["CSeq", f"{self.cseq} {method}"]]
        headers += [["Route", r] for r in self.routes]
        if method in ("INVITE", "UPDATE"):
            headers.append(["Contact", f"<sip:ua@{via_host}:{via_port}>"])
        if body:
            headers.append(["Content-Type", "application/sdp"])
        return Msg(f"{method} {self.target} SIP/2.0", headers, body)


class Endpoint:
    """A UDP socket that records every datagram it receives."""

    def __init__(self, ip: str, port: int):
        self.ip, self.port = ip, port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((ip, port))
        self.sock.setblocking(False)
        self.received: list[bytes] = []
        self.lock = threading.Lock()

    def send(self, data: bytes, to: tuple[str, int]) -> None:
        self.sock.sendto(data[:65000], to)  # what one UDP datagram can carry; cut is hostile too

    def drain(self) -> list[tuple[bytes, tuple[str, int]]]:
        got = []
        while True:
            try:
                data, addr = self.sock.recvfrom(65535)
            except BlockingIOError:
                return got
            with self.lock:
                self.received.append(data)
            got.append((data, addr))

    def close(self) -> None:
        self.sock.close()


class AnsweringPeer(Endpoint):
    """A gateway or carrier as the SBC sees it: answers OPTIONS, INVITEs (with `answer(invite)`: a
    code, or the replies to send as they are) and in-dialog requests; remembers the dialogs it accepted."""

    def __init__(self, ip: str, port: int, answer: Callable[[Msg], int | Msg], tcp: bool = False):
        super().__init__(ip, port)
        self.answer = answer
        self.dialogs: dict[str, Dialog] = {}
        self.invites: dict[str, Msg] = {}
        self.requests: list[Msg] = []  # every request it received, in order
        self.unanswerable = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        # `tcp`: also on TCP, as a gateway is (the SBC sends an INVITE over 1,300 bytes by TCP: udp_mtu)
        self.listener = socket.create_server((ip, port)) if tcp else None
        self.connections: dict[socket.socket, bytes] = {}  # each accepted connection: what it has not framed yet

    def start(self) -> AnsweringPeer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for conn in [*self.connections, *([self.listener] if self.listener else [])]:
            conn.close()
        self.close()

    def send(self, data: bytes, to) -> None:
        if isinstance(to, socket.socket):  # a request that came over TCP: answered on its connection
            to.sendall(data)
        else:
            super().send(data, to)

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.sock, *([self.listener] if self.listener else []), *self.connections],
                                        [], [], 0.1)
            received = []
            for sock in ready:
                if sock is self.sock:
                    received += self.drain()
                elif sock is self.listener:
                    conn, _ = self.listener.accept()
                    self.connections[conn] = b""
                else:
                    received += [(data, sock) for data in self._framed(sock)]
            for data, addr in received:
                msg = parse(data)
                if msg is not None and not msg.is_reply:
                    try:
                        self._handle(msg, addr)
                    except Exception:  # noqa: BLE001 - a request this UA cannot answer is still recorded
                        self.unanswerable += 1

    def _framed(self, conn: socket.socket) -> list[bytes]:
        """The whole messages a TCP connection has delivered so far (framed by Content-Length)."""
        chunk = conn.recv(65535)
        if not chunk:
            del self.connections[conn]
            conn.close()
            return []
        buffer, messages = self.connections[conn] + chunk, []
        while b"\r\n\r\n" in buffer:
            head, _, rest = buffer.partition(b"\r\n\r\n")
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.split(b":", 1)[0].strip().lower() in (b"content-length", b"l")), 0)
            if len(rest) < length:
                break
            messages.append(head + b"\r\n\r\n" + rest[:length])
            buffer = rest[length:]
        self.connections[conn] = buffer
        with self.lock:
            self.received += messages
        return messages

    def _handle(self, msg: Msg, addr) -> None:
        self.requests.append(msg)
        method = msg.method
        contact = f"sip:ua@{self.ip}:{self.port}"
        if method == "ACK":
            return
        if method == "INVITE" and ";tag=" not in (msg.header("to") or ""):
            outcome = self.answer(msg)
            if isinstance(outcome, list):
                for answer in outcome:
                    self.send(answer.render(), addr)
                return
            to_tag = tag()
            if outcome == 200:
                ok = reply(msg, 200, "OK", to_tag, contact, sdp(self.ip))
                self.invites[msg.header("call-id")] = msg
                self.dialogs[msg.header("call-id")] = Dialog(
                    msg.header("call-id"), ok.header("to"), msg.header("from"), uri_of(msg.header("contact") or ""),
                    [v for v in reversed(msg.all("record-route"))])
                self.send(ok.render(), addr)
            else:
                self.send(reply(msg, outcome, "Busy Here", to_tag).render(), addr)
            return
        body = sdp(self.ip) if method == "INVITE" else ""
        self.send(reply(msg, 200, "OK", tag(), contact if method in ("INVITE", "UPDATE") else None,
                        body).render(), addr)
        if method == "BYE":
            self.dialogs.pop(msg.header("call-id"), None)


CLEAN_CALLER = "+12125550177"  # the caller number of calls a test wants answered (the Call-ID may be masked)


def invite(frm: tuple[str, int], to_user: str, sbc: tuple[str, int], call_id: str) -> Msg:
    ip, port = frm
    caller = CLEAN_CALLER if call_id.startswith("clean-") else "+12125550199"
    return Msg(f"INVITE sip:{to_user}@{sbc[0]}:{sbc[1]} SIP/2.0", [
        ["Via", f"SIP/2.0/UDP {ip}:{port};branch=z9hG4bK{tag()};rport"], ["Max-Forwards", "70"],
        ["From", f'"Caller" <sip:{caller}@{ip}>;tag={tag()}'], ["To", f"<sip:{to_user}@{sbc[0]}>"],
        ["Call-ID", call_id], ["CSeq", "1 INVITE"], ["Contact", f"<sip:caller@{ip}:{port}>"],
        ["Content-Type", "application/sdp"]], sdp(ip))


class Caller(Endpoint):
    """Sends INVITEs (clean or mutated) and completes what the SBC answers: ACK, and BYE after a 2xx."""

    def __init__(self, addr, sbc, to_user, own):
        super().__init__(*addr)
        self.sbc, self.to_user, self.own = sbc, to_user, own  # own: its side's addresses (for mutations)
        self.sent: list[Msg] = []
        self.call_ids: set[str] = set()
        self.codes = collections.Counter()
        self.dialogs: dict[str, Dialog] = {}
        self.completed: set[str] = set()

    def invite(self, call_id: str) -> Msg:
        self.call_ids.add(call_id)
        msg = invite((self.ip, self.port), self.to_user, self.sbc, call_id)
        self.sent.append(msg)
        return msg

    def invite_answers(self) -> list[Msg]:
        """The final answers to its INVITEs (not to its BYEs) received so far, one per call."""
        return [m for m in map(parse, self.received)
                if m is not None and m.is_reply and m.status >= 200 and m.method == "INVITE"]

    def pump(self, keep_dialogs: bool = False) -> None:
        for data, addr in self.drain():
            msg = parse(data)
            if msg is not None and not msg.is_reply and msg.method != "ACK":
                # The far end's request inside a call: answered as a UA would.
                try:
                    body = sdp(self.ip) if msg.method in ("INVITE", "UPDATE") else ""
                    self.send(reply(msg, 200, "OK", tag(), f"sip:caller@{self.ip}:{self.port}", body).render(), addr)
                except Exception:  # noqa: BLE001 - a mutated request no UA could answer
                    pass
                continue
            if msg is None or not msg.is_reply or msg.status < 200:
                continue
            self.codes[msg.status] += 1
            key = (msg.header("call-id"), msg.header("cseq"), msg.status // 100)
            if msg.method != "INVITE" or key in self.completed:
                continue
            self.completed.add(key)
            if (msg.header("cseq") or "").split()[0] != "1":  # a re-INVITE's answer: ACK a 2xx in the dialog
                dialog = self.dialogs.get(msg.header("call-id"))
                if dialog is not None and msg.status < 300:
                    ack = dialog.request("ACK", self.ip, self.port)
                    ack.set("CSeq", f"{msg.header('cseq').split()[0]} ACK")
                    self.send(ack.render(), self.sbc)
                continue
            self.ack_and_maybe_bye(msg, keep_dialogs)

    def ack_and_maybe_bye(self, answer: Msg, keep_dialog: bool) -> None:
        sent = next((m for m in self.sent if m.header("call-id") == answer.header("call-id")), None)
        if sent is None:
            return
        if answer.status >= 300:  # hop-by-hop ACK in the INVITE's transaction
            ack = Msg(sent.start.replace("INVITE", "ACK", 1), [
                ["Via", sent.header("via")], ["Max-Forwards", "70"], ["From", sent.header("from")],
                ["To", answer.header("to")], ["Call-ID", sent.header("call-id")], ["CSeq", "1 ACK"]])
            self.send(ack.render(), self.sbc)
            return
        dialog = Dialog(sent.header("call-id"), sent.header("from"), answer.header("to"),
                        uri_of(answer.header("contact") or f"sip:{self.sbc[0]}"),
                        list(reversed(answer.all("record-route"))), cseq=1)
        ack = dialog.request("ACK", self.ip, self.port)
        ack.set("CSeq", "1 ACK")
        dialog.cseq = 1
        self.send(ack.render(), self.sbc)
        if keep_dialog:
            self.dialogs[dialog.call_id] = dialog
        else:
            self.send(dialog.request("BYE", self.ip, self.port).render(), self.sbc)


def wait_until(check: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return check()
