"""The approvals' Lua scripts: each a file of its own under `lua/`, its KEYS/ARGV contract on top.

One loader for the state machine (`store`), the revokes and the reminders, so a script is
always found the same way, installed or from a checkout.
"""

from __future__ import annotations

from importlib.resources import files


def lua(name: str) -> str:
    """The text of `lua/<name>.lua`, for `register_script`."""
    return files("app.approvals").joinpath(f"lua/{name}.lua").read_text(encoding="utf-8")
