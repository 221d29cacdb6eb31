"""The locks are what every install uses (make, CI, the image), so they must say everything
pyproject.toml asks for, pin it exactly with hashes, and agree with each other: a dependency added
to pyproject.toml without `make lock` fails here, not on a fresh machine, and so does one removed
from pyproject.toml that the locks still pin for it."""

from __future__ import annotations

import re
import tomllib
from functools import cache

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.support.paths import ROOT

PYPROJECT_TEXT = (ROOT / "pyproject.toml").read_text()
PYPROJECT = tomllib.loads(PYPROJECT_TEXT)
RUNTIME_LOCK = ROOT / "requirements.lock"
DEV_LOCK = ROOT / "requirements-dev.lock"
_PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)")
#: The only upper bounds pyproject.toml sets, each where a major version is known to break: a cap
#: on a release nobody has seen keeps make lock from moving on, and the lock already holds the
#: version everything was tested with.
KNOWN_TO_BREAK = {"mcp": "2.x renamed and reshaped FastMCP's server API"}
#: How uv's `# via` lines name the project itself: a pin the project asks for directly.
_ASKED_BY_THE_PROJECT = "mysafe-bot (pyproject.toml)"


def _entries(lock_name: str) -> list[tuple[str, str, str]]:
    """Each package of a lock: its name, its pinned version, and its whole entry (hashes, `# via`)."""
    blocks = re.split(r"\n(?=\S)", (ROOT / lock_name).read_text())
    matched = [(_PIN.match(block), block) for block in blocks]
    return [(canonicalize_name(pin[1]), pin[2], block) for pin, block in matched if pin]


@cache
def pins(lock_name: str) -> dict[str, tuple[Version, tuple[str, ...]]]:
    """Each package of a lock: its exact version and its hashes."""
    return {
        name: (Version(version), tuple(re.findall(r"--hash=sha256:([0-9a-f]{64})", block)))
        for name, version, block in _entries(lock_name)
    }


def asked_for_by_the_project(lock_name: str) -> set[str]:
    """The packages a lock pins because pyproject.toml named them when it was made."""
    return {name for name, _, block in _entries(lock_name) if _ASKED_BY_THE_PROJECT in block}


def requirements(*extras: str, pyproject: dict | None = None) -> list[Requirement]:
    project = (pyproject or PYPROJECT)["project"]
    listed = list(project["dependencies"])
    for extra in extras:
        listed += project["optional-dependencies"][extra]
    return [Requirement(text) for text in listed]


def assert_pinned_within_ranges(lock_name: str, wanted: list[Requirement]) -> None:
    locked = pins(lock_name)
    for requirement in wanted:
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement} is not in {lock_name}: run make lock"
        version, _ = locked[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{lock_name} pins {name}=={version}, outside {requirement}: run make lock"
        )


def test_the_runtime_lock_pins_every_runtime_dependency_and_the_build_backend() -> None:
    assert_pinned_within_ranges("requirements.lock", requirements("build"))
    backend = [Requirement(text) for text in PYPROJECT["build-system"]["requires"]]
    assert_pinned_within_ranges("requirements.lock", backend)


def test_the_dev_lock_pins_everything_make_installs() -> None:
    extras = list(PYPROJECT["project"]["optional-dependencies"])
    assert_pinned_within_ranges("requirements-dev.lock", requirements(*extras))


def assert_nothing_pinned_for_a_dependency_gone(lock_name: str, wanted: list[Requirement]) -> None:
    named = {canonicalize_name(requirement.name) for requirement in wanted}
    stale = asked_for_by_the_project(lock_name) - named
    assert not stale, (
        f"{lock_name} pins {sorted(stale)} for pyproject.toml, which no longer asks: run make lock"
    )


def test_the_locks_pin_nothing_for_a_dependency_pyproject_no_longer_names() -> None:
    backend = [Requirement(text) for text in PYPROJECT["build-system"]["requires"]]
    assert_nothing_pinned_for_a_dependency_gone("requirements.lock", requirements("build") + backend)
    extras = list(PYPROJECT["project"]["optional-dependencies"])
    assert_nothing_pinned_for_a_dependency_gone("requirements-dev.lock", requirements(*extras))


def edited_pyproject(old: str, new: str) -> dict:
    """pyproject.toml as a change would leave it, with the locks left as they are."""
    assert old in PYPROJECT_TEXT
    return tomllib.loads(PYPROJECT_TEXT.replace(old, new, 1))


def test_a_dependency_added_without_make_lock_is_caught() -> None:
    added = edited_pyproject('"flask>=3.0",', '"flask>=3.0",\n    "left-pad>=1",')
    with pytest.raises(AssertionError, match="left-pad>=1 is not in requirements.lock"):
        assert_pinned_within_ranges("requirements.lock", requirements(pyproject=added))


def test_a_range_raised_past_the_pin_without_make_lock_is_caught() -> None:
    raised = edited_pyproject('"flask>=3.0",', '"flask>=99",')
    with pytest.raises(AssertionError, match=r"pins flask==.*, outside flask>=99"):
        assert_pinned_within_ranges("requirements.lock", requirements(pyproject=raised))


def test_a_dependency_removed_without_make_lock_is_caught() -> None:
    removed = edited_pyproject('"pyyaml>=6",', "")
    wanted = requirements("build", pyproject=removed)
    with pytest.raises(AssertionError, match=r"pins \['pyyaml'\] for pyproject.toml"):
        assert_nothing_pinned_for_a_dependency_gone("requirements.lock", wanted)


def test_upper_bounds_only_where_a_major_version_is_known_to_break() -> None:
    backend = [Requirement(text) for text in PYPROJECT["build-system"]["requires"]]
    everything = requirements(*PYPROJECT["project"]["optional-dependencies"]) + backend
    capping = {"<", "<=", "==", "===", "~="}
    capped = {
        canonicalize_name(requirement.name)
        for requirement in everything
        if any(spec.operator in capping for spec in requirement.specifier)
    }
    assert capped == set(KNOWN_TO_BREAK), "a cap says in KNOWN_TO_BREAK which major breaks"


def test_the_dev_lock_agrees_with_the_runtime_lock() -> None:
    dev = pins("requirements-dev.lock")
    for name, (version, hashes) in pins("requirements.lock").items():
        assert name in dev, f"{name} is in requirements.lock but not in requirements-dev.lock"
        assert dev[name] == (version, hashes), f"the two locks disagree on {name}"


def test_every_pin_carries_hashes_and_the_locks_say_how_to_refresh_them() -> None:
    for lock in (RUNTIME_LOCK, DEV_LOCK):
        locked = pins(lock.name)
        assert len(locked) > 20
        assert all(hashes for _, hashes in locked.values()), lock.name
        assert "make lock" in lock.read_text().split("\n", 3)[1], "the header names make lock"


def test_make_installs_only_from_the_lock_with_hashes() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("$(STAMP): ", 1)[1].split("\n\n", 1)[0]
    installs = [line.strip() for line in recipe.splitlines() if "pip install" in line]
    assert installs, "the venv recipe installs something"
    for line in installs:
        locked = "--require-hashes -r $(DEV_LOCK)" in line
        project_only = "--no-deps" in line and "--no-build-isolation" in line and line.endswith(" .")
        assert locked or project_only, f"installs from outside the lock: {line}"
    assert "\nlock: " in makefile, "make lock refreshes the locks"


def test_every_make_target_that_runs_the_venv_builds_it_from_the_lock_first() -> None:
    """make run, test, lint… each depend on the stamp, so a lock changed since the venv was made
    (a pull, a make lock) reinstalls from it before anything runs on the old versions."""
    makefile = (ROOT / "Makefile").read_text()
    targets = re.findall(r"^([a-z][\w-]*):[ \t]*([^\n=]*)\n((?:\t.*\n?)*)", makefile, re.MULTILINE)
    venv = re.compile(r"\$\((BIN|UV_COMPILE)\)")  # UV_COMPILE runs $(BIN)/uv
    using = {name: prerequisites.split() for name, prerequisites, body in targets if venv.search(body)}
    assert {"run", "test", "test-fast", "lint", "lock"} <= set(using)
    assert all("$(STAMP)" in prerequisites for prerequisites in using.values()), using
