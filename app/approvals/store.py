"""Change requests in Redis: every state change is one Lua script on one hash slot.

The record is `ChangeRequest` (app.approvals.change_request); the states, actions and answers
of its script are app.approvals.machine's. This module knows keys, indexes and scripts.

Redis layout (P = `MYSAFE_BOT_KEY_PREFIX`; `{R-…}` is the request's hash tag, so all keys of one
request live in one cluster slot and a transition never crosses slots):

    P:req:{R-7K2QF}            hash   the request: intent, diff, requester, state, times, lease,
                                      outcome; `secrets` (Fernet) while not final; `untold`
                                      while the listeners have not been told that the sweep
                                      expired it (see `claim_untold`); and the fields a chat
                                      front keeps there about its own messages (as plugin data
                                      beside the request: app.slack.sent_messages), which this
                                      module never reads
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
from typing import Any

from redis.cluster import RedisCluster
from redis.exceptions import RedisError

from app.approvals.approver_lists import ApproverLists
from app.approvals.change_request import ChangeRequest, is_request_id, new_request_id
from app.approvals.machine import Action, Outcome, State, Transition
from app.approvals.open_scan import OpenScan
from app.approvals.scripts import lua
from app.foundations.crypto import Keyring
from app.foundations.storage import (
    RedisClient,
    compare_and_delete,
    compare_and_set,
    script_after,
)

RETENTION = 30 * 86400
#: Seconds a duplicate waits for the first delivery's request to be written.
CLAIM_WAIT = 5.0


def request_key(prefix: str, request_id: str) -> str:
    """The request's hash; its other keys share its hash tag, so one cluster slot."""
    return f"{prefix}:req:{{{request_id}}}"


class ApprovalStore:
    """Redis access for change requests; knows keys and scripts, not MySafe or Slack."""

    def __init__(self, redis: RedisClient, *, prefix: str, retention: int = RETENTION) -> None:
        self.redis = redis
        self.prefix = prefix
        self.retention = retention
        self.approver_lists = ApproverLists(redis, prefix=prefix)
        self._transition = redis.register_script(lua("transition"))
        self._create = redis.register_script(lua("create"))
        self._claim_tell = redis.register_script(lua("claim_tell"))
        self._note_policy = redis.register_script(lua("note_policy"))
        self._open_after = redis.register_script(lua("open_after"))

    # --- keys ------------------------------------------------------------------------------

    def request_keys(self, request_id: str) -> list[str]:
        base = request_key(self.prefix, request_id)
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
        request that is not there yet. The claim is the first look, sent with the indexes:
        a key nobody holds costs no round trip of its own."""
        ttl = int(expires - created) + self.retention
        for _ in range(10):
            request_id = new_request_id()
            if not self._index_new(
                request_id,
                requester=requester,
                created=created,
                expires=expires,
                claim=idempotency_key,
                ttl=ttl,
            ):
                if existing := self.lookup(idempotency_key or ""):
                    return existing, False
                continue  # the holder died before writing (its claim is freed): claim again
            if "approvers" in fields:  # a long list kept once, apart (app.approvals.approver_lists)
                kept = self.approver_lists.stored(fields["approvers"], lifetime=ttl + self.retention)
                fields = {**fields, "approvers": kept}
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

    def as_created(self, fields: Mapping[str, str], request_id: str) -> ChangeRequest:
        """The request `create` just stored from `fields`, as `get` would read it, without the
        read: nothing else writes a request before its message is shown."""
        record = self._record({**{k: str(v) for k, v in fields.items()}, "id": request_id}, set())
        assert record is not None
        return record

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

    def _index_new(
        self,
        request_id: str,
        *,
        requester: str,
        created: float,
        expires: float,
        claim: str | None,
        ttl: int,
    ) -> bool:
        """A new request's index entries, and the claim of its idempotency key, in one round
        trip. False when the key is someone else's: the entries just written point at a
        request that will not exist, and their readers prune them (see the module doc)."""
        pipe = self.redis.pipeline(transaction=False)
        if claim:
            pipe.set(self.idempotency_key(claim), request_id, nx=True, ex=ttl)
        pipe.zadd(self.index("due"), {request_id: expires})
        pipe.zadd(self.index("open"), {request_id: created})
        pipe.zadd(self.user_index(requester), {request_id: created})
        answers = pipe.execute()
        return bool(answers[0]) if claim else True

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
        """`script`'s answer, after what `before(pipe)` queues, in one round trip
        (`storage.script_after`)."""
        if before is None:
            return script(keys=keys, args=args)
        return script_after(self.redis, before, script, keys, args)

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

    def note_rules_in_force(self, request_id: str, *, version: int, digest: str) -> None:
        """Mark a request made under other rules with the version now in force (see
        `lua/note_policy.lua`); one step, so it never marks one made under these rules."""
        self._note_policy(keys=[self.request_keys(request_id)[0]], args=[version, digest])

    def stale_open(self, now: float, *, batch: int = 500) -> OpenScan:
        """Scan every open request's own hash (the indexes are only hints): applies whose lease
        passed, and each open request's version, for the fronts to judge their messages by."""
        scan = OpenScan()
        after = None
        while page := self.open_page(after, batch):
            self.read_open([request_id for request_id, _ in page], now, into=scan)
            after = page[-1][1], page[-1][0]
        return scan

    def open_page(self, after: tuple[float, str] | None, limit: int) -> list[tuple[str, float]]:
        """Up to `limit` open requests (id, creation time) in the index's order (by creation
        time, then id) that come after the position `after`, a (time, id) pair.

        A position, not a rank: a request that closes meanwhile shifts the ranks of those
        after it, and a cursor kept by rank would skip as many of them. Read from the rank of
        the request at the position while it is open (`lua/open_after.lua`), else by time."""
        index = self.index("open")
        if after is None:
            return self.redis.zrange(index, 0, limit - 1, withscores=True)
        created, last = after
        flat = self._open_after(keys=[index], args=[last, limit])
        if flat is not None:
            return [(i, float(t)) for i, t in zip(flat[::2], flat[1::2], strict=True)]
        later = self.redis.zrangebyscore(
            index, f"({created!r}", "+inf", start=0, num=limit, withscores=True
        )
        return (self._same_instant_after(created, last, limit) + later)[:limit]

    def _same_instant_after(self, created: float, last: str, limit: int) -> list[tuple[str, float]]:
        """The open requests made in the same instant as `last` (closed) and after it in the
        index's order (by id): a page at a time, for a batch made at once can share a time."""
        index, skip = self.index("open"), 0
        found: list[tuple[str, float]] = []
        while len(found) < limit:
            page = self.redis.zrangebyscore(
                index, created, created, start=skip, num=limit, withscores=True
            )
            found += [(i, t) for i, t in page if i > last]
            if len(page) < limit:
                break
            skip += limit
        return found[:limit]

    def read_open(
        self, request_ids: Sequence[str], now: float, *, into: OpenScan | None = None
    ) -> OpenScan:
        """Read these open requests' own hashes in one round trip, into the scan `into` or a
        new one (see `stale_open`)."""
        scan = OpenScan() if into is None else into
        pipe = self.redis.pipeline(transaction=False)
        for request_id in request_ids:
            pipe.hmget(self.request_keys(request_id)[0], "state", "lease_until", "version", "created")
        for request_id, found in zip(request_ids, pipe.execute(), strict=True):
            scan.add(request_id, *found, now=now)
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
            if may_decide and not may_decide(self._approvers(approvers)):
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

    def keep_grant(self, request_id: str, grant: str) -> None:
        """What a time-bound share's write is about to add, kept before the write: an apply
        taken over after the write finds it here instead of guessing from the submission."""
        key = self.request_keys(request_id)[0]
        if self.redis.exists(key):
            self.redis.hset(key, "grant_at_write", grant)

    def kept_grant(self, request_id: str) -> str | None:
        return self.redis.hget(self.request_keys(request_id)[0], "grant_at_write")

    # --- reads -----------------------------------------------------------------------------

    def get(self, request_id: str) -> ChangeRequest | None:
        return self.get_with_fields(request_id)[0]

    def get_with_fields(self, request_id: str) -> tuple[ChangeRequest | None, dict[str, str]]:
        """The request and its hash's fields as stored, in one round trip ({} when there is no
        such request): a chat front reads the bookkeeping it keeps on the request (see the
        module doc) from these fields, without another read of the same hash."""
        if not is_request_id(request_id):
            return None, {}
        keys = self.request_keys(request_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(keys[0])
        pipe.smembers(keys[1])
        data, approvals = pipe.execute()
        return self._record(data, approvals), data

    def get_many(self, request_ids: Sequence[str]) -> list[ChangeRequest | None]:
        """`get` for each, in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for request_id in request_ids:
            keys = self.request_keys(request_id)
            pipe.hgetall(keys[0])
            pipe.smembers(keys[1])
        answers = pipe.execute()
        return [
            self._record(data, approvals)
            for data, approvals in zip(answers[::2], answers[1::2], strict=True)
        ]

    def _approvers(self, stored: str | None) -> frozenset[str]:
        return frozenset(json.loads(self.approver_lists.read(stored)))

    def _record(self, data: dict[str, str], approvals: set[str]) -> ChangeRequest | None:
        """The request as stored, its approver list read where it is kept."""
        if not data:
            return None
        if "approvers" in data:
            data = {**data, "approvers": self.approver_lists.read(data["approvers"])}
        return ChangeRequest.from_redis(data, approvals)

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
