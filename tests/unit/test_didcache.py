import pytest

from sbclib.didcache import DidCache, DidRoute, DidSourceError, DidUnavailable

ROUTE = DidRoute("+14155550101", 1, None, "vapi")


class Source:
    def __init__(self, rows):
        self.rows = rows
        self.down = False
        self.queries = 0

    def __call__(self, did):
        self.queries += 1
        if self.down:
            raise DidSourceError("down")
        return self.rows.get(did)


class Clock:
    now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def env():
    source, clock = Source({ROUTE.did: ROUTE}), Clock()
    return source, clock, DidCache(source, ttl=60, negative_ttl=10, maxsize=3, clock=clock)


def test_miss_then_hit_without_a_second_query(env):
    source, clock, cache = env
    assert cache.lookup(ROUTE.did) == (ROUTE, "miss")
    assert cache.lookup(ROUTE.did) == (ROUTE, "hit")
    assert source.queries == 1
    assert (cache.stats.hits, cache.stats.misses) == (1, 1)


def test_expiry_queries_again(env):
    source, clock, cache = env
    cache.lookup(ROUTE.did)
    clock.now += 61
    assert cache.lookup(ROUTE.did) == (ROUTE, "miss")
    assert source.queries == 2


def test_unknown_did_is_cached_for_the_negative_ttl(env):
    source, clock, cache = env
    assert cache.lookup("+19999999999") == (None, "miss")
    assert cache.lookup("+19999999999") == (None, "hit")
    clock.now += 11
    cache.lookup("+19999999999")
    assert source.queries == 2


def test_db_down_serves_a_known_did_stale(env):
    source, clock, cache = env
    cache.lookup(ROUTE.did)
    clock.now += 3600
    source.down = True
    assert cache.lookup(ROUTE.did) == (ROUTE, "stale")
    assert cache.lookup(ROUTE.did) == (ROUTE, "stale")
    assert (cache.stats.stale, cache.stats.source_errors) == (2, 2)
    source.down = False
    assert cache.lookup(ROUTE.did) == (ROUTE, "miss")  # recovers by itself


def test_db_down_and_did_never_seen_is_unavailable(env):
    source, clock, cache = env
    source.down = True
    with pytest.raises(DidUnavailable):
        cache.lookup(ROUTE.did)


def test_db_down_and_did_known_unknown_is_unavailable_after_expiry(env):
    source, clock, cache = env
    cache.lookup("+19999999999")
    clock.now += 11
    source.down = True
    with pytest.raises(DidUnavailable):
        cache.lookup("+19999999999")


def test_size_is_bounded_least_recently_used_first(env):
    source, clock, cache = env
    for did in ("+1", "+2", "+3", "+4"):
        cache.lookup(did)
    assert len(cache) == 3


def test_invalidate_forces_a_fresh_read(env):
    source, clock, cache = env
    cache.lookup(ROUTE.did)
    cache.invalidate(ROUTE.did)
    assert cache.lookup(ROUTE.did) == (ROUTE, "miss")
    cache.invalidate()
    assert len(cache) == 0
