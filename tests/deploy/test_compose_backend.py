"""Runs the whole integration suite against `docker compose up` where a Docker engine exists.

On machines without one (this project's CI) the test is reported as skipped with the reason; it is
never counted as passed.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.compose_backend import docker_engine_available

REPO = Path(__file__).resolve().parents[2]
AVAILABLE, WHY = docker_engine_available()


@pytest.mark.skipif(not AVAILABLE, reason=f"compose stack not started: {WHY}")
def test_integration_suite_passes_against_the_compose_stack():
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "tests/integration", "-p", "no:cacheprovider"],
                          cwd=REPO, env={**os.environ, "SBC_BACKEND": "compose"}, timeout=3600)
    assert done.returncode == 0
