"""One ChangeSpec per verb: a verb added without its spec fails at import, never at apply."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from app.approvals import changes


def test_every_verb_has_exactly_one_spec() -> None:
    assert set(changes.SPECS) == set(changes.Verb)


def test_a_verb_added_without_its_spec_fails_at_import(tmp_path: Path) -> None:
    """`/mysafe disable` added to the Verb enum only: the module refuses to load."""
    source = Path(changes.__file__).read_text()
    marker = 'CREATE = "create"\n'
    assert marker in source
    patched = tmp_path / "changes_with_disable.py"
    patched.write_text(source.replace(marker, marker + '    DISABLE = "disable"\n', 1))
    spec = importlib.util.spec_from_file_location("changes_with_disable", patched)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["changes_with_disable"] = module
    try:
        with pytest.raises(ImportError, match="disable"):
            spec.loader.exec_module(module)
    finally:
        sys.modules.pop("changes_with_disable", None)
