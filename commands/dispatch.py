"""From a typed command to its verb's `run`: one table, derived from the verb registry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from commands import VERBS
from commands.context import Context
from commands.replies import Reply
from commands.types import Command, Create, Help, Login, Rotate

#: Verbs answered by a modal: Slack's trigger_id lasts 3 seconds, so these run before the ack
#: returns (they only open the form). Help is answered in the ack itself.
MODAL_COMMANDS = (Login, Rotate, Create)
INSTANT_COMMANDS = (Help,)

_RUN: dict[type, Callable[[Context, Any], Reply]] = {verb.COMMAND: verb.run for verb in VERBS.values()}


def run(ctx: Context, command: Command) -> Reply:
    return _RUN[type(command)](ctx, command)
