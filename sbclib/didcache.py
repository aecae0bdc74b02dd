"""DID routing cache: steady-state calls do no DB query; a DB outage keeps known DIDs routing.

Plain Python, no Kamailio: the loader is any callable did -> DidRoute | None that raises
DidSourceError when the source is unavailable.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cachetools import LRUCache


@dataclass(frozen=True)
class DidRoute:
    did: str
    gateway_group: int | None
    gateway_uri: str | None
    tenant: str = ""


class DidSourceError(Exception):
    """The DID source (the database) could not answer."""


class DidUnavailable(Exception):
    """The DID is not cached and the source is down: the caller should answer 5xx."""


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    stale: int = 0
    source_errors: int = 0


@dataclass
class _Entry:
    route: DidRoute | None
    fetched_at: float = field(default=0.0)


class DidCache:
    """LRU of did -> last answer from the source, fresh for `ttl` (`negative_ttl` for unknown DIDs).

    An expired entry is refreshed from the source; when the source fails, a known route is
    served stale (and kept), an unknown or never-seen DID raises DidUnavailable.
    """

    def __init__(
        self,
        loader: Callable[[str], DidRoute | None],
        ttl: float,
        negative_ttl: float,
        maxsize: int,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._loader = loader
        self._ttl = ttl
        self._negative_ttl = negative_ttl
        self._clock = clock
        self._entries: LRUCache[str, _Entry] = LRUCache(maxsize=maxsize)
        self.stats = CacheStats()

    def lookup(self, did: str) -> tuple[DidRoute | None, str]:
        """(route or None for an unknown DID, how it was answered: "hit", "miss" or "stale")."""
        now = self._clock()
        entry = self._entries.get(did)
        if entry is not None and now - entry.fetched_at < self._lifetime(entry):
            self.stats.hits += 1
            return entry.route, "hit"
        try:
            route = self._loader(did)
        except DidSourceError:
            self.stats.source_errors += 1
            if entry is not None and entry.route is not None:
                self.stats.stale += 1
                return entry.route, "stale"
            raise DidUnavailable(did) from None
        self.stats.misses += 1
        self._entries[did] = _Entry(route, now)
        return route, "miss"

    def invalidate(self, did: str | None = None) -> None:
        if did is None:
            self._entries.clear()
        else:
            self._entries.pop(did, None)

    def __len__(self) -> int:
        return len(self._entries)

    def _lifetime(self, entry: _Entry) -> float:
        return self._ttl if entry.route is not None else self._negative_ttl
