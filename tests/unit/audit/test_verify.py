"""`audit verify` on exports: a good one passes; any flipped byte, deleted, inserted or
reordered record, forged checkpoint or broken chain fails naming the first bad seq."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.audit.checkpoints import Checkpoint
from app.audit.formats import Record, jsonl_line, parse_jsonl
from app.audit.merkle import leaf_hash
from app.audit.verify import Tampered, verify_extends, verify_file


@pytest.fixture
def log_of_15(signed) -> None:
    """Records 0-14 under three checkpoints: at sizes 5, 10 and 15."""
    for _ in range(3):
        signed(5)


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def rewrite(path: Path, new: list[bytes]) -> Path:
    path.write_bytes(b"".join(new))
    return path


def line_of(path: Path, seq: int) -> int:
    for index, line in enumerate(lines(path)):
        if line.startswith(b'{"leaf"') and parse_jsonl(line).seq == seq:  # type: ignore[union-attr]
            return index
    raise AssertionError(seq)


def bad_seq(path: Path, key: Ed25519PrivateKey) -> int:
    with pytest.raises(Tampered) as failed:
        verify_file(path, key.public_key())
    return failed.value.seq


def test_a_good_export_verifies(log_of_15, exported, signing_key) -> None:
    summary = verify_file(exported(), signing_key.public_key())
    assert (summary.first, summary.size, summary.checkpoints) == (0, 15, 3)
    assert summary.line().startswith("ok: records 0–14 (15), 3 signed checkpoint(s)")


@pytest.mark.parametrize("where", ['"event":"', '"seq":', '"leaf":"', '"request":"R-', "\\u00"])
def test_a_flipped_byte_names_its_record(log_of_15, exported, signing_key, where: str) -> None:
    path = exported()
    content = lines(path)
    index = line_of(path, 7)
    line = content[index]
    at = line.find(where.encode()) + len(where)
    if where == "\\u00":  # inside the non-ASCII reason: a byte of its UTF-8
        at = line.find("°".encode())
    content[index] = line[:at] + bytes([line[at] ^ 0x01]) + line[at + 1 :]
    assert bad_seq(rewrite(path, content), signing_key) == 7


def test_every_single_flipped_bit_anywhere_fails(log_of_15, exported, signing_key) -> None:
    """Whatever byte of the file changes: verify fails (a sample of every 7th byte)."""
    path = exported()
    good = path.read_bytes()
    for at in range(0, len(good), 7):
        path.write_bytes(good[:at] + bytes([good[at] ^ 0x20]) + good[at + 1 :])
        with pytest.raises(Tampered):
            verify_file(path, signing_key.public_key())


def test_a_deleted_record_is_named(log_of_15, exported, signing_key) -> None:
    path = exported()
    content = lines(path)
    del content[line_of(path, 7)]
    assert bad_seq(rewrite(path, content), signing_key) == 7


def test_reordered_records_name_the_first_out_of_place(log_of_15, exported, signing_key) -> None:
    path = exported()
    content = lines(path)
    a, b = line_of(path, 7), line_of(path, 8)
    content[a], content[b] = content[b], content[a]
    assert bad_seq(rewrite(path, content), signing_key) == 7


def test_an_inserted_record_is_named(log_of_15, exported, signing_key) -> None:
    """A forged record slipped in as seq 7, well formed, with its own leaf."""
    path = exported()
    content = lines(path)
    body = b'{"actor":"U1","event":"request.approved","request":"R-00003","seq":7,"ts":"x"}'
    forged = jsonl_line(Record(7, leaf_hash(body).hex(), body))
    content.insert(line_of(path, 7), forged)
    assert bad_seq(rewrite(path, content), signing_key) == 7


def test_a_copied_record_is_named_where_it_was_slipped_in(log_of_15, exported, signing_key) -> None:
    path = exported()
    content = lines(path)
    content.insert(line_of(path, 9), content[line_of(path, 3)])
    assert bad_seq(rewrite(path, content), signing_key) == 9


def test_a_record_rewritten_with_its_leaf_fails_at_its_checkpoint(
    log_of_15, exported, signing_key
) -> None:
    """A forger who recomputes the leaf too: only the signed root catches it, which vouches
    for the interval as a whole, so its first record is named."""
    path = exported()
    content = lines(path)
    index = line_of(path, 7)
    old = parse_jsonl(content[index])
    assert isinstance(old, Record)
    body = old.body.replace(b"request.created", b"request.cancelled")
    content[index] = jsonl_line(Record(7, leaf_hash(body).hex(), body))
    assert bad_seq(rewrite(path, content), signing_key) == 5


def checkpoint_line(path: Path, size: int) -> int:
    for index, line in enumerate(lines(path)):
        if line.startswith(b'{"checkpoint"') and parse_jsonl(line).size == size:  # type: ignore[union-attr]
            return index
    raise AssertionError(size)


def test_a_forged_checkpoint_is_named(log_of_15, exported, signing_key) -> None:
    """Signed by another key: the records it should prove (5-9) are not proven."""
    path = exported()
    content = lines(path)
    index = checkpoint_line(path, 10)
    real = parse_jsonl(content[index])
    assert isinstance(real, Checkpoint)
    forged = Checkpoint(real.size, real.root, real.time, real.previous).signed(
        Ed25519PrivateKey.generate()
    )
    content[index] = jsonl_line(forged)
    assert bad_seq(rewrite(path, content), signing_key) == 5


def test_a_dropped_checkpoint_breaks_the_chain(log_of_15, exported, signing_key) -> None:
    path = exported()
    content = lines(path)
    del content[checkpoint_line(path, 10)]
    with pytest.raises(Tampered, match="chain broken") as failed:
        verify_file(rewrite(path, content), signing_key.public_key())
    assert failed.value.seq == 5


def test_a_checkpoint_signed_with_the_wrong_previous_breaks_the_chain(
    log_of_15, exported, signing_key
) -> None:
    path = exported()
    content = lines(path)
    index = checkpoint_line(path, 15)
    real = parse_jsonl(content[index])
    assert isinstance(real, Checkpoint)
    content[index] = jsonl_line(Checkpoint(15, real.root, real.time, "0" * 64).signed(signing_key))
    with pytest.raises(Tampered, match="chain broken") as failed:
        verify_file(rewrite(path, content), signing_key.public_key())
    assert failed.value.seq == 10


def test_a_record_appended_after_the_last_checkpoint_is_named(log_of_15, exported, signing_key) -> None:
    path = exported()
    content = lines(path)
    body = b'{"actor":"U1","event":"request.approved","request":"R-1","seq":15,"ts":"x"}'
    content.append(jsonl_line(Record(15, leaf_hash(body).hex(), body)))
    assert bad_seq(rewrite(path, content), signing_key) == 15


def test_csv_exports_verify_and_name_a_flipped_byte(log_of_15, exported, signing_key) -> None:
    path = exported("export.csv", form="csv")
    assert verify_file(path, signing_key.public_key()).size == 15
    content = lines(path)
    (index,) = [i for i, line in enumerate(content) if line.startswith(b"record,7,")]
    at = content[index].find(b"request.created")
    content[index] = content[index][:at] + b"X" + content[index][at + 1 :]
    assert bad_seq(rewrite(path, content), signing_key) == 7


def test_a_later_export_is_proven_to_extend_an_earlier_one(signed, exported, signing_key) -> None:
    signed(6)
    old_path = exported("old.jsonl")
    signed(7)
    signed(3)
    new_path = exported("new.jsonl")
    old = verify_file(old_path, signing_key.public_key())
    new = verify_file(new_path, signing_key.public_key(), snapshot_at=6)
    verify_extends(new_path, old_path, old, new)


def test_an_export_of_a_rewritten_history_does_not_extend_the_earlier(
    signed, exported, signing_key, redis, key_prefix: str
) -> None:
    """The log was rebuilt from seq 4 on with other records and re-signed (someone with the
    key and Redis): each export verifies alone, but not as the continuation of the first."""
    signed(6)
    old_path = exported("old.jsonl")
    signed(4)
    new_path = exported("new.jsonl")
    content = lines(new_path)
    rebuilt = _resigned(content, signing_key, change_seq=4)
    rewrite(new_path, rebuilt)
    old = verify_file(old_path, signing_key.public_key())
    new = verify_file(new_path, signing_key.public_key(), snapshot_at=6)
    with pytest.raises(Tampered, match="does not extend") as failed:
        verify_extends(new_path, old_path, old, new)
    assert failed.value.seq == 4


def _resigned(content: list[bytes], key: Ed25519PrivateKey, *, change_seq: int) -> list[bytes]:
    """The same export with record `change_seq` altered and every checkpoint re-made."""
    from app.audit.merkle import Frontier

    frontier, previous, out = Frontier(), "", []
    for line in content:
        item = parse_jsonl(line)
        if isinstance(item, Record):
            body = item.body
            if item.seq == change_seq:
                body = body.replace(b"request.created", b"request.approved")
            frontier.append(leaf_hash(body))
            out.append(jsonl_line(Record(item.seq, leaf_hash(body).hex(), body)))
        elif isinstance(item, Checkpoint):
            made = Checkpoint(item.size, frontier.root().hex(), item.time, previous).signed(key)
            previous = made.hash
            out.append(jsonl_line(made))
    return out


def test_a_later_export_starting_after_the_earlier_ends_cannot_prove_it(
    signed, exported, signing_key, audit
) -> None:
    """The earlier export ends at 6; the later one starts at 11 (--since): nothing holds the
    records between, so no proof can be made, and verify says how to get one."""
    signed(6)
    old_path = exported("old.jsonl")
    signed(5)
    signed(5)
    since = _time_of(audit, 11)
    new_path = exported("new.jsonl", since=since)
    old = verify_file(old_path, signing_key.public_key())
    new = verify_file(new_path, signing_key.public_key(), snapshot_at=6)
    assert new.first == 11
    with pytest.raises(Tampered, match="earlier --since"):
        verify_extends(new_path, old_path, old, new)


def _time_of(audit, seq: int):
    from datetime import UTC, datetime

    (entry,) = [e for e in audit.log.entries() if e.seq == seq]
    return datetime.fromtimestamp(int(entry.stream_id.split("-")[0]) / 1000, UTC)


def test_a_summary_line_when_nothing_is_wrong(signed, exported, signing_key) -> None:
    signed(1)
    assert verify_file(exported(), signing_key.public_key()).line().startswith("ok: records 0–0 (1)")


@pytest.mark.slow
def test_verify_of_100_000_records_runs(tmp_path: Path) -> None:
    """A long export (ten checkpoints) verifies in one streaming pass; no timing asserted
    here: the throughput is measured by benchmarks/audit_verify.py."""
    from tests.support.audit_export import write_export

    key = Ed25519PrivateKey.generate()
    path = tmp_path / "long.jsonl"
    write_export(path, 100_000, key)
    summary = verify_file(path, key.public_key())
    assert (summary.size, summary.checkpoints) == (100_000, 10)


def test_a_time_range_is_widened_to_the_checkpoints_that_prove_it(
    log_of_15, exported, signing_key, audit
) -> None:
    """--since the time of seq 6, --until that of seq 7: the export starts at the checkpoint at
    5 (with the frontier there) and ends with the one at 10, and verifies as it stands."""
    path = exported(since=_time_of(audit, 6), until=_time_of(audit, 7))
    items = [parse_jsonl(line) for line in lines(path)]
    assert [i.seq for i in items if isinstance(i, Record)] == [5, 6, 7, 8, 9]
    assert [i.size for i in items if isinstance(i, Checkpoint)] == [5, 10]
    summary = verify_file(path, signing_key.public_key())
    assert (summary.first, summary.size) == (5, 10)
