"""The wheel holds every package of the source tree: an editable install would hide one that
packaging drops (a fixed `packages = [...]` list once left every sub-package out)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support.paths import ROOT


@pytest.mark.slow
def test_the_wheel_holds_every_package_and_module_and_builds_without_warnings(
    tmp_path: Path,
) -> None:
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-v",  # the build backend's own output, where its warnings are
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    # `make run` builds it first: a newcomer's first screen holds no warning they cannot act on
    # (setuptools' deprecation box for a `project.license` table, once).
    assert "DeprecationWarning" not in built.stdout + built.stderr, built.stdout[-3000:]
    (wheel,) = tmp_path.glob("mysafe_bot-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    sources = {
        str(p.relative_to(ROOT))
        for top in ("app", "commands")
        for pattern in ("*.py", "*.lua", "*.po")  # the catalogs compile on first use
        for p in (ROOT / top).rglob(pattern)
        if "__pycache__" not in p.parts
    }
    assert any(s.endswith(".lua") for s in sources) and any(s.endswith(".po") for s in sources)
    assert sources <= shipped, sorted(sources - shipped)
