"""A person's language as an ack reads it (app.slack.people `known_locale`): the ack's one Redis
round trip is the job's store, so the language is read from Redis at most once a minute per
person in a process, and a change this process hears of is spoken at once."""

from __future__ import annotations

from slack_sdk import WebClient

from app.slack.people import People
from tests.support.redis_wire import Wire


def test_an_ack_reads_a_persons_language_once_and_hears_a_change_at_once(
    redis, key_prefix: str
) -> None:
    people = People(redis, WebClient(token="xoxb-unused"), prefix=key_prefix)
    people.changed({"id": "UPRIYA", "locale": "pt-BR"})  # as Slack's user_change says it
    elsewhere = People(redis, WebClient(token="xoxb-unused"), prefix=key_prefix)

    with Wire() as first:
        assert elsewhere.known_locale("UPRIYA") == "pt-BR"  # another process: read from Redis
    with Wire() as again:
        assert elsewhere.known_locale("UPRIYA") == "pt-BR"
    assert (len(first.trips), len(again.trips)) == (1, 0)

    elsewhere.changed({"id": "UPRIYA", "locale": "en-US"})
    with Wire() as changed:
        assert elsewhere.known_locale("UPRIYA") == "en-US"
    assert changed.trips == []
