"""Where the Slack front's approval message is and what it shows (app/slack/sent_messages.py),
recorded on the request's own hash against a real Redis: one server and a 3-node Cluster, where
the repair index is in another slot than the request."""

from __future__ import annotations

import pytest

from app.approvals.revokes import revoke_key
from app.approvals.store import request_key
from app.slack.sent_messages import Sent, SentMessages
from tests.support.redis_wire import Wire

REQUEST = "R-2345A"
POSTED = ("C0APPROVALS", "1700000000.000100")


pytestmark = pytest.mark.server_and_cluster


@pytest.fixture
def sent(redis, key_prefix: str) -> SentMessages:
    return SentMessages(redis, prefix=key_prefix)


@pytest.fixture
def key(redis, key_prefix: str) -> str:
    """A stored request (only a field of its own here), with its TTL, behind on Slack."""
    key = request_key(key_prefix, REQUEST)
    redis.hset(key, "state", "pending")
    redis.expire(key, 600)
    return key


def in_repair(sent: SentMessages) -> list[str]:
    return sent.repairs_due(float("inf"))


def test_a_first_post_is_recorded_where_it_is_and_what_it_shows_in_one_round_trip(
    sent: SentMessages, key: str
) -> None:
    sent.needs_repair(REQUEST, 1.0)  # a post Slack had refused before
    sent.shown(REQUEST, 0)  # the script known to the server, as in a running bot
    with Wire() as wire:
        assert sent.shown(REQUEST, 1, posted=POSTED)
    assert len(wire.trips) == 1, wire.trips
    assert sent.of(REQUEST) == Sent(channel=POSTED[0], ts=POSTED[1], shown=1)
    assert in_repair(sent) == []


def test_a_request_gone_before_its_post_is_recorded_is_not_written_again(
    sent: SentMessages, key: str, redis
) -> None:
    """It expired or was dropped while Slack took the post: a hash written now would hold only
    the message's fields, without the request, and never expire."""
    sent.needs_repair(REQUEST, 1.0)
    redis.delete(key)
    assert sent.shown(REQUEST, 1, posted=POSTED) is False
    assert redis.exists(key) == 0
    assert in_repair(sent) == []  # nothing left to repair either


def test_the_version_shown_is_never_lowered(sent: SentMessages, key: str) -> None:
    """A render that read the request before a newer one was shown records its older version
    last: the message still counts as showing the newer one."""
    assert sent.shown(REQUEST, 5, posted=POSTED)
    assert sent.shown(REQUEST, 3)
    assert sent.of(REQUEST).shown == 5
    assert sent.shown(REQUEST, 4, posted=("C0OTHER", "1700000001.000200"))
    assert sent.of(REQUEST) == Sent(channel="C0OTHER", ts="1700000001.000200", shown=5)
    assert sent.shown(REQUEST, 6)
    assert sent.of(REQUEST).shown == 6


def test_a_post_is_recorded_when_redis_has_forgotten_the_script(
    sent: SentMessages, key: str, redis
) -> None:
    """After a restart or a failover the server knows no scripts: the pipelined call is
    answered NOSCRIPT, and the script is sent again on its own, which loads it."""
    sent.shown(REQUEST, 0)
    redis.script_flush()
    assert sent.shown(REQUEST, 1, posted=POSTED)
    assert sent.of(REQUEST) == Sent(channel=POSTED[0], ts=POSTED[1], shown=1)


def test_the_message_is_read_from_the_hash_as_read_whole(sent: SentMessages, key: str, redis) -> None:
    """`Sent.in_fields` (the store's one read of the request, under the render lock) reads
    what `of` reads with its own."""
    sent.shown(REQUEST, 2, posted=POSTED)
    sent.set_copies(REQUEST, [("D0ESCALATED", "1700000002.000300")])
    assert Sent.in_fields(redis.hgetall(key)) == sent.of(REQUEST)
    assert Sent.in_fields({}) == Sent()


def test_a_kept_dm_and_escalated_copies_are_recorded_in_one_round_trip_each(
    sent: SentMessages, key: str
) -> None:
    sent.keep_message(REQUEST, "warm", channel="D0", ts="1.0")  # the script known to the server
    with Wire() as wire:
        sent.keep_message(REQUEST, "approver:UAPPROVER1", channel="D0APPROVER", ts="1700000003.1")
        sent.set_copies(REQUEST, [("D0ESCALATED", "1700000004.1")])
    assert len(wire.trips) == 2, wire.trips
    assert sent.kept_messages(REQUEST)["approver:UAPPROVER1"] == ("D0APPROVER", "1700000003.1")
    assert sent.of(REQUEST).copies == (("D0ESCALATED", "1700000004.1"),)


def test_nothing_is_kept_about_a_request_or_revoke_that_is_gone(
    sent: SentMessages, key: str, redis, key_prefix: str
) -> None:
    """A DM, escalated copies or a revoke's alert that land after their record expired leave
    no hash behind (it would hold only these fields, and never expire)."""
    redis.delete(key)
    sent.keep_message(REQUEST, "requester", channel="D0REQUESTER", ts="1700000005.1")
    sent.set_copies(REQUEST, [("D0ESCALATED", "1700000004.1")])
    sent.set_alert(REQUEST, channel="C0APPROVALS", ts="1700000006.1")
    assert redis.exists(key, revoke_key(key_prefix, REQUEST)) == 0
