"""The compose deployment as an operator meets it: the shipped image and docker-compose.yml, a test .env.

Each test here stands for a defect found when the stack was first tried that way: an empty database never
turned healthy, .env could switch the privilege drop off, MariaDB's root answered over TCP without a
password, every `down` left anonymous volumes, and the image carried the test tools.
"""

import json
from pathlib import Path

import pytest

from tests.deploy.test_deployment_files import TEST_TOOLS
from tests.integration.compose_backend import IMAGE, PROJECT

pytestmark = pytest.mark.compose_only
REPO = Path(__file__).resolve().parents[2]


def test_the_image_is_debian_13_with_kamailio_6_and_no_test_tool(sbc):
    probe = ("import importlib.util, json, subprocess; print(json.dumps({"
             "'os': open('/etc/debian_version').read().strip(), "
             "'kamailio': subprocess.run(['kamailio', '-v'], capture_output=True, text=True).stdout.split()[2], "
             "'installed': subprocess.run(['dpkg-query', '-W', '-f', '${Package}\\n'], capture_output=True, "
             "text=True).stdout.split(), 'pytest': bool(importlib.util.find_spec('pytest'))}))")
    found = json.loads(sbc.engine_docker("run", "--rm", "--network", "none", "--entrypoint", "python3", IMAGE,
                                         "-c", probe))
    size_mb = int(sbc.engine_docker("image", "inspect", "-f", "{{.Size}}", IMAGE)) / 1e6
    print(f"\nimage: Debian {found['os']}, Kamailio {found['kamailio']}, {size_mb:.0f} MB")
    assert found["os"].startswith("13") and found["kamailio"].startswith("6.0")
    test_part = (REPO / "scripts" / "deps-debian.txt").read_text().split("## test", 1)[1]
    assert set(TEST_TOOLS) <= set(test_part.split())
    assert set(TEST_TOOLS).isdisjoint(found["installed"]) and not found["pytest"]


def test_the_stack_came_up_healthy_on_an_empty_database_without_a_restart(sbc):
    """The healthcheck's OPTIONS from 127.0.0.1 is answered with no ACL row at all (the demo rows are
    loaded only after `up --wait` returned), so no restart loop and no 'health: starting' forever."""
    states = sbc.states()
    assert {name: row["Health"] for name, row in states.items()} == dict.fromkeys(
        ("db", "redis", "rtpengine", "kamailio", "api"), "healthy")
    restarts = {name: int(sbc.engine_docker("inspect", "-f", "{{.RestartCount}}", f"{PROJECT}-{name}-1"))
                for name in states}
    print(f"\nup to healthy: {sbc.timings['up to healthy s']:.1f} s; restarts {restarts}")
    assert set(restarts.values()) == {0}


PROCESS_OWNERS = """
import os, pwd
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        argv = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\\0", b" ").split()
        owner = pwd.getpwuid(os.stat(f"/proc/{pid}").st_uid).pw_name
    except OSError:
        continue  # ended meanwhile
    if argv:
        print(owner, os.path.basename(argv[0].decode()))
"""


def process_owners(sbc, service: str) -> dict[str, set[str]]:
    """Program name -> users running it, read from /proc inside the service's container."""
    owners: dict[str, set[str]] = {}
    for line in sbc.exec(service, "python3", "-c", PROCESS_OWNERS).splitlines():
        user, _, program = line.partition(" ")
        owners.setdefault(program, set()).add(user)
    return owners


def test_every_service_runs_as_its_own_user_even_when_env_says_otherwise(sbc):
    """The test .env carries DROP_PRIVILEGES=0, as .env.example once did; compose's environment wins."""
    assert "DROP_PRIVILEGES=0" in sbc.env_file.read_text()
    assert process_owners(sbc, "kamailio")["kamailio"] == {"kamailio"}
    assert process_owners(sbc, "db")["mariadbd"] == {"mysql"}
    assert process_owners(sbc, "redis")["redis-server"] == {"redis"}


def test_the_demo_db_password_is_refused(sbc):
    done = sbc.run("run", "--rm", "--no-deps", "-e", "DB_PASSWORD=demo-only-change-me", "kamailio", check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "DB_PASSWORD" in done.stdout + done.stderr


def test_only_the_four_named_volumes_exist(sbc):
    assert sorted(sbc.volumes()) == [f"{PROJECT}_db-data", f"{PROJECT}_kamailio-rpc", f"{PROJECT}_kamailio-snapshot",
                                     f"{PROJECT}_redis-data"]


def test_sbcctl_in_the_kamailio_container_changes_and_reloads(sbcctl):
    """Kamailio runs as 'kamailio', sbcctl as root: both control sockets must let them talk."""
    done = sbcctl("gateway", "add", "--uri", "sip:127.0.3.77:5060", "--group", "3", "--description", "compose")
    assert done.returncode == 0, done.stderr
    listed = json.loads(sbcctl("--json", "gateway", "list", "--group", "3").stdout)
    gateway = next(g for g in listed if g["uri"] == "sip:127.0.3.77:5060")
    assert sbcctl("gateway", "remove", str(gateway["id"])).returncode == 0
    assert sbcctl("status").returncode in (0, 1)  # 1: a demo peer is down; what matters is an answer
    assert "Kamailio" not in sbcctl("status").stderr


CAPABILITIES = {0: "CHOWN", 1: "DAC_OVERRIDE", 5: "KILL", 6: "SETGID", 7: "SETUID", 23: "SYS_NICE"}
PROCESS_STATE = """
import json, os
caps = int(next(l for l in open("/proc/self/status") if l.startswith("CapEff:")).split()[1], 16)
try:
    open("/etc/sbc-written", "w")
    root = "writable"
except OSError as exc:
    root = exc.strerror
print(json.dumps({"caps": caps, "root": root, "tmp": os.access("/tmp", os.W_OK)}))
"""


def capability_names(mask: int) -> set[str]:
    return {CAPABILITIES.get(bit, f"bit {bit}") for bit in range(64) if mask >> bit & 1}


def test_each_container_holds_only_its_roles_capabilities_on_a_read_only_root(sbc):
    """Root inside a container (what `exec` and each role's launcher run as) has no capability but the
    role's, writes nothing outside its volumes and tmpfs, and the running daemons hold none at all."""
    owns_then_drops = {"CHOWN", "DAC_OVERRIDE", "SETUID", "SETGID", "KILL"}  # KILL: to stop its daemon
    expected = {"db": owns_then_drops, "redis": owns_then_drops, "kamailio": owns_then_drops, "rtpengine": {"SYS_NICE"}}
    for service, caps in expected.items():
        found = json.loads(sbc.exec(service, "python3", "-c", PROCESS_STATE))
        print(f"\n{service}: root holds {sorted(capability_names(found['caps']))}, root fs {found['root']}")
        assert capability_names(found["caps"]) == caps
        assert found["root"] == "Read-only file system" and found["tmp"]
    for service, program in (("kamailio", "kamailio"), ("db", "mariadbd"), ("redis", "redis-server")):
        masks = sbc.exec(service, "sh", "-c", f"for p in $(pidof {program}); do grep CapEff /proc/$p/status; done")
        assert masks.split() and {int(v, 16) for v in masks.split()[1::2]} == {0}, (service, masks)
