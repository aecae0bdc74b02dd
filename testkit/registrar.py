"""A registrar as providers and carriers run one, for the SBC's own registrations: it challenges every REGISTER
without valid credentials (401, digest MD5 with qop=auth, a fresh nonce each time), checks the response against
the password it was given, and answers a valid one 200 with the Contact bound for `grant` seconds. Every
REGISTER and what it made of it are kept for the test."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from testkit.sipua import AnsweringPeer, Msg, reply, tag


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def digest_fields(header: str) -> dict[str, str]:
    return dict(re.findall(r'(\w+)="?([^",]*)"?', header.split(" ", 1)[1]))


@dataclass
class Seen:
    request: Msg
    outcome: str  # challenged | refused | bound


class Registrar(AnsweringPeer):
    def __init__(self, ip: str, port: int, realm: str, users: dict[str, str], grant: int = 3600):
        super().__init__(ip, port, lambda _invite: 404)
        self.realm, self.users, self.grant = realm, users, grant
        self.nonces: set[str] = set()
        self.seen: list[Seen] = []

    def _handle(self, msg: Msg, addr) -> None:
        if msg.method != "REGISTER":
            super()._handle(msg, addr)
            return
        self.requests.append(msg)
        answer, outcome = self._answer(msg)
        self.seen.append(Seen(msg, outcome))
        self.send(answer.render(), addr)

    def _answer(self, msg: Msg) -> tuple[Msg, str]:
        credentials = msg.header("authorization")
        if credentials is None:
            return self._challenge(msg), "challenged"
        fields = digest_fields(credentials)
        password = self.users.get(fields.get("username", ""))
        if password is None or fields.get("nonce") not in self.nonces or fields.get("realm") != self.realm:
            return self._challenge(msg), "refused"
        self.nonces.discard(fields["nonce"])  # one use per nonce
        ha1 = md5(f"{fields['username']}:{self.realm}:{password}")
        ha2 = md5(f"REGISTER:{fields.get('uri', '')}")
        expected = md5(f"{ha1}:{fields['nonce']}:{fields.get('nc', '')}:{fields.get('cnonce', '')}:auth:{ha2}") \
            if fields.get("qop") == "auth" else md5(f"{ha1}:{fields['nonce']}:{ha2}")
        if fields.get("response") != expected:
            return self._challenge(msg), "refused"
        ok = reply(msg, 200, "OK", tag())
        contact = msg.header("contact") or ""
        ok.set("Contact", f"{contact.split(';expires=')[0]};expires={self.grant}")
        return ok, "bound"

    def _challenge(self, msg: Msg) -> Msg:
        nonce = tag() + tag()
        self.nonces.add(nonce)
        answer = reply(msg, 401, "Unauthorized", tag())
        return answer.set("WWW-Authenticate", f'Digest realm="{self.realm}", nonce="{nonce}", qop="auth", '
                                              'algorithm=MD5')

    def registers(self, outcome: str | None = None) -> list[Msg]:
        return [s.request for s in self.seen if outcome is None or s.outcome == outcome]
