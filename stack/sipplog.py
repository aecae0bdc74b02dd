"""SIPp's message log (-trace_msg): each message it sent or received, with its time.

Read by the demo's `python -m stack call` and by the integration tests, which assert on what the far
side received.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

_BLOCK = re.compile(
    r"^-{10,} [^\n]*?(?P<epoch>\d{9,}\.\d+)?\n(?P<proto>\w+) message (?P<dir>received|sent) [^\n]*\n\n"
    r"(?P<msg>.*?)(?=^-{10,} |\Z)",
    re.S | re.M,
)
_WHEN = re.compile(r"^-{10,} (\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d+)", re.M)


@dataclass
class SipMessage:
    direction: str  # "received" or "sent"
    text: str
    at: float = 0.0  # seconds since the epoch, from SIPp's log

    @property
    def call_id(self) -> str:
        return (self.headers("Call-ID") or [""])[0]

    @property
    def status(self) -> int | None:
        parts = self.first_line.split(" ")
        return int(parts[1]) if self.first_line.startswith("SIP/2.0") and parts[1].isdigit() else None

    @property
    def cseq_method(self) -> str:
        return (self.headers("CSeq") or [" "])[0].split(" ")[-1]

    @property
    def first_line(self) -> str:
        return self.text.split("\n", 1)[0].strip()

    @property
    def method(self) -> str:
        return self.first_line.split(" ", 1)[0]

    @property
    def request_uri(self) -> str:
        return self.first_line.split(" ")[1]

    def headers(self, name: str) -> list[str]:
        head = self.text.split("\n\n", 1)[0]
        out = []
        for line in head.splitlines()[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                out.append(value.strip())
        return out

    @property
    def body(self) -> str:
        parts = self.text.split("\n\n", 1)
        return parts[1] if len(parts) > 1 else ""


def parse_messages(path: Path) -> list[SipMessage]:
    if not path.exists():
        return []
    text = path.read_text(errors="replace").replace("\r\n", "\n")
    out = []
    for m in _BLOCK.finditer(text):
        when = _WHEN.match(text, m.start())
        at = time.mktime(time.strptime(f"{when[1]} {when[2].split('.')[0]}", "%Y-%m-%d %H:%M:%S")) + float(
            "0." + when[2].split(".")[1]) if when else 0.0
        out.append(SipMessage(m["dir"], m["msg"].strip("\n") + "\n", at))
    return out
