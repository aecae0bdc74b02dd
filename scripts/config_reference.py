"""docs/configuration.md, generated from the settings' own definitions: every variable of sbclib.settings.DEFAULTS
with its default, in the sections and with the comments of .env.example (the file operators copy to .env).

    python scripts/config_reference.py          # rewrites docs/configuration.md
    python scripts/config_reference.py --check  # exit 1 if it is not what this would write (make test)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sbclib.settings import DEFAULTS  # noqa: E402

TARGET = REPO / "docs" / "configuration.md"
INTRO = """# Configuration reference

One source: environment variables, read from `.env` (copy `.env.example`) by `make run` and by docker
compose. Kamailio reads them with `#!defenv`, the Python package with `sbclib/settings.py`, rtpengine gets
them on its command line from the launcher (`stack/`). A bad value stops the start with
`configuration error: NAME: problem`, and nothing starts half-configured.

This page is generated from `sbclib/settings.py` (the defaults) and `.env.example` (sections and comments) by
`scripts/config_reference.py`; `make test` fails when it is out of date. The defaults are the loopback demo's:
a deployment (`DROP_PRIVILEGES=1`, every container) refuses the demo passwords and the demo Call-ID key.
"""
_SECTION = re.compile(r"^# --- (.*?)(?: ---)?$")
# "#NAME=value": documented with its default, not set by the example (DROP_PRIVILEGES: compose fixes it).
_VARIABLE = re.compile(r"^#?([A-Z][A-Z0-9_]*)=(.*)$")


class ReferenceError(ValueError):
    pass


def parse(example: str) -> list[tuple[str, list[tuple[list[str], str]]]]:
    """[(section title, [(variable names, their comment)])]: consecutive variables share the comment above."""
    sections: list[tuple[str, list[tuple[list[str], str]]]] = [("General", [])]
    comment: list[str] = []
    last_group: list[str] | None = None
    for line in example.splitlines():
        section, variable = _SECTION.match(line), _VARIABLE.match(line)
        if section:
            sections.append((section.group(1).rstrip(" -"), []))
            comment, last_group = [], None
        elif variable:
            name, value = variable.groups()
            if value != DEFAULTS.get(name, value):
                raise ReferenceError(f".env.example: {name}={value} is not its default {DEFAULTS[name]!r}")
            if last_group is not None and not comment:
                last_group.append(name)
            else:
                last_group = [name]
                sections[-1][1].append((last_group, " ".join(comment)))
            comment = []
        elif line.startswith("#"):
            comment.append(line.lstrip("#").strip())
            last_group = None
        elif not line.strip():
            comment, last_group = [], None
    return [(title, rows) for title, rows in sections if rows]


def render(example: str) -> str:
    sections = parse(example)
    listed = [name for _, rows in sections for names, _ in rows for name in names]
    missing = sorted(set(DEFAULTS) - set(listed))
    if missing or len(listed) != len(set(listed)):
        raise ReferenceError(f".env.example: missing {missing}, or a variable twice")
    out = [INTRO]
    for title, rows in sections:
        out += [f"## {title}", "", "| variable | default | meaning |", "|---|---|---|"]
        for names, comment in rows:
            defaults = ", ".join(f"`{DEFAULTS[n]}`" if DEFAULTS[n] else "empty" for n in names)
            meaning = comment.replace("|", "\\|") or "(see the section)"
            out.append(f"| {', '.join(f'`{n}`' for n in names)} | {defaults} | {meaning} |")
        out.append("")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    text = render((REPO / ".env.example").read_text())
    if "--check" in argv:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"{TARGET.relative_to(REPO)} is out of date: python scripts/config_reference.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
