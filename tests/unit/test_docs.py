"""docs/configuration.md is what scripts/config_reference.py generates from the settings and .env.example, and
that generation refuses an .env.example that disagrees with the settings' defaults or leaves one out."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import config_reference

from sbclib.settings import DEFAULTS

EXAMPLE = config_reference.REPO / ".env.example"


def test_the_committed_reference_is_the_generated_one():
    assert config_reference.TARGET.read_text() == config_reference.render(EXAMPLE.read_text())


def test_every_variable_is_in_the_reference_once_with_its_default():
    text = config_reference.TARGET.read_text()
    for name in DEFAULTS:
        assert text.count(f"`{name}`") == 1, name
    row = next(line for line in text.splitlines() if "`BAN_SECONDS`" in line)
    assert "`300`" in row and "`demo-only-change-me`" in text


def test_an_example_value_that_is_not_the_default_is_refused_by_name():
    with pytest.raises(config_reference.ReferenceError, match="BAN_SECONDS=301"):
        config_reference.render(EXAMPLE.read_text().replace("BAN_SECONDS=300", "BAN_SECONDS=301"))


def test_an_example_without_a_variable_is_refused():
    with pytest.raises(config_reference.ReferenceError, match="BAN_SECONDS"):
        config_reference.render(EXAMPLE.read_text().replace("BAN_SECONDS=300\n", ""))


def test_consecutive_variables_share_the_comment_above_them():
    sections = config_reference.parse("# --- S ---\n# both ports\nA_PORT=1\nB_PORT=2\n# alone\nC=3\n\nD=4\n")
    assert sections == [("S", [(["A_PORT", "B_PORT"], "both ports"), (["C"], "alone"), (["D"], "")])]
