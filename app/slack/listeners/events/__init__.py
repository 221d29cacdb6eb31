"""Events: the App Home opened (a lazy listener: a later visit redoes it), an approver
group's members changed, and a person changed in Slack (their language, their standing)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.slack.approvers import Approvers
from app.slack.home_tab import HomeTab
from app.slack.languages import Languages

if TYPE_CHECKING:
    from slack_bolt import App

__all__ = ["Deps", "group_changed", "home_opened", "person_changed", "register"]


@dataclass(frozen=True)
class Deps:
    approvers: Approvers
    home: HomeTab
    languages: Languages


def register(bolt: App, deps: Deps) -> None:
    def opened(event: dict[str, Any]) -> None:
        home_opened(deps, event)

    def changed(ack: Callable[..., Any], event: dict[str, Any]) -> None:
        group_changed(deps, ack, event)

    def person(ack: Callable[..., Any], event: dict[str, Any]) -> None:
        person_changed(deps, ack, event)

    bolt.event("app_home_opened")(ack=_ack, lazy=[opened])
    bolt.event("subteam_members_changed")(changed)
    bolt.event("user_change")(person)


def home_opened(deps: Deps, event: dict[str, Any]) -> None:
    if event.get("tab", "home") == "home":
        deps.home.opened(event["user"])


def group_changed(deps: Deps, ack: Callable[..., Any], event: dict[str, Any]) -> None:
    """An approver group's members changed: drop the cached membership at once."""
    ack()
    deps.approvers.forget(str(event.get("subteam_id", "")))


def person_changed(deps: Deps, ack: Callable[..., Any], event: dict[str, Any]) -> None:
    """A person changed in Slack (their language, or their standing): forget what is kept
    of them, so the next answer reads them afresh."""
    ack()
    person = event.get("user")
    if isinstance(person, dict):
        deps.languages.people.changed(person)


def _ack(ack: Callable[..., Any]) -> None:
    ack()
