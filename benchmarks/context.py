"""What every scenario is given: the run's options (sizes chosen once from the command line) and
the running bot's context (its URL, environment, services and the people in the emulator)."""

from __future__ import annotations

import argparse
import dataclasses

from app.services import Services
from benchmarks import wrk_load
from benchmarks.harness import Fixture

#: The concurrency levels (simulated users, or wrk connections) of the ack and answer rows.
LEVELS = (1, 10, 50)


@dataclasses.dataclass(frozen=True)
class Options:
    """The run's sizes and clients; `--quick` makes each of them smaller."""

    quick: bool
    client: str  # the Python load generator's transport: http.client or requests
    ack_client: str  # what drives the ack rows: wrk, or `client` when wrk is missing
    python_acks: bool  # the Python generator asked for, though wrk may be installed
    requests: int  # requests per level of the Python-driven ack rows
    wrk_seconds: float
    repeats: int
    approvals: int
    pending: int
    revokes: int
    review_lines: int
    answers: int

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Options:
        quick = args.quick
        wrk_seconds = 2.0 if quick and args.wrk_seconds == 3.0 else args.wrk_seconds
        use_wrk = wrk_load.available() and not args.python_acks
        return cls(
            quick=quick,
            client=args.client,
            ack_client="wrk" if use_wrk else args.client,
            python_acks=args.python_acks,
            requests=args.requests or (300 if quick else 2000),
            wrk_seconds=wrk_seconds,
            repeats=args.repeats or (1 if quick else 3),
            approvals=10 if quick else 30,
            pending=2_000 if quick else 10_000,
            revokes=1_000 if quick else 10_000,
            review_lines=2_000 if quick else 10_000,
            answers=200 if quick else 2000,
        )


@dataclasses.dataclass
class Context:
    """The bot under test, and what one scenario leaves for a later one (the pending rows'
    template request and the key prefixes already filled, which the sweep rows reuse)."""

    url: str
    env: dict[str, str]
    services: Services
    fixture: Fixture
    template: dict | None = None
    filled: set[str] = dataclasses.field(default_factory=set)
