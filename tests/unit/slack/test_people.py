"""Who may take part (app/slack/people.py), as a job or click checks it against Redis's cache."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.slack.people import GUEST, People
from tests.support.redis_wire import Wire
from tests.support.slack_fake import SlackFake
from tests.support.slack_harness import served_bot


@pytest.fixture
def people(slack_env: dict[str, str], redis) -> Iterator[People]:
    with served_bot(slack_env, redis, consume=False) as bot:
        languages = bot.runtime.languages
        assert languages is not None
        yield languages.people


def test_a_known_persons_standing_is_read_in_one_round_trip(people: People, slack: SlackFake) -> None:
    """The person's cached profile and our organisation are two slots of a Redis Cluster:
    one pipeline reads both."""
    slack.profiles["UGUEST"] = {"is_restricted": True}
    assert people.standing("UALICE") is None  # Slack asked once, the answer kept
    assert people.standing("UGUEST") == GUEST
    with Wire() as wire:
        assert people.standing("UALICE") is None
        assert people.standing("UGUEST") == GUEST
    assert len(wire.trips) == 2
    assert len(slack.calls_to("users.info")) == 2 and len(slack.calls_to("auth.test")) == 1
