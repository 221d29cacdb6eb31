"""What Slack is told about the end of a time-bound share, and the *Give up* button.

Registered as a `Revoker` listener. A revoke done is replied in the approval message's thread
and DMed to the owner and the people it was shared with. A revoke that failed is never silent:
after the first failure the approvals channel gets a notice — "access of … could not be removed
— still retrying" — with a *Give up* button for approvers; the notice is updated at each
attempt and says so once the revoke succeeds or an approver gives up.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from app import text
from app.approvals.revokes import Revoke, RevokeStore
from app.durations import describe
from app.slack.notifier import direct_message
from app.slack.periods import ago as _ago
from app.slack.periods import until as _until

log = logging.getLogger(__name__)

GIVE_UP = "revoke_give_up"
REVOKE_NOW = "revoke_now"
EXTEND = "revoke_extend"
#: Time-bound shares listed in the App Home before pointing to `/mysafe requests`.
HOME_TIME_BOUND = 10
#: Listed by `/mysafe requests`, soonest end first, within a message's 40,000 characters.
LISTED_TIME_BOUND = 20


def time_bound_line(revoke: Revoke) -> str:
    ends = (
        f"ends {_until(revoke.ends)} ({_ago(revoke.ends)})"
        if revoke.state == "scheduled"
        else "ended; removing it is being retried"
        if revoke.state == "retrying"
        else "being taken back now"
    )
    return (
        f"*{revoke.request_id}* — {text.clip(revoke.grantees, 300)} on "
        f"{text.clip(revoke.entry, 300)} · {ends} · owner <@{revoke.owner}>"
    )


def time_bound_lines(revokes: Sequence[Revoke], *, viewer: str | None) -> list[str]:
    """The person's running time-bound shares, for `/mysafe requests`."""
    more = len(revokes) - LISTED_TIME_BOUND
    return [
        f"*Your time-bound shares* ({len(revokes)})",
        *(time_bound_line(r) for r in revokes[:LISTED_TIME_BOUND]),
        *([f"…and {more} more, ending later (a reminder comes before each ends)."] if more > 0 else []),
        "_Owners can end one at once with *Revoke now* in the App Home._",
    ]


def home_blocks(revokes: Sequence[Revoke], *, viewer: str) -> list[dict[str, Any]]:
    """The App Home's time-bound shares, each with *Revoke now* for its owner."""
    if not revokes:
        return []
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Your time-bound shares"}}
    ]
    for revoke in revokes[:HOME_TIME_BOUND]:
        block: dict[str, Any] = {
            "type": "section",
            "text": {"type": "mrkdwn", "text": time_bound_line(revoke)},
        }
        if revoke.owner == viewer and revoke.state in ("scheduled", "retrying"):
            block["accessory"] = revoke_now_button(revoke.request_id)
        blocks.append(block)
    if len(revokes) > HOME_TIME_BOUND:
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": (
                            f"…and {len(revokes) - HOME_TIME_BOUND} more: "
                            "`/mysafe requests` lists them all."
                        ),
                    }
                ],
            }
        )
    return blocks


def _button(label: str, action_id: str, value: str) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action_id,
        "value": value,
        "text": {"type": "plain_text", "text": label},
    }


def revoke_now_button(request_id: str) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": REVOKE_NOW,
        "value": request_id,
        "style": "danger",
        "text": {"type": "plain_text", "text": "Revoke now"},
        "confirm": {
            "title": {"type": "plain_text", "text": "End this access now?"},
            "text": {"type": "plain_text", "text": "What the share added is taken back at once."},
            "confirm": {"type": "plain_text", "text": "Revoke now"},
            "deny": {"type": "plain_text", "text": "Keep it"},
        },
    }


def _subject(revoke: Revoke) -> str:
    return f"access of {text.clip(revoke.grantees, 1000)} to {text.clip(revoke.entry, 300)}"


def done_text(revoke: Revoke) -> str:
    """The end of the share, as owner, grantee and channel read it."""
    removed = "; ".join(revoke.removed)
    kept = "; ".join(revoke.kept)
    entry = text.clip(revoke.entry, 300)
    if removed:
        said = f"Time is up: {text.clip(removed, 1000)} removed from {entry}."
    else:
        said = f"Time is up for {entry}: nothing left to remove."
    if kept:
        said += f" Left as it is now: {text.clip(kept, 1000)}."
    if revoke.rotated:
        said += (
            " Its password was changed to a new random one, shown nowhere: the owner "
            "can look it up in MySafe."
        )
    return f"{said} (request {revoke.request_id})"


def alert_text(revoke: Revoke) -> str:
    if revoke.state == "done":
        return (
            f":white_check_mark: {_subject(revoke)} was removed after "
            f"{revoke.attempts} attempts ({revoke.request_id})."
        )
    if revoke.state == "given_up":
        return (
            f":warning: <@{revoke.given_up_by}> gave up removing {_subject(revoke)} "
            f"({revoke.request_id}): it stays until someone removes it in MySafe."
        )
    return (
        f":rotating_light: {_subject(revoke)} could not be removed — still retrying "
        f"(attempt {revoke.attempts}, {text.clip(revoke.error, 300)}; "
        f"request {revoke.request_id})."
    )


def alert_blocks(revoke: Revoke) -> list[dict[str, Any]]:
    section = {"type": "section", "text": {"type": "mrkdwn", "text": alert_text(revoke)}}
    if revoke.state != "retrying":
        return [section]
    return [
        section,
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": GIVE_UP,
                    "value": revoke.request_id,
                    "style": "danger",
                    "text": {"type": "plain_text", "text": "Give up"},
                    "confirm": {
                        "title": {"type": "plain_text", "text": "Stop retrying?"},
                        "text": {
                            "type": "plain_text",
                            "text": "The access stays until someone removes it in MySafe.",
                        },
                        "confirm": {"type": "plain_text", "text": "Give up"},
                        "deny": {"type": "plain_text", "text": "Keep retrying"},
                    },
                }
            ],
        },
    ]


def reminder_message(revoke: Revoke, *, owner: bool) -> dict[str, Any]:
    """The DM before the end: *Extend* for everyone it concerns, *Revoke now* for the owner."""
    said = (
        f"⏳ {_subject(revoke)} ends {_until(revoke.ends)} ({_ago(revoke.ends)}), as "
        f"approved in {revoke.request_id}. *Extend* asks for another "
        f"{describe(revoke.duration)} (an approver decides)."
    )
    buttons = [_button("Extend", EXTEND, revoke.request_id)]
    if owner:
        buttons.append(revoke_now_button(revoke.request_id))
    return {
        "text": said,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": said}},
            {"type": "actions", "elements": buttons},
        ],
    }


class RevokeNotices:
    def __init__(self, client: WebClient, store: RevokeStore, *, channel: str) -> None:
        self.client = client
        self.store = store
        self.channel = channel

    def __call__(self, revoke: Revoke, event: str) -> None:
        if event == "reminder":
            self._remind(revoke)
            return
        if event == "revoked":
            self._thread(revoke, done_text(revoke))
            for person in dict.fromkeys((revoke.owner, *revoke.notify)):
                direct_message(self.client, person, done_text(revoke))
        elif event == "revoke_given_up":
            self._thread(revoke, alert_text(revoke))
        self._alert(revoke)

    def _alert(self, revoke: Revoke) -> None:
        """Post the notice at the first failure (or the first one Slack took); keep it up to
        date afterwards, until it says the revoke was done or given up."""
        if revoke.alert_ts:
            self.client.chat_update(
                channel=revoke.alert_channel,
                ts=revoke.alert_ts,
                text=alert_text(revoke),
                blocks=alert_blocks(revoke),
            )
        elif revoke.state == "retrying":
            # In the channel the request was approved in (a policy rule may name its own).
            posted = self.client.chat_postMessage(
                channel=revoke.channel or self.channel,
                text=alert_text(revoke),
                blocks=alert_blocks(revoke),
            )
            self.store.set_alert(revoke.request_id, channel=posted["channel"], ts=posted["ts"])

    def _remind(self, revoke: Revoke) -> None:
        """Before the end: owner and grantees may ask to extend; the owner may end it now."""
        for person in dict.fromkeys((revoke.owner, *revoke.notify)):
            try:
                self.client.chat_postMessage(
                    channel=person, **reminder_message(revoke, owner=person == revoke.owner)
                )
            except SlackApiError as error:
                log.warning(
                    "reminder not delivered",
                    extra={
                        "event": "slack.dm_error",
                        "user": person,
                        "error": error.response.get("error", ""),
                    },
                )

    def _thread(self, revoke: Revoke, said: str) -> None:
        if revoke.channel and revoke.ts:
            self.client.chat_postMessage(channel=revoke.channel, thread_ts=revoke.ts, text=said)
