"""Keeps Slack in step with the engine: the channel message, the requester, the people shared with.

Registered as an engine listener. The channel message is posted once and then updated in place
(`chat.update`) after every change; if it could not be posted (Slack was down), the next change
posts it afresh, so a request is never without its message for long. DMs go to the requester
when the request ends or fails, and to people a share gave access to.

Where each message is and which version it shows is this front's own bookkeeping
(app.slack.sent_messages). The DMs that ask approvers to decide and the one that tells the
requester the outcome are kept (`SentMessages.keep_message`) and brought up to date:
approvers read that a request was decided, by whom, and the requester reads the reason a
denier adds after the click.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext, suppress

from redis.exceptions import LockError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from app.approvals.change_request import ChangeRequest
from app.approvals.changes import Verb
from app.approvals.decision import Event
from app.approvals.machine import State
from app.approvals.revokes import Revoke, RevokeEvent
from app.approvals.store import ApprovalStore
from app.foundations.clock import timestamp
from app.foundations.errors import NotPosted
from app.foundations.settings import is_user_group
from app.slack import blocks
from app.slack.approvers import Approvers
from app.slack.languages import Languages
from app.slack.sent_messages import Sent, SentMessages

log = logging.getLogger(__name__)

#: Slack's answers that mean the approvals channel cannot take the message at all (retrying
#: will not help): the request is withdrawn rather than left waiting unseen.
CANNOT_POST = frozenset({"not_in_channel", "channel_not_found", "is_archived", "restricted_action"})
#: Seconds a render waits for the one before it on the same message.
RENDER_WAIT = 10.0
_TELL_REQUESTER = frozenset({State.APPLIED, State.DENIED, State.FAILED, State.EXPIRED})
#: States in which nobody waits for an approver's click any more (a failure waits for a retry,
#: which the approver's DM then says).
_SETTLED = _TELL_REQUESTER | {State.CANCELLED}
#: Names of the kept DMs (`SentMessages.keep_message`): the requester's, each approver's.
REQUESTER_DM, APPROVER_DM = "requester", "approver:"


class SlackNotifier:
    def __init__(
        self,
        client: WebClient,
        store: ApprovalStore,
        sent: SentMessages,
        *,
        channel: str,
        approvers: Approvers | None = None,
        gains_access: Callable[[ChangeRequest, str], bool] | None = None,
        languages: Languages | None = None,
    ) -> None:
        self.client = client
        #: Whose language each message speaks: the channel's (MYSAFE_BOT_LOCALE) for the
        #: approval message and its thread, each person's own for their DM (None: English).
        self.languages = languages
        self.store = store
        #: Where its messages are and what they show (its own bookkeeping).
        self.sent = sent
        self.channel = channel
        self.approvers = approvers
        #: Whether a request gives a person access (they may not approve it: never asked to).
        self.gains_access = gains_access

    def _channel(self) -> AbstractContextManager[object]:
        return self.languages.to_channel() if self.languages is not None else nullcontext()

    def _to(self, person: str, render: Callable[..., str], *args: object) -> str:
        """`render(*args)` in `person`'s own language."""
        if self.languages is None:
            return render(*args)
        with self.languages.to_person(person):
            return render(*args)

    # --- the engine's news (app.approvals.decision.Listener) ---------------------------------

    def created(self, request: ChangeRequest) -> None:
        """Post the approval message (`NotPosted` when the channel refuses it) and tell the
        approvers it waits for them."""
        self._show(request)  # just made: no message shows it yet, so no look before the lock
        if request.state is State.PENDING:
            self.tell_approvers(request)
        self._applied(request)  # a rule that needs no approval applies at once

    def decided(self, request: ChangeRequest, event: Event) -> None:
        self._moved(request)

    def applying(self, request: ChangeRequest) -> None:
        self._moved(request)

    def applied(self, request: ChangeRequest) -> None:
        self._moved(request)

    def failed(self, request: ChangeRequest) -> None:
        self._moved(request)

    def expired(self, request: ChangeRequest) -> None:
        self._moved(request)

    def reason_given(self, request: ChangeRequest) -> None:
        """The denier's reason: on the message, and on the DM that told the requester."""
        self.show(request)
        self.retell_requester(request)
        if request.state in _SETTLED:
            self.retell_approvers(request)
        self._applied(request)

    def _moved(self, request: ChangeRequest) -> None:
        """The message as the request is now; once it is settled, the requester's DM and the
        approvers' DMs say how; once applied, what it gave."""
        self.show(request)
        if request.state in _TELL_REQUESTER:
            notice = self._to(request.requester, blocks.requester_notice, request)
            self._dm(request.requester, notice, request, REQUESTER_DM)
        if request.state in _SETTLED:
            self.retell_approvers(request)
        self._applied(request)

    def _applied(self, request: ChangeRequest) -> None:
        if request.state is not State.APPLIED:
            return
        if request.change.time_bound:
            self.sent.keep_thread(request.id)  # its end is told in the message's thread
        if request.change.verb is Verb.SHARE:
            for person in request.notify:
                self._dm(person, self._to(person, blocks.share_notice, request))

    def show(self, request: ChangeRequest) -> None:
        """Bring the request's message up to date: post it, or update it where it already is.

        Renders go one at a time per request (a short Redis lock) and each renders the request
        as it is once the lock is held, never the copy the caller had: two clicks whose
        `chat.update`s Slack answers out of order cannot leave the message behind. A render
        that cannot be done now is remembered, and the worker repairs it."""
        sent = self.sent.of(request.id)
        if sent.ts and sent.shown >= request.version:
            return  # the message already shows this version or a newer one
        self._show(request)

    def _show(self, request: ChangeRequest) -> None:
        """`show` without its look first, for a caller that knows the message is behind (the
        request was just made, or has no message yet): the render under the lock decides
        anyway, the look only spares the lock when nothing is to be done."""
        lock = self.sent.render_lock(request.id, wait=RENDER_WAIT)
        if not lock.acquire():
            self.sent.needs_repair(request.id, timestamp())
            return
        try:
            self._render_held(request)
        finally:
            with suppress(LockError):
                lock.release()

    def _render_held(self, request: ChangeRequest) -> None:
        """Render the request as it is now (the lock held); a Slack error is remembered for
        repair, or is `NotPosted` when the channel refuses the first post."""
        request, sent = self._as_now(request)
        try:
            self._render(request, sent)
        except SlackApiError as error:
            code = error.response.get("error", "")
            if not sent.ts and code in CANNOT_POST:
                raise NotPosted(code) from None
            self.sent.needs_repair(request.id, timestamp())
            raise

    def _as_now(self, request: ChangeRequest) -> tuple[ChangeRequest, Sent]:
        """The request as stored now (`request` if it is gone) and where its message is, in
        one read of its hash."""
        stored, fields = self.store.get_with_fields(request.id)
        return stored or request, Sent.in_fields(fields)

    def _render(self, request: ChangeRequest, sent: Sent) -> None:
        with self._channel():
            text, message = blocks.approval_message(request)
        where = None
        if sent.ts:
            if sent.shown < request.version:
                self.client.chat_update(channel=sent.channel, ts=sent.ts, text=text, blocks=message)
                self._update_copies(request, sent)
        else:
            posted = self.client.chat_postMessage(
                channel=request.rule_channel or self.channel,
                text=text,
                blocks=message,
                unfurl_links=False,
            )
            where = (str(posted["channel"]), str(posted["ts"]))
        self.sent.shown(request.id, request.version, posted=where)

    def remind_approvers(self, request: ChangeRequest) -> None:
        """One reminder in the request's thread, naming the approvers who have not acted.
        A Slack error propagates: the reminder is tried again (app.approvals.reminders)."""
        sent = self.sent.of(request.id)
        if not sent.ts:
            self._show(request)  # Slack was away when it was made: post it first
            request, sent = self._as_now(request)
        self.client.chat_postMessage(
            channel=sent.channel,
            thread_ts=sent.ts,
            text=self._in_channel(blocks.reminder_text, request, self.waiting_on(request)),
            unfurl_links=False,
        )

    def escalate_to(self, request: ChangeRequest) -> None:
        """The request, with working buttons, where the rule escalates it (a DM or a channel)."""
        with self._channel():
            text, message = blocks.escalation_message(request, self.sent.of(request.id).channel)
        copies = []
        for target in request.escalate_to:
            posted = self.client.chat_postMessage(
                channel=target, text=text, blocks=message, unfurl_links=False
            )
            copies.append((str(posted["channel"]), str(posted["ts"])))
        self.sent.set_copies(request.id, copies)

    def _update_copies(self, request: ChangeRequest, sent: Sent) -> None:
        """The escalated copies show what the channel message shows (a failure is logged: the
        copies' buttons answer with the request's state whatever they show)."""
        with self._channel():
            text, message = blocks.escalation_message(request, sent.channel)
        for channel, ts in sent.copies:
            try:
                self.client.chat_update(channel=channel, ts=ts, text=text, blocks=message)
            except SlackApiError as error:
                log.warning(
                    "escalated copy not updated",
                    extra={
                        "event": "slack.copy_error",
                        "request": request.id,
                        "error": error.response.get("error", ""),
                    },
                )

    def tell_approvers(self, request: ChangeRequest) -> None:
        """Tell the request's approvers it waits for them (MYSAFE_BOT_TELL_APPROVERS): a DM
        each, or one mention of them (groups by their handle) in the request's thread."""
        if self.approvers is None or self.approvers.settings.tell_approvers == "off":
            return  # before the read below: nobody is told, so nothing to read
        request, sent = self._as_now(request)  # as it is once posted
        if not sent.ts or request.required == 0:
            return
        how = self.approvers.settings.tell_approvers
        if how == "dm":
            for person in self.waiting_on(request):
                notice = self._to(person, blocks.approver_notice, request, sent.channel)
                self._dm(person, notice, request, APPROVER_DM + person)
        elif how == "thread":
            listed = request.approvers or self.approvers.settings.approvers
            with suppress(SlackApiError):  # the request is posted; a lost mention is not fatal
                self.client.chat_postMessage(
                    channel=sent.channel,
                    thread_ts=sent.ts,
                    unfurl_links=False,
                    text=self._in_channel(
                        blocks.approvers_mention, request, sorted(listed - {request.requester})
                    ),
                )

    def _in_channel(self, render: Callable[..., str], *args: object) -> str:
        with self._channel():
            return render(*args)

    def waiting_on(self, request: ChangeRequest) -> list[str]:
        """The request's approvers (users, and members of its groups) who have not acted and
        may: not the requester, nobody the request gives access to."""
        if self.approvers is None:
            return []
        listed = request.approvers or self.approvers.settings.approvers
        people = {a for a in listed if not is_user_group(a)}
        for group in sorted(a for a in listed if is_user_group(a)):
            people |= self.approvers.members(group)
        waiting = people - request.approvals - {request.requester}
        gains_access = self.gains_access
        if gains_access is not None:
            waiting = {p for p in waiting if not gains_access(request, p)}
        return sorted(waiting)

    def retell_requester(self, request: ChangeRequest) -> None:
        """The denier's reason, added after the click, on the DM that told the requester
        of the denial (a new DM when that one could not be sent)."""
        if request.state is not State.DENIED:
            return
        kept = self.sent.kept_messages(request.id).get(REQUESTER_DM)
        notice = self._to(request.requester, blocks.requester_notice, request)
        if kept is None:
            self._dm(request.requester, notice, request, REQUESTER_DM)
        else:
            self._update_dm(kept, notice)

    def retell_approvers(self, request: ChangeRequest) -> None:
        """Each "waits for your approval" DM, now saying what was decided and by whom."""
        sent, kept_messages = self.sent.with_kept(request.id)
        for name, kept in kept_messages.items():
            if name.startswith(APPROVER_DM):
                person = name.removeprefix(APPROVER_DM)
                notice = self._to(person, blocks.approver_notice, request, sent.channel)
                self._update_dm(kept, notice)

    def revoke_changed(self, revoke: Revoke, event: RevokeEvent) -> None:
        """A time-bound share ended: its approval message says so at the worker's next
        repair (the request is final, so no other pass looks at it again)."""
        if event == RevokeEvent.REVOKED:
            self.sent.needs_repair(revoke.request_id, timestamp())

    def repair(self, request_ids: list[str]) -> int:
        """Re-render messages that are behind their request (a failed or lost update)."""
        repaired = 0
        for request_id in request_ids:
            request = self.store.get(request_id)
            if request is None:
                self.sent.repaired(request_id)
                continue
            try:
                self.show(request)
                repaired += 1
            except SlackApiError as error:
                log.warning(
                    "message still behind",
                    extra={
                        "event": "slack.repair_error",
                        "request": request_id,
                        "error": error.response.get("error", ""),
                    },
                )
                break  # Slack is still refusing: try again at the next round
        return repaired

    def post_missing(self, requests: list[ChangeRequest], *, older_than: float) -> int:
        """Post the message of open requests that have none (Slack was down when they were
        made); the worker calls this now and then."""
        posted = 0
        for request in requests:
            if not self.sent.of(request.id).ts and request.created < older_than:
                try:
                    self._show(request)
                    posted += 1
                except SlackApiError as error:
                    log.warning(
                        "message still not posted",
                        extra={
                            "event": "slack.post_error",
                            "request": request.id,
                            "error": error.response.get("error", ""),
                        },
                    )
                    break  # Slack is still down: try again at the next round
                except NotPosted as error:
                    log.error(
                        "approvals channel refuses messages",
                        extra={"event": "slack.not_posted", "request": request.id, "why": str(error)},
                    )
                    break
        return posted

    def _dm(
        self, user_id: str, text: str, about: ChangeRequest | None = None, keep_as: str = ""
    ) -> None:
        """A DM; with `keep_as`, kept under that name on the request `about`, to be updated."""
        posted = direct_message(self.client, user_id, text)
        if posted is not None and about is not None and keep_as:
            self.sent.keep_message(about.id, keep_as, channel=posted[0], ts=posted[1])

    def _update_dm(self, kept: tuple[str, str], text: str) -> None:
        """Bring a kept DM up to date; a failure is logged (the channel message says it all)."""
        channel, ts = kept
        try:
            self.client.chat_update(channel=channel, ts=ts, text=text)
        except SlackApiError as error:
            log.warning(
                "direct message not updated",
                extra={"event": "slack.dm_update_error", "error": error.response.get("error", "")},
            )


def direct_message(client: WebClient, user_id: str, text: str) -> tuple[str, str] | None:
    """A direct message that may fail (a deactivated user, Slack down): logged, never raised,
    so the request or revoke it is about goes on. Where it landed (channel, ts), or None."""
    try:
        posted = client.chat_postMessage(channel=user_id, text=text, unfurl_links=False)
    except SlackApiError as error:
        log.warning(
            "direct message failed",
            extra={
                "event": "slack.dm_error",
                "user": user_id,
                "error": error.response.get("error", ""),
            },
        )
        return None
    return str(posted["channel"]), str(posted["ts"])
