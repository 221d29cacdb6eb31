"""Block Kit builders: every message, modal and Home tab the bot shows, built in one place.

Everything people or MySafe wrote (names, notes, reasons, errors) goes through `app.text`, so
it shows as typed and can neither format, ping, link nor start a line of its own. An approval
message shows every changed field and every user or group a request adds, raises or removes;
long values are shortened visibly, with the whole change one click away (*View full change*).
`changes.check` refuses at submission what such a message could not name in full. Secret values
never reach these functions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from app import text
from app.accounts.passkeys import Passkey
from app.approvals.change_diff import DiffLine
from app.approvals.change_request import ChangeRequest
from app.approvals.changes import MAX_SHARES_PER_REQUEST, Verb
from app.approvals.disabled import DisabledEntry
from app.approvals.machine import State
from app.approvals.secret_fields import SECRET_FIELDS_OF
from app.clock import timestamp
from app.durations import describe
from app.field_labels import field_label
from app.i18n import N_, _, ngettext
from app.i18n.formats import number
from app.i18n.marks import PLURALS
from app.mysafe.models import Entry, Kind, ListItem
from app.settings import is_user_group
from app.slack.periods import period_line

Block = dict[str, Any]

APPROVE, DENY, RETRY, CANCEL = "approve", "deny", "retry", "cancel"
NUDGE = "nudge"
VIEW_CHANGE = "view_change"
SHOW_ACCESS = "show_access"
HOME_PAGE = "home_page"
REMOVE_PASSKEY = "passkey_remove"
LOGIN_VIEW, DENY_VIEW, ROTATE_VIEW, CREATE_VIEW = "login", "deny_reason", "rotate", "create"

#: Slack's published Block Kit limits the builders keep to.
SECTION_LIMIT, MESSAGE_BLOCKS, VIEW_BLOCKS = 3000, 50, 100
#: The longest value a plain_text_input may accept: Slack refuses a whole view asking more.
#: (A longer MySafe client secret can still be linked with `mysafe-bot users link`.)
INPUT_LIMIT = 3000
#: Characters of one value shown in a message; the rest is in the *View full change* modal.
SHOWN_VALUE = 200
#: Characters of a value shown in the modal, per value, past which it says how many are left
#: (only a current value MySafe holds can be that long; new values are bounded by the schemas).
MODAL_VALUE = 4 * (SECTION_LIMIT - 100)

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


def _mrkdwn(value: str) -> Block:
    """A mrkdwn text object; `verbatim` so Slack links and pings only what the bot marked up."""
    if text.units(value) > SECTION_LIMIT:  # every part is clipped: this is a bug, not input
        raise ValueError("text over Slack's 3000-character limit")
    return {"type": "mrkdwn", "text": value, "verbatim": True}


def _section(value: str) -> Block:
    return {"type": "section", "text": _mrkdwn(value)}


def _plain_section(value: str) -> Block:
    return {"type": "section", "text": {"type": "plain_text", "text": value, "emoji": False}}


def _context(*parts: str) -> Block:
    return {"type": "context", "elements": [_mrkdwn(p) for p in parts]}


def _sections(lines: Iterable[str]) -> list[Block]:
    """Lines packed into as few sections as Slack's limit allows, never splitting a line."""
    found: list[str] = []
    for line in lines:
        if found and text.units(found[-1]) + 1 + text.units(line) <= SECTION_LIMIT:
            found[-1] += "\n" + line
        else:
            found.append(line)
    return [_section(chunk) for chunk in found]


def _button(label: str, action_id: str, value: str, style: str | None = None) -> Block:
    button: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def date(ts: float) -> str:
    """A moment as Slack shows it in each reader's own time zone."""
    shown = _("{{date_short_pretty}} at {{time}}").format()  # Slack's own tokens, kept
    return f"<!date^{int(ts)}^{shown}|{int(ts)}>"


# --- the approval message -----------------------------------------------------------------------


def entry_label(request: ChangeRequest) -> str:
    change = request.change
    name = text.clip(request.entry_name, 255)
    if change.identifier:
        return f"{_(change.kind.label)} {change.identifier}" + (f" “{name}”" if name else "")
    return _("a new {kind} “{name}”").format(kind=_(change.kind.label), name=name)


#: People named in a headline; the change lines below it name every one.
HEADLINE_NAMES = 3


def headline(request: ChangeRequest) -> str:
    """Who asks for what, in one line: "@priya asks to give *@alice edit* access to
    password 312 “GCP console”"."""
    asks = {
        "ticket": N_("{requester} asks via a ticket to {wants}"),
        "mcp": N_("{requester} asks via an AI assistant (MCP) to {wants}"),
        "review": N_("{requester} asks in an access review to {wants}"),
    }.get(request.source, N_("{requester} asks to {wants}"))
    return _(asks).format(requester=f"<@{request.requester}>", wants=wants(request))


def wants(request: ChangeRequest) -> str:
    """What the request does, as a verb phrase: "give *@alice edit* access to password 312"."""
    return _WANTS[request.change.verb](request)


def _share_wants(request: ChangeRequest) -> str:
    gains = [d for d in request.diff if d.principal and d.action in ("add", "raise")]
    named = (
        _names(
            [_("{who} {right}").format(who=_who(d, request.people), right=_(d.after)) for d in gains]
        )
        if gains
        else _("nobody new")
    )
    return _("give *{named}* access to {entry}").format(named=named, entry=entry_label(request))


def _gain(line: DiffLine, people: Mapping[str, str]) -> str:
    """`@alice edit`: who gains which right, in a headline."""
    return _("{who} {right}").format(who=_who(line, people), right=_(line.after))


def _unshare_wants(request: ChangeRequest) -> str:
    losing = [d for d in request.diff if d.principal and d.action == "remove"]
    named = _names([_who(d, request.people) for d in losing]) if losing else _("nobody")
    return _("take away *{named}*’s access to {entry}").format(named=named, entry=entry_label(request))


def _reduce_wants(request: ChangeRequest) -> str:
    lowered = [d for d in request.diff if d.principal and d.action == "lower"]
    named = _names([_who(d, request.people) for d in lowered]) if lowered else _("nobody")
    return _("reduce *{named}* to view on {entry}").format(named=named, entry=entry_label(request))


def _update_wants(request: ChangeRequest) -> str:
    names = [text.inline(_(field_label(d.field))) for d in request.diff if not d.principal]
    return _("change *{fields}* of {entry}").format(fields=_names(names), entry=entry_label(request))


def _rotate_wants(request: ChangeRequest) -> str:
    names = [_(field_label(d.field)) for d in request.diff if not d.principal]
    return _("set a new *{fields}* for {entry}").format(
        fields=_names(names), entry=entry_label(request)
    )


def _create_wants(request: ChangeRequest) -> str:
    return _("create {entry}").format(entry=entry_label(request))


def _disable_wants(request: ChangeRequest) -> str:
    return _("*disable* {entry}: nobody can use it until it is enabled").format(
        entry=entry_label(request)
    )


def _enable_wants(request: ChangeRequest) -> str:
    return _("*enable* {entry} again (it is disabled now)").format(entry=entry_label(request))


_WANTS = {
    Verb.SHARE: _share_wants,
    Verb.UNSHARE: _unshare_wants,
    Verb.UPDATE: _update_wants,
    Verb.ROTATE: _rotate_wants,
    Verb.CREATE: _create_wants,
    Verb.DISABLE: _disable_wants,
    Verb.ENABLE: _enable_wants,
    Verb.REDUCE: _reduce_wants,
}
if set(_WANTS) != set(Verb):  # a verb without its headline fails here, at import, never at render
    raise ImportError(f"no headline for {sorted(v.value for v in set(Verb) - set(_WANTS))}")


def _names(names: Sequence[str]) -> str:
    """`a`, `a and b`, `a, b and c`; past HEADLINE_NAMES, how many more (all are listed below)."""
    shown = list(names[:HEADLINE_NAMES])
    if len(names) > HEADLINE_NAMES:
        shown.append(_("{count} more").format(count=len(names) - HEADLINE_NAMES))
    if len(shown) == 1:
        return shown[0]
    return _("{some} and {last}").format(some=", ".join(shown[:-1]), last=shown[-1])


def _who(line: DiffLine, people: Mapping[str, str]) -> str:
    """A person as Slack names them when the request knows their Slack ID (they were
    mentioned), else their MySafe username; a group by its MySafe name."""
    if line.is_group:
        return _("group {name}").format(name=text.clip(line.principal, 128))
    slack_id = people.get(line.principal.casefold())
    return f"<@{slack_id}>" if slack_id else text.clip(line.principal, 128)


def principal_line(line: DiffLine, people: Mapping[str, str]) -> str:
    """`+ @alice (edit)`, `↑ bobm: view → edit`, `− carol (had view)`: whole names, always."""
    who, before, after = _who(line, people), _(line.before), _(line.after)
    return {
        "add": f"+ {who} ({after})",
        "raise": f"↑ {who}: {before} → {after}",
        "lower": f"↓ {who}: {before} → {after}",
        "remove": _("− {who} (had {before})").format(who=who, before=before),
        "keep": _("= {who} ({after}): has it already, no change").format(who=who, after=after),
        "absent": _("− {who}: has no access now, nothing to remove").format(who=who),
    }[line.action]


def _start_of_difference(before: str, after: str) -> int:
    """Where two long values part, less some context: the message shows them from there."""
    same = 0
    for a, b in zip(before, after, strict=False):
        if a != b:
            break
        same += 1
    longest = max(len(before), len(after))
    return same - 40 if same > SHOWN_VALUE // 2 and longest > SHOWN_VALUE else 0


def _value(value: str, start: int = 0) -> str:
    return text.excerpt(value, start, SHOWN_VALUE) if value else _("_(empty)_")


def field_line(line: DiffLine, verb: Verb) -> str:
    """`• *url*: a → b`, each value shortened visibly, from where the two values differ."""
    name = f"• *{text.inline(_(field_label(line.field)))}*"
    if verb is Verb.CREATE and not line.before:
        return f"{name}: {_value(line.after)}"
    start = _start_of_difference(line.before, line.after)
    return f"{name}: {_value(line.before, start)} → {_value(line.after, start)}"


def change_lines(request: ChangeRequest) -> list[str]:
    """The change, line by line: sharing first (what grants access), then fields."""
    return [
        principal_line(d, request.people) if d.principal else field_line(d, request.change.verb)
        for d in request.diff
    ] or [_("_no visible change_")]


def is_shortened(request: ChangeRequest) -> bool:
    """Whether any value had to be shortened: then the full change is one click away."""
    return any(
        len(v) > SHOWN_VALUE for d in request.diff if not d.principal for v in (d.before, d.after)
    )


def _summary(line: DiffLine, people: Mapping[str, str]) -> str:
    who = _who(line, people)
    after = _(line.after)
    return {
        "add": f"+ {who} ({after})",
        "raise": f"↑ {who} ({after})",
        "lower": f"↓ {who} ({after})",
        "remove": f"− {who}",
        "keep": _("= {who} (no change)").format(who=who),
        "absent": _("− {who} (no access)").format(who=who),
    }[line.action]


def change_summary(request: ChangeRequest) -> str:
    """Every added, raised or removed principal and every changed field, for the text fallback
    (notifications, screen readers), which has no room for values."""
    people = [_summary(d, request.people) for d in request.diff if d.principal]
    fields = [text.inline(_(field_label(d.field))) for d in request.diff if not d.principal]
    parts = [", ".join(people)] if people else []
    if fields:
        parts.append(_("fields {names}").format(names=", ".join(fields)))
    return "; ".join(parts) or _("no visible change")


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


def requester_notice(request: ChangeRequest) -> str:
    """The DM to the requester when their request ends (or fails)."""
    return _("Your request {id} to {verb} {entry}: {status}").format(
        id=request.id,
        verb=_(request.change.verb.value),
        entry=entry_label(request),
        status=status_text(request),
    )


def waiting_notice(request: ChangeRequest, channel: str, *, asked_by: str = "") -> str:
    """What the requester is told once their request is stored (any front: command or modal);
    `channel` unless the request's policy rule posts it elsewhere. `asked_by`: a grantee who
    asked for an extension, which is filed as the owner's (only the owner can cancel it)."""
    channel = request.rule_channel or channel
    if request.state is not State.PENDING and not request.required:
        return _applied_at_once_notice(request, channel)
    head = _("Request *{id}* is waiting for approval in {channel}: {verb} {entry}.").format(
        id=request.id,
        channel=f"<#{channel}>",
        verb=_(request.change.verb.value),
        entry=entry_label(request),
    )
    if asked_by and asked_by != request.requester:
        return head + _(" It is filed for the owner who shared it, {owner}.").format(
            owner=f"<@{request.requester}>"
        )
    return head + _(" Cancel it with `/mysafe cancel {id}`.").format(id=request.id)


def _applied_at_once_notice(request: ChangeRequest, channel: str) -> str:
    """A request its policy rule lets through without an approver (`approvals: 0`) is
    already settled when the requester hears of it: say what happened, never "waiting"."""
    what = f"{_(request.change.verb.value)} {entry_label(request)}"
    rule = _("the policy rule “{rule}” needs no approval").format(rule=text.inline(request.rule))
    if request.break_glass:
        rule = _("🚨 break-glass: you are on call; the approvers of “{rule}” will review it").format(
            rule=text.inline(request.rule)
        )
    where = f"<#{channel}>"
    if request.state is State.APPLIED:
        return _(
            "Request *{id}* was applied at once ({rule}): {what}. "
            "It is recorded and announced in {channel}."
        ).format(id=request.id, rule=rule, what=what, channel=where)
    if request.state is State.FAILED:
        return _(
            "Request *{id}* ({what}) could not be applied: {error}. "
            "It is shown in {channel}, where an approver can retry it."
        ).format(id=request.id, what=what, error=text.inline(request.error), channel=where)
    return _("Request *{id}* is being applied ({rule}): {what}. See {channel}.").format(
        id=request.id, rule=rule, what=what, channel=where
    )


def approver_notice(request: ChangeRequest, channel: str = "") -> str:
    """The DM that tells an approver a request waits for them (in `channel`, where its
    approval message is); once nobody waits for them any more, the same DM says what was
    decided, by whom."""
    where = _(" in {channel}").format(channel=f"<#{channel}>") if channel else ""
    if request.state is State.PENDING:
        return _(
            "{id} waits for your approval{where}: {headline}. Open it there to approve or deny."
        ).format(id=request.id, where=where, headline=headline(request))
    waited = _("{id}{where}, which waited for your approval").format(id=request.id, where=where)
    return f"{waited}: {headline(request)}. {status_text(request)}"


def approvers_mention(request: ChangeRequest, approvers: Sequence[str]) -> str:
    """The thread reply that mentions a request's approvers (groups by their handle)."""
    named = " ".join(f"<!subteam^{a}>" if is_user_group(a) else f"<@{a}>" for a in approvers[:30])
    return _("{who}: {id} waits for your approval.").format(who=named or _("Approvers"), id=request.id)


def unchanged_notice(request: ChangeRequest) -> str:
    """The answer to a click that found the request already past it."""
    return _("{id} is {state}; your click changed nothing.").format(
        id=request.id, state=_(request.state.value)
    )


def step_up_notice(request: ChangeRequest, url: str) -> str:
    """To the approver alone: their click counts once they confirm it with a passkey."""
    minutes = describe(request.step_up_max_age)
    return _(
        "Your approval of {id} counts once you confirm it with your passkey, within "
        "{minutes}: <{url}|confirm your approval>. The link is yours alone and works once."
    ).format(id=request.id, minutes=minutes, url=url)


def share_notice(request: ChangeRequest) -> str:
    edit = any(u.can_edit for u in request.change.add_users)
    rights = _("view and edit") if edit else _("view")
    return _("{who} shared MySafe {entry} with you ({rights}). Open MySafe to use it.").format(
        who=f"<@{request.requester}>", entry=entry_label(request), rights=rights
    )


# --- lists and entries ----------------------------------------------------------------------


def request_line(request: ChangeRequest) -> str:
    return _("*{id}* — {verb} {entry} · {state} · approvals {count}/{required}").format(
        id=request.id,
        verb=_(request.change.verb.value),
        entry=entry_label(request),
        state=_(request.state.value),
        count=len(request.approvals),
        required=request.required,
    )


#: Entries listed on one page of `/mysafe list`.
LIST_PAGE = 50
#: Search text that can be repeated inside the next page's command as typed.
_PLAIN_SEARCH = re.compile(r"[\w .@:/,-]{1,100}")


def entries_text(kind: Kind, items: Sequence[ListItem], search: str = "", *, page: int = 1) -> str:
    """One page of the entries, counted, with the command for the next page: a long list is
    never cut without saying how to see the rest."""
    if not items:
        if search:
            return _("You can see no {kinds} matching “{search}”.").format(
                kinds=_(PLURALS[kind.value]), search=text.inline(search)
            )
        return _("You can see no {kinds}.").format(kinds=_(PLURALS[kind.value]))
    pages = -(-len(items) // LIST_PAGE)
    page = min(page, pages)
    shown = items[(page - 1) * LIST_PAGE : page * LIST_PAGE]
    lines = [
        f"• `{kind.value} {i.identifier}` {text.clip(i.name, 255)}"
        + (f" — {text.clip(i.url, 200)}" if i.url else "")
        + _list_marks(i)
        for i in shown
    ]
    head = _("*{kinds} you can see*").format(kinds=_capital(_(PLURALS[kind.value])))
    if pages > 1:
        head += _(": {count}, page {page} of {pages}").format(count=len(items), page=page, pages=pages)
    more = []
    if page < pages and (not search or _PLAIN_SEARCH.fullmatch(search)):
        typed = f' "{search}"' if search else ""
        more = [
            _("Next: `{command}` (or narrow it with text)").format(
                command=f"/mysafe list {kind.value}s{typed} page {page + 1}"
            )
        ]
    elif page < pages:
        more = [_("Next: the same command with `page {page}` at the end").format(page=page + 1)]
    return "\n".join([head, *lines, *more])


def _list_marks(item: ListItem) -> str:
    """What a person must know before using an entry: disabled, or theirs only to view."""
    if not item.active:
        return _(" — *disabled* (`/mysafe enable` to ask for it back)")
    return "" if item.can_write else _(" _(view only)_")


#: What `show` prints of one field and of each sharing list: a message holds 40,000
#: characters, and MySafe allows 200 people and 200 groups of 128 characters each.
SHOWN_ENTRY_VALUE, SHOWN_SHARES = 1500, 6000


def _capital(label: str) -> str:
    """ "API secret" -> "API secret", "password" -> "Password" (`str.capitalize` says "Api")."""
    return label[:1].upper() + label[1:]


def entry_text(entry: Entry) -> str:
    if not entry.active:
        return disabled_text(entry.kind, entry.identifier)
    kind = _capital(_(entry.kind.label))
    fields = [f"*{kind} {entry.identifier}: {text.clip(entry.name, 255)}*"]
    for name, value in entry.plain_fields().items():
        if value and name != "name":
            fields.append(f"{_(field_label(name))}: {text.clip(value, SHOWN_ENTRY_VALUE)}")
    secrets = {
        "password": entry.has_password,
        "secret_key": entry.has_totp,
        "client_secret": entry.has_client_secret,
    }
    for name in SECRET_FIELDS_OF[entry.kind]:
        fields.append(f"{_(field_label(name))}: {'••••••••' if secrets[name] else _('(not set)')}")
    edit, view = _("edit"), _("view")
    users = ", ".join(
        f"{u.username} ({edit if u.can_edit else view})" for u in entry.users_allowed
    ) or _("nobody")
    groups = ", ".join(f"{g.name} ({edit if g.can_edit else view})" for g in entry.groups_allowed) or _(
        "none"
    )
    fields += [
        _("shared with: {users}").format(users=text.clip(users, SHOWN_SHARES)),
        _("groups: {groups}").format(groups=text.clip(groups, SHOWN_SHARES)),
    ]
    return "\n".join(fields)


#: Users and groups an `/mysafe access` answer shows; the rest are one click away.
SHOWN_HOLDERS = 20


def access_message(head: str, lines: Sequence[str], *, entry: str) -> tuple[str, list[Block]]:
    """Who has access, the first `SHOWN_HOLDERS` lines, and *Show all* (value `entry`,
    `password:312`) when there are more: the count of those left out is always said."""
    shown, more = lines[:SHOWN_HOLDERS], len(lines) - SHOWN_HOLDERS
    found = [_section(head), *_sections(shown)]
    fallback = [head, *shown]
    if more > 0:
        said = _("…and {count} more not shown here: *Show all* opens the full list.").format(count=more)
        found += [
            _context(said),
            {"type": "actions", "elements": [_button(_("Show all"), SHOW_ACCESS, entry)]},
        ]
        fallback.append(said)
    return "\n".join(fallback), found


def access_modal(head: str, lines: Sequence[str], *, command: str) -> Block:
    """Every line in one modal, as many as Slack's 100 blocks hold; any left out are counted
    and `command` (the CLI's) named, which lists them all."""
    found, packed = [_section(head)], 0
    for chunk, count in _packed(lines):
        if len(found) == VIEW_BLOCKS - 1:
            break
        found.append(_section(chunk))
        packed += count
    if packed < len(lines):
        found.append(
            _context(
                _("…and {count} more not shown: `{command}` lists all.").format(
                    count=len(lines) - packed, command=text.code(command)
                )
            )
        )
    return {
        "type": "modal",
        "callback_id": SHOW_ACCESS,
        "title": {"type": "plain_text", "text": _("Who has access")},
        "close": {"type": "plain_text", "text": _("Close")},
        "blocks": found,
    }


def _packed(lines: Iterable[str]) -> Iterator[tuple[str, int]]:
    """Lines packed as `_sections` packs them, with how many lines each chunk holds."""
    chunk, count = "", 0
    for line in lines:
        if count and text.units(chunk) + 1 + text.units(line) <= SECTION_LIMIT:
            chunk, count = f"{chunk}\n{line}", count + 1
            continue
        if count:
            yield chunk, count
        chunk, count = line, 1
    if count:
        yield chunk, count


def disabled_text(kind: Kind, identifier: int) -> str:
    """A disabled entry: MySafe shows nothing of it but that, so neither does the bot."""
    return _(
        "*{entry}* is *disabled* in MySafe: nobody can read, use or change it until it is "
        "enabled again (`{command}`, which an approver decides)."
    ).format(
        entry=f"{_capital(_(kind.label))} {identifier}",
        command=f"/mysafe enable {kind.value} {identifier}",
    )


# --- modals ---------------------------------------------------------------------------------


def _input(
    block_id: str,
    label: str,
    *,
    optional: bool = False,
    multiline: bool = False,
    hint: str = "",
    max_length: int = INPUT_LIMIT,
    initial: str = "",
) -> Block:
    """A form field; Slack itself adds "(optional)" to the label of an optional one."""
    element: Block = {
        "type": "plain_text_input",
        "action_id": "value",
        "multiline": multiline,
        "max_length": max_length,
    }
    if initial:
        element["initial_value"] = initial
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "optional": optional,
        "label": {"type": "plain_text", "text": label},
        "element": element,
    }
    if hint:
        block["hint"] = {"type": "plain_text", "text": hint}
    return block


def _modal(
    callback_id: str, title: str, blocks: list[Block], *, submit: str, metadata: str = ""
) -> Block:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": metadata,
        "title": {"type": "plain_text", "text": title[:24]},
        "submit": {"type": "plain_text", "text": submit},
        "close": {"type": "plain_text", "text": _("Cancel")},
        "blocks": blocks,
    }


#: The login form's fields: (block_id, label, max_length); the secret is never typed back in.
LOGIN_FIELDS = (
    ("client_id", N_("Client ID"), 512),
    ("client_secret", N_("Client Secret"), INPUT_LIMIT),
    ("mysafe_username", N_("Your MySafe username"), 128),
)


def login_modal(
    *, client_id: str = "", mysafe_username: str = "", problems: dict[str, str] | None = None
) -> Block:
    """The login form; given back after MySafe refused a key, with what was typed (never the
    secret) and each problem on a line under its field (`""`: above the fields)."""
    problems = problems or {}
    kept = {"client_id": client_id, "mysafe_username": mysafe_username}
    body = [
        _section(
            _(
                "Create an *access key authorization* in MySafe, then paste its Client ID and "
                "Client Secret here. The bot checks the key with MySafe before storing it "
                "(encrypted)."
            )
        )
    ]
    if "" in problems:
        body.append(_section(f"⚠️ {problems['']}"))
    for block_id, label, limit in LOGIN_FIELDS:
        typed = kept.get(block_id, "")
        body.append(
            _input(block_id, _(label), max_length=limit, initial=typed if len(typed) <= limit else "")
        )
        if block_id in problems:
            body.append(_context(f"⚠️ {problems[block_id]}"))
    return _modal(LOGIN_VIEW, _("Link your MySafe key"), body, submit=_("Link"))


def deny_modal(request_id: str) -> Block:
    return _modal(
        DENY_VIEW,
        _("Denied {id}").format(id=request_id),
        [
            _input(
                "reason",
                _("Why?"),
                optional=True,
                multiline=True,
                max_length=500,
                hint=_("The request is already denied; the requester and the channel read why."),
            ),
        ],
        submit=_("Add reason"),
        metadata=request_id,
    )


def rotate_modal(kind: Kind, identifier: int, name: str) -> Block:
    fields = {
        "password": (_("New password"), 1024),
        "secret_key": (_("New TOTP seed (base32)"), 256),
        "client_secret": (_("New client secret"), INPUT_LIMIT),
    }
    named = f" “{text.inline(name)}”" if name else ""
    blocks = [
        _section(
            _(
                "New secret values for {entry}. They are kept encrypted until an approver "
                "applies them, then deleted."
            ).format(entry=f"{_(kind.label)} {identifier}{named}")
        )
    ]
    for field_name in SECRET_FIELDS_OF[kind]:
        label, limit = fields[field_name]
        blocks.append(
            _input(field_name, label, optional=len(SECRET_FIELDS_OF[kind]) > 1, max_length=limit)
        )
    blocks.append(_input("reason", _("Reason"), optional=True, max_length=500))
    return _modal(
        ROTATE_VIEW,
        _("Rotate {kind}").format(kind=_(kind.label)),
        blocks,
        submit=_("Ask for approval"),
        metadata=json.dumps({"kind": kind.value, "identifier": identifier}),
    )


CREATE_FIELDS: dict[Kind, tuple[tuple[str, str, bool], ...]] = {
    Kind.PASSWORD: (
        ("name", N_("Name"), True),
        ("username", N_("Username"), True),
        ("password", N_("Password"), True),
        ("url", N_("URL"), False),
        ("secret_key", N_("TOTP seed (base32)"), False),
        ("notes", N_("Notes"), False),
        ("tags", N_("Tags (comma-separated)"), False),
    ),
    Kind.SECRET: (
        ("name", N_("Name"), True),
        ("url", N_("URL"), True),
        ("client_id", N_("Client ID"), True),
        ("client_secret", N_("Client secret"), True),
        ("identifier_code", N_("Identifier code"), False),
        ("method", N_("HTTP method (get, post, …)"), False),
        ("notes", N_("Notes"), False),
        ("tags", N_("Tags (comma-separated)"), False),
    ),
}


def create_modal(kind: Kind) -> Block:
    blocks = [
        _input(name, _(label), optional=not required, multiline=name == "notes")
        for name, label, required in CREATE_FIELDS[kind]
    ]
    blocks += [
        _input(
            "users_allowed",
            _("Share with MySafe users (comma-separated)"),
            optional=True,
            hint=_(
                "Add “:edit” for edit rights, e.g. alices:edit, bobm. Up to {most} users and "
                "groups in all."
            ).format(most=MAX_SHARES_PER_REQUEST),
        ),
        _input("groups_allowed", _("Share with MySafe groups (comma-separated)"), optional=True),
        _input("reason", _("Reason"), optional=True, max_length=500),
    ]
    return _modal(
        CREATE_VIEW,
        _("New {kind}").format(kind=_(kind.label)),
        blocks,
        submit=_("Ask for approval"),
        metadata=kind.value,
    )


# --- App Home -------------------------------------------------------------------------------

#: Own open requests listed on Home; more are counted (`/mysafe requests` lists them all).
HOME_OWN = 20
#: Requests fetched for one Home page (fewer are shown when their changes are long).
HOME_PAGE_SIZE = 10


def _header(label: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": label}}


def home_view(
    own: Iterable[ChangeRequest],
    queue: Sequence[ChangeRequest] | None,
    *,
    waiting: int = 0,
    start: int = 0,
    time_bound: Sequence[Block] = (),
    disabled: Sequence[DisabledEntry] = (),
    passkeys: Sequence[Passkey] = (),
) -> Block:
    """Your requests and your passkeys, then (approvers) the entries disabled through the bot
    and what waits for you, newest first, from `start`: each
    request whole as in the channel, counted, and a *More* button for what did not fit — the
    view stays within Slack's 100 blocks by design, and nothing is left out unsaid."""
    blocks = [
        _header(_("Your open requests")),
        *_own_blocks(list(own)),
        *time_bound,
        *passkey_blocks(passkeys),
    ]
    if queue is not None:
        blocks += disabled_blocks(disabled)
        blocks.append(_header(_("Waiting for your approval")))
        if not waiting:
            blocks.append(_context(_("Nothing waits for you.")))
        else:
            room = VIEW_BLOCKS - len(blocks) - 2  # the count above, the buttons below
            shown, these = _page_blocks(list(queue), room=room)
            blocks.append(
                _context(
                    _("{count} waiting for you, newest first; showing {first}–{last}.").format(
                        count=waiting, first=start + 1, last=start + shown
                    )
                )
            )
            blocks += these
            blocks += _paging(start, shown, waiting)
    return {"type": "home", "blocks": blocks}


def passkey_blocks(passkeys: Sequence[Passkey]) -> list[Block]:
    """The person's passkeys (a few at most: app.accounts.passkeys), each with Remove; they
    confirm approvals whose policy rule asks for step-up."""
    if not passkeys:
        return [
            _header(_("Your passkeys")),
            _context(
                _(
                    "None yet. `/mysafe passkey` registers one: approvals of changes whose rule "
                    "asks for step-up are confirmed with it."
                )
            ),
        ]
    found = [_header(_("Your passkeys"))]
    for passkey in passkeys:
        found.append(
            {
                **_section(
                    _("*{label}* · registered {when} · `{id}…`").format(
                        label=text.inline(passkey.label),
                        when=date(passkey.created),
                        id=text.code(passkey.credential_id[:12]),
                    )
                ),
                "accessory": {
                    **_button(_("Remove"), REMOVE_PASSKEY, passkey.credential_id, "danger"),
                    "confirm": {
                        "title": {"type": "plain_text", "text": _("Remove this passkey?")},
                        "text": {
                            "type": "plain_text",
                            "text": _("It will no longer confirm your approvals."),
                        },
                        "confirm": {"type": "plain_text", "text": _("Remove")},
                        "deny": {"type": "plain_text", "text": _("Keep")},
                    },
                },
            }
        )
    return found


#: Disabled entries an approver's Home lists; older ones are counted, never left out unsaid.
HOME_DISABLED = 20


def disabled_blocks(entries: Sequence[DisabledEntry]) -> list[Block]:
    """For approvers, the incident at a glance: what is disabled through the bot, by whom,
    when and why, newest first (MySafe itself lists none of it)."""
    if not entries:
        return []
    lines = [_disabled_line(e) for e in entries[:HOME_DISABLED]]
    blocks = [_header(_("Disabled through the bot")), *_sections(lines)]
    if len(entries) > HOME_DISABLED:
        blocks.append(
            _context(_("{count} more, disabled earlier.").format(count=len(entries) - HOME_DISABLED))
        )
    return blocks


def _disabled_line(entry: DisabledEntry) -> str:
    name = text.clip(entry.name, 255) if entry.name else _("_(name not known)_")
    line = f"• `{entry.kind.value} {entry.identifier}` {name} — " + _(
        "*disabled* by {who} {when} ({request})"
    ).format(who=f"<@{entry.by}>", when=date(entry.at), request=entry.request)
    return line + (f": “{text.clip(entry.reason, 300)}”" if entry.reason else "")


def _page_blocks(queue: list[ChangeRequest], *, room: int) -> tuple[int, list[Block]]:
    """As many whole requests as fit in `room` blocks (at least one), and how many that is."""
    blocks: list[Block] = []
    shown = 0
    for request in queue:
        these = _queued(request)
        if shown and len(blocks) + len(these) > room:
            break
        blocks += these
        shown += 1
    return shown, blocks


def _paging(start: int, shown: int, waiting: int) -> list[Block]:
    buttons = []
    if start + shown < waiting:
        left = _("More ({count} left)").format(count=waiting - start - shown)
        buttons.append(_button(left, HOME_PAGE, str(start + shown)))
    if start:
        buttons.append(_button(_("Back to the newest"), HOME_PAGE, "0"))
    return [{"type": "actions", "block_id": "home-paging", "elements": buttons}] if buttons else []


def _own_blocks(own: list[ChangeRequest]) -> list[Block]:
    if not own:
        return [_context(_("Nothing open. Try `/mysafe help`."))]
    blocks = []
    for request in own[:HOME_OWN]:
        block = _section(request_line(request))
        if request.state in (State.PENDING, State.FAILED):
            block["accessory"] = _button(_("Cancel"), CANCEL, request.id)
        blocks.append(block)
    if len(own) > HOME_OWN:
        blocks.append(
            _context(
                _("…and {count} more: `/mysafe requests` lists them all.").format(
                    count=len(own) - HOME_OWN
                )
            )
        )
    return blocks


def _queued(request: ChangeRequest) -> list[Block]:
    blocks = [
        _section(headline(request)),
        *_sections(change_lines(request)),
        _section(status_text(request)),
    ]
    actions = _actions(request)
    if actions:
        blocks.append({"type": "actions", "block_id": f"decision-{request.id}", "elements": actions})
    return blocks
