"""Access review cards: one DM per reviewer and entry (a page per `CARD_LINES` grantees), each
grantee with *Keep*, *Remove* and (for edit) *Reduce to view*, and *Keep all* for the entry; a
decided line shows who decided, on every reviewer's card of that entry.

Button values are `campaign line-id` (a line) or `campaign entry` (*Keep all*); the click is
a durable job like Approve (`app.slack.listeners.actions`), which calls
`app.approvals.review_campaigns` and then redraws the entry's cards here; as an engine
listener, the cards are redrawn again when a removal's outcome comes in.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from app import text
from app.approvals.change_request import ChangeRequest
from app.approvals.grants import named
from app.approvals.review_campaigns import SETTLED, SOURCE, Waiting
from app.approvals.review_sweep import Posted
from app.approvals.reviews import (
    TIMEOUT,
    Campaign,
    Choice,
    Decided,
    Line,
    ReviewStore,
    by_entry,
    line_id,
)
from app.slack.blocks import date

log = logging.getLogger(__name__)

Block = dict[str, Any]

REVIEW_KEEP, REVIEW_REMOVE, REVIEW_KEEP_ALL = "review_keep", "review_remove", "review_keep_all"
REVIEW_REDUCE = "review_reduce"
#: Grantees per card: two blocks each, with the heading, *Keep all* and a footer under 50.
CARD_LINES = 20


def pages(lines: Sequence[Line]) -> list[Sequence[Line]]:
    return [lines[i : i + CARD_LINES] for i in range(0, len(lines), CARD_LINES)] or [lines]


def card(
    campaign: Campaign, lines: Sequence[Line], decisions: Mapping[str, Decided], *, page: int, of: int
) -> tuple[str, list[Block]]:
    """One page of one entry's card: the fallback text and the blocks."""
    first = lines[0]
    where = f"{first.kind.label} {first.identifier} “{text.clip(first.entry_name, 200)}”"
    head = (
        f"*Access review {text.inline(campaign.name)}*: who should keep access to {where}? "
        f"Due {date(campaign.due)}."
    )
    if of > 1:
        head += f" (part {page} of {of})"
    if campaign.on_timeout == "revoke":
        head += " Lines nobody decides by then are removed."
    found: list[Block] = [_section(head)]
    open_lines = 0
    for line in lines:
        decided = decisions.get(line.id)
        found.append(_section(_line_text(line, decided)))
        if decided is None:
            open_lines += 1
            value = f"{campaign.name} {line.id}"
            choices = [
                _button("Keep", REVIEW_KEEP, value, "primary"),
                _button("Remove", REVIEW_REMOVE, value, "danger"),
            ]
            if line.right == "edit":
                choices.append(_button("Reduce to view", REVIEW_REDUCE, value, ""))
            found.append({"type": "actions", "elements": choices})
    if open_lines:
        entry = f"{campaign.name} {first.entry}"
        found.append({"type": "actions", "elements": [_button("Keep all", REVIEW_KEEP_ALL, entry, "")]})
    found.append(
        _context(
            "Remove and Reduce to view file a change request that the approvers decide; it "
            "is applied with your own MySafe key."
        )
    )
    fallback = f"Access review {campaign.name}: {where}, {open_lines} to decide"
    return text.plain(fallback), found


def _line_text(line: Line, decided: Decided | None) -> str:
    who = f"group {line.name}" if line.is_group else line.name
    shown = f"*{text.inline(who)}* ({line.right})"
    if decided is None:
        return shown
    by = "the due date" if decided.by == TIMEOUT else f"<@{decided.by}>"
    if decided.choice is Choice.KEEP and decided.by == TIMEOUT:
        return f"{shown}: not reviewed, kept at the due date"
    if decided.choice is Choice.KEEP:
        return f"{shown}: ✅ kept by {by} {date(decided.at)}"
    request = f" as `{decided.request}`" if decided.request else ""
    result = f" — {text.inline(decided.result)}" if decided.result else ""
    asked = "reduction to view" if decided.choice is Choice.REDUCE else "removal"
    mark = "↓" if decided.choice is Choice.REDUCE else "🗑"
    return f"{shown}: {mark} {asked} asked by {by}{request}{result}"


def _section(value: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": value, "verbatim": True}}


def _context(value: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": value, "verbatim": True}]}


def _button(label: str, action_id: str, value: str, style: str) -> Block:
    button = {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "action_id": action_id,
        "value": value,
    }
    return {**button, "style": style} if style else button


#: Campaigns a reviewer's Home lists; more are counted, never left out unsaid.
HOME_CAMPAIGNS = 5


def home_blocks(waiting: Sequence[Waiting]) -> list[Block]:
    """The App Home's section for a reviewer: each running campaign with lines they have
    still to decide (the cards themselves are in their DMs with the bot)."""
    if not waiting:
        return []
    found: list[Block] = [{"type": "header", "text": {"type": "plain_text", "text": "Access reviews"}}]
    for one in waiting[:HOME_CAMPAIGNS]:
        lines = f"{one.lines} line{'s' if one.lines != 1 else ''}"
        entries = f"{one.entries} entr{'ies' if one.entries != 1 else 'y'}"
        found.append(
            _section(
                f"*{text.inline(one.campaign.name)}*: {lines} on {entries} wait for your "
                f"decision, due {date(one.campaign.due)}. Your cards are in your messages "
                "with the bot."
            )
        )
    if len(waiting) > HOME_CAMPAIGNS:
        found.append(_context(f"…and {len(waiting) - HOME_CAMPAIGNS} more reviews waiting for you."))
    return found


def reminder(campaign: Campaign, *, lines: int, entries: int) -> tuple[str, list[Block]]:
    """A reviewer's reminder: what still waits for them, by when, and what the due date does
    to what they leave undecided."""
    said = f"{lines} line{'s' if lines != 1 else ''} on {entries} "
    said += "entries" if entries != 1 else "entry"
    if campaign.on_timeout == "revoke":
        ahead = "Access nobody decides on by then is removed."
    elif campaign.on_timeout == "escalate":
        people = ", ".join(f"<@{who}>" for who in campaign.escalate_to)
        ahead = f"What nobody decides by then goes to {people}."
    else:
        ahead = "Access nobody decides on by then is kept, marked not reviewed."
    message = (
        f"Reminder: access review *{text.inline(campaign.name)}* has {said} waiting for your "
        f"decision, due {date(campaign.due)}. {ahead} Your cards are in your messages with "
        "the bot."
    )
    return text.plain(message), [_section(message)]


#: Why a reviewer's key no longer works (app.approvals.review_campaigns.key_gone), in words.
KEY_GONE = {
    "key_rejected": "MySafe refuses it",
    "key_unlinked": "it was unlinked",
    "key_unreadable": "the bot can no longer decrypt it",
}


def key_gone_notice(
    campaign: Campaign, reviewer: str, *, why: str, lines: int, entries: int
) -> tuple[str, list[Block]]:
    """What the escalation target (or the approvers) is told of a reviewer whose MySafe key no
    longer works: who, why, and what of theirs is now the target's."""
    said = KEY_GONE.get(why, "it no longer works")
    theirs = f"Their {lines} undecided line{'s' if lines != 1 else ''} on {entries} "
    theirs += "entries" if entries != 1 else "entry"
    if lines and campaign.escalate_to:
        rest = f"{theirs} are yours to decide: the cards follow."
    elif lines:
        rest = f"{theirs} wait for the entries' other reviewers."
    else:
        rest = (
            "The bot cannot list what their key would show: entries only they can edit are "
            "not in this review."
        )
    message = (
        f"Access review *{text.inline(campaign.name)}*: <@{reviewer}>'s MySafe key no longer "
        f"works ({said}), so they cannot review with it; they should relink it with "
        f"`/mysafe login`. {rest}"
    )
    return text.plain(message), [_section(message)]


class ReviewCards:
    """Posts each reviewer's cards and redraws an entry's cards after a decision."""

    def __init__(self, client: WebClient, store: ReviewStore, *, channel: str = "") -> None:
        self.client = client
        self.store = store
        self.channel = channel  # the approvals channel: escalations without `escalate_to`

    def post(
        self, campaign: Campaign, lines: Sequence[Line], *, to: Collection[str] | None = None
    ) -> Posted:
        """DM every reviewer (of `to`, when given) a card per entry they review; a card sent
        before (a start job run again) is not sent again. A card Slack refuses (a reviewer
        who left: `user_not_found`, `account_inactive`) is counted and named, and the others
        are still sent."""
        posted, failed = 0, []
        sent = self.store.card_keys(campaign.name)
        decisions = self.store.decisions(campaign.name)  # an escalation's cards show them
        for entry, entry_lines in by_entry(lines).items():
            parts = pages(entry_lines)
            for reviewer in dict.fromkeys(r for ln in entry_lines for r in ln.reviewers):
                if to is not None and reviewer not in to:
                    continue
                for page, part in enumerate(parts, start=1):
                    if f"{reviewer}|{entry}|{page}" in sent:
                        continue
                    fallback, found = card(campaign, part, decisions, page=page, of=len(parts))
                    try:
                        answer = self.client.chat_postMessage(
                            channel=reviewer, text=fallback, blocks=found
                        )
                    except SlackApiError as error:
                        failed.append((reviewer, entry, str(error.response.get("error", ""))))
                        continue
                    where = (str(answer["channel"]), str(answer["ts"]))
                    self.store.add_card(campaign.name, reviewer, entry, page, where)
                    posted += 1
        return Posted(posted, tuple(failed))

    def remind(self, campaign: Campaign, reviewer: str, *, lines: int, entries: int) -> str:
        """A DM: what still waits for `reviewer` (see `reminder`); Slack's error when it
        refuses it ("" when sent)."""
        fallback, found = reminder(campaign, lines=lines, entries=entries)
        try:
            self.client.chat_postMessage(channel=reviewer, text=fallback, blocks=found)
        except SlackApiError as error:  # the next interval reminds them again
            said = str(error.response.get("error", ""))
            log.warning(
                "review reminder not sent", extra={"event": "review.remind_failed", "error": said}
            )
            return said or "refused"
        return ""

    def key_gone(self, campaign: Campaign, reviewer: str, *, why: str, lines: int, entries: int) -> int:
        """DM `escalate_to` (or post in the approvals channel) that `reviewer`'s key no longer
        works (see `key_gone_notice`); notices Slack took."""
        fallback, found = key_gone_notice(campaign, reviewer, why=why, lines=lines, entries=entries)
        sent = 0
        for channel in campaign.escalate_to or ([self.channel] if self.channel else []):
            try:
                self.client.chat_postMessage(channel=channel, text=fallback, blocks=found)
            except SlackApiError as error:  # audited as escalated; the log says it was refused
                said = error.response.get("error", "")
                log.warning(
                    "review escalation not sent",
                    extra={"event": "review.escalation_failed", "error": said},
                )
                continue
            sent += 1
        return sent

    def __call__(self, request: ChangeRequest, event: str) -> None:
        """An engine listener: a removal's or reduction's outcome (filed on its line by
        `Reviews`, an earlier listener) is shown on the cards of its entry."""
        change = request.change
        if request.source != SOURCE or event not in SETTLED or change.identifier is None:
            return
        for field, _ in named(change):
            name = self.store.expected(line_id(change.kind, change.identifier, field, _))
            campaign = self.store.campaign(name) if name else None
            if campaign is not None:
                self.redraw(campaign, f"{change.kind.value}:{change.identifier}")
                return

    def redraw(self, campaign: Campaign, entry: str) -> None:
        """Every reviewer's card of `entry`, as the decisions stand now."""
        lines = self.store.entry_lines(campaign.name, entry)
        decisions = self.store.decisions_of(campaign.name, [ln.id for ln in lines])
        parts = pages(lines)
        for _reviewer, page, channel, ts in self.store.cards(campaign.name, entry):
            if page > len(parts):
                continue
            fallback, found = card(campaign, parts[page - 1], decisions, page=page, of=len(parts))
            try:
                self.client.chat_update(channel=channel, ts=ts, text=fallback, blocks=found)
            except SlackApiError as error:  # one card not redrawn leaves the others right
                log.warning(
                    "review card not updated",
                    extra={"event": "review.card_failed", "error": error.response.get("error", "")},
                )
