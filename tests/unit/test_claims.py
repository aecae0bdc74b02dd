"""scripts/claims.py: every promise of the docs it lists still points at a test and an assertion that exist, and
a run's printed figures are read back per test."""

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "claims.py"
spec = importlib.util.spec_from_file_location("claims", SCRIPT)
claims = importlib.util.module_from_spec(spec)
sys.modules["claims"] = claims  # dataclasses look their module up
spec.loader.exec_module(claims)


def test_every_claim_resolves_to_an_assertion_line():
    lines = [claims.assertion_line(c) for c in claims.CLAIMS]
    assert len(set(lines)) == len(claims.CLAIMS)
    for line in lines:
        path, number = line.rsplit(":", 1)
        text = (claims.REPO / path).read_text().splitlines()[int(number) - 1]
        assert "assert" in text or ".check()" in text, line


def test_a_claim_whose_assertion_is_gone_stops_the_script():
    gone = claims.Claim("x", "y", claims.CLAIMS[0].test, "no such fragment anywhere")
    try:
        claims.assertion_line(gone)
    except SystemExit as stop:
        assert "no assertion containing" in str(stop)
    else:
        raise AssertionError("a missing assertion went unnoticed")


def test_figures_are_read_from_passed_tests_stdout_only(tmp_path):
    log = tmp_path / "run.log"
    log.write_text(
        "==================== PASSES ====================\n"
        "_____ test_one _____\n"
        "----------- Captured stdout setup -----------\n"
        "\nset up: 3 ms\n"
        "----------- Captured stdout call -----------\n"
        "called: 4 of 4\n"
        "----------- Captured log call -----------\n"
        "INFO noise\n"
        "_ test_two[param] _\n"
        "----------- Captured stdout call -----------\n"
        "two: 7\n"
        "2 passed in 1.00s\n"
        "==================== PASSES ====================\n"
        "_____ test_one _____\n"
        "----------- Captured stdout call -----------\n"
        "called: 5 of 5\n")
    assert claims.figures(log) == [{"test_one": "set up: 3 ms / called: 4 of 4", "test_two": "two: 7"},
                                   {"test_one": "called: 5 of 5"}]
