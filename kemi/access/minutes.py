"""A tenant's outbound minutes per rolling 24 hours (tenant.max_minutes_24h; 0: no cap), held in the Redis
both nodes of a pair share, so that neither node's calls escape it and a restart forgets nothing.

Each answered outbound call of a capped tenant is live in the hash `sbc:live:<tenant>` (Call-ID -> answer
time) until it ends; its seconds then go to the bucket of the hour it ended in (`sbc:minutes:<tenant>:<hour>`,
kept 25 h). Used = the last 24 hour buckets + the age of each live call. The clock is Redis' (TIME), one
clock for both nodes. Each step is one Lua script: one round trip, atomic. Only capped tenants' calls pay
the three round trips (admission, answer, end), plus one per capped tenant per media-check round.

A live entry older than the call could have lasted (its node died without ending it) is not counted.
"""

from __future__ import annotations

import KSR

STORE = "tps"  # the ndb_redis server (kamailio.cfg): the topology store, already required for every call
RESULT = "sbc_minutes"  # ndb_redis reply container
KEEP_S = 90000  # 25 h: a bucket outlives the window it counts in
_INTEGER = 3  # hiredis REDIS_REPLY_INTEGER

USED = (
    "local now = tonumber(redis.call('TIME')[1]) local hour = math.floor(now / 3600) local used = 0 "
    "for h = hour - 23, hour do "
    "used = used + tonumber(redis.call('GET', 'sbc:minutes:' .. KEYS[1] .. ':' .. h) or 0) end "
    "local live = redis.call('HGETALL', 'sbc:live:' .. KEYS[1]) "
    "for i = 2, #live, 2 do local age = now - tonumber(live[i]) "
    "if age >= 0 and age < tonumber(ARGV[1]) then used = used + age end end "
    "return used"
)
START = (
    "redis.call('HSET', 'sbc:live:' .. KEYS[1], ARGV[1], redis.call('TIME')[1]) "
    f"redis.call('EXPIRE', 'sbc:live:' .. KEYS[1], {KEEP_S}) return 1"
)
SETTLE = (
    "local live = 'sbc:live:' .. KEYS[1] local since = redis.call('HGET', live, ARGV[1]) "
    "if not since then return -1 end "
    "redis.call('HDEL', live, ARGV[1]) local now = tonumber(redis.call('TIME')[1]) "
    "local spent = math.max(now - tonumber(since), 0) "
    "local bucket = 'sbc:minutes:' .. KEYS[1] .. ':' .. math.floor(now / 3600) "
    f"redis.call('INCRBY', bucket, spent) redis.call('EXPIRE', bucket, {KEEP_S}) return spent"
)


def exhausted(used_s: int, cap_minutes: int) -> bool:
    """A capped tenant has no minute left in its window."""
    return cap_minutes > 0 and used_s >= cap_minutes * 60


def _script(script: str, tenant: str, arg: str) -> int | None:
    """The script's integer answer; None when Redis did not answer or answered an error."""
    if KSR.ndb_redis.redis_cmd_p3(STORE, "EVAL %s 1 %s %s", script, tenant, arg, RESULT) < 0:
        return None
    try:
        if KSR.pv.geti(f"$redis({RESULT}=>type)") != _INTEGER:
            return None
        return KSR.pv.geti(f"$redis({RESULT}=>value)")
    finally:
        KSR.ndb_redis.redis_free(RESULT)


def used(tenant: str, longest_call_s: int) -> int | None:
    """Seconds the tenant spent in the window (ended calls, and live ones younger than `longest_call_s`)."""
    return _script(USED, tenant, str(longest_call_s))


def answered(tenant: str, callid: str) -> bool:
    """dialog:start of a capped tenant's call: its minutes run from now."""
    return _script(START, tenant, callid) is not None


def ended(tenant: str, callid: str) -> int | None:
    """dialog:end: its seconds move from live to the hour's bucket (-1: it was not live)."""
    return _script(SETTLE, tenant, callid)
