"""The MCP server's words for its tools, marked for translation.

A tool's description is its docstring (one line), which the model reads to choose a tool and
may relay to its person; the server says it in the workspace's language (MYSAFE_BOT_LOCALE),
as its answers. Docstrings cannot be extracted, so each is marked here, word for word
(tests/unit/mcp/test_mcp_language.py checks they are the docstrings); a tool not marked
here is described in English. Argument names, enum values and field names inside the
sentences are the tools' own and stay as they are in every language.
"""

from __future__ import annotations

from app.i18n import N_, _

INSTRUCTIONS = N_(
    "Look up Segura MySafe entries the user can see and propose shares, updates, or disabling "
    "and enabling an entry. Proposals wait for a human approver in Slack unless the policy "
    "needs none; secret values are never shown and cannot be set here."
)
#: Added to every `propose_*` tool's description.
WAITS = N_(
    "It files a change request under the approval policy: it waits for a human approver's "
    "click in Slack unless the policy needs none, and is applied with the user's own MySafe "
    "key. The answer's state and note say which happened."
)
#: The tools' docstrings, each as one line.
TOOLS = (
    N_(
        "List MySafe passwords or API secrets the user can see, optionally filtered by text "
        "(matched against name, URL, username and tags), each enabled or disabled. Never "
        "returns secret values."
    ),
    N_(
        "Show one entry: its state (enabled or disabled), plain fields and who it is shared "
        "with. Secret values (password, TOTP seed, client secret) are reported only as set or "
        "not set; a disabled entry shows nothing but its state."
    ),
    N_(
        "Everyone with access to one entry now (users and groups, view or edit), as the "
        "user's own MySafe key reads it, and how each came: the requests the bot applied that "
        "give that right (requester, approvers, when, ticket, time-bound until when), or "
        "`given_outside_the_bot` when no running request explains it."
    ),
    N_(
        "Propose sharing an entry with MySafe users and/or groups (view-only unless "
        "can_edit). With a duration (30m, 8h, 2d, 1d12h) the access is taken back by itself "
        "at the end. `emergency` (break-glass) is always refused here: an on-call person "
        "opens it in Slack."
    ),
    N_("Propose removing MySafe users and/or groups from an entry's sharing."),
    N_(
        "Propose changing an entry's non-secret fields (passwords: name, url, username, "
        "notes, tags; API secrets: name, url, client_id, identifier_code, method, tags, "
        "notes). Secret fields are refused."
    ),
    N_(
        "Propose disabling an entry in MySafe (for a leaked credential): nobody can read or "
        "use it until it is enabled again. The policy may apply it without waiting for an "
        "approver; the answer's state says whether it was."
    ),
    N_("Propose enabling a disabled entry in MySafe again."),
    N_("The state of one of the user's change requests (pending, applied, denied, …)."),
    N_("The user's open change requests."),
    N_("Cancel one of the user's own pending requests."),
)


def one_line(docstring: str | None) -> str:
    return " ".join((docstring or "").split())


def describe(name: str, docstring: str | None) -> str:
    """A tool's description in the language spoken now."""
    description = _(one_line(docstring))
    return f"{description} {_(WAITS)}" if name.startswith("propose_") else description
