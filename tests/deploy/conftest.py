"""What a deployed test that fails leaves to read: CI keeps only the suite's output, so the
end of the bot's own log goes into the failure's report."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import pytest

#: Lines of the bot's log a failure's report shows.
TAIL = 120


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    bot = getattr(item, "funcargs", {}).get("demo")
    log = getattr(bot, "log", None)
    if report.when == "call" and report.failed and isinstance(log, Path) and log.exists():
        tail = log.read_text(errors="replace").splitlines()[-TAIL:]
        report.sections.append(("the bot's log, its last lines", "\n".join(tail)))
    return report
