"""The audit log's parts over a test's own Redis keys: a signing key, a checkpointer, and
`signed(n)` to append records and sign them as the worker would."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.approvals.audit import Audit
from app.audit.checkpointer import Checkpointer
from app.audit.export import export
from app.audit.formats import CSV_HEADER, csv_line, jsonl_line


@pytest.fixture
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def audit(redis, key_prefix: str) -> Audit:
    return Audit(redis, prefix=key_prefix)


@pytest.fixture
def checkpointer(redis, key_prefix: str, signing_key: Ed25519PrivateKey) -> Checkpointer:
    return Checkpointer(
        redis,
        prefix=key_prefix,
        key=lambda: signing_key,
        every=600,
        retention=30 * 86400,
        maxlen=100_000,
    )


@pytest.fixture
def signed(audit: Audit, checkpointer: Checkpointer) -> Callable[[int], None]:
    """Append `n` records (request.created, with a reason that needs escaping) and sign them."""

    def sign(n: int) -> None:
        start = audit.log.next_seq()
        for i in range(start, start + n):
            audit.record("request.created", request=f"R-{i:05d}", actor="U1", reason=f'n°{i} "x"')
        assert checkpointer.checkpoint() is not None
        time.sleep(0.002)  # the next records' stream ids are in a later millisecond

    return sign


@pytest.fixture
def exported(redis, key_prefix: str, tmp_path: Path) -> Callable[..., Path]:
    """Export to a file, as `mysafe-bot audit export` writes it."""

    def write(name: str = "export.jsonl", *, form: str = "jsonl", **ranges) -> Path:
        path = tmp_path / name
        with path.open("wb") as out:
            if form == "csv":
                out.write(CSV_HEADER.encode())
            for item in export(redis, prefix=key_prefix, **ranges):
                out.write(jsonl_line(item) if form == "jsonl" else csv_line(item).encode())
        return path

    return write
