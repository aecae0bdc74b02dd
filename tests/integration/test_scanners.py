"""The sipvicious tools, run from an address outside the ACL (sipvicious_from.py: their own -b is ignored),
find nothing (their exit code 30): as themselves, disguised as a PBX (past the scanner filter), and
against gateways that authenticate by digest."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_peer_auth import account_source

RUN_FROM = Path(__file__).resolve().parent / "sipvicious_from.py"
DISGUISE = "Asterisk PBX 20.5.0"
NOTHING_FOUND = 30  # sipvicious: the scan completed and found no SIP device / extension / password

SCANS = {  # name: (source address, tool, arguments)
    "svmap both interfaces": ("127.0.9.40", "svmap", "-p", "5060", "127.0.1.1", "127.0.2.1"),
    "svmap with INVITE": ("127.0.9.40", "svmap", "-m", "INVITE", "127.0.1.1", "127.0.2.1"),
    "svwar private": ("127.0.9.41", "svwar", "-e", "100-140", "-m", "INVITE", "127.0.1.1"),
    "svwar public": ("127.0.9.41", "svwar", "-e", "100-140", "127.0.2.1"),
    "svwar public INVITE": ("127.0.9.41", "svwar", "-e", "100-140", "-m", "INVITE", "127.0.2.1"),
    "svcrack private": ("127.0.9.42", "svcrack", "-u", "100", "-r", "1000-1030", "127.0.1.1"),
    "svcrack public INVITE": ("127.0.9.42", "svcrack", "-u", "100", "-r", "1000-1030", "-m", "INVITE", "127.0.2.1"),
}


def scan(source: str, user_agent: str, tool: str, *args: str, exit_codes=(NOTHING_FOUND,)) -> str:
    done = subprocess.run([sys.executable, str(RUN_FROM), source, user_agent, tool, *args],
                          capture_output=True, text=True, timeout=180)
    output = done.stdout + done.stderr
    assert done.returncode in exit_codes, output[-2000:]
    assert "found nothing" in output and "|" not in output  # sipvicious tabulates whatever it finds
    return output


@pytest.mark.parametrize("name", list(SCANS))
def test_sipvicious_finds_nothing(quiet_sbc, name):
    scan(SCANS[name][0], "-", *SCANS[name][1:])
    assert quiet_sbc.dead() == []


# Past the scanner filter, the public side is silent to strangers. (On the private side a stranger hears
# 403 by design, UNKNOWN_PRIVATE_ACTION: a disguised svmap finds the SBC there, as the docs say.)
@pytest.mark.parametrize("name", [n for n in SCANS if "127.0.1.1" not in SCANS[n]])
def test_disguised_sipvicious_finds_nothing_on_the_public_side(quiet_sbc, name):
    scan(SCANS[name][0], DISGUISE, *SCANS[name][1:])
    assert quiet_sbc.dead() == []


# Against a network in ACL group 4, whose INVITEs are challenged rather than ignored: every extension hears
# the same 407. (svwar exits 0 here, having had answers, and 30 when it had none.)
def test_disguised_svwar_finds_no_account_of_digest_gateways(quiet_sbc, sbcctl):
    source = "127.0.5.44"
    with account_source(sbcctl, source, "101", "Xk9-long-enough"):
        scan(source, DISGUISE, "svwar", "-e", "100-140", "-m", "INVITE", "127.0.2.1", exit_codes=(0, NOTHING_FOUND))
    assert quiet_sbc.dead() == []


# The account's password lies inside svcrack's range: it is the flood ban (failed attempts count as a
# stranger's requests) that keeps it from being found, not luck.
def test_disguised_svcrack_does_not_find_a_digest_accounts_password_in_its_range(quiet_sbc, sbcctl):
    source = "127.0.5.45"
    with account_source(sbcctl, source, "101", "1090"):
        scan(source, DISGUISE, "svcrack", "-u", "101", "-r", "1000-1200", "-m", "INVITE", "127.0.2.1",
             exit_codes=(0, NOTHING_FOUND))
    assert quiet_sbc.dead() == []
