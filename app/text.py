"""The one renderer for text that people or MySafe wrote, wherever the bot shows it in Slack.

Slack reads mrkdwn in message text, section and context blocks: `*`, `_`, `~` and backticks
format, `<…>` links and pings, and a line break starts a line that can pass for one of the
bot's own ("✅ Applied"). An entry name, a note, a reason or a MySafe error is data, so it goes
through `inline` (mrkdwn) or `plain` (plain_text elements) and is shown as typed, inert, on one
line: Slack has no escape for the formatting characters, so each gets a zero-width space on both
sides, which stops Slack pairing it while the character still reads (and copies) as typed.

Long values are shortened visibly (`clip`, `excerpt`), never cut silently; `link` makes a link
only of an http(s) address with a host. `units` measures text as Slack counts it for limits.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote, urlsplit

# Slack text names fields as every front does (the labels are plain words, kept apart).
from app.foundations.field_labels import FIELD_LABELS, field_label  # noqa: F401

ZWSP = "\u200b"
LINE_BREAK = "⏎"
#: Characters Slack's mrkdwn pairs into formatting.
_FORMATTING = frozenset("*_~`")
#: A bare `@here` is a ping wherever Slack auto-parses text; a zero-width space after `@` is not.
_BROADCAST = re.compile(r"@(?=(?:here|channel|everyone)\b)", re.IGNORECASE)
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# Rendering is on every ack's path, and a Python loop per character was 40 % of a `help` ack's
# CPU: a regex tells in C whether a value holds anything to change (most hold nothing), and one
# `str.translate` changes it.
#: Unicode's control characters (category Cc: C0, DEL and C1), each shown as a space.
_CONTROLS = {c: " " for c in [*range(0x20), *range(0x7F, 0xA0)]}
_INERT = str.maketrans({**_ENTITIES, **{c: f"{ZWSP}{c}{ZWSP}" for c in _FORMATTING}})
_IN_CODE = str.maketrans({**_ENTITIES, "`": f"{ZWSP}`{ZWSP}"})
_UNRULY = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_MARKUP = re.compile(r"[&<>*_~`]")
_CODE_MARKUP = re.compile(r"[&<>`]")
_BREAKS = re.compile(r"\r\n|[\r\n\v\f\x85\u2028\u2029]")
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|[0-9A-Fa-f:.]+")
#: What may stay as typed in a link target; everything else (`|`, `<`, `>`, spaces, quotes…)
#: is percent-encoded, so the target cannot close the link or open markup of its own.
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~-._"
MAX_LINK = 2000


def plain(value: object) -> str:
    """One line of text for a plain_text element: line breaks shown as ⏎, controls as spaces."""
    text = str(value)
    if _UNRULY.search(text) is None:
        return text
    return _BREAKS.sub(LINE_BREAK, text).translate(_CONTROLS)


def inline(value: object) -> str:
    """One line of inert mrkdwn: `plain`, then Slack's three entities and every formatting
    character fenced with zero-width spaces."""
    text = plain(value)
    if _MARKUP.search(text) is not None:
        text = text.translate(_INERT)
    return _unping(text)


def code(value: object) -> str:
    """One line for inside a code span: kept as typed so it can be copied (Slack formats
    nothing there), except what could end the span or open markup: `&`, `<`, `>`, a backtick."""
    text = plain(value)
    if _CODE_MARKUP.search(text) is not None:
        text = text.translate(_IN_CODE)
    return _unping(text)


def _unping(text: str) -> str:
    return _BROADCAST.sub("@" + ZWSP, text) if "@" in text else text


def clip(value: object, limit: int) -> str:
    """`inline`, showing at most `limit` characters and saying how many more there are."""
    return excerpt(str(value), 0, limit)


def excerpt(value: str, start: int, limit: int) -> str:
    """`limit` characters of `value` from `start`, with what is left out said on both sides."""
    start = max(0, min(start, len(value)))
    shown = inline(value[start : start + limit])
    if start:
        shown = f"_…{start:,} characters before…_ {shown}"
    rest = len(value) - start - limit
    if rest > 0:
        shown += f" _…{rest:,} more characters_"
    return shown


def link(url: str, label: str) -> str:
    """`<url|label>` for an http(s) address with a host; otherwise the label alone, saying why."""
    target = safe_url(url)
    if target is None:
        why = "too long" if len(url) > MAX_LINK else "not an http(s) address"
        return f"{inline(label)} (link not shown: {why})"
    return f"<{target}|{inline(label)}>"


def safe_url(url: str) -> str | None:
    """The address as a link target Slack cannot misread, or None if it is no http(s) URL with
    a host (or too long for a message)."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host or not _HOST.fullmatch(host):
        return None
    target = quote(url.strip(), safe=_URL_SAFE).replace("&", "&amp;")
    return target if len(target) <= MAX_LINK else None


def units(text: str) -> int:
    """Length as Slack counts it against its limits (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def chunks(text: str, size: int) -> list[str]:
    """`text` in consecutive pieces of at most `size` units, for limits per block."""
    pieces: list[str] = []
    current: list[str] = []
    used = 0
    for char in text:
        width = units(char)
        if used + width > size:
            pieces.append("".join(current))
            current, used = [], 0
        current.append(char)
        used += width
    if current or not pieces:
        pieces.append("".join(current))
    return pieces


def for_terminal(value: object) -> str:
    """A value an operator's terminal prints inert, as the audit output does: as is when
    every character is printable, else JSON-quoted, which escapes ESC and every other control
    or format character (a claimed name could otherwise hide a marker or rewrite a line)."""
    text = str(value)
    return text if text.isprintable() and '"' not in text and "\\" not in text else json.dumps(text)
