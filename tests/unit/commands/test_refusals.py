"""Refusals from verbs are neutral like their replies: no chat markup is written in `commands/`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import commands
from app.slack.command_text import parse
from commands.lexer import CommandError
from commands.replies import Code

#: (module, function or class) whose literals may still hold markup, and why.
KNOWN = {
    ("replies.py", "_plain"),  # the plain-text fallback quotes a Code part in backticks
    ("types.py", "text"),  # a mention token's text is the markup Slack sent
}


def _markup_literals(path: Path) -> list[tuple[int, str]]:
    """String literals (docstrings aside) holding a code span or a mention, outside KNOWN."""
    tree = ast.parse(path.read_text())
    scopes = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef)]
    skipped = {id(n) for scope in scopes if (path.name, scope.name) in KNOWN for n in ast.walk(scope)}
    skipped |= {
        id(scope.body[0].value)
        for scope in [tree, *scopes]
        if scope.body and isinstance(scope.body[0], ast.Expr)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in skipped
        and ("`" in node.value or "<@" in node.value)
    ]


@pytest.mark.parametrize(
    "path", sorted(Path(commands.__file__).parent.glob("*.py")), ids=lambda p: p.name
)
def test_no_verb_writes_code_spans_or_mentions_in_its_text(path: Path) -> None:
    assert _markup_literals(path) == []


def test_a_refusal_names_the_command_to_copy_as_a_part() -> None:
    with pytest.raises(CommandError) as caught:
        parse("cancel")
    assert Code("/mysafe cancel R-7K2QF") in (caught.value.line or ())
    assert str(caught.value) == "which request? add its ID, like `/mysafe cancel R-7K2QF`"


def test_a_secret_typed_in_a_command_is_refused_in_human_words_with_the_form_to_use() -> None:
    with pytest.raises(CommandError) as caught:
        parse("update password 1 client_secret=hunter2")
    assert str(caught.value).startswith("client secret is a secret")
    assert Code("/mysafe rotate password 1") in (caught.value.line or ())
    assert "hunter2" not in str(caught.value)


def test_a_typo_of_a_verb_is_answered_with_the_verb_it_looks_like() -> None:
    for typed, meant in (
        ("shre password 1", "share"),
        ("lsit passwords", "list"),
        ("help shwo", "show"),
    ):
        with pytest.raises(CommandError) as caught:
            parse(typed)
        assert Code(meant) in (caught.value.line or ()), typed
        assert f"Did you mean `{meant}`?" in str(caught.value)
    with pytest.raises(CommandError) as caught:
        parse("frobnicate")
    assert "Did you mean" not in str(caught.value)  # nothing close: only the list


@pytest.mark.parametrize(
    "typed",
    ["frobnicate", "help frobnicate", "cancel", "list", "unshare password 1 from", "show secret"],
)
def test_a_refusal_starts_as_a_sentence_does(typed: str) -> None:
    from app.slack.replies import refusal_text

    with pytest.raises(CommandError) as caught:
        parse(typed)
    told = refusal_text(caught.value)
    assert told[:1].isupper(), told


@pytest.mark.parametrize(
    "typed",
    ["cancel *R-1*", "list *things*", "help *shre*", "share password 1 with `@x`"],
)
def test_a_refusal_quotes_the_word_as_typed_and_the_front_makes_it_inert(typed: str) -> None:
    """The verb hands the word back as typed (no Slack escaping in `commands/`); the Slack
    front's rendering of the same refusal shows it inert."""
    from app.slack.replies import refusal_text

    with pytest.raises(CommandError) as caught:
        parse(typed)
    word = typed.split()[-1]
    assert word in str(caught.value)
    assert word not in refusal_text(caught.value)
