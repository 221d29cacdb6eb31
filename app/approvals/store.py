"""Change requests in Redis: every state change is one Lua script on one hash slot.

Redis layout (P = `MYSAFE_BOT_KEY_PREFIX`; `{R-…}` is the request's hash tag, so all keys of one
request live in one cluster slot and a transition never crosses slots):

    P:req:{R-7K2QF}            hash   the request: intent, diff, requester, state, times, lease,
                                      Slack message, outcome; `secrets` (Fernet) while not final;
                                      `untold` while the listeners have not been told that the
                                      sweep expired it (see `claim_untold`)
    P:req:{R-7K2QF}:approvals  set    Slack IDs of distinct approvers (one per identity)
    P:req:{R-7K2QF}:voters     hash   identity (`slack:U…`, `mysafe:name`) -> the Slack ID that
                                      approved as it: one person counts once, whatever account
    P:req:{R-7K2QF}:events     list   this request's history (JSON), appended by the same script
                                      that changes the state, so state and history agree
    P:idx:due                  zset   request id -> expiry time      (worker: what to expire);
                                      once expired by the sweep, the time to hand its news
                                      off again unless told by then (its teller died)
    P:idx:leases               zset   request id -> lease deadline   (worker: stuck applies)
    P:idx:open                 zset   request id -> creation time    (the approvers' queue)
    P:idx:user:{U…}            zset   request id -> creation time    (one requester's requests)
    P:idx:repair               zset   request id -> time             (messages Slack did not take)
    P:idem:{key}               string request id for an idempotency key (Slack retry, ticket event)
    P:audit                    stream every event, sequenced and signed (see app.audit.log)

Indexes live in other slots and are written outside the scripts, so they can be briefly stale;
they are hints, never the truth. Writers add a request to the indexes *before* creating it and
remove it *after* it is final; readers check the request's own state and prune what is stale.
Final requests are kept `RETENTION` seconds for the record, then Redis drops them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from enum import Enum, StrEnum
from secrets import choice
from typing import Any, ClassVar

from redis.cluster import RedisCluster
from redis.exceptions import NoScriptError, RedisError
from redis.lock import Lock

from app.approvals.changes import Change, DiffLine
from app.approvals.scripts import lua
from app.crypto import Keyring
from app.storage import RedisClient, compare_and_delete, compare_and_set

ID_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud without doubt
ID_LENGTH = 5
RETENTION = 30 * 86400
#: The prefix of a request's fields that say where a front's message about it is.
_KEPT = "message:"
#: Seconds a duplicate waits for the first delivery's request to be written.
CLAIM_WAIT = 5.0


class State(str, Enum):
    PENDING = "pending"
    APPROVED = "approved"
    APPLYING = "applying"
    APPLIED = "applied"
    FAILED = "failed"
    DENIED = "denied"
    EXPIRED = "expired"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self in FINAL


FINAL = frozenset({State.APPLIED, State.DENIED, State.EXPIRED, State.CANCELLED})


class Action(StrEnum):
    """What the transition script is asked to do (its ARGV[1]); the script refuses any other."""

    APPROVE = "approve"
    DENY = "deny"
    CANCEL = "cancel"
    RETRY = "retry"
    EXPIRE = "expire"
    RECLAIM = "reclaim"
    FINISH = "finish"
    FENCE = "fence"
    YIELD = "yield"
    REASON = "reason"
    WITHDRAW = "withdraw"
    #: A rule that needs no approval: pending -> applying at once, by the bot (audited).
    AUTO = "auto"
    #: Count an approval whose click the approver has confirmed with a passkey (step-up).
    CONFIRM = "confirm"


class Outcome(StrEnum):
    """What the transition script answers (the first item it returns): each value is written
    in `lua/transition.lua`, and the script returns no other."""

    OK = "ok"  # the action moved the request (or, for `fence`, the lease holder may write)
    APPLY = "apply"  # the last approval or a retry: the caller holds the lease and must apply
    EXPIRED = "expired"  # its time had passed: this call expired it
    FINAL = "final"  # already applied, denied, expired or cancelled
    NOOP = "noop"  # not possible from its state: answered with the state only
    ALREADY = "already"  # this approver's approval was counted before
    SELF = "self"  # the requester may not approve or deny their own request
    NOT_APPROVER = "not_approver"
    NOT_REQUESTER = "not_requester"  # only the requester may cancel
    BENEFICIARY = "beneficiary"  # someone who gains access through it may not approve it
    STALE = "stale"  # the lease named is no longer the holder's
    MISSING = "missing"  # no such request
    STEP_UP = "step_up"  # recorded as confirming: counts only once the passkey is verified
    STEP_UP_STALE = "step_up_stale"  # no click of this approver waits, or it is too old

    @property
    def changed(self) -> bool:
        """Whether the call moved the request (the rest answer with its state)."""
        return self in CHANGED


#: Outcomes that mean the click moved the request.
CHANGED = frozenset({Outcome.OK, Outcome.APPLY, Outcome.EXPIRED, Outcome.STEP_UP})

#: Every transition the script may make. `approved` is passed through within one script call:
#: the click that brings the last approval also wins `approved -> applying`.
TRANSITIONS: dict[State, frozenset[State]] = {
    State.PENDING: frozenset({State.APPROVED, State.DENIED, State.EXPIRED, State.CANCELLED}),
    State.APPROVED: frozenset({State.APPLYING}),
    State.APPLYING: frozenset({State.APPLYING, State.APPLIED, State.FAILED}),
    State.FAILED: frozenset({State.APPLYING, State.DENIED, State.EXPIRED, State.CANCELLED}),
    State.APPLIED: frozenset(),
    State.DENIED: frozenset(),
    State.EXPIRED: frozenset(),
    State.CANCELLED: frozenset(),
}

# One script for every transition (app/approvals/lua/transition.lua). Returns
# {status, state, approvals}; the status is an `Outcome`.
# Every change a person could see bumps `version`, which the Slack message records as `shown`:
# a render older than what the message shows is never sent (app.slack.notifier).
# `fence` asks, without changing anything, whether a lease holder may still write; `yield`
# hands a request whose holder could not get its entry in time to the sweeper's next pass.


@dataclass(frozen=True)
class ChangeRequest:
    id: str
    change: Change
    state: State
    requester: str
    requester_name: str
    created: float
    expires: float
    required: int
    diff: tuple[DiffLine, ...] = ()
    entry_name: str = ""
    reason: str = ""
    ticket: Mapping[str, str] = field(default_factory=dict)
    source: str = "slack"
    approvals: frozenset[str] = frozenset()
    attempts: int = 0
    error: str = ""
    result: Mapping[str, Any] = field(default_factory=dict)
    decided_by: str = ""
    deny_reason: str = ""
    channel: str = ""
    ts: str = ""
    notify: tuple[str, ...] = ()
    #: MySafe username (casefolded) -> Slack ID, for the people the request named by mention.
    people: Mapping[str, str] = field(default_factory=dict)
    #: Fernet ciphertext of the pending secret values (already in the HGETALL that loads the
    #: request, so applying needs no extra read); never shown.
    encrypted_secrets: str = field(default="", repr=False)
    #: Bumped by every visible change; `shown` is the version the Slack message displays.
    version: int = 0
    shown: int = 0
    lease_until: float = 0.0
    #: When the request last changed state or gained an approval (set by the script).
    updated: float = 0.0
    #: For a create: ids of entries that had its name when it was made (never "ours").
    preexisting: frozenset[int] = frozenset()
    #: The policy rule the request was made under, who may decide on it and where it is
    #: posted (app.approvals.policy); empty for requests made before policies.
    rule: str = ""
    approvers: frozenset[str] = frozenset()
    rule_channel: str = ""
    #: The policy (`version:` and digest) in force when it was made ("": made before they were
    #: recorded), and the version in force when it was decided under other rules (0: not).
    policy_version: int = 0
    policy: str = ""
    policy_now: int = 0
    #: The rule's reminder interval (seconds; 0: none) and who it escalates to.
    remind_after: int = 0
    escalate_to: tuple[str, ...] = ()
    #: (channel, ts) of the copies posted where the request was escalated, kept in step.
    copies: tuple[tuple[str, str], ...] = ()
    #: When a time-bound share's access was taken back (0: not, or not time-bound).
    ended: float = 0.0
    #: Set while the listeners have not been told that the sweep expired it: 0, or the time
    #: until which a teller's claim holds it (`ApprovalStore.claim_untold`); None once told.
    untold: float | None = None
    #: How many times a teller claimed that news (`ApprovalStore.claim_untold`).
    tell_tries: int = 0
    #: The rule's step-up (`passkey`, or "" for none) and how long after a click it may come.
    step_up: str = ""
    step_up_max_age: int = 0
    #: Approvers whose click waits for its step-up: Slack ID -> the click's time, as the
    #: script stored it (text: the step-up names that exact click).
    confirming: Mapping[str, str] = field(default_factory=dict)

    def confirming_now(self, now: float) -> list[str]:
        """Who is confirming a click still young enough to count (the card shows them)."""
        return sorted(
            who
            for who, clicked in self.confirming.items()
            if now - float(clicked) <= self.step_up_max_age
        )

    #: A break-glass request's on-call evidence (app.approvals.break_glass.Evidence as
    #: JSON); empty for every other request.
    break_glass: Mapping[str, Any] = field(default_factory=dict)

    @property
    def has_secrets(self) -> bool:
        return bool(self.encrypted_secrets)

    #: Fields of the request's hash kept for its script alone, never loaded into the record:
    #: the lease token, and the identities the click checks compare (lua/transition.lua).
    SCRIPT_ONLY: ClassVar[frozenset[str]] = frozenset({"lease", "beneficiaries", "requester_ids"})
    #: Attributes stored under another name in the hash; `approvals` is a set of its own.
    STORED_AS: ClassVar[Mapping[str, str]] = {"encrypted_secrets": "secrets", "approvals": ""}

    @classmethod
    def stored_fields(cls) -> frozenset[str]:
        """Every field the request's hash may hold: the record's, and the script's own."""
        names = (cls.STORED_AS.get(f.name, f.name) for f in fields(cls))
        return frozenset(filter(None, names)) | cls.SCRIPT_ONLY

    def to_redis(self) -> dict[str, str]:
        """The hash a new request is stored as (the store adds its `id`), as `from_redis`
        reads it back; the script writes the rest (version, lease, approvals, outcome…)."""
        stored = {
            "change": json.dumps(self.change.to_json()),
            "diff": json.dumps([line.to_json() for line in self.diff]),
            "entry_name": self.entry_name,
            "state": self.state.value,
            "requester": self.requester,
            "requester_name": self.requester_name,
            "reason": self.reason,
            "ticket": json.dumps(dict(self.ticket)),
            "source": self.source,
            "created": repr(self.created),
            "expires": repr(self.expires),
            "required": str(self.required),
            "rule": self.rule,
            "policy_version": str(self.policy_version),
            "policy": self.policy,
            "approvers": json.dumps(sorted(self.approvers)),
            "rule_channel": self.rule_channel,
            "remind_after": str(self.remind_after),
            "escalate_to": json.dumps(list(self.escalate_to)),
            "step_up": self.step_up,
            "step_up_max_age": str(self.step_up_max_age),
            "attempts": str(self.attempts),
            "notify": json.dumps(list(self.notify)),
            "people": json.dumps(dict(self.people)),
            "preexisting": json.dumps(sorted(self.preexisting)),
        }
        if self.break_glass:
            stored["break_glass"] = json.dumps(self.break_glass)
        if self.encrypted_secrets:
            stored["secrets"] = self.encrypted_secrets
        return stored

    @classmethod
    def from_redis(cls, data: Mapping[str, str], approvals: set[str]) -> ChangeRequest:
        return cls(
            id=data["id"],
            change=Change.from_json(json.loads(data["change"])),
            state=State(data["state"]),
            requester=data["requester"],
            requester_name=data.get("requester_name", ""),
            created=float(data["created"]),
            expires=float(data["expires"]),
            required=int(data["required"]),
            diff=tuple(DiffLine(*line) for line in json.loads(data.get("diff") or "[]")),
            entry_name=data.get("entry_name", ""),
            reason=data.get("reason", ""),
            ticket=json.loads(data.get("ticket") or "{}"),
            source=data.get("source", "slack"),
            approvals=frozenset(approvals),
            attempts=int(data.get("attempts") or 0),
            error=data.get("error", ""),
            result=json.loads(data.get("result") or "{}"),
            decided_by=data.get("decided_by", ""),
            deny_reason=data.get("deny_reason", ""),
            channel=data.get("channel", ""),
            ts=data.get("ts", ""),
            encrypted_secrets=data.get("secrets", ""),
            notify=tuple(json.loads(data.get("notify") or "[]")),
            people=json.loads(data.get("people") or "{}"),
            version=int(data.get("version") or 0),
            shown=int(data.get("shown", -1)),
            lease_until=float(data.get("lease_until") or 0),
            updated=float(data.get("updated") or 0),
            preexisting=frozenset(json.loads(data.get("preexisting") or "[]")),
            rule=data.get("rule", ""),
            policy_version=int(data.get("policy_version") or 0),
            policy=data.get("policy", ""),
            policy_now=int(data.get("policy_now") or 0),
            approvers=frozenset(json.loads(data.get("approvers") or "[]")),
            rule_channel=data.get("rule_channel", ""),
            remind_after=int(data.get("remind_after") or 0),
            escalate_to=tuple(json.loads(data.get("escalate_to") or "[]")),
            copies=tuple((c, t) for c, t in json.loads(data.get("copies") or "[]")),
            ended=float(data.get("ended") or 0),
            untold=float(data["untold"].split(":")[0]) if data.get("untold") else None,
            tell_tries=int(data.get("tell_tries") or 0),
            step_up=data.get("step_up", ""),
            step_up_max_age=int(data.get("step_up_max_age") or 0),
            confirming=json.loads(data.get("confirming") or "{}"),
            break_glass=json.loads(data.get("break_glass") or "{}"),
        )


@dataclass
class OpenScan:
    """What a scan of the open requests found (see `ApprovalStore.stale_open`)."""

    stuck: list[str] = field(default_factory=list)
    behind: list[str] = field(default_factory=list)
    unposted: list[tuple[float, str]] = field(default_factory=list)

    def add(
        self,
        request_id: str,
        state: str | None,
        until: str | None,
        ts: str | None,
        version: str | None,
        shown: str | None,
        created: str | None,
        *,
        now: float,
    ) -> None:
        if state is None:
            return  # gone since the index was read
        if state == State.APPLYING.value and float(until or 0) < now:
            self.stuck.append(request_id)
        if ts and int(shown if shown is not None else -1) < int(version or 0):
            self.behind.append(request_id)
        if not ts:
            self.unposted.append((float(created or 0), request_id))


@dataclass(frozen=True)
class Transition:
    status: Outcome
    state: State | None
    approvals: int
    #: The audit record the script wrote to the request's outbox, as written (app.approvals.outbox).
    written: str = ""

    @classmethod
    def of(cls, answer: Sequence[Any]) -> Transition:
        """From transition.lua's reply: {status, state, approvals[, outbox item]}."""
        status, state, count, *written = answer
        return cls(Outcome(status), State(state) if state else None, int(count), *written[:1])


class ApprovalStore:
    """Redis access for change requests; knows keys and scripts, not MySafe or Slack."""

    def __init__(self, redis: RedisClient, *, prefix: str, retention: int = RETENTION) -> None:
        self.redis = redis
        self.prefix = prefix
        self.retention = retention
        self._transition = redis.register_script(lua("transition"))
        self._create = redis.register_script(lua("create"))
        self._mark_shown = redis.register_script(lua("mark_shown"))
        self._claim_tell = redis.register_script(lua("claim_tell"))
        self._note_policy = redis.register_script(lua("note_policy"))

    # --- keys ------------------------------------------------------------------------------

    def request_keys(self, request_id: str) -> list[str]:
        base = f"{self.prefix}:req:{{{request_id}}}"
        return [base, f"{base}:approvals", f"{base}:events", f"{base}:voters"]

    def outbox_key(self, request_id: str) -> str:
        """The request's audit outbox (app.approvals.outbox), on its slot."""
        return f"{self.request_keys(request_id)[0]}:outbox"

    def index(self, name: str) -> str:
        return f"{self.prefix}:idx:{name}"

    def user_index(self, slack_id: str) -> str:
        return self.index(f"user:{slack_id}")

    def nudge_key(self, request_id: str) -> str:
        """Set while the requester's last *Nudge* is recent (expires by itself)."""
        return f"{self.request_keys(request_id)[0]}:nudged"

    def idempotency_key(self, key: str) -> str:
        return f"{self.prefix}:idem:{key}"

    # --- writes ----------------------------------------------------------------------------

    def create(
        self,
        fields: Mapping[str, str],
        *,
        requester: str,
        created: float,
        expires: float,
        idempotency_key: str | None = None,
    ) -> tuple[str, bool]:
        """Store a new pending request; returns (id, created). Indexes first: see module doc.

        With an idempotency key, concurrent duplicates all answer with the one request: the
        key is claimed (SET NX) before the request is written, and a caller that loses the
        claim waits for the winner's request to exist (`lookup`) rather than reporting a
        request that is not there yet."""
        for _ in range(10):
            if idempotency_key and (existing := self.lookup(idempotency_key)):
                return existing, False
            request_id = new_request_id()
            ttl = int(expires - created) + self.retention
            if idempotency_key and not self.redis.set(
                self.idempotency_key(idempotency_key), request_id, nx=True, ex=ttl
            ):
                continue  # lost the claim: the next turn waits for the winner's request
            self._index_new(request_id, requester=requester, created=created, expires=expires)
            event = json.dumps(
                {
                    "ts": created,
                    "action": "create",
                    "actor": requester,
                    "from": "",
                    "to": "pending",
                    "detail": "",
                }
            )
            flat = [str(x) for pair in {**fields, "id": request_id}.items() for x in pair]
            keys = self.request_keys(request_id)
            if self._create(keys=[keys[0], keys[2]], args=[event, ttl, *flat]):
                return request_id, True
            if idempotency_key:
                self._release_claim(idempotency_key, request_id)
        raise RuntimeError("could not find a free request id")  # 28M ids: not in practice

    def lookup(self, idempotency_key: str, *, wait: float = CLAIM_WAIT) -> str | None:
        """The request made under this key, once it exists; None when there is none.

        A claim whose request does not appear within `wait` seconds belonged to a writer that
        died between claiming and writing: it is released, so this caller may claim it."""
        key = self.idempotency_key(idempotency_key)
        deadline = time.monotonic() + wait
        pause = 0.002
        while (request_id := self.redis.get(key)) is not None:
            if self.redis.exists(self.request_keys(request_id)[0]):
                return request_id
            if time.monotonic() >= deadline:
                self._release_claim(idempotency_key, request_id)
                return None
            time.sleep(pause)  # the winner is between its claim and its write: milliseconds
            pause = min(pause * 2, 0.05)
        return None

    def release_claim(self, idempotency_key: str, request_id: str) -> None:
        """Let the key make a new request (the one it made was withdrawn)."""
        self._release_claim(idempotency_key, request_id)

    def _release_claim(self, idempotency_key: str, request_id: str) -> None:
        compare_and_delete(self.redis, self.idempotency_key(idempotency_key), request_id)

    def _index_new(self, request_id: str, *, requester: str, created: float, expires: float) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(self.index("due"), {request_id: expires})
        pipe.zadd(self.index("open"), {request_id: created})
        pipe.zadd(self.user_index(requester), {request_id: created})
        pipe.execute()

    def transition(
        self,
        request_id: str,
        action: Action | str,
        *,
        actor: str,
        now: float,
        before: Callable[[Any], None] | None = None,
        **arg: Any,
    ) -> Transition:
        """One atomic transition; with `arg["audit"]` (a record's fields) a transition that
        changes the request also writes its record to the request's outbox, in the same
        script, and returns it (see app.approvals.outbox). `before(pipe)` queues what must
        reach Redis first (the outbox's mark), sent in the same round trip."""
        keys = self.request_keys(request_id)
        if "audit" in arg:
            keys.append(self.outbox_key(request_id))
        args = [Action(action).value, actor, now, self.retention, json.dumps(arg)]
        return Transition.of(self._run_after(before, self._transition, keys, args))

    def _run_after(
        self, before: Callable[[Any], None] | None, script: Any, keys: list[str], args: list[Any]
    ) -> Any:
        """`script`'s answer, run after what `before(pipe)` queues, both in one round trip
        (on a Cluster, one to each node concerned, all sent before any answer is read).
        Sent as a plain EVALSHA: redis-py asks the server whether it knows a pipeline's
        scripts (a round trip of its own) on every run. When the server does not know the
        script yet (once per server), it is sent again on its own, which loads it."""
        if before is None:
            return script(keys=keys, args=args)
        pipe = self.redis.pipeline(transaction=False)
        before(pipe)
        pipe.evalsha(script.sha, len(keys), *keys, *args)
        answer = pipe.execute(raise_on_error=False)[-1]
        if isinstance(answer, NoScriptError):
            return script(keys=keys, args=args)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def transition_many(
        self, request_ids: Sequence[str], action: Action | str, *, actor: str, now: float
    ) -> list[Transition]:
        """`transition` for each request, sent in one round trip: each is still its own
        atomic script, so what `transition` promises holds for every one (they are not one
        transaction together, and need not be). One whose send failed (a script the node does
        not know yet) is done again on its own. Redis Cluster refuses scripts in a pipeline:
        there they go one by one."""
        args = [Action(action).value, actor, now, self.retention, "{}"]
        answers = self._each(
            self._transition, [(self.request_keys(request_id), args) for request_id in request_ids]
        )
        return [
            self.transition(request_id, action, actor=actor, now=now)
            if isinstance(answer, Exception)
            else Transition.of(answer)
            for request_id, answer in zip(request_ids, answers, strict=True)
        ]

    def unindex(self, request_id: str, requester: str, *, pipe: Any = None) -> None:
        """Drop a final request from every index (after the fact; readers tolerate lag);
        in `pipe` when given."""
        target = pipe if pipe is not None else self.redis.pipeline(transaction=False)
        for name in ("due", "open", "leases"):
            target.zrem(self.index(name), request_id)
        target.zrem(self.user_index(requester), request_id)
        if pipe is None:
            target.execute()

    def keep_due(self, due: Mapping[str, float], *, pipe: Any = None) -> None:
        """Index these (final) requests as due at these times: their news is still owed."""
        if due:
            (pipe if pipe is not None else self.redis).zadd(self.index("due"), dict(due))

    def claim_untold(
        self, request_ids: Sequence[str], *, now: float, until: float, teller: str
    ) -> list[str]:
        """Those of these expiries whose telling `teller` takes, until `until`: not told
        yet, and not held by another teller whose claim still runs (one script per request,
        sent in one round trip; one by one on Redis Cluster, as in `transition_many`)."""
        args = [now, until, teller]
        claimed = self._each(
            self._claim_tell, [([self.request_keys(request_id)[0]], args) for request_id in request_ids]
        )
        for answer in claimed:
            if isinstance(answer, Exception):
                raise answer
        return [request_id for request_id, won in zip(request_ids, claimed, strict=True) if won]

    def _each(self, script: Any, calls: Sequence[tuple[list[str], list[Any]]]) -> list[Any]:
        """Each call of `script` (its keys, its args): each its own atomic step, all sent in one
        round trip; one by one on Redis Cluster, which refuses scripts in a pipeline. A call
        that failed is its exception in the answers, in its place."""
        if isinstance(self.redis, RedisCluster):
            answers: list[Any] = []
            for keys, args in calls:
                try:
                    answers.append(script(keys=keys, args=args))
                except RedisError as error:
                    answers.append(error)
            return answers
        pipe = self.redis.pipeline(transaction=False)
        for keys, args in calls:
            script(keys=keys, args=args, client=pipe)
        return list(pipe.execute(raise_on_error=False))

    def told(self, request_ids: Sequence[str]) -> None:
        """Their listeners were told: nothing is owed, and the due index forgets them."""
        if not request_ids:
            return
        pipe = self.redis.pipeline(transaction=False)
        for request_id in request_ids:
            pipe.hdel(self.request_keys(request_id)[0], "untold")
        pipe.zrem(self.index("due"), *request_ids)
        pipe.execute()

    def track_lease(self, request_id: str, lease_until: float) -> None:
        self.redis.zadd(self.index("leases"), {request_id: lease_until})

    def drop_lease(self, request_id: str) -> None:
        self.redis.zrem(self.index("leases"), request_id)

    def fence(self, request_id: str, lease: str, *, now: float, margin: float) -> bool:
        """May the holder of `lease` still write, with `margin` seconds of its lease to spare?"""
        return (
            self.transition(
                request_id, Action.FENCE, actor="bot", now=now, lease=lease, margin=margin
            ).status
            is Outcome.OK
        )

    def shown(self, request_id: str, version: int) -> None:
        """Record that the Slack message now shows `version` (never lowering what is
        recorded) and that it needs no repair. (Two calls: the repair index lives in another
        cluster slot, where a pipeline cannot carry the script.)"""
        self._mark_shown(keys=[self.request_keys(request_id)[0]], args=[version])
        self.repaired(request_id)

    def note_rules_in_force(self, request_id: str, *, version: int, digest: str) -> None:
        """Mark a request made under other rules with the version now in force (see
        `lua/note_policy.lua`); one step, so it never marks one made under these rules."""
        self._note_policy(keys=[self.request_keys(request_id)[0]], args=[version, digest])

    def render_lock(self, request_id: str, *, wait: float) -> Lock:
        """One render of a request's message at a time, so updates reach Slack in order."""
        return self.redis.lock(
            f"{self.request_keys(request_id)[0]}:render",
            timeout=30,
            sleep=0.01,
            blocking_timeout=wait,
            thread_local=False,
        )

    def needs_repair(self, request_id: str, now: float) -> None:
        """Remember a message that could not be brought up to date (the worker retries it)."""
        self.redis.zadd(self.index("repair"), {request_id: now})

    def repaired(self, request_id: str) -> None:
        self.redis.zrem(self.index("repair"), request_id)

    def stale_open(self, now: float, *, batch: int = 500) -> OpenScan:
        """Scan every open request's own hash (the indexes are only hints): applies whose lease
        passed, messages behind their request, and messages never posted."""
        scan = OpenScan()
        start = 0
        while ids := self.redis.zrange(self.index("open"), start, start + batch - 1):
            pipe = self.redis.pipeline(transaction=False)
            for request_id in ids:
                pipe.hmget(
                    self.request_keys(request_id)[0],
                    "state",
                    "lease_until",
                    "ts",
                    "version",
                    "shown",
                    "created",
                )
            for request_id, found in zip(ids, pipe.execute(), strict=True):
                scan.add(request_id, *found, now=now)
            start += batch
        return scan

    def waiting_for(
        self,
        viewer: str,
        identities: Sequence[str],
        *,
        ids: Sequence[str] = (),
        may_decide: Callable[[frozenset[str]], bool] | None = None,
    ) -> list[str]:
        """Ids of the open requests `viewer` can act on, newest first: pending or failed, not
        their own (from any of their accounts, `ids`), not giving them access, not already
        approved by them as any identity, and, with `may_decide`, under a rule whose approvers
        include them. Reads every open request's own fields in one pipeline, so the count is
        exact, not a page's worth."""
        request_ids = self.redis.zrevrange(self.index("open"), 0, -1)
        pipe = self.redis.pipeline(transaction=False)
        for request_id in request_ids:
            keys = self.request_keys(request_id)
            pipe.hmget(keys[0], "state", "requester", "beneficiaries", "requester_ids", "approvers")
            pipe.sismember(keys[1], viewer)
            pipe.hmget(keys[3], *ids) if ids else pipe.exists(keys[3])
        found = pipe.execute()
        mine = {i for i in identities if i}
        waiting = []
        for n, request_id in enumerate(request_ids):
            fields, approved, voted = found[3 * n], found[3 * n + 1], found[3 * n + 2]
            state, requester, gaining, theirs, approvers = fields
            if state not in (State.PENDING.value, State.FAILED.value) or requester == viewer:
                continue
            if approved or mine & set(json.loads(gaining or "[]")):
                continue
            if ids and (set(ids) & set(json.loads(theirs or "[]")) or any(voted)):
                continue
            if may_decide and not may_decide(frozenset(json.loads(approvers or "[]"))):
                continue
            waiting.append(request_id)
        return waiting

    def rotate_secrets(self, keyring: Keyring) -> int:
        """Re-encrypt the pending secret values of every open request with the newest key."""
        count = 0
        for request_id in self.redis.zrange(self.index("open"), 0, -1):
            key = self.request_keys(request_id)[0]
            stored = self.redis.hget(key, "secrets")
            if stored:
                fresh = keyring.rotate(stored).decode("ascii")
                count += compare_and_set(self.redis, key, "secrets", stored, fresh)
        return count

    def set_copies(self, request_id: str, copies: list[tuple[str, str]]) -> None:
        """Where the escalated copies of a request's message are (see SlackNotifier)."""
        key = self.request_keys(request_id)[0]
        if copies and self.redis.exists(key):
            self.redis.hset(key, "copies", json.dumps(copies))

    def keep_grant(self, request_id: str, grant: str) -> None:
        """What a time-bound share's write is about to add, kept before the write: an apply
        taken over after the write finds it here instead of guessing from the submission."""
        key = self.request_keys(request_id)[0]
        if self.redis.exists(key):
            self.redis.hset(key, "grant_at_write", grant)

    def kept_grant(self, request_id: str) -> str | None:
        return self.redis.hget(self.request_keys(request_id)[0], "grant_at_write")

    def set_message(self, request_id: str, *, channel: str, ts: str) -> None:
        key = self.request_keys(request_id)[0]
        if self.redis.exists(key):
            self.redis.hset(key, mapping={"channel": channel, "ts": ts})

    def keep_message(self, request_id: str, name: str, *, channel: str, ts: str) -> None:
        """Where a front's message about the request is (a DM it brings up to date once the
        request is decided), by a name of the front's choosing; kept on the request itself, so
        for as long as the request is."""
        key = self.request_keys(request_id)[0]
        if self.redis.exists(key):
            self.redis.hset(key, _KEPT + name, json.dumps([channel, ts]))

    def kept_messages(self, request_id: str) -> dict[str, tuple[str, str]]:
        """The messages `keep_message` kept about the request: name -> (channel, ts)."""
        fields = self.redis.hgetall(self.request_keys(request_id)[0])
        return {
            name.removeprefix(_KEPT): (str(where[0]), str(where[1]))
            for name, value in fields.items()
            if name.startswith(_KEPT) and len(where := json.loads(value)) == 2
        }

    # --- reads -----------------------------------------------------------------------------

    def get(self, request_id: str) -> ChangeRequest | None:
        if not is_request_id(request_id):
            return None
        keys = self.request_keys(request_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(keys[0])
        pipe.smembers(keys[1])
        data, approvals = pipe.execute()
        return ChangeRequest.from_redis(data, approvals) if data else None

    def get_many(self, request_ids: Sequence[str]) -> list[ChangeRequest | None]:
        """`get` for each, in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for request_id in request_ids:
            keys = self.request_keys(request_id)
            pipe.hgetall(keys[0])
            pipe.smembers(keys[1])
        answers = pipe.execute()
        return [
            ChangeRequest.from_redis(data, approvals) if data else None
            for data, approvals in zip(answers[::2], answers[1::2], strict=True)
        ]

    def encrypted_secrets(self, request_id: str) -> str | None:
        return self.redis.hget(self.request_keys(request_id)[0], "secrets")

    def events(self, request_id: str) -> list[dict[str, Any]]:
        return [json.loads(e) for e in self.redis.lrange(self.request_keys(request_id)[2], 0, -1)]

    def due(self, index: str, now: float, *, limit: int = 500) -> list[str]:
        return self.redis.zrangebyscore(self.index(index), "-inf", now, start=0, num=limit)

    def open_requests(self, *, requester: str | None = None, limit: int = 100) -> list[ChangeRequest]:
        """Open (not final) requests, oldest first; prunes index entries that went final."""
        index = self.user_index(requester) if requester else self.index("open")
        found = []
        for request_id in self.redis.zrange(index, 0, limit - 1):
            request = self.get(request_id)
            if request is None or request.state.final:
                self.redis.zrem(index, request_id)
                continue
            found.append(request)
        return found


def new_request_id() -> str:
    return "R-" + "".join(choice(ID_ALPHABET) for _ in range(ID_LENGTH))


def is_request_id(text: str) -> bool:
    return (
        len(text) == ID_LENGTH + 2 and text.startswith("R-") and all(c in ID_ALPHABET for c in text[2:])
    )
