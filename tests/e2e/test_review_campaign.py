"""An access review campaign end to end: start from the CLI, DM cards, decisions by click,
a removal through the engine and read back, the report and its audited digest.

The MySafe emulator over HTTP, real Redis, the recording Slack fake (it refuses what Slack
refuses), signed clicks through `POST /slack/events`. Tests wait for recorded calls.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from app.approvals.machine import State
from app.approvals.review_records import Choice
from app.foundations.errors import ApprovalError
from app.ops.cli import main
from app.sandbox.emulator import Emulator
from app.slack.review_cards import (
    REVIEW_KEEP,
    REVIEW_KEEP_ALL,
    REVIEW_REDUCE,
    REVIEW_REMOVE,
    ReviewCards,
)
from app.slack.sent_cards import SentCards
from tests.e2e.test_slack_verbs import APPROVER, approval_posts, dms_to, readable, request_id_in
from tests.support.slack_fake import SlackCall, SlackFake
from tests.support.slack_harness import SIGNING_SECRET, Bot, served_bot
from tests.support.slack_requests import SlackClient


@pytest.fixture
def entries(bot: Bot, emulator: Emulator, link) -> tuple[int, int]:
    """alices owns a prod entry (bobm, carol and erin view, dave edit, group Ops view) and a
    dev one; dave has linked his key too, so he reviews the prod entry beside her."""
    link("UALICE", "alices")
    link("UDAVE", "dave")
    for name in ("bobm", "carol", "erin"):
        emulator.add_user(name)
    emulator.add_group("Ops", ["bobm"])
    prod = emulator.add_password(
        "alices",
        name="Prod DB",
        username="dba",
        password="x-Pa55word!",
        tags="prod",
        users_allowed=[
            {"username": "bobm"},
            {"username": "carol"},
            {"username": "erin"},
            {"username": "dave", "can_edit": True},
        ],
        groups_allowed=[{"name": "Ops"}],
    )
    dev = emulator.add_password(
        "alices",
        name="Dev DB",
        username="dev",
        password="y-Pa55word!",
        tags="dev",
        users_allowed=[{"username": "carol"}],
    )
    return prod, dev


@pytest.fixture
def started(
    entries: tuple[int, int],
    slack_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    slack: SlackFake,
) -> str:
    """`mysafe-bot review start --name Q1 --due 14d --tags prod`; returns what it printed."""
    for name, value in slack_env.items():
        monkeypatch.setenv(name, value)
    assert main(["review", "start", "--name", "Q1", "--due", "14d", "--tags", "prod", "--wait"]) == 0
    return capsys.readouterr().out


def card_of(slack: SlackFake, reviewer: str) -> SlackCall:
    (card,) = dms_to(slack, reviewer)
    return card


def buttons(card: dict[str, Any] | SlackCall) -> dict[tuple[str, str], str]:
    """(action_id, grantee line id) -> value, for every button on a card."""
    blocks = card.args["blocks"] if isinstance(card, SlackCall) else card["blocks"]
    return {
        (e["action_id"], e["value"].split(" ", 1)[1]): e["value"]
        for b in blocks
        if b["type"] == "actions"
        for e in b["elements"]
    }


def click(user: SlackClient, who: str, action: str, value: str) -> None:
    assert user.click(who, action, value, channel="D0DM").status_code == 200


def redrawn(slack: SlackFake, words: str) -> SlackCall:
    return slack.wait_for(lambda: [c for c in slack.calls_to("chat.update") if words in readable(c)])[
        -1
    ]


def line(prod: int, who: str, field: str = "users_allowed") -> str:
    return f"password:{prod}:{field}:{who}"


def test_start_sends_each_reviewer_a_card_of_the_entries_they_can_edit(
    started: str, slack: SlackFake, entries: tuple[int, int]
) -> None:
    prod, _ = entries
    assert "review Q1: 5 lines on 1 entries, 2 reviewers, 2 cards sent" in started
    for reviewer in ("UALICE", "UDAVE"):
        card = card_of(slack, reviewer)
        shown = card.blocks_text()
        assert "Access review Q1" in shown and "Prod DB" in shown and "Dev DB" not in shown
        assert "*bobm* (view)" in shown and "*group Ops* (view)" in shown and "*dave* (edit)" in shown
        assert (REVIEW_REMOVE, line(prod, "bobm")) in buttons(card)
        assert (REVIEW_KEEP_ALL, f"password:{prod}") in buttons(card)


def test_a_removal_goes_through_the_engine_with_the_reviewers_key_and_is_read_back(
    started: str,
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    emulator: Emulator,
    entries: tuple[int, int],
) -> None:
    prod, _ = entries
    value = buttons(card_of(slack, "UALICE"))[(REVIEW_REMOVE, line(prod, "ops", "groups_allowed"))]
    click(user, "UALICE", REVIEW_REMOVE, value)
    post = slack.wait_for(lambda: approval_posts(slack))[0]
    request_id = request_id_in(post.blocks_text())
    assert "group Ops" in post.blocks_text() and "in an access review" in post.blocks_text()
    assert emulator.get_password(prod)["groups_allowed"] != []  # nothing without an approver

    redrawn(slack, f"removal asked by <@UALICE> as `{request_id}` — pending")
    assert user.click(APPROVER, "approve", request_id).status_code == 200
    slack.wait_for(lambda: bot.engine.get(request_id).state is State.APPLIED)
    assert emulator.get_password(prod)["groups_allowed"] == []
    put = emulator.calls_to("PUT", "/api/mysafe/password/update")[-1]
    assert put.user == "alices"  # the reviewer's own key
    reviews = bot.runtime.reviews
    assert reviews is not None
    decided = slack.wait_for(
        lambda: (
            (d := reviews.store.decisions("Q1")[line(prod, "ops", "groups_allowed")]).result
            not in ("", "pending")
            and d
        )
    )
    assert (decided.choice, decided.by, decided.request, decided.result) == (
        Choice.REMOVE,
        "UALICE",
        request_id,
        "removed",
    )
    redrawn(slack, f"removal asked by <@UALICE> as `{request_id}` — removed")


def test_a_card_slack_refuses_is_named_and_the_other_reviewers_still_get_theirs(
    entries: tuple[int, int],
    slack_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    slack: SlackFake,
) -> None:
    prod, _ = entries
    for name, value in slack_env.items():
        monkeypatch.setenv(name, value)
    slack.fail("chat.postMessage", error="user_not_found")  # the first card: alices'
    assert main(["review", "start", "--name", "Q1", "--due", "14d", "--tags", "prod", "--wait"]) == 0
    said = capsys.readouterr()
    assert "1 cards sent" in said.out
    assert f"card for password:{prod} not sent to UALICE: Slack said user_not_found" in said.err
    assert "Access review Q1" in card_of(slack, "UDAVE").blocks_text()


def test_reduce_to_view_is_offered_for_edit_and_lowers_the_right_through_the_engine(
    started: str,
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    emulator: Emulator,
    entries: tuple[int, int],
) -> None:
    prod, _ = entries
    offered = buttons(card_of(slack, "UALICE"))
    assert (REVIEW_REDUCE, line(prod, "bobm")) not in offered  # view already
    click(user, "UALICE", REVIEW_REDUCE, offered[(REVIEW_REDUCE, line(prod, "dave"))])
    post = slack.wait_for(lambda: approval_posts(slack))[0]
    assert "reduce *dave* to view" in readable(post) and "↓ dave: edit → view" in readable(post)
    request_id = request_id_in(post.blocks_text())
    assert user.click(APPROVER, "approve", request_id).status_code == 200
    reviews = bot.runtime.reviews
    assert reviews is not None
    decided = slack.wait_for(
        lambda: (
            (d := reviews.store.decisions("Q1")[line(prod, "dave")]).result not in ("", "pending") and d
        )
    )
    assert (decided.choice, decided.result) == (Choice.REDUCE, "reduced")
    dave = next(u for u in emulator.get_password(prod)["users_allowed"] if u["username"] == "dave")
    assert dave["can_edit"] is False
    others = [u for u in emulator.get_password(prod)["users_allowed"] if u["username"] != "dave"]
    assert {u["username"] for u in others} == {"bobm", "carol", "erin"}
    with pytest.raises(ApprovalError, match="nothing to reduce"):
        reviews.decide("Q1", line(prod, "bobm"), "UALICE", Choice.REDUCE)


def test_a_keep_shows_who_decided_on_every_reviewers_card_and_a_second_click_is_not_counted(
    started: str, bot: Bot, user: SlackClient, slack: SlackFake, entries: tuple[int, int]
) -> None:
    prod, _ = entries
    value = buttons(card_of(slack, "UALICE"))[(REVIEW_KEEP, line(prod, "bobm"))]
    click(user, "UALICE", REVIEW_KEEP, value)
    updates = slack.wait_for(
        lambda: (
            len(found := [c for c in slack.calls_to("chat.update") if "kept by" in c.blocks_text()])
            >= 2
            and found
        )
    )
    assert bot.runtime.reviews is not None
    # where the front keeps its cards
    cards = SentCards(bot.services.redis, prefix=bot.runtime.settings.key_prefix).of(
        "Q1", f"password:{prod}"
    )
    assert {(c.args["channel"], c.args["ts"]) for c in updates} == {(ch, ts) for _, _, ch, ts in cards}
    assert all("*bobm* (view): ✅ kept by <@UALICE>" in readable(c) for c in updates)
    assert (REVIEW_KEEP, line(prod, "bobm")) not in buttons(updates[-1])

    before = len(slack.responses)
    click(user, "UDAVE", REVIEW_REMOVE, value)
    told = slack.wait_responses(before + 1)[before]["text"]
    assert "<@UALICE> decided that line already (keep)" in told


def test_two_reviewers_deciding_one_line_at_once_make_one_decision(
    started: str, bot: Bot, entries: tuple[int, int]
) -> None:
    prod, _ = entries
    reviews = bot.runtime.reviews
    assert reviews is not None
    both = threading.Barrier(2)
    outcomes = []

    def decide(reviewer: str) -> None:
        both.wait()
        outcomes.append(reviews.decide("Q1", line(prod, "carol"), reviewer, Choice.KEEP))

    threads = [threading.Thread(target=decide, args=(r,)) for r in ("UALICE", "UDAVE")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(o.new for o in outcomes) == [False, True]
    assert outcomes[0].decided == outcomes[1].decided


def test_each_reviewers_app_home_says_how_many_lines_wait_for_them(
    started: str, bot: Bot, user: SlackClient, slack: SlackFake, entries: tuple[int, int]
) -> None:
    prod, _ = entries

    def home(who: str, count: int) -> str:
        user.event({"type": "app_home_opened", "user": who, "channel": "D1", "tab": "home"})
        found = slack.wait_for(
            lambda: [c for c in slack.calls_to("views.publish") if c.args["user_id"] == who][
                count - 1 :
            ]
        )
        return readable(found[0])

    assert "*Q1*: 5 lines on 1 entry wait for your decision" in home("UALICE", 1)
    assert "*Q1*: 4 lines on 1 entry wait" in home("UDAVE", 1)  # not his own access
    assert bot.runtime.reviews is not None
    bot.runtime.reviews.decide("Q1", line(prod, "bobm"), "UDAVE", Choice.KEEP)
    assert "*Q1*: 4 lines on 1 entry wait" in home("UALICE", 2)


def test_a_running_campaigns_progress_is_a_prometheus_gauge(
    started: str, bot: Bot, entries: tuple[int, int]
) -> None:
    prod, _ = entries
    reviews = bot.runtime.reviews
    assert reviews is not None
    reviews.decide("Q1", line(prod, "bobm"), "UALICE", Choice.KEEP)
    text = requests.get(f"{bot.url}/metrics", timeout=5).text
    assert re.search(
        r'^mysafe_bot_review_lines\{campaign="Q1",decision="undecided"\} 4\.0$', text, re.M
    )
    assert re.search(r'^mysafe_bot_review_lines\{campaign="Q1",decision="keep"\} 1\.0$', text, re.M)


def test_a_line_changed_since_the_start_is_not_decided(
    started: str, bot: Bot, slack: SlackFake, emulator: Emulator, entries: tuple[int, int]
) -> None:
    prod, _ = entries
    shown = emulator.get_password(prod)["users_allowed"]
    emulator.update_entry(
        "password",
        prod,
        users_allowed=[{**u, "can_edit": True} if u["username"] == "erin" else u for u in shown],
    )
    reviews = bot.runtime.reviews
    assert reviews is not None
    with pytest.raises(ApprovalError, match="erin now has edit .the card showed view."):
        reviews.decide("Q1", line(prod, "erin"), "UALICE", Choice.REMOVE)
    kept = reviews.keep_all("Q1", f"password:{prod}", "UALICE")
    assert sorted(o.line.name for o in kept) == ["Ops", "bobm", "carol", "dave"]
    assert line(prod, "erin") not in reviews.store.decisions("Q1")
    assert approval_posts(slack) == []  # nothing is filed for a keep


def test_a_reviewer_cannot_decide_their_own_access_and_a_cancelled_review_takes_no_decision(
    started: str, bot: Bot, entries: tuple[int, int], capsys: pytest.CaptureFixture[str]
) -> None:
    prod, _ = entries
    reviews = bot.runtime.reviews
    assert reviews is not None
    with pytest.raises(ApprovalError, match="your own access"):
        reviews.decide("Q1", line(prod, "dave"), "UDAVE", Choice.KEEP)
    assert main(["review", "cancel", "Q1"]) == 0
    with pytest.raises(ApprovalError, match="not running"):
        reviews.decide("Q1", line(prod, "bobm"), "UALICE", Choice.KEEP)
    assert main(["review", "status", "Q1"]) == 0
    assert "Q1: cancelled" in capsys.readouterr().out


def test_the_report_has_every_line_and_its_digest_is_in_the_audit_log(
    started: str,
    bot: Bot,
    entries: tuple[int, int],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    prod, _ = entries
    reviews = bot.runtime.reviews
    assert reviews is not None
    reviews.decide("Q1", line(prod, "bobm"), "UALICE", Choice.KEEP)
    assert main(["review", "report", "Q1", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "Q1.json").read_text())
    assert report["totals"]["lines"] == 5 and report["totals"]["kept"] == 1
    assert report["totals"]["undecided"] == 4
    bobm = next(r for r in report["lines"] if r["grantee"] == "bobm")
    assert (bobm["decision"], bobm["decided_by"], bobm["result"]) == ("keep", "UALICE", "kept")
    csv_text = (tmp_path / "Q1.csv").read_text()
    assert csv_text.splitlines()[0].startswith("kind,entry_id,entry_name,grantee_type,grantee,right")
    assert "x-Pa55word!" not in csv_text + json.dumps(report)
    (audited,) = [r for r in bot.engine.audit.read() if r.event == "review.report"]
    assert audited.facts["csv_sha256"] == hashlib.sha256(csv_text.encode()).hexdigest()
    assert (
        audited.facts["json_sha256"] == hashlib.sha256((tmp_path / "Q1.json").read_bytes()).hexdigest()
    )
    assert audited.facts["csv_sha256"] in capsys.readouterr().out


@pytest.fixture
def review_policy(tmp_path: Path) -> Path:
    policy = tmp_path / "policy.yml"
    policy.write_text(
        "rules:\n"
        "  - name: review-removals\n"
        "    match: {verbs: [unshare], sources: [review]}\n"
        "    approvals: 0\n"
        "  - name: default\n"
        "    approvals: 1\n"
    )
    return policy


def test_a_policy_rule_may_apply_review_removals_at_once(
    review_policy: Path,
    slack_env: dict[str, str],
    redis,
    emulator: Emulator,
    link,
    monkeypatch: pytest.MonkeyPatch,
    slack: SlackFake,
) -> None:
    with served_bot({**slack_env, "MYSAFE_BOT_POLICY": str(review_policy)}, redis) as bot:
        link("UALICE", "alices")
        emulator.add_user("bobm")
        prod = emulator.add_password(
            "alices",
            name="Prod DB",
            username="dba",
            password="x-Pa55word!",
            tags="prod",
            users_allowed=[{"username": "bobm"}],
        )
        reviews = bot.runtime.reviews
        assert reviews is not None
        reviews.start(name="Q2", due=86400)
        outcome = reviews.decide("Q2", line(prod, "bobm"), "UALICE", Choice.REMOVE)
        assert outcome.new and outcome.decided.result == "removed"
        assert emulator.get_password(prod)["users_allowed"] == []
        assert bot.engine.get(outcome.decided.request).rule == "review-removals"


@pytest.mark.slow
def test_a_campaign_of_500_shares_across_50_reviewers_runs_end_to_end(
    review_policy: Path,
    slack_env: dict[str, str],
    redis,
    emulator: Emulator,
    link,
    slack: SlackFake,
    tmp_path: Path,
) -> None:
    """50 reviewers each own an entry shared with 10 people; all click at once (8 at a time):
    8 keeps and 2 removals each, removals applied at once under the policy and read back."""
    grantees = [f"g{i:02d}" for i in range(30)]
    for name in grantees:
        emulator.add_user(name)
    with served_bot({**slack_env, "MYSAFE_BOT_POLICY": str(review_policy)}, redis) as bot:
        user = SlackClient(bot.url, SIGNING_SECRET, slack.response_url)
        reviewers = [f"UREV{i:03d}" for i in range(50)]
        for i, reviewer in enumerate(reviewers):
            link(reviewer, f"rev{i:03d}")
            emulator.add_password(
                f"rev{i:03d}",
                name=f"Entry {i}",
                username="svc",
                password="x-Pa55word!",
                users_allowed=[{"username": grantees[(i + j) % 30]} for j in range(10)],
            )
        reviews = bot.runtime.reviews
        assert reviews is not None
        began = time.monotonic()
        campaign, lines = reviews.start(name="Big", due=86400)
        posted = ReviewCards(bot.runtime.slack, reviews.store).post(campaign, lines)
        started = time.monotonic() - began
        assert (len(lines), posted.cards, posted.failed) == (500, 50, ())

        clicks = []
        for card in (
            c for c in slack.calls_to("chat.postMessage") if c.args["channel"].startswith("UREV")
        ):
            found = sorted(v for (action, _), v in buttons(card).items() if action == REVIEW_KEEP)
            for index, value in enumerate(found):
                action = REVIEW_REMOVE if index < 2 else REVIEW_KEEP
                clicks.append((card.args["channel"], action, value))
        assert len(clicks) == 500
        began = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda c: click(user, *c), clicks))
        settled = slack.wait_for(
            lambda: (
                len(d := reviews.store.decisions("Big")) == 500
                and all(
                    x.result not in ("", "pending") for x in d.values() if x.choice is Choice.REMOVE
                )
                and d
            ),
            timeout=300,
        )
        decided = time.monotonic() - began
        report = reviews.report("Big")
        assert report.totals["kept"] == 400 and report.totals["removed"] == 100
        assert report.totals["drift"] == 0 and report.totals["undecided"] == 0
        assert all(settled[ln.id].by in ln.reviewers for ln in lines)
        remaining = sum(
            len(emulator.get_password(ln.identifier)["users_allowed"]) for ln in lines[::10]
        )
        assert remaining == 50 * 8
        print(f"\n500 lines / 50 reviewers: start {started:.2f} s, 500 clicks decided {decided:.2f} s")
