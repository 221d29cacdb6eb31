"""Secret values out of text that came back from MySafe (or a gateway in front of it).

MySafe's error messages are untrusted free text: a 1001 or a gateway 500 may quote the request
body, and with it the new password or TOTP seed the bot just sent. Before such text is kept,
shown or logged anywhere, every secret value of the request is replaced, in each form it may
come back in: as sent, JSON-escaped, URL-encoded (both ways) and HTML-escaped.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "[secret]"
#: Values this short are not masked on their own: "1" or "a" would mangle every message.
MIN_LENGTH = 4


def forms(value: str) -> set[str]:
    """The spellings a value can come back in."""
    return {
        value,
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        quote(value, safe=""),
        quote_plus(value),
        html.escape(value),
        " ".join(value.split()),
    }


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every form of every secret value replaced by `[secret]`, longest first."""
    spelled = sorted(
        {f for value in secrets if len(value) >= MIN_LENGTH for f in forms(value)},
        key=len,
        reverse=True,
    )
    for form in spelled:
        if form:
            text = text.replace(form, MASK)
    return text
