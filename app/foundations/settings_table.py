"""The table of settings in docs/configuration.md, rendered from their declarations.

Each setting is declared once, in `app.foundations.settings` (variable, kind with its bounds, default,
meaning); this renders the docs' table from those declarations so the two cannot drift:
`make docs` rewrites the table between its two markers, and a test fails when the page and the
declarations disagree (a setting added without `make docs`).

    python -m app.foundations.settings_table [--check] [PAGE]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.foundations.durations import describe
from app.foundations.env_reader import Reader
from app.foundations.settings import Need, Setting, declared

PAGE = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
BEGIN = "<!-- settings: rendered by `make docs` from app/foundations/settings.py; edit them there -->"
END = "<!-- end of settings -->"
HEADER = ("| variable | meaning | default | accepts |", "| --- | --- | --- | --- |")


def rows() -> list[str]:
    """One row per listed setting, in declaration order."""
    return [
        f"| `{spec.env}` | {spec.doc} | {shown(spec, default)} | {spec.kind.accepts} |"
        for field, spec in declared()
        if spec.listed
        for default in (field.default,)
    ]


def table() -> str:
    return "\n".join([*HEADER, *rows()])


def shown(spec: Setting, default: Any) -> str:
    """The default as people read it: `30d` for a duration, `unset` for nothing."""
    if spec.shown:
        return spec.shown
    if spec.need is Need.HTTP:
        return "required in HTTP mode"
    if spec.need is not Need.OPTIONAL:
        return "required"
    if default in (None, "", (), frozenset()):
        return "unset"
    if isinstance(default, bool):
        return "`true`" if default else "`false`"
    if spec.kind.getter is Reader.duration:
        return f"`{_compact(default)}`"
    if isinstance(default, frozenset):
        return "`" + ",".join(sorted(default)) + "`"
    if isinstance(default, float) and default.is_integer():
        return f"`{int(default)}`"
    return f"`{default}`"


def _compact(seconds: int) -> str:
    """`30d`, `15m`: a duration as its variable would be written (see app.foundations.durations)."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return describe(seconds)


def rendered(page: str) -> str:
    """`page` with the text between the markers replaced by the table."""
    head, begin, rest = page.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"the page has no {BEGIN!r} … {END!r} section")
    return f"{head}{BEGIN}\n\n{table()}\n\n{END}{tail}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.foundations.settings_table", description=__doc__
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if PAGE is out of date")
    parser.add_argument("page", nargs="?", type=Path, default=PAGE)
    args = parser.parse_args(argv)
    before = args.page.read_text(encoding="utf-8")
    after = rendered(before)
    if args.check:
        if after != before:
            print(f"{args.page}: the settings table is out of date; run `make docs`", file=sys.stderr)
            return 1
        return 0
    if after != before:
        args.page.write_text(after, encoding="utf-8")
        print(f"{args.page}: settings table rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
