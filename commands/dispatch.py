"""From a typed command to its verb's `run`: one table, so every verb is wired the same way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from commands import (
    cancel,
    create,
    help,
    list_entries,
    login,
    logout,
    mcp_token,
    my_requests,
    rotate,
    share,
    show,
    unshare,
    update,
    whoami,
)
from commands.context import Context
from commands.types import (
    Cancel,
    Command,
    Create,
    Help,
    ListEntries,
    Login,
    Logout,
    McpToken,
    Requests,
    Rotate,
    Share,
    Show,
    Unshare,
    Update,
    WhoAmI,
)

#: Verbs answered by a modal: Slack's trigger_id lasts 3 seconds, so these run before the ack
#: returns (they only open the form). Help is answered in the ack itself.
MODAL_COMMANDS = (Login, Rotate, Create)
INSTANT_COMMANDS = (Help,)

_RUN: dict[type, Callable[[Context, Any], str | None]] = {
    Help: help.run, Login: login.run, Logout: logout.run, WhoAmI: whoami.run,
    ListEntries: list_entries.run, Show: show.run, Share: share.run, Unshare: unshare.run,
    Update: update.run, Rotate: rotate.run, Create: create.run, Requests: my_requests.run,
    Cancel: cancel.run, McpToken: mcp_token.run,
}


def run(ctx: Context, command: Command) -> str | None:
    return _RUN[type(command)](ctx, command)
