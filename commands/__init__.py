"""The `/mysafe` verbs: one module each, registered here in the order help lists them.

Each verb module has a `SPEC` (usage, summary, examples: all that help prints) and a
`parse(args)` from the tokens after the verb word to a typed command. `commands.parser.parse`
is the entry point from a front's text, read by the front's own reader (Slack's is
`app.slack.command_text`). Every verb can also be typed in Portuguese (`ALIASES`):
the word picks the verb, the rest of the grammar is the same.
"""

from __future__ import annotations

from commands import (
    access,
    cancel,
    create,
    disable,
    enable,
    help,
    list_entries,
    login,
    logout,
    mcp_token,
    my_requests,
    passkey,
    rotate,
    share,
    show,
    unshare,
    update,
    whoami,
)
from commands.aliases import ALIASES
from commands.types import VerbModule

# VerbModule modules satisfy `VerbModule` by their module attributes, which mypy does not match here.
_ORDER: tuple[VerbModule, ...] = (  # type: ignore[assignment]
    help,
    login,
    logout,
    whoami,
    list_entries,
    show,
    access,
    share,
    unshare,
    update,
    rotate,
    create,
    disable,
    enable,
    my_requests,
    cancel,
    mcp_token,
    passkey,
)

#: VerbModule word -> verb module, in display order.
VERBS: dict[str, VerbModule] = {verb.SPEC.name: verb for verb in _ORDER}


def verb_named(word: str) -> VerbModule | None:
    """The verb a (lower-cased) word names, in English or Portuguese; None for no verb."""
    return VERBS.get(ALIASES.get(word, word))
