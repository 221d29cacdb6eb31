"""The policy file's `reviews:`: read with the rules, refused at load with one clear line,
and a period's campaign name that every worker computes alike."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.approvals.policy import Defaults, parse_policy
from app.approvals.review_schedules import OnTimeout
from app.foundations.errors import ConfigError
from app.ops.cli import main

DEFAULTS = Defaults(approvals=1, approvers=frozenset({"UAPPROVER1"}), channel="C0APPROVALS")
RULES = "rules:\n  - name: default\n    approvals: 1\n"


def policy(reviews: str) -> str:
    return RULES + textwrap.dedent(reviews)


def test_a_schedule_is_read_with_the_rules() -> None:
    loaded = parse_policy(
        policy("""
        reviews:
          - name: quarterly-prod
            every: 90d
            due: 14d
            tags: [prod]
            kinds: [password]
            on_timeout: escalate
            escalate_to: [U0SECLEAD]
            remind_every: 3d
          - name: yearly
            every: 365d
            due: 30d
        """),
        DEFAULTS,
    )
    prod, yearly = loaded.reviews
    assert (prod.every, prod.due, prod.tags, prod.kinds) == (
        90 * 86400,
        14 * 86400,
        ("prod",),
        ("password",),
    )
    assert (prod.on_timeout, prod.escalate_to, prod.remind_every) == (
        OnTimeout.ESCALATE,
        ("U0SECLEAD",),
        3 * 86400,
    )
    assert (yearly.on_timeout, yearly.kinds, yearly.remind_every) == (OnTimeout.KEEP, (), 2 * 86400)


def test_schedules_change_the_policys_digest_and_none_leaves_it_as_before() -> None:
    without = parse_policy(RULES, DEFAULTS)
    with_one = parse_policy(policy("reviews:\n  - {name: q, every: 90d, due: 14d}\n"), DEFAULTS)
    assert without.reviews == ()
    assert with_one.digest != without.digest
    assert parse_policy(RULES + "reviews: []\n", DEFAULTS).digest == without.digest


@pytest.mark.parametrize(
    ("reviews", "said"),
    [
        ("- {name: q, every: 90d}", "review 1 “q”: due: Missing data for required field"),
        (
            "- {name: q, every: 2h, due: 1h}",
            "review 1 “q”: every: expected between 1 day(s) and 366 day(s)",
        ),
        ("- {name: q, every: 7d, due: 14d}", "review 1 “q”: due: is longer than every"),
        (
            "- {name: q, every: 7d, due: 1d, on_timeout: delete}",
            "review 1 “q”: on_timeout: Must be one of",
        ),
        (
            "- {name: q, every: 7d, due: 1d, on_timeout: escalate}",
            "review 1 “q”: escalate_to: on_timeout: escalate needs escalate_to",
        ),
        (
            "- {name: q, every: 7d, due: 1d, escalate_to: [U0LEAD]}",
            "review 1 “q”: escalate_to: is only used with on_timeout: escalate",
        ),
        (
            "- {name: q, every: 7d, due: 1d, on_timeout: escalate, escalate_to: [C0CHAN]}",
            "review 1 “q”: escalate_to: expected a Slack user ID",
        ),
        ("- {name: q, every: 7d, due: 1d, kinds: [note]}", "review 1 “q”: kinds: Must be one of"),
        ("- {name: q, every: 7d, due: 1d, owner: x}", "review 1 “q”: owner: Unknown field"),
        ("- {name: 'bad name', every: 7d, due: 1d}", "review 1 “bad name”: name: expected letters"),
        (
            "- {name: q, every: 7d, due: 1d}\n- {name: Q, every: 7d, due: 1d}",
            "review 2 “Q”: name: used twice",
        ),
        ("- {name: q, every: 7d, due: soon}", "review 1 “q”: due: "),
        ("- just-a-name", "review 1: expected a mapping"),
        ("{name: q}", "reviews: expected a list"),
    ],
)
def test_a_bad_schedule_stops_the_load_with_one_line_naming_it(reviews: str, said: str) -> None:
    text = RULES + "reviews:\n" + textwrap.indent(reviews, "  ") + "\n"
    with pytest.raises(ConfigError) as raised:
        parse_policy(text, DEFAULTS, origin="policy.yml")
    message = str(raised.value)
    assert "MYSAFE_BOT_POLICY" in message and f"policy.yml: {said}" in message
    assert "\n" not in message


def test_each_period_has_one_campaign_name_that_every_worker_computes_alike() -> None:
    (schedule,) = parse_policy(
        policy("reviews:\n  - {name: q, every: 7d, due: 1d}\n"), DEFAULTS
    ).reviews
    thursday = datetime(2026, 12, 3, tzinfo=UTC).timestamp()  # 1970-01-01 was a Thursday
    first = schedule.period(thursday + 60)
    assert first == schedule.period(thursday + 7 * 86400 - 1)
    assert first.campaign == "q-20261203"
    assert schedule.period(thursday + 7 * 86400).campaign == "q-20261210"


def test_the_example_policys_commented_reviews_load_once_uncommented() -> None:
    text = (Path(__file__).parents[3] / "deploy" / "policy.example.yml").read_text()
    start = text.index("# reviews:")
    uncommented = text[:start] + "".join(
        line[2:] if line.startswith("# ") else line for line in text[start:].splitlines(True)
    )
    quarterly, yearly = parse_policy(uncommented, DEFAULTS).reviews
    assert (quarterly.name, quarterly.on_timeout, quarterly.escalate_to) == (
        "quarterly-prod",
        OnTimeout.ESCALATE,
        ("U0SECLEAD",),
    )
    assert (yearly.every, yearly.on_timeout) == (365 * 86400, OnTimeout.REVOKE)
    assert parse_policy(text, DEFAULTS).reviews == ()  # commented out, as shipped


def test_policy_check_lists_the_schedules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "policy.yml"
    path.write_text(
        policy("""
        reviews:
          - {name: quarterly-prod, every: 90d, due: 14d, tags: [prod], on_timeout: escalate,
             escalate_to: [U0SECLEAD]}
        """)
    )
    assert main(["policy", "check", str(path)]) == 0
    assert (
        "  review quarterly-prod: every 90 days, due 14 days; tags [prod]; reminders every 2 days; "
        "on timeout escalate to [U0SECLEAD]\n"
    ) in capsys.readouterr().out
