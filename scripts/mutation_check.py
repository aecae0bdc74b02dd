"""A mutation check of the suite (`make mutation-check`): deliberate faults injected in kemi/, one at a time;
each must turn at least one test red. Prints, per fault, the tests that caught it; exits 1 when a fault
survived (the suite would not notice that defect) or a fault no longer applies (the code moved: update it).

Each fault runs the unit tests and the integration tests named with it, on the host backend (inside its own
`unshare -n -m` namespace, as `make test` does). The working tree is restored after each fault, whatever
happens; run it on a clean tree.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PY = str(REPO / ".venv" / "bin" / "python")
ISOLATED = ["unshare", "-n", "-m", "sh", "-c", 'ip link set lo up && exec "$0" "$@"']


@dataclass(frozen=True)
class Fault:
    name: str
    path: str
    original: str
    injected: str
    integration: tuple[str, ...]  # tests/integration node ids that should catch it besides the unit tests


FAULTS = [
    Fault("egress check disabled", "kemi/topology/hiding.py",
          "        raw = raw_bytes(lambda: KSR.pv.get(\"$snd(buf)\"))\n",
          "        return []\n", ("tests/integration/test_egress.py",)),
    Fault("in-dialog peer check removed", "kemi/indialog.py",
          "        if side == \"private\" and peer == \"carrier\":\n            return True\n",
          "        return True\n",
          ("tests/integration/test_live_call.py::test_forged_requests_in_a_live_call_reach_nobody_and_the_call_goes_on",)),
    Fault("a 503 no longer fails over", "sbclib/policy.py",
          "    return status == 408 or status in (401, 407) or 300 <= status < 400 or 500 <= status < 600\n",
          "    return status == 408 or status in (401, 407) or 300 <= status < 400 or 500 <= status < 503\n",
          ("tests/integration/test_failover.py",)),
    Fault("premium-rate numbers allowed", "sbclib/destinations.py",
          "    if kind not in {NUMBER_TYPES[t] for t in (policy.types or DEFAULT_TYPES)}:\n",
          "    if kind not in {NUMBER_TYPES[t] for t in (policy.types or DEFAULT_TYPES)} | {T.PREMIUM_RATE}:\n",
          ("tests/integration/test_fraud.py",)),
    Fault("minutes cap never reached", "kemi/access/minutes.py",
          "    return cap_minutes > 0 and used_s >= cap_minutes * 60\n",
          "    return False\n",
          ("tests/integration/test_minutes_cap.py",)),
    Fault("KDMQ to a table the pair does not share applied", "kemi/state/cluster.py",
          "        return \"htable: not a shared table\"\n",
          "        return None\n",
          ("tests/integration/test_pair.py::test_a_forged_kdmq_writes_nothing_from_a_stranger_nor_to_a_table_the_pair_does_not_share",)),
    Fault("rtpengine strict-source dropped", "sbclib/media.py",
          "_STRICT = \"strict-source\"\n",
          "_STRICT = \"\"\n",
          ("tests/integration/test_media_quality.py::test_media_from_anyone_but_the_legs_own_endpoint_reaches_neither_side",)),
    Fault("User-Agent crosses with a new call", "sbclib/policy.py",
          "_COMMON = (\"allow|supported|k|require|",
          "_COMMON = (\"user-agent|allow|supported|k|require|",
          ("tests/integration/test_topology_leaks.py",)),
    Fault("an unidentified outbound caller admitted", "kemi/access/admission.py",
          "        metrics.admission(\"challenged\")\n        return False\n",
          "        metrics.admission(\"challenged\")\n        return True\n",
          ("tests/integration/test_fraud.py",)),
    Fault("Kamailio 5.6's native onsend route lets everything go", "kemi/topology/egress.py",
          "        return -1 if _refused(\"egress check\", self.egress_leaks) else 1\n",
          "        return 1\n", ("tests/integration/test_egress.py",)),
    Fault("media anchored the wrong way round", "sbclib/media.py",
          "direction={from_side} direction={to_side}", "direction={to_side} direction={from_side}",
          ("tests/integration/test_inbound.py::test_media_flows_both_ways_and_caller_bye_ends_dialog_and_media",)),
]

_FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+)", re.M)


def caught_by(fault: Fault) -> tuple[list[str], float]:
    """Apply the fault, run its tests, restore the file: the tests that went red, and the seconds it took."""
    path = REPO / fault.path
    text = path.read_text()
    if text.count(fault.original) != 1:
        raise SystemExit(f"{fault.name}: its code is no longer in {fault.path} exactly once; update the fault")
    started = time.monotonic()
    try:
        path.write_text(text.replace(fault.original, fault.injected))
        red = []
        for argv in ([PY, "-m", "pytest", "tests/unit", "-q", "-p", "no:cacheprovider"],
                     *([*ISOLATED, PY, "-m", "pytest", *fault.integration, "-q", "-p", "no:cacheprovider"]
                       for _ in [0] if fault.integration)):
            done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=1800)
            red += _FAILED.findall(done.stdout)
            if done.returncode not in (0, 1):  # 1: tests failed; anything else: the run itself broke
                red.append(f"(pytest exit {done.returncode}: {done.stdout[-300:]})")
    finally:
        path.write_text(text)
    return red, time.monotonic() - started


def main() -> int:
    survived = 0
    for fault in FAULTS:
        red, seconds = caught_by(fault)
        survived += not red
        shown = ", ".join(sorted({r.split("[")[0] for r in red})[:4]) + (" ..." if len(red) > 4 else "")
        print(f"{'caught' if red else 'SURVIVED'}: {fault.name} ({fault.path}, {seconds:.0f} s): "
              f"{len(red)} tests red{': ' + shown if red else ''}", flush=True)
    print(f"{len(FAULTS) - survived} of {len(FAULTS)} faults caught")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
