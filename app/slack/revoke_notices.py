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
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from app import text
from app.approvals.grants import Granted
from app.approvals.revokes import Revoke
from app.foundations.durations import describe
from app.i18n import _
from app.slack.blocks.kit import _button, _confirmed
from app.slack.languages import Languages
from app.slack.notifier import direct_message
from app.slack.periods import ago as _ago
from app.slack.periods import until as _until
from app.slack.sent_messages import SentMessages

log = logging.getLogger(__name__)

GIVE_UP = "revoke_give_up"
REVOKE_NOW = "revoke_now"
EXTEND = "revoke_extend"
#: Time-bound shares listed in the App Home before pointing to `/mysafe requests`.
HOME_TIME_BOUND = 10
#: Listed by `/mysafe requests`, soonest end first, within a message's 40,000 characters.
LISTED_TIME_BOUND = 20


def _who(item: Granted, revoke: Revoke, viewer: str | None) -> str:
    """A person as the reader knows them: "you" in their own message, a Slack mention when
    the request named them by one, else their MySafe username; a group by its MySafe name."""
    slack_id = None if item.is_group else revoke.people.get(item.name.casefold())
    if slack_id and slack_id == viewer:
        return _("you")
    if slack_id:
        return f"<@{slack_id}>"
    if item.is_group:
        return _("group {name}").format(name=text.clip(item.name, 128))
    return text.clip(item.name, 128)


def _named(item: Granted, revoke: Revoke, viewer: str | None) -> str:
    """`@alice (view)`, `group Ops (view → edit)`, the rights in the reader's language."""
    return f"{_who(item, revoke, viewer)} ({_rights(item.rights)})"


def _rights(rights: str) -> str:
    return " → ".join(_(right) for right in rights.split(" → "))


def _listed(parts: Sequence[str], limit: int, *, sep: str = ", ") -> str:
    """Inert parts (names already made safe, mentions) joined, whole ones only up to about
    `limit` characters, then how many more: a cut could split a mention."""
    shown: list[str] = []
    used = 0
    for part in parts:
        used += len(part) + len(sep)
        if shown and used > limit:
            break
        shown.append(part)
    more = len(parts) - len(shown)
    return sep.join(shown) + (sep + _("and {count} more").format(count=more) if more else "")


def _grantees(revoke: Revoke, viewer: str | None, limit: int) -> str:
    """Who the share gives what, named for `viewer` (None: a channel, everyone a mention)."""
    return _listed([_named(g, revoke, viewer) for g in revoke.grant.items], limit) or _("nobody")


def time_bound_line(revoke: Revoke, *, viewer: str | None = None) -> str:
    ends = (
        _("ends {when} ({ago})").format(when=_until(revoke.ends), ago=_ago(revoke.ends))
        if revoke.state == "scheduled"
        else _("ended; removing it is being retried")
        if revoke.state == "retrying"
        else _("being taken back now")
    )
    return _("*{id}* — {who} on {entry} · {ends} · owner {owner}").format(
        id=revoke.request_id,
        who=_grantees(revoke, viewer, 300),
        entry=text.clip(revoke.entry, 300),
        ends=ends,
        owner=f"<@{revoke.owner}>",
    )


def time_bound_lines(revokes: Sequence[Revoke], *, viewer: str | None) -> list[str]:
    """The person's running time-bound shares, for `/mysafe requests`."""
    more = len(revokes) - LISTED_TIME_BOUND
    return [
        _("*Your time-bound shares* ({count})").format(count=len(revokes)),
        *(time_bound_line(r, viewer=viewer) for r in revokes[:LISTED_TIME_BOUND]),
        *(
            [
                _("…and {count} more, ending later (a reminder comes before each ends).").format(
                    count=more
                )
            ]
            if more > 0
            else []
        ),
        _("_Owners can end one at once with *Revoke now* in the App Home._"),
    ]


def home_blocks(revokes: Sequence[Revoke], *, viewer: str) -> list[dict[str, Any]]:
    """The App Home's time-bound shares, each with *Revoke now* for its owner."""
    if not revokes:
        return []
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _("Your time-bound shares")}}
    ]
    for revoke in revokes[:HOME_TIME_BOUND]:
        block: dict[str, Any] = {
            "type": "section",
            "text": {"type": "mrkdwn", "text": time_bound_line(revoke, viewer=viewer)},
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
                        "text": _("…and {count} more: `/mysafe requests` lists them all.").format(
                            count=len(revokes) - HOME_TIME_BOUND
                        ),
                    }
                ],
            }
        )
    return blocks


def revoke_now_button(request_id: str) -> dict[str, Any]:
    return _confirmed(
        _button(_("Revoke now"), REVOKE_NOW, request_id, "danger"),
        _("End this access now?"),
        _("What the share added is taken back at once."),
        _("Revoke now"),
        _("Keep it"),
    )


def _subject(revoke: Revoke, *, viewer: str | None = None) -> str:
    """`access of <@U1> (view) to …`; in a grantee's own DM, `your access (view) to …`."""
    entry = text.clip(revoke.entry, 300)
    items = revoke.grant.items
    if len(items) == 1 and _who(items[0], revoke, viewer) == _("you"):
        return _("your access ({rights}) to {entry}").format(
            rights=_rights(items[0].rights), entry=entry
        )
    return _("access of {who} to {entry}").format(who=_grantees(revoke, viewer, 1000), entry=entry)


def _ended(revoke: Revoke, viewer: str | None) -> tuple[str, str]:
    """What the end removed and what it left (and why), named for `viewer`. A record ended
    before the end kept them apart has them in words only (MySafe usernames)."""
    if not (revoke.undone or revoke.left):
        return text.clip("; ".join(revoke.removed), 1000), text.clip("; ".join(revoke.kept), 1000)
    removed = [_named(g, revoke, viewer) for g in revoke.undone]
    kept = [f"{_named(g, revoke, viewer)}: {text.clip(why, 300)}" for g, why in revoke.left]
    return _listed(removed, 1000, sep="; "), _listed(kept, 1000, sep="; ")


def done_text(revoke: Revoke, *, viewer: str | None = None) -> str:
    """The end of the share, as owner, grantee (`viewer`: "you") and channel read it."""
    removed, kept = _ended(revoke, viewer)
    entry = text.clip(revoke.entry, 300)
    if removed:
        said = _("Time is up: {removed} removed from {entry}.").format(removed=removed, entry=entry)
    else:
        said = _("Time is up for {entry}: nothing left to remove.").format(entry=entry)
    if kept:
        said += _(" Left as it is now: {kept}.").format(kept=kept)
    if revoke.rotated:
        said += _(
            " Its password was changed to a new random one, shown nowhere: the owner "
            "can look it up in MySafe."
        )
    return said + _(" (request {id})").format(id=revoke.request_id)


def alert_text(revoke: Revoke) -> str:
    if revoke.state == "done":
        return _(":white_check_mark: {subject} was removed after {count} attempts ({id}).").format(
            subject=_subject(revoke), count=revoke.attempts, id=revoke.request_id
        )
    if revoke.state == "given_up":
        return _(
            ":warning: {who} gave up removing {subject} ({id}): it stays until someone removes "
            "it in MySafe."
        ).format(who=f"<@{revoke.given_up_by}>", subject=_subject(revoke), id=revoke.request_id)
    return _(
        ":rotating_light: {subject} could not be removed — still retrying (attempt {count}, "
        "{error}; request {id})."
    ).format(
        subject=_subject(revoke),
        count=revoke.attempts,
        error=text.clip(revoke.error, 300),
        id=revoke.request_id,
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
                _confirmed(
                    _button(_("Give up"), GIVE_UP, revoke.request_id, "danger"),
                    _("Stop retrying?"),
                    _("The access stays until someone removes it in MySafe."),
                    _("Give up"),
                    _("Keep retrying"),
                )
            ],
        },
    ]


def reminder_message(revoke: Revoke, *, owner: bool, viewer: str | None = None) -> dict[str, Any]:
    """The DM before the end: *Extend* for everyone it concerns, *Revoke now* for the owner."""
    said = _(
        "⏳ {subject} ends {when} ({ago}), as approved in {id}. *Extend* asks for another "
        "{period} (an approver decides)."
    ).format(
        subject=_subject(revoke, viewer=viewer),
        when=_until(revoke.ends),
        ago=_ago(revoke.ends),
        id=revoke.request_id,
        period=describe(revoke.duration),
    )
    buttons = [_button(_("Extend"), EXTEND, revoke.request_id)]
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
    def __init__(
        self,
        client: WebClient,
        sent: SentMessages,
        *,
        channel: str,
        languages: Languages | None = None,
    ) -> None:
        self.client = client
        #: Where the approval message and the failure notice are (the front's bookkeeping).
        self.sent = sent
        self.channel = channel
        #: The channel's language for the thread and the alert; each person's for their DM.
        self.languages = languages

    def _to(self, person: str | None) -> AbstractContextManager[object]:
        if self.languages is None:
            return nullcontext()
        return self.languages.to_person(person) if person else self.languages.to_channel()

    # --- the revoker's news (app.approvals.revokes.RevokeListener) ---------------------------

    def reminder(self, revoke: Revoke) -> None:
        self._remind(revoke)

    def revoked(self, revoke: Revoke) -> None:
        """In the approval message's thread and to each person: the access is gone."""
        with self._to(None):
            self._thread(revoke, done_text(revoke))
        for person in dict.fromkeys((revoke.owner, *revoke.notify)):
            with self._to(person):
                said = done_text(revoke, viewer=person)
            direct_message(self.client, person, said)
        self._alert_in_channel(revoke)

    def drift_detected(self, revoke: Revoke) -> None:
        self._alert_in_channel(revoke)

    def revoke_failed(self, revoke: Revoke) -> None:
        self._alert_in_channel(revoke)

    def revoke_given_up(self, revoke: Revoke) -> None:
        with self._to(None):
            self._thread(revoke, alert_text(revoke))
        self._alert_in_channel(revoke)

    def _alert_in_channel(self, revoke: Revoke) -> None:
        with self._to(None):
            self._alert(revoke)

    def _alert(self, revoke: Revoke) -> None:
        """Post the notice at the first failure (or the first one Slack took); keep it up to
        date afterwards, until it says the revoke was done or given up."""
        alert_channel, alert_ts = self.sent.alert(revoke.request_id)
        if alert_ts:
            self.client.chat_update(
                channel=alert_channel,
                ts=alert_ts,
                text=alert_text(revoke),
                blocks=alert_blocks(revoke),
            )
        elif revoke.state == "retrying":
            # In the channel the request was approved in (a policy rule may name its own).
            posted = self.client.chat_postMessage(
                channel=self.sent.thread(revoke.request_id)[0] or self.channel,
                text=alert_text(revoke),
                blocks=alert_blocks(revoke),
            )
            self.sent.set_alert(revoke.request_id, channel=posted["channel"], ts=posted["ts"])

    def _remind(self, revoke: Revoke) -> None:
        """Before the end: owner and grantees may ask to extend; the owner may end it now."""
        for person in dict.fromkeys((revoke.owner, *revoke.notify)):
            with self._to(person):
                message = reminder_message(revoke, owner=person == revoke.owner, viewer=person)
            try:
                self.client.chat_postMessage(channel=person, **message)
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
        channel, ts = self.sent.thread(revoke.request_id)
        if channel and ts:
            self.client.chat_postMessage(channel=channel, thread_ts=ts, text=said)
