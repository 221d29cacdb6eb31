"""CI and the fast loop stay what they promise: CI runs the checks and the whole suite and names
its slowest tests every time; `make test-fast` leaves out exactly the tests marked slow;
`make lint` and pre-commit run the same locked ruff over the same trees. A recipe edited
to skip a step, or a slow test that loses its mark, fails here rather than quietly costing
every engineer minutes (or CI its coverage)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import yaml

from tests.support.paths import ROOT

MAKEFILE = (ROOT / "Makefile").read_text()
#: The trees make lint and make format run over; pre-commit must cover the same.
CHECKED = ("app", "commands", "tests", "benchmarks")


def recipe(target: str) -> list[str]:
    """The command lines of one Makefile target, joined across backslashed line ends."""
    body = MAKEFILE.split(f"\n{target}: ", 1)[1].split("\n\n", 1)[0]
    lines = body.replace("\\\n", " ").splitlines()[1:]
    return [line.strip() for line in lines if line.startswith("\t")]


def pytest_options(target: str) -> list[str]:
    """What a target passes to pytest (the words after `-m pytest`)."""
    (line,) = [line for line in recipe(target) if "-m pytest" in line]
    words = shlex.split(line)
    return words[words.index("pytest") + 1 :]


def test_ci_runs_the_checks_then_the_whole_suite() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    steps = [line for line in script.splitlines() if line.startswith("make ")]
    assert steps == ["make lint", "make test"]
    assert "set -euo pipefail" in script, "a failed step fails CI"


def test_make_test_is_the_whole_suite_with_its_slowest_tests_named() -> None:
    options = pytest_options("test")
    assert "--durations=25" in options
    assert not {"-m", "-k", "--deselect", "-x"} & set(options), "CI runs every test"


def test_make_test_fast_leaves_out_the_slow_tests_and_nothing_else() -> None:
    options = pytest_options("test-fast")
    assert options[options.index("-m") + 1] == "not slow"
    assert not {"-k", "--deselect"} & set(options)


def test_make_lint_checks_the_format_as_well_as_the_rules_types_and_layers() -> None:
    lint = recipe("lint")
    for tool in ("ruff check", "ruff format --check"):
        (line,) = [line for line in lint if re.search(rf"/{tool}( |$)", line)]
        assert line.split(tool, 1)[1].split() == list(CHECKED), line
    assert any(line.endswith("/mypy") for line in lint)
    assert any(line.endswith("/lint-imports") for line in lint)


def test_pre_commit_runs_the_locked_ruff_check_fix_and_format() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    assert {repo["repo"] for repo in config["repos"]} == {"local"}, "nothing fetched past the lock"
    assert hooks["ruff-check"]["entry"].startswith(".venv/bin/ruff check --fix")
    assert hooks["ruff-format"]["entry"].startswith(".venv/bin/ruff format")
    for hook in hooks.values():
        assert hook["files"] == f"^({'|'.join(CHECKED)})/", hook["id"]


def selected_by_test_fast(*paths: str) -> list[str]:
    """The test ids `make test-fast` runs from these files (pytest's own collection)."""
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q"]
        + ["-m", "not slow", *paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert collected.returncode in (0, 5), collected.stdout + collected.stderr  # 5: none left
    return [line for line in collected.stdout.splitlines() if "::" in line]


def test_the_slow_marker_covers_deploy_the_cluster_the_browser_and_the_long_runs() -> None:
    left = selected_by_test_fast(
        "tests/deploy/test_lock.py",
        "tests/unit/jobs/test_consumer_stop.py",
        "tests/e2e/test_cluster_e2e.py",
        "tests/e2e/test_step_up_browser.py",
        "tests/e2e/test_time_bound_processes.py",
        "tests/unit/approvals/test_time_bound_properties.py",
    )
    assert left == [
        "tests/unit/jobs/test_consumer_stop.py::"
        "test_a_stop_ends_the_idle_read_at_once_instead_of_waiting_it_out[server]",
        "tests/unit/jobs/test_consumer_stop.py::"
        "test_a_stop_lets_the_running_job_finish_and_be_marked_done[server]",
        # The property test's variant where nobody dies: eight short examples, under a second.
        "tests/unit/approvals/test_time_bound_properties.py::"
        "test_access_is_the_base_and_the_highest_running_share_whatever_the_order[server]",
    ], (
        "deploy/, the cluster runs, the browser, the one-minute share and the big hypothesis run are slow"
    )
