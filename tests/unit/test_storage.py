"""The embedded Redis (app/foundations/storage.py) as a local user meets it: its files are the bot's alone."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.foundations.storage import EmbeddedRedis, connect


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most shells start with (022): what the bot must not rely on."""
    before = os.umask(0o022)
    yield
    os.umask(before)


def test_the_data_directory_and_redis_files_are_readable_by_the_bot_alone(
    tmp_path: Path, usual_umask: None
) -> None:
    """They hold request metadata, the audit trail and, in the demo, an MCP token in clear."""
    data_dir = tmp_path / ".mysafe-bot"
    embedded = EmbeddedRedis(data_dir)
    try:
        client = connect(embedded.url)
        client.set("k", "v")
        client.save()
        client.close()
    finally:
        embedded.stop()
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"redis.db", "appendonly.aof"}
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode) & 0o077) for p in files} == {
        p.name: "0o0" for p in files
    }
    assert os.umask(0o022) == 0o022  # the process's own umask is as it was
