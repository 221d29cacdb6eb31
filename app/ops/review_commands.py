"""`mysafe-bot review start|status|cancel|report`: access review campaigns, for operators.

`start` makes the campaign's lines (see `app.approvals.review_campaigns`) and DMs every
reviewer a card per entry; reviewers decide in Slack. `report` writes NAME.csv and NAME.json
and records their SHA-256 in the audit log, so the verifiable log covers the evidence.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from app.approvals.review_records import new_campaign
from app.approvals.review_schedules import OnTimeout
from app.foundations.durations import parse_period
from app.foundations.errors import ConfigError, ValidationError
from app.mysafe.models import Kind
from app.ops.runtime import admin_runtime
from app.text import for_terminal


def start(
    *,
    name: str,
    due: str,
    tags: Sequence[str],
    kinds: Sequence[str],
    on_timeout: str = "keep",
    escalate_to: Sequence[str] = (),
    remind_every: str = "2d",
    wait: bool = False,
) -> int:
    """Queue the start as a durable job and return at once with the campaign's name (a worker
    runs it); `wait` runs it here, and a worker finishes it if this process dies."""
    seconds = _period("due", due)
    every = 0 if remind_every.strip() in ("0", "") else _period("remind-every", remind_every)
    runtime = admin_runtime()
    try:
        if runtime.slack is None or runtime.reviews is None or runtime.review_sweeper is None:
            raise ConfigError("SLACK_BOT_TOKEN", "a bot token, to send the reviewers their cards")
        campaign = new_campaign(
            name=name,
            due=seconds,
            tags=tags,
            kinds=[Kind(k) for k in kinds] or list(Kind),
            on_timeout=OnTimeout(on_timeout),
            escalate_to=escalate_to,
            remind_every=every,
        )
        if not runtime.reviews.begin(campaign, claimed=wait):
            raise ValidationError({"name": f"a campaign named {name} exists already"})
        if not wait:
            print(
                f"review {name}: starting (a worker reads MySafe and sends the cards); "
                f"`mysafe-bot review status {name}` shows its progress"
            )
            return 0
        started = runtime.review_sweeper.start(name)
    finally:
        runtime.close()
    if started is None:
        print(f"review {name}: not started (cancelled meanwhile)")
        return 1
    lines, posted = started.lines, started.posted
    reviewers = {r for ln in lines for r in ln.reviewers}
    entries = {ln.entry for ln in lines}
    print(
        f"review {name}: {len(lines)} lines on {len(entries)} entries, {len(reviewers)} reviewers, "
        f"{posted.cards} cards sent; due {_utc(campaign.due)}"
    )
    for reviewer, entry, said in posted.failed:
        print(
            f"mysafe-bot: card for {entry} not sent to {reviewer}: Slack said {said or 'no'}; "
            "their lines wait for the entry's other reviewers",
            file=sys.stderr,
        )
    return 0


def _period(option: str, value: str) -> int:
    try:
        return parse_period(value)
    except ValueError as error:
        raise ValidationError({option: str(error)}, f"--{option}: {error}") from None


def status(name: str | None) -> int:
    runtime = admin_runtime()
    try:
        assert runtime.reviews is not None  # every runtime has them
        store = runtime.reviews.store
        # A name whose start died before its campaign was made (or long expired) is skipped.
        names = [name] if name else [n for n in store.names() if store.campaign(n) is not None]
        for one in names:
            found = runtime.reviews.status(one)
            counts = ", ".join(
                f"{k} {v}" for k, v in found.items() if k not in ("name", "state", "due")
            )
            print(
                f"{for_terminal(one)}: {found['state']}, due {_utc(float(str(found['due'])))}; {counts}"
            )
        if not names:
            print("no reviews")
    finally:
        runtime.close()
    return 0


def cancel(name: str) -> int:
    runtime = admin_runtime()
    try:
        assert runtime.reviews is not None
        if not runtime.reviews.store.cancel(name):  # a start still queued finds it cancelled
            print(f"review {for_terminal(name)} is not running", flush=True)
            return 1
        runtime.engine.audit.record("review.cancelled", actor="cli", campaign=name)
    finally:
        runtime.close()
    print(f"review {for_terminal(name)} cancelled: decisions made stand, no more are taken")
    return 0


def report(name: str, *, out: str) -> int:
    runtime = admin_runtime()
    try:
        assert runtime.reviews is not None
        made = runtime.reviews.report(name)
    finally:
        runtime.close()
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.csv").write_text(made.csv, encoding="utf-8")
    (folder / f"{name}.json").write_text(made.json, encoding="utf-8")
    totals = ", ".join(f"{k} {v}" for k, v in made.totals.items())
    print(f"review {for_terminal(name)}: {totals}")
    for kind, digest in made.sha256.items():
        print(f"{folder / f'{name}.{kind}'}  sha256 {digest}  (recorded in the audit log)")
    return 0


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")
