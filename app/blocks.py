"""Block Kit builders: every message, modal and Home tab the bot shows, built in one place.

Text that people typed (reasons, names, notes) is escaped before it goes into mrkdwn, so a
reason cannot ping `<!channel>` or fake a link. Secret values never reach these functions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from app.approvals import ChangeRequest, State
from app.changes import SECRET_FIELDS_OF
from app.models import Entry, Kind, ListItem

Block = dict[str, Any]

APPROVE, DENY, RETRY, CANCEL = "approve", "deny", "retry", "cancel"
LOGIN_VIEW, DENY_VIEW, ROTATE_VIEW, CREATE_VIEW = "login", "deny_reason", "rotate", "create"

_OUTCOME = {
    State.PENDING: "⏳ Waiting for approval",
    State.APPROVED: "✅ Approved",
    State.APPLYING: "⚙️ Applying in MySafe…",
    State.APPLIED: "✅ Applied",
    State.FAILED: "⚠️ Failed",
    State.DENIED: "⛔ Denied",
    State.EXPIRED: "⌛ Expired",
    State.CANCELLED: "🚫 Cancelled by the requester",
}


def esc(text: object) -> str:
    """Escape for Slack mrkdwn: the three characters Slack itself escapes."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:3000]}]}


def _button(text: str, action_id: str, value: str, style: str | None = None) -> Block:
    button: Block = {"type": "button", "text": {"type": "plain_text", "text": text},
                     "action_id": action_id, "value": value}
    if style:
        button["style"] = style
    return button


def _date(ts: float) -> str:
    return f"<!date^{int(ts)}^{{date_short_pretty}} at {{time}}|{int(ts)}>"


# --- the approval message -----------------------------------------------------------------------

def entry_label(request: ChangeRequest) -> str:
    change = request.change
    if change.identifier:
        name = f" “{esc(request.entry_name)}”" if request.entry_name else ""
        return f"{change.kind.label} {change.identifier}{name}"
    return f"a new {change.kind.label} “{esc(request.entry_name)}”"


def headline(request: ChangeRequest) -> str:
    who = f"<@{request.requester}>"
    if request.requester_name:
        who += f" (MySafe: {esc(request.requester_name)})"
    via = {"ticket": " via a ticket", "mcp": " via an AI assistant (MCP)"}.get(request.source, "")
    return f"{who} asks{via} to *{request.change.verb.value}* {entry_label(request)}"


def diff_text(request: ChangeRequest) -> str:
    lines = []
    for line in request.diff:
        before = esc(line.before) if line.before else "_(empty)_"
        lines.append(f"• *{esc(line.field)}*: {before} → {esc(line.after) or '_(empty)_'}")
    return "\n".join(lines) or "_no visible change_"


def status_text(request: ChangeRequest) -> str:
    text = f"*{_OUTCOME[request.state]}*"
    if request.state is State.PENDING:
        voters = ", ".join(f"<@{a}>" for a in sorted(request.approvals))
        text += f" — approvals {len(request.approvals)}/{request.required}"
        text += f" ({voters})" if voters else ""
        text += f" · expires {_date(request.expires)}"
    elif request.state is State.APPLIED:
        text += f" — MySafe: “{esc(request.result.get('message', ''))}”"
        shared_error = request.result.get("shared_error") or []
        if shared_error:
            text += "\n⚠️ Some shares failed: " + esc("; ".join(shared_error))
    elif request.state is State.FAILED:
        text += f" — {esc(request.error)}"
    elif request.state is State.DENIED:
        text += f" by <@{request.decided_by}>"
        if request.deny_reason:
            text += f": “{esc(request.deny_reason)}”"
    return text


def approval_message(request: ChangeRequest) -> tuple[str, list[Block]]:
    """The channel message for a request, in its current state; buttons only while open."""
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"Change request {request.id}"}},
        _section(headline(request)),
        _section(diff_text(request)),
    ]
    details = []
    if request.reason:
        details.append(f"Reason: “{esc(request.reason)}”")
    ticket = request.ticket or {}
    if ticket.get("key"):
        key = esc(ticket["key"])
        details.append(f"Ticket: <{ticket['url']}|{key}>" if ticket.get("url") else f"Ticket: {key}")
    if details:
        blocks.append(_context(" · ".join(details)))
    blocks.append(_section(status_text(request)))
    actions = _actions(request)
    if actions:
        blocks.append({"type": "actions", "block_id": "decision", "elements": actions})
    fallback = f"{request.id}: {request.change.verb.value} {request.change.kind.label} " \
               f"{request.change.identifier or ''} — {request.state.value}"
    return fallback, blocks


def _actions(request: ChangeRequest) -> list[Block]:
    if request.state is State.PENDING:
        return [_button("Approve", APPROVE, request.id, "primary"),
                _button("Deny", DENY, request.id, "danger")]
    if request.state is State.FAILED:
        return [_button("Retry", RETRY, request.id, "primary"),
                _button("Deny", DENY, request.id, "danger")]
    return []


def requester_notice(request: ChangeRequest) -> str:
    """The DM to the requester when their request ends (or fails)."""
    return f"Your request {request.id} to {request.change.verb.value} " \
           f"{entry_label(request)}: {status_text(request)}"


def waiting_notice(request: ChangeRequest, channel: str) -> str:
    """What the requester is told once their request is stored (any front: command or modal)."""
    return (f"Request *{request.id}* is waiting for approval in <#{channel}>: "
            f"{request.change.verb.value} {entry_label(request)}. "
            f"Cancel it with `/mysafe cancel {request.id}`.")


def unchanged_notice(request: ChangeRequest) -> str:
    """The answer to a click that found the request already past it."""
    return f"{request.id} is {request.state.value}; your click changed nothing."


def share_notice(request: ChangeRequest) -> str:
    edit = any(u.can_edit for u in request.change.add_users)
    rights = "view and edit" if edit else "view"
    return f"<@{request.requester}> shared MySafe {entry_label(request)} with you ({rights}). " \
           "Open MySafe to use it."


# --- lists and entries ----------------------------------------------------------------------

def request_line(request: ChangeRequest) -> str:
    return f"*{request.id}* — {request.change.verb.value} {entry_label(request)} · " \
           f"{request.state.value} · approvals {len(request.approvals)}/{request.required}"


def entries_text(kind: Kind, items: Sequence[ListItem], text: str = "") -> str:
    if not items:
        suffix = f" matching “{esc(text)}”" if text else ""
        return f"You can see no {kind.label}s{suffix}."
    lines = [f"• `{kind.value} {i.identifier}` {esc(i.name)}" + (f" — {esc(i.url)}" if i.url else "")
             + ("" if i.can_write else " _(view only)_") for i in items[:50]]
    more = f"\n…and {len(items) - 50} more: narrow it with text" if len(items) > 50 else ""
    return f"*{kind.label.capitalize()}s you can see*\n" + "\n".join(lines) + more


def entry_text(entry: Entry) -> str:
    fields = [f"*{entry.kind.label.capitalize()} {entry.identifier}: {esc(entry.name)}*"]
    for name, value in entry.plain_fields().items():
        if value and name != "name":
            fields.append(f"{name}: {esc(value)}")
    secrets = {"password": entry.has_password, "secret_key": entry.has_totp,
               "client_secret": entry.has_client_secret}
    for name in SECRET_FIELDS_OF[entry.kind]:
        fields.append(f"{name}: {'••••••••' if secrets[name] else '(not set)'}")
    users = ", ".join(f"{esc(u.username)} ({'edit' if u.can_edit else 'view'})"
                      for u in entry.users_allowed) or "nobody"
    groups = ", ".join(f"{esc(g.name)} ({'edit' if g.can_edit else 'view'})"
                       for g in entry.groups_allowed) or "none"
    fields += [f"shared with: {users}", f"groups: {groups}"]
    return "\n".join(fields)


# --- modals ---------------------------------------------------------------------------------

def _input(block_id: str, label: str, *, optional: bool = False, multiline: bool = False,
           hint: str = "", max_length: int = 3000, initial: str = "") -> Block:
    element: Block = {"type": "plain_text_input", "action_id": "value", "multiline": multiline,
                      "max_length": max_length}
    if initial:
        element["initial_value"] = initial
    block: Block = {"type": "input", "block_id": block_id, "optional": optional,
                    "label": {"type": "plain_text", "text": label}, "element": element}
    if hint:
        block["hint"] = {"type": "plain_text", "text": hint}
    return block


def _modal(callback_id: str, title: str, blocks: list[Block], *, submit: str,
           metadata: str = "") -> Block:
    return {"type": "modal", "callback_id": callback_id, "private_metadata": metadata,
            "title": {"type": "plain_text", "text": title[:24]},
            "submit": {"type": "plain_text", "text": submit},
            "close": {"type": "plain_text", "text": "Cancel"}, "blocks": blocks}


def login_modal() -> Block:
    return _modal(LOGIN_VIEW, "Link your MySafe key", [
        _section("Create an *access key authorization* in MySafe, then paste its Client ID and "
                 "Client Secret here. The bot checks the key with MySafe before storing it "
                 "(encrypted)."),
        _input("client_id", "Client ID", max_length=512),
        _input("client_secret", "Client Secret", max_length=4096),
        _input("mysafe_username", "Your MySafe username", max_length=128),
    ], submit="Link")


def deny_modal(request_id: str) -> Block:
    return _modal(DENY_VIEW, f"Denied {request_id}", [
        _input("reason", "Why? (optional: the request is already denied)", optional=True,
               multiline=True, max_length=500),
    ], submit="Add reason", metadata=request_id)


def rotate_modal(kind: Kind, identifier: int, name: str) -> Block:
    fields = {"password": ("New password", 1024), "secret_key": ("New TOTP seed (base32)", 256),
              "client_secret": ("New client secret", 4096)}
    named = f" “{esc(name)}”" if name else ""
    blocks = [_section(f"New secret values for {kind.label} {identifier}{named}. They "
                       "are kept encrypted until an approver applies them, then deleted.")]
    for field_name in SECRET_FIELDS_OF[kind]:
        label, limit = fields[field_name]
        blocks.append(_input(field_name, label, optional=len(SECRET_FIELDS_OF[kind]) > 1,
                             max_length=limit))
    blocks.append(_input("reason", "Reason (optional)", optional=True, max_length=500))
    return _modal(ROTATE_VIEW, f"Rotate {kind.label}", blocks, submit="Ask for approval",
                  metadata=json.dumps({"kind": kind.value, "identifier": identifier}))


CREATE_FIELDS: dict[Kind, tuple[tuple[str, str, bool], ...]] = {
    Kind.PASSWORD: (("name", "Name", True), ("username", "Username", True),
                    ("password", "Password", True), ("url", "URL", False),
                    ("secret_key", "TOTP seed (base32)", False), ("notes", "Notes", False),
                    ("tags", "Tags (comma-separated)", False)),
    Kind.SECRET: (("name", "Name", True), ("url", "URL", True), ("client_id", "Client ID", True),
                  ("client_secret", "Client secret", True),
                  ("identifier_code", "Identifier code", False),
                  ("method", "HTTP method (get, post, …)", False), ("notes", "Notes", False),
                  ("tags", "Tags (comma-separated)", False)),
}


def create_modal(kind: Kind) -> Block:
    blocks = [_input(name, label, optional=not required, multiline=name == "notes")
              for name, label, required in CREATE_FIELDS[kind]]
    blocks += [
        _input("users_allowed", "Share with MySafe users (comma-separated)", optional=True,
               hint="Add “:edit” for edit rights, e.g. alices:edit, bobm"),
        _input("groups_allowed", "Share with MySafe groups (comma-separated)", optional=True),
        _input("reason", "Reason (optional)", optional=True, max_length=500),
    ]
    return _modal(CREATE_VIEW, f"New {kind.label}", blocks, submit="Ask for approval",
                  metadata=kind.value)


# --- App Home -------------------------------------------------------------------------------

def home_view(own: Iterable[ChangeRequest], queue: Iterable[ChangeRequest] | None) -> Block:
    blocks: list[Block] = [{"type": "header", "text": {"type": "plain_text",
                                                       "text": "Your open requests"}}]
    own = list(own)
    for request in own:
        block = _section(request_line(request))
        if request.state in (State.PENDING, State.FAILED):
            block["accessory"] = _button("Cancel", CANCEL, request.id)
        blocks.append(block)
    if not own:
        blocks.append(_context("Nothing open. Try `/mysafe help`."))
    if queue is not None:
        blocks.append({"type": "header", "text": {"type": "plain_text",
                                                  "text": "Waiting for your approval"}})
        queue = list(queue)
        for request in queue[:30]:
            blocks += [_section(headline(request) + "\n" + diff_text(request)),
                       _section(status_text(request))]
            actions = _actions(request)
            if actions:
                blocks.append({"type": "actions", "block_id": f"decision-{request.id}",
                               "elements": actions})
        if not queue:
            blocks.append(_context("The queue is empty."))
    return {"type": "home", "blocks": blocks[:100]}
