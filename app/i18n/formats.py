"""Durations and numbers in the spoken language, through Babel's CLDR data.

English keeps the bot's own compact forms (`1 d 12 h`, `90 days`), which tests and the README
quote; every other language gets CLDR's units for its locale (`1 dia 12 h`, `23 h 59 min`).
Dates are not here: Slack's `<!date>` tokens show them in each reader's language and zone.
"""

from __future__ import annotations

from babel.numbers import format_decimal
from babel.units import format_unit

from app.i18n import PSEUDO, SOURCE, current

_UNITS = (
    ("duration-day", 86400),
    ("duration-hour", 3600),
    ("duration-minute", 60),
    ("duration-second", 1),
)


def babel_locale() -> str:
    """The spoken locale as Babel names it (the pseudo-locale formats as English)."""
    spoken = current()
    return "en" if spoken in (SOURCE, PSEUDO) else spoken


def localised_duration(seconds: int) -> str:
    """`90 dias`, `8 h`, `1 dia 12 h`: the largest units, as the spoken language writes them."""
    locale = babel_locale()
    if seconds > 0 and seconds % 86400 == 0:
        return str(format_unit(seconds // 86400, "duration-day", length="long", locale=locale))
    parts = []
    for unit, size in _UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            if unit == "duration-day":
                parts.append(str(format_unit(count, unit, length="long", locale=locale)))
            else:
                parts.append(str(format_unit(count, unit, length="short", locale=locale)))
    return " ".join(parts) or str(format_unit(0, "duration-second", length="short", locale=locale))


def number(value: int) -> str:
    """A count as the spoken language groups its digits (`1,234` / `1.234`)."""
    return str(format_decimal(value, locale=babel_locale()))
