"""A pseudo-locale: each sentence about 40 % longer and accented, its placeholders intact.

Real translations run longer than English (Portuguese by a fifth or more); rendering every
surface in this locale shows, before any translator does, which layout would break a Slack
limit or cut a sentence. Placeholders (`{name}`) and Slack markup (`<…>`, backticks) are kept
as they are, so the sentence still formats and still links.
"""

from __future__ import annotations

import gettext
import math
import re

_ACCENTED = str.maketrans(
    "AaCcEeIiNnOoUuYy",
    "ÅåÇçÉéÎîÑñÖöÜüÝý",
)
#: Spans left untouched: placeholders, Slack's <…> tokens, code spans.
_KEEP = re.compile(r"(\{[^{}]*\}|<[^<>]*>|`[^`]*`)")
GROWTH = 0.4


def pseudo(message: str) -> str:
    """`message` accented, with padding that makes it 40 % longer (at least one character)."""
    parts = _KEEP.split(message)
    accented = "".join(p if _KEEP.fullmatch(p) else p.translate(_ACCENTED) for p in parts)
    padding = "·" * max(1, math.ceil(len(message) * GROWTH))
    return f"{accented}{padding}"


class PseudoTranslations(gettext.NullTranslations):
    def gettext(self, message: str) -> str:
        return pseudo(message)

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        return pseudo(msgid1 if n == 1 else msgid2)
