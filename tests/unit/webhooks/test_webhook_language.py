"""A ticket's outcome callback in the workspace's language (MYSAFE_BOT_LOCALE): the sentence a
person reads on the ticket is translated, the fields its rules read are not."""

from __future__ import annotations

import pytest

from app.approvals.machine import State
from tests.support.slack_harness import Bot
from tests.unit.webhooks import test_webhook as _webhook

body, post, entry, receiver = _webhook.body, _webhook.post, _webhook.entry, _webhook.receiver


@pytest.fixture
def slack_env(slack_env: dict[str, str], receiver: _webhook.Receiver) -> dict[str, str]:
    return {
        **slack_env,
        "MYSAFE_BOT_WEBHOOK_SECRET": _webhook.SECRET,
        "MYSAFE_BOT_WEBHOOK_AUTH": "hmac",
        "MYSAFE_BOT_CALLBACK_HOSTS": receiver.origin,
        "MYSAFE_BOT_LOCALE": "pt-BR",
    }


def test_a_denied_tickets_callback_says_why_in_the_workspaces_language(
    bot: Bot, entry: int, receiver: _webhook.Receiver
) -> None:
    request_id = post(bot, body(entry, callback_url=receiver.url)).json()["request_id"]
    bot.engine.deny(request_id, "UAPPROVER1", reason="sem incidente aberto")
    assert bot.engine.get(request_id).state is State.DENIED
    delivered = _webhook._deliver_until(bot, receiver, 2)[-1]
    assert delivered["message"] == "negado: sem incidente aberto"
    assert (delivered["state"], delivered["request_id"]) == ("denied", request_id)  # for programs
    assert delivered["ticket"] == {"key": "SEC-42", "url": "https://jira.example.com/browse/SEC-42"}
