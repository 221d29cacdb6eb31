"""What a change request asks for, and how it becomes a MySafe body — pure functions, no I/O.

A request stores the *intent* (add these people, remove those, set these fields), never a full
sharing list: MySafe's update replaces the whole list, so the body is computed at apply time
against the entry as it is then, and a share made in MySafe meanwhile is kept.

Secret values (new password, TOTP seed, client secret) travel separately from the intent, as
a `dict` the store keeps encrypted; the display diff only ever says "changed".

Nothing here does I/O of its own: a spec only names which call of the client it is handed
reads the entry and which writes it (an update, or MySafe's inactive/active calls).

Here is each verb's `ChangeSpec`, checked at import to cover every `Verb`. The verbs and the
intent (`Verb`, `Change`) are a record of their own in `change_intent`, below the parts a spec
is made of, which read it: `change_checks` (what a verb requires), `change_bodies` (its MySafe
body), `change_diff` (the lines people approve), `change_readback` (is it there?) and
`entry_calls` (which MySafe calls read and write it). The rest of the bot imports `Verb` and
`Change` from here, with the specs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from app.approvals import entry_calls
from app.approvals.change_bodies import (
    create_body,
    merge_groups,
    merge_users,
    no_body,
    reduce_body,
    rotate_body,
    share_body,
    unshare_body,
    update_body,
)
from app.approvals.change_checks import (
    check_nothing_more,
    check_reduce,
    check_rotate,
    check_share,
    check_unshare,
    check_update,
    refuse_disabled,
    refuse_enabled,
    refuse_nothing,
)
from app.approvals.change_diff import (
    DiffLine,
    create_diff,
    disable_diff,
    enable_diff,
    reduce_diff,
    rotate_diff,
    sharing_diff,
    update_diff,
)
from app.approvals.change_intent import Change, Verb
from app.approvals.change_readback import (
    cannot_tell,
    disable_unmet,
    enable_unmet,
    reduce_unmet,
    share_unmet,
    unshare_unmet,
    update_unmet,
)
from app.approvals.entry_calls import EntryCalls
from app.foundations.durations import describe
from app.foundations.errors import PlainRefusal, ValidationError
from app.i18n import N_, _, ngettext
from app.mysafe.models import Entry, Kind, WriteResult
from app.mysafe.schemas import MAX_SHARES, SECRET_FIELDS

#: Bounds that let the approval message name every person and group a request touches (see
#: `app.slack.blocks.approval_message`): more is refused at submission, never shown in part.
MAX_SHARES_PER_REQUEST = 50
MAX_PRINCIPAL_NAME = 128
#: The shortest time-bound share, in seconds (the longest is a setting).
MIN_DURATION = 60


def check(change: Change, secrets: Mapping[str, str], *, max_duration: int = 30 * 86400) -> None:
    """Refuse a change that cannot be right, before anything is stored: what every verb
    requires, then what its own spec requires. `max_duration` is the longest time-bound
    share allowed (`MYSAFE_BOT_MAX_SHARE_DURATION`)."""
    spec = spec_of(change)
    problems: dict[str, str] = _duration_problems(change, max_duration)
    if spec.names_entry and not change.identifier:
        problems["entry"] = _("name the entry: `password ID` or `secret ID`")
    if len(_principal_names(change)) > MAX_SHARES_PER_REQUEST:
        problems["who"] = _(
            "at most {most} people and groups per request, so that the approval message can "
            "name every one"
        ).format(most=MAX_SHARES_PER_REQUEST)
    elif any(len(name) > MAX_PRINCIPAL_NAME for name in _principal_names(change)):
        problems["who"] = _("user and group names are at most {most} characters").format(
            most=MAX_PRINCIPAL_NAME
        )
    typed_secrets = SECRET_FIELDS & set(change.fields)
    if typed_secrets:
        problems[sorted(typed_secrets)[0]] = _("secret values go only through `rotate` or `create`")
    if secrets and not spec.carries_secrets:
        problems["secrets"] = _("only `rotate` and `create` carry secret values")
    problems.update(
        {k: v for k, v in spec.check(change, secrets, problems).items() if k not in problems}
    )
    if problems:
        raise ValidationError(problems)


def _duration_problems(change: Change, max_duration: int) -> dict[str, str]:
    """A period only on a share, between a minute and the maximum; rotate-after only with a
    period, and only for a password (an API secret's client secret is MySafe's to issue)."""
    if change.duration and change.verb is not Verb.SHARE:
        return {"for": _("only a share can be for a period")}
    if change.duration and not MIN_DURATION <= change.duration <= max_duration:
        return {
            "for": _("a share lasts from {least} to {most}").format(
                least=describe(MIN_DURATION), most=describe(max_duration)
            )
        }
    if change.extends and not change.duration:
        return {"for": _("an extension is for a new period")}
    if change.rotate_after and not change.duration:
        return {"rotate-after": _("rotate-after goes with a period: for 8h rotate-after")}
    if change.rotate_after and change.kind is not Kind.PASSWORD:
        return {"rotate-after": _("rotate-after is for passwords only")}
    return {}


def _principal_names(change: Change) -> list[str]:
    return [
        *(u.username for u in change.add_users),
        *(g.name for g in change.add_groups),
        *change.remove_users,
        *change.remove_groups,
    ]


# --- apply-time body --------------------------------------------------------------------------


def final_body(change: Change, current: Entry | None, secrets: Mapping[str, str]) -> dict[str, Any]:
    """The MySafe body for this change, merged into the entry as it is *now*."""
    return spec_of(change).body(change, current, secrets)


def diff(change: Change, current: Entry | None, secrets: Mapping[str, str]) -> list[DiffLine]:
    """What the request changes, for people to read; secret fields only say (set)/(changed)."""
    return spec_of(change).diff(change, current, secrets)


# --- against the entry as it is now ------------------------------------------------------------


def check_against(change: Change, current: Entry | None, lines: Iterable[DiffLine]) -> None:
    """Refuse, before anything is stored, a change that would change nothing in the entry as it
    is now, or make a sharing list longer than MySafe keeps: an approver would otherwise click
    for nothing, or for a write MySafe refuses. The verb's spec speaks first (`against`: a
    disable of an entry already disabled)."""
    if current is None:
        return
    refused = spec_of(change).against(change, current)
    if refused:
        raise ValidationError(refused)
    if change.verb not in (Verb.SHARE, Verb.UNSHARE, Verb.UPDATE, Verb.REDUCE):
        return
    if change.extends:  # the grantees have it until the end it moves: the end is the change
        return
    lines = list(lines)
    problems = _nothing_changes(change, lines) or _over_limits(change, current)
    if problems:
        raise PlainRefusal(problems)  # names as typed: the front that shows it escapes it


def _nothing_changes(change: Change, lines: list[DiffLine]) -> dict[str, str]:
    if change.verb is Verb.UPDATE:
        if all(line.before == line.after for line in lines):
            names = ", ".join(line.field for line in lines)
            return {
                "change": ngettext(
                    "This changes nothing: {names} already has that value",
                    "This changes nothing: {names} already have that value",
                    len(lines),
                ).format(names=names)
            }
        return {}
    if any(line.action in ("add", "raise", "lower", "remove") for line in lines):
        return {}
    names = ", ".join(_principal(line) for line in lines)
    if change.verb is Verb.REDUCE:
        return {
            "change": _("This changes nothing: {names} can edit it no more than view").format(
                names=names
            )
        }
    if change.verb is Verb.SHARE:
        return {
            "change": ngettext(
                "This changes nothing: {names} already has that access",
                "This changes nothing: {names} already have that access",
                len(lines),
            ).format(names=names)
        }
    return {
        "change": ngettext(
            "This changes nothing: {names} has no access to remove",
            "This changes nothing: {names} have no access to remove",
            len(lines),
        ).format(names=names)
    }


def _principal(line: DiffLine) -> str:
    """A name as a refusal says it, as typed (at most `MAX_PRINCIPAL_NAME` long, `check` saw
    to it): the front that shows the refusal makes it inert."""
    name = line.principal
    return _("group {name}").format(name=name) if line.is_group else name


def _over_limits(change: Change, current: Entry) -> dict[str, str]:
    if change.verb is not Verb.SHARE:
        return {}
    users = len(merge_users(current.users_allowed, change.add_users))
    groups = len(merge_groups(current.groups_allowed, change.add_groups))
    for count, most in (
        (users, N_("MySafe shares an entry with at most {most} users; this share would make {count}")),
        (
            groups,
            N_("MySafe shares an entry with at most {most} groups; this share would make {count}"),
        ),
    ):
        if count > MAX_SHARES:
            said = _(most).format(most=MAX_SHARES, count=count)
            return {"change": said + _(": remove someone first (unshare)")}
    return {}


# --- is the change there? ---------------------------------------------------------------------


def unmet(change: Change, entry: Entry, *, reported: Iterable[str] = ()) -> list[str] | None:
    """What of this change the entry does *not* show, in people's words ([] = all of it).

    None when the entry cannot tell: a rotation's new values are never read back, and a
    create has no entry to compare until it exists. Used twice by apply: before the write (a
    take-over whose first attempt already landed writes nothing again) and after it (a change
    is reported applied only when MySafe shows it). A principal MySafe itself `reported` in
    the write's `shared_error` is left out: the outcome already says why it has no access."""
    return spec_of(change).unmet(change, entry, " ".join(reported).casefold())


# --- one spec per verb --------------------------------------------------------------------


@dataclass(frozen=True)
class ChangeSpec:
    """Everything one verb means to the engine, in one place: what it requires beyond what
    every verb does, the MySafe body it sends, the lines people approve, and how apply tells
    whether MySafe shows it, which MySafe call writes it and how the entry is read around
    that call. A new verb is one module in `commands/` plus one spec here: the engine only
    ever asks the spec."""

    check: Callable[[Change, Mapping[str, str], Mapping[str, str]], dict[str, str]]
    body: Callable[[Change, Entry | None, Mapping[str, str]], dict[str, Any]]
    diff: Callable[[Change, Entry | None, Mapping[str, str]], list[DiffLine]]
    unmet: Callable[[Change, Entry, str], list[str] | None]
    #: It acts on an existing entry (every verb but create).
    names_entry: bool = True
    #: Apply makes a new entry instead of writing one (never repeated blindly).
    creates: bool = False
    #: It carries secret values, kept encrypted while the request waits.
    carries_secrets: bool = False
    #: Someone gains access through it (they may not approve it).
    grants: bool = False
    #: How apply writes the entry (with the requester's client and `body`'s result).
    write: Callable[[EntryCalls, Change, Mapping[str, Any]], WriteResult] = entry_calls.update_write
    #: How the entry is read, at submission and around the write.
    read: Callable[[EntryCalls, Kind, int], Entry] = entry_calls.get
    #: What the entry as it is now refuses at submission, beyond what every verb checks.
    against: Callable[[Change, Entry], dict[str, str]] = refuse_nothing
    #: The entry's state once it is applied: False disabled, True enabled, None unchanged
    #: (`app.approvals.disabled` remembers what MySafe stops showing of a disabled entry).
    sets_active: bool | None = None


SPECS: dict[Verb, ChangeSpec] = {
    Verb.SHARE: ChangeSpec(check_share, share_body, sharing_diff, share_unmet, grants=True),
    Verb.UNSHARE: ChangeSpec(check_unshare, unshare_body, sharing_diff, unshare_unmet),
    Verb.REDUCE: ChangeSpec(check_reduce, reduce_body, reduce_diff, reduce_unmet),
    Verb.UPDATE: ChangeSpec(check_update, update_body, update_diff, update_unmet),
    Verb.ROTATE: ChangeSpec(check_rotate, rotate_body, rotate_diff, cannot_tell, carries_secrets=True),
    Verb.CREATE: ChangeSpec(
        check_nothing_more,
        create_body,
        create_diff,
        cannot_tell,
        names_entry=False,
        creates=True,
        carries_secrets=True,
        grants=True,
    ),
    Verb.DISABLE: ChangeSpec(
        check_nothing_more,
        no_body,
        disable_diff,
        disable_unmet,
        write=entry_calls.disable_write,
        read=entry_calls.read_state,
        against=refuse_disabled,
        sets_active=False,
    ),
    Verb.ENABLE: ChangeSpec(
        check_nothing_more,
        no_body,
        enable_diff,
        enable_unmet,
        write=entry_calls.enable_write,
        read=entry_calls.read_state,
        against=refuse_enabled,
        sets_active=True,
    ),
}
if set(SPECS) != set(Verb):  # a verb without its spec fails here, at import, never at apply
    raise ImportError(f"no ChangeSpec for {sorted(v.value for v in set(Verb) - set(SPECS))}")


def spec_of(change: Change) -> ChangeSpec:
    return SPECS[change.verb]


def read_entry(client: EntryCalls, change: Change) -> Entry:
    """The entry this change names, read as its spec reads it."""
    assert change.identifier is not None
    return spec_of(change).read(client, change.kind, change.identifier)


def write_entry(client: EntryCalls, change: Change, body: Mapping[str, Any]) -> WriteResult:
    """The MySafe call that makes this change, as its spec makes it."""
    return spec_of(change).write(client, change, body)
