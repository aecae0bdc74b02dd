"""baresip (Debian's package) as a real user agent on the public side: an AI gateway answering over TLS with
SDES-SRTP or DTLS-SRTP, or calling in. It sends a sine of its own (ausine) and dumps the audio it decoded
(sndfile), so a test can tell what it heard; it answers by itself (answermode=auto) and runs without a
terminal (no stdio module; commands over ctrl_tcp, as JSON in netstrings)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import socket
import struct
import subprocess
import time
import wave
from pathlib import Path

# and the app account.so
MODULES = ["g711", "g722", "opus", "ausine", "sndfile", "srtp", "dtls_srtp", "menu", "ctrl_tcp"]
CONTROL_PORT = 4444


class Baresip:
    def __init__(self, directory: Path, ip: str, port: int, user: str, domain: str, *, certificate: Path,
                 ca: Path, mediaenc: str | None = "srtp-mand", tone_hz: int = 440, rtp_ports: str = "36600-36699",
                 codecs: str = "PCMU,PCMA"):
        self.dir, self.ip, self.port = directory, ip, port
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "dumps").mkdir(exist_ok=True)
        modules = "".join(f"module {name}.so\n" for name in MODULES)
        # sip_listen's port + 1 is its TLS port (libre); the gateway answers by name, its account user being
        # the number the SBC sends (baresip finds the account by the Request-URI's user).
        # ausine makes 48 kHz stereo only; baresip resamples it to the codec's 8 kHz mono.
        (self.dir / "config").write_text(
            f"poll_method epoll\nsip_listen {ip}:{port - 1}\nsip_certificate {certificate}\nsip_cafile {ca}\n"
            f"net_interface {ip}\naudio_source ausine,{tone_hz}\naudio_alert ausine,{tone_hz}\n"
            f"ausrc_srate 48000\nausrc_channels 2\nrtp_ports {rtp_ports}\nsnd_path {self.dir / 'dumps'}\n"
            f"call_local_timeout 30\nctrl_tcp_listen {ip}:{CONTROL_PORT}\n"
            f"module_path /usr/lib/baresip/modules\n{modules}module_app account.so\n")
        # mediaenc None: RTP in clear on the media path (TLS still carries the signalling)
        self.account = (f"<sip:{user}@{domain};transport=tls>;regint=0;answermode=auto;"
                        + (f"mediaenc={mediaenc};" if mediaenc else "") + f"audio_codecs={codecs}")
        (self.dir / "accounts").write_text(self.account + "\n")
        (self.dir / "contacts").write_text("")
        self.log_path = self.dir / "baresip.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> Baresip:
        argv = ["baresip", "-f", str(self.dir), "-v"]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        deadline = time.monotonic() + 10
        while "baresip is ready" not in self.log():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"baresip did not start:\n{self.log()[-3000:]}")
            time.sleep(0.1)
        return self

    def command(self, command: str, params: str = "") -> dict:
        """One menu command (dial, hangup, ...) over ctrl_tcp; its response (events on the way are skipped)."""
        request = json.dumps({"command": command, "params": params, "token": command}).encode()
        with socket.create_connection((self.ip, CONTROL_PORT), timeout=5) as control:
            control.sendall(b"%d:%s," % (len(request), request))
            for message in _netstrings(control):
                if message.get("response"):
                    return message
        raise RuntimeError(f"baresip gave no answer to {command}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def decoded(self) -> list[Path]:
        """The wav files of the audio it decoded, one per call (sndfile's dump-<time>-dec.wav)."""
        return sorted((self.dir / "dumps").glob("*-dec.wav"))


@contextlib.contextmanager
def connecting_from(source: str, destination: str):
    """Connections to `destination` leave from `source` meanwhile (the suite's own namespace only): baresip
    1.0's libre does not bind its TCP/TLS connections, so the kernel picks their source (127.0.0.1 on lo)."""
    route = ["local", f"{destination}/32", "dev", "lo", "table", "local"]
    subprocess.run(["ip", "route", "add", *route, "src", source], check=True)
    try:
        yield
    finally:
        subprocess.run(["ip", "route", "del", *route], check=True)


def _netstrings(sock: socket.socket):
    """The JSON messages of a netstring stream ("<length>:<json>,"), until it closes."""
    buffer = b""
    while True:
        while b":" in buffer:
            length, rest = buffer.split(b":", 1)
            if len(rest) <= int(length):
                break
            yield json.loads(rest[:int(length)])
            buffer = rest[int(length) + 1:]
        chunk = sock.recv(4096)
        if not chunk:
            return
        buffer += chunk


def samples(path: Path) -> list[int]:
    """The dump's 16-bit samples, its first channel only."""
    with wave.open(str(path)) as wav:
        frames, channels = wav.readframes(wav.getnframes()), wav.getnchannels()
    return list(struct.unpack(f"<{len(frames) // 2}h", frames))[::channels]


def rate(path: Path) -> int:
    """The dump's sample rate: the decoded codec's (8000 for G.711, 16000 for G.722, 48000 for Opus)."""
    with wave.open(str(path)) as wav:
        return wav.getframerate()


def tone_share(pcm: list[int], hz: float, rate: int = 8000) -> float:
    """How much of the signal's energy lies at `hz` (Goertzel over 20 ms blocks), 0..1; 0 for silence."""
    block, coeff = rate // 50, 2 * math.cos(2 * math.pi * hz / rate)
    at_hz = total = 0.0
    for start in range(0, len(pcm) - block + 1, block):
        s1 = s2 = 0.0
        chunk = pcm[start:start + block]
        for x in chunk:
            s1, s2 = x + coeff * s1 - s2, s1
        at_hz += (s1 * s1 + s2 * s2 - coeff * s1 * s2) * 2 / block
        total += sum(x * x for x in chunk)
    return at_hz / total if total else 0.0
