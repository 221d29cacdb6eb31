"""Break-glass against a real Redis, the MySafe emulator and protocol fakes of PagerDuty and
Opsgenie over loopback HTTP: applied at once only for someone on call now, bounded, limited,
and reviewed after the fact by a deadline. Time moves through the sweeps' `now=`."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.approvals.break_glass import MCP_REFUSED, EveryReviewChange, Review, ReviewListener
from app.approvals.break_glass_reviewer import Reviewer
from app.approvals.change_request import ChangeRequest
from app.approvals.changes import Change, Verb
from app.approvals.engine import Engine
from app.approvals.machine import State
from app.approvals.policy import PolicyBook
from app.approvals.policy_file import parse_policy
from app.approvals.revoker import Revoker
from app.approvals.rules import Defaults
from app.approvals.telling import Hub
from app.foundations.errors import NotAnApprover, SelfApproval, ValidationError
from app.foundations.settings import Scope, Settings
from app.mysafe.models import Kind, UserShare
from app.sandbox.emulator import Emulator
from app.services import Services
from tests.support.approvers import Approving
from tests.support.on_call_fakes import TOKEN, OnCallFake

HOUR = 3600
SCHEDULE = "PSCHED01"
POLICY = f"""
rules:
  - name: prod-break-glass
    match: {{verbs: [share]}}
    approvals: 1
    approvers: [UAPPROVER1, UAPPROVER2, UALICE]
    escalate_after: 2h
    escalate_to: [U0DUTYMGR]
    break_glass:
      max_duration: 1h
      on_call: {SCHEDULE}
      notify: [C0SECURITY]
      review_within: 24h
      escalate_to: [U0SECLEAD]
"""
PUT = "/api/mysafe/password/update"


@pytest.fixture(params=["pagerduty", "opsgenie"])
def provider(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def on_call(provider: str) -> Iterator[OnCallFake]:
    fake = OnCallFake(provider, on_call={SCHEDULE: ["alice@example.com"]}).start()
    yield fake
    fake.stop()


@pytest.fixture
def settings(env: dict[str, str], on_call: OnCallFake) -> Settings:
    return Settings.from_env(
        {
            **env,
            "MYSAFE_BOT_ON_CALL_PROVIDER": on_call.provider,
            "MYSAFE_BOT_ON_CALL_URL": on_call.url,
            "MYSAFE_BOT_ON_CALL_TOKEN": TOKEN,
            "MYSAFE_BOT_ON_CALL_TIMEOUT": "0.3",
            "MYSAFE_BOT_ON_CALL_PEOPLE": "UALICE=Alice@Example.com",
        },
        scope=Scope.SERVICE,
        dotenv=None,
    )


class Heard(EveryReviewChange):
    """A break-glass listener that records what it was told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def changed(self, request: ChangeRequest, review: Review, event: str) -> None:
        self.events.append((request.id, event, review.state))


@pytest.fixture
def heard() -> Heard:
    return Heard()


@pytest.fixture
def hub(heard: Heard) -> Hub[ReviewListener]:
    return Hub([heard])


def under(services: Services, policy: str) -> PolicyBook:
    """The rules in force: `policy` (YAML) over the settings' defaults."""
    book = PolicyBook(services.settings)
    book._policy = parse_policy(policy, Defaults.of(services.settings))
    return book


@pytest.fixture
def engine(services: Services, hub: Hub[ReviewListener]) -> Engine:
    return Engine(
        services,
        policy=under(services, POLICY),
        break_glass_listeners=hub,
        approvers=Approving("UCAROL"),
    )


@pytest.fixture
def revoker(engine: Engine) -> Revoker:
    return engine.new_revoker()


@pytest.fixture
def reviewer(engine: Engine, revoker: Revoker) -> Reviewer:
    return Reviewer(engine, revoker)


@pytest.fixture
def entry(emulator: Emulator, link) -> int:
    link("UALICE", "alices")
    emulator.add_user("carol")
    return emulator.add_password("alices", name="db", username="db", password="pw-Old-1")


def emergency(
    identifier: int, *, duration: int = HOUR, kind: Kind = Kind.PASSWORD, who: str = "carol"
) -> Change:
    return Change(Verb.SHARE, kind, identifier, add_users=(UserShare(who, True),), duration=duration)


def open_glass(engine: Engine, entry: int, **options) -> ChangeRequest:
    return engine.submit(
        emergency(entry, who=options.pop("who", "carol")),
        requester=options.pop("requester", "UALICE"),
        reason=options.pop("reason", "INC-123 db down"),
        emergency=True,
        **options,
    )


def grantees(emulator: Emulator, entry: int) -> set[str]:
    return {u["username"] for u in emulator.get_password(entry)["users_allowed"]}


def events(engine: Engine, name: str) -> list[dict[str, str]]:
    return [{"actor": r.actor, **r.facts} for r in engine.audit.read() if r.event == name]


# --- on call now ----------------------------------------------------------------------------


def test_someone_on_call_is_granted_at_once_with_the_evidence(
    engine: Engine, entry: int, emulator: Emulator, on_call: OnCallFake, heard: Heard
) -> None:
    request = open_glass(engine, entry)
    assert request.state is State.APPLIED and request.approvals == frozenset()
    assert "carol" in grantees(emulator, entry)
    assert request.change.rotate_after  # bounded: a password is always rotated at the end
    assert request.break_glass["matched"] == "alice@example.com"
    (opened,) = events(engine, "break_glass.opened")
    assert opened["actor"] == "UALICE"
    assert (opened["provider"], opened["schedule"]) == (on_call.provider, SCHEDULE)
    assert opened["on_call"] == "alice@example.com" and opened["checked"]
    (auto,) = events(engine, "request.auto_approved")
    assert auto["why"].startswith("break-glass")
    assert heard.events == [(request.id, "opened", "open")]
    assert engine.revokes.get(request.id) is not None  # its end is scheduled
    (call,) = on_call.calls
    assert call["schedule"] == SCHEDULE


def test_someone_not_on_call_is_refused_and_nothing_is_stored(
    engine: Engine, entry: int, emulator: Emulator, on_call: OnCallFake, heard: Heard
) -> None:
    on_call.on_call[SCHEDULE] = ["bob@example.com"]
    with pytest.raises(ValidationError, match=f"not on call on schedule {SCHEDULE}"):
        open_glass(engine, entry)
    assert engine.queue() == [] and grantees(emulator, entry) == set()
    assert emulator.calls_to("PUT", PUT) == [] and heard.events == []


@pytest.mark.parametrize("failure", ["down", "slow"])
def test_an_on_call_check_that_fails_or_is_slow_refuses(
    engine: Engine, entry: int, emulator: Emulator, on_call: OnCallFake, failure: str
) -> None:
    on_call.down, on_call.hang = failure == "down", failure == "slow"
    started = time.monotonic()
    with pytest.raises(ValidationError, match="on-call check failed"):
        open_glass(engine, entry)
    assert time.monotonic() - started < 3  # the 0.3 s timeout, not the provider, decides
    assert engine.queue() == [] and grantees(emulator, entry) == set()
    assert events(engine, "break_glass.opened") == []


def test_without_a_provider_break_glass_is_refused(
    env: dict[str, str], redis, entry: int, emulator: Emulator
) -> None:
    services = Services.build(Settings.from_env(env, dotenv=None), redis=redis)
    engine = Engine(services, policy=under(services, POLICY))
    with pytest.raises(ValidationError, match="no on-call provider"):
        open_glass(engine, entry)
    assert grantees(emulator, entry) == set()


# --- bounded --------------------------------------------------------------------------------


def test_break_glass_is_always_for_a_period_within_the_rules_longest(
    engine: Engine, entry: int
) -> None:
    for duration, why in ((0, "always for a period"), (2 * HOUR, "lasts at most 1 h")):
        with pytest.raises(ValidationError, match=why):
            engine.submit(
                emergency(entry, duration=duration),
                requester="UALICE",
                reason="INC-1",
                emergency=True,
            )
    assert engine.queue() == []


def test_a_rule_without_break_glass_refuses_it(services: Services, entry: int) -> None:
    engine = Engine(services, policy=under(services, "rules: [{name: plain}]"))
    with pytest.raises(ValidationError, match="does not allow break-glass"):
        open_glass(engine, entry)


def test_the_password_is_rotated_at_the_end(
    engine: Engine, revoker: Revoker, entry: int, emulator: Emulator
) -> None:
    request = open_glass(engine, entry)
    ends = engine.revokes.get(request.id).ends
    assert revoker.sweep(now=ends + 1) == 1
    assert "carol" not in grantees(emulator, entry)
    assert emulator.get_password(entry)["password"] != "pw-Old-1"


# --- limited --------------------------------------------------------------------------------


def test_a_second_emergency_in_a_day_is_allowed_a_third_refused(
    engine: Engine, entry: int, emulator: Emulator
) -> None:
    for name in ("dave", "erin"):
        emulator.add_user(name)
    first = open_glass(engine, entry)
    second = open_glass(engine, entry, who="dave")
    assert first.state is second.state is State.APPLIED
    with pytest.raises(ValidationError, match="already opened break-glass 2 time"):
        open_glass(engine, entry, who="erin")
    assert "erin" not in grantees(emulator, entry)
    assert len(events(engine, "break_glass.opened")) == 2


def test_the_daily_count_is_atomic_and_per_day(engine: Engine) -> None:
    from app.approvals.break_glass import Evidence

    evidence = Evidence("pagerduty", SCHEDULE, ("a@x",), "a@x", 0.0, "r")
    now = 1_800_000_000.0
    barrier = threading.Barrier(8)

    def take(_: int) -> bool:
        barrier.wait()
        try:
            engine.break_glass.count("UALICE", evidence, now=now)
        except ValidationError:
            return False
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert sum(pool.map(take, range(8))) == 2
    assert engine.break_glass.count("UALICE", evidence, now=now + 86400).count == 1
    assert engine.break_glass.count("UBOB", evidence, now=now).count == 1


# --- reviewed -------------------------------------------------------------------------------


def test_a_review_never_answered_is_escalated_then_every_hour(
    engine: Engine, reviewer: Reviewer, entry: int, heard: Heard
) -> None:
    request = open_glass(engine, entry)
    deadline = engine.break_glass.review(request.id).deadline
    assert deadline == pytest.approx(request.created + 24 * HOUR, abs=5)
    assert reviewer.sweep(now=deadline - 1) == 0
    assert reviewer.sweep(now=deadline + 1) == 1
    assert reviewer.sweep(now=deadline + 600) == 0  # not again within the hour
    assert reviewer.sweep(now=deadline + HOUR + 2) == 1
    assert reviewer.sweep(now=deadline + 2 * HOUR + 3) == 1
    escalated = events(engine, "break_glass.escalated")
    assert [e["escalation"] for e in escalated] == ["1", "2", "3"]
    assert {e["to"] for e in escalated} == {"U0SECLEAD"}
    assert [e for _, e, _ in heard.events] == ["opened", "escalated", "escalated", "escalated"]
    reviewer.decide(request.id, "UAPPROVER1", justified=True, now=deadline + 3 * HOUR)
    assert reviewer.sweep(now=deadline + 10 * HOUR) == 0


def test_not_justified_during_the_access_ends_it_rotates_and_flags(
    engine: Engine, reviewer: Reviewer, entry: int, emulator: Emulator
) -> None:
    request = open_glass(engine, entry)
    review = reviewer.decide(request.id, "UAPPROVER1", justified=False)
    assert review.state == "not_justified" and review.by == "UAPPROVER1"
    assert "carol" not in grantees(emulator, entry)
    assert emulator.get_password(entry)["password"] != "pw-Old-1"
    assert engine.revokes.get(request.id).state == "done"
    (verdict,) = events(engine, "break_glass.reviewed")
    assert verdict["flagged"] == "True" and verdict["ended"] == "ended"
    assert verdict["verdict"] == "not_justified" and verdict["actor"] == "UAPPROVER1"
    assert reviewer.sweep(now=review.deadline + 1) == 0  # answered: never escalated


def test_not_justified_after_the_access_flags_it_and_writes_nothing_more(
    engine: Engine, reviewer: Reviewer, revoker: Revoker, entry: int, emulator: Emulator
) -> None:
    request = open_glass(engine, entry)
    ends = engine.revokes.get(request.id).ends
    revoker.sweep(now=ends + 1)
    writes = len(emulator.calls_to("PUT", PUT))
    reviewer.decide(request.id, "UAPPROVER2", justified=False, now=ends + HOUR)
    assert len(emulator.calls_to("PUT", PUT)) == writes
    (verdict,) = events(engine, "break_glass.reviewed")
    assert verdict["flagged"] == "True" and verdict["ended"] == "done"


def test_the_requester_never_reviews_nor_does_a_non_approver(
    engine: Engine, reviewer: Reviewer, entry: int, emulator: Emulator
) -> None:
    request = open_glass(engine, entry)
    with pytest.raises(SelfApproval):
        reviewer.decide(request.id, "UALICE", justified=True)
    with pytest.raises(NotAnApprover):
        reviewer.decide(request.id, "UCAROL", justified=True)
    assert engine.break_glass.review(request.id).open
    assert [e["why"] for e in events(engine, "click.refused")] == ["self", "not_approver"]


class Away(EveryReviewChange):
    """A listener whose chat is down until `back` is set."""

    def __init__(self) -> None:
        self.back = False
        self.heard: list[str] = []

    def changed(self, request: ChangeRequest, review: Review, event: str) -> None:
        if not self.back:
            raise ConnectionError("chat is down")
        self.heard.append(event)


def test_what_a_listener_missed_is_told_again_by_the_sweep_and_only_once(
    engine: Engine, reviewer: Reviewer, entry: int, hub: Hub[ReviewListener]
) -> None:
    away = Away()
    hub.subscribe(away)
    request = open_glass(engine, entry)
    reviewer.decide(request.id, "UAPPROVER1", justified=True, now=request.created)
    assert away.heard == []
    lease = request.created + 121
    assert reviewer.sweep(now=lease) == 0  # still down: both stay owed
    away.back = True
    assert reviewer.sweep(now=lease + 121) == 2
    assert away.heard == ["opened", "reviewed"]
    assert reviewer.sweep(now=lease + 10 * 121) == 0 and away.heard == ["opened", "reviewed"]


def test_a_verdict_refused_or_never_given_is_not_told(
    engine: Engine, reviewer: Reviewer, entry: int, heard: Heard
) -> None:
    request = open_glass(engine, entry)
    engine.break_glass._owe(request.id, "reviewed", now=request.created)  # a process died here
    assert reviewer.sweep(now=request.created + 121) == 0
    assert [e for _, e, _ in heard.events] == ["opened"]
    assert engine.break_glass.claim_owed(request.created + 10 * 121) == []


# --- never from MCP ---------------------------------------------------------------------------


def test_break_glass_is_refused_from_mcp(engine: Engine, entry: int, on_call: OnCallFake) -> None:
    with pytest.raises(ValidationError) as refused:
        open_glass(engine, entry, source="mcp")
    assert MCP_REFUSED in str(refused.value)
    assert engine.queue() == [] and on_call.calls == []


def test_each_review_event_is_one_listener_method_and_owed_ones_are_kept_by_value() -> None:
    """A kind of news added without its `ReviewListener` method would be told to nobody."""
    from app.approvals.break_glass import OWED, ReviewEvent, ReviewListener

    methods = {name for name, value in vars(ReviewListener).items() if callable(value)}
    assert {event.value for event in ReviewEvent} == methods - {n for n in methods if n.startswith("_")}
    assert [str(event) for event in OWED] == ["opened", "reviewed"]  # the owed set's members
