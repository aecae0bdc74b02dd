"""Valid INVITEs generated from RFC 3261's grammar (section 25), RFC 3966's numbers and RFC 4566's SDP: the
forms a carrier may legally send, drawn at random (seeded) beside tests/integration/fuzz.py's hostile ones.

Each draw picks, per production, one of the alternatives the grammar gives: header names in any case or
their compact form, LWS around HCOLON, name-addr or addr-spec, quoted or token display names (escapes
included), Call-ID words from the whole `word` alphabet, a Request-URI user with visual separators,
escapes and parameters, lower Vias on any transport (one header or several), header order shuffled (Vias
keep theirs), extension headers long or many, an SDP with the lines RFC 4566 allows in the order it
requires. Everything names the sender's own addresses only (`own`): whatever of them reaches the far
side is a leak."""

from __future__ import annotations

import random
import string

ALPHANUM = string.ascii_letters + string.digits
# RFC 3261 25.1: word = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" / "(" / ")" /
# "<" / ">" / ":" / "\" / DQUOTE / "/" / "[" / "]" / "?" / "{" / "}")
WORD = ALPHANUM + "-.!%*_+`'~()<>:\\\"/[]?{}"
TOKEN = ALPHANUM + "-.!%*_+`'~"
COMPACT = {"Via": "v", "From": "f", "To": "t", "Call-ID": "i", "Contact": "m", "Content-Type": "c",
           "Supported": "k", "Subject": "s", "Content-Length": "l"}
TRANSPORTS = ("UDP", "TCP", "TLS", "SCTP", "WS", "WSS", "TLS-SCTP")


class ValidInvite:
    def __init__(self, rng: random.Random, own: list[str]):
        self.rng = rng
        self.own = own  # the sender's addresses: the first is where it sends from

    def pick(self, *options):
        return self.rng.choice(options)

    def maybe(self, p: float = 0.5) -> bool:
        return self.rng.random() < p

    def text(self, alphabet: str, low: int, high: int) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(self.rng.randint(low, high)))

    # ---- the productions ----

    def name(self, canonical: str) -> str:
        """A header name: as written, lower, upper, or its compact form (RFC 3261 7.3.1, 7.3.3)."""
        forms = [canonical, canonical.lower(), canonical.upper()]
        if canonical in COMPACT:
            forms.append(COMPACT[canonical])
        return self.rng.choice(forms)

    def hcolon(self) -> str:
        """HCOLON = *( SP / HTAB ) ":" SWS."""
        return self.pick("", "", " ", "\t") + ":" + self.pick(" ", " ", "", "  ", "\t")

    def display(self) -> str:
        """display-name = *(token LWS) / quoted-string; a quoted-pair inside the quotes."""
        return self.pick(
            "", '"Caller" ', 'Caller ', 'Front Desk ', '"A \\"quoted\\" name" ', '"" ', '"Jos\u00e9" ',
            f'"{self.text(ALPHANUM + " ", 1, 30).strip() or "x"}" ')

    def number(self, national: str) -> str:
        """The dialled number as a carrier writes it: national, +E.164, RFC 3966 visual separators, escapes."""
        n = national
        return self.pick(n, f"+1{n}", f"1{n}", f"+1-{n[:3]}-{n[3:6]}-{n[6:]}", f"({n[:3]}){n[3:6]}-{n[6:]}",
                         f"+1.{n[:3]}.{n[3:6]}.{n[6:]}", f"%2B1{n}", f"%34{n[1:]}" if n[0] == "4" else n)

    def ruri(self, number: str, sbc: tuple[str, int]) -> str:
        user = self.number(number)
        if self.maybe(0.3):
            user += self.pick(";npdi", ";npdi;rn=+14155550000", ";isub=12", ";rn=+14155550000;npdi")
        host = self.pick(sbc[0], f"{sbc[0]}:{sbc[1]}")
        params = self.pick("", ";user=phone", ";transport=udp", ";user=phone;transport=UDP")
        return f"sip:{user}@{host}{params}"

    def via(self, top: bool, port: int) -> str:
        ip = self.own[0] if top else self.rng.choice(self.own)
        transport = "UDP" if top else self.rng.choice(TRANSPORTS)
        slash = self.pick("/", "/", " / ")
        branch = self.pick(f"z9hG4bK{self.text(TOKEN, 4, 24)}", f"z9hG4bK-{self.rng.randrange(10**9)}")
        params = f";branch={branch}"
        if top and self.maybe():
            params += ";rport"
        if not top and self.maybe(0.3):
            params += f";received={self.rng.choice(self.own)}"
        if self.maybe(0.2):
            params += ";ttl=16" if not top else ";x-carrier=a1"
        sent_by = f"{ip}:{port}" if top else self.pick(ip, f"{ip}:{self.rng.randint(1024, 65535)}")
        sep = self.pick(";", " ;", "; ")
        return f"SIP{slash}2.0{slash}{transport} {sent_by}{params.replace(';', sep)}"

    def from_value(self, caller: str) -> str:
        uri = f"sip:{caller}@{self.rng.choice(self.own)}"
        tag = f";tag={self.text(TOKEN, 1, 32)}"
        if self.maybe(0.2):
            return f"{uri}{tag}"  # addr-spec: the tag is a header parameter
        return f"{self.display()}<{uri}{self.pick('', ';user=phone')}>{tag}"

    def to_value(self, number: str, sbc: tuple[str, int]) -> str:
        uri = f"sip:{self.number(number)}@{sbc[0]}"
        return uri if self.maybe(0.2) else f"{self.display()}<{uri}>"

    def call_id(self) -> str:
        word = self.text(WORD, 8, 40)
        return word if self.maybe(0.3) else f"{word}@{self.pick(self.own[0], self.text(WORD, 1, 20))}"

    def contact(self, port: int) -> str:
        uri = f"sip:{self.pick('carrier', 'gw1', '+12125550199')}@{self.own[0]}:{port}"
        params = self.pick("", ";expires=3600", ';+sip.instance="<urn:uuid:00000000-0000-1000-8000-000000000001>"')
        return f"{self.display()}<{uri}{self.pick('', ';transport=udp')}>{params}"

    def extensions(self) -> list[tuple[str, str]]:
        """Headers a carrier adds (RFC 3261 and friends, extension-header), some long, some many."""
        found = [(n, v) for n, v in (
            ("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, REFER, NOTIFY"),
            ("Supported", self.pick("timer, 100rel", "replaces", "")),
            ("Session-Expires", self.pick("1800", "1800;refresher=uac", "90")),
            ("Min-SE", "90"),
            ("Accept", "application/sdp"),
            ("User-Agent", self.pick("CarrierSBC/1.0", "Sonus SBC", "(comment) Product/2")),
            ("P-Asserted-Identity", f"<sip:+12125550199@{self.own[0]}>"),
            ("Privacy", self.pick("none", "id")),
            ("Subject", "call"),
            ("Date", "Sat, 13 Nov 2010 23:29:00 GMT"),
            ("X-Carrier-Ref", self.text(ALPHANUM, 1, self.pick(20, 3000))),
        ) if self.maybe(0.5)]
        if self.maybe(0.15):
            found += [(f"X-H{i}", f"v{i}") for i in range(self.rng.randint(20, 100))]
        return found

    def sdp(self) -> str:
        """RFC 4566's lines in its order; the session's address is the sender's."""
        ip = self.own[0]
        lines = ["v=0",
                 f"o={self.pick('-', 'carrier', 'SonusSBC')} {self.rng.randrange(1, 2**31)} "
                 f"{self.rng.randrange(0, 2**31)} IN IP4 {ip}",
                 f"s={self.pick('-', 'SIP Call', 'session')}"]
        if self.maybe(0.2):
            lines.append("i=a call")
        lines.append(f"c=IN IP4 {ip}")
        if self.maybe(0.2):
            lines.append("b=AS:84")
        lines.append("t=0 0")
        payloads = self.pick("0 8 101", "0 101", "8 0", "0 8 18 101", "0")
        lines.append(f"m=audio {self.rng.randrange(10000, 60000, 2)} RTP/AVP {payloads}")
        for pt in payloads.split():
            lines.append({"0": "a=rtpmap:0 PCMU/8000", "8": "a=rtpmap:8 PCMA/8000", "18": "a=rtpmap:18 G729/8000",
                          "101": "a=rtpmap:101 telephone-event/8000"}[pt])
            if pt == "101":
                lines.append("a=fmtp:101 0-16")
        lines += [a for a in ("a=ptime:20", "a=sendrecv", "a=maxptime:40") if self.maybe(0.5)]
        return "\r\n".join(lines) + "\r\n"

    # ---- the message ----

    def invite(self, number: str, sbc: tuple[str, int], port: int, caller: str = "+12125550199") -> tuple[bytes, str]:
        """(the INVITE's bytes, its Call-ID)."""
        call_id = self.call_id()
        vias = [self.via(True, port)] + [self.via(False, port) for _ in range(self.rng.choice((0, 0, 1, 2, 3)))]
        if len(vias) > 1 and self.maybe():
            via_headers = [("Via", ", ".join(vias))]  # one header, comma-separated
        else:
            via_headers = [("Via", v) for v in vias]
        late = self.maybe(0.15)  # a late offer (13.2.1): no body; the offer comes in the 2xx
        others = [("From", self.from_value(caller)), ("To", self.to_value(number, sbc)), ("Call-ID", call_id),
                  ("CSeq", f"{self.rng.randrange(0, 2**31)}{self.pick(' ', '  ', chr(9))}INVITE"),
                  ("Max-Forwards", str(self.rng.randint(2, 70))), ("Contact", self.contact(port)),
                  *([] if late else [("Content-Type", self.pick("application/sdp", "Application/SDP",
                                                                "application/SDP"))]),
                  *self.extensions()]
        self.rng.shuffle(others)
        at = self.rng.randint(0, len(others))  # Vias together, anywhere among the others (7.3.1)
        headers = others[:at] + via_headers + others[at:]
        body = b"" if late else self.sdp().encode()
        lines = [f"INVITE {self.ruri(number, sbc)} SIP/2.0"]
        lines += [f"{self.name(n)}{self.hcolon()}{v}" for n, v in headers]
        lines.append(f"{self.name('Content-Length')}{self.hcolon()}{len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body, call_id
