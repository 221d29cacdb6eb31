"""Break-glass in Slack: loud at once, a review card for the rule's approvers, escalations.

A `BreakGlass` listener (app.approvals.break_glass): when a break-glass share is applied, a
🚨 notice (who, what, why, until when, the on-call evidence) goes to the rule's channel and to
each channel of the rule's `notify`, a DM to each editor of the entry the bot knows in Slack,
and a review card with *Justified* / *Not justified* to the rule's channel, mentioning its
approvers. An unanswered review is posted to `escalate_to`; each verdict is posted under the
card. The buttons are the front's (app.slack.front); the decision is the engine's `Reviewer`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from app import text
from app.approvals.break_glass import Review
from app.i18n import _, speaking
from app.settings import is_user_group
from app.slack import blocks
from app.slack.notifier import direct_message

if TYPE_CHECKING:
    from app.approvals.engine import Engine
    from app.approvals.store import ChangeRequest

log = logging.getLogger(__name__)

JUSTIFIED = "break_glass_justified"
NOT_JUSTIFIED = "break_glass_not_justified"
Block = dict[str, Any]


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
    """The card the rule's approvers answer; the requester's click is refused."""
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
        blocks._button(_("Justified"), JUSTIFIED, request.id, "primary"),
        blocks._button(_("Not justified"), NOT_JUSTIFIED, request.id, "danger"),
    ]
    return ask, [
        blocks._section(ask),
        blocks._section(alarm_text(request)),
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

    def __call__(self, request: ChangeRequest, review: Review, event: str) -> None:
        """Said in the workspace's language (MYSAFE_BOT_LOCALE): the rule's channel, its
        `notify` channels and the editors all read the same alarm."""
        with speaking(self.engine.services.settings.bot_locale):
            self._tell(request, review, event)

    def _tell(self, request: ChangeRequest, review: Review, event: str) -> None:
        if event == "opened":
            self.alarm(request, review)
        elif event == "escalated":
            for target in review.escalate_to:
                self.client.chat_postMessage(
                    channel=target, text=escalation_text(request, review), unfurl_links=False
                )
        elif event == "reviewed":
            self._post(request.rule_channel or self.channel, verdict_text(request, review))

    def alarm(self, request: ChangeRequest, review: Review) -> None:
        """Loud at once: the rule's channel, `notify`, the entry's editors; then the card."""
        alarm = alarm_text(request)
        channel = request.rule_channel or self.channel
        for target in dict.fromkeys([channel, *review.notify]):
            self._post(target, alarm)
        for person in self._editors(request):
            direct_message(self.client, person, alarm)
        fallback, card = review_card(request, review)
        self.client.chat_postMessage(channel=channel, text=fallback, blocks=card, unfurl_links=False)

    def _post(self, channel: str, message: str) -> None:
        try:
            self.client.chat_postMessage(channel=channel, text=message, unfurl_links=False)
        except SlackApiError as error:
            log.warning(
                "break-glass notice not posted",
                extra={
                    "event": "slack.break_glass_error",
                    "channel": channel,
                    "error": error.response.get("error", ""),
                },
            )

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
