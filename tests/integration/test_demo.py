"""README's demo: `make run` (python -m stack run) with its SIPp peers, then `make call` (python -m stack
call), in a network namespace of its own so that it runs beside the session's SBC on the same addresses."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.host_only
REPO = Path(__file__).resolve().parents[2]

DEMO = """
ip link set lo up
{py} -m stack --env-file /dev/null --run-dir {run} run > {run}/run.out 2>&1 &
stack=$!
for i in $(seq 120); do grep -q 'Ctrl-C stops' {run}/run.out && break; sleep 0.5; done
sleep 1  # a probe round: dispatcher has seen the peers answer
{py} -m stack --env-file /dev/null --run-dir {run} call
code=$?
kill -INT $stack; wait $stack
exit $code
"""


def test_make_run_brings_up_peers_that_answer_and_make_call_shows_the_path(tmp_path):
    script = DEMO.format(py=sys.executable, run=tmp_path)
    done = subprocess.run(["unshare", "-n", "sh", "-c", script], cwd=REPO, capture_output=True, text=True,
                          timeout=180)
    out = done.stdout
    print(out)
    assert done.returncode == 0, out + done.stderr + (tmp_path / "run.out").read_text()[-3000:]
    assert "demo peers (SIPp) answer as gateways/carriers: 13" in (tmp_path / "run.out").read_text()
    # Both views of the call: the carrier's, and the answering gateway's (set 1, VAPI's demo address).
    assert "carrier                -> SBC   INVITE sip:+14155550101@127.0.1.1:5060" in out
    assert "gateway 127.0.3.1      <- SBC   INVITE sip:+14155550101@127.0.3.1:5060" in out
    assert "gateway 127.0.3.1      -> SBC   SIP/2.0 200 OK" in out
    media = ast.literal_eval(out.split("packets per leg): ", 1)[1].splitlines()[0])
    assert len(media) == 2 and min(media.values()) > 20, media  # both legs, through rtpengine
    assert "result: answered and ended cleanly" in out
