"""Reading what the bot sent to Slack as a person would: text as displayed, and Slack's limits.

The bot fences formatting characters with zero-width spaces and escapes `&`, `<`, `>`; a person
sees neither, so `visible` removes both. `assert_within_limits` checks Slack's published Block
Kit limits, which real Slack enforces by refusing the whole message or view.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

ZWSP = "\u200b"
#: https://docs.slack.dev/reference/block-kit — the limits the bot's payloads meet.
SECTION_TEXT, MESSAGE_BLOCKS, VIEW_BLOCKS = 3000, 50, 100
BUTTON_TEXT, BUTTON_VALUE, ACTION_ID, BLOCK_ID, HEADER_TEXT = 75, 2000, 255, 255, 150
CONTEXT_ELEMENTS, ACTIONS_ELEMENTS, VIEW_TITLE = 10, 25, 24


def visible(mrkdwn: str) -> str:
    """What Slack displays for inert mrkdwn: no zero-width spaces, entities decoded."""
    return mrkdwn.replace(ZWSP, "").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def texts(payload: Any) -> Iterator[tuple[str, str]]:
    """Every (type, text) a person reads in a payload: `text` fields and text objects."""
    if isinstance(payload, dict):
        if isinstance(payload.get("text"), str):
            yield payload.get("type", "mrkdwn"), payload["text"]
        for key, value in payload.items():
            if key != "text" or not isinstance(value, str):
                yield from texts(value)
    elif isinstance(payload, list):
        for item in payload:
            yield from texts(item)


def readable_text(payload: Any) -> str:
    """All the text of a payload, as displayed, one piece per line."""
    return "\n".join(visible(t) if kind == "mrkdwn" else t for kind, t in texts(payload))


def shown_label(block: dict[str, Any]) -> str:
    """An input's label as Slack shows it: Slack itself adds "(optional)" to an optional one."""
    label = str(block.get("label", {}).get("text", ""))
    return f"{label} (optional)" if block.get("optional") else label


def misread_labels(view: dict[str, Any]) -> list[str]:
    """The labels of a view that read wrong once Slack shows them ("optional" said twice)."""
    return [
        shown
        for block in view.get("blocks", [])
        if block.get("type") == "input" and (shown := shown_label(block)).lower().count("optional") > 1
    ]


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def assert_within_limits(blocks: list[dict[str, Any]], *, max_blocks: int) -> None:
    """Slack refuses a message (50 blocks) or a view (100) that breaks any of these."""
    assert len(blocks) <= max_blocks, f"{len(blocks)} blocks"
    for block in blocks:
        assert _units(block.get("block_id", "")) <= BLOCK_ID
        if block["type"] == "section":
            assert 0 < _units(block["text"]["text"]) <= SECTION_TEXT
        if block["type"] == "header":
            assert _units(block["text"]["text"]) <= HEADER_TEXT
        if block["type"] == "context":
            assert len(block["elements"]) <= CONTEXT_ELEMENTS
            assert all(_units(e["text"]) <= SECTION_TEXT for e in block["elements"])
        if block["type"] == "actions":
            assert len(block["elements"]) <= ACTIONS_ELEMENTS
        for button in _buttons(block):
            assert _units(button["text"]["text"]) <= BUTTON_TEXT
            assert _units(button.get("value", "")) <= BUTTON_VALUE
            assert _units(button["action_id"]) <= ACTION_ID


def assert_view_within_limits(view: dict[str, Any]) -> None:
    if "title" in view:  # modals have one, the Home tab none
        assert _units(view["title"]["text"]) <= VIEW_TITLE
    assert_within_limits(view["blocks"], max_blocks=VIEW_BLOCKS)


def _buttons(block: dict[str, Any]) -> list[dict[str, Any]]:
    found = [e for e in block.get("elements", []) if e.get("type") == "button"]
    accessory = block.get("accessory")
    return found + ([accessory] if accessory and accessory.get("type") == "button" else [])
