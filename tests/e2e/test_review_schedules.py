"""Access reviews in the worker: campaigns on the policy's schedule, the start as a durable
job, reminders before the due date, and `on_timeout` at it; the entry's creator reviews it.

The MySafe emulator over HTTP, real Redis, the recording Slack fake; the worker's pass is
`ReviewSweeper.sweep` (what `mysafe-bot worker` calls each second), given the time.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.approvals.changes import Change, Verb
from app.approvals.review_records import TIMEOUT, CampaignState, Choice, new_campaign
from app.approvals.review_sweep import ReviewSweeper
from app.approvals.review_tasks import LEASE
from app.foundations.clock import timestamp
from app.foundations.errors import ApprovalError, CredentialsMissing, CredentialsRejected
from app.foundations.settings import Settings
from app.mysafe.models import Kind
from app.ops.cli import main
from app.ops.runtime import build_runtime
from app.sandbox.emulator import Emulator
from tests.e2e.test_review_campaign import buttons, line
from tests.e2e.test_slack_verbs import dms_to, readable
from tests.support.deployed import CLI
from tests.support.slack_fake import SlackFake
from tests.support.slack_harness import Bot, served_bot
from tests.support.waiting import eventually

DAY = 86400
POLICY = """
rules:
  - name: review-removals
    match: {verbs: [unshare], sources: [review]}
    approvals: 0
  - name: default
    approvals: 1
"""
SCHEDULES = """
reviews:
  - name: weekly-prod
    every: 7d
    due: 2d
    tags: [prod]
    on_timeout: revoke
    remind_every: 1d
"""


@pytest.fixture
def slack_env(slack_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    return {**slack_env, "MYSAFE_BOT_POLICY": str(policy)}


@pytest.fixture
def scheduled(slack_env: dict[str, str], tmp_path: Path, redis) -> Iterator[Bot]:
    """The bot with the policy's `reviews:` (a weekly review of prod entries)."""
    policy = tmp_path / "scheduled.yml"
    policy.write_text(POLICY + SCHEDULES)
    with served_bot({**slack_env, "MYSAFE_BOT_POLICY": str(policy)}, redis) as served:
        yield served


@pytest.fixture
def prod(emulator: Emulator, link) -> int:
    """alices owns a prod entry (bobm and carol view, dave edit); dave has linked his key
    too, so both review it."""
    link("UALICE", "alices")
    link("UDAVE", "dave")
    for name in ("bobm", "carol"):
        emulator.add_user(name)
    return emulator.add_password(
        "alices",
        name="Prod DB",
        username="dba",
        password="x-Pa55word!",
        tags="prod",
        users_allowed=[
            {"username": "bobm"},
            {"username": "carol"},
            {"username": "dave", "can_edit": True},
        ],
    )


def sweeper(bot: Bot) -> ReviewSweeper:
    assert bot.runtime.review_sweeper is not None
    return bot.runtime.review_sweeper


def cards(slack: SlackFake) -> Counter[str]:
    """Review cards sent, per reviewer."""
    return Counter(
        c.args["channel"]
        for c in slack.calls_to("chat.postMessage")
        if "Access review" in c.blocks_text()
        and "Reminder" not in c.blocks_text()
        and "key no longer works" not in c.blocks_text()
    )


def cli_start(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], *args: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["review", "start", "--name", "Q1", "--due", "14d", "--tags", "prod", *args]) == 0


# --- schedules ------------------------------------------------------------------------------


def test_several_workers_begin_a_scheduled_campaign_once_per_period(
    scheduled: Bot, prod: int, slack: SlackFake, redis
) -> None:
    """Three workers' passes at once in one period: one campaign, one card per reviewer."""
    others = [build_runtime(scheduled.runtime.settings, redis=redis, front=False) for _ in range(2)]
    passes = [sweeper(scheduled), *(r.review_sweeper for r in others if r.review_sweeper is not None)]
    now = timestamp()
    together = threading.Barrier(len(passes))

    def one_pass(worker: ReviewSweeper) -> None:
        together.wait()
        worker.sweep(now=now)

    threads = [threading.Thread(target=one_pass, args=(w,)) for w in passes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for worker in passes:
        worker.sweep(now=now + DAY / 2)  # later in the same period: nothing new
    reviews = scheduled.runtime.reviews
    assert reviews is not None
    (name,) = reviews.store.names()
    assert name.startswith("weekly-prod-")
    campaign = reviews.store.campaign(name)
    assert campaign is not None and campaign.state is CampaignState.RUNNING
    assert (campaign.on_timeout, campaign.remind_every, campaign.schedule) == (
        "revoke",
        DAY,
        "weekly-prod",
    )
    assert cards(slack) == {"UALICE": 1, "UDAVE": 1}
    started = [r for r in scheduled.engine.audit.read() if r.event == "review.started"]
    assert len(started) == 1 and started[0].facts["schedule"] == "weekly-prod"

    sweeper(scheduled).sweep(now=now + 7 * DAY)  # the next period: its own campaign
    assert len(reviews.store.names()) == 2
    for runtime in others:
        runtime.close()


# --- the start, a durable job ---------------------------------------------------------------


def test_review_start_returns_at_once_and_a_worker_sends_the_cards(
    bot: Bot,
    prod: int,
    slack: SlackFake,
    slack_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli_start(monkeypatch, slack_env)
    assert "review Q1: starting" in capsys.readouterr().out
    assert cards(slack) == {}
    assert main(["review", "status", "Q1"]) == 0
    assert "Q1: starting" in capsys.readouterr().out
    assert sweeper(bot).sweep() >= 1
    assert cards(slack) == {"UALICE": 1, "UDAVE": 1}
    assert main(["review", "status", "Q1"]) == 0
    assert "Q1: running" in capsys.readouterr().out


@pytest.mark.slow
def test_a_start_killed_mid_way_leaves_a_campaign_a_worker_completes_never_half(
    bot: Bot, prod: int, slack: SlackFake, emulator: Emulator, slack_env: dict[str, str], tmp_path: Path
) -> None:
    """`review start --wait` SIGKILLed while it reads MySafe: the campaign is starting, with
    no line; once the lease passes a worker fills it and sends each card once."""
    held = emulator.hold(method="GET", path_prefix="/api/mysafe/password")
    starting = subprocess.Popen(
        [*CLI, "review", "start", "--name", "Q1", "--due", "14d", "--wait"],
        env={"PATH": "/usr/bin:/bin", **slack_env},
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert held.arrived.wait(30), "the start never read MySafe"
        starting.kill()
        starting.wait(10)
    finally:
        held.release()
    reviews = bot.runtime.reviews
    assert reviews is not None
    campaign = reviews.store.campaign("Q1")
    assert campaign is not None and campaign.state is CampaignState.STARTING
    assert reviews.store.lines("Q1") == []
    assert sweeper(bot).sweep() == 0  # its job is still leased to the dead process
    assert sweeper(bot).sweep(now=timestamp() + LEASE + 1) == 1
    assert len(reviews.store.lines("Q1")) == 3
    assert cards(slack) == {"UALICE": 1, "UDAVE": 1}
    assert sweeper(bot).sweep(now=timestamp() + 2 * LEASE) == 0


def test_a_start_that_died_posting_cards_is_finished_without_sending_any_twice(
    bot: Bot, prod: int, slack: SlackFake, emulator: Emulator, link
) -> None:
    link("UCAROL", "carol")  # carol edits Dev DB, so two entries, three cards
    emulator.add_password(
        "carol",
        name="Dev DB",
        username="dev",
        password="y-Pa55word!",
        tags="prod",
        users_allowed=[{"username": "bobm"}],
    )
    reviews = bot.runtime.reviews
    assert reviews is not None
    front = sweeper(bot).front
    assert front is not None
    sent = []

    class Dies:
        def post(self, campaign, lines, *, to=None):
            posted = front.post(
                campaign, [ln for ln in lines if ln.identifier == prod][:1], to={"UALICE"}
            )
            sent.append(posted.cards)
            raise SystemExit("killed")

        def remind(self, *args, **kwargs):
            raise AssertionError

    dying = ReviewSweeper(reviews, Dies(), schedules=lambda: ())

    assert reviews.begin(new_campaign(name="Q1", due=14 * DAY, tags=["prod"]))
    with pytest.raises(SystemExit):
        dying.sweep()
    assert sent == [1] and cards(slack) == {"UALICE": 1}
    sweeper(bot).sweep(now=timestamp() + LEASE + 1)
    assert cards(slack) == {"UALICE": 1, "UDAVE": 1, "UCAROL": 1}


# --- the index, reminders and the due date --------------------------------------------------


def test_the_index_counts_each_reviewers_undecided_lines_and_reminds_once_per_interval(
    bot: Bot,
    prod: int,
    slack: SlackFake,
    slack_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cli_start(monkeypatch, slack_env, "--remind-every", "1d", "--wait")
    reviews = bot.runtime.reviews
    assert reviews is not None
    assert reviews.store.waiting("Q1", "UALICE") == (3, 1)
    assert reviews.store.waiting("Q1", "UDAVE") == (2, 1)  # not his own access
    reviews.keep_all("Q1", f"password:{prod}", "UDAVE")  # bobm and carol
    assert reviews.store.waiting("Q1", "UALICE") == (1, 1)
    assert reviews.store.waiting("Q1", "UDAVE") == (0, 0)

    campaign = reviews.store.campaign("Q1")
    assert campaign is not None
    sweeper(bot).sweep(now=campaign.started + DAY + 1)
    (reminder,) = [c for c in dms_to(slack, "UALICE") if "Reminder" in c.blocks_text()]
    assert "*Q1* has 1 line on 1 entry waiting for your decision" in reminder.blocks_text()
    assert not [c for c in dms_to(slack, "UDAVE") if "Reminder" in c.blocks_text()]
    assert sweeper(bot).remind("Q1", now=campaign.started + DAY + 60) == 0  # once per interval
    assert sweeper(bot).remind("Q1", now=campaign.started + 2 * DAY + 1) == 1


def test_a_portuguese_reviewer_reads_her_cards_and_reminders_in_portuguese(
    bot: Bot,
    prod: int,
    slack: SlackFake,
    slack_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each reviewer's card and reminder speak their own Slack language (issue 32)."""
    slack.profiles["UALICE"] = {"locale": "pt-BR"}
    slack.profiles["UDAVE"] = {"locale": "en-US"}
    cli_start(monkeypatch, slack_env, "--remind-every", "1d", "--wait")
    (card,) = dms_to(slack, "UALICE")
    assert "*Revisão de acessos Q1*: quem deve manter acesso a" in readable(card)
    assert "*Access review Q1*: who should keep access to" in readable(dms_to(slack, "UDAVE")[0])
    reviews = bot.runtime.reviews
    assert reviews is not None
    campaign = reviews.store.campaign("Q1")
    assert campaign is not None
    sweeper(bot).sweep(now=campaign.started + DAY + 1)
    (reminder,) = [c for c in dms_to(slack, "UALICE") if "Lembrete" in readable(c)]
    said = readable(reminder)
    assert "*Q1* tem 3 linhas em 1 item aguardando sua decisão" in said
    assert "O acesso que ninguém decidir até lá é mantido, marcado como não revisado." in said


def test_on_timeout_keep_records_the_undecided_lines_as_not_reviewed_kept(
    bot: Bot,
    prod: int,
    slack: SlackFake,
    slack_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    cli_start(monkeypatch, slack_env, "--wait")
    reviews = bot.runtime.reviews
    assert reviews is not None
    reviews.decide("Q1", line(prod, "bobm"), "UALICE", Choice.KEEP)
    campaign = reviews.store.campaign("Q1")
    assert campaign is not None
    sweeper(bot).sweep(now=campaign.due + 1)
    assert main(["review", "report", "Q1", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "Q1.json").read_text())
    assert report["totals"]["undecided"] == 0 and report["totals"]["timed_out"] == 2
    carol = next(r for r in report["lines"] if r["grantee"] == "carol")
    assert (carol["decision"], carol["decided_by"], carol["result"]) == (
        "keep",
        TIMEOUT,
        "not reviewed, kept",
    )
    ended = reviews.store.campaign("Q1")
    assert ended is not None and ended.state is CampaignState.ENDED
    redrawn = [readable(c) for c in slack.calls_to("chat.update")]
    assert len(redrawn) == 2  # both reviewers' cards
    assert all("*carol* (view): not reviewed, kept at the due date" in r for r in redrawn)
    with pytest.raises(ApprovalError, match="not running"):
        reviews.decide("Q1", line(prod, "dave"), "UALICE", Choice.REMOVE)


def test_on_timeout_revoke_removes_the_undecided_lines_through_the_engine_and_audits_each(
    bot: Bot,
    prod: int,
    slack: SlackFake,
    emulator: Emulator,
    slack_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cli_start(monkeypatch, slack_env, "--on-timeout", "revoke", "--wait")
    assert "Lines nobody decides by then are removed." in dms_to(slack, "UALICE")[0].blocks_text()
    reviews = bot.runtime.reviews
    assert reviews is not None
    reviews.decide("Q1", line(prod, "bobm"), "UDAVE", Choice.KEEP)
    campaign = reviews.store.campaign("Q1")
    assert campaign is not None
    sweeper(bot).sweep(now=campaign.due - 60)
    assert len(emulator.get_password(prod)["users_allowed"]) == 3  # nothing before the due date
    sweeper(bot).sweep(now=campaign.due + 1)
    assert [u["username"] for u in emulator.get_password(prod)["users_allowed"]] == ["bobm"]
    decisions = reviews.store.decisions("Q1")
    for who in ("carol", "dave"):
        decided = decisions[line(prod, who)]
        assert (decided.choice, decided.by, decided.result) == (Choice.REMOVE, TIMEOUT, "removed")
        request = bot.engine.get(decided.request)
        assert request.source == "review" and request.requester == "UALICE"  # not dave himself
        assert "not reviewed by the due date" in request.reason
    audited = [r for r in bot.engine.audit.read() if r.event == "review.decided" and r.actor == TIMEOUT]
    assert sorted(r.facts["line"] for r in audited) == [line(prod, "carol"), line(prod, "dave")]


def test_on_timeout_escalate_gives_the_undecided_lines_to_the_escalation_target(
    bot: Bot,
    prod: int,
    slack: SlackFake,
    slack_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cli_start(monkeypatch, slack_env, "--on-timeout", "escalate", "--escalate-to", "UBOSS", "--wait")
    reviews = bot.runtime.reviews
    assert reviews is not None
    reviews.decide("Q1", line(prod, "bobm"), "UALICE", Choice.KEEP)
    campaign = reviews.store.campaign("Q1")
    assert campaign is not None
    sweeper(bot).sweep(now=campaign.due + 1)
    (card,) = dms_to(slack, "UBOSS")
    shown = readable(card)
    assert "Access review Q1" in shown and "*bobm* (view): ✅ kept by <@UALICE>" in shown
    assert {value for value in buttons(card).values()} >= {f"Q1 {line(prod, 'carol')}"}
    assert reviews.store.waiting("Q1", "UBOSS") == (2, 1)
    assert [w.campaign.name for w in reviews.waiting_for("UBOSS")] == ["Q1"]
    running = reviews.store.campaign("Q1")
    assert running is not None and running.state is CampaignState.RUNNING and running.escalated == 2
    assert reviews.report("Q1", record=False).totals["escalated"] == 2


# --- reviewers ------------------------------------------------------------------------------


def test_the_entrys_creator_through_the_bot_reviews_it_even_without_edit(
    bot: Bot, emulator: Emulator, link
) -> None:
    """erin created it through the bot; MySafe later made alices its owner and left erin view."""
    link("UALICE", "alices")
    link("UERIN", "erin")
    emulator.add_user("bobm")
    change = Change(
        Verb.CREATE, Kind.PASSWORD, None, fields={"name": "Made", "username": "u", "tags": "prod"}
    )
    request = bot.engine.submit(change, requester="UERIN", secrets={"password": "z-Pa55word!"})
    applied = bot.engine.approve(request.id, "UAPPROVER1").request
    made = int(applied.result["identifier"])
    entry = emulator._entries["password"][made]
    entry.owner, entry.users = "alices", {"erin": False, "bobm": False}
    reviews = bot.runtime.reviews
    assert reviews is not None
    _, lines = reviews.start(name="Q1", due=DAY, tags=["prod"])
    assert {ln.name: ln.reviewers for ln in lines} == {
        "bobm": ("UALICE", "UERIN"),
        "erin": ("UALICE", "UERIN"),
    }
    eventually(lambda: reviews.store.waiting("Q1", "UERIN") == (1, 1), 5, "erin counted for bobm only")


def test_a_process_whose_policy_is_out_of_date_begins_no_scheduled_campaign(
    scheduled: Bot, prod: int, slack_env: dict[str, str], tmp_path: Path, redis
) -> None:
    """Another process put version 2 of the policy (without these schedules) in force."""
    newer = tmp_path / "newer.yml"
    newer.write_text("version: 2\n" + POLICY)
    settings = Settings.from_env({**slack_env, "MYSAFE_BOT_POLICY": str(newer)}, dotenv=None)
    other = build_runtime(settings, redis=redis, front=False)
    try:
        other.engine.in_force.announce()
        assert sweeper(scheduled).schedule(timestamp()) == []
        assert scheduled.runtime.reviews is not None
        assert scheduled.runtime.reviews.store.names() == []
    finally:
        other.close()


def test_a_reviewer_who_left_slack_has_their_lines_escalated_at_once(
    bot: Bot,
    prod: int,
    slack: SlackFake,
    slack_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """alices' card is refused (she left Slack): her lines go to UBOSS at the start, not at
    the due date; dave's reminder is refused later: his undecided line goes too."""
    slack.fail("chat.postMessage", error="user_not_found")  # the first card: alices'
    cli_start(
        monkeypatch,
        slack_env,
        "--on-timeout",
        "escalate",
        "--escalate-to",
        "UBOSS",
        "--remind-every",
        "1d",
        "--wait",
    )
    reviews = bot.runtime.reviews
    assert reviews is not None
    assert cards(slack) == {"UALICE": 1, "UDAVE": 1, "UBOSS": 1}  # alices': refused
    assert reviews.store.waiting("Q1", "UBOSS") == (3, 1)
    assert reviews.report("Q1", record=False).totals["escalated"] == 3
    assert [r.facts["to"] for r in bot.engine.audit.read() if r.event == "review.escalated"] == [
        "UBOSS"
    ]


def test_reviewers_whose_reminders_slack_refuses_have_their_undecided_lines_escalated(
    bot: Bot,
    prod: int,
    slack: SlackFake,
    slack_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cli_start(
        monkeypatch,
        slack_env,
        "--on-timeout",
        "escalate",
        "--escalate-to",
        "UBOSS",
        "--remind-every",
        "1d",
        "--wait",
    )
    reviews = bot.runtime.reviews
    assert reviews is not None
    reviews.keep_all("Q1", f"password:{prod}", "UDAVE")  # bobm and carol: only alices waits
    assert reviews.store.waiting("Q1", "UBOSS") == (0, 0)
    campaign = reviews.store.campaign("Q1")
    assert campaign is not None
    slack.fail("chat.postMessage", error="account_inactive")  # alices' reminder
    assert sweeper(bot).remind("Q1", now=campaign.started + DAY + 1) == 0
    assert reviews.store.waiting("Q1", "UBOSS") == (1, 1)  # dave's line, not the kept ones
    assert cards(slack) == {"UALICE": 1, "UDAVE": 1, "UBOSS": 1}


# --- reviewers whose MySafe key no longer works ---------------------------------------------


def key_notices(slack: SlackFake, channel: str) -> list[str]:
    """The escalation notices about a dead key posted to `channel`, as a person reads them."""
    found = [readable(c) for c in slack.calls_to("chat.postMessage") if c.args["channel"] == channel]
    return [text for text in found if "MySafe key no longer works" in text]


def escalated_for_keys(bot: Bot) -> list[dict[str, object]]:
    return [
        r.facts for r in bot.engine.audit.read() if r.event == "review.escalated" and "why" in r.facts
    ]


def test_a_reviewer_whose_key_mysafe_refuses_at_the_start_is_escalated_at_once(
    bot: Bot,
    prod: int,
    emulator: Emulator,
    slack: SlackFake,
    slack_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """alices' key is refused by MySafe (401 at its token endpoint): the start cannot list her
    entries, so UBOSS is told at once who and why; dave still reviews the entry."""
    emulator.revoke_user("alices")
    emulator.expire_tokens()
    cli_start(monkeypatch, slack_env, "--escalate-to", "UBOSS", "--remind-every", "1d", "--wait")
    (notice,) = key_notices(slack, "UBOSS")
    assert "<@UALICE>'s MySafe key no longer works (MySafe refuses it)" in notice
    assert "`/mysafe login`" in notice and "not in this review" in notice
    assert cards(slack) == {"UDAVE": 1}
    reviews = bot.runtime.reviews
    assert reviews is not None
    assert reviews.report("Q1", record=False).totals["reviewers_escalated"] == 1
    assert json.loads(reviews.report("Q1", record=False).json)["reviewers_escalated"] == {
        "UALICE": "key_rejected"
    }
    assert escalated_for_keys(bot) == [
        {"campaign": "Q1", "reviewer": "UALICE", "why": "key_rejected", "lines": "0", "to": "UBOSS"}
    ]
    campaign = reviews.store.campaign("Q1")
    assert campaign is not None
    sweeper(bot).sweep(now=campaign.started + DAY + 1)  # the reminder pass owes nothing more
    assert len(key_notices(slack, "UBOSS")) == 1


def test_a_reviewer_whose_key_dies_mid_campaign_has_their_undecided_lines_escalated_once(
    bot: Bot,
    prod: int,
    emulator: Emulator,
    slack: SlackFake,
    slack_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """dave decides bobm's line, then MySafe stops taking his key: his next clicks fail, and
    UBOSS gets his two undecided lines (cards) and one notice, however often he clicks."""
    cli_start(monkeypatch, slack_env, "--escalate-to", "UBOSS", "--wait")
    reviews = bot.runtime.reviews
    assert reviews is not None
    reviews.decide("Q1", line(prod, "bobm"), "UDAVE", Choice.KEEP)
    emulator.revoke_user("dave")
    emulator.expire_tokens()
    with pytest.raises(CredentialsRejected):
        reviews.decide("Q1", line(prod, "carol"), "UDAVE", Choice.KEEP)
    with pytest.raises(CredentialsRejected):
        reviews.keep_all("Q1", f"password:{prod}", "UDAVE")
    assert key_notices(slack, "UBOSS") == []  # the worker sends it
    assert sweeper(bot).sweep() == 1
    assert sweeper(bot).sweep() == 0
    (notice,) = key_notices(slack, "UBOSS")
    assert "<@UDAVE>'s MySafe key no longer works (MySafe refuses it)" in notice
    assert "Their 2 undecided lines on 1 entry are yours to decide" in notice
    assert cards(slack) == {"UALICE": 1, "UDAVE": 1, "UBOSS": 1}
    assert reviews.store.waiting("Q1", "UBOSS") == (2, 1)  # carol and dave, not bobm (kept)
    assert reviews.report("Q1", record=False).totals["escalated"] == 2
    assert reviews.report("Q1", record=False).totals["reviewers_escalated"] == 1
    assert escalated_for_keys(bot) == [
        {"campaign": "Q1", "reviewer": "UDAVE", "why": "key_rejected", "lines": "2", "to": "UBOSS"}
    ]


def test_an_unlinked_reviewer_without_an_escalation_target_is_named_to_the_approvers(
    bot: Bot, prod: int, slack: SlackFake
) -> None:
    """No `escalate_to`: the approvals channel is told; dave's lines wait for alices."""
    reviews = bot.runtime.reviews
    assert reviews is not None
    reviews.start(name="Q1", due=DAY, tags=["prod"])
    bot.services.vault.unlink("UDAVE")
    with pytest.raises(CredentialsMissing):
        reviews.decide("Q1", line(prod, "bobm"), "UDAVE", Choice.KEEP)
    sweeper(bot).sweep()
    (notice,) = key_notices(slack, "C0APPROVALS")
    assert "<@UDAVE>'s MySafe key no longer works (it was unlinked)" in notice
    assert "wait for the entries' other reviewers" in notice
    assert reviews.report("Q1", record=False).totals["reviewers_escalated"] == 1


def test_at_the_due_date_a_removal_is_filed_with_a_key_that_still_works(
    bot: Bot,
    prod: int,
    emulator: Emulator,
    slack_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """alices' key dies mid-campaign (her click fails): `on_timeout: revoke` files bobm's and
    carol's removals with dave's key; dave's own line had only her to file it."""
    cli_start(monkeypatch, slack_env, "--on-timeout", "revoke", "--wait")
    reviews = bot.runtime.reviews
    assert reviews is not None
    emulator.revoke_user("alices")
    emulator.expire_tokens()
    with pytest.raises(CredentialsRejected):
        reviews.decide("Q1", line(prod, "bobm"), "UALICE", Choice.REMOVE)
    campaign = reviews.store.campaign("Q1")
    assert campaign is not None
    sweeper(bot).sweep(now=campaign.due + 1)
    assert [u["username"] for u in emulator.get_password(prod)["users_allowed"]] == ["dave"]
    decisions = reviews.store.decisions("Q1")
    for who in ("bobm", "carol"):
        request = bot.engine.get(decisions[line(prod, who)].request)
        assert request.requester == "UDAVE"
    (timed_out,) = [r for r in bot.engine.audit.read() if r.event == "review.timed_out"]
    assert (timed_out.facts["revoked"], timed_out.facts["failed"]) == ("2", "1")
