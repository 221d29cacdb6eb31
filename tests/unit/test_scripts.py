"""Lua in one convention: every script is a file, `<package>/lua/<name>.lua`, whose comment on
top says what it does and its KEYS and ARGV; code loads it through the one
loader (`app.foundations.scripts.lua`), never as a string of its own; the wheel carries it; Redis compiles it."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

from app.foundations.scripts import lua
from tests.support.paths import ROOT

APP = ROOT / "app"
SCRIPTS = sorted(APP.rglob("lua/*.lua"))
#: The loaders: `app.foundations.scripts.lua(package, name)`, and the approvals' and audit log's own
#: names for it (`lua(name)`, `script(name)`), which call it.
LOADERS = {"lua", "script"}


def _id(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _header(text: str) -> list[str]:
    lines = text.splitlines()
    return lines[: next((i for i, line in enumerate(lines) if not line.startswith("--")), len(lines))]


def test_the_scripts_are_found() -> None:
    packages = {p.parent.parent.relative_to(ROOT).as_posix() for p in SCRIPTS}
    assert {"app/foundations", "app/jobs", "app/approvals", "app/audit", "app/webhooks"} <= packages
    assert len(SCRIPTS) >= 40


@pytest.mark.parametrize("path", SCRIPTS, ids=_id)
def test_each_script_says_what_it_does_and_its_keys_and_args_on_top(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    header = "\n".join(_header(text))
    body = text[len(header) :]
    assert header.startswith("-- "), "a script starts with a comment saying what it does"
    if "KEYS[" in body:
        assert "KEYS[1]" in header, "the header names the keys the script touches"
    if "ARGV" in body:
        assert "ARGV" in header, "the header names the arguments"


def _register_calls(tree: ast.AST) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "register_script"
    ]


@pytest.mark.parametrize("path", sorted(APP.rglob("*.py")), ids=_id)
def test_code_registers_only_scripts_read_from_their_files(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    assert "redis.call(" not in source, (
        "Lua belongs in a lua/*.lua file (see app/foundations/scripts.py)"
    )
    for call in _register_calls(ast.parse(source)):
        (argument,) = call.args
        assert isinstance(argument, ast.Call) and isinstance(argument.func, ast.Name | ast.Attribute)
        name = argument.func.id if isinstance(argument.func, ast.Name) else argument.func.attr
        assert name in LOADERS, ast.unparse(call)


def test_every_script_is_loaded_by_some_module() -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for p in APP.rglob("*.py"))
    named = set(re.findall(r"""\b(?:lua|script)\(\s*(?:"[\w.]+",\s*)?"(\w+)"\s*\)""", source))
    assert {p.stem for p in SCRIPTS} - named == set()


def test_the_wheel_carries_every_package_s_scripts() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    packages = {".".join(p.parent.parent.relative_to(ROOT).parts) for p in SCRIPTS}
    assert {p for p in packages if "lua/*.lua" not in data.get(p, [])} == set()


def test_the_loader_reads_a_package_s_script_once() -> None:
    assert lua("app.jobs", "queue_put") is lua("app.jobs", "queue_put")
    assert lua("app.foundations", "compare_and_delete").startswith("-- ")


def test_redis_compiles_every_script(redis) -> None:
    for path in SCRIPTS:
        assert len(redis.script_load(path.read_text(encoding="utf-8"))) == 40, _id(path)
