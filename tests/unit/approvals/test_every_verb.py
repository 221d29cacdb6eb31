"""Every `Verb`, one walk: the person's words (or the form a front hands back) → the command →
its change and spec → the approval message people read → apply, as MySafe then shows it.

A verb added to `Verb` without a walk here fails `test_every_verb_has_a_walk`; one without a
headline fails at import of `app.slack.blocks` (see `test_a_verb_without_a_headline_...`).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.approvals.change_request import ChangeRequest
from app.approvals.changes import Change, Verb, spec_of
from app.approvals.engine import Engine
from app.approvals.machine import State
from app.mysafe.models import Kind, UserShare
from app.sandbox.emulator import Emulator
from app.services import Services
from app.slack import blocks
from app.slack.blocks import asks
from app.slack.command_text import parse
from commands import create as create_verb
from commands import dispatch
from commands import rotate as rotate_verb
from commands.context import Context
from commands.replies import OpenForm, Submitted

NEW_PASSWORD = "N3w-Pa55word-never-shown"


@dataclass(frozen=True)
class Walk:
    """How one verb is asked for (from the entry's ID) and what MySafe shows once applied."""

    ask: Callable[[Context, int], ChangeRequest]
    shows: Callable[[dict[str, Any]], bool]
    #: How the entry stands before the request (MySafe changed meanwhile, e.g. disabled).
    before: Callable[[Emulator, int], None] = lambda emulator, entry: None


def typed(words: str) -> Callable[[Context, int], ChangeRequest]:
    """A verb asked for in one line of text: parsed, then run as any front runs it."""

    def ask(ctx: Context, entry: int) -> ChangeRequest:
        reply = dispatch.run(ctx, parse(words.format(entry=entry)))
        assert isinstance(reply, Submitted)
        return reply.request

    return ask


def rotated(ctx: Context, entry: int) -> ChangeRequest:
    """`rotate` opens a form; its half in `commands.rotate` makes the change from what was typed."""
    assert isinstance(dispatch.run(ctx, parse(f"rotate password {entry}")), OpenForm)
    given = {"password": NEW_PASSWORD}
    assert rotate_verb.form_errors(Kind.PASSWORD, given) == {}
    change, secrets = rotate_verb.change(Kind.PASSWORD, entry, given)
    return ctx.engine.submit(change, requester=ctx.user_id, secrets=secrets)


def created(ctx: Context, entry: int) -> ChangeRequest:
    """`create` opens a form; its half in `commands.create` makes the change from the fields."""
    assert isinstance(dispatch.run(ctx, parse("create password")), OpenForm)
    given = {
        "name": "Billing DB",
        "username": "billing",
        "password": NEW_PASSWORD,
        "users_allowed": "carol:edit",
    }
    change, secrets = create_verb.change(Kind.PASSWORD, given)
    return ctx.engine.submit(change, requester=ctx.user_id, secrets=secrets)


def reduced(ctx: Context, entry: int) -> ChangeRequest:
    """`reduce` has no words of its own: an access review asks for it."""
    change = Change(Verb.REDUCE, Kind.PASSWORD, entry, add_users=(UserShare("bobm", False),))
    return ctx.engine.submit(change, requester=ctx.user_id, source="review")


def _users(entry: dict[str, Any]) -> dict[str, bool]:
    return {u["username"]: u["can_edit"] for u in entry["users_allowed"]}


WALKS: dict[Verb, Walk] = {
    Verb.SHARE: Walk(
        typed("share password {entry} with user:carol edit"),
        lambda shown: _users(shown).get("carol") is True,
    ),
    Verb.UNSHARE: Walk(
        typed("unshare password {entry} from user:bobm"),
        lambda shown: "bobm" not in _users(shown),
    ),
    Verb.UPDATE: Walk(
        typed("update password {entry} notes=rotated-quarterly"),
        lambda shown: shown["notes"] == "rotated-quarterly",
    ),
    Verb.ROTATE: Walk(rotated, lambda shown: shown["password"] == NEW_PASSWORD),
    Verb.CREATE: Walk(created, lambda shown: shown["name"] == "Billing DB"),
    Verb.DISABLE: Walk(
        typed('disable password {entry} reason "leaked"'), lambda shown: shown["active"] is False
    ),
    Verb.ENABLE: Walk(
        typed('enable password {entry} reason "rotated"'),
        lambda shown: shown["active"] is True,
        before=lambda emulator, entry: emulator.set_active("password", entry, False),
    ),
    Verb.REDUCE: Walk(reduced, lambda shown: _users(shown).get("bobm") is False),
}


def test_every_verb_has_a_walk() -> None:
    assert set(WALKS) == set(Verb)


@pytest.fixture
def entry(emulator: Emulator, link) -> int:
    """A password owned by alice (linked as UALICE), shared with bobm, who may edit it."""
    link("UALICE", "alices")
    emulator.add_user("bobm")
    emulator.add_user("carol")
    return emulator.add_password(
        "alices",
        name="GCP console",
        username="ops@example.com",
        password="old-password-1",
        users_allowed=[{"username": "bobm", "can_edit": True}],
    )


@pytest.mark.parametrize("verb", list(Verb), ids=lambda verb: verb.value)
def test_every_verb_walks_from_words_to_mysafe(
    verb: Verb, services: Services, emulator: Emulator, entry: int
) -> None:
    walk = WALKS[verb]
    engine = Engine(services)
    walk.before(emulator, entry)
    ctx = Context(user_id="UALICE", engine=engine, services=services, approvers=frozenset())

    request = walk.ask(ctx, entry)
    assert request.change.verb is verb and spec_of(request.change) is not None

    text, shown = blocks.approval_message(request)
    assert text and blocks.headline(request) in json.dumps(shown, ensure_ascii=False)

    decision = engine.approve(request.id, "UAPPROVER1")
    assert decision.request.state is State.APPLIED, decision.request.result
    identifier = entry if verb is not Verb.CREATE else entry + 1
    stored = emulator.get_password(identifier)
    assert stored is not None and walk.shows(stored)


def test_a_verb_without_a_headline_fails_at_import(tmp_path: Path) -> None:
    """A verb the approval message cannot name stops the Slack front from loading, not the
    first approval message from rendering."""
    source = Path(asks.__file__).read_text()
    marker = "    Verb.REDUCE: _reduce_wants,\n"
    assert marker in source
    patched = tmp_path / "blocks_without_reduce.py"
    patched.write_text(source.replace(marker, "", 1))
    spec = importlib.util.spec_from_file_location("blocks_without_reduce", patched)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["blocks_without_reduce"] = module
    try:
        with pytest.raises(ImportError, match="reduce"):
            spec.loader.exec_module(module)
    finally:
        sys.modules.pop("blocks_without_reduce", None)
