"""Generated mutations of the SIP fields topos and the routes parse: Contact, Via, Record-Route, Route,
From/To, CSeq, Call-ID, Max-Forwards, Content-Length and the SDP. Seeded, so a failing run is replayed
with SBC_FUZZ_SEED. Each sender mutates with its own side's vocabulary (its addresses), so that any of
it found on the other side is a leak, never the fuzzer's own echo."""

from __future__ import annotations

import random

from testkit.sipua import Msg

FIELDS = ("contact", "via", "record-route", "route", "from", "to", "cseq", "call-id", "max-forwards",
          "content-length", "sdp")
HEADER_NAME = {"contact": "Contact", "via": "Via", "record-route": "Record-Route", "route": "Route",
               "from": "From", "to": "To", "cseq": "CSeq", "call-id": "Call-ID", "max-forwards": "Max-Forwards",
               "content-length": "Content-Length"}
COMPACT = {"contact": "m", "via": "v", "from": "f", "to": "t", "call-id": "i", "content-length": "l"}
# Bytes and characters parsers trip on: NUL, ANSI escapes, bell, DEL, bare CR/LF, vertical tab, a byte
# that is not UTF-8 (surrogate-escaped), right-to-left override, non-ASCII text.
NASTY = ["\x00", "\x1b[31m", "\x1b]0;x\x07", "\x07", "\x7f", "\r", "\n", "\x0b", "\udcff", "\udcc3(",
         "\u202e", "é", "\t", "%00", "\\", '"', "<", ">", ",", ";", "@", ":"]
NUMBERS = ["-1", "0", "4294967296", "99999999999999", "1e3", "0x10", " 7 ", "\uff17", "", "2147483648", "1 2"]


class Mutator:
    def __init__(self, rng: random.Random, own: list[str]):
        self.rng = rng
        self.own = own  # addresses of the sender's own side

    def addr(self) -> str:
        return self.rng.choice(self.own)

    # ---- value-level operators (any header) ----

    def _value_ops(self, value: str) -> str:
        r = self.rng
        op = r.randrange(12)
        at = r.randrange(len(value) + 1)
        if op == 0:
            return value[:at] + r.choice(NASTY) * r.randint(1, 4) + value[at:]
        if op == 1:
            return value[:at] + r.choice(["<", ">", '"', "<<<<", ">>>>", '""', "\\"]) + value[at:]
        if op == 2:
            return ", ".join([value] * r.randint(2, 40))
        if op == 3:
            return value + ";x=" + "A" * r.choice([100, 1000, 5000, 9000])
        if op == 4:
            return ""
        if op == 5:
            return value[: r.randrange(len(value) + 1)]
        if op == 6:
            return "".join(chr(r.randint(32, 126)) for _ in range(r.randint(1, 80)))
        if op == 7:
            return value[:at] + "\r\n " + value[at:]  # folding
        if op == 8:
            return value + f"\r\nRoute: <sip:{self.addr()};lr>"  # header injection
        if op == 9:
            return f'"{self.addr()}" ' + value if "<" in value else f"<{value}>;maddr={self.addr()}"
        if op == 10:
            return value + f";received={self.addr()};x-internal={self.addr()}"
        return value.replace("sip:", r.choice(["sips:", "tel:", "sip:sip:", "http:", "SIP:", ""]), 1)

    def mutate(self, msg: Msg) -> tuple[bytes, str]:
        """One to three mutations; the description names each, for the failure message."""
        done = []
        content_length = True
        for _ in range(self.rng.randint(1, 3)):
            target = self.rng.choice(FIELDS)
            if target == "sdp":
                msg.body = self.mutate_sdp(msg.body)
                done.append("sdp")
            elif target == "content-length":
                msg.set("Content-Length", self.rng.choice([*NUMBERS, str(len(msg.body) + self.rng.randint(-50, 50))]))
                content_length = False
                done.append("content-length")
            else:
                done.append(self.mutate_header(msg, target))
        return msg.render(content_length=content_length), "+".join(done)

    def mutate_header(self, msg: Msg, target: str) -> str:
        r = self.rng
        name = HEADER_NAME[target]
        values = msg.all(target) or [f"<sip:{self.addr()};lr>" if "route" in target else f"<sip:x@{self.addr()}>"]
        kind = r.randrange(6)
        if kind == 0:  # many copies: many Vias/Routes/Contacts, duplicated From/Call-ID ...
            count = r.choice([2, 5, 20, 100, 400]) if target in ("via", "record-route", "route") else r.randint(2, 4)
            extra = [[name, self.numbered(target, values[0], i)] for i in range(count)]
            msg.headers = extra + msg.headers if target == "via" else msg.headers + extra
            return f"{target} x{count}"
        if kind == 1:  # gone
            msg.headers = [h for h in msg.headers if h[0].lower() not in (target, COMPACT.get(target, "?"))]
            return f"{target} removed"
        if kind == 2 and target in COMPACT:  # compact name or odd spelling, same value
            for h in msg.headers:
                if h[0].lower() == target:
                    h[0] = r.choice([COMPACT[target], name.upper(), name.lower() + " "])
            return f"{target} renamed"
        if target in ("cseq", "max-forwards") and kind == 3:
            number = r.choice(NUMBERS)
            msg.set(name, f"{number} {msg.method}" if target == "cseq" else number)
            return f"{target}={number!r}"
        for h in msg.headers:
            if h[0].lower() in (target, COMPACT.get(target, "?")):
                h[1] = self._value_ops(h[1])
                break
        else:
            msg.headers.append([name, self._value_ops(values[0])])
        return f"{target} value"

    def numbered(self, target: str, value: str, i: int) -> str:
        if target == "via":
            return f"SIP/2.0/UDP {self.addr()}:{5060 + i % 1000};branch=z9hG4bK{i}x{self.rng.randrange(10**6)}"
        return value

    def mutate_sdp(self, body: str) -> str:
        r = self.rng
        lines = body.split("\r\n") if body else ["v=0", "s=-", "t=0 0"]
        a = self.addr()
        op = r.randrange(10)
        if op == 0:
            lines = [f"c=IN IP4 {a}" if line.startswith("c=") else line for line in lines]
        elif op == 1:
            lines.append(f"a=candidate:1 1 UDP 2130706431 {a} 5000 typ host")
        elif op == 2:
            lines.append(f"a=rtcp:5001 IN IP4 {a}")
        elif op == 3:
            lines.insert(2, f"i=reach me at {a}")
        elif op == 4:
            lines = [line for line in lines if not line.startswith(r.choice(["c=", "m=", "o=", "v="]))]
        elif op == 5:
            lines = [line.replace("40000", r.choice(["99999", "-1", "0", "x"])) for line in lines]
        elif op == 6:
            lines.append("a=" + "".join(r.choice(NASTY) for _ in range(20)))
        elif op == 7:
            lines.append("a=x-long:" + "B" * r.choice([1000, 8000, 30000]))
        elif op == 8:
            lines += [line for line in lines if line.startswith("m=")] * r.randint(1, 30)
        else:
            lines = [line.replace("IN IP4", r.choice(["IN IP6", "IN IP4 ", "XX IP4", "IN"])) for line in lines]
        return "\r\n".join(lines)
