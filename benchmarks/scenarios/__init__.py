"""The benchmark's scenarios, one module each, and the one list of them.

Each module has `NAME` (what `--only` takes), `HELP` (one line for `--list`) and
`run(bench, context, options) -> list[Row]`. `SCENARIOS` is the order a full run measures and
prints them; a selection runs in that order too (the sweep reuses the pending requests, and the
kill -9 row leaves the bot restarting, so it comes last).
"""

from __future__ import annotations

from types import ModuleType

from benchmarks.scenarios import (
    acks,
    answers,
    approvals,
    audit,
    burst,
    job_bytes,
    kill,
    pending,
    races,
    review_campaign,
    revokes,
    share_burst,
    sweep,
    tokens,
)

SCENARIOS: tuple[ModuleType, ...] = (
    acks,
    share_burst,
    approvals,
    audit,
    burst,
    races,
    tokens,
    pending,
    sweep,
    revokes,
    review_campaign,
    job_bytes,
    answers,
    kill,
)
NAMES = tuple(scenario.NAME for scenario in SCENARIOS)


class UnknownScenario(ValueError):
    """A name that is no scenario's; the message lists the names there are."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown scenario {name!r}; the scenarios are: {', '.join(NAMES)}")


def select(names: set[str]) -> tuple[ModuleType, ...]:
    """The scenarios named (all of them for none), in the full run's order."""
    unknown = sorted(names - set(NAMES))
    if unknown:
        raise UnknownScenario(unknown[0])
    return tuple(s for s in SCENARIOS if not names or s.NAME in names)
