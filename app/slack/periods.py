"""How long a time-bound share runs, in Slack's own dates: shared by the approval message
(`app.slack.blocks`) and the notices about its end (`app.slack.revoke_notices`), and importing
neither, so the two never import each other through the notifier."""

from __future__ import annotations

from datetime import UTC, datetime

from app.approvals.change_request import ChangeRequest
from app.approvals.machine import State
from app.foundations.durations import describe
from app.i18n import _


def until(ts: float) -> str:
    """A moment in the reader's own time zone, with a fallback in UTC for old clients."""
    fallback = datetime.fromtimestamp(int(ts), UTC).strftime("%a %d %b %H:%M UTC")
    return f"<!date^{int(ts)}^{{date_short_pretty}} {{time}}|{fallback}>"


def ago(ts: float) -> str:
    """Slack's live countdown: "in 3 hours", then "2 minutes ago"."""
    return f"<!date^{int(ts)}^{{ago}}|{int(ts)}>"


def period_line(request: ChangeRequest) -> str:
    """The period of a time-bound share in its approval message ("" for any other)."""
    change = request.change
    if not change.time_bound:
        return ""
    rotate = _(" · then a new random password (rotate-after)") if change.rotate_after else ""
    if change.extends:
        rotate += _(" · extends {request}").format(request=change.extends)
    ends = request.result.get("ends") if request.state is State.APPLIED else None
    period = describe(change.duration)
    if request.ended:
        return _(
            "⏹ Was for {period}; ended {when} (your time): what it granted was taken back "
            "(see the thread){rotate}"
        ).format(period=period, when=until(request.ended), rotate=rotate)
    if ends:
        return _("⏳ For {period} — until {when} (your time), ends {ago}{rotate}").format(
            period=period, when=until(float(ends)), ago=ago(float(ends)), rotate=rotate
        )
    return _("⏳ For {period} from approval, then taken back by itself{rotate}").format(
        period=period, rotate=rotate
    )
