"""Calls per second through the real SBC (carrier -> SBC -> gateway, media via rtpengine).

    make bench                      # default: 2000 calls at 50 cps
    python -m bench.cps --calls 2000 --rate 100 --duration-ms 2000

Must run in its own network namespace (make bench does that): all traffic stays on loopback.
Reports completed/failed calls, achieved rate, INVITE->180 latency percentiles (SIPp -trace_rtt),
and database statements per call by kind, measured in a separate 200-call pass with the general log on.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from stack.stack import Stack
from tests.integration.harness import SCENARIOS, Sipp, run_uac

GATEWAYS = ("127.0.3.2", "127.0.3.3")  # the demo DID +14155550102 spreads over these


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    qs = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": qs[49], "p90": qs[89], "p99": qs[98], "max": max(values)}


def _rtts(workdir: Path) -> list[float]:
    """INVITE -> 180 per call in ms, from SIPp's -trace_rtt files (Date_ms;response_time_ms;rtd_no)."""
    values = []
    for path in workdir.glob("*_rtt.csv"):
        with open(path) as f:
            values += [float(row["response_time_ms"]) for row in csv.DictReader(f, delimiter=";")]
    return values


def _signalling_only_scenario(workdir: Path) -> str:
    """uac_call.xml without its pcap playback: the same call flow, no RTP."""
    text = (SCENARIOS / "uac_call.xml").read_text()
    path = workdir / "uac_call_no_media.xml"
    path.write_text(re.sub(r"\s*<nop><action><exec play_pcap_audio=[^\n]*</nop>", "", text))
    return str(path)


def _calls(workdir: Path, name: str, calls: int, rate: float, duration_ms: int,
           scenario: str = "uac_call.xml") -> tuple[int, float, Sipp]:
    started = time.monotonic()
    uac = run_uac(workdir, name, "127.0.1.1:5060", "+14155550102", "127.0.4.2", scenario=scenario,
                  calls=calls, rate=rate,
                  limit=int(rate * (duration_ms / 1000 + 2)) + 10, duration_ms=duration_ms,
                  timeout=calls / rate + 120, extra=("-trace_rtt", "-rtt_freq", "1", "-trace_stat"))
    rc = uac.wait(calls / rate + 180)
    return rc, time.monotonic() - started, uac


def _counts(out: str) -> tuple[int, int]:
    ok = re.findall(r"Successful call\s*\|\s*\d+\s*\|\s*(\d+)", out)
    bad = re.findall(r"Failed call\s*\|\s*\d+\s*\|\s*(\d+)", out)
    return (int(ok[-1]) if ok else 0, int(bad[-1]) if bad else 0)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--duration-ms", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--no-media", action="store_true", help="signalling only: no RTP from the caller")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    if {n for _, n in __import__("socket").if_nameindex()} != {"lo"}:
        print("run in a private network namespace: make bench", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="sbc-bench-") as tmp:
        work = Path(tmp)
        env = {"PATH": os.environ["PATH"], "LOG_LEVEL": "0", "SIP_WORKERS": str(args.workers)}
        with Stack(env, work / "sbc", demo_data=True) as sbc:
            echo = () if args.no_media else ("-rtp_echo",)
            scenario = _signalling_only_scenario(work) if args.no_media else "uac_call.xml"
            gws = [Sipp(work, f"gw-{ip}", "uas_answer.xml", ip, args=echo).start() for ip in GATEWAYS]
            try:
                # Pass 1: which statements a call costs the database (general log on, 200 calls).
                log = work / "general.log"
                sbc.db.sql(f"SET GLOBAL general_log_file='{log}'; SET GLOBAL general_log=1;")
                q_calls = 200
                rc1, _, _ = _calls(work, "dbpass", q_calls, 50, 200)
                sbc.db.sql("SET GLOBAL general_log=0;")
                text = log.read_text(errors="replace") if log.exists() else ""
                per_call = {
                    kind: round(len(re.findall(pattern, text, re.I)) / q_calls, 2)
                    for kind, pattern in (
                        ("did_routing_select", r"Query\s+SELECT .* FROM did_routing"),
                        ("sbc_cdr_insert", r"Query\s+insert into `sbc_cdr`"),
                        ("all", r"\bQuery\t"),
                    )
                }
                for rtt in work.glob("*_rtt.csv"):
                    rtt.unlink()
                # Pass 2: throughput at the requested rate, general log off.
                rc, elapsed, uac = _calls(work, "load", args.calls, args.rate, args.duration_ms, scenario)
                ok, failed = _counts(uac.output.read_text(errors="replace"))
                latency = _percentiles(_rtts(work))
            finally:
                for gw in gws:
                    gw.stop()
        result = {
            "calls": args.calls, "rate_requested_cps": args.rate, "call_duration_ms": args.duration_ms,
            "sip_workers": args.workers, "media": not args.no_media,
            "successful": ok, "failed": failed, "sipp_exit": rc,
            "wall_s": round(elapsed, 1), "achieved_cps": round(ok / max(elapsed - args.duration_ms / 1000, 1e-9), 1),
            "invite_to_180_ms": {k: round(v, 2) for k, v in latency.items()},
            "db_statements_per_call": per_call, "db_pass_exit": rc1,
        }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"cps-{int(time.time())}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0 if rc == 0 and failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
