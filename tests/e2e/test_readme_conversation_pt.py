"""The README's first minute in Brazilian Portuguese: the same conversation, played with
Priya and Carol reading Slack in pt-BR and the workspace's language (MYSAFE_BOT_LOCALE) set
to pt-BR, reduced as the English transcript is and compared line by line with the transcript
in docs/languages.md."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.sandbox.emulator import Emulator
from tests.e2e.test_readme_conversation import ALICE, PRIYA, line, message
from tests.e2e.test_slack_verbs import (
    APPROVER,
    approval_posts,
    buttons,
    instant,
    message_update,
    request_id_in,
    wait_dm,
)
from tests.support.slack_fake import SlackFake
from tests.support.slack_harness import SIGNING_SECRET, Bot, served_bot
from tests.support.slack_requests import SlackClient

LANGUAGES = Path(__file__).resolve().parents[2] / "docs" / "languages.md"
COMMAND = 'compartilhar password 1 with @alice reason "plantão desta semana"'


def docs_block() -> list[str]:
    """The fenced block of docs/languages.md that starts with the Portuguese command."""
    text = LANGUAGES.read_text(encoding="utf-8")
    blocks = re.findall(r"```\n(you +/mysafe compartilhar .*?)```", text, re.S)
    assert len(blocks) == 1, "docs/languages.md: the Portuguese conversation block is missing"
    return blocks[0].rstrip("\n").split("\n")


@pytest.fixture
def portuguese_bot(slack_env: dict[str, str], redis, slack: SlackFake) -> Iterator[Bot]:
    slack.profiles[PRIYA.slack_id] = {"locale": "pt-BR"}
    slack.profiles[APPROVER] = {"locale": "pt-BR"}
    with served_bot({**slack_env, "MYSAFE_BOT_LOCALE": "pt-BR"}, redis) as served:
        yield served


def test_the_first_minute_reads_in_portuguese(
    portuguese_bot: Bot, slack: SlackFake, emulator: Emulator, link
) -> None:
    bot = portuguese_bot
    user = SlackClient(bot.url, SIGNING_SECRET, slack.response_url)
    link(PRIYA.slack_id, PRIYA.mysafe_username)
    emulator.add_user(ALICE.mysafe_username)
    bot.services.vault.map_mention(ALICE.slack_id, ALICE.mysafe_username)
    entry = emulator.add_password(
        PRIYA.mysafe_username,
        name="GCP console",
        url="https://console.cloud.google.com",
        username="ops@example.com",
        password="old-Password-9!",
    )
    command = COMMAND.replace("password 1", f"password {entry}").replace(
        "@alice", f"<@{ALICE.slack_id}|alice>"
    )
    said: list[str] = [f"{'you':<8}/mysafe {COMMAND}"]

    response = user.command(PRIYA.slack_id, command)
    said += line("bot", "(only you) ", instant(response))
    answer = slack.wait_responses(1)[0]["text"]
    said += line("bot", "(only you) ", answer)
    (posted,) = slack.wait_for(lambda: approval_posts(slack))
    said += message("bot", "#vault-approvals: ", posted)
    said += line("bot", "(DM to carol) ", wait_dm(slack, APPROVER).args["text"])

    said.append(f"{'carol':<8}[Aprovar]")
    assert user.click(APPROVER, "approve", request_id_in(answer)).status_code == 200
    applied = message_update(slack, "Aplicado")
    assert buttons(applied) == []
    said += line("bot", "#vault-approvals (updated): ", applied.args["blocks"][-1]["text"]["text"])
    said += line("bot", "(DM to you) ", wait_dm(slack, PRIYA.slack_id).args["text"])

    said = [re.sub(rf"password {entry}\b", "password 1", s) for s in said]
    said = [re.sub(r"\(em [^)]*\)", "(em …)", s) for s in said]
    assert said == docs_block(), "\n".join(said)
