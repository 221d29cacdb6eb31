"""Every message, modal and Home view the bot can build is one Slack accepts, in human words.

Each public builder of the Slack front (`app/slack/blocks/`, `revoke_notices.py`,
`replies.py`, `periods.py`) is called with worst-case input: the most people and groups a
request may name, names and values at their longest, text that tries to format, ping and pass
for the bot's own lines, every verb in every state. Each payload is held to Slack's limits twice:
by `slack_sdk.models` (Slack's own SDK validates the block types it knows) and by
`tests/support/slack_limits.py` (what the recording fake refuses). Every text a person reads is
then scanned for what people should never have to decode: raw ISO or epoch times (Slack dates
are `<!date^…>`), MySafe's API field names, "Api secrets".

A builder added to one of those modules without an entry in `BUILDERS` (or `NOT_PAYLOADS`,
saying why) fails `test_every_public_builder_is_in_the_inventory`.
"""

from __future__ import annotations

import importlib
import inspect
import itertools
import pkgutil
import re
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from app.accounts.passkeys import MAX_PER_PERSON, Passkey
from app.approvals.break_glass import Review
from app.approvals.change_diff import DiffLine
from app.approvals.change_request import ChangeRequest
from app.approvals.changes import MAX_PRINCIPAL_NAME, MAX_SHARES_PER_REQUEST, Change, Verb
from app.approvals.disabled import DisabledEntry
from app.approvals.given import Given, holders
from app.approvals.grants import Grant, Granted, rights
from app.approvals.machine import State
from app.approvals.review_campaigns import Waiting
from app.approvals.review_records import Campaign, CampaignState, Choice, Decided, Line
from app.approvals.revokes import Revoke
from app.approvals.secret_fields import SECRET_FIELDS_OF
from app.foundations.errors import (
    CredentialsMissing,
    CredentialsRejected,
    MySafeUnavailable,
    NoAccess,
    PlainRefusal,
    SelfApproval,
    ValidationError,
)
from app.i18n import PSEUDO, speaking
from app.mysafe.models import Entry, GroupShare, Kind, ListItem, UserShare
from app.slack import blocks, break_glass, periods, replies, review_cards, revoke_notices
from commands.replies import (
    AccessShown,
    Code,
    CreateForm,
    EntryList,
    EntryShown,
    LoginForm,
    Message,
    OpenForm,
    Person,
    QueuePage,
    RequestList,
    RotateForm,
    Strong,
    Submitted,
    When,
)
from tests.support.slack_limits import MESSAGE_TEXT, message_refusal, view_refusal
from tests.support.slack_reading import misread_labels, texts, visible

NOW = 1_800_000_000.0
#: Tries every mrkdwn trick, a ping, a link, and a line break into a line of the bot's own.
HOSTILE = "*b* _i_ ~s~ `c` ``` <!channel> @here <https://evil.example|x> &lt;&gt; \n✅ Applied "


def hostile(length: int) -> str:
    return (HOSTILE * (length // len(HOSTILE) + 1))[:length]


def names(count: int, prefix: str) -> list[str]:
    """`count` distinct names at the longest a principal may have."""
    return [f"{prefix}{i:03d}" + hostile(MAX_PRINCIPAL_NAME - len(prefix) - 3) for i in range(count)]


def sharing_diff(verb: Verb) -> tuple[DiffLine, ...]:
    """MAX_SHARES_PER_REQUEST people and groups, in every kind of sharing line."""
    users = names(MAX_SHARES_PER_REQUEST // 2, "u")
    groups = names(MAX_SHARES_PER_REQUEST - len(users), "g")
    rights = {
        Verb.SHARE: [("", "edit"), ("view", "edit"), ("edit", "edit"), ("", "")],
        Verb.REDUCE: [("edit", "view"), ("view", "view"), ("", "")],
    }.get(verb, [("edit", ""), ("view", ""), ("", "")])
    lines = [
        DiffLine("users_allowed", *rights[i % len(rights)], principal=name)
        for i, name in enumerate(users)
    ]
    lines += [
        DiffLine("groups_allowed", *rights[i % len(rights)], principal=name)
        for i, name in enumerate(groups)
    ]
    return tuple(lines)


def field_diff(kind: Kind, verb: Verb) -> tuple[DiffLine, ...]:
    if verb is Verb.ROTATE:
        return tuple(DiffLine(name, "(changed)", "(changed)") for name in SECRET_FIELDS_OF[kind])
    plain = Entry.PLAIN_FIELDS[kind]
    long = 10_000
    return tuple(
        DiffLine(name, "" if verb is Verb.CREATE else hostile(long), hostile(long - 7) + "changed")
        for name in plain
    )


def request(verb: Verb, state: State, kind: Kind = Kind.PASSWORD, **more: Any) -> ChangeRequest:
    sharing = verb in (Verb.SHARE, Verb.UNSHARE, Verb.REDUCE)
    users = tuple(UserShare(n, verb is not Verb.REDUCE) for n in names(3, "u")) if sharing else ()
    change = Change(
        verb,
        kind,
        None if verb is Verb.CREATE else 2**31 - 1,
        add_users=users if verb in (Verb.SHARE, Verb.REDUCE) else (),
        remove_users=tuple(u.username for u in users) if verb is Verb.UNSHARE else (),
        duration=30 * 86400 if verb is Verb.SHARE else 0,
        rotate_after=verb is Verb.SHARE,
    )
    decided = state in (State.APPLIED, State.DENIED, State.EXPIRED, State.CANCELLED)
    fields: dict[str, Any] = {
        "id": "R-7K2QF",
        "change": change,
        "state": state,
        "requester": "UREQUESTER1",
        "requester_name": hostile(128),
        "created": NOW - 3600,
        "expires": NOW + 86400,
        "required": 3,
        "diff": sharing_diff(verb) if sharing else field_diff(kind, verb),
        "entry_name": hostile(255),
        "reason": hostile(500),
        "ticket": {"key": hostile(64), "url": "https://jira.example/browse/" + "X" * 2000},
        "source": "ticket",
        "approvals": frozenset({"UAPPROVER1", "UAPPROVER2"}),
        "error": hostile(2000) if state in (State.FAILED, State.EXPIRED, State.CANCELLED) else "",
        "result": {"message": hostile(2000), "shared_error": [hostile(300)] * 20}
        if state is State.APPLIED
        else {},
        "decided_by": "bot" if state is State.CANCELLED else "UAPPROVER1" if decided else "",
        "deny_reason": hostile(2000) if state is State.DENIED else "",
        "updated": NOW,
        "rule": hostile(200),
        "rule_channel": "C0RULE",
        "remind_after": 3600,
        "escalate_to": ("USECURITY1",),
        # Made under other rules than those in force (the message says so), the longest way.
        "policy_version": 2**53,
        "policy": "sha256:" + "f" * 64,
        "policy_now": 2**53,
    }
    fields.update(more)
    return ChangeRequest(**fields)


def every_request() -> Iterator[ChangeRequest]:
    for verb in Verb:
        for state in State:
            for kind in Kind:
                yield request(verb, state, kind)


def break_glasses() -> Iterator[tuple[ChangeRequest, Review]]:
    """Break-glass shares in each state, with the longest evidence, and their reviews."""
    evidence = {
        "provider": "pagerduty",
        "schedule": hostile(100),
        "on_call": names(20, "oncall@"),
        "matched": hostile(254),
        "checked": NOW - 60,
        "rule": hostile(63),
    }
    for state in State:
        for ends in ({"ends": NOW + 3600}, {}):
            shared = request(Verb.SHARE, state, break_glass=evidence, required=0)
            shared = ChangeRequest(**{**shared.__dict__, "result": {**shared.result, **ends}})
            for verdict in ("open", "justified", "not_justified"):
                yield (
                    shared,
                    Review(
                        request_id=shared.id,
                        state=verdict,
                        deadline=NOW + 86400,
                        rule=hostile(63),
                        escalate_to=("U0DUTYMGR",),
                        notify=("C0SECURITY",),
                        escalations=99,
                        by="UAPPROVER1",
                        at=NOW,
                    ),
                )


def revokes() -> Iterator[Revoke]:
    grant = Grant(
        tuple(
            Granted("users_allowed" if i % 2 else "groups_allowed", name, "", "edit")
            for i, name in enumerate(names(MAX_SHARES_PER_REQUEST, "p"))
        )
    )
    # Every person a mention (the longer name where a username could be), what was taken back
    # and left kept apart, beside a record ended before that (its words only).
    people = {g.name.casefold(): f"U{i:010d}" for i, g in enumerate(grant.items) if not g.is_group}
    ended = {
        "people": people,
        "undone": grant.items,
        "left": tuple((g, hostile(300)) for g in grant.items),
    }
    for state, structured in itertools.product(
        ("scheduled", "retrying", "revoking", "done", "given_up"), (False, True)
    ):
        yield Revoke(
            request_id="R-7K2QF",
            kind=Kind.PASSWORD,
            identifier=2**31 - 1,
            entry_name=hostile(255),
            owner="UOWNER1",
            grant=grant,
            ends=NOW + 3600,
            state=state,
            attempts=99,
            notify=("UGRANTEE1",),
            error=hostile(2000),
            removed=tuple(names(MAX_SHARES_PER_REQUEST, "r")),
            kept=tuple(names(MAX_SHARES_PER_REQUEST, "k")),
            given_up_by="UAPPROVER1",
            rotate_after=True,
            rotated=state == "done",
            duration=30 * 86400,
            **(ended if structured else {}),  # type: ignore[arg-type]
        )


def entry(kind: Kind) -> Entry:
    plain = {name: hostile(10_000) for name in Entry.PLAIN_FIELDS[kind] if name != "name"}
    return Entry(
        kind,
        2**31 - 1,
        hostile(255),
        has_password=True,
        has_totp=True,
        has_client_secret=True,
        users_allowed=tuple(UserShare(n, i % 2 == 0) for i, n in enumerate(names(200, "u"))),
        groups_allowed=tuple(GroupShare(n, True) for n in names(200, "g")),
        **plain,
    )


def items(kind: Kind) -> list[ListItem]:
    return [
        ListItem(
            kind,
            i,
            hostile(255),
            url=hostile(2000),
            username=hostile(255),
            tags=hostile(255),
            can_write=i % 2 == 0,
            active=i % 3 != 0,
        )
        for i in range(500)
    ]


# --- what each builder makes: ("message" | "view" | "text" | "blocks", payload) -------------

Payload = tuple[str, Any]


def _requests_each(build: Callable[[ChangeRequest], Any], shape: str) -> Iterator[Payload]:
    for r in every_request():
        yield shape, build(r)


def _message(built: tuple[str, list[dict[str, Any]]]) -> dict[str, Any]:
    fallback, found = built
    return {"text": fallback, "blocks": found}


def access_shown(kind: Kind) -> AccessShown:
    """Four hundred users and groups at their longest names, each explained by five running
    requests with many approvers and a long ticket key, or given outside the bot."""
    shown = entry(kind)
    given = [
        Given(
            f"R-{i}AAAA",
            "edit" if i % 2 else "view",
            "UALICE1",
            hostile(128),
            tuple(f"U{j:09d}" for j in range(10)),
            NOW,
            hostile(64),
            NOW + 3600 * i,
        )
        for i in range(1, 6)
    ]
    traces = {key: given for key in list(rights(shown))[::2]}
    return AccessShown(kind, 2**31 - 1, hostile(10_000), holders(shown, traces, now=NOW))


def _access() -> Iterator[Payload]:
    for kind in Kind:
        reply = access_shown(kind)
        yield "message", dict(zip(("text", "blocks"), replies.access_message(reply), strict=True))
        yield "view", replies.access_view(reply)
        disabled = AccessShown(kind, 2**31 - 1, "", (), active=False)
        yield "message", dict(zip(("text", "blocks"), replies.access_message(disabled), strict=True))
        few = AccessShown(kind, 1, "GCP", reply.holders[:3])
        yield "message", dict(zip(("text", "blocks"), replies.access_message(few), strict=True))


def _review_cards() -> Iterator[Payload]:
    campaign = Campaign(hostile(64), CampaignState.RUNNING, NOW, NOW + 14 * 86400)
    for kind in Kind:
        lines = [
            Line(kind, 2**31 - 1, hostile(10_000), field, name, "edit", ("UREVIEW01",))
            for field, name in [
                *(("users_allowed", n) for n in names(30, "u")),
                ("groups_allowed", "g"),
            ]
        ]
        decided = {
            ln.id: Decided(
                Choice.REMOVE if i % 2 else Choice.KEEP, "UREVIEW01", NOW, "R-7K2QF", hostile(300)
            )
            for i, ln in enumerate(lines[::3])
        }
        parts = review_cards.pages(lines)
        for page, part in enumerate(parts, start=1):
            for decisions in ({}, decided):
                found = review_cards.card(campaign, part, decisions, page=page, of=len(parts))
                yield "message", dict(zip(("text", "blocks"), found, strict=True))


def _replies() -> Iterator[Payload]:
    channel = "C0APPROVALS"
    many = [request(Verb.SHARE, State.PENDING)] * 30
    line = (
        Strong(hostile(200)),
        " ",
        Code(hostile(500)),
        " ",
        Person("UALICE1"),
        " ",
        When(int(NOW)),
        hostile(1000),
    )
    for reply in (
        Message((line,) * 5),
        Submitted(request(Verb.SHARE, State.PENDING)),
        *(EntryList(kind, items(kind), hostile(100), page=p) for kind in Kind for p in (1, 2, 999)),
        *(EntryShown(entry(kind)) for kind in Kind),
        RequestList(many, QueuePage(many, 500, 3, 50), time_bound=list(revokes())),
        *(access_shown(kind) for kind in Kind),
    ):
        yield "text", replies.render_text(reply, channel=channel)
    for form in (
        LoginForm(),
        *(RotateForm(kind, 2**31 - 1) for kind in Kind),
        *(CreateForm(kind) for kind in Kind),
    ):
        yield "view", replies.form_view(OpenForm(form))


def _refusals() -> Iterator[Payload]:
    for error in (
        ValidationError({"name": hostile(500)}),
        PlainRefusal({"change": hostile(500)}),
        CredentialsMissing(),
        CredentialsRejected("MySafe: " + hostile(2000), status=401),
        MySafeUnavailable(hostile(2000), status=503),
        NoAccess(hostile(2000), code=1006),
        SelfApproval(),
    ):
        yield "text", replies.refusal_text(error)


def _answer_errors() -> Iterator[Payload]:
    said: list[str] = []
    with replies.answer_errors(said.append):
        raise NoAccess(hostile(2000), code=1006)
    with replies.answer_errors(said.append):
        raise RuntimeError(hostile(100))
    for one in said:
        yield "text", one


def _home() -> Iterator[Payload]:
    queue = [request(verb, state) for verb in Verb for state in (State.PENDING, State.FAILED)]
    own = [request(Verb.SHARE, State.PENDING)] * 50
    time_bound = revoke_notices.home_blocks(list(revokes()) * 5, viewer="UOWNER1")
    for start in (0, 3):
        yield (
            "view",
            blocks.home_view(
                own,
                queue * 10,
                waiting=len(queue) * 10,
                start=start,
                time_bound=time_bound,
                disabled=disabled_entries(),
                passkeys=passkeys(),
            ),
        )
    yield "view", blocks.home_view([], None)
    yield "view", blocks.home_view([], [], waiting=0)


def passkeys() -> list[Passkey]:
    """As many as a person may keep, each with the longest id and label the bot keeps."""
    return [
        Passkey(f"{i:02d}" + "A" * 340, "B" * 100, 2**32 - 1, NOW, hostile(60))
        for i in range(MAX_PER_PERSON)
    ]


def disabled_entries() -> list[DisabledEntry]:
    """More than the Home lists, each with the longest name and reason the bot keeps."""
    return [
        DisabledEntry(kind, 2**31 - 1 - i, hostile(255), "R-7K2QF", "UOWNER1", NOW, hostile(500))
        for i in range(blocks.HOME_DISABLED + 5)
        for kind in Kind
    ]


def _revokes(build: Callable[[Revoke], Any], shape: str) -> Iterator[Payload]:
    for one in revokes():
        yield shape, build(one)


#: Each public builder, and the payloads it makes from worst-case input.
BUILDERS: dict[str, Callable[[], Iterator[Payload]]] = {
    "blocks.date": lambda: iter([("text", blocks.date(NOW))]),
    "blocks.entry_label": lambda: _requests_each(blocks.entry_label, "text"),
    "blocks.headline": lambda: _requests_each(blocks.headline, "text"),
    "blocks.wants": lambda: _requests_each(blocks.wants, "text"),
    "blocks.principal_line": lambda: (
        ("text", blocks.principal_line(d, people))
        for verb in (Verb.SHARE, Verb.UNSHARE, Verb.REDUCE)
        for d in sharing_diff(verb)
        for people in ({}, {d.principal.casefold(): "U0MENTIONED"})  # named by mention, or not
    ),
    "blocks.field_line": lambda: (
        ("text", blocks.field_line(d, verb)) for verb in Verb for d in field_diff(Kind.PASSWORD, verb)
    ),
    "blocks.change_lines": lambda: (
        ("text", line) for r in every_request() for line in blocks.change_lines(r)
    ),
    "blocks.change_summary": lambda: _requests_each(blocks.change_summary, "text"),
    "blocks.status_text": lambda: _requests_each(blocks.status_text, "text"),
    "blocks.requester_field": lambda: _requests_each(blocks.requester_field, "text"),
    "blocks.entry_field": lambda: _requests_each(blocks.entry_field, "text"),
    "blocks.period_field": lambda: _requests_each(lambda r: blocks.period_field(r) or "", "text"),
    "blocks.reason_field": lambda: _requests_each(lambda r: blocks.reason_field(r) or "", "text"),
    "blocks.ticket_field": lambda: _requests_each(lambda r: blocks.ticket_field(r) or "", "text"),
    "blocks.rules_field": lambda: _requests_each(lambda r: blocks.rules_field(r) or "", "text"),
    "blocks.approval_progress": lambda: _requests_each(
        lambda r: blocks.approval_progress(r, NOW), "text"
    ),
    "blocks.nudge_button": lambda: _requests_each(
        lambda r: (
            [{"type": "actions", "elements": blocks.nudge_button(r)}] if blocks.nudge_button(r) else []
        ),
        "blocks",
    ),
    "blocks.reminder_text": lambda: _requests_each(
        lambda r: blocks.reminder_text(r, [f"U{i:09d}" for i in range(200)]), "text"
    ),
    "blocks.escalation_message": lambda: _requests_each(
        lambda r: _message(blocks.escalation_message(r, "C0APPROVALS")), "message"
    ),
    "blocks.approval_message": lambda: _requests_each(
        lambda r: _message(blocks.approval_message(r)), "message"
    ),
    "blocks.change_modal": lambda: _requests_each(blocks.change_modal, "view"),
    "blocks.requester_notice": lambda: _requests_each(blocks.requester_notice, "text"),
    "blocks.waiting_notice": lambda: _requests_each(
        lambda r: blocks.waiting_notice(r, "C0APPROVALS"), "text"
    ),
    "blocks.approver_notice": lambda: _requests_each(
        lambda r: blocks.approver_notice(r, "C0APPROVALS"), "text"
    ),
    "blocks.approvers_mention": lambda: _requests_each(
        lambda r: blocks.approvers_mention(r, [f"U{i:09d}" for i in range(200)]), "text"
    ),
    "blocks.unchanged_notice": lambda: _requests_each(blocks.unchanged_notice, "text"),
    "blocks.share_notice": lambda: _requests_each(blocks.share_notice, "text"),
    "blocks.step_up_notice": lambda: _requests_each(
        lambda r: blocks.step_up_notice(r, "https://bot.example.com/step-up/" + "T" * 43), "text"
    ),
    "blocks.passkey_blocks": lambda: iter(
        [("blocks", blocks.passkey_blocks(passkeys())), ("blocks", blocks.passkey_blocks([]))]
    ),
    "blocks.request_line": lambda: _requests_each(blocks.request_line, "text"),
    "blocks.entries_text": lambda: (
        ("text", blocks.entries_text(kind, items(kind), hostile(100), page=page))
        for kind in Kind
        for page in (1, 2, 999)
    ),
    "blocks.entry_text": lambda: (("text", blocks.entry_text(entry(kind))) for kind in Kind),
    "blocks.disabled_text": lambda: (("text", blocks.disabled_text(kind, 2**31 - 1)) for kind in Kind),
    "blocks.login_modal": lambda: iter(
        [
            ("view", blocks.login_modal()),
            (
                "view",
                blocks.login_modal(
                    client_id="c" * 512,
                    mysafe_username="u" * 128,
                    problems={
                        "": hostile(1000),
                        "client_id": hostile(1000),
                        "client_secret": hostile(1000),
                        "mysafe_username": hostile(1000),
                    },
                ),
            ),
        ]
    ),
    "blocks.deny_modal": lambda: iter([("view", blocks.deny_modal("R-7K2QF"))]),
    "blocks.rotate_modal": lambda: (
        ("view", blocks.rotate_modal(kind, 2**31 - 1, hostile(255))) for kind in Kind
    ),
    "blocks.create_modal": lambda: (("view", blocks.create_modal(kind)) for kind in Kind),
    "blocks.home_view": _home,
    "blocks.disabled_blocks": lambda: iter([("blocks", blocks.disabled_blocks(disabled_entries()))]),
    "periods.until": lambda: iter([("text", periods.until(NOW))]),
    "periods.ago": lambda: iter([("text", periods.ago(NOW))]),
    "periods.period_line": lambda: _requests_each(periods.period_line, "text"),
    "revoke_notices.time_bound_line": lambda: _revokes(revoke_notices.time_bound_line, "text"),
    "revoke_notices.time_bound_lines": lambda: iter(
        [("text", "\n".join(revoke_notices.time_bound_lines(list(revokes()) * 10, viewer=None)))]
    ),
    "revoke_notices.home_blocks": lambda: iter(
        [("blocks", revoke_notices.home_blocks(list(revokes()) * 10, viewer="UOWNER1"))]
    ),
    "revoke_notices.revoke_now_button": lambda: iter(
        [("blocks", [{"type": "actions", "elements": [revoke_notices.revoke_now_button("R-7K2QF")]}])]
    ),
    "revoke_notices.done_text": lambda: _revokes(revoke_notices.done_text, "text"),
    "revoke_notices.alert_text": lambda: _revokes(revoke_notices.alert_text, "text"),
    "revoke_notices.alert_blocks": lambda: _revokes(
        lambda r: {"text": revoke_notices.alert_text(r), "blocks": revoke_notices.alert_blocks(r)},
        "message",
    ),
    "revoke_notices.reminder_message": lambda: (
        ("message", revoke_notices.reminder_message(r, owner=owner))
        for r in revokes()
        for owner in (True, False)
    ),
    "blocks.access_message": _access,
    "blocks.access_modal": _access,
    "replies.access_message": _access,
    "replies.access_view": _access,
    "review_cards.card": _review_cards,
    "review_cards.home_blocks": lambda: iter(
        [
            (
                "blocks",
                review_cards.home_blocks(
                    [
                        Waiting(Campaign(hostile(64), CampaignState.RUNNING, NOW, NOW + i), 10_000, 500)
                        for i in range(8)
                    ]
                ),
            )
        ]
    ),
    "review_cards.key_gone_notice": lambda: (
        (
            "message",
            dict(
                zip(
                    ("text", "blocks"),
                    review_cards.key_gone_notice(
                        Campaign(
                            hostile(64),
                            CampaignState.RUNNING,
                            NOW,
                            NOW + 14 * 86400,
                            escalate_to=to,
                        ),
                        "U" + "9" * 20,
                        why=why,
                        lines=lines,
                        entries=lines // 20,
                    ),
                    strict=True,
                )
            ),
        )
        for why in ("key_rejected", "key_unlinked", "key_unreadable", hostile(100))
        for to in ((), ("U0SECLEAD",))
        for lines in (0, 10_000)
    ),
    "review_cards.reminder": lambda: (
        (
            "message",
            dict(
                zip(
                    ("text", "blocks"),
                    review_cards.reminder(
                        Campaign(
                            hostile(64),
                            CampaignState.RUNNING,
                            NOW,
                            NOW + 14 * 86400,
                            on_timeout=how,
                            escalate_to=tuple(f"U{i:010d}" for i in range(20)),
                        ),
                        lines=10_000,
                        entries=500,
                    ),
                    strict=True,
                )
            ),
        )
        for how in ("keep", "revoke", "escalate")
    ),
    "replies.render_text": _replies,
    "replies.form_view": _replies,
    "replies.refusal_text": _refusals,
    "replies.answer_errors": _answer_errors,
    "replies.message_text": lambda: iter(
        [("text", replies.message_text(Message(((Strong(hostile(100)), When(int(NOW))),))))]
    ),
}

BUILDERS |= {
    "break_glass.alarm_text": lambda: (("text", break_glass.alarm_text(r)) for r, _ in break_glasses()),
    "break_glass.review_card": lambda: (
        ("message", dict(zip(("text", "blocks"), break_glass.review_card(r, v), strict=True)))
        for r, v in break_glasses()
    ),
    "break_glass.escalation_text": lambda: (
        ("text", break_glass.escalation_text(r, v)) for r, v in break_glasses()
    ),
    "break_glass.decided_text": lambda: (
        ("text", break_glass.decided_text(r, v)) for r, v in break_glasses() if not v.open
    ),
    "break_glass.verdict_text": lambda: (
        ("text", break_glass.verdict_text(r, v)) for r, v in break_glasses()
    ),
}

#: Public functions of those modules that build no payload, and why.
NOT_PAYLOADS = {
    "blocks.is_shortened": "a yes/no about a request (whether View full change is offered)",
    "review_cards.pages": "splits a card's lines into pages (each page is drawn by `card`)",
}

MODULES: tuple[ModuleType, ...] = (
    blocks,
    break_glass,
    periods,
    replies,
    revoke_notices,
    review_cards,
)


def public_functions() -> set[str]:
    """Each module's public functions; a package's (`blocks`) are those of every module in it."""
    return {
        f"{module.__name__.rsplit('.', 1)[1]}.{name}"
        for module in MODULES
        for part in _parts(module)
        for name, value in inspect.getmembers(part, inspect.isfunction)
        if not name.startswith("_") and value.__module__ == part.__name__
    }


def _parts(module: ModuleType) -> list[ModuleType]:
    if not hasattr(module, "__path__"):
        return [module]
    names = (info.name for info in pkgutil.iter_modules(module.__path__, module.__name__ + "."))
    return [module, *(importlib.import_module(name) for name in names)]


def test_every_public_builder_is_in_the_inventory() -> None:
    found = public_functions()
    assert found - set(BUILDERS) - set(NOT_PAYLOADS) == set(), (
        "a new builder: add it to BUILDERS with worst-case input"
    )
    assert set(BUILDERS) | set(NOT_PAYLOADS) <= found, "BUILDERS names a builder that is gone"


# --- the checks ------------------------------------------------------------------------------


def slack_sdk_problems(shape: str, payload: Any) -> list[str]:
    """What slack_sdk's own models refuse (lengths and counts it knows for these types)."""
    problems = []
    found = (
        payload.get("blocks", [])
        if shape in ("message", "view")
        else payload
        if shape == "blocks"
        else []
    )
    for block in found:
        try:
            Block.parse(block).validate_json()  # type: ignore[union-attr]
        except Exception as error:  # SlackObjectFormationError and friends
            problems.append(f"{block.get('type')}: {error}")
    if shape == "view":
        try:
            View(**payload).validate_json()
        except Exception as error:
            problems.append(f"view: {error}")
    return problems


def limits_problems(shape: str, payload: Any) -> list[str]:
    if shape == "text":
        assert isinstance(payload, str)
        if len(payload) > MESSAGE_TEXT:
            return [f"text of {len(payload)} characters"]
        # Said alone or as a section: a text goes into a message's text or a section.
        return [] if message_refusal({"text": payload}) is None else ["message refused"]
    if shape == "blocks":
        refused = message_refusal({"text": "x", "blocks": payload})
    elif shape == "message":
        refused = message_refusal(payload)
    else:
        refused = view_refusal(payload)
    return [] if refused is None else [str(refused)]


ISO_TIME = re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
EPOCH = re.compile(r"(?<![\w^|.-])1[5-9]\d{8}(?:\.\d+)?(?![\w.])")
SLACK_DATE = re.compile(r"<!date\^\d+\^[^|>]*\|[^>]*>")
API_WORDS = re.compile(
    r"users_allowed|groups_allowed|secret_key|client_secret|"
    r"identifier_code|\bwho:|\bApi secret"
)


def words_problems(payload: Any) -> list[str]:
    """Raw times and API field names in what a person reads (their own hostile text aside)."""
    problems = []
    pieces = (
        [(kind, t) for kind, t in texts(payload)]
        if not isinstance(payload, str)
        else [("mrkdwn", payload)]
    )
    for _kind, piece in pieces:
        shown = SLACK_DATE.sub("<date>", piece)
        shown = visible(shown).replace(visible(HOSTILE.strip()), "")
        for pattern in (ISO_TIME, EPOCH, API_WORDS):
            problems += [f"{pattern.pattern[:20]}…: {m.group(0)!r}" for m in pattern.finditer(shown)]
    return problems


@pytest.mark.slow
@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_every_payload_is_one_slack_takes_in_human_words(builder: str) -> None:
    made = list(BUILDERS[builder]())
    assert made, f"{builder} built nothing"
    for shape, payload in made:
        assert limits_problems(shape, payload) == [], (builder, shape)
        assert slack_sdk_problems(shape, payload) == [], (builder, shape)
        assert words_problems(payload) == [], (builder, shape)
        if shape == "view":  # Slack adds "(optional)" to an optional input's label itself
            assert misread_labels(payload) == [], (builder, shape)


@pytest.mark.slow
@pytest.mark.parametrize("locale", [PSEUDO, "pt-BR"])
@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_every_payload_fits_slack_in_a_longer_language(builder: str, locale: str) -> None:
    """The pseudo-locale makes every translated sentence 40 % longer and accented: a layout
    that a longer language (Portuguese runs a fifth longer) would push past a limit fails
    here before any translator meets it; then Portuguese itself."""
    with speaking(locale):
        made = list(BUILDERS[builder]())
    assert made, f"{builder} built nothing"
    for shape, payload in made:
        assert limits_problems(shape, payload) == [], (builder, shape)
        assert slack_sdk_problems(shape, payload) == [], (builder, shape)
