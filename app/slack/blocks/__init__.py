"""Block Kit builders: every message, modal and Home tab the bot shows, built in one place.

Everything people or MySafe wrote (names, notes, reasons, errors) goes through `app.text`, so
it shows as typed and can neither format, ping, link nor start a line of its own. An approval
message shows every changed field and every user or group a request adds, raises or removes;
long values are shortened visibly, with the whole change one click away (*View full change*).
`changes.check` refuses at submission what such a message could not name in full. Secret values
never reach these functions.

One module per kind of payload (`kit`, `asks`, `cards`, `notices`, `listings`, `modals`,
`home`); callers use the package (`blocks.approval_message`), which names them all below.
"""

from __future__ import annotations

from app.slack.blocks.asks import (
    HEADLINE_NAMES,
    change_lines,
    change_summary,
    entry_label,
    field_line,
    headline,
    is_shortened,
    principal_line,
    wants,
)
from app.slack.blocks.cards import (
    FIELDS_ABOVE,
    FIELDS_BELOW,
    approval_message,
    approval_progress,
    change_modal,
    entry_field,
    escalation_message,
    nudge_button,
    period_field,
    reason_field,
    reminder_text,
    requester_field,
    rules_field,
    status_text,
    ticket_field,
)
from app.slack.blocks.home import (
    HOME_DISABLED,
    HOME_OWN,
    HOME_PAGE_SIZE,
    disabled_blocks,
    home_view,
    passkey_blocks,
)
from app.slack.blocks.kit import (
    APPROVE,
    CANCEL,
    CREATE_VIEW,
    DENY,
    DENY_VIEW,
    HOME_PAGE,
    INPUT_LIMIT,
    LOGIN_VIEW,
    MESSAGE_BLOCKS,
    MODAL_VALUE,
    NUDGE,
    REMOVE_PASSKEY,
    RETRY,
    ROTATE_VIEW,
    SECTION_LIMIT,
    SHOW_ACCESS,
    SHOWN_VALUE,
    VIEW_BLOCKS,
    VIEW_CHANGE,
    Block,
    date,
)
from app.slack.blocks.listings import (
    LIST_PAGE,
    SHOWN_ENTRY_VALUE,
    SHOWN_HOLDERS,
    SHOWN_SHARES,
    access_message,
    access_modal,
    disabled_text,
    entries_text,
    entry_text,
    request_line,
)
from app.slack.blocks.modals import (
    CREATE_FIELDS,
    LOGIN_FIELDS,
    create_modal,
    deny_modal,
    login_modal,
    rotate_modal,
)
from app.slack.blocks.notices import (
    approver_notice,
    approvers_mention,
    requester_notice,
    share_notice,
    step_up_notice,
    unchanged_notice,
    waiting_notice,
)
