"""The Slack approval flow end to end with `REDIS_URL=redis+cluster://…` (3 real nodes).

The tests are test_slack_e2e's own, collected again here with the cluster as the Redis, and
test_durable's takeover and isolation tests (the job stream's keys on a cluster).
"""

from __future__ import annotations

import pytest

from tests.e2e.test_durable import (  # noqa: F401 - collected here against the cluster
    entry,
    test_a_stalled_mysafe_holds_up_neither_the_acks_nor_other_people,
    test_a_worker_killed_mid_job_has_its_job_taken_over_after_the_visibility_timeout,
)
from tests.e2e.test_slack_e2e import (  # noqa: F401 - collected here against the cluster
    test_deny_with_a_reason,
    test_expiry_updates_the_message,
    test_failed_apply_shows_retry_and_retry_works,
    test_share_is_approved_and_applied,
    test_twenty_concurrent_clicks_make_one_put,
    vault_entry,
)

pytestmark = pytest.mark.cluster


@pytest.fixture
def redis_url(redis_cluster_url: str) -> str:
    return redis_cluster_url


def test_a_command_past_its_limit_is_counted_and_not_stored_on_the_cluster(
    redis, key_prefix: str
) -> None:
    """The person's count, the delivery's key and the stream are one script's keys (the ack's
    one round trip): on a cluster they must share a slot, the jobs' hash tag."""
    from app.foundations.crypto import Keyring, generate_key
    from app.foundations.ratelimit import KEPT, RateLimiter
    from app.jobs.queue import JobQueue, Limit, OverLimit

    queue = JobQueue(redis, Keyring([generate_key()]), prefix=key_prefix)
    limiter = RateLimiter(redis, prefix=queue.tag, name="command", per_minute=1)
    limit = Limit(limiter.window("UALICE").key, 1, KEPT)
    body = {"user_id": "UALICE", "text": "whoami", "trigger_id": "1.1.abc"}
    assert queue.put("command", body, who="UALICE", limit=limit) is not None
    with pytest.raises(OverLimit):
        queue.put("command", {**body, "trigger_id": "2.1.abc"}, who="UALICE", limit=limit)
    assert queue.pending() == 1
    assert redis.get(limit.key) == "2"  # the refused one counted too, as `hit` counts


def test_a_persons_language_is_read_in_the_acks_one_step_on_the_cluster(redis, key_prefix: str) -> None:
    """The ack's script and its pipeline read the person's language with the count (and the
    job): on a cluster its key must share their slot too."""
    from app.foundations.crypto import Keyring, generate_key
    from app.foundations.ratelimit import KEPT, RateLimiter
    from app.jobs.queue import JobQueue, Limit
    from app.slack.people import People

    queue = JobQueue(redis, Keyring([generate_key()]), prefix=key_prefix)
    people = People(redis, None, prefix=key_prefix)  # type: ignore[arg-type] - Slack not asked
    people.changed({"id": "UALICE", "locale": "pt-BR"})
    limiter = RateLimiter(redis, prefix=queue.tag, name="command", per_minute=5)
    limit = Limit(limiter.window("UALICE").key, 5, KEPT)
    body = {"user_id": "UALICE", "text": "whoami", "trigger_id": "1.1.abc"}
    taken = queue.take("command", body, who="UALICE", limit=limit, read=people.locale_key("UALICE"))
    assert (taken.read, taken.over, queue.pending()) == ("pt-BR", False, 1)
    verdict, read = limiter.hit_reading("UALICE", people.locale_key("UALICE"))
    assert (verdict.allowed, read) == (True, "pt-BR")
    assert people.known_locale("UBOB") is None  # nobody knows, and that is kept
    assert redis.get(people.locale_key("UBOB")) == ""
