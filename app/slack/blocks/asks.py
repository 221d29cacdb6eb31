"""What a request asks, in words: its headline, what it wants per verb, and one line per changed
field or person, shortened visibly when long.

Every verb has its `wants` sentence here (`_WANTS`): a verb without one fails at import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from app import text
from app.approvals.change_diff import DiffLine
from app.approvals.change_request import ChangeRequest
from app.approvals.changes import Verb
from app.foundations.field_labels import field_label
from app.i18n import N_, _
from app.slack.blocks.kit import SHOWN_VALUE

# --- the approval message -----------------------------------------------------------------------


def entry_label(request: ChangeRequest) -> str:
    change = request.change
    name = text.clip(request.entry_name, 255)
    if change.identifier:
        return f"{_(change.kind.label)} {change.identifier}" + (f" “{name}”" if name else "")
    return _("a new {kind} “{name}”").format(kind=_(change.kind.label), name=name)


#: People named in a headline; the change lines below it name every one.
HEADLINE_NAMES = 3


def headline(request: ChangeRequest) -> str:
    """Who asks for what, in one line: "@priya asks to give *@alice edit* access to
    password 312 “GCP console”"."""
    asks = {
        "ticket": N_("{requester} asks via a ticket to {wants}"),
        "mcp": N_("{requester} asks via an AI assistant (MCP) to {wants}"),
        "review": N_("{requester} asks in an access review to {wants}"),
    }.get(request.source, N_("{requester} asks to {wants}"))
    return _(asks).format(requester=f"<@{request.requester}>", wants=wants(request))


def wants(request: ChangeRequest) -> str:
    """What the request does, as a verb phrase: "give *@alice edit* access to password 312"."""
    return _WANTS[request.change.verb](request)


def _share_wants(request: ChangeRequest) -> str:
    gains = [d for d in request.diff if d.principal and d.action in ("add", "raise")]
    named = (
        _names(
            [_("{who} {right}").format(who=_who(d, request.people), right=_(d.after)) for d in gains]
        )
        if gains
        else _("nobody new")
    )
    return _("give *{named}* access to {entry}").format(named=named, entry=entry_label(request))


def _gain(line: DiffLine, people: Mapping[str, str]) -> str:
    """`@alice edit`: who gains which right, in a headline."""
    return _("{who} {right}").format(who=_who(line, people), right=_(line.after))


def _unshare_wants(request: ChangeRequest) -> str:
    losing = [d for d in request.diff if d.principal and d.action == "remove"]
    named = _names([_who(d, request.people) for d in losing]) if losing else _("nobody")
    return _("take away *{named}*’s access to {entry}").format(named=named, entry=entry_label(request))


def _reduce_wants(request: ChangeRequest) -> str:
    lowered = [d for d in request.diff if d.principal and d.action == "lower"]
    named = _names([_who(d, request.people) for d in lowered]) if lowered else _("nobody")
    return _("reduce *{named}* to view on {entry}").format(named=named, entry=entry_label(request))


def _update_wants(request: ChangeRequest) -> str:
    names = [text.inline(_(field_label(d.field))) for d in request.diff if not d.principal]
    return _("change *{fields}* of {entry}").format(fields=_names(names), entry=entry_label(request))


def _rotate_wants(request: ChangeRequest) -> str:
    names = [_(field_label(d.field)) for d in request.diff if not d.principal]
    return _("set a new *{fields}* for {entry}").format(
        fields=_names(names), entry=entry_label(request)
    )


def _create_wants(request: ChangeRequest) -> str:
    return _("create {entry}").format(entry=entry_label(request))


def _disable_wants(request: ChangeRequest) -> str:
    return _("*disable* {entry}: nobody can use it until it is enabled").format(
        entry=entry_label(request)
    )


def _enable_wants(request: ChangeRequest) -> str:
    return _("*enable* {entry} again (it is disabled now)").format(entry=entry_label(request))


_WANTS = {
    Verb.SHARE: _share_wants,
    Verb.UNSHARE: _unshare_wants,
    Verb.UPDATE: _update_wants,
    Verb.ROTATE: _rotate_wants,
    Verb.CREATE: _create_wants,
    Verb.DISABLE: _disable_wants,
    Verb.ENABLE: _enable_wants,
    Verb.REDUCE: _reduce_wants,
}
if set(_WANTS) != set(Verb):  # a verb without its headline fails here, at import, never at render
    raise ImportError(f"no headline for {sorted(v.value for v in set(Verb) - set(_WANTS))}")


def _names(names: Sequence[str]) -> str:
    """`a`, `a and b`, `a, b and c`; past HEADLINE_NAMES, how many more (all are listed below)."""
    shown = list(names[:HEADLINE_NAMES])
    if len(names) > HEADLINE_NAMES:
        shown.append(_("{count} more").format(count=len(names) - HEADLINE_NAMES))
    if len(shown) == 1:
        return shown[0]
    return _("{some} and {last}").format(some=", ".join(shown[:-1]), last=shown[-1])


def _who(line: DiffLine, people: Mapping[str, str]) -> str:
    """A person as Slack names them when the request knows their Slack ID (they were
    mentioned), else their MySafe username; a group by its MySafe name."""
    if line.is_group:
        return _("group {name}").format(name=text.clip(line.principal, 128))
    slack_id = people.get(line.principal.casefold())
    return f"<@{slack_id}>" if slack_id else text.clip(line.principal, 128)


def principal_line(line: DiffLine, people: Mapping[str, str]) -> str:
    """`+ @alice (edit)`, `↑ bobm: view → edit`, `− carol (had view)`: whole names, always."""
    who, before, after = _who(line, people), _(line.before), _(line.after)
    return {
        "add": f"+ {who} ({after})",
        "raise": f"↑ {who}: {before} → {after}",
        "lower": f"↓ {who}: {before} → {after}",
        "remove": _("− {who} (had {before})").format(who=who, before=before),
        "keep": _("= {who} ({after}): has it already, no change").format(who=who, after=after),
        "absent": _("− {who}: has no access now, nothing to remove").format(who=who),
    }[line.action]


def _start_of_difference(before: str, after: str) -> int:
    """Where two long values part, less some context: the message shows them from there."""
    same = 0
    for a, b in zip(before, after, strict=False):
        if a != b:
            break
        same += 1
    longest = max(len(before), len(after))
    return same - 40 if same > SHOWN_VALUE // 2 and longest > SHOWN_VALUE else 0


def _value(value: str, start: int = 0) -> str:
    return text.excerpt(value, start, SHOWN_VALUE) if value else _("_(empty)_")


def field_line(line: DiffLine, verb: Verb) -> str:
    """`• *url*: a → b`, each value shortened visibly, from where the two values differ."""
    name = f"• *{text.inline(_(field_label(line.field)))}*"
    if verb is Verb.CREATE and not line.before:
        return f"{name}: {_value(line.after)}"
    start = _start_of_difference(line.before, line.after)
    return f"{name}: {_value(line.before, start)} → {_value(line.after, start)}"


def change_lines(request: ChangeRequest) -> list[str]:
    """The change, line by line: sharing first (what grants access), then fields."""
    return [
        principal_line(d, request.people) if d.principal else field_line(d, request.change.verb)
        for d in request.diff
    ] or [_("_no visible change_")]


def is_shortened(request: ChangeRequest) -> bool:
    """Whether any value had to be shortened: then the full change is one click away."""
    return any(
        len(v) > SHOWN_VALUE for d in request.diff if not d.principal for v in (d.before, d.after)
    )


def _summary(line: DiffLine, people: Mapping[str, str]) -> str:
    who = _who(line, people)
    after = _(line.after)
    return {
        "add": f"+ {who} ({after})",
        "raise": f"↑ {who} ({after})",
        "lower": f"↓ {who} ({after})",
        "remove": f"− {who}",
        "keep": _("= {who} (no change)").format(who=who),
        "absent": _("− {who} (no access)").format(who=who),
    }[line.action]


def change_summary(request: ChangeRequest) -> str:
    """Every added, raised or removed principal and every changed field, for the text fallback
    (notifications, screen readers), which has no room for values."""
    people = [_summary(d, request.people) for d in request.diff if d.principal]
    fields = [text.inline(_(field_label(d.field))) for d in request.diff if not d.principal]
    parts = [", ".join(people)] if people else []
    if fields:
        parts.append(_("fields {names}").format(names=", ".join(fields)))
    return "; ".join(parts) or _("no visible change")
