"""The locks are what every install uses (make, CI, the image), so they must say everything
pyproject.toml asks for, pin it exactly with hashes, and agree with each other: a dependency added
to pyproject.toml without `make lock` fails here, not on a fresh machine."""

from __future__ import annotations

import re
import tomllib
from functools import cache

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.support.paths import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
RUNTIME_LOCK = ROOT / "requirements.lock"
DEV_LOCK = ROOT / "requirements-dev.lock"
_PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)")


@cache
def pins(lock_name: str) -> dict[str, tuple[Version, tuple[str, ...]]]:
    """Each package of a lock: its exact version and its hashes."""
    found: dict[str, tuple[Version, tuple[str, ...]]] = {}
    for block in re.split(r"\n(?=\S)", (ROOT / lock_name).read_text()):
        match = _PIN.match(block)
        if match:
            hashes = tuple(re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
            found[canonicalize_name(match[1])] = (Version(match[2]), hashes)
    return found


def requirements(*extras: str, runtime: bool = True) -> list[Requirement]:
    project = PYPROJECT["project"]
    listed = list(project["dependencies"]) if runtime else []
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
