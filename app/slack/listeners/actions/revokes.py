"""The buttons of a time-bound share's notices: Extend, Revoke now, Give up (all jobs)."""

from __future__ import annotations

from typing import Any

from app.i18n import _
from app.jobs.consumer import taken_over
from app.slack import blocks
from app.slack.listeners.actions.deps import Deps
from app.slack.replies import answer_errors
from app.slack.respond import Respond


def extend(deps: Deps, body: dict[str, Any], respond: Respond | None) -> None:
    """Owner or grantee asks for a new period: a new request, approved like any share.
    The click's trigger_id keys it, so a job run again after a crash makes no second one."""
    user, request_id = body["user"]["id"], body["actions"][0]["value"]
    if deps.revoker is None:
        return
    with answer_errors(lambda text: deps.tell(body, respond, text)):
        request = deps.revoker.extend(
            request_id, user, idempotency_key=f"slack:{body.get('trigger_id', '')}"
        )
        if not taken_over():  # a replay's notice was (or will be) given by its first run
            deps.tell(
                body,
                respond,
                blocks.waiting_notice(request, deps.services.settings.approval_channel, asked_by=user),
            )


def revoke_now(deps: Deps, body: dict[str, Any], respond: Respond | None) -> None:
    """The owner ends a time-bound share at once (no approval needed to give access up)."""
    user, request_id = body["user"]["id"], body["actions"][0]["value"]
    if deps.revoker is None:
        return
    status = deps.revoker.revoke_now(request_id, user)
    if status == "not_owner":
        deps.tell(body, respond, _("Only the owner who shared it can revoke it now."))
    elif status != "ok" and not taken_over():  # else the first run ended it already
        deps.tell(
            body, respond, _("Nothing to revoke: that share is {status}.").format(status=_(status))
        )
    if body.get("container", {}).get("type") == "view":
        deps.home.publish(user)


def give_up(deps: Deps, body: dict[str, Any], respond: Respond | None) -> None:
    """An approver of the rule the share was approved under stops the retries of a revoke
    that keeps failing; an approver of another rule, or a grantee, may not."""
    user, request_id = body["user"]["id"], body["actions"][0]["value"]
    if deps.revoker is None:
        return
    with answer_errors(lambda text: deps.tell(body, respond, text)):
        status = deps.revoker.give_up(request_id, user)
        if status == "not_approver":
            deps.tell(
                body,
                respond,
                _(
                    "Only approvers of the rule this share was approved under can give up on "
                    "removing it."
                ),
            )
        elif status == "beneficiary":
            deps.tell(
                body,
                respond,
                _("You have this access through the share: you cannot give up removing it."),
            )
        elif status != "ok" and not taken_over():  # else the first run gave up already
            deps.tell(
                body,
                respond,
                _("Nothing to give up: that revoke is {status}.").format(status=_(status)),
            )
