"""`/mysafe help [VERB]`: the help text, generated from every verb's SPEC.

Usage lines and examples live next to each verb's grammar, and help prints only those, so help
and grammar cannot drift apart; a test parses every example.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.i18n import N_, _
from commands.aliases import ALIASES
from commands.context import Context
from commands.grammar import Args, clipped, keyword
from commands.lexer import CommandError
from commands.replies import Code, Line, Message, line
from commands.types import Help, Token, VerbModule, VerbSpec

SPEC = VerbSpec(
    name="help",
    usage="/mysafe help [VERB]",
    summary=N_("list the commands, or show how to use one with examples"),
    examples=("/mysafe help", "/mysafe help share"),
)


#: The command this verb parses to; `commands.dispatch` routes it to `run`.
COMMAND = Help


def parse(args: list[Token]) -> Help:
    rest = Args(args)
    token = rest.take()
    if token is None:
        return Help(None)
    word = keyword(token) or ""
    name = ALIASES.get(word, word)
    if name not in _verbs():
        from commands.parser import no_such_verb

        raise CommandError(no_such_verb(token.text, _verbs(), _("ask about one of")))
    rest.end()
    return Help(name)


def help_text(verb: str | None = None) -> Message:
    """One line per verb (usage and summary), or one verb's usage, summary and examples."""
    verbs = _verbs()
    if verb is None:
        return Message((*(_line(v.SPEC) for v in verbs.values()), _aliases()))
    verb = ALIASES.get(verb, verb)
    if verb not in verbs:
        raise CommandError(
            line(_('There is no command "{word}"'), word=clipped(verb)),
            verb=SPEC.name,
            usage=SPEC.usage,
        )
    return _page(verbs[verb].SPEC)


def _line(spec: VerbSpec) -> Line:
    return (Code(spec.usage), "  ", _(spec.summary))


def _aliases() -> Line:
    """The Portuguese words for the verbs, said in both languages' help."""
    pairs = ", ".join(f"{word} = {verb}" for word, verb in ALIASES.items() if word.isascii())
    return (_("Verbs in Portuguese: "), pairs)


def _page(spec: VerbSpec) -> Message:
    examples: list[Line] = [("• ", Code(example)) for example in spec.examples]
    heading: list[Line] = [(_("Examples:"),)] if examples else []
    words = [word for word, verb in ALIASES.items() if verb == spec.name and word.isascii()]
    also: list[Line] = [(_("Also: "), ", ".join(words))] if words else []
    return Message(((Code(spec.usage),), (_(spec.summary),), *also, *heading, *examples))


def _verbs() -> Mapping[str, VerbModule]:
    # The registry imports this module, so it is looked up when help runs, not at import time.
    from commands import VERBS

    return VERBS


def run(ctx: Context, command: Help) -> Message:
    return help_text(command.verb)
