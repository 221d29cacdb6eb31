"""What the worker's scan of the open requests finds: applies stuck past their lease, and
approval messages a front has not shown in their latest version or never posted
(`ApprovalStore.stale_open`, read by the sweep's rescue pass)."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.approvals.machine import State


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
