"""A `/mysafe` ack speaks its person's language with one Redis round trip: the language is read
in the same step as the count and the job (app/jobs/lua/put_counted.lua, `RateLimiter.hit_reading`),
from Redis, so every web worker speaks a newly chosen language at once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.redis_wire import Wire
from tests.support.slack_fake import SlackFake
from tests.support.slack_harness import SIGNING_SECRET, Bot, served_bot
from tests.support.slack_requests import SlackClient

SWITCHED = {"type": "user_change", "user": {"id": "UALICE", "locale": "pt-BR"}}


@pytest.fixture
def quiet_bot(slack_env: dict[str, str], redis) -> Iterator[Bot]:
    """A web worker that runs no jobs: the only Redis traffic is what its acks send."""
    with served_bot(slack_env, redis, consume=False) as served:
        yield served


@pytest.fixture
def other_worker(slack_env: dict[str, str], redis) -> Iterator[SlackClient]:
    """A second web worker of the same deployment (the same Redis), as `serve --workers 2`."""
    with served_bot(slack_env, redis, consume=False) as served:
        yield SlackClient(served.url, SIGNING_SECRET, "http://127.0.0.1:9/unused")


def round_trips(client: SlackClient, text: str) -> tuple[str, int]:
    with Wire() as wire:
        answer = client.command("UALICE", text).text
    return answer, len(wire.work())


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("help", "/mysafe"),
        ("whoami", "Working on /mysafe whoami"),
        ("share password 1 with <@UBOB|bob>", "Working on /mysafe share"),
        ("no-such-verb", 'There is no command "no-such-verb"'),
    ],
)
def test_a_commands_ack_costs_one_redis_round_trip(
    quiet_bot: Bot, slack: SlackFake, text: str, said: str
) -> None:
    client = SlackClient(quiet_bot.url, SIGNING_SECRET, slack.response_url)
    for warm_up in ("help", "whoami"):  # the script loaded, the person's language looked up
        client.command("UALICE", warm_up)
    answer, trips = round_trips(client, text)
    assert said in answer
    assert trips == 1


def test_a_second_web_worker_answers_in_the_newly_chosen_language_at_once(
    quiet_bot: Bot, other_worker: SlackClient, slack: SlackFake
) -> None:
    first = SlackClient(quiet_bot.url, SIGNING_SECRET, slack.response_url)
    assert other_worker.command("UALICE", "whoami").text.startswith("Working on /mysafe whoami")
    assert "list the commands" in other_worker.command("UALICE", "help").text
    first.event(SWITCHED)  # Slack tells one worker that she switched to Portuguese
    assert other_worker.command("UALICE", "whoami").text.startswith("Trabalhando em /mysafe whoami")
    assert "lista os comandos" in other_worker.command("UALICE", "help").text
    assert "Não existe o comando" in other_worker.command("UALICE", "xyz").text
    first.event({"type": "user_change", "user": {"id": "UALICE", "locale": "en-US"}})
    assert other_worker.command("UALICE", "whoami").text.startswith("Working on /mysafe whoami")


def test_a_language_kept_where_earlier_releases_kept_it_is_spoken_and_moved(
    quiet_bot: Bot, slack: SlackFake, redis, key_prefix: str
) -> None:
    """Before a release kept it under the jobs' hash tag, a person's language was kept with
    their other facts for a week: it is still spoken, and moved once, so the next ack reads
    it in its own round trip."""
    redis.set(f"{key_prefix}:people:{{UALICE}}:locale", "pt-BR", ex=3600)
    client = SlackClient(quiet_bot.url, SIGNING_SECRET, slack.response_url)
    assert client.command("UALICE", "whoami").text.startswith("Trabalhando em /mysafe whoami")
    answer, trips = round_trips(client, "ajuda")
    assert "lista os comandos" in answer and trips == 1
    assert "list the commands" in client.command("UBOB", "help").text  # nobody else's


def test_a_person_whose_language_nobody_knows_costs_one_round_trip_after_the_first(
    quiet_bot: Bot, slack: SlackFake
) -> None:
    client = SlackClient(quiet_bot.url, SIGNING_SECRET, slack.response_url)
    first, looked_up = round_trips(client, "help")
    answer, trips = round_trips(client, "help")
    assert first == answer and "list the commands" in answer
    assert (looked_up, trips) == (3, 1)  # the ack's, then where earlier releases kept it, moved


def test_a_commands_job_reads_the_persons_language_once(
    bot: Bot, user: SlackClient, slack: SlackFake, key_prefix: str
) -> None:
    """The job speaks the person's language, read once: every job is run in it
    (`Durable.on_job`), and the command's own work does not read it again."""
    user.command("UALICE", "whoami")
    slack.wait_responses(1)  # her profile asked of Slack once, and kept
    with Wire() as wire:
        user.command("UALICE", "whoami")
        answer = slack.wait_responses(2)[-1]["text"]
    profile = f"{key_prefix}:people:{{UALICE}}:user"
    reads = [c for c in wire.commands() if c[:2] == ("GET", profile)]
    assert "/mysafe login" in answer
    assert len(reads) == 1, reads
