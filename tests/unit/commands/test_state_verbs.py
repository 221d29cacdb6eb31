"""`disable` and `enable`: the entry, then an optional reason and ticket, and nothing else."""

from __future__ import annotations

import pytest

from app.mysafe.models import Kind
from app.slack.command_text import parse
from commands import VERBS
from commands.parser import CommandError
from commands.types import Disable, Enable, EntryRef


@pytest.mark.parametrize(
    ("text", "command"),
    [
        (
            'disable password 312 reason "leaked in a public repo"',
            Disable(EntryRef(Kind.PASSWORD, 312), "leaked in a public repo"),
        ),
        ("DISABLE secret #7 ticket SEC-142", Disable(EntryRef(Kind.SECRET, 7), "", "SEC-142")),
        (
            'enable password 312 ticket=SEC-1 reason="rotated"',
            Enable(EntryRef(Kind.PASSWORD, 312), "rotated", "SEC-1"),
        ),
        ("enable api-secret 9", Enable(EntryRef(Kind.SECRET, 9))),
    ],
)
def test_state_verbs_parse(text: str, command: Disable | Enable) -> None:
    assert parse(text) == command


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("disable password", "which password? add its ID"),
        ("disable password 312 with @alice", '"with" is not expected here'),
        ('disable password 312 reason "a" reason "b"', "the reason is given twice"),
        ("enable password 312 password=hunter2", "is a secret and is never typed"),
        ("enable secret 7 leaked", '"leaked" is not expected here'),
    ],
)
def test_state_verbs_refuse_anything_else_showing_their_form(text: str, words: str) -> None:
    verb = text.split()[0]
    with pytest.raises(CommandError) as caught:
        parse(text)
    assert words in str(caught.value)
    assert caught.value.usage == VERBS[verb].SPEC.usage
    assert "hunter2" not in str(caught.value)
