"""The stored change request: one record, written by `to_redis` and read by `from_redis`.

The request's hash (`P:req:{R-…}`, see app.approvals.store) holds these fields; the transition
script reads and writes them by name too, and a test holds it to the fields declared here
(tests/unit/approvals/test_request_record.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from secrets import choice
from typing import Any, ClassVar

from app.approvals.change_diff import DiffLine
from app.approvals.changes import Change
from app.approvals.machine import State

ID_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud without doubt
ID_LENGTH = 5


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
    notify: tuple[str, ...] = ()
    #: MySafe username (casefolded) -> Slack ID, for the people the request named by mention.
    people: Mapping[str, str] = field(default_factory=dict)
    #: Fernet ciphertext of the pending secret values (already in the HGETALL that loads the
    #: request, so applying needs no extra read); never shown.
    encrypted_secrets: str = field(default="", repr=False)
    #: Bumped by every visible change (a front compares it with the version it shows).
    version: int = 0
    lease_until: float = 0.0
    #: When the request last changed state or gained an approval (set by the script).
    updated: float = 0.0
    #: For a create: ids of entries that had its name when it was made (never "ours").
    preexisting: frozenset[int] = frozenset()
    #: The policy rule the request was made under, who may decide on it and where it is
    #: posted (app.approvals.rules); empty for requests made before policies.
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
        """Every field of the request's hash the engine reads or writes: the record's, and the
        script's own (a chat front keeps fields of its own there too, which the engine never
        names: app.slack.sent_messages)."""
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
            encrypted_secrets=data.get("secrets", ""),
            notify=tuple(json.loads(data.get("notify") or "[]")),
            people=json.loads(data.get("people") or "{}"),
            version=int(data.get("version") or 0),
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
            ended=float(data.get("ended") or 0),
            untold=float(data["untold"].split(":")[0]) if data.get("untold") else None,
            tell_tries=int(data.get("tell_tries") or 0),
            step_up=data.get("step_up", ""),
            step_up_max_age=int(data.get("step_up_max_age") or 0),
            confirming=json.loads(data.get("confirming") or "{}"),
            break_glass=json.loads(data.get("break_glass") or "{}"),
        )


def new_request_id() -> str:
    return "R-" + "".join(choice(ID_ALPHABET) for _ in range(ID_LENGTH))


def is_request_id(text: str) -> bool:
    return (
        len(text) == ID_LENGTH + 2 and text.startswith("R-") and all(c in ID_ALPHABET for c in text[2:])
    )
