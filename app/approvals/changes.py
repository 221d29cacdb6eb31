"""What a change request asks for, and how it becomes a MySafe body — pure functions, no I/O.

A request stores the *intent* (add these people, remove those, set these fields), never a full
sharing list: MySafe's update replaces the whole list, so the body is computed at apply time
against the entry as it is then, and a share made in MySafe meanwhile is kept.

Secret values (new password, TOTP seed, client secret) travel separately from the intent, as
a `dict` the store keeps encrypted; the display diff only ever says "changed".

Nothing here does I/O of its own: a spec only names which call of the client it is handed
reads the entry and which writes it (an update, or MySafe's inactive/active calls).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from app import text
from app.durations import describe
from app.errors import ValidationError
from app.i18n import N_, _, ngettext
from app.mysafe.models import Entry, GroupShare, Kind, UserShare, WriteResult
from app.mysafe.schemas import MAX_SHARES, SECRET_FIELDS, UPDATE_SCHEMAS, validate_body


class Verb(str, Enum):
    SHARE = "share"
    UNSHARE = "unshare"
    UPDATE = "update"
    ROTATE = "rotate"
    CREATE = "create"
    DISABLE = "disable"
    ENABLE = "enable"
    #: Lower users or groups from edit to view (an access review's *Reduce to view*); they
    #: are named in `add_users` / `add_groups` with `can_edit` False, the right they keep.
    REDUCE = "reduce"


#: Secret fields each kind has (what `rotate` and `create` may set).
SECRET_FIELDS_OF = {
    Kind.PASSWORD: ("password", "secret_key"),
    Kind.SECRET: ("client_secret",),
}
#: Bounds that let the approval message name every person and group a request touches (see
#: `app.slack.blocks.approval_message`): more is refused at submission, never shown in part.
MAX_SHARES_PER_REQUEST = 50
MAX_PRINCIPAL_NAME = 128
#: The shortest time-bound share, in seconds (the longest is a setting).
MIN_DURATION = 60


@dataclass(frozen=True)
class Change:
    """A validated intent. Which parts are used depends on the verb."""

    verb: Verb
    kind: Kind
    identifier: int | None = None
    add_users: tuple[UserShare, ...] = ()
    add_groups: tuple[GroupShare, ...] = ()
    remove_users: tuple[str, ...] = ()
    remove_groups: tuple[str, ...] = ()
    fields: Mapping[str, str] = field(default_factory=dict)
    #: Seconds the access lasts (0: for good); what it added is taken back at the end.
    duration: int = 0
    #: At the end of a time-bound password share, also set a new random password.
    rotate_after: bool = False
    #: The time-bound share this one extends (its end is taken over once this is applied).
    extends: str = ""

    @property
    def time_bound(self) -> bool:
        return self.duration > 0

    def to_json(self) -> dict[str, Any]:
        return {
            "duration": self.duration,
            "rotate_after": self.rotate_after,
            "extends": self.extends,
            "verb": self.verb.value,
            "kind": self.kind.value,
            "identifier": self.identifier,
            "add_users": [u.body() for u in self.add_users],
            "add_groups": [g.body() for g in self.add_groups],
            "remove_users": list(self.remove_users),
            "remove_groups": list(self.remove_groups),
            "fields": dict(self.fields),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Change:
        return cls(
            verb=Verb(data["verb"]),
            kind=Kind(data["kind"]),
            identifier=data.get("identifier"),
            add_users=tuple(UserShare(u["username"], u["can_edit"]) for u in data["add_users"]),
            add_groups=tuple(GroupShare(g["name"], g["can_edit"]) for g in data["add_groups"]),
            remove_users=tuple(data["remove_users"]),
            remove_groups=tuple(data["remove_groups"]),
            fields=dict(data["fields"]),
            duration=int(data.get("duration") or 0),
            rotate_after=bool(data.get("rotate_after")),
            extends=str(data.get("extends") or ""),
        )


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


def _check_share(
    change: Change, secrets: Mapping[str, str], found: Mapping[str, str]
) -> dict[str, str]:
    if not change.add_users and not change.add_groups:
        return {"with": _('say who to share with: @someone, user:NAME or group:"Name"')}
    return {}


def _check_unshare(
    change: Change, secrets: Mapping[str, str], found: Mapping[str, str]
) -> dict[str, str]:
    if not change.remove_users and not change.remove_groups:
        return {"from": _('say who to unshare from: @someone, user:NAME or group:"Name"')}
    return {}


def _check_reduce(
    change: Change, secrets: Mapping[str, str], found: Mapping[str, str]
) -> dict[str, str]:
    if not change.add_users and not change.add_groups:
        return {"who": _("say whose edit right to reduce to view")}
    if any(u.can_edit for u in change.add_users) or any(g.can_edit for g in change.add_groups):
        return {"who": _("a reduction leaves view, never edit")}
    return {}


def _check_update(
    change: Change, secrets: Mapping[str, str], found: Mapping[str, str]
) -> dict[str, str]:
    problems: dict[str, str] = {}
    allowed = Entry.PLAIN_FIELDS[change.kind]
    unknown = sorted(set(change.fields) - set(allowed) - SECRET_FIELDS)
    if unknown:
        problems[unknown[0]] = _("not a field of a {kind}; use {fields}").format(
            kind=_(change.kind.label), fields=", ".join(allowed)
        )
    if not change.fields:
        problems["fields"] = _("say what to change: field=value")
    elif not problems and not found:
        problems.update(_value_problems(change))
    return problems


def _check_rotate(
    change: Change, secrets: Mapping[str, str], found: Mapping[str, str]
) -> dict[str, str]:
    allowed_secrets = SECRET_FIELDS_OF[change.kind]
    if not secrets or set(secrets) - set(allowed_secrets):
        return {
            "secrets": _("a rotation sets {fields}").format(fields=_(" and/or ").join(allowed_secrets))
        }
    return {}


def _check_nothing_more(
    change: Change, secrets: Mapping[str, str], found: Mapping[str, str]
) -> dict[str, str]:
    return {}


def _principal_names(change: Change) -> list[str]:
    return [
        *(u.username for u in change.add_users),
        *(g.name for g in change.add_groups),
        *change.remove_users,
        *change.remove_groups,
    ]


def _value_problems(change: Change) -> dict[str, str]:
    """The values themselves, checked as MySafe would, so a bad one is refused before it is
    stored rather than failing after an approver's click."""
    try:
        validate_body(UPDATE_SCHEMAS[change.kind], dict(change.fields))
    except ValidationError as error:
        return {
            field: "; ".join(m) if isinstance(m, list) else str(m) for field, m in error.errors.items()
        }
    return {}


# --- apply-time body --------------------------------------------------------------------------


def final_body(change: Change, current: Entry | None, secrets: Mapping[str, str]) -> dict[str, Any]:
    """The MySafe body for this change, merged into the entry as it is *now*."""
    return spec_of(change).body(change, current, secrets)


def _share_body(change: Change, current: Entry | None, secrets: Mapping[str, str]) -> dict[str, Any]:
    return _sharing_body(change, current, add=True)


def _unshare_body(change: Change, current: Entry | None, secrets: Mapping[str, str]) -> dict[str, Any]:
    return _sharing_body(change, current, add=False)


def _reduce_body(change: Change, current: Entry | None, secrets: Mapping[str, str]) -> dict[str, Any]:
    """Whole lists (MySafe's update replaces them), the named principals lowered to view."""
    assert current is not None
    users = {u.username.casefold() for u in change.add_users}
    groups = {g.name.casefold() for g in change.add_groups}
    body: dict[str, Any] = {}
    if users:
        body["users_allowed"] = [
            UserShare(u.username, u.can_edit and u.username.casefold() not in users).body()
            for u in current.users_allowed
        ]
    if groups:
        body["groups_allowed"] = [
            GroupShare(g.name, g.can_edit and g.name.casefold() not in groups).body()
            for g in current.groups_allowed
        ]
    return body


def _update_body(change: Change, current: Entry | None, secrets: Mapping[str, str]) -> dict[str, Any]:
    return dict(change.fields)


def _rotate_body(change: Change, current: Entry | None, secrets: Mapping[str, str]) -> dict[str, Any]:
    return dict(secrets)


def _create_body(change: Change, current: Entry | None, secrets: Mapping[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {**change.fields, **secrets}
    if change.add_users:
        body["users_allowed"] = [u.body() for u in change.add_users]
    if change.add_groups:
        body["groups_allowed"] = [g.body() for g in change.add_groups]
    return body


def _sharing_body(change: Change, current: Entry | None, *, add: bool) -> dict[str, Any]:
    assert current is not None
    body: dict[str, Any] = {}
    if change.add_users or change.remove_users:
        users = (
            merge_users(current.users_allowed, change.add_users)
            if add
            else remove(current.users_allowed, change.remove_users, key=lambda u: u.username)
        )
        body["users_allowed"] = [u.body() for u in users]
    if change.add_groups or change.remove_groups:
        groups = (
            merge_groups(current.groups_allowed, change.add_groups)
            if add
            else remove(current.groups_allowed, change.remove_groups, key=lambda g: g.name)
        )
        body["groups_allowed"] = [g.body() for g in groups]
    return body


def merge_users(current: Iterable[UserShare], added: Iterable[UserShare]) -> list[UserShare]:
    """Add people; someone already there keeps edit rights they had (a share never demotes)."""
    merged = {u.username.casefold(): u for u in current}
    for user in added:
        had = merged.get(user.username.casefold())
        merged[user.username.casefold()] = UserShare(
            had.username if had else user.username, user.can_edit or bool(had and had.can_edit)
        )
    return list(merged.values())


def merge_groups(current: Iterable[GroupShare], added: Iterable[GroupShare]) -> list[GroupShare]:
    merged = {g.name.casefold(): g for g in current}
    for group in added:
        had = merged.get(group.name.casefold())
        merged[group.name.casefold()] = GroupShare(
            had.name if had else group.name, group.can_edit or bool(had and had.can_edit)
        )
    return list(merged.values())


def remove(current: Iterable[Any], names: Iterable[str], *, key: Any) -> list[Any]:
    gone = {n.casefold() for n in names}
    return [item for item in current if key(item).casefold() not in gone]


# --- display diff -----------------------------------------------------------------------------

USERS, GROUPS = "users_allowed", "groups_allowed"
NO_ACCESS, VIEW, EDIT = "", "view", "edit"


@dataclass(frozen=True)
class DiffLine:
    """One thing a request changes, as people read it.

    A field line: `field` goes from `before` to `after` (secret fields only say "(changed)").
    A sharing line has a `principal`: the user (`field` is `users_allowed`) or group
    (`groups_allowed`) of that name goes from right `before` to `after`, each "" (no access),
    "view" or "edit". Only what changes is listed, never whole sharing lists, so an approver
    sees a new grantee however many people the entry is shared with. Requests stored before
    sharing lines existed hold whole lists in a line with no principal; they still load.
    """

    field: str
    before: str
    after: str
    principal: str = ""

    def to_json(self) -> list[str]:
        line = [self.field, self.before, self.after]
        return [*line, self.principal] if self.principal else line

    @property
    def is_group(self) -> bool:
        return self.field == GROUPS

    @property
    def action(self) -> str:
        """add | raise | lower | remove | keep (already so) | absent (nothing to remove) |
        set (field)."""
        if not self.principal:
            return "set"
        if self.before == self.after:
            return "keep" if self.after else "absent"
        if not self.before:
            return "add"
        if self.before == EDIT and self.after == VIEW:
            return "lower"
        return "remove" if not self.after else "raise"


#: Sharing lines in the order people should read them: what grants access first.
_ACTION_ORDER = {"add": 0, "raise": 1, "lower": 2, "remove": 3, "keep": 4, "absent": 5, "set": 6}


def diff(change: Change, current: Entry | None, secrets: Mapping[str, str]) -> list[DiffLine]:
    """What the request changes, for people to read; secret fields only say (set)/(changed)."""
    return spec_of(change).diff(change, current, secrets)


def _create_diff(change: Change, current: Entry | None, secrets: Mapping[str, str]) -> list[DiffLine]:
    lines = [DiffLine(k, "", v) for k, v in change.fields.items()]
    lines += [DiffLine(k, "", "(set)") for k in secrets]
    return lines + _sharing_lines(change, None)


def _rotate_diff(change: Change, current: Entry | None, secrets: Mapping[str, str]) -> list[DiffLine]:
    return [DiffLine(k, "(hidden)", "(changed)") for k in SECRET_FIELDS_OF[change.kind] if k in secrets]


def _update_diff(change: Change, current: Entry | None, secrets: Mapping[str, str]) -> list[DiffLine]:
    assert current is not None  # an update names its entry
    before = current.plain_fields()
    return [DiffLine(k, before.get(k, ""), v) for k, v in change.fields.items()]


def _sharing_diff(change: Change, current: Entry | None, secrets: Mapping[str, str]) -> list[DiffLine]:
    return _sharing_lines(change, current)


def _reduce_diff(change: Change, current: Entry | None, secrets: Mapping[str, str]) -> list[DiffLine]:
    """One line per principal named: edit → view, or what they have (nothing to reduce)."""
    now = {
        (USERS, u.username.casefold()): (u.username, _right(u.can_edit))
        for u in (current.users_allowed if current else ())
    }
    now.update(
        {
            (GROUPS, g.name.casefold()): (g.name, _right(g.can_edit))
            for g in (current.groups_allowed if current else ())
        }
    )
    named = [(USERS, u.username) for u in change.add_users]
    named += [(GROUPS, g.name) for g in change.add_groups]
    lines = []
    for field_name, name in named:
        shown, right = now.get((field_name, name.casefold()), (name, NO_ACCESS))
        lines.append(DiffLine(field_name, right, VIEW if right == EDIT else right, shown))
    return lines


def _sharing_lines(change: Change, current: Entry | None) -> list[DiffLine]:
    """One line per user or group named, with their right now and after the change."""
    users = {
        u.username.casefold(): (u.username, u.can_edit)
        for u in (current.users_allowed if current else ())
    }
    groups = {
        g.name.casefold(): (g.name, g.can_edit) for g in (current.groups_allowed if current else ())
    }
    lines = [_added(USERS, users, u.username, u.can_edit) for u in change.add_users]
    lines += [_added(GROUPS, groups, g.name, g.can_edit) for g in change.add_groups]
    lines += [_removed(USERS, users, name) for name in change.remove_users]
    lines += [_removed(GROUPS, groups, name) for name in change.remove_groups]
    return sorted(_distinct(lines), key=lambda line: _ACTION_ORDER[line.action])


def _right(can_edit: bool) -> str:
    return EDIT if can_edit else VIEW


def _added(
    field_name: str, current: Mapping[str, tuple[str, bool]], name: str, can_edit: bool
) -> DiffLine:
    """As `merge_users` applies it: someone already there keeps edit rights they had."""
    had = current.get(name.casefold())
    before = _right(had[1]) if had else NO_ACCESS
    after = _right(can_edit or bool(had and had[1]))
    return DiffLine(field_name, before, after, had[0] if had else name)


def _removed(field_name: str, current: Mapping[str, tuple[str, bool]], name: str) -> DiffLine:
    had = current.get(name.casefold())
    return DiffLine(
        field_name, _right(had[1]) if had else NO_ACCESS, NO_ACCESS, had[0] if had else name
    )


def _distinct(lines: Iterable[DiffLine]) -> list[DiffLine]:
    """One line per principal: a name given twice grants the higher right, as the merge does."""
    found: dict[tuple[str, str], DiffLine] = {}
    for line in lines:
        key = (line.field, line.principal.casefold())
        earlier = found.get(key)
        if earlier is None or (line.after == EDIT and earlier.after != EDIT):
            found[key] = line
    return list(found.values())


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
        raise ValidationError(problems)


def _nothing_changes(change: Change, lines: list[DiffLine]) -> dict[str, str]:
    if change.verb is Verb.UPDATE:
        if all(line.before == line.after for line in lines):
            names = ", ".join(text.inline(line.field) for line in lines)
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
    """A name as a refusal shows it: inert wherever a front shows the refusal."""
    name = text.clip(line.principal, 128)
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


def _cannot_tell(change: Change, entry: Entry, said: str) -> list[str] | None:
    return None


def _update_unmet(change: Change, entry: Entry, said: str) -> list[str] | None:
    now = entry.plain_fields()
    return [
        f"{name} is {now.get(name, '')!r}, not {value!r}"
        for name, value in change.fields.items()
        if _plain(now.get(name, "")) != _plain(value)
    ]


def _share_unmet(change: Change, entry: Entry, said: str) -> list[str] | None:
    users = {u.username.casefold(): u for u in entry.users_allowed}
    groups = {g.name.casefold(): g for g in entry.groups_allowed}
    return [
        *_missing(
            [u for u in change.add_users if u.username.casefold() not in said],
            users,
            lambda u: u.username,
            "user",
        ),
        *_missing(
            [g for g in change.add_groups if g.name.casefold() not in said],
            groups,
            lambda g: g.name,
            "group",
        ),
    ]


def _unshare_unmet(change: Change, entry: Entry, said: str) -> list[str] | None:
    users = {u.username.casefold() for u in entry.users_allowed}
    groups = {g.name.casefold() for g in entry.groups_allowed}
    return [
        *(f"user {name} still has access" for name in change.remove_users if name.casefold() in users),
        *(
            f"group {name} still has access"
            for name in change.remove_groups
            if name.casefold() in groups
        ),
    ]


def _reduce_unmet(change: Change, entry: Entry, said: str) -> list[str] | None:
    users = {u.username.casefold() for u in entry.users_allowed if u.can_edit}
    groups = {g.name.casefold() for g in entry.groups_allowed if g.can_edit}
    return [
        *(
            f"user {u.username} can still edit"
            for u in change.add_users
            if u.username.casefold() in users
        ),
        *(f"group {g.name} can still edit" for g in change.add_groups if g.name.casefold() in groups),
    ]


def _missing(wanted: Iterable[Any], present: Mapping[str, Any], name: Any, label: str) -> list[str]:
    problems = []
    for share in wanted:
        had = present.get(name(share).casefold())
        if had is None:
            problems.append(f"{label} {name(share)} has no access")
        elif share.can_edit and not had.can_edit:
            problems.append(f"{label} {name(share)} has view, not edit")
    return problems


def _plain(value: object) -> str:
    return " ".join(str(value or "").split())


# --- an entry's state: disable and enable ----------------------------------------------------

ENABLED, DISABLED = "enabled", "disabled"


def _state(entry: Entry) -> str:
    return ENABLED if entry.active else DISABLED


def _no_body(change: Change, current: Entry | None, secrets: Mapping[str, str]) -> dict[str, Any]:
    """MySafe's inactive and active calls take no body: the path says it all."""
    return {}


def _disable_diff(change: Change, current: Entry | None, secrets: Mapping[str, str]) -> list[DiffLine]:
    return [DiffLine("state", _state(current) if current else ENABLED, DISABLED)]


def _enable_diff(change: Change, current: Entry | None, secrets: Mapping[str, str]) -> list[DiffLine]:
    return [DiffLine("state", _state(current) if current else DISABLED, ENABLED)]


def _disable_unmet(change: Change, entry: Entry, said: str) -> list[str] | None:
    return [] if not entry.active else [f"{entry.kind.label} {entry.identifier} is still enabled"]


def _enable_unmet(change: Change, entry: Entry, said: str) -> list[str] | None:
    return [] if entry.active else [f"{entry.kind.label} {entry.identifier} is still disabled"]


def _refuse_disabled(change: Change, current: Entry) -> dict[str, str]:
    """Refused at submission, so nobody approves (or is alarmed by) a change that does nothing."""
    if current.active:
        return {}
    return {
        "entry": _("{entry} is already disabled in MySafe").format(
            entry=f"{_(current.kind.label)} {current.identifier}"
        )
    }


def _refuse_enabled(change: Change, current: Entry) -> dict[str, str]:
    if not current.active:
        return {}
    return {
        "entry": _("{entry} is not disabled in MySafe: there is nothing to enable").format(
            entry=f"{_(current.kind.label)} {current.identifier}"
        )
    }


def _refuse_nothing(change: Change, current: Entry) -> dict[str, str]:
    return {}


# --- the MySafe calls of one verb -------------------------------------------------------------


class EntryCalls(Protocol):
    """The calls of `app.mysafe.client.UserClient` a spec chooses among (one person's key)."""

    def get(self, kind: Kind, identifier: int) -> Entry: ...

    def read(self, kind: Kind, identifier: int) -> Entry: ...

    def update(self, kind: Kind, identifier: int, fields: Mapping[str, Any]) -> WriteResult: ...

    def disable(self, kind: Kind, identifier: int) -> WriteResult: ...

    def enable(self, kind: Kind, identifier: int) -> WriteResult: ...


def _get(client: EntryCalls, kind: Kind, identifier: int) -> Entry:
    """Most verbs change what a disabled entry keeps locked: its 1009 is their refusal."""
    return client.get(kind, identifier)


def _read_state(client: EntryCalls, kind: Kind, identifier: int) -> Entry:
    """Disable and enable act on the state itself: a disabled entry is an answer."""
    return client.read(kind, identifier)


def _update_write(client: EntryCalls, change: Change, body: Mapping[str, Any]) -> WriteResult:
    assert change.identifier is not None
    return client.update(change.kind, change.identifier, body)


def _disable_write(client: EntryCalls, change: Change, body: Mapping[str, Any]) -> WriteResult:
    assert change.identifier is not None
    return client.disable(change.kind, change.identifier)


def _enable_write(client: EntryCalls, change: Change, body: Mapping[str, Any]) -> WriteResult:
    assert change.identifier is not None
    return client.enable(change.kind, change.identifier)


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
    write: Callable[[EntryCalls, Change, Mapping[str, Any]], WriteResult] = _update_write
    #: How the entry is read, at submission and around the write.
    read: Callable[[EntryCalls, Kind, int], Entry] = _get
    #: What the entry as it is now refuses at submission, beyond what every verb checks.
    against: Callable[[Change, Entry], dict[str, str]] = _refuse_nothing
    #: The entry's state once it is applied: False disabled, True enabled, None unchanged
    #: (`app.approvals.disabled` remembers what MySafe stops showing of a disabled entry).
    sets_active: bool | None = None


SPECS: dict[Verb, ChangeSpec] = {
    Verb.SHARE: ChangeSpec(_check_share, _share_body, _sharing_diff, _share_unmet, grants=True),
    Verb.UNSHARE: ChangeSpec(_check_unshare, _unshare_body, _sharing_diff, _unshare_unmet),
    Verb.REDUCE: ChangeSpec(_check_reduce, _reduce_body, _reduce_diff, _reduce_unmet),
    Verb.UPDATE: ChangeSpec(_check_update, _update_body, _update_diff, _update_unmet),
    Verb.ROTATE: ChangeSpec(
        _check_rotate, _rotate_body, _rotate_diff, _cannot_tell, carries_secrets=True
    ),
    Verb.CREATE: ChangeSpec(
        _check_nothing_more,
        _create_body,
        _create_diff,
        _cannot_tell,
        names_entry=False,
        creates=True,
        carries_secrets=True,
        grants=True,
    ),
    Verb.DISABLE: ChangeSpec(
        _check_nothing_more,
        _no_body,
        _disable_diff,
        _disable_unmet,
        write=_disable_write,
        read=_read_state,
        against=_refuse_disabled,
        sets_active=False,
    ),
    Verb.ENABLE: ChangeSpec(
        _check_nothing_more,
        _no_body,
        _enable_diff,
        _enable_unmet,
        write=_enable_write,
        read=_read_state,
        against=_refuse_enabled,
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
