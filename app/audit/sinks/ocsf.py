"""Audit records as OCSF events (schema 1.8.0, pinned: `VERSION`), for the JSON sinks.

Each record maps to one class by what it says happened; its `seq` is the event's stable id
(`metadata.uid`, and `metadata.sequence`) so a SIEM drops a repeat, and the request id is
`metadata.correlation_uid`. What no OCSF attribute holds goes to `unmapped` whole: nothing the
record says is left out. The classes (checked against the schema's events/ files):

- 3005 User Access Management: an applied or failed share (1 Assign Privileges) or unshare
  (2 Revoke Privileges), and the end of a time-bound share (`revoke.done`, 2);
- 3004 Entity Management: an applied or failed create (1), update or rotate (3), enable (8),
  disable (9) of an entry, and a policy change (`policy.*`, 3 Update of the policy);
- 3002 Authentication: a MySafe key linked (`/mysafe login`, `users link`: 1 Logon) or
  unlinked (`logout`, `users unlink`: 2 Logoff);
- 6003 API Activity: everything else the bot is asked or decides (requests filed from Slack, a
  ticket or MCP: 1 Create; approvals, denials, cancels: 3 Update; refusals, reminders,
  callbacks and the rest: 99 Other), the event's name as `api.operation`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from app.audit.log import Entry

VERSION = "1.8.0"
PRODUCT = {"name": "MySafe ChatOps bot", "vendor_name": "MySafe ChatOps bot", "uid": "mysafe-bot"}

USER_ACCESS, ENTITY, AUTHENTICATION, API_ACTIVITY = 3005, 3004, 3002, 6003
CATEGORY = {USER_ACCESS: 3, ENTITY: 3, AUTHENTICATION: 3, API_ACTIVITY: 6}
CLASS_NAME = {
    USER_ACCESS: "User Access Management",
    ENTITY: "Entity Management",
    AUTHENTICATION: "Authentication",
    API_ACTIVITY: "API Activity",
}
CATEGORY_NAME = {3: "Identity & Access Management", 6: "Application Activity"}
ACTIVITY_NAME = {
    (USER_ACCESS, 1): "Assign Privileges",
    (USER_ACCESS, 2): "Revoke Privileges",
    (ENTITY, 1): "Create",
    (ENTITY, 3): "Update",
    (ENTITY, 8): "Enable",
    (ENTITY, 9): "Disable",
    (AUTHENTICATION, 1): "Logon",
    (AUTHENTICATION, 2): "Logoff",
    (API_ACTIVITY, 1): "Create",
    (API_ACTIVITY, 3): "Update",
    (API_ACTIVITY, 99): "Other",
}
#: A verb's outcome: its class and activity.
VERBS = {
    "share": (USER_ACCESS, 1),
    "unshare": (USER_ACCESS, 2),
    "create": (ENTITY, 1),
    "update": (ENTITY, 3),
    "rotate": (ENTITY, 3),
    "enable": (ENTITY, 8),
    "disable": (ENTITY, 9),
}
#: Records of a request's decisions, not of its outcome (API Activity 3 Update).
DECISIONS = ("request.approve", "request.deny", "request.cancel", "request.auto_approved")
#: Outcomes that are failures (status_id 2) and refusals.
FAILED = ("request.failed", "revoke.failed", "revoke.given_up", "callback.gave_up")
REFUSED = ("request.refused", "click.refused", "callback.refused")
#: Record fields the mapping places; every other one goes to `unmapped`.
PLACED = frozenset({"seq", "ts", "event", "request", "actor"})


def classify(record: Mapping[str, Any]) -> tuple[int, int]:
    """The OCSF class and activity of one audit record."""
    event, verb = str(record.get("event", "")), str(record.get("verb", ""))
    if event in ("request.applied", "request.failed") and verb in VERBS:
        return VERBS[verb]
    if event == "revoke.done":
        return (USER_ACCESS, 2)
    if event.startswith("policy."):
        return (ENTITY, 3)
    if event in ("account.linked", "login") or event.endswith(".login"):
        return (AUTHENTICATION, 1)
    if event in ("account.unlinked", "logout") or event.endswith(".logout"):
        return (AUTHENTICATION, 2)
    if event == "request.created":
        return (API_ACTIVITY, 1)
    if event in DECISIONS:
        return (API_ACTIVITY, 3)
    return (API_ACTIVITY, 99)


def event(entry: Entry) -> dict[str, Any]:
    """The OCSF event of one sequenced record."""
    record = json.loads(entry.body)
    class_uid, activity = classify(record)
    name = str(record.get("event", ""))
    event_: dict[str, Any] = {
        "activity_id": activity,
        "activity_name": ACTIVITY_NAME[(class_uid, activity)],
        "category_uid": CATEGORY[class_uid],
        "category_name": CATEGORY_NAME[CATEGORY[class_uid]],
        "class_uid": class_uid,
        "class_name": CLASS_NAME[class_uid],
        "type_uid": class_uid * 100 + activity,
        "severity_id": 3 if name in FAILED or name in REFUSED else 1,
        "status_id": 2 if name in FAILED or name in REFUSED else 1,
        "time": _millis(str(record.get("ts", ""))),
        "message": name,
        "metadata": _metadata(record, entry.seq),
        "actor": {"user": {"uid": str(record.get("actor") or "bot")}},
        **_specific(class_uid, record),
    }
    rest = {k: v for k, v in record.items() if k not in PLACED}
    if rest:
        event_["unmapped"] = rest
    return event_


def _metadata(record: Mapping[str, Any], seq: int) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "version": VERSION,
        "product": PRODUCT,
        "uid": str(seq),
        "sequence": seq,
        "log_name": "audit",
        "event_code": str(record.get("event", "")),
    }
    if record.get("request"):
        meta["correlation_uid"] = str(record["request"])
    return meta


def _entry(record: Mapping[str, Any]) -> dict[str, Any]:
    entry, kind = str(record.get("entry") or ""), str(record.get("kind") or "")
    return {
        "uid": entry or "unknown",
        "type": kind or "entry",
        "name": f"{kind} {entry}".strip() or "entry",
    }


def _specific(class_uid: int, record: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes each class requires (and the recommended ones the record has)."""
    if class_uid == USER_ACCESS:
        users = [u for u in str(record.get("users") or record.get("grantees") or "").split(",") if u]
        groups = [g for g in str(record.get("groups") or "").split(",") if g]
        user: dict[str, Any] = {"name": users[0]} if users else {"uid": "unknown"}
        if groups:
            user["groups"] = [{"name": g} for g in groups]
        rights = ["read", "edit"] if record.get("edit") == "yes" else ["read"]
        return {"user": user, "privileges": rights, "resource": _entry(record)}
    if class_uid == ENTITY:
        if str(record.get("event", "")).startswith("policy."):
            return {"entity": {"name": "approval policy", "type": "policy"}}
        return {"entity": _entry(record)}
    if class_uid == AUTHENTICATION:
        name = str(record.get("mysafe_username") or "")
        user = {"uid": str(record.get("slack_id") or record.get("actor") or "unknown")}
        if name:
            user["name"] = name
        return {"user": user, "service": {"name": "MySafe"}}
    return {
        "api": {"operation": str(record.get("event", "")), "service": {"name": "mysafe-bot"}},
        "src_endpoint": {"name": str(record.get("channel") or "mysafe-bot")},
    }


def _millis(ts: str) -> int:
    return int(datetime.fromisoformat(ts).timestamp() * 1000) if ts else 0


def dumps(entry: Entry) -> bytes:
    """One event as compact JSON (keys sorted), UTF-8."""
    return json.dumps(event(entry), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
