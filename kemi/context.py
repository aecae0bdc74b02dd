"""One message's facts, read from KSR once and passed to the routes that need them.

A `Request` is built at the top of the request route and handed down explicitly: which socket it arrived on,
who sent it (set once identified), the header names the ingress check found, and the getters the routes
would otherwise cross into C for several times (source, method, to-tag). Each getter is read on first use
only, so a message refused early never pays for facts nobody asked about.

A `Reply` is what the core reply route learnt of a reply (its side, its header names); tm's reply route runs
next for the same reply in the same process and takes it (`take_reply`), so the reply is parsed once.
"""

from __future__ import annotations

import KSR  # provided by app_python3 inside Kamailio (a fake in the unit tests)


class Request:
    """None marks a fact not read yet (never a module-level sentinel: app_python3 reloads the script inside a
    KSR call of this very message when a dialog event runs Python, and a reloaded module's new sentinel would
    make the facts this Request read before the reload look read already)."""

    __slots__ = ("_in_dialog", "_method", "_src", "names", "peer", "side")

    def __init__(self, side: str | None):
        self.side = side  # "private", "public", or None (the cluster bus, or no SIP socket of ours)
        self.peer: str | None = None  # "carrier", "gateway", "account", "monitor", or None: a stranger
        self.names: tuple[str, ...] = ()  # header names, from the ingress check of this message's bytes
        self._src: str | None = None
        self._method: str | None = None
        self._in_dialog: bool | None = None

    @property
    def src(self) -> str:
        if self._src is None:
            self._src = KSR.kx.get_srcip()
        return self._src

    @property
    def method(self) -> str:
        """The method token; asked after the ingress check, which refuses a request line Python cannot read."""
        if self._method is None:
            try:
                self._method = KSR.kx.get_method()
            except (UnicodeDecodeError, ValueError):
                self._method = ""
        return self._method

    @property
    def in_dialog(self) -> bool:
        """It has a To-tag: it belongs to a dialog (or claims to)."""
        if self._in_dialog is None:
            self._in_dialog = KSR.siputils.has_totag() > 0
        return self._in_dialog

    @property
    def is_ack(self) -> bool:
        return self.method == "ACK"

    @property
    def is_invite(self) -> bool:
        return self.method == "INVITE"

    @property
    def is_bye(self) -> bool:
        return self.method == "BYE"


class Reply:
    __slots__ = ("names", "side")

    def __init__(self, side: str | None, names: tuple[str, ...]):
        self.side = side
        self.names = names


_handed: list[Reply | None] = [None]  # the core reply route's Reply, until tm's reply route takes it


def hand_reply(reply: Reply | None) -> None:
    _handed[0] = reply


def take_reply() -> Reply | None:
    """The Reply the core reply route passed for this reply (None if it did not run for it)."""
    reply, _handed[0] = _handed[0], None
    return reply
