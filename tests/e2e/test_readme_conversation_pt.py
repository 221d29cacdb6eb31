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
from tests.e2e.test_readme_conversation import PRIYA, first_minute
from tests.e2e.test_slack_verbs import (
    APPROVER,
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
    said = first_minute(
        bot, user, slack, emulator, link, approve="Aprovar", applied_word="Aplicado", typed=COMMAND
    )
    said = [re.sub(r"\(em [^)]*\)", "(em …)", s) for s in said]
    assert said == docs_block(), "\n".join(said)
