"""Structured logs: one JSON object per line (or `key=value` text for people).

Callers log an event name plus facts in `extra`; a field whose name says it is a secret is
replaced before it is written, so a careless `extra={"client_secret": …}` still leaks nothing.
"""

from __future__ import annotations

import json
import logging
import sys

from app.foundations.clock import utcnow

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
_SECRET_WORDS = ("secret", "password", "token", "authorization", "secret_key")


def safe_extra(facts: dict[str, object]) -> dict[str, object]:
    """`extra` for a log call: facts whose names clash with LogRecord's own get a `_` suffix."""
    return {(f"{k}_" if k in _STANDARD else k): v for k, v in facts.items()}


def _facts(record: logging.LogRecord) -> dict[str, object]:
    facts = {}
    for key, value in record.__dict__.items():
        if key in _STANDARD or key.startswith("_"):
            continue
        facts[key] = "***" if any(w in key.lower() for w in _SECRET_WORDS) else value
    return facts


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": utcnow().isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **_facts(record),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        facts = " ".join(f"{k}={v}" for k, v in _facts(record).items())
        text = f"{utcnow():%H:%M:%S} {record.levelname:<7} {record.getMessage()} {facts}".rstrip()
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def configure_logging(fmt: str = "json", level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # urllib3 logs full URLs with query strings at DEBUG; keep it quiet.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
