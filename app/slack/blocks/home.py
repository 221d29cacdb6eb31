"""The App Home tab: the requests waiting for this person, their own, their passkeys and the
entries disabled through the bot, paged to fit Slack's 100 blocks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from app import text
from app.accounts.passkeys import Passkey
from app.approvals.change_request import ChangeRequest
from app.approvals.disabled import DisabledEntry
from app.approvals.machine import State
from app.i18n import _
from app.slack.blocks.asks import change_lines, headline
from app.slack.blocks.cards import _actions, status_text
from app.slack.blocks.kit import (
    CANCEL,
    HOME_PAGE,
    REMOVE_PASSKEY,
    VIEW_BLOCKS,
    Block,
    _button,
    _confirmed,
    _context,
    _section,
    _sections,
    date,
)
from app.slack.blocks.listings import request_line

# --- App Home -------------------------------------------------------------------------------

#: Own open requests listed on Home; more are counted (`/mysafe requests` lists them all).
HOME_OWN = 20
#: Requests fetched for one Home page (fewer are shown when their changes are long).
HOME_PAGE_SIZE = 10


def _header(label: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": label}}


def home_view(
    own: Iterable[ChangeRequest],
    queue: Sequence[ChangeRequest] | None,
    *,
    waiting: int = 0,
    start: int = 0,
    time_bound: Sequence[Block] = (),
    disabled: Sequence[DisabledEntry] = (),
    passkeys: Sequence[Passkey] = (),
) -> Block:
    """Your requests and your passkeys, then (approvers) the entries disabled through the bot
    and what waits for you, newest first, from `start`: each
    request whole as in the channel, counted, and a *More* button for what did not fit — the
    view stays within Slack's 100 blocks by design, and nothing is left out unsaid."""
    blocks = [
        _header(_("Your open requests")),
        *_own_blocks(list(own)),
        *time_bound,
        *passkey_blocks(passkeys),
    ]
    if queue is not None:
        blocks += disabled_blocks(disabled)
        blocks.append(_header(_("Waiting for your approval")))
        if not waiting:
            blocks.append(_context(_("Nothing waits for you.")))
        else:
            room = VIEW_BLOCKS - len(blocks) - 2  # the count above, the buttons below
            shown, these = _page_blocks(list(queue), room=room)
            blocks.append(
                _context(
                    _("{count} waiting for you, newest first; showing {first}–{last}.").format(
                        count=waiting, first=start + 1, last=start + shown
                    )
                )
            )
            blocks += these
            blocks += _paging(start, shown, waiting)
    return {"type": "home", "blocks": blocks}


def passkey_blocks(passkeys: Sequence[Passkey]) -> list[Block]:
    """The person's passkeys (a few at most: app.accounts.passkeys), each with Remove; they
    confirm approvals whose policy rule asks for step-up."""
    if not passkeys:
        return [
            _header(_("Your passkeys")),
            _context(
                _(
                    "None yet. `/mysafe passkey` registers one: approvals of changes whose rule "
                    "asks for step-up are confirmed with it."
                )
            ),
        ]
    found = [_header(_("Your passkeys"))]
    for passkey in passkeys:
        found.append(
            {
                **_section(
                    _("*{label}* · registered {when} · `{id}…`").format(
                        label=text.inline(passkey.label),
                        when=date(passkey.created),
                        id=text.code(passkey.credential_id[:12]),
                    )
                ),
                "accessory": _confirmed(
                    _button(_("Remove"), REMOVE_PASSKEY, passkey.credential_id, "danger"),
                    _("Remove this passkey?"),
                    _("It will no longer confirm your approvals."),
                    _("Remove"),
                    _("Keep"),
                ),
            }
        )
    return found


#: Disabled entries an approver's Home lists; older ones are counted, never left out unsaid.
HOME_DISABLED = 20


def disabled_blocks(entries: Sequence[DisabledEntry]) -> list[Block]:
    """For approvers, the incident at a glance: what is disabled through the bot, by whom,
    when and why, newest first (MySafe itself lists none of it)."""
    if not entries:
        return []
    lines = [_disabled_line(e) for e in entries[:HOME_DISABLED]]
    blocks = [_header(_("Disabled through the bot")), *_sections(lines)]
    if len(entries) > HOME_DISABLED:
        blocks.append(
            _context(_("{count} more, disabled earlier.").format(count=len(entries) - HOME_DISABLED))
        )
    return blocks


def _disabled_line(entry: DisabledEntry) -> str:
    name = text.clip(entry.name, 255) if entry.name else _("_(name not known)_")
    line = f"• `{entry.kind.value} {entry.identifier}` {name} — " + _(
        "*disabled* by {who} {when} ({request})"
    ).format(who=f"<@{entry.by}>", when=date(entry.at), request=entry.request)
    return line + (f": “{text.clip(entry.reason, 300)}”" if entry.reason else "")


def _page_blocks(queue: list[ChangeRequest], *, room: int) -> tuple[int, list[Block]]:
    """As many whole requests as fit in `room` blocks (at least one), and how many that is."""
    blocks: list[Block] = []
    shown = 0
    for request in queue:
        these = _queued(request)
        if shown and len(blocks) + len(these) > room:
            break
        blocks += these
        shown += 1
    return shown, blocks


def _paging(start: int, shown: int, waiting: int) -> list[Block]:
    buttons = []
    if start + shown < waiting:
        left = _("More ({count} left)").format(count=waiting - start - shown)
        buttons.append(_button(left, HOME_PAGE, str(start + shown)))
    if start:
        buttons.append(_button(_("Back to the newest"), HOME_PAGE, "0"))
    return [{"type": "actions", "block_id": "home-paging", "elements": buttons}] if buttons else []


def _own_blocks(own: list[ChangeRequest]) -> list[Block]:
    if not own:
        return [_context(_("Nothing open. Try `/mysafe help`."))]
    blocks = []
    for request in own[:HOME_OWN]:
        block = _section(request_line(request))
        if request.state in (State.PENDING, State.FAILED):
            block["accessory"] = _button(_("Cancel"), CANCEL, request.id)
        blocks.append(block)
    if len(own) > HOME_OWN:
        blocks.append(
            _context(
                _("…and {count} more: `/mysafe requests` lists them all.").format(
                    count=len(own) - HOME_OWN
                )
            )
        )
    return blocks


def _queued(request: ChangeRequest) -> list[Block]:
    blocks = [
        _section(headline(request)),
        *_sections(change_lines(request)),
        _section(status_text(request)),
    ]
    actions = _actions(request)
    if actions:
        blocks.append({"type": "actions", "block_id": f"decision-{request.id}", "elements": actions})
    return blocks
