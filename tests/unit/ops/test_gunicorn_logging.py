"""gunicorn's access lines under `mysafe-bot serve`'s settings: none by default, and none of
their work done per request; an operator who asks for them gets them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace
from unittest import mock

import pytest
from gunicorn.config import Config

from app.ops import gunicorn_conf
from app.ops.serve import gunicorn_options


@pytest.fixture
def logging_restored() -> Iterator[None]:
    """gunicorn applies its logging config to the whole process: put it back afterwards."""
    names = ("", "gunicorn.error", "gunicorn.access")
    saved = {
        name: (logger.handlers[:], logger.level, logger.propagate)
        for name in names
        for logger in [logging.getLogger(name)]
    }
    yield
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


def serve_logger(**changed: object) -> gunicorn_conf.Logger:
    """The logger gunicorn builds from serve's options (with `changed` over them)."""
    config = Config()
    for name, value in {**gunicorn_options(host="127.0.0.1", port=0, workers=1), **changed}.items():
        config.set(name, value)
    logger_class = config.logger_class
    assert logger_class is gunicorn_conf.Logger
    return logger_class(config)


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def access_lines() -> list[logging.LogRecord]:
    """What reaches the `gunicorn.access` logger's handlers from now on."""
    kept = _Kept()
    logging.getLogger("gunicorn.access").addHandler(kept)
    return kept.records


def a_request() -> tuple[object, object, dict[str, str]]:
    response = SimpleNamespace(status="200 OK", headers=[], sent=2, response_length=2)
    request = SimpleNamespace(headers=[], method="POST", path="/slack/events", query="")
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/slack/events",
        "RAW_URI": "/slack/events",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "QUERY_STRING": "",
    }
    return response, request, environ


def test_serve_writes_no_access_line_and_builds_none(logging_restored: None) -> None:
    """Access lines are off (requests are counted in /metrics): gunicorn used to work out
    each one's fields anyway, only for its logger to drop them."""
    logger = serve_logger()
    written = access_lines()
    with mock.patch.object(gunicorn_conf.Logger, "atoms", side_effect=AssertionError("built")):
        logger.access(*a_request(), timedelta(milliseconds=1))
    assert written == []


def test_an_operator_who_turns_access_lines_on_gets_them(logging_restored: None) -> None:
    config = gunicorn_conf.log_config("json")
    config["loggers"]["gunicorn.access"]["level"] = "INFO"
    logger = serve_logger(logconfig_dict=config)
    written = access_lines()
    logger.access(*a_request(), timedelta(milliseconds=1))
    assert len(written) == 1
    assert "/slack/events" in written[0].getMessage()
