"""`/mysafe login` as a person meets it when MySafe refuses the key: the form comes back with
what they typed (never the secret) and MySafe's refusal under the field it is about, so they fix
one field and submit again instead of starting over."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from app.sandbox.emulator import Emulator
from tests.e2e.test_slack_verbs import ack_body, opened, submit
from tests.support.redis_text import everything_stored
from tests.support.slack_fake import SlackFake
from tests.support.slack_harness import SIGNING_SECRET, Bot, served_bot
from tests.support.slack_requests import SlackClient


def inputs(view: dict[str, Any]) -> dict[str, str | None]:
    """{field: what it shows typed in} of a modal's input blocks."""
    return {
        b["block_id"]: b["element"].get("initial_value") for b in view["blocks"] if b["type"] == "input"
    }


def line_under(view: dict[str, Any], field: str) -> str:
    """The text of the block right under the input `field` (empty when it is another input)."""
    blocks = view["blocks"]
    at = next(i for i, b in enumerate(blocks) if b.get("block_id") == field)
    below = blocks[at + 1] if at + 1 < len(blocks) else {}
    return (
        " ".join(e.get("text", "") for e in below.get("elements", []))
        if below.get("type") == "context"
        else ""
    )


def test_a_refused_key_brings_the_form_back_filled_in_then_a_right_key_links(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    emulator: Emulator,
    redis,
    key_prefix: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    client_id, client_secret = emulator.add_user("dana")
    wrong = "not-the-Secret-42"
    user.command("UDANA", "login")
    form = opened(slack)

    typed = {"client_id": client_id, "mysafe_username": "dana"}
    checking = ack_body(submit(user, "UDANA", form, {**typed, "client_secret": wrong}))
    assert checking["response_action"] == "update"
    again = slack.wait_calls("views.update")[0]
    assert again.args["view_id"] == "V1"
    back = again.args["view"]
    assert back["callback_id"] == "login" and back["submit"]["text"] == "Link"
    assert inputs(back) == {"client_id": client_id, "client_secret": None, "mysafe_username": "dana"}
    refused = line_under(back, "client_secret")
    assert "MySafe refused this Client ID and Client Secret" in refused
    assert refused.lower().count("refused") == 1, refused  # MySafe's words follow, said once
    assert "paste the Client Secret again" in refused
    assert line_under(back, "client_id") == line_under(back, "mysafe_username") == ""
    assert bot.services.vault.account("UDANA") is None

    # The same form, submitted again with the right secret pasted into its empty field.
    submit(user, "UDANA", back, {**typed, "client_secret": client_secret})
    linked = slack.wait_calls("views.update", 2)[1].blocks_text()
    assert "Key linked" in linked and "dana" in linked
    account = bot.services.vault.account("UDANA")
    assert account is not None and account.client_id == client_id

    everywhere = "\n".join(
        [
            slack.everything_sent(),
            everything_stored(redis, key_prefix),
            caplog.text,
            capfd.readouterr().err,
        ]
    )
    # Named, not shown: a failing assertion would print the text holding the secret.
    leaked = [
        name
        for name, secret in (("wrong key", wrong), ("client secret", client_secret))
        if secret in everywhere
    ]
    assert leaked == []


def test_mysafe_unavailable_brings_the_form_back_saying_so_above_the_fields(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator
) -> None:
    client_id, client_secret = emulator.add_user("dana")
    emulator.inject(status=503, method="POST", path_prefix="/api/oauth2/token", times=10)
    user.command("UDANA", "login")
    submit(
        user,
        "UDANA",
        opened(slack),
        {"client_id": client_id, "client_secret": client_secret, "mysafe_username": "dana"},
    )
    back = slack.wait_calls("views.update")[0].args["view"]
    assert inputs(back) == {"client_id": client_id, "client_secret": None, "mysafe_username": "dana"}
    said = " ".join(b["text"]["text"] for b in back["blocks"] if b["type"] == "section")
    assert "MySafe is unavailable right now" in said and "Paste the Client Secret again" in said
    assert (client_secret in slack.everything_sent()) is False  # a failure shows no secret
    assert bot.services.vault.account("UDANA") is None


def test_a_name_mysafe_cannot_have_is_refused_on_its_field_before_anything_is_stored(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator
) -> None:
    client_id, client_secret = emulator.add_user("dana")
    user.command("UDANA", "login")
    body = ack_body(
        submit(
            user,
            "UDANA",
            opened(slack),
            {"client_id": client_id, "client_secret": client_secret, "mysafe_username": "dana s"},
        )
    )
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {"mysafe_username"}
    assert "without spaces" in body["errors"]["mysafe_username"]
    assert slack.calls_to("views.update") == []
    assert bot.services.vault.account("UDANA") is None


@pytest.fixture
def settling_bot(slack_env: dict[str, str], redis) -> Iterator[Bot]:
    """The bot as deployed: a form's outcome waits the default second for the ack to settle."""
    environ = {**slack_env}
    del environ["MYSAFE_BOT_ACK_SETTLE"]
    with served_bot(environ, redis) as served:
        yield served


@pytest.mark.slow
def test_the_outcome_reaches_slack_only_after_the_ack_swapped_the_form_for_checking(
    settling_bot: Bot, slack: SlackFake, emulator: Emulator
) -> None:
    """The ack swaps the form for "Checking your key…" when Slack reads its answer; the job's
    outcome must come after that, or "Checking…" would cover it for good. The emulator
    answers in milliseconds here, the case where the outcome could overtake the ack."""
    bot = settling_bot
    user = SlackClient(bot.url, SIGNING_SECRET, slack.response_url)
    client_id, client_secret = emulator.add_user("dana")
    user.command("UDANA", "login")
    checking = submit(
        user,
        "UDANA",
        opened(slack),
        {"client_id": client_id, "client_secret": client_secret, "mysafe_username": "dana"},
    )
    acked = time.monotonic()
    assert ack_body(checking)["response_action"] == "update"
    slack.wait_calls("views.update")
    assert time.monotonic() - acked >= 0.8  # MYSAFE_BOT_ACK_SETTLE (1 s) from the job's storing
    assert bot.services.vault.account("UDANA") is not None
