"""Break-glass in Slack: loud at once, a review card for the rule's approvers, escalations.

A `BreakGlass` listener (app.approvals.break_glass): when a break-glass share is applied, a
🚨 notice (who, what, why, until when, the on-call evidence) goes to the rule's channel and to
each channel of the rule's `notify`, a DM to each editor of the entry the bot knows in Slack,
and a review card with *Justified* / *Not justified* to the rule's channel, mentioning its
approvers. An unanswered review is posted to `escalate_to`; each verdict is posted under the
card, and the card then shows it (who, when) instead of its buttons. The buttons are the
front's (app.slack.listeners.actions); the decision is the engine's `Reviewer`.

Nothing here is lost to a Slack outage: a message Slack did not take raises, so the engine's
`BreakGlass` keeps the event owed and its sweep tells it again; each message that got out is
remembered by this front (`_Sent`), so the second telling sends only the rest. A target that
can never take it (the bot not in the channel, a person gone) is logged and remembered as
refused, never retried. The front's own bookkeeping, beside the review (same slot):

    P:req:{R-7K2QF}:review:sent   hash  message name (alarm:C…, dm:U…, card, verdict, …) ->
                                        where it landed ("C… ts") or "refused <error>"; kept
                                        as long as the review
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from app import text
from app.approvals.break_glass import RETENTION, Review, ReviewEvent
from app.foundations.settings import is_user_group
from app.foundations.storage import RedisClient
from app.i18n import _, speaking
from app.slack import blocks
from app.slack.blocks.kit import _button, _section

if TYPE_CHECKING:
    from app.approvals.change_request import ChangeRequest
    from app.approvals.engine import Engine

log = logging.getLogger(__name__)

#: How a message refused for good is remembered, before Slack's error.
REFUSED = "refused "
JUSTIFIED = "break_glass_justified"
NOT_JUSTIFIED = "break_glass_not_justified"
Block = dict[str, Any]
#: Slack's answers meaning this one target will never take the message: logged, remembered as
#: refused and not tried again. Any other failure (Slack down, rate limits) is tried again.
UNDELIVERABLE = frozenset(
    {
        "not_in_channel",
        "channel_not_found",
        "is_archived",
        "restricted_action",
        "user_not_found",
        "account_inactive",
        "user_disabled",
        "cannot_dm_bot",
        "message_not_found",
        "cant_update_message",
    }
)


# --- what is posted ------------------------------------------------------------------------


def _until(request: ChangeRequest) -> str:
    ends = request.result.get("ends")
    if ends:
        return blocks.date(float(ends))
    return _("{minutes} min after it was applied").format(minutes=request.change.duration // 60)


def alarm_text(request: ChangeRequest) -> str:
    """🚨 who, what, why and until when, with the on-call evidence."""
    evidence = request.break_glass
    rotated = _(" The password is rotated at the end.") if request.change.rotate_after else ""
    outcome = (
        _("applied at once, until {when}.").format(when=_until(request)) + rotated
        if request.state.value == "applied"
        else _("not applied: {state}.").format(state=_(request.state.value))
    )
    return _(
        "🚨 *Break-glass* {id}: {who} used it to {wants} — {outcome}\n"
        "*Why:* “{reason}”\n"
        "*On call:* {matched} on {provider} schedule {schedule}, checked {when}"
    ).format(
        id=request.id,
        who=f"<@{request.requester}>",
        wants=blocks.wants(request),
        outcome=outcome,
        reason=text.clip(request.reason, 500),
        matched=text.inline(evidence.get("matched", "")),
        provider=text.inline(evidence.get("provider", "")),
        schedule=text.inline(evidence.get("schedule", "")),
        when=blocks.date(float(evidence.get("checked", 0))),
    )


def review_card(request: ChangeRequest, review: Review) -> tuple[str, list[Block]]:
    """The card the rule's approvers answer (the requester's click is refused); once
    answered, the verdict and who gave it, with no button left."""
    if not review.open:
        said = decided_text(request, review)
        return said, [_section(said), _section(alarm_text(request))]
    approvers = sorted(request.approvers - {request.requester})
    named = " ".join(f"<!subteam^{a}>" if is_user_group(a) else f"<@{a}>" for a in approvers[:30])
    ask = _(
        "🚨 Review break-glass {id}: was it justified? {who}: answer by {when} "
        "({requester} cannot review it)."
    ).format(
        id=request.id,
        who=named or _("Approvers"),
        when=blocks.date(review.deadline),
        requester=f"<@{request.requester}>",
    )
    buttons = [
        _button(_("Justified"), JUSTIFIED, request.id, "primary"),
        _button(_("Not justified"), NOT_JUSTIFIED, request.id, "danger"),
    ]
    return ask, [
        _section(ask),
        _section(alarm_text(request)),
        {"type": "actions", "elements": buttons},
    ]


def escalation_text(request: ChangeRequest, review: Review) -> str:
    return _(
        "⏫ 🚨 Break-glass {id} by {who} was not reviewed by its deadline ({when}); escalation "
        "{count}, again every hour until an approver of rule “{rule}” answers."
    ).format(
        id=request.id,
        who=f"<@{request.requester}>",
        when=blocks.date(review.deadline),
        count=review.escalations + 1,
        rule=text.inline(review.rule),
    )


def decided_text(request: ChangeRequest, review: Review) -> str:
    """The card's head once reviewed: the verdict, who gave it and when."""
    when = blocks.date(review.at) if review.at else _("after the fact")
    if review.state == "justified":
        return _("✅ Break-glass {id} reviewed: *justified*, by {who} {when}.").format(
            id=request.id, who=f"<@{review.by}>", when=when
        )
    return _(
        "⛔ Break-glass {id} reviewed: *not justified*, by {who} {when}. The access is ended (if "
        "it still ran) and the audit record is flagged."
    ).format(id=request.id, who=f"<@{review.by}>", when=when)


def verdict_text(request: ChangeRequest, review: Review) -> str:
    if review.state == "justified":
        return _("✅ Break-glass {id} reviewed by {who}: justified.").format(
            id=request.id, who=f"<@{review.by}>"
        )
    return _(
        "⛔ Break-glass {id} reviewed by {who}: *not justified*. The access is ended (if it "
        "still ran), and the audit record is flagged."
    ).format(id=request.id, who=f"<@{review.by}>")


# --- the listener ----------------------------------------------------------------------------


class BreakGlassNotices:
    def __init__(self, client: WebClient, engine: Engine, *, channel: str) -> None:
        self.client = client
        self.engine = engine
        self.channel = channel

    # --- the review's news (app.approvals.break_glass.ReviewListener) -------------------------

    def opened(self, request: ChangeRequest, review: Review) -> None:
        self._said(request, review, ReviewEvent.OPENED)

    def escalated(self, request: ChangeRequest, review: Review) -> None:
        self._said(request, review, ReviewEvent.ESCALATED)

    def reviewed(self, request: ChangeRequest, review: Review) -> None:
        self._said(request, review, ReviewEvent.REVIEWED)

    def _said(self, request: ChangeRequest, review: Review, event: ReviewEvent) -> None:
        """Said in the workspace's language (MYSAFE_BOT_LOCALE): the rule's channel, its
        `notify` channels and the editors all read the same alarm."""
        with speaking(self.engine.services.settings.bot_locale):
            self._tell(request, review, event)

    def _tell(self, request: ChangeRequest, review: Review, event: str) -> None:
        """Send what `event` calls for that is not out yet; raise if Slack refused any of it
        for now (the event stays owed and is told again)."""
        services = self.engine.services
        sent = _Sent(
            services.redis,
            services.settings.key_prefix,
            request.id,
            until=review.deadline + RETENTION,
        )
        if event is ReviewEvent.OPENED:
            self.alarm(request, review, sent)
        elif event is ReviewEvent.ESCALATED:
            said = escalation_text(request, review)
            for target in review.escalate_to:
                name = f"escalation:{review.escalations + 1}:{target}"
                sent.once(name, partial(self._post, target, said))
        elif event is ReviewEvent.REVIEWED:
            self.verdict(request, review, sent)

    def alarm(self, request: ChangeRequest, review: Review, sent: _Sent) -> None:
        """Loud at once: the rule's channel, `notify`, the entry's editors; then the card."""
        alarm = alarm_text(request)
        channel = request.rule_channel or self.channel
        for target in dict.fromkeys([channel, *review.notify]):
            sent.once(f"alarm:{target}", partial(self._post, target, alarm))
        for person in self._editors(request):
            sent.once(f"dm:{person}", partial(self._post, person, alarm))
        fallback, card = review_card(request, review)
        sent.once("card", lambda: self._post(channel, fallback, card))

    def verdict(self, request: ChangeRequest, review: Review, sent: _Sent) -> None:
        """The verdict under the card, and the card made to show it, its buttons gone."""
        landed = sent.landed("card")
        if landed is None:  # the card is not out (it will be posted as decided) or was refused
            where = request.rule_channel or self.channel
            sent.once("verdict", lambda: self._post(where, verdict_text(request, review)))
            return
        channel, ts = landed
        sent.once("verdict", lambda: self._post(channel, verdict_text(request, review), thread=ts))
        fallback, card = review_card(request, review)
        sent.once("card:decided", lambda: self._update(channel, ts, fallback, card))

    def _post(
        self, channel: str, said: str, card: list[Block] | None = None, *, thread: str = ""
    ) -> str:
        """Post; where it landed ("C… ts"). A refusal raises (`_Sent.once` sorts them)."""
        options: dict[str, Any] = {"blocks": card} if card is not None else {}
        if thread:
            options["thread_ts"] = thread
        posted = self.client.chat_postMessage(channel=channel, text=said, unfurl_links=False, **options)
        return f"{posted['channel']} {posted['ts']}"

    def _update(self, channel: str, ts: str, said: str, card: list[Block]) -> str:
        self.client.chat_update(channel=channel, ts=ts, text=said, blocks=card)
        return f"{channel} {ts}"

    def _editors(self, request: ChangeRequest) -> list[str]:
        """Slack IDs of the entry's editors that the bot knows (linked or mapped), but not
        the requester: read with the requester's key. None when MySafe cannot say."""
        change = request.change
        if change.identifier is None:
            return []
        try:
            entry = self.engine.client_for(request.requester).get(change.kind, change.identifier)
        except Exception:  # noqa: BLE001 - the channel notices went out; DMs are best effort
            log.warning("entry editors not read", extra={"event": "break_glass.editors_error"})
            return []
        vault = self.engine.services.vault
        known = {a.mysafe_username.casefold(): a.slack_id for a in vault.accounts() if a.confirmed}
        known |= {name.casefold(): slack_id for slack_id, name in vault.mentions().items()}
        editors = {u.username.casefold() for u in entry.users_allowed if u.can_edit}
        return sorted({known[e] for e in editors if e in known} - {request.requester})


class _Sent:
    """The review's messages already out: each is sent once, however often its event is told."""

    def __init__(self, redis: RedisClient, prefix: str, request_id: str, *, until: float) -> None:
        self.redis = redis
        self.key = f"{prefix}:req:{{{request_id}}}:review:sent"
        self.until = until
        self.out: dict[str, str] = dict(redis.hgetall(self.key))

    def landed(self, name: str) -> tuple[str, str] | None:
        """(channel, ts) of a message that got out; None if it did not (yet, or ever)."""
        where = self.out.get(name, "")
        if not where or where.startswith(REFUSED):
            return None
        channel, _, ts = where.partition(" ")
        return channel, ts

    def once(self, name: str, send: Callable[[], str]) -> None:
        """`send()` unless it is out already; a refusal for good is remembered, any other
        failure raises (the event stays owed)."""
        if name in self.out:
            return
        try:
            where = send()
        except SlackApiError as error:
            code = str(error.response.get("error", ""))
            if code not in UNDELIVERABLE:
                raise
            log.warning(
                "break-glass notice refused for good",
                extra={"event": "slack.break_glass_error", "what": name, "error": code},
            )
            where = f"{REFUSED}{code}"
        self._keep(name, where)
        self.out[name] = where

    def _keep(self, name: str, where: str) -> None:
        """Remember one message out (or refused for good), kept `until` (the review's end)."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.key, name, where)
        pipe.expireat(self.key, int(self.until))
        pipe.execute()
