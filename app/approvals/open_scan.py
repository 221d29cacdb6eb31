"""What the worker's scan of the open requests finds: applies stuck past their lease (read
from the requests, `ApprovalStore.stale_open`), and the messages the fronts have not shown in
their latest version or never posted (each front's answer, app.approvals.fronts)."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.approvals.fronts import Open, Unshown
from app.approvals.machine import State


@dataclass
class OpenScan:
    """What a scan of the open requests found (see `ApprovalStore.stale_open`)."""

    stuck: list[str] = field(default_factory=list)
    #: Every open request read, for the fronts to judge (`Shows.unshown`).
    open: list[Open] = field(default_factory=list)
    behind: list[str] = field(default_factory=list)
    unposted: list[tuple[float, str]] = field(default_factory=list)

    def add(
        self,
        request_id: str,
        state: str | None,
        until: str | None,
        version: str | None,
        created: str | None,
        *,
        now: float,
    ) -> None:
        if state is None:
            return  # gone since the index was read
        if state == State.APPLYING.value and float(until or 0) < now:
            self.stuck.append(request_id)
        self.open.append(Open(request_id, int(version or 0), float(created or 0)))

    def heard(self, unshown: Unshown) -> None:
        """Add a front's answer."""
        self.behind.extend(unshown.behind)
        self.unposted.extend(unshown.unposted)
