"""The Slack fake refuses what real Slack refuses, so the bot's payloads are held to it."""

from __future__ import annotations

import requests

from app.mysafe.models import Kind
from app.slack import blocks
from tests.support.slack_fake import SlackFake
from tests.support.slack_harness import Bot
from tests.support.slack_limits import refusal, view_refusal
from tests.support.slack_requests import SlackClient


def call(slack: SlackFake, method: str, **args: object) -> dict:
    answer = requests.post(f"{slack.url}/api/{method}", json=args, timeout=5).json()
    slack.refused.clear()  # refused on purpose here
    return answer


def test_the_fake_answers_as_slack_does(slack: SlackFake) -> None:
    assert call(slack, "chat.postMesage", channel="C1", text="x")["error"] == "unknown_method"
    many = [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}] * 51
    assert (
        call(slack, "chat.postMessage", channel="C1", text="x", blocks=many)["error"]
        == "invalid_blocks"
    )
    long_input = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Log in"},
        "blocks": [
            {
                "type": "input",
                "block_id": "s",
                "label": {"type": "plain_text", "text": "Secret"},
                "element": {"type": "plain_text_input", "action_id": "value", "max_length": 4096},
            }
        ],
    }
    assert call(slack, "views.open", trigger_id="t", view=long_input)["error"] == "invalid_arguments"
    assert call(slack, "chat.postMessage", channel="C1", text="fine")["ok"] is True


def test_every_form_the_bot_opens_is_one_slack_accepts() -> None:
    forms = [
        blocks.login_modal(),
        blocks.deny_modal("R-7K2QF"),
        *(blocks.rotate_modal(kind, 312, "x" * 200) for kind in Kind),
        *(blocks.create_modal(kind) for kind in Kind),
    ]
    for form in forms:
        assert view_refusal(form) is None, form.get("callback_id")


def test_login_opens_in_slack(bot: Bot, user: SlackClient, slack: SlackFake) -> None:
    """/mysafe login asked Slack for a 4096-character input; Slack refuses the whole view."""
    user.command("UDANA", "login")
    opened = slack.wait_calls("views.open")[0]
    assert refusal("views.open", opened.args) is None
