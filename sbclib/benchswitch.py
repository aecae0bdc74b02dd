"""Features `make bench` switches off to put a figure on each one's cost: SBC_BENCH_OFF=topos,cdr,...

Bench only: .env.example, `make run` and the image never set it, and a deployment (DROP_PRIVILEGES=1)
refuses it. topos, cdr and shmstore are modules: the bench also starts Kamailio with -A BENCH_NO_TOPOS /
-A BENCH_NO_CDR / -A BENCH_TOPOS_REDIS, which kamailio.cfg reads.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

# "ingress" is the tests' (tests/integration/test_egress.py): the ingress checks off, the egress check on,
# so that a message that would leak reaches the last look at what leaves.
# "shmstore" (Kamailio 6.0 only): topos keeps its state in Redis, as on 5.6, not in shared memory.
FEATURES = ("topos", "cdr", "metrics", "headers", "guard", "ingress", "tenant", "quality", "sdpscrub",
            "shmstore")


def load(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    env = os.environ if environ is None else environ
    names = frozenset(n.strip() for n in env.get("SBC_BENCH_OFF", "").split(",") if n.strip())
    unknown = sorted(names - set(FEATURES))
    if unknown:
        raise ValueError(f"SBC_BENCH_OFF: unknown feature {', '.join(unknown)} (known: {', '.join(FEATURES)})")
    if names and env.get("DROP_PRIVILEGES", "0").strip() == "1":
        raise ValueError("SBC_BENCH_OFF: bench only, refused in a deployment (DROP_PRIVILEGES=1)")
    return names


OFF = load()
