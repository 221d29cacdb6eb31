"""Properties of the parser: nothing Slack can send breaks it, and quoting reads back exactly."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.mysafe.models import Kind
from app.slack.command_text import parse, quote, tokenize
from commands import VERBS, lexer
from commands.lexer import MAX_INPUT
from commands.parser import CommandError
from commands.types import EntryRef, Share, Token, Update, Word

MODEST = settings(max_examples=250, deadline=None)

#: Words and punctuation of the grammar, so generated text reaches past the first refusal.
GRAMMAR_WORDS = [
    *VERBS,
    "password",
    "passwords",
    "secret",
    "secrets",
    "api-secret",
    "with",
    "to",
    "from",
    "and",
    ",",
    "edit",
    "can_edit",
    "reason",
    "revoke",
    "312",
    "#7",
    "0",
    "2147483648",
    "R-7K2QF",
    "r-7k2qf",
    "user:bob",
    "group:",
    'group:"Ops team"',
    "notes=",
    "name=x",
    "url=",
    "password=",
    "client_secret=",
    "token:",
    "@alice",
    "<@U1ABC|alice>",
    "<@U2>",
    "<#C1|general>",
    "<!subteam^S1|@ops>",
    "<!here>",
    "<https://x.io|x.io>",
    "<mailto:a@b.io|a@b.io>",
    "&amp;",
    "&lt;",
    "&gt;",
    "<",
    ">",
    "|",
    "@",
    "=",
    ":",
    "#",
    '"',
    "'",
    "“",
    "”",
    "‘",
    "’",
    "\\",
]

grammar_text = st.lists(
    st.tuples(
        st.sampled_from([" ", " ", "", "\n"]),
        st.one_of(st.sampled_from(GRAMMAR_WORDS), st.text(max_size=6)),
    ),
    max_size=14,
).map(lambda pairs: "".join(gap + word for gap, word in pairs))

#: What a person can put in a value: printable text, no control characters.
printable = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=200)


def _parses_or_refuses(text: str) -> None:
    try:
        parse(text)
    except CommandError as error:
        assert str(error) and error.usage.startswith("/mysafe")


@MODEST
@given(st.text(max_size=300))
def test_arbitrary_text_parses_or_is_refused_with_a_command_error(text: str) -> None:
    _parses_or_refuses(text)


@MODEST
@given(grammar_text)
def test_text_made_of_the_grammar_parses_or_is_refused_with_a_command_error(text: str) -> None:
    _parses_or_refuses(text)


@pytest.mark.slow
@MODEST
@given(st.sampled_from(list(VERBS)), grammar_text)
def test_every_verb_with_any_arguments_parses_or_is_refused(verb: str, rest: str) -> None:
    _parses_or_refuses(f"{verb} {rest}")


@MODEST
@given(printable)
def test_the_tokenizer_reads_a_quoted_value_back_exactly(value: str) -> None:
    (token,) = tokenize(quote(value))
    assert isinstance(token, Word)
    assert token.text == value


@MODEST
@given(printable.filter(lambda v: len(quote(v)) < MAX_INPUT - 40))
def test_a_quoted_update_value_arrives_exactly(value: str) -> None:
    command = parse(f"update password 1 notes={quote(value)}")
    assert command == Update(EntryRef(Kind.PASSWORD, 1), {"notes": value})


@MODEST
@given(printable.filter(lambda v: 0 < len(v.strip()) <= 500))
def test_a_quoted_reason_arrives_stripped(value: str) -> None:
    command = parse(f"share password 1 with user:bob reason {quote(value)}")
    assert isinstance(command, Share) and command.reason == value.strip()


@MODEST
@given(
    st.sampled_from(["password", "client_secret", "secret_key", "token"]),
    printable,
    st.sampled_from(
        [
            "update password 3 {}",
            "update secret 3 notes=x {}",
            "share password 3 with user:bob {}",
            "create secret {}",
        ]
    ),
)
def test_a_typed_secret_never_comes_back_in_the_refusal(field: str, value: str, template: str) -> None:
    secret = "Zq9" + value  # a prefix no refusal contains, so any echo would show
    try:
        parse(template.format(f"{field}={quote(secret)}"))
    except CommandError as error:
        assert secret not in f"{error} {error.errors!r} {error.usage}"
        assert "/mysafe rotate" in str(error)
    else:
        raise AssertionError("a secret was accepted")


#: Text a person types with no Slack markup: the grammar's words, spaces of every kind Python
#: splits on, and the characters the scanner treats specially when they are there.
PLAIN_TEXT = st.lists(
    st.one_of(
        st.sampled_from([w for w in GRAMMAR_WORDS if "<" not in w]),
        st.sampled_from([" ", "  ", "\t", "\u00a0", "\u2003", "\u3000", "=", ":", "x'y", "é"]),
        st.text(max_size=4),
    ),
    max_size=12,
).map("".join)


@MODEST
@given(PLAIN_TEXT)
def test_plain_text_splits_as_the_scanner_reads_it(text: str) -> None:
    """The lexer's quick split of text with no quote and no mark finds the tokens the
    cell-by-cell scan finds, whatever the spaces and `key=value` words."""
    assert _read(lexer.tokenize, text) == _read(lexer.scan, text)


def _read(way: Callable[[list[str]], list[Token]], text: str) -> list[Token] | str:
    try:
        return way([text])
    except CommandError as error:
        return str(error)


def test_every_control_character_but_tab_and_line_ends_is_refused() -> None:
    """The lexer's character class for controls, held to Unicode's own category over every
    code point: a command with one is refused, and any other character is read."""
    allowed = "\t\n\r"
    for point in range(0x110000):
        char = chr(point)
        control = unicodedata.category(char) == "Cc" and char not in allowed
        try:
            lexer.check_input(f"list passwords a{char}b")
        except CommandError as error:
            assert control, f"U+{point:04X} refused"
            assert "control characters" in str(error)
        else:
            assert not control, f"U+{point:04X} read"
