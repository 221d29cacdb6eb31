"""`/mysafe access ENTRY`: everyone with access to one entry now, and how each came.

Read with the asker's own key, so MySafe decides whether they may see the entry and its
sharing lists; how each right came is the bot's own trace of the requests it applied
(`app.approvals.given`). A verb that only answers: no change request, no `ChangeSpec`.
"""

from __future__ import annotations

from app.approvals.given import Given, Holder, holders
from app.foundations.clock import timestamp
from app.i18n import N_, _, ngettext
from commands.context import Context
from commands.grammar import Args, take_entry
from commands.replies import AccessShown, Code, Line, Part, Person, Strong, When, line
from commands.types import Token, VerbSpec, WhoHasAccess

SPEC = VerbSpec(
    name="access",
    usage="/mysafe access password|secret ID",
    summary=N_("who has access to an entry now, and through which request, only to you"),
    examples=("/mysafe access password 312", "/mysafe access secret 7"),
)

#: The command this verb parses to; `commands.dispatch` routes it to `run`.
COMMAND = WhoHasAccess


def parse(args: list[Token]) -> WhoHasAccess:
    rest = Args(args)
    entry = take_entry(rest)
    rest.end()
    return WhoHasAccess(entry)


def run(ctx: Context, command: WhoHasAccess) -> AccessShown:
    entry = ctx.mysafe().read(command.entry.kind, command.entry.identifier)
    traces = ctx.engine.given.read(entry.kind, entry.identifier)
    found = holders(entry, traces, now=timestamp())
    ctx.engine.audit.record(
        "entry.access_shown",
        actor=ctx.user_id,
        kind=entry.kind.value,
        entry=entry.identifier,
        holders=len(found),
        source=ctx.source,
    )
    return AccessShown(entry.kind, entry.identifier, entry.name, tuple(found), entry.active)


# --- in words, for every front ------------------------------------------------------------

#: Requests named per user or group (the rest are counted); characters of the entry's name.
SHOWN_VIA = 3
SHOWN_NAME = 200


def heading(reply: AccessShown) -> Line:
    kind = _(reply.kind.label)
    label = kind[:1].upper() + kind[1:]
    if not reply.active:
        return (
            Strong(f"{label} {reply.identifier}"),
            _(
                " is disabled in MySafe, which shows nothing of it (its sharing included) until "
                "it is enabled again."
            ),
        )
    users = sum(not h.is_group for h in reply.holders)
    groups = len(reply.holders) - users
    counts = [
        ngettext("{count} user", "{count} users", users).format(count=users) if users else "",
        ngettext("{count} group", "{count} groups", groups).format(count=groups) if groups else "",
    ]
    who = ", ".join(c for c in counts if c) or _("shared with nobody")
    name = reply.entry_name
    if len(name) > SHOWN_NAME:
        more = _("({count} more characters)").format(count=len(name) - SHOWN_NAME)
        name = f"{name[:SHOWN_NAME]}… {more}"
    return (
        Strong(f"{label} {reply.identifier}: {name}"),
        _(" — who has access: {who}").format(who=who),
    )


def holder_line(holder: Holder) -> Line:
    """`carol (edit): through R-7K2QF, asked by …, approved by … on …, ticket …, until …`."""
    who = _("group {name}").format(name=holder.name) if holder.is_group else holder.name
    head: Line = (f"{who} ({_(holder.right)}): ",)
    if holder.outside:
        return (*head, _("given outside the bot"))
    parts: list[Part] = [*head]
    for index, given in enumerate(holder.via[:SHOWN_VIA]):
        parts += [_("; also ") if index else "", *_through(given)]
    if len(holder.via) > SHOWN_VIA:
        more = len(holder.via) - SHOWN_VIA
        parts.append(
            ngettext("; and {count} more request", "; and {count} more requests", more).format(
                count=more
            )
        )
    return tuple(parts)


def _through(given: Given) -> Line:
    parts: list[Part] = [
        *line(
            _("through {request}, asked by {person}"),
            request=Code(given.request),
            person=Person(given.requester),
        )
    ]
    if given.approvers:
        parts.append(_(", approved by "))
        for index, approver in enumerate(given.approvers):
            parts += [", " if index else "", Person(approver)]
    else:
        parts.append(_(", applied without an approver (policy)"))
    parts += line(_(" on {when}"), when=When(int(given.at)))
    if given.ticket:
        parts += [_(", ticket "), given.ticket]
    if given.until:
        parts += line(_(", time-bound until {when}"), when=When(int(given.until)))
    return tuple(parts)


def lines(reply: AccessShown) -> tuple[Line, ...]:
    """The whole answer, heading first, one line per user or group."""
    return (heading(reply), *(holder_line(h) for h in reply.holders))
