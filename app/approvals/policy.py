"""The approval policy a process holds: read from its file, kept when good, swapped on SIGHUP.

`MYSAFE_BOT_POLICY` names a YAML file of rules, tried in order; the first whose `match` fits
the change wins. A rule says how many approvals the change needs (0: applied at once, audited),
who may give them, where the request is posted, whether a reason or a ticket must come with
it, the longest time-bound share, and when to remind and to whom to escalate. Without a file,
the settings (`MYSAFE_BOT_APPROVERS`, `MYSAFE_BOT_APPROVALS_REQUIRED`, the approvals channel)
are the one rule, named `default`; with a file, the same rule (named `settings`) follows the
file's rules, so a change no rule matches is still approved exactly as before.

The file is validated with marshmallow when the settings are read (app.approvals.policy_file):
a bad file stops start-up with one line naming the rule and the field. The rules themselves are
app.approvals.rules. `PolicyBook` holds the rules a process uses and swaps them on SIGHUP; a
bad file then keeps the rules in force and logs one error line.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from app.approvals.policy_file import VARIABLE, parse_policy
from app.approvals.rules import Defaults, Policy, default_policy
from app.foundations.errors import ConfigError

if TYPE_CHECKING:
    from app.approvals.audit import Audit
    from app.foundations.settings import Settings

log = logging.getLogger(__name__)

#: A policy file is a page of rules, never megabytes.
MAX_FILE = 256 * 1024

#: The last good rules read from each file by this process. gunicorn's workers are forked from
#: a master that read the file at start-up, so they inherit them (see `load_policy`).
_LAST_GOOD: dict[Path, Policy] = {}
#: Set by `mysafe-bot serve` for its processes: a private file holding the text of the rules
#: last read good by any of them. Its `mysafe-bot worker`s are started afresh, not forked, so
#: they inherit no `_LAST_GOOD`: one (re)started after a bad edit reads the rules from here.
IN_FORCE = "MYSAFE_BOT_POLICY_IN_FORCE"


def load_policy(
    path: Path, defaults: Defaults, *, strict: bool = True, keep_last_good: bool = False
) -> Policy:
    """The rules in the file at `path` (see `parse_policy`).

    With `keep_last_good`, a process that has already read good rules from this file keeps
    them when it has since turned bad (one error line): a web worker started after a bad edit
    (a crash, a restart) then serves with the rules in force instead of failing to start,
    which would stop gunicorn. A process that never read the file still fails."""
    in_force = Path(os.environ[IN_FORCE]) if os.environ.get(IN_FORCE) else None
    try:
        text = _read(path)
        policy = parse_policy(text, defaults, origin=path.name, strict=strict)
    except ConfigError as error:
        kept = _LAST_GOOD.get(path.resolve()) if keep_last_good else None
        if kept is None and keep_last_good and in_force is not None:
            kept = _in_force(in_force, path, defaults, strict=strict)
        if kept is None:
            raise
        log.error(
            "policy file not valid; the rules read before are kept",
            extra={"event": "policy.kept", "problem": str(error), "pid": os.getpid()},
        )
        return kept
    _LAST_GOOD[path.resolve()] = policy
    if in_force is not None:
        _keep_in_force(in_force, text)
    return policy


def _read(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE + 1)
    except OSError as error:
        raise ConfigError(VARIABLE, f"cannot read {path}: {error.strerror}") from None
    if len(raw) > MAX_FILE:
        raise ConfigError(VARIABLE, f"{path.name}: over {MAX_FILE // 1024} KiB")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(VARIABLE, f"{path.name}: not UTF-8 text") from None


def _in_force(copy: Path, path: Path, defaults: Defaults, *, strict: bool) -> Policy | None:
    """The rules serve's processes last read good, or None when there is no good copy."""
    try:
        return parse_policy(copy.read_text("utf-8"), defaults, origin=path.name, strict=strict)
    except (OSError, UnicodeDecodeError, ConfigError):
        return None


def _keep_in_force(copy: Path, text: str) -> None:
    """Replace the copy in one step (a reader never sees half a file)."""
    part = copy.with_name(f".{copy.name}.{os.getpid()}.{threading.get_ident()}")
    try:
        part.write_text(text, "utf-8")
        os.replace(part, copy)
    except OSError as error:
        log.warning(
            "rules in force not copied",
            extra={"event": "policy.copy_failed", "error": type(error).__name__},
        )


class PolicyBook:
    """The rules a process uses now; `reload()` (SIGHUP) swaps them only for a good file."""

    def __init__(self, settings: Settings, *, audit: Audit | None = None) -> None:
        self.path = settings.policy_path
        #: Each reload is audited: the rules that decide who approves what are evidence too.
        self.audit = audit
        self.defaults = Defaults.of(settings)
        #: Read once here (app.ops.runtime.load_settings has checked it at start-up); a file
        #: turned bad since keeps the rules read before (`keep_last_good`).
        self._policy = (
            load_policy(self.path, self.defaults, strict=bool(settings.approvers), keep_last_good=True)
            if self.path is not None
            else default_policy(self.defaults)
        )
        self._lock = threading.Lock()

    @property
    def current(self) -> Policy:
        return self._policy

    def reload(self) -> bool:
        """Read the file again; a bad one keeps the rules in force and logs one error line.
        Either way the outcome is audited (when the book was given the audit trail)."""
        if self.path is None:
            return False
        with self._lock:
            try:
                policy = load_policy(self.path, self.defaults)
            except ConfigError as error:
                log.error(
                    "policy not reloaded; the rules in force are kept",
                    extra={"event": "policy.reload_error", "problem": str(error), "pid": os.getpid()},
                )
                self._record("policy.reload_refused", problem=str(error)[:300])
                return False
            self._policy = policy
        self._record("policy.reload_applied", rules=",".join(r.name for r in policy.rules))
        log.info(
            "policy reloaded",
            extra={
                "event": "policy.reloaded",
                "pid": os.getpid(),
                "rules": [r.name for r in policy.rules],
            },
        )
        return True

    def _record(self, event: str, **facts: str) -> None:
        if self.audit is not None:
            self.audit.record(
                event, actor="bot", via="SIGHUP", file=str(self.path), pid=os.getpid(), **facts
            )
