"""The bench's lines and its side-by-side table."""

from __future__ import annotations


def line(row: dict) -> str:
    return (f"{row['runtime']:>5} {row['side']:>22} {row['rate']:>5g}/s ({row['achieved_cps']:>6g})  "
            f"{row['ok']:>5} ok {row['failed']:>4} failed  "
            f"kamailio {row['kamailio_cpu_us']:>6} µs/call  stack {row['stack_cpu_us']:>6} µs/call  "
            f"INVITE->200 p50 {row['invite_200_p50_ms']:>7} ms p99 {row['invite_200_p99_ms']:>8} ms  "
            f"db {row['db_statements']:>5}/call  redis {row['redis_commands']:>5}/call  "
            f"redis keys {row['redis_keys_after']}")


def _zero_failure_rate(rows: list[dict]) -> float:
    """The highest rate of the ladder up to which every run of this side placed all its calls, failed
    none and kept up (at least 90 % of the asked rate: SIPp queues what a saturated side cannot take)."""
    best = 0.0
    for row in sorted(rows, key=lambda r: r["rate"]):
        if row["failed"] or row["ok"] == 0 or row["sipp_exit"] != 0 or row["achieved_cps"] < 0.9 * row["rate"]:
            break
        best = row["rate"]
    return best


def summary(rows: list[dict]) -> dict:
    sides: dict[str, dict] = {}
    for side in dict.fromkeys(r["side"] for r in rows):
        mine = [r for r in rows if r["side"] == side]
        ok = [r for r in mine if r["failed"] == 0] or mine
        lowest = min(mine, key=lambda r: r["rate"])
        sides[side] = {
            "kamailio_cpu_us": lowest["kamailio_cpu_us"],
            "stack_cpu_us": lowest["stack_cpu_us"],
            "at_rate": lowest["rate"],
            "kamailio_cpu_us_all_rates": [r["kamailio_cpu_us"] for r in mine],
            "invite_200_p50_ms": lowest["invite_200_p50_ms"],
            "invite_200_p99_ms": lowest["invite_200_p99_ms"],
            "zero_failure_rate": _zero_failure_rate(mine),
            "db_statements": max(r["db_statements"] for r in ok),
            "redis_commands": max(r["redis_commands"] for r in ok),
        }
    native = sides.get("native")
    if native:
        for s in sides.values():
            s["cpu_ratio"] = round(s["kamailio_cpu_us"] / max(native["kamailio_cpu_us"], 1), 2)
            s["stack_cpu_ratio"] = round(s["stack_cpu_us"] / max(native["stack_cpu_us"], 1), 2)
            s["rate_ratio"] = round(s["zero_failure_rate"] / native["zero_failure_rate"], 2) \
                if native["zero_failure_rate"] else None
    full = sides.get("native-full")
    if full:
        for s in sides.values():
            s["cpu_ratio_full"] = round(s["kamailio_cpu_us"] / max(full["kamailio_cpu_us"], 1), 2)
    return sides


def table(sides: dict) -> str:
    head = ("| side | Kamailio CPU/call | stack CPU/call | x native (Kamailio, stack) | x native-full (Kamailio) "
            "| INVITE->200 p50/p99 | highest 0-failure rate | DB stmts/call | Redis cmds/call |")
    lines = [head, "|" + "---|" * 9]
    for side, s in sides.items():
        lines.append(
            f"| {side} | {s['kamailio_cpu_us']} µs @ {s['at_rate']:g}/s | {s['stack_cpu_us']} µs "
            f"| {s.get('cpu_ratio')}x, {s.get('stack_cpu_ratio')}x | {s.get('cpu_ratio_full')}x "
            f"| {s['invite_200_p50_ms']} / {s['invite_200_p99_ms']} ms | {s['zero_failure_rate']:g}/s "
            f"| {s['db_statements']} | {s['redis_commands']} |")
    return "\n".join(lines)


def crossings(found: dict) -> str:
    return (f"{found['runtime']:>5} {'sbc-counted':>22} {found['calls']} ok {found['failed']} failed  "
            f"KSR crossings {found['ksr_crossings_per_call']}/call")


def crossings_table(found: dict) -> str:
    lines = ["| entry point | KSR crossings per call | runs per call |", "|---|---|---|"]
    for entry, e in sorted(found["entries"].items(), key=lambda item: -item[1]["crossings_per_call"]):
        lines.append(f"| {entry} | {e['crossings_per_call']} | {e['runs_per_call']} |")
    lines.append(f"| **per call (SIP messages)** | **{found['ksr_crossings_per_call']}** | |")
    lines += ["", "| KSR function | calls per call |", "|---|---|"]
    lines += [f"| {name} | {count} |" for name, count in found.get("functions", {}).items()]
    return "\n".join(lines)
