"""The compose roles on this host's packages (Debian 12 / Kamailio 5.6 on CI): one `python -m stack`
role each, healthchecks, DROP_PRIVILEGES=1 as the image sets, on their own loopback addresses beside the
session's SBC. The image itself is exercised by the whole suite under SBC_BACKEND=compose."""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from stack import services
from testkit.harness import run_uac, start_peers, stop_peers, wait_for

pytestmark = pytest.mark.host_only

REPO = Path(__file__).resolve().parents[2]
ENV = {
    "PRIVATE_IP": "127.0.1.21", "PUBLIC_IP": "127.0.2.21", "DB_PORT": "3307", "RTPENGINE_NG_PORT": "2224",
    "REDIS_PORT": "6380", "METRICS_PORT": "9495", "API_PORT": "9497",
    "RTP_PORT_MIN": "35000", "RTP_PORT_MAX": "35999", "DROP_PRIVILEGES": "1", "DB_PASSWORD": "container-test",
    "REDIS_PASSWORD": "container-test-redis", "SBCCTL_DB_PASSWORD": "container-test-sbcctl",
    "CALLID_MASK_KEY": "container-test-mask-key",
    "DS_PING_INTERVAL": "1", "DS_PROBING_THRESHOLD": "2",
}


@pytest.fixture(scope="module")
def roles():
    run_dir = Path(tempfile.mkdtemp(prefix="sbc-roles-"))
    run_dir.chmod(0o755)  # the unprivileged users must reach their files
    env = {**os.environ, **ENV}
    base = [sys.executable, "-m", "stack", "--env-file", "/dev/null", "--run-dir", str(run_dir)]
    procs = {}

    def healthy(part):
        return subprocess.run([*base, "health", part], env=env, cwd=REPO, capture_output=True).returncode == 0

    try:
        for role, part, extra in (("db", "db", ["--demo-data"]), ("redis", "redis", []),
                                  ("rtpengine", "rtpengine", []), ("kamailio", "sip", [])):
            log = open(run_dir / f"{role}.out", "wb")
            procs[role] = subprocess.Popen([*base, role, *extra], env=env, cwd=REPO, stdout=log,
                                           stderr=subprocess.STDOUT, start_new_session=True)
            assert wait_for(lambda part=part: healthy(part), 60, 0.5), (run_dir / f"{role}.out").read_text()[-3000:]
        yield run_dir, procs
    finally:
        for proc in reversed(list(procs.values())):
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
    assert all(p.returncode == 0 for p in procs.values()), {r: p.returncode for r, p in procs.items()}


def owners(run_dir: Path, program: str) -> set[str]:
    ps = subprocess.run(["ps", "-ww", "-eo", "user:20,args"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in ps.splitlines() if program in line and str(run_dir) in line}


def test_kamailio_and_mariadb_run_unprivileged(roles):
    run_dir, _ = roles
    assert owners(run_dir, "kamailio -DD") == {"kamailio"}
    assert owners(run_dir, "mariadbd") == {"mysql"}
    ps = subprocess.run(["ps", "-ww", "-eo", "user:20,args"], capture_output=True, text=True).stdout
    assert {line.split()[0] for line in ps.splitlines() if "redis-server" in line and ":6380" in line} == {"redis"}


def test_a_call_flows_through_the_container_roles(roles, tmp_path):
    run_dir, _ = roles
    peers = start_peers(tmp_path, _RolesSbc(run_dir), ["127.0.3.1"])
    try:
        uac = run_uac(tmp_path, "carrier", "127.0.1.21:5060", "4155550101", "127.0.4.2")
        assert uac.wait(30) == 0, uac.log()
    finally:
        stop_peers(peers)
    invites = [m for m in peers["127.0.3.1"].received("INVITE") if "127.0.2.21" in m.text]
    assert [i.request_uri for i in invites] == ["sip:+14155550101@127.0.3.1:5060"]


def test_roles_stop_cleanly_on_sigterm(roles):
    run_dir, procs = roles
    time.sleep(0.1)
    assert all(p.poll() is None for p in procs.values())  # the fixture's teardown checks the exit codes


class _RolesSbc:
    """Just enough of the Stack interface for start_peers: Kamailio's RPC."""

    def __init__(self, run_dir: Path):
        self.kamailio = self
        self.run_dir = run_dir

    def rpc(self, *args: str) -> str:
        return services.kamcmd(lambda argv: subprocess.run(
            ["kamcmd", "-s", f"unix:{self.run_dir}/kamailio_ctl", *argv], capture_output=True, text=True,
            check=True).stdout, *args)
