"""One ChangeSpec per verb: a verb added without its spec fails at import, never at apply."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from app.approvals import change_intent, changes
from app.approvals.change_diff import DiffLine
from app.approvals.changes import Change, Verb, check, check_against, diff, final_body
from app.foundations.errors import ValidationError
from app.mysafe.models import Entry, GroupShare, Kind, UserShare, WriteResult


def test_every_verb_has_exactly_one_spec() -> None:
    assert set(changes.SPECS) == set(changes.Verb)


def test_a_verb_added_without_its_spec_fails_at_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`/mysafe archive` added to the Verb enum only: the specs' module refuses to load."""
    source = Path(change_intent.__file__).read_text()
    marker = 'ENABLE = "enable"\n'
    assert marker in source
    patched = tmp_path / "change_intent_with_archive.py"
    patched.write_text(source.replace(marker, marker + '    ARCHIVE = "archive"\n', 1))
    # The enum with `archive` stands where `changes` imports its verbs from, for this test only.
    _load(monkeypatch, "app.approvals.change_intent", patched)
    with pytest.raises(ImportError, match="archive"):
        _load(monkeypatch, "changes_with_archive", Path(changes.__file__))


def _load(monkeypatch: pytest.MonkeyPatch, name: str, path: Path) -> None:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)


# --- disable and enable: a verb that is not an update, with no engine edit ----------------------


class Calls:
    """The client calls a spec may choose among, recording which one it made."""

    def __init__(self, entry: Entry) -> None:
        self.entry = entry
        self.made: list[str] = []

    def get(self, kind: Kind, identifier: int) -> Entry:
        self.made.append("get")
        return self.entry

    def read(self, kind: Kind, identifier: int) -> Entry:
        self.made.append("read")
        return self.entry

    def update(self, kind: Kind, identifier: int, fields: object) -> WriteResult:
        self.made.append("update")
        return WriteResult("updated")

    def disable(self, kind: Kind, identifier: int) -> WriteResult:
        self.made.append("disable")
        return WriteResult("Password successfully deactivated")

    def enable(self, kind: Kind, identifier: int) -> WriteResult:
        self.made.append("enable")
        return WriteResult("Password successfully activated")


ENABLED = Entry(Kind.PASSWORD, 312, "GCP console")
DISABLED = Entry.disabled(Kind.PASSWORD, 312)


@pytest.mark.parametrize(
    ("verb", "current", "call", "line"),
    [
        (Verb.DISABLE, ENABLED, "disable", DiffLine("state", "enabled", "disabled")),
        (Verb.ENABLE, DISABLED, "enable", DiffLine("state", "disabled", "enabled")),
    ],
)
def test_a_state_verb_reads_and_writes_through_its_spec(
    verb: Verb, current: Entry, call: str, line: DiffLine
) -> None:
    change = Change(verb, Kind.PASSWORD, 312)
    check(change, {})
    client = Calls(current)
    assert changes.read_entry(client, change) is current
    assert diff(change, current, {}) == [line]
    assert final_body(change, current, {}) == {}
    changes.write_entry(client, change, {})
    assert client.made == ["read", call]  # never `get` (1009) nor `update`


@pytest.mark.parametrize(
    ("verb", "current", "before", "after"),
    [(Verb.DISABLE, ENABLED, ENABLED, DISABLED), (Verb.ENABLE, DISABLED, DISABLED, ENABLED)],
)
def test_a_state_verb_is_met_only_once_mysafe_shows_the_state(
    verb: Verb, current: Entry, before: Entry, after: Entry
) -> None:
    change = Change(verb, Kind.PASSWORD, 312)
    assert changes.unmet(change, before)
    assert changes.unmet(change, after) == []


@pytest.mark.parametrize(
    ("verb", "current", "words"),
    [
        (Verb.DISABLE, DISABLED, "password 312 is already disabled in MySafe"),
        (Verb.ENABLE, ENABLED, "password 312 is not disabled in MySafe"),
    ],
)
def test_a_state_the_entry_already_has_is_refused(verb: Verb, current: Entry, words: str) -> None:
    change = Change(verb, Kind.PASSWORD, 312)
    with pytest.raises(ValidationError, match=words):
        check_against(change, current, diff(change, current, {}))


def test_other_verbs_still_read_with_get_and_write_with_update() -> None:
    change = Change(Verb.UPDATE, Kind.PASSWORD, 312, fields={"notes": "x"})
    client = Calls(ENABLED)
    changes.read_entry(client, change)
    changes.write_entry(client, change, {"notes": "x"})
    assert client.made == ["get", "update"]


def test_a_state_verb_carries_nothing_else() -> None:
    with pytest.raises(ValidationError):
        check(Change(Verb.DISABLE, Kind.PASSWORD, None), {})
    with pytest.raises(ValidationError, match="only a share can be for a period"):
        check(Change(Verb.DISABLE, Kind.PASSWORD, 312, duration=3600), {})
    with pytest.raises(ValidationError, match="secret"):
        check(Change(Verb.ENABLE, Kind.PASSWORD, 312), {"password": "x"})


# --- refusals name people as typed; the front that shows them makes them inert ------------------

HOSTILE = "<!channel> *bold*"


@pytest.mark.parametrize(
    ("verb", "shares", "groups"),
    [
        (Verb.SHARE, (UserShare(HOSTILE, False),), ()),
        (Verb.SHARE, (), (GroupShare(HOSTILE, False),)),
        (Verb.REDUCE, (UserShare(HOSTILE, False),), ()),
    ],
)
def test_a_change_that_changes_nothing_names_them_as_typed_and_slack_shows_them_inert(
    verb: Verb, shares: tuple[UserShare, ...], groups: tuple[GroupShare, ...]
) -> None:
    """The core writes no Slack text: MCP and the webhook answer its words as plain text, and
    the Slack front escapes them (no ping, no bold)."""
    from app.error_messages import user_message
    from app.slack.replies import refusal_text
    from app.text import inline

    current = Entry(Kind.PASSWORD, 312, "db", users_allowed=shares, groups_allowed=groups)
    change = Change(verb, Kind.PASSWORD, 312, add_users=shares, add_groups=groups)
    with pytest.raises(ValidationError, match="This changes nothing") as caught:
        check_against(change, current, diff(change, current, {}))
    assert HOSTILE in str(caught.value) and HOSTILE in user_message(caught.value)
    told = refusal_text(caught.value)
    assert inline(HOSTILE) in told and "Nothing was stored." in told
    assert "<!channel>" not in told and "*bold*" not in told


def test_an_update_that_changes_nothing_names_the_fields_and_slack_shows_them_inert() -> None:
    from app.slack.replies import refusal_text

    current = Entry(Kind.PASSWORD, 312, "db", notes="x")
    change = Change(Verb.UPDATE, Kind.PASSWORD, 312, fields={"notes": "x"})
    with pytest.raises(ValidationError, match="notes already has that value") as caught:
        check_against(change, current, diff(change, current, {}))
    assert "This changes nothing: notes already has that value" in refusal_text(caught.value)
