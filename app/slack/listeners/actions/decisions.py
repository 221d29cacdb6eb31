"""The approval message's buttons: Approve, Retry, Cancel and Nudge are jobs; Deny and View
change open a modal from the click's `trigger_id`, which Slack accepts only within 3 s, so they
act in the ack itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.approvals.decision import Decision
from app.approvals.machine import Outcome
from app.foundations.errors import ApprovalError
from app.i18n import _
from app.jobs.consumer import taken_over
from app.slack import blocks
from app.slack.listeners.actions.deps import Deps
from app.slack.replies import answer_errors
from app.slack.respond import Respond


def approve(deps: Deps, body: dict[str, Any], respond: Respond | None) -> None:
    def decide(request_id: str, user: str) -> Decision:
        decision = deps.engine.approve(request_id, user)
        if decision.status is Outcome.STEP_UP:  # the click waits for the approver's passkey
            url = deps.engine.step_up_link(decision.request, user)
            deps.tell(body, respond, blocks.step_up_notice(decision.request, url))
            # Audited as docs/step-up.md says; the link itself (a bearer token) never.
            deps.engine.audit.record("passkey.link_sent", request=decision.request.id, actor=user)
        return decision

    _decide(deps, body, respond, decide)


def retry(deps: Deps, body: dict[str, Any], respond: Respond | None) -> None:
    _decide(deps, body, respond, deps.engine.retry)


def cancel(deps: Deps, body: dict[str, Any], respond: Respond | None) -> None:
    _decide(deps, body, respond, deps.engine.cancel)


def nudge(deps: Deps, body: dict[str, Any], respond: Respond | None) -> None:
    """The requester reminds the approvers (at most once per the rule's remind_after).
    Run again after a crash, the reminder may go out twice, never not at all."""
    user, request_id = body["user"]["id"], body["actions"][0]["value"]
    with answer_errors(lambda text: deps.tell(body, respond, text)):
        deps.engine.nudge(request_id, user, again=taken_over())
        deps.tell(body, respond, _("The approvers of {id} were reminded.").format(id=request_id))


def _decide(
    deps: Deps, body: dict[str, Any], respond: Respond | None, decide: Callable[[str, str], Any]
) -> None:
    user, request_id = body["user"]["id"], body["actions"][0]["value"]
    with answer_errors(lambda text: deps.tell(body, respond, text)):
        decision = decide(request_id, user)
        if not decision.changed and not taken_over():  # a replay's effect is in already
            deps.tell(body, respond, blocks.unchanged_notice(decision.request))
    if body.get("container", {}).get("type") == "view":
        deps.home.publish(user)  # clicked in the Home tab: show it as it is now


def deny_clicked(
    deps: Deps, ack: Callable[..., Any], body: dict[str, Any], respond: Callable[..., Any]
) -> None:
    """The click denies at once (atomically, like approve), so nobody can approve while the
    denier types; the modal it opens then only adds the reason."""
    ack()
    user, request_id = body["user"]["id"], body["actions"][0]["value"]
    with (
        deps.durable.languages.to_person(user, ask=False),
        answer_errors(lambda text: deps.tell(body, respond, text)),
    ):
        decision = deps.engine.deny(request_id, user)
        if not decision.changed:
            deps.tell(body, respond, blocks.unchanged_notice(decision.request))
            return
        deps.client.views_open(trigger_id=body["trigger_id"], view=blocks.deny_modal(request_id))


def view_change_clicked(
    deps: Deps, ack: Callable[..., Any], body: dict[str, Any], respond: Callable[..., Any]
) -> None:
    """The whole change in a modal, for the people who decide on it (and its requester);
    opened at once, while the click's trigger_id is fresh."""
    ack()
    user, request_id = body["user"]["id"], body["actions"][0]["value"]
    with (
        deps.durable.languages.to_person(user, ask=False),
        answer_errors(lambda text: deps.tell(body, respond, text)),
    ):
        request = deps.engine.get(request_id)
        if user != request.requester and not deps.approvers.may_decide(user, request):
            raise ApprovalError(
                _("Only the approvers and the requester of this request can open the full change.")
            )
        deps.client.views_open(trigger_id=body["trigger_id"], view=blocks.change_modal(request))
