"""The compose stack runs what the tests ran: same image recipe, same package list, one config source.

No Docker engine runs on the machines that run this suite, so the compose file is validated against the
Compose specification's JSON schema and its shape is checked; the stack itself is exercised by
test_compose_backend.py where an engine exists, and its runtime mode by the integration tests.
"""

import importlib.util
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from kemi import settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
DOCKERFILE = (REPO / "Dockerfile").read_text()


def compose_spec_schema() -> dict:
    # Shipped inside the docker-compose 1.29.2 wheel (installed by `make deps` for this file only).
    location = importlib.util.find_spec("compose").submodule_search_locations[0]
    return json.loads((Path(location) / "config" / "compose_spec.json").read_text())


def test_compose_file_is_valid_against_the_compose_specification():
    jsonschema.Draft201909Validator(compose_spec_schema()).validate(COMPOSE)


def test_compose_schema_check_catches_a_broken_file():
    broken = {**COMPOSE, "services": {"kamailio": {**COMPOSE["services"]["kamailio"], "restart": ["always"]}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft201909Validator(compose_spec_schema()).validate(broken)


def test_every_service_is_healthchecked_restarted_and_configured_from_env():
    assert set(COMPOSE["services"]) == {"db", "redis", "rtpengine", "kamailio"}
    for name, service in COMPOSE["services"].items():
        assert service["healthcheck"]["test"][:4] == ["CMD", "python3", "-m", "stack"], name
        assert service["restart"] == "unless-stopped", name
        assert service["env_file"] == ".env", name
        assert service["network_mode"] == "host", name  # two real interfaces and the RTP range
        assert service["build"] == "." and service["image"] == "voice-ai-sbc:latest", name
    assert COMPOSE["services"]["kamailio"]["depends_on"] == {
        "db": {"condition": "service_healthy"}, "redis": {"condition": "service_healthy"},
        "rtpengine": {"condition": "service_healthy"}}
    assert "db-data:/var/lib/sbc/mariadb" in COMPOSE["services"]["db"]["volumes"]
    assert "db-data" in COMPOSE["volumes"] and "redis-data" in COMPOSE["volumes"]


def test_no_address_or_secret_is_written_in_the_deployment_files():
    for path in ("docker-compose.yml", "Dockerfile"):
        text = (REPO / path).read_text()
        assert not re.search(r"\b\d{1,3}(\.\d{1,3}){3}\b", text), f"{path} names an address: use .env"
        assert not re.search(r"password\s*[:=]", text, re.I), f"{path} holds a password: use .env"


def test_dockerfile_installs_through_the_same_script_and_list_as_make_deps():
    runs = re.findall(r"^RUN (.+)$", DOCKERFILE, re.M)
    assert runs == ["./scripts/install-deps.sh --runtime && rm -rf /var/lib/apt/lists/*"]
    assert re.search(r"^FROM debian:bookworm", DOCKERFILE, re.M)
    script = (REPO / "scripts" / "install-deps.sh").read_text()
    assert "deps-debian.txt" in script
    assert len(re.findall(r"apt-get install", script)) == 1  # the one list, nothing on the side
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^deps:\n\t\./scripts/install-deps\.sh$", makefile, re.M)
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_every_runtime_package_is_one_the_tests_use():
    packages = {line.strip() for line in (REPO / "scripts" / "deps-debian.txt").read_text().splitlines()
                if line.strip() and not line.startswith("#")}
    for needed in ("kamailio", "kamailio-python3-modules", "kamailio-mysql-modules", "kamailio-redis-modules",
                   "redis-server", "rtpengine-daemon",
                   "mariadb-server", "python3-pymysql", "python3-cachetools", "python3-phonenumbers"):
        assert needed in packages


def test_env_example_documents_exactly_the_settings():
    documented = set(re.findall(r"^([A-Z_]+)=", (REPO / ".env.example").read_text(), re.M))
    assert documented == set(settings.DEFAULTS)
