"""`mysafe-bot`: serve, worker, mcp, doctor, keygen, users, policy, sandbox, audit, access,
review.

Every command loads the settings it needs once. A `ConfigError` ends the command with one line
per bad variable, naming it, and exit code 2; any other `BotError` with one line and exit code
1. No traceback reaches the terminal for an expected failure.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from app.foundations.errors import EXIT_CONFIG, BotError, ConfigError
from app.foundations.settings import Scope
from app.ops import users_commands

if TYPE_CHECKING:
    from datetime import timedelta

    from app.sandbox.demo_data import Sample


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except ConfigError as error:
        for problem in error.problems:  # every bad variable at once, one line each
            print(
                f"mysafe-bot: configuration error: {problem.variable}: {problem.expected}",
                file=sys.stderr,
            )
        return EXIT_CONFIG
    except BotError as error:
        print(f"mysafe-bot: {_describe(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _describe(error: BotError) -> str:
    describe = getattr(error, "describe", None)
    return describe() if describe else str(error)


#: Said under `--help` and `serve --help`: what `make run` does with nothing set.
DEMO_NOTE = (
    "With no Slack variable set, `serve` (what `make run` runs) starts the demo: everything on "
    "this machine, with a console standing in for Slack at http://127.0.0.1:3000/. Set the "
    "Slack variables (docs/configuration.md) to run for real."
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mysafe-bot",
        description="The MySafe ChatOps bot: every share and change waits for an approver.",
        epilog=DEMO_NOTE,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_serve(commands)

    worker = commands.add_parser(
        "worker", help="run the jobs, expire due requests and recover stuck applies"
    )

    worker.add_argument("--interval", type=float, default=1.0, help="seconds between sweeps")
    worker.add_argument("--once", action="store_true", help="sweep once and exit")
    worker.add_argument(
        "--spare-cpu",
        action="store_true",
        help="run the jobs at a lower CPU priority than the acks (a niceness 10 above the "
        "worker's), and keep off one core while the acks outrun the work: for a worker beside "
        "web workers, as `serve` starts them",
    )
    worker.add_argument(
        "--check",
        action="store_true",
        help="exit 0 if a worker on this host is alive (its heartbeat is fresh)",
    )
    worker.set_defaults(handler=_worker)

    keygen = commands.add_parser(
        "keygen",
        help="print a new MYSAFE_BOT_ENCRYPTION_KEY (--audit: a MYSAFE_BOT_AUDIT_SIGNING_KEY)",
    )
    keygen.add_argument(
        "--audit",
        action="store_true",
        help="an Ed25519 key that signs the audit log's checkpoints; its public key (for "
        "`audit verify --key`) goes to stderr",
    )
    keygen.set_defaults(handler=_keygen)

    sandbox = commands.add_parser("sandbox", help="run a MySafe emulator with demo users")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8600)
    sandbox.add_argument("--quiet", action="store_true", help="print nothing (the demo's own)")
    sandbox.set_defaults(handler=_sandbox)

    _add_audit(commands)

    mcp = commands.add_parser("mcp", help="the MCP server for AI assistants")
    transport = mcp.add_mutually_exclusive_group(required=True)
    transport.add_argument(
        "--stdio", action="store_true", help="speak MCP on stdin/stdout (token in MYSAFE_BOT_MCP_TOKEN)"
    )
    transport.add_argument("--http", action="store_true", help="serve streamable HTTP at /mcp")
    mcp.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    mcp.add_argument("--port", type=int, default=None, help="default MYSAFE_BOT_MCP_PORT")
    mcp.set_defaults(handler=_mcp)

    doctor = commands.add_parser("doctor", help="check settings, Redis, Slack and MySafe")
    doctor.set_defaults(handler=_doctor)

    users_commands.add_parser(commands)
    _add_policy(commands)
    _add_access(commands)
    _add_review(commands)
    return parser


def _add_review(commands: argparse._SubParsersAction) -> None:
    review = commands.add_parser(
        "review", help="access review campaigns: start, status, cancel, report"
    )
    verbs = review.add_subparsers(dest="review_command", required=True, metavar="VERB")
    start = verbs.add_parser("start", help="start a campaign: every reviewer gets a card per entry")
    start.add_argument("--name", required=True, help="the campaign's name, e.g. Q1")
    start.add_argument("--due", required=True, help="how long reviewers have, e.g. 14d")
    start.add_argument(
        "--tags", default="", help="only entries with one of these tags (comma-separated)"
    )
    start.add_argument("--kinds", default="", help="password,secret (default both)")
    start.add_argument(
        "--on-timeout",
        default="keep",
        choices=("keep", "revoke", "escalate"),
        help="what the due date does to undecided lines (default keep)",
    )
    start.add_argument("--escalate-to", default="", help="Slack user IDs, with --on-timeout escalate")
    start.add_argument(
        "--remind-every", default="2d", help="reminders to reviewers (default 2d; 0: none)"
    )
    start.add_argument(
        "--wait",
        action="store_true",
        help="run the start here and print its counts (else a worker does)",
    )
    start.set_defaults(handler=_review_start)
    status = verbs.add_parser("status", help="progress of one campaign, or of all")
    status.add_argument("name", nargs="?", default=None)
    status.set_defaults(handler=_review_status)
    cancel = verbs.add_parser("cancel", help="stop taking decisions (those made stand)")
    cancel.add_argument("name")
    cancel.set_defaults(handler=_review_cancel)
    report = verbs.add_parser("report", help="write NAME.csv and NAME.json; their SHA-256 is audited")
    report.add_argument("name")
    report.add_argument("--out", default=".", help="folder to write them in (default: here)")
    report.set_defaults(handler=_review_report)


def _add_access(commands: argparse._SubParsersAction) -> None:
    access = commands.add_parser(
        "access", help="who has access to an entry now, and through which request"
    )
    access.add_argument("kind", choices=("password", "secret"))
    access.add_argument("id", type=int, help="MySafe's numeric identifier of the entry")
    access.add_argument(
        "--as",
        dest="as_user",
        required=True,
        metavar="SLACK_USER_ID",
        help="whose linked MySafe key reads the entry (MySafe decides what they may see)",
    )
    access.add_argument("--json", action="store_true", help="print JSON (the MCP tool's shape)")
    access.set_defaults(handler=_access)


def _add_serve(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the bot (web app, workers, MCP server); the demo when no Slack variable is set",
        description="Run the bot: gunicorn's web workers, a job worker beside each and the MCP "
        "server, on an embedded Redis unless REDIS_URL is set.",
        epilog=DEMO_NOTE,
    )
    serve.add_argument(
        "--host",
        default=os.environ.get("HOST", "127.0.0.1"),
        help="address to listen on (default: HOST, else 127.0.0.1; the demo: loopback only)",
    )
    serve.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("PORT", "3000")),
        help="port to listen on (default: PORT, else 3000)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("WEB_CONCURRENCY", "2")),
        help="web workers, each with a job worker beside it (default: WEB_CONCURRENCY, else 2)",
    )
    serve.set_defaults(handler=_serve)


def _add_audit(commands: argparse._SubParsersAction) -> None:
    audit = commands.add_parser(
        "audit",
        help="print the audit trail (no secrets in it); export it, verify an export",
        description="With no verb: print the trail. `export` and `verify`: the verifiable "
        "log (docs/audit.md).",
    )
    audit.add_argument("--since", default="24h", help="how far back: 30m, 24h, 7d (default 24h)")
    audit.add_argument("--request", help="only this request, e.g. R-7K2QF")
    audit.add_argument("--json", action="store_true", help="one JSON object per line")
    audit.set_defaults(handler=_audit)
    verbs = audit.add_subparsers(dest="verb", metavar="VERB")

    export = verbs.add_parser(
        "export", help="records with their sequence numbers and the checkpoints covering them"
    )
    export.add_argument(
        "--since", dest="range_since", help="from: 7d (that long ago) or a time, 2026-01-31T00:00Z"
    )
    export.add_argument("--until", dest="range_until", help="to: as --since (default: now)")
    export.add_argument("--format", dest="form", choices=("jsonl", "csv", "ocsf"), default="jsonl")
    export.add_argument("--output", "-o", help="a file to write (default: standard output)")
    export.set_defaults(handler=_audit_export)

    verify = verbs.add_parser(
        "verify", help="recompute an export's tree, check its checkpoints' signatures and chain"
    )
    verify.add_argument("file", help="an export (JSON lines or CSV)")
    verify.add_argument(
        "--key",
        required=True,
        action="append",
        help="the public key (`doctor` prints it) or a file holding it; once more for each "
        "key the log was signed with across a rotation",
    )
    verify.add_argument("--previous", help="an earlier export this one must extend")
    verify.set_defaults(handler=_audit_verify)


def _add_policy(commands: argparse._SubParsersAction) -> None:
    from app.approvals.changes import Verb  # the choices are the verbs the engine knows

    policy = commands.add_parser(
        "policy", help="check the approval policy, explain a decision, publish it"
    )
    verbs = policy.add_subparsers(dest="verb", required=True)

    check = verbs.add_parser("check", help="validate a policy file (default MYSAFE_BOT_POLICY)")
    check.add_argument("file", nargs="?")
    check.set_defaults(handler=_policy_check)

    publish = verbs.add_parser(
        "publish",
        help="put MYSAFE_BOT_POLICY's rules in force across the deployment, whatever their "
        "version (processes with other rules then decide nothing)",
    )
    publish.set_defaults(handler=_policy_publish)

    explain = verbs.add_parser("explain", help="which rule a change would meet, and why")
    explain.add_argument("--entry", required=True, help="password:ID or secret:ID")
    explain.add_argument(
        "--verb",
        required=True,
        choices=tuple(verb.value for verb in Verb),
    )
    explain.add_argument("--user", required=True, help="the requester's Slack user ID")
    explain.add_argument("--source", default="slack", choices=("slack", "webhook", "mcp", "review"))
    explain.add_argument(
        "--tags",
        help="the entry's tags (comma-separated) instead of reading "
        "them from MySafe with the user's key",
    )
    explain.add_argument("--policy", help="a policy file other than MYSAFE_BOT_POLICY")
    explain.set_defaults(handler=_policy_explain)


# --- commands --------------------------------------------------------------------------


def _keygen(args: argparse.Namespace) -> int:
    if args.audit:
        from app.foundations.signing import generate, load_private, public_text

        key = generate()
        print(key)
        print(
            f"public key (for `audit verify --key`): {public_text(load_private(key))}", file=sys.stderr
        )
        return 0
    from app.foundations.crypto import generate_key

    print(generate_key())
    return 0


def _audit(args: argparse.Namespace) -> int:
    import json

    from app.foundations.clock import utcnow

    since = utcnow() - _duration(args.since)
    from app.ops.runtime import admin_runtime

    runtime = admin_runtime(Scope.NONE)
    try:
        for record in runtime.engine.audit.read(since=since, request=args.request):
            print(json.dumps(record.to_json()) if args.json else record.line())
    finally:
        runtime.close()
    return 0


def _audit_export(args: argparse.Namespace) -> int:
    from app.ops.audit_commands import export

    return export(since=args.range_since, until=args.range_until, form=args.form, output=args.output)


def _audit_verify(args: argparse.Namespace) -> int:
    from app.ops.audit_commands import verify

    return verify(file=args.file, keys=args.key, previous=args.previous)


def _duration(text: str) -> timedelta:
    from datetime import timedelta

    from app.foundations.durations import parse_duration

    try:
        return timedelta(seconds=parse_duration(text))
    except ValueError:
        raise ConfigError("--since", "expected a duration such as 30m, 24h or 7d") from None


def _policy_check(args: argparse.Namespace) -> int:
    from app.ops.policy_commands import check

    return check(args.file)


def _policy_publish(args: argparse.Namespace) -> int:
    from app.ops.policy_commands import publish

    return publish()


def _policy_explain(args: argparse.Namespace) -> int:
    from app.ops.policy_commands import explain

    return explain(
        entry=args.entry,
        verb=args.verb,
        user=args.user,
        source=args.source,
        tags=args.tags,
        file=args.policy,
    )


def _access(args: argparse.Namespace) -> int:
    from app.ops.access_command import who_has_access

    return who_has_access(args.kind, args.id, as_user=args.as_user, as_json=args.json)


def _review_start(args: argparse.Namespace) -> int:
    from app.ops.review_commands import start

    return start(
        name=args.name,
        due=args.due,
        tags=_listed(args.tags),
        kinds=_listed(args.kinds),
        on_timeout=args.on_timeout,
        escalate_to=_listed(args.escalate_to),
        remind_every=args.remind_every,
        wait=args.wait,
    )


def _listed(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _review_status(args: argparse.Namespace) -> int:
    from app.ops.review_commands import status

    return status(args.name)


def _review_cancel(args: argparse.Namespace) -> int:
    from app.ops.review_commands import cancel

    return cancel(args.name)


def _review_report(args: argparse.Namespace) -> int:
    from app.ops.review_commands import report

    return report(args.name, out=args.out)


def _mcp(args: argparse.Namespace) -> int:
    from app.ops.mcp_runner import run_http, run_stdio

    if args.stdio:
        return run_stdio()
    return run_http(host=args.host, port=args.port)


def _doctor(args: argparse.Namespace) -> int:
    from app.ops.doctor import doctor

    return doctor()


def _serve(args: argparse.Namespace) -> int:
    from app.ops.serve import serve

    return serve(host=args.host, port=args.port, workers=args.workers)


def _worker(args: argparse.Namespace) -> int:
    from app.ops.worker import check_alive, leave, run_worker

    if args.check:
        return check_alive()
    code = run_worker(interval=args.interval, once=args.once, spare_cpu=args.spare_cpu)
    if not args.once:
        leave(code)
    return code


def _sandbox(args: argparse.Namespace) -> int:
    from app.ops.runtime import load_settings
    from app.sandbox import demo_secrets
    from app.sandbox.demo_data import demo_emulator
    from app.sandbox.emulator import EmulatorServer

    settings = load_settings(scope=Scope.NONE)
    if args.quiet:  # beside `serve` (the demo): its log is the bot's, one format, no access lines
        import logging

        from app.foundations.logs import configure_logging

        configure_logging(settings.log_format)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    emulator, keys, samples = demo_emulator(demo_secrets.load(settings.data_dir).seed)
    with EmulatorServer(emulator, host=args.host, port=args.port) as server:
        if not args.quiet:
            print(sandbox_guide(server.url, keys, samples), flush=True)
        _wait_for_signal()
    return 0


def sandbox_guide(url: str, keys: dict[str, tuple[str, str]], samples: Sequence[Sample]) -> str:
    """What `make sandbox` prints: entries to try and whole commands, paths included."""
    import shlex

    bot = ".venv/bin/mysafe-bot"
    lines = [f"MySafe sandbox at {url}", "", "Entries to try:"]
    lines += [f"  {s.kind} {s.identifier:<3} “{s.name}” (owner {s.owner})" for s in samples]
    lines += [
        "",
        "Point the bot at it and link the demo users (in another terminal):",
        f"  export MYSAFE_URL={url} MYSAFE_BOT_ENCRYPTION_KEY=$({bot} keygen)",
    ]
    for position, (username, (client_id, client_secret)) in enumerate(keys.items(), start=1):
        lines.append(
            f"  echo {shlex.quote(client_secret)} | {bot} users link U0SANDBOX{position} "
            f"--client-id {shlex.quote(client_id)} --mysafe-username {username}"
        )
    first = samples[0]
    lines += [
        "",
        f"Then, in Slack as U0SANDBOX1: /mysafe show {first.kind} {first.identifier}",
        f"                            /mysafe share {first.kind} {first.identifier} "
        'with user:alices reason "on-call"',
        "No Slack app? `make run` with nothing set runs the demo console instead.",
    ]
    return "\n".join(lines)


def _wait_for_signal() -> None:
    import signal
    import threading

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


if __name__ == "__main__":
    raise SystemExit(main())
