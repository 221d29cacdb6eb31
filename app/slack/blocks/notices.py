"""The direct messages around a request: to the requester, to the approvers it waits for, and
the notices for a change applied at once, a share and a step-up."""

from __future__ import annotations

from collections.abc import Sequence

from app import text
from app.approvals.change_request import ChangeRequest
from app.approvals.machine import State
from app.foundations.durations import describe
from app.foundations.settings import is_user_group
from app.i18n import _
from app.slack.blocks.asks import entry_label, headline
from app.slack.blocks.cards import status_text


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
