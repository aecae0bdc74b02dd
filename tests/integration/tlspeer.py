"""A gateway answering over TLS (Python's ssl on a TCP socket): OPTIONS and INVITE get 200 (with an SDP),
BYE 200; it records the SNI each connection asked for and every request, which a real user agent does not
tell (baresip as the gateway: test_real_ua.py)."""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path

from testkit.sipua import Dialog, Msg, parse, reply, sdp, tag, uri_of


def take(buffer: bytes) -> tuple[Msg | None, bytes] | None:
    """The first whole message of a stream (framed by Content-Length) and what follows; None until it is whole."""
    head, sep, rest = buffer.partition(b"\r\n\r\n")
    if not sep:
        return None
    start = parse(head + sep)
    length = int((start.header("content-length") if start else None) or 0)
    if len(rest) < length:
        return None
    return parse(head + sep + rest[:length]), rest[length:]


class TlsGateway:
    def __init__(self, ip: str, certificate: Path, port: int = 5061, media_port: int = 36500):
        self.ip, self.port, self.media_port = ip, port, media_port
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(certificate)
        self.context.sni_callback = self._sni
        self.server_names: list[str | None] = []
        self.requests: list[Msg] = []
        self.handshake_errors: list[str] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._stopping = threading.Event()

    def _sni(self, sock, server_name, context) -> None:
        with self._lock:
            self.server_names.append(server_name)

    def start(self) -> TlsGateway:
        self._listener = socket.create_server((self.ip, self.port))
        self._listener.settimeout(0.2)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._listener is not None:
            self._listener.close()

    def received(self, method: str | None = None, probes: bool = False) -> list[Msg]:
        with self._lock:
            msgs = [m for m in self.requests if probes or m.method != "OPTIONS"]
        return [m for m in msgs if method is None or m.method == method]

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                raw, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        try:
            conn = self.context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            with self._lock:
                self.handshake_errors.append(str(exc))
            raw.close()
            return
        conn.settimeout(0.5)
        buffer, to_tag = b"", tag()
        with conn:
            while not self._stopping.is_set():
                try:
                    data = conn.recv(65536)
                except (TimeoutError, ssl.SSLError, OSError):
                    continue
                if not data:
                    return
                buffer += data
                while (taken := take(buffer)) is not None:
                    msg, buffer = taken
                    if msg is not None and not msg.is_reply:
                        self._answer(conn, msg, to_tag)

    def _answer(self, conn, msg: Msg, to_tag: str) -> None:
        with self._lock:
            self.requests.append(msg)
        contact = f"sip:gw@{self.ip}:{self.port};transport=tls"
        if msg.method == "INVITE":
            answer = reply(msg, 200, "OK", to_tag, contact=contact, body=sdp(self.ip, self.media_port))
        elif msg.method == "ACK":
            return
        else:
            answer = reply(msg, 200, "OK", to_tag)
        conn.sendall(answer.render())


class TlsCaller:
    """A gateway calling in over TLS from `ip`: checks the SBC's certificate and name as a client would."""

    def __init__(self, ip: str, ca: Path, server_name: str):
        self.ip, self.server_name = ip, server_name
        self.context = ssl.create_default_context(cafile=str(ca))
        self.conn: ssl.SSLSocket | None = None
        self._buffer = b""

    def connect(self, sbc: tuple[str, int]) -> str:
        raw = socket.create_connection(sbc, timeout=5, source_address=(self.ip, 0))
        self.conn = self.context.wrap_socket(raw, server_hostname=self.server_name)
        return self.conn.version()

    def send(self, msg: Msg) -> None:
        self.conn.sendall(msg.render())

    def read(self) -> Msg:
        while True:
            taken = take(self._buffer)
            if taken is not None:
                msg, self._buffer = taken
                return msg
            data = self.conn.recv(65536)
            if not data:
                raise ConnectionError("the SBC closed the connection")
            self._buffer += data

    def final(self) -> Msg:
        while (answer := self.read()).status < 200:
            pass
        return answer

    def call(self, number: str, sbc: tuple[str, int], media_port: int = 36600) -> list[int]:
        """INVITE, ACK, BYE over this connection; the final answers' codes (INVITE's, BYE's)."""
        local = f"<sip:gw@{self.ip}>;tag={tag()}"
        via = f"SIP/2.0/TLS {self.ip}:{self.conn.getsockname()[1]};branch=z9hG4bK{tag()}"
        invite = Msg(f"INVITE sip:{number}@{sbc[0]}:{sbc[1]};transport=tls SIP/2.0",
                     [["Via", via], ["Max-Forwards", "70"], ["From", local], ["To", f"<sip:{number}@{sbc[0]}>"],
                      ["Call-ID", f"{tag()}@{self.ip}"], ["CSeq", "1 INVITE"],
                      ["Contact", f"<sip:gw@{self.ip}:{self.conn.getsockname()[1]};transport=tls>"],
                      ["Content-Type", "application/sdp"]], sdp(self.ip, media_port))
        self.send(invite)
        answer = self.final()
        if answer.status >= 300:
            return [answer.status]
        dialog = Dialog(invite.header("call-id"), local, answer.header("to"), uri_of(answer.header("contact")),
                        routes=list(reversed(answer.all("record-route"))), cseq=1)
        for method in ("ACK", "BYE"):
            request = dialog.request(method, self.ip, self.conn.getsockname()[1])
            request.headers[0] = ["Via", f"SIP/2.0/TLS {self.ip}:{self.conn.getsockname()[1]};branch=z9hG4bK{tag()}"]
            if method == "ACK":
                request.set("CSeq", "1 ACK")
                dialog.cseq -= 1
            self.send(request)
        return [answer.status, self.final().status]
