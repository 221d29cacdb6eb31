"""The docs and the project's config name only files and modules that exist: a module moved
or renamed (app/server.py became app/ops/serve.py) fails here, not in a reader's hands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.paths import ROOT

#: Prose and config that name the code's files: pages, deploy files, the build's config.
PAGES = sorted(
    {
        ROOT / "README.md",
        ROOT / "pyproject.toml",
        ROOT / "Makefile",
        ROOT / "Procfile",
        ROOT / ".pre-commit-config.yaml",
        ROOT / "benchmarks" / "README.md",
        *(ROOT / "docs").glob("*.md"),
        *(p for p in (ROOT / "deploy").rglob("*") if p.is_file() and p.name != ".env"),
    }
)
#: `app/ops/serve.py`, `tests/support/slack_fake.py`, `app/approvals/lua/transition.lua`…
PATH = re.compile(r"(?<![\w/.-])((?:app|tests|commands|benchmarks)/[\w/.-]*?\.(?:py|lua))\b")
#: `app.ops.serve.gunicorn_options`, `tests.support.slack_fake.SlackFake`… (in prose only).
MODULE = re.compile(r"`((?:app|tests|commands|benchmarks)(?:\.\w+)+)")


def _id(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def test_the_pages_are_found() -> None:
    names = {_id(p) for p in PAGES}
    assert {"pyproject.toml", "deploy/README.md", "docs/architecture.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=_id)
def test_every_file_path_named_exists(page: Path) -> None:
    named = set(PATH.findall(page.read_text(encoding="utf-8", errors="replace")))
    assert {path for path in named if not (ROOT / path).is_file()} == set()


def _resolves(dotted: str) -> bool:
    """A module (or package), or a name defined (or imported) in the longest module it starts
    with, or an attribute of that name."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        base = ROOT.joinpath(*parts[:end])
        source = base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
        if not source.is_file():
            continue
        rest = parts[end:]
        if not rest:
            return True
        defined = (
            rf"^\s*(?:def|class)\s+{rest[0]}\b|^\s*{rest[0]}\b[^=\n]*=|^from .* import .*\b{rest[0]}\b"
        )
        return len(rest) <= 2 and re.search(defined, source.read_text(), re.M) is not None
    return False


@pytest.mark.parametrize("page", [p for p in PAGES if p.suffix == ".md"], ids=_id)
def test_every_module_named_exists(page: Path) -> None:
    named = {m for m in MODULE.findall(page.read_text(encoding="utf-8")) if not m.endswith(".py")}
    assert {dotted for dotted in named if not _resolves(dotted)} == set()
