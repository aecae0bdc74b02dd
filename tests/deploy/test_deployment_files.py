"""The deployment files say what the tests run: same image recipe, same package list, one config source.

The compose stack itself runs in the integration suite's second pass (SBC_BACKEND=compose, make test);
these checks are about the files: Compose's own validation, their shape, and what is never in them.
"""

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from sbclib import settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
DOCKERFILE = (REPO / "Dockerfile").read_text()
TEST_TOOLS = ("sip-tester", "sipsak", "make", "python3-venv", "debootstrap")  # deps-debian.txt's test part


def compose_config(path: Path) -> subprocess.CompletedProcess:
    """`docker compose config`: Compose v2 (make image installs it) validating the file."""
    env = {**os.environ, "SBC_ENV_FILE": str(REPO / ".env.example")}
    return subprocess.run(["docker", "compose", "-f", str(path), "config", "--quiet"], cwd=REPO,
                          capture_output=True, text=True, env=env)


def test_compose_accepts_the_compose_file():
    done = compose_config(REPO / "docker-compose.yml")
    assert done.returncode == 0, done.stderr


def test_compose_validation_catches_a_broken_file(tmp_path):
    copy = tmp_path / "docker-compose.yml"
    text = (REPO / "docker-compose.yml").read_text().replace("context: .", f"context: {REPO}")
    copy.write_text(text)
    assert compose_config(copy).returncode == 0  # the copy itself is fine: only the change below breaks it
    copy.write_text(text.replace("restart: unless-stopped", "restart: [always]"))
    done = compose_config(copy)
    assert done.returncode != 0 and "restart" in done.stderr, done.stderr


def test_every_service_is_healthchecked_restarted_and_configured_from_env():
    assert set(COMPOSE["services"]) == {"db", "redis", "rtpengine", "kamailio", "api"}
    for name, service in COMPOSE["services"].items():
        assert service["healthcheck"]["test"][:4] == ["CMD", "python3", "-m", "stack"], name
        assert service["restart"] == "unless-stopped", name
        assert service["env_file"] == "${SBC_ENV_FILE:-.env}", name
        assert service["environment"] == {"DROP_PRIVILEGES": "1"}, name  # .env cannot undo it
        assert service["network_mode"] == "host", name  # two real interfaces and the RTP range
        # Build containers on the host's network: engines without a bridge (and air-gapped ones with a
        # local mirror) can build.
        assert service["build"] == {"context": ".", "network": "host"}, name
        assert service["image"] == "voice-ai-sbc:latest", name
    assert COMPOSE["services"]["kamailio"]["depends_on"] == {
        "db": {"condition": "service_healthy"}, "redis": {"condition": "service_healthy"},
        "rtpengine": {"condition": "service_healthy"}}
    assert "db-data:/var/lib/sbc/mariadb" in COMPOSE["services"]["db"]["volumes"]
    assert "redis-data:/var/lib/sbc/redis" in COMPOSE["services"]["redis"]["volumes"]
    assert "kamailio-snapshot:/var/lib/sbc/snapshot" in COMPOSE["services"]["kamailio"]["volumes"]
    # The API reaches Kamailio's control socket only: the one directory the two containers share.
    assert "kamailio-rpc:/var/lib/sbc/rpc" in COMPOSE["services"]["kamailio"]["volumes"]
    assert [v for v in COMPOSE["services"]["api"]["volumes"] if not v.endswith(":ro")] == [
        "kamailio-rpc:/var/lib/sbc/rpc"]
    assert COMPOSE["services"]["api"]["depends_on"] == {"kamailio": {"condition": "service_healthy"}}
    assert set(COMPOSE["volumes"]) == {"db-data", "redis-data", "kamailio-snapshot", "kamailio-rpc"}


def test_no_address_or_secret_is_written_in_the_deployment_files():
    for path in ("docker-compose.yml", "Dockerfile"):
        text = (REPO / path).read_text()
        assert not re.search(r"\b\d{1,3}(\.\d{1,3}){3}\b", text), f"{path} names an address: use .env"
        assert not re.search(r"password\s*[:=]", text, re.I), f"{path} holds a password: use .env"


def test_dockerfile_installs_the_runtime_part_of_the_same_list_as_make_deps():
    assert re.search(r"^FROM debian:trixie-slim$", DOCKERFILE, re.M)
    runs = re.findall(r"^RUN (.+)$", DOCKERFILE, re.M)
    assert len(runs) == 1 and runs[0].startswith("./scripts/install-deps.sh --runtime")
    assert not re.search(r"^VOLUME", DOCKERFILE, re.M)  # each `down` would leave anonymous volumes
    script = (REPO / "scripts" / "install-deps.sh").read_text()
    assert "deps-debian.txt" in script
    assert len(re.findall(r"apt-get install", script)) == 1  # the one list, nothing on the side
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^deps:\n\t\./scripts/install-deps\.sh$", makefile, re.M)
    assert "make test" in (REPO / ".ci" / "run").read_text()


def runtime_packages() -> list[str]:
    done = subprocess.run(["sh", "-c", "sed '/^## test/q' scripts/deps-debian.txt | grep -v '^#'"], cwd=REPO,
                          capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_the_runtime_part_has_what_the_sbc_runs_and_no_test_tool():
    packages = runtime_packages()
    for needed in ("kamailio", "kamailio-python3-modules", "kamailio-mysql-modules", "kamailio-redis-modules",
                   "redis-server", "rtpengine-daemon", "mariadb-server", "mariadb-client", "python3-pymysql",
                   "python3-cachetools", "python3-phonenumbers", "python3-typer", "python3-rich"):
        assert needed in packages
    for tool in TEST_TOOLS:
        assert tool not in packages


@pytest.mark.parametrize("script", ["install-deps.sh", "docker-engine.sh", "base-image.sh"])
def test_shell_scripts_parse(script):
    assert subprocess.run(["sh", "-n", str(REPO / "scripts" / script)]).returncode == 0


def test_env_example_documents_exactly_the_settings():
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", (REPO / ".env.example").read_text(), re.M))
    # DROP_PRIVILEGES is explained in a comment only: compose fixes it to 1, the host defaults to 0.
    assert documented == set(settings.DEFAULTS) - {"DROP_PRIVILEGES"}
    assert "DROP_PRIVILEGES" in (REPO / ".env.example").read_text()


def test_every_role_runs_hardened_and_rtpengine_without_net_admin():
    """no-new-privileges, process and memory bounds on every service; userspace rtpengine needs no NET_ADMIN."""
    for name, service in COMPOSE["services"].items():
        assert "no-new-privileges:true" in service["security_opt"], name
        assert service["pids_limit"] > 0 and service["mem_limit"], name
    assert "NET_ADMIN" not in COMPOSE["services"]["rtpengine"].get("cap_add", [])
    assert "table = -1" in (REPO / "kamailio" / "rtpengine.conf").read_text()
