"""The verbs and the approval core read no Slack markup: a second front reuses them as they are.

Slack's mentions (`<@U1|alice>`, `<#C1|general>`, `<!subteam^S1|@ops>`, `<!here>`) and its
entities (`&amp;`, `&lt;`, `&gt;`) are read by the Slack front (`app/slack/command_text.py`),
which hands the lexer the people it recognised; import-linter keeps `app.text` and that module
out of `commands` and `app.approvals`. This test catches what an import cannot: the syntax
written again by hand under `commands/` or `app/approvals/`.
"""

from __future__ import annotations

import re
from pathlib import Path

from app.mysafe.models import Kind
from commands.lexer import Mark
from commands.parser import parse
from commands.types import ChatUser, EntryRef, MySafeUser, Share

ROOT = Path(__file__).resolve().parents[3]
SLACK_SYNTAX = re.compile(r"<[@#!]|subteam|&(?:amp|lt|gt);")


def test_no_slack_markup_is_read_under_commands_or_the_approval_core() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {text.strip()}"
        for folder in ("commands", "app/approvals")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for number, text in enumerate(path.read_text().splitlines(), 1)
        if SLACK_SYNTAX.search(text)
    ]
    assert found == []


def test_a_front_without_markup_hands_the_grammar_its_own_people() -> None:
    """A front that is not Slack (a console, another chat) reads its text its own way: a
    person it recognised is a mark with a token; by default text is plain, and Slack's
    mention syntax in it is only text."""
    pieces = ["share password 312 with ", Mark("@carol", ChatUser("W42", "carol")), " user:<b>"]
    assert parse("…", read=lambda _text: pieces) == Share(
        EntryRef(Kind.PASSWORD, 312), (ChatUser("W42"), MySafeUser("<b>"))
    )
    assert parse("share password 312 with user:<@U1>") == Share(
        EntryRef(Kind.PASSWORD, 312), (MySafeUser("<@U1>"),)
    )


def test_plain_text_quoted_is_read_back_exactly_with_no_escaping_of_its_own() -> None:
    from commands.lexer import plain, quote, tokenize
    from commands.types import Word

    value = 'say "hi" to <@U1|x> & it\'s'
    (token,) = tokenize(plain(quote(value)))
    assert isinstance(token, Word) and token.text == value
