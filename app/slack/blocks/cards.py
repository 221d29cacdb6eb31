"""The approval message and its modal: the status line per state, the labelled fields, the
progress of the approvals, and the buttons a state offers."""

from __future__ import annotations

from collections.abc import Sequence

from app import text
from app.approvals.change_diff import DiffLine
from app.approvals.change_request import ChangeRequest
from app.approvals.changes import Verb
from app.approvals.machine import State
from app.foundations.clock import timestamp
from app.foundations.durations import describe
from app.foundations.field_labels import field_label
from app.i18n import N_, _, ngettext
from app.i18n.formats import number
from app.slack.blocks.asks import (
    change_lines,
    change_summary,
    entry_label,
    headline,
    is_shortened,
    principal_line,
)
from app.slack.blocks.kit import (
    APPROVE,
    DENY,
    MESSAGE_BLOCKS,
    MODAL_VALUE,
    NUDGE,
    RETRY,
    SECTION_LIMIT,
    VIEW_BLOCKS,
    VIEW_CHANGE,
    Block,
    _button,
    _context,
    _plain_section,
    _section,
    _sections,
    date,
)
from app.slack.periods import period_line

_OUTCOME = {
    State.PENDING: N_("⏳ Waiting for approval"),
    State.APPROVED: N_("✅ Approved"),
    State.APPLYING: N_("⚙️ Applying in MySafe…"),
    State.APPLIED: N_("✅ Applied"),
    State.FAILED: N_("⚠️ Failed"),
    State.DENIED: N_("⛔ Denied"),
    State.EXPIRED: N_("⌛ Expired"),
    State.CANCELLED: N_("🚫 Cancelled by the requester"),
}


def status_text(request: ChangeRequest) -> str:
    """Where the request stands; once decided, who decided, when, and why."""
    if _at_once(request):
        return _(
            "*{outcome}* — no approval needed: the policy rule “{rule}” applies it at once"
        ).format(outcome=_(_OUTCOME[State.APPLYING]), rule=text.inline(request.rule))
    return f"*{_(_OUTCOME[request.state])}*" + _STATUS[request.state](request)


def _at_once(request: ChangeRequest) -> bool:
    """Posted before the bot applies it (`approvals: 0`): nobody is asked to decide."""
    return request.state is State.PENDING and not request.required


def _voters(request: ChangeRequest) -> str:
    return ", ".join(f"<@{a}>" for a in sorted(request.approvals))


def _pending_status(request: ChangeRequest) -> str:
    return " — " + approval_progress(request)


def _applying_status(request: ChangeRequest) -> str:
    voters = _voters(request)
    return _(" — approved by {voters}").format(voters=voters) if voters else ""


def _when(request: ChangeRequest) -> str:
    return f" {date(request.updated)}" if request.updated else ""


def _applied_status(request: ChangeRequest) -> str:
    voters = _voters(request)
    status = (_(" — approved by {voters}").format(voters=voters) if voters else "") + _when(request)
    status += _(" · MySafe said: “{said}”").format(
        said=text.clip(request.result.get("message", ""), 200)
    )
    shared_error = request.result.get("shared_error") or []
    if shared_error:
        status += "\n" + _("⚠️ Some shares failed: ") + text.clip("; ".join(shared_error), 250)
    return status


def _failed_status(request: ChangeRequest) -> str:
    return f" — {text.clip(request.error, 500)}\n" + _(
        "Nothing was changed by this attempt. An approver can *Retry* it or *Deny* it; "
        "otherwise it expires {when}."
    ).format(when=date(request.expires))


def _denied_status(request: ChangeRequest) -> str:
    status = _(" by {who}").format(who=f"<@{request.decided_by}>") + _when(request)
    if request.deny_reason:
        status += f": “{text.clip(request.deny_reason, 500)}”"
    return status


def _expired_status(request: ChangeRequest) -> str:
    status = _(" — nobody decided in time") + _when(request)
    if request.error:  # it had failed: the reason stays, so nobody has to guess
        status = _(" after failing") + f"{_when(request)}: {text.clip(request.error, 500)}"
    return status


def _cancelled_status(request: ChangeRequest) -> str:
    if request.decided_by == "bot" and request.error:
        return f"{_when(request)}: {text.clip(request.error, 300)}"
    return _when(request)


_STATUS = {
    State.PENDING: _pending_status,
    State.APPROVED: _applying_status,
    State.APPLYING: _applying_status,
    State.APPLIED: _applied_status,
    State.FAILED: _failed_status,
    State.DENIED: _denied_status,
    State.EXPIRED: _expired_status,
    State.CANCELLED: _cancelled_status,
}


# The labelled fields under the headline, one function each, in the order they are shown.


def requester_field(request: ChangeRequest) -> str:
    who = f"<@{request.requester}>"
    if request.requester_name:
        who += _(" (MySafe: {name})").format(name=text.clip(request.requester_name, 128))
    return _("*Requester:* {who}").format(who=who)


def entry_field(request: ChangeRequest) -> str:
    return _("*Entry:* {entry}").format(entry=entry_label(request))


def period_field(request: ChangeRequest) -> str | None:
    """A time-bound share's period (see `app.slack.periods.period_line`)."""
    return period_line(request) or None


def reason_field(request: ChangeRequest) -> str | None:
    return (
        _("*Reason:* “{reason}”").format(reason=text.clip(request.reason, 500))
        if request.reason
        else None
    )


def ticket_field(request: ChangeRequest) -> str | None:
    ticket = request.ticket or {}
    if not ticket.get("key"):
        return None
    key = str(ticket["key"])
    shown = text.link(ticket["url"], key) if ticket.get("url") else text.clip(key, 64)
    return _("*Ticket:* {ticket}").format(ticket=shown)


def rules_field(request: ChangeRequest) -> str | None:
    """Said once the deployment's rules changed after the request was made: it is decided
    under the rule it was made under, and the reader should know the rules moved on."""
    if not request.policy_now:
        return None
    rule = f" “{text.inline(request.rule)}”" if request.rule else ""
    return _(
        "*Rules:* changed since this request was made (policy version {then} → {now}); "
        "it is decided under the rule it was made under{rule}."
    ).format(then=request.policy_version, now=request.policy_now, rule=rule)


#: Fields above the change, and below it; a new field is one function added to a list. (The
#: expiry is in the status line while the request is open: see `approval_progress`.)
FIELDS_ABOVE = (requester_field, entry_field)
FIELDS_BELOW = (period_field, reason_field, ticket_field, rules_field)


def approval_progress(request: ChangeRequest, now: float | None = None, *, voters: bool = True) -> str:
    """`production — 1 of 2 approvals (@a) · expires … (in 23 h)`: the policy rule the request
    is decided under, how far it is, and the time left before it expires."""
    named = ", ".join(f"<@{a}>" for a in sorted(request.approvals)) if voters else ""
    rule = f"{text.inline(request.rule)} — " if request.rule else ""
    # Translators: the noun agrees with {required} ("1 de 2 aprovações"); English says
    # "approvals" in both forms ("0 of 1 approvals": none of the one approval needed yet).
    progress = rule + ngettext(
        "{count} of {required} approvals", "{count} of {required} approvals", request.required
    ).format(count=len(request.approvals), required=request.required)
    progress += f" ({named})" if named else ""
    now = timestamp() if now is None else now
    confirming = request.confirming_now(now) if request.state is State.PENDING else []
    if confirming:  # a click waiting for its passkey counts for nothing yet
        progress += ", " + _("{who} confirming").format(who=", ".join(f"<@{w}>" for w in confirming))
    left = max(0, int(request.expires - now))
    shown = describe(max(left - left % 60, 60))
    return progress + _(" · expires {when} (in {left})").format(when=date(request.expires), left=shown)


def nudge_button(request: ChangeRequest) -> list[Block]:
    """*Nudge approvers*, for the requester, where the request's rule sets reminders."""
    return [_button(_("Nudge approvers"), NUDGE, request.id)] if request.remind_after else []


def reminder_text(request: ChangeRequest, waiting: Sequence[str]) -> str:
    """The reminder in the request's thread, naming the approvers who have not acted."""
    shown = ", ".join(f"<@{u}>" for u in waiting[:30]) + (_(" and others") if len(waiting) > 30 else "")
    return _(
        "⏰ Reminder: {id} is still waiting — {progress}. {who}: please approve or deny it."
    ).format(
        id=request.id, progress=approval_progress(request, voters=False), who=shown or _("Approvers")
    )


def escalation_message(request: ChangeRequest, channel: str = "") -> tuple[str, list[Block]]:
    """The approval message as posted to `escalate_to`, why it is there and where it is
    decided (`channel`, where the approval message is), without buttons: the people (or
    channel) escalated to are told, not made approvers, and buttons that refuse everyone the
    rule does not list would mislead."""
    fallback, message = approval_message(request)
    message = [block for block in message if block.get("type") != "actions"]
    since = (
        _(": waiting since {when}").format(when=date(request.created))
        if request.state is State.PENDING
        else ""
    )
    where = _("; its approvers decide in {channel}").format(channel=f"<#{channel}>") if channel else ""
    note = _context(_("⏫ Escalated") + since + where)
    if len(message) < MESSAGE_BLOCKS:
        message = [message[0], note, *message[1:]]
    return _("Escalated: {message}").format(message=fallback), message


def _details(request: ChangeRequest) -> list[str]:
    return [line for field in FIELDS_BELOW if (line := field(request)) is not None]


def approval_message(request: ChangeRequest) -> tuple[str, list[Block]]:
    """The channel message for a request, in its current state; buttons only while open.

    The headline says who gets what; labelled fields follow (requester, entry, the change
    line by line, reason, ticket); the status says how far it is and when it expires. The text
    fallback names the same principals and fields as the blocks."""
    blocks: list[Block] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _("Change request {id}").format(id=request.id)},
        },
        _section(headline(request)),
        _section("\n".join(field(request) for field in FIELDS_ABOVE)),
        *_sections([_("*Change:*"), *change_lines(request)]),
        *_sections(_details(request)),
    ]
    blocks.append(_section(status_text(request)))
    actions = _actions(request)
    if actions:
        blocks.append({"type": "actions", "block_id": "decision", "elements": actions})
    fallback = _("{id}: {verb} {entry} — {state}. Changes: {changes}").format(
        id=request.id,
        verb=_(request.change.verb.value),
        entry=entry_label(request),
        state=_(request.state.value),
        changes=change_summary(request),
    )
    return fallback, blocks


def _actions(request: ChangeRequest) -> list[Block]:
    view = [_button(_("View full change"), VIEW_CHANGE, request.id)] if is_shortened(request) else []
    if request.state is State.PENDING and not _at_once(request):
        return [
            _button(_("Approve"), APPROVE, request.id, "primary"),
            _button(_("Deny"), DENY, request.id, "danger"),
            *view,
            *nudge_button(request),
        ]
    if request.state is State.FAILED:
        return [
            _button(_("Retry"), RETRY, request.id, "primary"),
            _button(_("Deny"), DENY, request.id, "danger"),
            *view,
        ]
    return view


def change_modal(request: ChangeRequest) -> Block:
    """Everything the request changes, values whole (plain text, several blocks each)."""
    fields = [d for d in request.diff if not d.principal]
    people = [principal_line(d, request.people) for d in request.diff if d.principal]
    blocks = [_section(headline(request)), *_sections(people)]
    for line in fields:
        blocks += _field_blocks(line, request.change.verb)
    details = _details(request)
    if details:
        blocks.append(_context(*details))
    if len(blocks) > VIEW_BLOCKS:  # `check` bounds principals and fields: this is a bug
        raise ValueError("the change does not fit one modal")
    return {
        "type": "modal",
        "callback_id": VIEW_CHANGE,
        "title": {"type": "plain_text", "text": _("Change {id}").format(id=request.id)},
        "close": {"type": "plain_text", "text": _("Close")},
        "blocks": blocks,
    }


def _field_blocks(line: DiffLine, verb: Verb) -> list[Block]:
    name = text.inline(_(field_label(line.field)))
    blocks = []
    if not (verb is Verb.CREATE and not line.before):
        blocks += [_section(_("*{field}* now:").format(field=name)), *_value_blocks(line.before)]
    blocks += [
        _section(_("*{field}* after approval:").format(field=name) if blocks else f"*{name}*:"),
        *_value_blocks(line.after),
    ]
    return blocks


def _value_blocks(value: str) -> list[Block]:
    shown = text.plain(value[:MODAL_VALUE])
    pieces = text.chunks(shown or _("(empty)"), SECTION_LIMIT - 100)
    blocks = [_plain_section(piece) for piece in pieces]
    if len(value) > MODAL_VALUE:
        blocks.append(
            _context(
                _(
                    "_…{count} more characters not shown here: this is the value MySafe holds now_"
                ).format(count=number(len(value) - MODAL_VALUE))
            )
        )
    return blocks
