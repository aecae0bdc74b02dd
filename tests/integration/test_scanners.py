"""The sipvicious tools, run from an address outside the ACL, find nothing (their exit code 30)."""

import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
NOTHING_FOUND = 30  # sipvicious: the scan completed and found no SIP device / extension / password

SCANS = {
    "svmap both interfaces": ["sipvicious_svmap", "-b", "127.0.9.40", "-p", "5060", "127.0.1.1", "127.0.2.1"],
    "svmap with INVITE": ["sipvicious_svmap", "-b", "127.0.9.40", "-m", "INVITE", "127.0.1.1", "127.0.2.1"],
    "svwar private": ["sipvicious_svwar", "-b", "127.0.9.41", "-e", "100-140", "-m", "INVITE", "127.0.1.1"],
    "svwar public": ["sipvicious_svwar", "-b", "127.0.9.41", "-e", "100-140", "127.0.2.1"],
    "svcrack private": ["sipvicious_svcrack", "-b", "127.0.9.42", "-u", "100", "-r", "1000-1030", "127.0.1.1"],
}


@pytest.mark.parametrize("scan", list(SCANS))
def test_sipvicious_finds_nothing(quiet_sbc, scan):
    argv = [str(BIN / SCANS[scan][0]), *SCANS[scan][1:]]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=180)
    output = done.stdout + done.stderr
    assert done.returncode == NOTHING_FOUND, output[-2000:]
    assert "found nothing" in output
    assert quiet_sbc.dead() == []
