"""Reads a .env file (KEY=VALUE lines) under the process environment, which wins."""

from __future__ import annotations

import os
from pathlib import Path


def read(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ValueError(f"{path}:{number}: expected KEY=VALUE, got {line!r}")
        values[key.strip()] = value.strip().strip("'\"")
    return values


def environment(path: Path) -> dict[str, str]:
    return {**read(path), **os.environ}
