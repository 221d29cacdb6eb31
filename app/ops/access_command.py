"""`mysafe-bot access password 312 --as SLACK_USER_ID`: who has access, for operators.

The bot holds no MySafe key of its own: every read is some person's. `--as` names whose
linked key reads the entry (MySafe decides what that person may see), exactly as
`/mysafe access` typed by them would; the read is audited with that person as the actor and
`cli` as the source. Plain text (one line per user or group, people by Slack ID, times in
UTC) or `--json`, the MCP tool's shape.
"""

from __future__ import annotations

import json

from app.mcp.server import access_data
from app.mysafe.models import Kind
from app.ops.runtime import admin_runtime
from app.text import for_terminal
from commands import access
from commands.context import Context
from commands.replies import plain_text
from commands.types import EntryRef, WhoHasAccess


def who_has_access(kind: str, identifier: int, *, as_user: str, as_json: bool = False) -> int:
    runtime = admin_runtime()
    try:
        context = Context(
            user_id=as_user,
            engine=runtime.engine,
            services=runtime.services,
            approvers=(),
            source="cli",
        )
        reply = access.run(context, WhoHasAccess(EntryRef(Kind(kind), identifier)))
    finally:
        runtime.close()
    if as_json:
        print(json.dumps(access_data(reply), indent=2, ensure_ascii=False))
        return 0
    for line in access.lines(reply):
        print(for_terminal(plain_text(line)))
    return 0
