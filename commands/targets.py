"""Who an entry is shared with or unshared from: `@mention`, `user:NAME`, `group:"Name"`.

Targets may be separated by spaces, commas or `and`; a Slack channel or user group is refused
rather than guessed at, because sharing a credential with the wrong audience is the one
mistake this bot exists to prevent.
"""

from __future__ import annotations

from dataclasses import dataclass

from commands.grammar import (
    Args,
    check_name,
    is_reason,
    keyword,
    read_reason,
    shown,
    unexpected,
)
from commands.lexer import CommandError
from commands.types import (
    MySafeGroup,
    MySafeUser,
    Segment,
    SlackChannel,
    SlackUser,
    SlackUserGroup,
    Target,
    Token,
    Word,
)

MAX_TARGETS = 50
SEPARATORS = frozenset({"and", "&"})
EDIT_WORDS = frozenset({"edit", "can_edit", "can-edit"})
BROADCASTS = frozenset({"@here", "@channel", "@everyone"})
HOW = 'name people as @mention or user:NAME and groups as group:"Name"'


@dataclass(frozen=True)
class Audience:
    who: tuple[Target, ...]
    edit: bool = False
    reason: str = ""


def take_audience(args: Args, *, allow_edit: bool) -> Audience:
    """Read targets, `edit` (when allowed) and one reason, in any order, up to the end."""
    who: list[Target] = []
    edit, reason = False, None
    while (token := args.take()) is not None:
        if isinstance(token, Word) and _has_bare_comma(token):
            args.put_back(_split_commas(token))
        elif keyword(token) in SEPARATORS:
            continue
        elif allow_edit and keyword(token) in EDIT_WORDS:
            edit = True
        elif is_reason(token):
            reason = read_reason(args, token, reason)
        else:
            _add(who, target(token, args.hint))
    if not who:
        raise CommandError(f"say who: {HOW}")
    return Audience(tuple(who), edit, reason or "")


def _add(who: list[Target], new: Target) -> None:
    if new in who:
        return
    if len(who) >= MAX_TARGETS:
        raise CommandError(f"too many people and groups: at most {MAX_TARGETS} in one request, "
                           "so that the approval message can name every one")
    who.append(new)


def target(token: Token, hint: str = "") -> Target:
    """One target from one token; anything else is refused with what to write instead."""
    if isinstance(token, SlackUser):
        return SlackUser(token.slack_id, token.label)
    if isinstance(token, SlackChannel):
        raise CommandError(f"a channel is not a person: instead of {token.text}, {HOW}")
    if isinstance(token, SlackUserGroup):
        raise CommandError('a Slack user group is not a MySafe group: use group:"Name" instead '
                           f"of {token.text}")
    if isinstance(token, Word):
        named = _named(token)
        if named is not None:
            return named
        if token.bare and token.text.startswith("@"):
            raise _not_a_mention(token.text)
    raise unexpected(token, hint)


def _named(word: Word) -> Target | None:
    """`user:NAME` or `group:NAME` (the prefix typed bare; the name may be quoted)."""
    first = word.parts[0]
    prefix, colon, rest = first.text.partition(":")
    if first.literal or not colon or prefix.lower() not in ("user", "group"):
        return None
    name = rest + "".join(part.text for part in word.parts[1:])
    if prefix.lower() == "user":
        return MySafeUser(check_name(name, what="user:", example="user:alice"))
    return MySafeGroup(check_name(name, what="group:", example='group:"Ops team"'))


def _not_a_mention(text: str) -> CommandError:
    if text.lower() in BROADCASTS:
        return CommandError(f"{text} is not a person: {HOW}")
    return CommandError(f'"{shown(text)}" is plain text, not a Slack mention: pick the person '
                        "from Slack's suggestions, or write user:NAME")


def _has_bare_comma(word: Word) -> bool:
    return any("," in part.text for part in word.parts if not part.literal)


def _split_commas(word: Word) -> list[Word]:
    """Split a word at its unquoted commas: `@a,@b` and `group:"A, B",` read as people lists."""
    words: list[list[Segment]] = [[]]
    for part in word.parts:
        pieces = [part.text] if part.literal else part.text.split(",")
        for index, piece in enumerate(pieces):
            if index:
                words.append([])
            if piece or part.literal:
                words[-1].append(Segment(piece, part.literal))
    return [Word(tuple(parts)) for parts in words if parts]
