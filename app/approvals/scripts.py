"""The approvals' Lua scripts: each a file of its own under `lua/`, its KEYS/ARGV contract on top.

The state machine (`store`), the revokes and the reminders find theirs here; the files are read
by the one loader every package shares (`app.foundations.scripts`).
"""

from __future__ import annotations

from app.foundations import scripts


def lua(name: str) -> str:
    """The text of `lua/<name>.lua`, for `register_script`."""
    return scripts.lua("app.approvals", name)
