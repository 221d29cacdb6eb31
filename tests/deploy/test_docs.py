"""The README and docs/ hold together: every relative link lands on a file (and a heading, when
it names one), every `make` target they tell people to run exists, and the README stays short."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
#: `make X` in inline code, or a line of a code block that starts with it.
MAKE = re.compile(r"`make ([\w.-]+)|^\s*make ([\w.-]+)", re.M)


def _slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return {_slug(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}


def _relative_links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return [t for t in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def test_there_are_docs_to_check() -> None:
    assert len(PAGES) > 10, PAGES


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in _relative_links(page):
        path, _, anchor = target.partition("#")
        found = (page.parent / path).resolve() if path else page
        if not found.exists():
            broken.append(f"{target}: no such file")
        elif anchor and found.suffix == ".md" and anchor not in _anchors(found):
            broken.append(f"{target}: no heading #{anchor} in {found.name}")
    assert broken == []


def _makefile_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text()
    return {name for line in re.findall(r"^([\w.\- ]+):(?!=)", makefile, re.M) for name in line.split()}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_make_target_named_exists(page: Path) -> None:
    named = {a or b for a, b in MAKE.findall(page.read_text(encoding="utf-8"))}
    assert named - _makefile_targets() == set()


def test_the_readme_is_short_and_keeps_its_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) < 200
    assert "make run" in readme and "make test" in readme
    assert "docs/development.md" in readme  # where the fast loop went


#: The sample policy's commands as docs/policy.md shows them, and what makes each runnable
#: here (explain is given the entry's tags instead of asking MySafe for them).
POLICY_COMMANDS = {
    "$ mysafe-bot policy check deploy/policy.example.yml": [],
    "$ mysafe-bot policy explain --entry password:312 --verb share --user U0ALICE": [
        "--tags",
        "db,prod",
        "--policy",
        "deploy/policy.example.yml",
    ],
}


def _shown_after(page: str, command: str) -> list[str]:
    """The lines docs show under `command`, up to the next command or the block's end."""
    lines = page.split(command + "\n", 1)[1].splitlines()
    return [line for line in itertools.takewhile(lambda x: not x.startswith(("$", "```")), lines)]


@pytest.mark.parametrize("command", POLICY_COMMANDS)
def test_the_policy_page_shows_what_the_commands_print_for_the_sample(
    command: str, tmp_path: Path
) -> None:
    """Each line shown is printed (a `…` stands for any text): the sample's rules and the
    page cannot drift apart (the page once counted 3 rules where the sample had 5)."""
    page = (ROOT / "docs" / "policy.md").read_text(encoding="utf-8")
    argv = [sys.executable, "-m", "app.ops.cli", *command.split()[2:], *POLICY_COMMANDS[command]]
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    run = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    printed = run.stdout.splitlines()
    shown = [line for line in _shown_after(page, command) if line.strip() != "…"]
    assert shown
    for line in shown:
        pattern = ".*".join(re.escape(part) for part in line.split("…"))
        assert any(re.fullmatch(pattern, out) for out in printed), f"not printed: {line}"
