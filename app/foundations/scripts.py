"""Lua scripts: each a file of its own, `<package>/lua/<name>.lua`, its KEYS/ARGV contract in
the comment on top.

The one loader for every package's scripts (the foundations' in `app/foundations/lua/`, the job queue's,
the approvals'…), so a script is always found the same way, installed or from a checkout, and
read once per process. Tests hold every script to the convention (tests/unit/test_scripts.py).
"""

from __future__ import annotations

import functools
from importlib.resources import files


@functools.cache
def lua(package: str, name: str) -> str:
    """The text of `lua/<name>.lua` beside `package` (e.g. "app.jobs"), for `register_script`."""
    return files(package).joinpath(f"lua/{name}.lua").read_text(encoding="utf-8")
