"""Durations as people write them: `30m`, `8h`, `2d`, `1d12h` (and plain seconds for settings).

One parser for every place a length of time is typed: settings such as the MCP token lifetime,
and later the `for 8h` of a time-bound share.
"""

from __future__ import annotations

import re

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PART = re.compile(r"(\d{1,6})([smhdw])")
_WHOLE = re.compile(r"^(?:\d{1,6}[smhdw])+$")


def parse_duration(text: str) -> int:
    """Seconds in `text`; `ValueError` naming the expected form when it is not a duration."""
    cleaned = text.strip().lower()
    if cleaned.isdigit():
        return int(cleaned)
    if not _WHOLE.match(cleaned):
        raise ValueError("expected a duration such as 30m, 8h, 2d or 1d12h")
    return sum(int(n) * UNITS[unit] for n, unit in _PART.findall(cleaned))


_PERIOD_PART = re.compile(r"(\d{1,5})([mhd])")
_PERIOD = re.compile(r"^(?:\d{1,5}[mhd])+$")
PERIOD_FORM = "a duration such as 30m, 8h, 2d or 1d12h"


def parse_period(text: str) -> int:
    """Seconds in a period people type for an access (`30m`, `8h`, `2d`, `1d12h`): minutes,
    hours and days only, each unit at most once, so `8` or `8h8h` is refused, never guessed."""
    cleaned = text.strip().lower()
    parts = _PERIOD_PART.findall(cleaned)
    units = [unit for _, unit in parts]
    if not _PERIOD.match(cleaned) or len(set(units)) != len(units):
        raise ValueError(f"expected {PERIOD_FORM}")
    return sum(int(n) * UNITS[unit] for n, unit in parts)


def describe(seconds: int) -> str:
    """`90 days`, `8 h`, `1 d 12 h`: the largest units, for people, in the language spoken
    now (app.i18n); English, the source, keeps these compact forms."""
    from app.i18n import SOURCE, current

    if current() != SOURCE:
        from app.i18n.formats import localised_duration

        return localised_duration(seconds)
    if seconds % 86400 == 0:
        days = seconds // 86400
        return f"{days} day" + ("s" if days != 1 else "")
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}")
    return " ".join(parts) or "0 s"
