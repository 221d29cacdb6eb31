"""The buttons of reviews: a review card's Keep, Remove, Reduce to view and Keep all, and a
break-glass review's verdict (all jobs)."""

from __future__ import annotations

from typing import Any

from app.approvals.review_records import Choice
from app.foundations.errors import ApprovalError
from app.i18n import _
from app.slack.break_glass import JUSTIFIED, NOT_JUSTIFIED
from app.slack.listeners.actions.deps import Deps
from app.slack.replies import answer_errors
from app.slack.respond import Respond
from app.slack.review_cards import REVIEW_KEEP, REVIEW_KEEP_ALL, REVIEW_REDUCE, REVIEW_REMOVE

__all__ = ["JUSTIFIED", "NOT_JUSTIFIED", "justified", "not_justified", "review_decided"]

#: A review card's button -> the decision it makes.
_CHOICES = {REVIEW_KEEP: Choice.KEEP, REVIEW_REMOVE: Choice.REMOVE, REVIEW_REDUCE: Choice.REDUCE}


def justified(deps: Deps, body: dict[str, Any], respond: Respond | None) -> None:
    _review(deps, body, respond, justified=True)


def not_justified(deps: Deps, body: dict[str, Any], respond: Respond | None) -> None:
    _review(deps, body, respond, justified=False)


def _review(deps: Deps, body: dict[str, Any], respond: Respond | None, *, justified: bool) -> None:
    """A break-glass review's verdict, by an approver of its rule (never the requester)."""
    user, request_id = body["user"]["id"], body["actions"][0]["value"]
    if deps.reviewer is None:
        return
    with answer_errors(lambda text: deps.tell(body, respond, text)):
        review = deps.reviewer.decide(request_id, user, justified=justified)
        deps.tell(
            body, respond, _("Recorded: {state}.").format(state=_(review.state.replace("_", " ")))
        )


def review_decided(deps: Deps, body: dict[str, Any], respond: Respond | None) -> None:
    """*Keep*, *Remove*, *Reduce to view* or *Keep all* on a review card: decided against
    the entry as it is now, then every reviewer's card of that entry is redrawn (it says who
    decided)."""
    user, action = body["user"]["id"], body["actions"][0]
    name, _space, target = str(action.get("value", "")).partition(" ")
    with answer_errors(lambda text: deps.tell(body, respond, text)):
        if deps.reviews is None or deps.review_cards is None:
            raise ApprovalError(_("Reviews are not set up in this process."))
        campaign = deps.reviews.store.campaign(name)
        if campaign is None:
            raise ApprovalError(_("There is no review named {name}.").format(name=name))
        if action["action_id"] == REVIEW_KEEP_ALL:
            deps.reviews.keep_all(name, target, user)
            entry = target
        else:
            choice = _CHOICES[action["action_id"]]
            outcome = deps.reviews.decide(name, target, user, choice)
            entry = outcome.line.entry
            if not outcome.new:
                deps.tell(
                    body,
                    respond,
                    _("{who} decided that line already ({choice}); yours was not counted.").format(
                        who=f"<@{outcome.decided.by}>", choice=_(outcome.decided.choice.value)
                    ),
                )
        deps.review_cards.redraw(campaign, entry)
