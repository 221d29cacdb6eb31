"""The modals people fill in: log in, deny with a reason, rotate, create."""

from __future__ import annotations

import json

from app import text
from app.approvals.changes import MAX_SHARES_PER_REQUEST
from app.approvals.secret_fields import SECRET_FIELDS_OF
from app.i18n import N_, _
from app.mysafe.models import Kind
from app.slack.blocks.kit import (
    CREATE_VIEW,
    DENY_VIEW,
    INPUT_LIMIT,
    LOGIN_VIEW,
    ROTATE_VIEW,
    Block,
    _context,
    _section,
)

# --- modals ---------------------------------------------------------------------------------


def _input(
    block_id: str,
    label: str,
    *,
    optional: bool = False,
    multiline: bool = False,
    hint: str = "",
    max_length: int = INPUT_LIMIT,
    initial: str = "",
) -> Block:
    """A form field; Slack itself adds "(optional)" to the label of an optional one."""
    element: Block = {
        "type": "plain_text_input",
        "action_id": "value",
        "multiline": multiline,
        "max_length": max_length,
    }
    if initial:
        element["initial_value"] = initial
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "optional": optional,
        "label": {"type": "plain_text", "text": label},
        "element": element,
    }
    if hint:
        block["hint"] = {"type": "plain_text", "text": hint}
    return block


def _modal(
    callback_id: str, title: str, blocks: list[Block], *, submit: str, metadata: str = ""
) -> Block:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": metadata,
        "title": {"type": "plain_text", "text": title[:24]},
        "submit": {"type": "plain_text", "text": submit},
        "close": {"type": "plain_text", "text": _("Cancel")},
        "blocks": blocks,
    }


#: The login form's fields: (block_id, label, max_length); the secret is never typed back in.
LOGIN_FIELDS = (
    ("client_id", N_("Client ID"), 512),
    ("client_secret", N_("Client Secret"), INPUT_LIMIT),
    ("mysafe_username", N_("Your MySafe username"), 128),
)


def login_modal(
    *, client_id: str = "", mysafe_username: str = "", problems: dict[str, str] | None = None
) -> Block:
    """The login form; given back after MySafe refused a key, with what was typed (never the
    secret) and each problem on a line under its field (`""`: above the fields)."""
    problems = problems or {}
    kept = {"client_id": client_id, "mysafe_username": mysafe_username}
    body = [
        _section(
            _(
                "Create an *access key authorization* in MySafe, then paste its Client ID and "
                "Client Secret here. The bot checks the key with MySafe before storing it "
                "(encrypted)."
            )
        )
    ]
    if "" in problems:
        body.append(_section(f"⚠️ {problems['']}"))
    for block_id, label, limit in LOGIN_FIELDS:
        typed = kept.get(block_id, "")
        body.append(
            _input(block_id, _(label), max_length=limit, initial=typed if len(typed) <= limit else "")
        )
        if block_id in problems:
            body.append(_context(f"⚠️ {problems[block_id]}"))
    return _modal(LOGIN_VIEW, _("Link your MySafe key"), body, submit=_("Link"))


def deny_modal(request_id: str) -> Block:
    return _modal(
        DENY_VIEW,
        _("Denied {id}").format(id=request_id),
        [
            _input(
                "reason",
                _("Why?"),
                optional=True,
                multiline=True,
                max_length=500,
                hint=_("The request is already denied; the requester and the channel read why."),
            ),
        ],
        submit=_("Add reason"),
        metadata=request_id,
    )


def rotate_modal(kind: Kind, identifier: int, name: str) -> Block:
    fields = {
        "password": (_("New password"), 1024),
        "secret_key": (_("New TOTP seed (base32)"), 256),
        "client_secret": (_("New client secret"), INPUT_LIMIT),
    }
    named = f" “{text.inline(name)}”" if name else ""
    blocks = [
        _section(
            _(
                "New secret values for {entry}. They are kept encrypted until an approver "
                "applies them, then deleted."
            ).format(entry=f"{_(kind.label)} {identifier}{named}")
        )
    ]
    for field_name in SECRET_FIELDS_OF[kind]:
        label, limit = fields[field_name]
        blocks.append(
            _input(field_name, label, optional=len(SECRET_FIELDS_OF[kind]) > 1, max_length=limit)
        )
    blocks.append(_input("reason", _("Reason"), optional=True, max_length=500))
    return _modal(
        ROTATE_VIEW,
        _("Rotate {kind}").format(kind=_(kind.label)),
        blocks,
        submit=_("Ask for approval"),
        metadata=json.dumps({"kind": kind.value, "identifier": identifier}),
    )


CREATE_FIELDS: dict[Kind, tuple[tuple[str, str, bool], ...]] = {
    Kind.PASSWORD: (
        ("name", N_("Name"), True),
        ("username", N_("Username"), True),
        ("password", N_("Password"), True),
        ("url", N_("URL"), False),
        ("secret_key", N_("TOTP seed (base32)"), False),
        ("notes", N_("Notes"), False),
        ("tags", N_("Tags (comma-separated)"), False),
    ),
    Kind.SECRET: (
        ("name", N_("Name"), True),
        ("url", N_("URL"), True),
        ("client_id", N_("Client ID"), True),
        ("client_secret", N_("Client secret"), True),
        ("identifier_code", N_("Identifier code"), False),
        ("method", N_("HTTP method (get, post, …)"), False),
        ("notes", N_("Notes"), False),
        ("tags", N_("Tags (comma-separated)"), False),
    ),
}


def create_modal(kind: Kind) -> Block:
    blocks = [
        _input(name, _(label), optional=not required, multiline=name == "notes")
        for name, label, required in CREATE_FIELDS[kind]
    ]
    blocks += [
        _input(
            "users_allowed",
            _("Share with MySafe users (comma-separated)"),
            optional=True,
            hint=_(
                "Add “:edit” for edit rights, e.g. alices:edit, bobm. Up to {most} users and "
                "groups in all."
            ).format(most=MAX_SHARES_PER_REQUEST),
        ),
        _input("groups_allowed", _("Share with MySafe groups (comma-separated)"), optional=True),
        _input("reason", _("Reason"), optional=True, max_length=500),
    ]
    return _modal(
        CREATE_VIEW,
        _("New {kind}").format(kind=_(kind.label)),
        blocks,
        submit=_("Ask for approval"),
        metadata=kind.value,
    )
