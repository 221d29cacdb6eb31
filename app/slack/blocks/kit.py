"""Block Kit's pieces every builder of the package uses: the action and view ids, Slack's limits,
and the section, context and button primitives (underscored: the package's own, not the callers').

Everything people or MySafe wrote goes through `app.text` before it reaches a primitive.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from app import text
from app.i18n import _

Block = dict[str, Any]

APPROVE, DENY, RETRY, CANCEL = "approve", "deny", "retry", "cancel"
NUDGE = "nudge"
VIEW_CHANGE = "view_change"
SHOW_ACCESS = "show_access"
HOME_PAGE = "home_page"
REMOVE_PASSKEY = "passkey_remove"
LOGIN_VIEW, DENY_VIEW, ROTATE_VIEW, CREATE_VIEW = "login", "deny_reason", "rotate", "create"

#: Slack's published Block Kit limits the builders keep to.
SECTION_LIMIT, MESSAGE_BLOCKS, VIEW_BLOCKS = 3000, 50, 100
#: The longest value a plain_text_input may accept: Slack refuses a whole view asking more.
#: (A longer MySafe client secret can still be linked with `mysafe-bot users link`.)
INPUT_LIMIT = 3000
#: Characters of one value shown in a message; the rest is in the *View full change* modal.
SHOWN_VALUE = 200
#: Characters of a value shown in the modal, per value, past which it says how many are left
#: (only a current value MySafe holds can be that long; new values are bounded by the schemas).
MODAL_VALUE = 4 * (SECTION_LIMIT - 100)


def _mrkdwn(value: str) -> Block:
    """A mrkdwn text object; `verbatim` so Slack links and pings only what the bot marked up."""
    if text.units(value) > SECTION_LIMIT:  # every part is clipped: this is a bug, not input
        raise ValueError("text over Slack's 3000-character limit")
    return {"type": "mrkdwn", "text": value, "verbatim": True}


def _section(value: str) -> Block:
    return {"type": "section", "text": _mrkdwn(value)}


def _plain_section(value: str) -> Block:
    return {"type": "section", "text": {"type": "plain_text", "text": value, "emoji": False}}


def _context(*parts: str) -> Block:
    return {"type": "context", "elements": [_mrkdwn(p) for p in parts]}


def _sections(lines: Iterable[str]) -> list[Block]:
    """Lines packed into as few sections as Slack's limit allows, never splitting a line."""
    found: list[str] = []
    for line in lines:
        if found and text.units(found[-1]) + 1 + text.units(line) <= SECTION_LIMIT:
            found[-1] += "\n" + line
        else:
            found.append(line)
    return [_section(chunk) for chunk in found]


def _button(label: str, action_id: str, value: str, style: str | None = None) -> Block:
    button: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def _confirmed(button: Block, title: str, text: str, yes: str, no: str) -> Block:
    """`button` behind Slack's confirmation dialog: for a click that cannot be taken back."""
    plain = [{"type": "plain_text", "text": value} for value in (title, text, yes, no)]
    return {**button, "confirm": dict(zip(("title", "text", "confirm", "deny"), plain, strict=True))}


def date(ts: float) -> str:
    """A moment as Slack shows it in each reader's own time zone."""
    shown = _("{{date_short_pretty}} at {{time}}").format()  # Slack's own tokens, kept
    return f"<!date^{int(ts)}^{shown}|{int(ts)}>"
