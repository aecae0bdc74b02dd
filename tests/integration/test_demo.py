"""README's two commands and its "Try it" block, run as README writes them: the first command's `make run`
(with its SIPp peers), then each line of "Try it" (`make call`, sipsak, `./sbcctl.sh status`), each checked
for what README says it shows. In a network namespace of its own, so that it runs beside the session's SBC
on the same addresses; the instance is told where to keep its state by STACK_ARGS and SBCCTL_* (README's
`make test` is what runs this)."""

import ast
import os
import re
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.host_only
REPO = Path(__file__).resolve().parents[2]


def readme_blocks() -> list[list[str]]:
    """README's sh blocks, each as its command lines (comments and blank lines left out)."""
    text = (REPO / "README.md").read_text()
    return [[line.split("  #", 1)[0].strip() for line in block.splitlines() if line.strip()
             and not line.lstrip().startswith("#")] for block in re.findall(r"```sh\n(.*?)```", text, re.S)]


def test_readme_has_the_two_commands_and_the_try_it_block():
    two, try_it = readme_blocks()[:2]
    assert two == ["./scripts/install-deps.sh && make run", "make test"]
    assert [line.split()[0] for line in try_it] == ["make", "sipsak", "./sbcctl.sh"]


DEMO = """
ip link set lo up
{first} > {run}/run.out 2>&1 &
stack=$!
for i in $(seq 240); do grep -q 'Ctrl-C stops' {run}/run.out && break; sleep 0.5; done
sleep 1  # a probe round: dispatcher has seen the peers answer
code=0
{lines}
# Anchored at the start of a command line: this script's own (and its $(...)'s) contains the words too, and
# an INT to the script left `make run` and the stack running, orphaned, after the test.
kill -INT $(pgrep -f "^[^ ]*python[^ ]* -m stack --env-file /dev/null --run-dir {run} run"); wait $stack
exit $code
"""


def test_readme_commands_start_the_demo_and_its_examples_show_what_it_says(tmp_path):
    two, try_it = readme_blocks()[:2]
    lines = "\n".join(f"echo '>>> {line}'; {line}; echo \"<<< $?\"" for line in try_it)
    script = DEMO.format(first=two[0], run=tmp_path, lines=lines)
    env = {**os.environ, "STACK_ARGS": f"--env-file /dev/null --run-dir {tmp_path}",
           "SBCCTL_ENV_FILE": "/dev/null", "SBCCTL_RUN_DIR": str(tmp_path)}
    done = subprocess.run(["unshare", "-n", "sh", "-c", script], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env=env)
    out = done.stdout
    print(out)
    run_out = (tmp_path / "run.out").read_text()
    assert "demo peers (SIPp) answer as gateways/carriers: 13" in run_out, run_out[-3000:]
    results = dict(re.findall(r">>> (.*?)\n.*?<<< (\d+)", out, re.S))
    assert results == {line: "0" for line in try_it}, out + done.stderr
    # make call: both views of the call, the carrier's and the answering gateway's (set 1, VAPI's demo address)
    assert "carrier                -> SBC   INVITE sip:+14155550101@127.0.1.1:5060" in out
    assert "gateway 127.0.3.1      <- SBC   INVITE sip:+14155550101@127.0.3.1:5060" in out
    assert "gateway 127.0.3.1      -> SBC   SIP/2.0 200 OK" in out
    media = ast.literal_eval(out.split("packets per leg): ", 1)[1].splitlines()[0])
    assert len(media) == 2 and min(media.values()) > 20, media  # both legs, through rtpengine
    assert "result: answered and ended cleanly" in out
    assert "SIP/2.0 200 OK" in out.split(">>> sipsak", 1)[1].split("<<<", 1)[0]  # what README says it prints
    status = out.split(">>> ./sbcctl.sh status", 1)[1]
    assert "sip:127.0.4.1:5060" in status and " up " in status and "DOWN" not in status
