"""Button clicks. Every click with work is a job stored before its ack, declared once in
`BUTTONS` (action id, job kind, work). Deny, View change and Show all are not: each opens a
modal with the click's `trigger_id`, which Slack accepts only within 3 s of the click, so they
act in the ack itself (a crash before the modal opens leaves nothing half done: Deny's
transition is one atomic step, View change and Show all change nothing). The Home tab's paging
runs in a Bolt lazy listener: a later visit redoes it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from app.jobs.registry import Registry
from app.slack import blocks
from app.slack.listeners.actions import decisions, home, reviews, revokes
from app.slack.listeners.actions.button import Button
from app.slack.listeners.actions.deps import Deps
from app.slack.review_cards import REVIEW_KEEP, REVIEW_KEEP_ALL, REVIEW_REDUCE, REVIEW_REMOVE
from app.slack.revoke_notices import EXTEND, GIVE_UP, REVOKE_NOW

if TYPE_CHECKING:
    from slack_bolt import App

__all__ = ["BUTTONS", "CLICKS", "MODALS", "Button", "Deps", "register", "register_jobs"]

BUTTONS = (
    Button(blocks.APPROVE, "approve", decisions.approve),
    Button(blocks.RETRY, "retry", decisions.retry),
    Button(blocks.CANCEL, "cancel", decisions.cancel),
    Button(blocks.NUDGE, "nudge", decisions.nudge),
    Button(GIVE_UP, "give_up", revokes.give_up),
    Button(REVOKE_NOW, "revoke_now", revokes.revoke_now),
    Button(EXTEND, "extend", revokes.extend),
    Button(blocks.REMOVE_PASSKEY, "passkey_remove", home.remove_passkey),
    Button(REVIEW_KEEP, "review_keep", reviews.review_decided),
    Button(REVIEW_REMOVE, "review_remove", reviews.review_decided),
    Button(REVIEW_REDUCE, "review_reduce", reviews.review_decided),
    Button(REVIEW_KEEP_ALL, "review_keep_all", reviews.review_decided),
    Button(reviews.JUSTIFIED, "justified", reviews.justified),
    Button(reviews.NOT_JUSTIFIED, "not_justified", reviews.not_justified),
)

#: The buttons whose click is a job, by action id (the route's fast ack looks them up).
CLICKS: Mapping[str, Button] = {button.action_id: button for button in BUTTONS}

#: A button that opens a modal, answered in its ack: (deps, ack, body, respond).
ModalClick = Callable[[Deps, Callable[..., Any], dict[str, Any], Callable[..., Any]], None]

MODALS: tuple[tuple[str, ModalClick], ...] = (
    (blocks.DENY, decisions.deny_clicked),
    (blocks.VIEW_CHANGE, decisions.view_change_clicked),
    (blocks.SHOW_ACCESS, home.show_access_clicked),
)


def register(bolt: App, deps: Deps) -> None:
    for button in BUTTONS:
        bolt.action(button.action_id)(button.listener(deps))
    for action_id, click in MODALS:
        bolt.action(action_id)(_modal(deps, click))

    def page(body: dict[str, Any]) -> None:
        home.home_page(deps, body)

    bolt.action(blocks.HOME_PAGE)(ack=_ack, lazy=[page])


def register_jobs(registry: Registry, deps: Deps) -> None:
    for button in BUTTONS:
        deps.durable.on_job(registry, button.kind, button.job(deps))


def _modal(deps: Deps, click: ModalClick) -> Callable[..., None]:
    """Bolt's listener for a modal button (its arguments by name)."""

    def listener(ack: Callable[..., Any], body: dict[str, Any], respond: Callable[..., Any]) -> None:
        click(deps, ack, body, respond)

    return listener


def _ack(ack: Callable[..., Any]) -> None:
    ack()
