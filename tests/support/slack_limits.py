"""What real Slack refuses, so the recording fake refuses it too.

Limits from Slack's Block Kit reference (blocks, block elements, composition objects, views)
and the Web API docs of the methods the bot calls. A payload past any of them is answered
`{"ok": false, "error": "invalid_blocks"}` (or `invalid_arguments`, `unknown_method`) as real
Slack answers: a test that builds such a payload fails where production would.
"""

from __future__ import annotations

from typing import Any

from tests.support.slack_reading import (
    ACTION_ID,
    ACTIONS_ELEMENTS,
    BLOCK_ID,
    BUTTON_TEXT,
    BUTTON_VALUE,
    CONTEXT_ELEMENTS,
    HEADER_TEXT,
    MESSAGE_BLOCKS,
    SECTION_TEXT,
    VIEW_BLOCKS,
    VIEW_TITLE,
)

#: The Web API methods the bot calls; anything else is `unknown_method`, as Slack says.
KNOWN_METHODS = frozenset(
    {
        "chat.postMessage",
        "chat.update",
        "chat.postEphemeral",
        "conversations.open",
        "conversations.info",
        "users.lookupByEmail",
        "users.info",
        "usergroups.users.list",
        "views.open",
        "views.update",
        "views.push",
        "views.publish",
        "auth.test",
        "apps.connections.open",
    }
)
MESSAGE_TEXT = 40_000
INPUT_MAX_LENGTH = 3000
INPUT_LABEL, PLACEHOLDER, OPTION_TEXT, OPTIONS = 2000, 150, 75, 100
VIEW_BUTTON, PRIVATE_METADATA, CALLBACK_ID = 24, 3000, 255
_MESSAGES = frozenset({"chat.postMessage", "chat.update", "chat.postEphemeral"})
_VIEWS = frozenset({"views.open", "views.update", "views.push", "views.publish"})


def refusal(method: str, args: dict[str, Any]) -> str | None:
    """The error real Slack would answer this call with, or None when it would take it."""
    if method not in KNOWN_METHODS:
        return "unknown_method"
    if method in _MESSAGES:
        return message_refusal(args)
    if method in _VIEWS:
        view = args.get("view")
        return "invalid_arguments" if not isinstance(view, dict) else view_refusal(view)
    return None


def message_refusal(message: dict[str, Any]) -> str | None:
    """A chat.* body or a response_url post."""
    if len(str(message.get("text", ""))) > MESSAGE_TEXT:
        return "msg_too_long"
    blocks = message.get("blocks") or []
    if not isinstance(blocks, list) or len(blocks) > MESSAGE_BLOCKS:
        return "invalid_blocks"
    return "invalid_blocks" if any(_block_problems(b) for b in blocks) else None


def view_refusal(view: dict[str, Any]) -> str | None:
    blocks = view.get("blocks") or []
    problems = [p for b in blocks for p in _block_problems(b)]
    if len(blocks) > VIEW_BLOCKS:
        problems.append("too many blocks")
    for key, limit in (("title", VIEW_TITLE), ("submit", VIEW_BUTTON), ("close", VIEW_BUTTON)):
        if key in view and len(view[key].get("text", "")) > limit:
            problems.append(f"{key} over {limit}")
    if len(view.get("private_metadata", "")) > PRIVATE_METADATA:
        problems.append("private_metadata too long")
    if len(view.get("callback_id", "")) > CALLBACK_ID:
        problems.append("callback_id too long")
    return "invalid_arguments" if problems else None


def _block_problems(block: dict[str, Any]) -> list[str]:
    problems: list[str] = []

    def over(text: object, limit: int, what: str) -> None:
        if isinstance(text, str) and len(text) > limit:
            problems.append(f"{what} over {limit}")

    over(block.get("block_id", ""), BLOCK_ID, "block_id")
    kind = block.get("type")
    if kind == "section":
        text = block.get("text", {}).get("text", "")
        over(text, SECTION_TEXT, "section text")
        if not text:
            problems.append("empty section text")
    elif kind == "header":
        over(block.get("text", {}).get("text", ""), HEADER_TEXT, "header")
    elif kind == "context":
        elements = block.get("elements", [])
        if len(elements) > CONTEXT_ELEMENTS:
            problems.append("too many context elements")
        for element in elements:
            over(element.get("text", ""), SECTION_TEXT, "context text")
    elif kind == "actions" and len(block.get("elements", [])) > ACTIONS_ELEMENTS:
        problems.append("too many actions")
    elif kind == "input":
        over(block.get("label", {}).get("text", ""), INPUT_LABEL, "input label")
        over(block.get("hint", {}).get("text", ""), INPUT_LABEL, "input hint")
        problems += _element_problems(block.get("element", {}))
    for element in [*block.get("elements", []), block.get("accessory") or {}]:
        if isinstance(element, dict) and element:
            problems += _element_problems(element)
    return problems


def _element_problems(element: dict[str, Any]) -> list[str]:
    problems = []
    if len(element.get("action_id", "")) > ACTION_ID:
        problems.append("action_id too long")
    if element.get("type") == "button":
        if len(element.get("text", {}).get("text", "")) > BUTTON_TEXT:
            problems.append("button text too long")
        if len(element.get("value", "")) > BUTTON_VALUE:
            problems.append("button value too long")
    if element.get("type") == "plain_text_input":
        if int(element.get("max_length", 0) or 0) > INPUT_MAX_LENGTH:
            problems.append(f"input max_length over {INPUT_MAX_LENGTH}")
        if len(element.get("placeholder", {}).get("text", "")) > PLACEHOLDER:
            problems.append("placeholder too long")
        initial = element.get("initial_value", "")
        if len(initial) > int(element.get("max_length", 0) or INPUT_MAX_LENGTH):
            problems.append("initial_value longer than max_length")
    options = element.get("options", [])
    if len(options) > OPTIONS or any(
        len(o.get("text", {}).get("text", "")) > OPTION_TEXT for o in options
    ):
        problems.append("options too many or too long")
    return problems
