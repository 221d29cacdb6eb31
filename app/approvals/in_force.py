"""The rules in force across a deployment: one policy version and digest, kept in Redis.

Every process loads its own policy file, and in one deployment they may differ: a rolling
deploy, a `mysafe-bot worker` nobody restarted, an edit reloaded in some processes only. Each
would choose rules its own way, and a request could meet an old rule because an old process
took it. So which rules are in force is one fact, `P:policy:in-force` (version, digest), and
never "whichever process loaded last" (a stale process restarted after the new one would
win): a process puts its rules there only when its file's `version:` is higher than the
highest one ever in force (`lua/policy_publish.lua`, compare-and-set), or when an operator
runs `mysafe-bot policy publish` (going back: the newer processes then do not take force back).
Files without `version:` (version 0) keep the simpler rule while no versioned file is in
force: the one most recently loaded (start-up or SIGHUP) is in force, so an edit and a reload
work as they always did; `version:` is what also guards against a stale process restarted.

A process whose rules are not the ones in force (an older version, or the same version with
other rules) decides nothing — its job consumer takes no job (app.slack.front), and
submissions, approvals, denials, applies, expiries and reminders are refused with
`PolicyOutOfDate` — logs one `policy.out_of_date` line when it finds out, and `/readyz` and
`doctor` say so. A process without a policy file puts nothing in
force: it decides while no process has published a file, and is out of date once one has.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
from dataclasses import dataclass

import redis

from app.approvals.policy import PolicyBook
from app.approvals.scripts import lua
from app.foundations.clock import timestamp
from app.foundations.errors import PolicyOutOfDate
from app.foundations.storage import RedisClient

log = logging.getLogger(__name__)

#: How long the out-of-date reports are kept after the last one (seconds).
REPORT_KEPT = 86400


def process_name() -> str:
    """This process in the reports: the host (a pod's name) and the process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Stamp:
    """A policy as the deployment tells them apart: its `version:` and the digest of its rules."""

    version: int
    digest: str

    def __str__(self) -> str:
        return f"version {self.version} ({self.digest[:19]}…)"


class RulesInForce:
    """This process's rules against the deployment's in force; see the module docstring."""

    def __init__(self, redis: RedisClient, *, prefix: str, book: PolicyBook) -> None:
        self.redis = redis
        self.key = f"{prefix}:policy:in-force"
        #: Process name -> why it is out of date and when it last said so, for `doctor`.
        self.stale_key = f"{prefix}:policy:out-of-date"
        self.book = book
        self._publish = redis.register_script(lua("policy_publish"))
        self._lock = threading.Lock()
        self._out_of_date: str | None = None  # the reason last logged, to log each change once
        self._loaded: Stamp | None = None  # the rules this process last put forward as loaded
        self._reported = False

    def ours(self) -> Stamp:
        policy = self.book.current
        return Stamp(policy.version, policy.digest)

    def in_force(self, *, publish: bool = True) -> Stamp | None:
        """The deployment's rules in force, first putting ours there if their version is higher
        (`publish`; a process without a file, and `doctor`, only read). None: none yet."""
        ours = self.ours()
        if publish and self.book.path is not None:
            return self._put(ours, by=self._as_loaded(ours))
        found = self.redis.hmget(self.key, ["version", "digest"])
        return Stamp(int(found[0]), str(found[1])) if found[0] is not None else None

    def announce(self) -> None:
        """At start: put a newer policy in force at once (and log if ours is out of date);
        Redis being away is told by whatever needs it next."""
        with contextlib.suppress(redis.RedisError):
            self.not_in_force()

    def publish(self) -> Stamp:
        """The operator's word (`mysafe-bot policy publish`): our rules are in force, whatever
        their version (going back to an older file, or a file edited without a new version).
        Processes with a version up to the highest ever in force do not take force back."""
        return self._put(self.ours(), by="operator")

    def _as_loaded(self, ours: Stamp) -> str:
        """'loaded' the first time these rules are put forward (start-up, a reload), else ''.
        A file without `version:` is then put in force when the rules in force have no
        version either: among unversioned files the one most recently loaded wins, so an
        edit and a SIGHUP work as before versions; only `version:` also keeps a stale process
        restarted later from taking force back."""
        with self._lock:
            first, self._loaded = self._loaded != ours, ours
        return "loaded" if first else ""

    def _put(self, stamp: Stamp, *, by: str) -> Stamp:
        version, digest = self._publish(
            keys=[self.key], args=[stamp.version, stamp.digest, repr(timestamp()), by]
        )
        return Stamp(int(version), str(digest))

    def not_in_force(self, *, publish: bool = True) -> str | None:
        """Why this process may not decide, or None when its rules are the ones in force."""
        ours, current = self.ours(), self.in_force(publish=publish)
        why = _why_not(ours, current, has_file=self.book.path is not None)
        if publish:
            self._log_change(why, ours, current)
            self._report(why)
        return why

    def _report(self, why: str | None) -> None:
        """Say in Redis that this process is out of date (refreshed at each check), so
        `doctor`, run anywhere, names it; take it back once it is in force again."""
        me = process_name()
        if why is None:
            if self._reported:
                self.redis.hdel(self.stale_key, me)
                self._reported = False
            return
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(self.stale_key, me, json.dumps({"why": why, "at": timestamp()}))
        pipe.expire(self.stale_key, REPORT_KEPT)
        pipe.execute()
        self._reported = True

    def out_of_date(self, *, within: float) -> dict[str, str]:
        """Processes that said they are out of date in the last `within` seconds: name -> why."""
        now = timestamp()
        found = {}
        for name, raw in self.redis.hgetall(self.stale_key).items():
            report = json.loads(raw)
            if now - float(report["at"]) <= within:
                found[name] = str(report["why"])
        return found

    def check(self) -> Stamp:
        """This process's rules, when they are the ones in force; else `PolicyOutOfDate`."""
        why = self.not_in_force()
        if why is not None:
            raise PolicyOutOfDate()  # the details are for operators: logged, in /readyz
        return self.ours()

    def _log_change(self, why: str | None, ours: Stamp, current: Stamp | None) -> None:
        """One line when this process finds itself out of date (or in force again), not one
        per refused decision."""
        with self._lock:
            if why == self._out_of_date:
                return
            self._out_of_date = why
        if why is None:
            log.info(
                "policy in force again",
                extra={"event": "policy.in_force", "version": ours.version, "pid": os.getpid()},
            )
            return
        log.error(
            "policy out of date: this process decides nothing",
            extra={
                "event": "policy.out_of_date",
                "why": why,
                "version": ours.version,
                "digest": ours.digest,
                "in_force_version": current.version if current else None,
                "in_force_digest": current.digest if current else None,
                "pid": os.getpid(),
            },
        )


def _why_not(ours: Stamp, current: Stamp | None, *, has_file: bool) -> str | None:
    """In words, for operators: how this process's rules differ from those in force."""
    if current is None or current == ours:
        return None
    if not has_file:
        return f"this process has no policy file; the deployment's rules in force are {current}"
    if ours.version < current.version:
        return f"this process's policy is {ours}; the deployment's rules in force are {current}"
    if ours.version > current.version:
        return (
            f"this process's policy is {ours}, newer than the deployment's rules in force, "
            f"{current}: an operator went back to them (`mysafe-bot policy publish`), or no "
            "process has loaded this file yet"
        )
    return (
        f"this process's policy is {ours}, other rules than the deployment's in force, "
        f"{current}: raise `version:` in the file (or run `mysafe-bot policy publish`)"
    )
