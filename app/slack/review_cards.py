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
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from app import text
from app.approvals.change_request import ChangeRequest
from app.approvals.decision import Event, EveryChange
from app.approvals.grants import named
from app.approvals.review_campaigns import SETTLED, SOURCE, Waiting
from app.approvals.review_records import TIMEOUT, Campaign, Choice, Decided, Line, by_entry, line_id
from app.approvals.review_sweep import Posted
from app.approvals.reviews import ReviewStore
from app.i18n import N_, _, current, ngettext
from app.slack.blocks import date
from app.slack.languages import Languages
from app.slack.sent_cards import SentCards

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
    where = f"{_(first.kind.label)} {first.identifier} “{text.clip(first.entry_name, 200)}”"
    head = _("*Access review {name}*: who should keep access to {entry}? Due {when}.").format(
        name=text.inline(campaign.name), entry=where, when=date(campaign.due)
    )
    if of > 1:
        head += _(" (part {page} of {pages})").format(page=page, pages=of)
    if campaign.on_timeout == "revoke":
        head += _(" Lines nobody decides by then are removed.")
    found: list[Block] = [_section(head)]
    open_lines = 0
    for line in lines:
        decided = decisions.get(line.id)
        found.append(_section(_line_text(line, decided)))
        if decided is None:
            open_lines += 1
            value = f"{campaign.name} {line.id}"
            choices = [
                _button(_("Keep"), REVIEW_KEEP, value, "primary"),
                _button(_("Remove"), REVIEW_REMOVE, value, "danger"),
            ]
            if line.right == "edit":
                choices.append(_button(_("Reduce to view"), REVIEW_REDUCE, value, ""))
            found.append({"type": "actions", "elements": choices})
    if open_lines:
        entry = f"{campaign.name} {first.entry}"
        keep_all = _button(_("Keep all"), REVIEW_KEEP_ALL, entry, "")
        found.append({"type": "actions", "elements": [keep_all]})
    found.append(
        _context(
            _(
                "Remove and Reduce to view file a change request that the approvers decide; it "
                "is applied with your own MySafe key."
            )
        )
    )
    fallback = _("Access review {name}: {entry}, {count} to decide").format(
        name=campaign.name, entry=where, count=open_lines
    )
    return text.plain(fallback), found


def _line_text(line: Line, decided: Decided | None) -> str:
    who = _("group {name}").format(name=line.name) if line.is_group else line.name
    shown = f"*{text.inline(who)}* ({_(line.right)})"
    if decided is None:
        return shown
    if decided.choice is Choice.KEEP and decided.by == TIMEOUT:
        return shown + ": " + _("not reviewed, kept at the due date")
    by = _("the due date") if decided.by == TIMEOUT else f"<@{decided.by}>"
    if decided.choice is Choice.KEEP:
        return shown + ": " + _("✅ kept by {who} {when}").format(who=by, when=date(decided.at))
    request = _(" as `{request}`").format(request=decided.request) if decided.request else ""
    result = f" — {text.inline(decided.result)}" if decided.result else ""
    if decided.choice is Choice.REDUCE:
        asked = _("↓ reduction to view asked by {who}").format(who=by)
    else:
        asked = _("🗑 removal asked by {who}").format(who=by)
    return f"{shown}: {asked}{request}{result}"


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
    header = {"type": "plain_text", "text": _("Access reviews")}
    found: list[Block] = [{"type": "header", "text": header}]
    for one in waiting[:HOME_CAMPAIGNS]:
        lines = ngettext("{count} line", "{count} lines", one.lines).format(count=one.lines)
        entries = ngettext("{count} entry", "{count} entries", one.entries).format(count=one.entries)
        found.append(
            _section(
                _(
                    "*{name}*: {lines} on {entries} wait for your decision, due {when}. Your "
                    "cards are in your messages with the bot."
                ).format(
                    name=text.inline(one.campaign.name),
                    lines=lines,
                    entries=entries,
                    when=date(one.campaign.due),
                )
            )
        )
    if len(waiting) > HOME_CAMPAIGNS:
        more = len(waiting) - HOME_CAMPAIGNS
        found.append(_context(_("…and {count} more reviews waiting for you.").format(count=more)))
    return found


def reminder(campaign: Campaign, *, lines: int, entries: int) -> tuple[str, list[Block]]:
    """A reviewer's reminder: what still waits for them, by when, and what the due date does
    to what they leave undecided."""
    said_lines = ngettext("{count} line", "{count} lines", lines).format(count=lines)
    said_entries = ngettext("{count} entry", "{count} entries", entries).format(count=entries)
    if campaign.on_timeout == "revoke":
        ahead = _("Access nobody decides on by then is removed.")
    elif campaign.on_timeout == "escalate":
        people = ", ".join(f"<@{who}>" for who in campaign.escalate_to)
        ahead = _("What nobody decides by then goes to {people}.").format(people=people)
    else:
        ahead = _("Access nobody decides on by then is kept, marked not reviewed.")
    message = _(
        "Reminder: access review *{name}* has {lines} on {entries} waiting for your decision, "
        "due {when}. {ahead} Your cards are in your messages with the bot."
    ).format(
        name=text.inline(campaign.name),
        lines=said_lines,
        entries=said_entries,
        when=date(campaign.due),
        ahead=ahead,
    )
    return text.plain(message), [_section(message)]


#: Why a reviewer's key no longer works (app.approvals.review_survey.key_gone), in words.
KEY_GONE = {
    "key_rejected": N_("MySafe refuses it"),
    "key_unlinked": N_("it was unlinked"),
    "key_unreadable": N_("the bot can no longer decrypt it"),
}


def key_gone_notice(
    campaign: Campaign, reviewer: str, *, why: str, lines: int, entries: int
) -> tuple[str, list[Block]]:
    """What the escalation target (or the approvers) is told of a reviewer whose MySafe key no
    longer works: who, why, and what of theirs is now the target's."""
    said = _(KEY_GONE.get(why, N_("it no longer works")))
    theirs = ngettext(
        "Their {lines} undecided line on {entries}",
        "Their {lines} undecided lines on {entries}",
        lines,
    ).format(
        lines=lines,
        entries=ngettext("{count} entry", "{count} entries", entries).format(count=entries),
    )
    if lines and campaign.escalate_to:
        rest = _("{theirs} are yours to decide: the cards follow.").format(theirs=theirs)
    elif lines:
        rest = _("{theirs} wait for the entries' other reviewers.").format(theirs=theirs)
    else:
        rest = _(
            "The bot cannot list what their key would show: entries only they can edit are "
            "not in this review."
        )
    message = _(
        "Access review *{name}*: {reviewer}'s MySafe key no longer works ({why}), so they "
        "cannot review with it; they should relink it with `/mysafe login`. {rest}"
    ).format(name=text.inline(campaign.name), reviewer=f"<@{reviewer}>", why=said, rest=rest)
    return text.plain(message), [_section(message)]


class ReviewCards(EveryChange):
    """Posts each reviewer's cards and redraws an entry's cards after a decision."""

    def __init__(
        self,
        client: WebClient,
        store: ReviewStore,
        *,
        channel: str = "",
        languages: Languages | None = None,
    ) -> None:
        self.client = client
        self.store = store
        #: Where each card went (this front's own bookkeeping, beside the campaign).
        self.sent = SentCards(store.redis, prefix=store.prefix)
        self.channel = channel  # the approvals channel: escalations without `escalate_to`
        #: Each reviewer's card speaks their language (None: English).
        self.languages = languages

    def _card(
        self,
        reviewer: str,
        campaign: Campaign,
        lines: Sequence[Line],
        decisions: Mapping[str, Decided],
        *,
        page: int,
        of: int,
    ) -> tuple[str, list[Block]]:
        with self._to(reviewer):
            return card(campaign, lines, decisions, page=page, of=of)

    def _to(self, reviewer: str) -> AbstractContextManager[str]:
        """Speak `reviewer`'s language (as spoken now when no `languages` were given)."""
        if self.languages is None:
            return nullcontext(current())
        return self.languages.to_person(reviewer)

    def post(
        self, campaign: Campaign, lines: Sequence[Line], *, to: Collection[str] | None = None
    ) -> Posted:
        """DM every reviewer (of `to`, when given) a card per entry they review; a card sent
        before (a start job run again) is not sent again. A card Slack refuses (a reviewer
        who left: `user_not_found`, `account_inactive`) is counted and named, and the others
        are still sent."""
        posted, failed = 0, []
        sent = self.sent.sent(campaign.name)
        decisions = self.store.decisions(campaign.name)  # an escalation's cards show them
        for entry, entry_lines in by_entry(lines).items():
            parts = pages(entry_lines)
            for reviewer in dict.fromkeys(r for ln in entry_lines for r in ln.reviewers):
                if to is not None and reviewer not in to:
                    continue
                for page, part in enumerate(parts, start=1):
                    if f"{reviewer}|{entry}|{page}" in sent:
                        continue
                    fallback, found = self._card(
                        reviewer, campaign, part, decisions, page=page, of=len(parts)
                    )
                    try:
                        answer = self.client.chat_postMessage(
                            channel=reviewer, text=fallback, blocks=found
                        )
                    except SlackApiError as error:
                        failed.append((reviewer, entry, str(error.response.get("error", ""))))
                        continue
                    where = (str(answer["channel"]), str(answer["ts"]))
                    self.sent.add(campaign.name, reviewer, entry, page, where)
                    posted += 1
        return Posted(posted, tuple(failed))

    def remind(self, campaign: Campaign, reviewer: str, *, lines: int, entries: int) -> str:
        """A DM: what still waits for `reviewer` (see `reminder`); Slack's error when it
        refuses it ("" when sent)."""
        with self._to(reviewer):
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

    def changed(self, request: ChangeRequest, event: Event) -> None:
        """An engine listener: a removal's or reduction's outcome (filed on its line by
        `Reviews`, an earlier listener) is shown on the cards of its entry."""
        change = request.change
        if request.source != SOURCE or event not in SETTLED or change.identifier is None:
            return
        for field, principal in named(change):
            name = self.store.expected(line_id(change.kind, change.identifier, field, principal))
            campaign = self.store.campaign(name) if name else None
            if campaign is not None:
                self.redraw(campaign, f"{change.kind.value}:{change.identifier}")
                return

    def redraw(self, campaign: Campaign, entry: str) -> None:
        """Every reviewer's card of `entry`, as the decisions stand now."""
        lines = self.store.entry_lines(campaign.name, entry)
        decisions = self.store.decisions_of(campaign.name, [ln.id for ln in lines])
        parts = pages(lines)
        for reviewer, page, channel, ts in self.sent.of(campaign.name, entry):
            if page > len(parts):
                continue
            fallback, found = self._card(
                reviewer, campaign, parts[page - 1], decisions, page=page, of=len(parts)
            )
            try:
                self.client.chat_update(channel=channel, ts=ts, text=fallback, blocks=found)
            except SlackApiError as error:  # one card not redrawn leaves the others right
                log.warning(
                    "review card not updated",
                    extra={"event": "review.card_failed", "error": error.response.get("error", "")},
                )
