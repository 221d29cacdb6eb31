"""The verifiable log as operators and auditors reach it: `keygen --audit`, `audit export`,
`audit verify` (exit codes and their one line), `doctor`'s public key, the worker's pass, the
audit channel, and the settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.approvals.audit import Audit
from app.foundations.errors import ConfigError
from app.foundations.settings import Scope, Settings
from app.foundations.signing import load_private, load_public, public_text
from app.ops.cli import main
from app.ops.runtime import build_runtime
from app.ops.worker import checkpoint
from tests.support.slack_fake import SlackFake


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The test's settings as the process environment, for `main` run in this process."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no stray .env
    return env


def test_keygen_audit_prints_a_key_and_its_public_key(capsys) -> None:
    assert main(["keygen", "--audit"]) == 0
    out, err = capsys.readouterr()
    key = load_private(out.strip())
    assert err.strip().endswith(public_text(key))
    load_public(err.split()[-1])


def test_export_then_verify_with_the_cli(
    cli_env, signed, signing_key, redis, key_prefix: str, tmp_path: Path, capsys, audit: Audit
) -> None:
    signed(3)
    audit.record("waiting.for.the.next.checkpoint")
    out = tmp_path / "log.jsonl"
    assert main(["audit", "export", "--format", "jsonl", "-o", str(out)]) == 0
    assert "exported 3 record(s)" in capsys.readouterr().err
    assert [json.loads(line).get("record", {}).get("seq") for line in out.read_text().splitlines()] == [
        0,
        1,
        2,
        None,
    ]
    public = public_text(signing_key)
    assert main(["audit", "verify", str(out), "--key", public]) == 0
    assert capsys.readouterr().out.startswith("ok: records 0–2 (3), 1 signed checkpoint(s)")
    out.write_text(out.read_text().replace('"R-00001"', '"R-00009"'))
    assert main(["audit", "verify", str(out), "--key", public]) == 1
    assert "first bad seq 1" in capsys.readouterr().out


def test_export_csv_to_stdout_and_verify_with_previous(
    cli_env, signed, signing_key, tmp_path: Path, capsys
) -> None:
    signed(2)
    first = tmp_path / "first.csv"
    assert main(["audit", "export", "--format", "csv", "-o", str(first)]) == 0
    signed(2)
    capsys.readouterr()
    assert main(["audit", "export", "--format", "csv"]) == 0
    second = tmp_path / "second.csv"
    second.write_text(capsys.readouterr().out, newline="")
    key_file = tmp_path / "audit.pub"
    key_file.write_text(public_text(signing_key) + "\n")
    assert main(["audit", "verify", str(second), "--key", str(key_file), "--previous", str(first)]) == 0
    assert "extends" in capsys.readouterr().out


def test_export_ocsf_writes_each_record_as_the_json_sinks_send_it(
    cli_env, signed, tmp_path: Path, capsys
) -> None:
    from tests.support.ocsf import validate

    signed(3)
    out = tmp_path / "ocsf.jsonl"
    assert main(["audit", "export", "--format", "ocsf", "-o", str(out)]) == 0
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert [e["metadata"]["uid"] for e in events] == ["0", "1", "2"]
    assert all(validate(e) == [] and e["class_uid"] == 6003 for e in events)


def test_the_old_audit_printing_still_works_and_shows_seq(cli_env, audit: Audit, capsys) -> None:
    audit.record("request.created", request="R-AAAAA", actor="U1")
    assert main(["audit", "--since", "1h", "--json"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["seq"] == 0 and json.loads(line)["event"] == "request.created"


def test_export_before_any_checkpoint_says_so_and_writes_nothing(
    cli_env, audit: Audit, capsys, tmp_path: Path
) -> None:
    audit.record("x")
    assert main(["audit", "export", "-o", str(tmp_path / "none.jsonl")]) == 1
    assert "no checkpoint yet" in capsys.readouterr().err
    assert not (tmp_path / "none.jsonl").exists()


def test_verify_with_a_wrong_key_or_a_missing_file_says_which(
    cli_env, signed, exported, capsys
) -> None:
    signed(1)
    path = exported()
    assert main(["audit", "verify", str(path), "--key", "not-a-key"]) == 2
    assert "--key" in capsys.readouterr().err
    other = public_text(load_private(_fresh_key()))
    assert main(["audit", "verify", str(path), "--key", other]) == 1
    assert "not signed by this key" in capsys.readouterr().out
    assert main(["audit", "verify", "/nonexistent/export.jsonl", "--key", other]) == 2


def _fresh_key() -> str:
    from app.foundations.signing import generate

    return generate()


def test_the_worker_pass_signs_and_posts_each_checkpoint_to_the_audit_channel(
    slack_env: dict[str, str], slack: SlackFake, redis
) -> None:
    settings = Settings.from_env(
        {**slack_env, "MYSAFE_BOT_AUDIT_CHANNEL": "C0AUDIT"}, scope=Scope.SERVICE, dotenv=None
    )
    runtime = build_runtime(settings, redis=redis, front=False)
    runtime.engine.audit.record("request.created", request="R-AAAAA", actor="U1")
    checkpoint(runtime)
    (post,) = slack.wait_calls("chat.postMessage")
    assert post.args["channel"] == "C0AUDIT"
    (made,) = [s.checkpoint for s in _stored(redis, settings.key_prefix)]
    assert made.root in post.args["text"] and made.signature in post.args["text"]
    checkpoint(runtime)  # nothing new: no second checkpoint, no second post
    assert len(slack.calls_to("chat.postMessage")) == 1


def _stored(redis, prefix: str):
    from app.audit.checkpoints import stored
    from app.audit.log import LogKeys

    return list(stored(redis, LogKeys(prefix)))


def test_the_demo_signs_with_a_key_it_keeps_in_the_data_dir(
    env: dict[str, str], redis, tmp_path
) -> None:
    """Nothing set: the first checkpoint makes the key, 0600, and the next ones reuse it."""
    bare = {k: v for k, v in env.items() if k != "MYSAFE_BOT_AUDIT_SIGNING_KEY"}
    settings = Settings.from_env({**bare, "MYSAFE_BOT_DATA_DIR": str(tmp_path)}, dotenv=None)
    runtime = build_runtime(settings, redis=redis, front=False)
    runtime.engine.audit.record("x")
    checkpoint(runtime)
    kept = tmp_path / "audit-signing.key"
    assert kept.stat().st_mode & 0o777 == 0o600
    (made,) = [s.checkpoint for s in _stored(redis, settings.key_prefix)]
    assert made.valid(load_private(kept.read_text()).public_key())


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MYSAFE_BOT_AUDIT_SIGNING_KEY", "not-a-key"),
        ("MYSAFE_BOT_AUDIT_CHANNEL", "#audit"),
        ("MYSAFE_BOT_AUDIT_CHECKPOINT", "1s"),
        ("MYSAFE_BOT_AUDIT_RETENTION", "forever"),
    ],
)
def test_bad_audit_settings_are_named(env: dict[str, str], name: str, value: str) -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env({**env, name: value}, dotenv=None)
    assert [p.variable for p in error.value.problems] == [name]


def test_audit_settings_are_read(env: dict[str, str]) -> None:
    settings = Settings.from_env(
        {
            **env,
            "MYSAFE_BOT_AUDIT_CHECKPOINT": "5m",
            "MYSAFE_BOT_AUDIT_RETENTION": "90d",
            "MYSAFE_BOT_AUDIT_CHANNEL": "C0AUDIT",
        },
        dotenv=None,
    )
    assert (settings.audit_checkpoint, settings.audit_retention) == (300, 90 * 86400)
    assert settings.audit_channel == "C0AUDIT" and settings.audit_signing_key


def test_verify_accepts_each_key_of_a_rotation(
    cli_env, redis, key_prefix: str, audit: Audit, signing_key, signed, exported, capsys
) -> None:
    """Checkpoints 1-2 signed with the old key, 3 with the new one: `--key` once for each."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from app.audit.checkpointer import Checkpointer

    signed(2)
    signed(2)
    new_key = Ed25519PrivateKey.generate()
    audit.record("after.the.rotation")
    Checkpointer(
        redis, prefix=key_prefix, key=lambda: new_key, every=0, retention=86400, maxlen=1000
    ).checkpoint()
    path = str(exported())
    old, new = public_text(signing_key), public_text(new_key)
    assert main(["audit", "verify", path, "--key", old]) == 1
    assert "first bad seq 4: the checkpoint at size 5 is not signed" in capsys.readouterr().out
    assert main(["audit", "verify", path, "--key", old, "--key", new]) == 0


def test_doctor_prints_the_public_key_and_fails_when_records_wait_unsigned(
    slack_env: dict[str, str], redis, audit: Audit
) -> None:
    from app.foundations.clock import shifted
    from app.ops.doctor import run_checks

    def audit_check() -> str:
        (check,) = [c for c in run_checks(slack_env) if c.name == "audit log"]
        return ("ok " if check.ok else "FAIL ") + check.detail

    public = public_text(load_private(slack_env["MYSAFE_BOT_AUDIT_SIGNING_KEY"]))
    assert audit_check() == f"ok public key {public}; 0 of 0 record(s) signed"
    audit.record("x")
    assert audit_check().startswith("ok ") and "0 of 1 record(s) signed" in audit_check()
    with shifted(2 * 600 + 61):
        assert (
            audit_check().startswith("FAIL ") and "the oldest unsigned one has waited" in audit_check()
        )


def test_a_public_key_is_never_read_as_an_option(tmp_path) -> None:
    """Keys are random: one whose base64 starts with "-" must still pass as `--key KEY`."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from app.foundations.signing import PUBLIC_PREFIX

    key = next(k for k in iter(Ed25519PrivateKey.generate, None) if public_text(k)[8:].startswith("-"))
    text = public_text(key)
    assert text.startswith(PUBLIC_PREFIX) and not text.startswith("-")
    assert load_public(text).public_bytes_raw() == key.public_key().public_bytes_raw()
