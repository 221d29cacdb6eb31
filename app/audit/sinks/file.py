"""`file:///PATH?max_bytes=N&keep=K`: OCSF events as JSON lines in a rotating file.

The file and its rotated copies (`PATH.1` … `PATH.K`, oldest last) are made 0600. A batch is
written whole and fsynced before the sink counts it taken, so what the position says is on disk.
A file that would pass `max_bytes` (default 100 MB) is rotated first; `keep` (default 10) copies
are kept, older ones deleted: archive them before they go.

Exactly once: a deliverer that died after the fsync, before its position moved, leaves the next
one to send that batch again; the file already ends with it, so the lines up to the file's last
one are not written again (the file holds each event once, without a SIEM's help). A line
torn by a crash mid-write is left on a line of its own, and the whole batch written after it.
"""

from __future__ import annotations

import os

from app.audit.log import Entry
from app.audit.sinks import ocsf
from app.audit.sinks.base import SinkError
from app.foundations.sink_urls import file_options

#: Bytes read from the end of the file to find its last line (an event is a few hundred bytes;
#: a last line longer than this is not recognised, and the batch is written whole).
TAIL = 65536


class FileSink:
    def __init__(self, url: str, *, batch: int = 1000) -> None:
        options = file_options(url)
        self.path, self.max_bytes, self.keep = options.path, options.max_bytes, options.keep
        self.name = f"file://{self.path}"
        self.batch = batch

    def send(self, entries: list[Entry]) -> None:
        lines = [ocsf.dumps(e) + b"\n" for e in entries]
        try:
            last = self._last_line()
            data = b"".join(lines[lines.index(last) + 1 :] if last in lines else lines)
            if not data:
                return  # all of it written already, by a deliverer that died before moving on
            if last == b"":
                data = b"\n" + data  # after a torn line, on a line of their own
            if self.path.exists() and self.path.stat().st_size + len(data) > self.max_bytes:
                self.rotate()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.fchmod(fd, 0o600)
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as error:
            raise SinkError(f"{self.name}: {error.strerror or type(error).__name__}") from error

    def _last_line(self) -> bytes | None:
        """The file's last line with its newline (the newest copy's, just after a rotation);
        b"" when a crash tore it (no newline at the end); None for no file yet."""
        for path in (self.path, self.path.with_name(f"{self.path.name}.1")):
            size = path.stat().st_size if path.exists() else 0
            if size:
                with path.open("rb") as file:
                    file.seek(max(0, size - TAIL))
                    tail = file.read()
                if not tail.endswith(b"\n"):
                    return b"" if path == self.path else None
                return tail[tail.rfind(b"\n", 0, -1) + 1 :]
        return None

    def rotate(self) -> None:
        """PATH → PATH.1 → … → PATH.keep (the oldest dropped)."""
        for n in range(self.keep, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{n}")
            newer = self.path if n == 1 else self.path.with_name(f"{self.path.name}.{n - 1}")
            if newer.exists():
                os.replace(newer, older)

    def close(self) -> None:
        pass
