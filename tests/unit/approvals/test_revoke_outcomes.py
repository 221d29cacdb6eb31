"""The revoke scripts' answers and the record's states are enums, one list each with the Lua:
a status or a state added to a `lua/revoke_*.lua` without its member (or a member no script
returns or writes) fails here, not in a worker's sweep."""

from __future__ import annotations

import re
from importlib.resources import files

from app.approvals.revokes import RevokeOutcome, RevokeState

#: Refusals the `Revoker` answers itself, before any script runs.
PYTHON_ONLY = {RevokeOutcome.NOT_APPROVER, RevokeOutcome.BENEFICIARY}


def revoke_scripts() -> str:
    folder = files("app.approvals").joinpath("lua")
    texts = [
        path.read_text(encoding="utf-8")
        for path in folder.iterdir()
        if path.name.startswith("revoke_") and path.name.endswith(".lua")
    ]
    assert len(texts) >= 9  # every script `RevokeStore` registers
    return re.sub(r"--[^\n]*", "", "\n".join(texts))  # the headers' words are no answers


def test_every_status_a_revoke_script_returns_is_a_revoke_outcome_and_every_outcome_is_returned():
    returned = set(re.findall(r"return \{?'([a-z_]+)'", revoke_scripts()))
    assert returned == {outcome.value for outcome in RevokeOutcome} - PYTHON_ONLY


def test_every_state_a_revoke_script_writes_is_a_revoke_state_and_every_state_is_written():
    scripts = revoke_scripts()
    written = set(re.findall(r"'HSET', KEYS\[\d\], 'state', '([a-z_]+)'", scripts))
    written |= {s for pair in re.findall(r"and '([a-z_]+)' or '([a-z_]+)'", scripts) for s in pair}
    assert written == {state.value for state in RevokeState}
