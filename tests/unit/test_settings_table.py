"""Each setting is declared once (app.foundations.settings) and docs/configuration.md's table is rendered
from the declarations: the page and the code cannot disagree, and a setting added without
`make docs` fails here."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.foundations.settings import Need, Scope, Settings, declared
from app.foundations.settings_table import BEGIN, END, PAGE, main, rendered, rows


def test_the_docs_table_is_the_one_rendered_from_the_declarations() -> None:
    page = PAGE.read_text(encoding="utf-8")
    assert rendered(page) == page, "docs/configuration.md is out of date: run `make docs`"


def test_every_listed_setting_has_its_row_in_the_docs() -> None:
    page = PAGE.read_text(encoding="utf-8")
    listed = [spec.env for _, spec in declared() if spec.listed]
    assert len(rows()) == len(listed) > 50
    assert all(f"| `{name}` |" in page for name in listed)
    assert "| `MYSAFE_BOT_DEMO` |" not in page  # set by `serve` for the demo, never by hand


def test_a_page_missing_a_setting_fails_the_check_until_rendered_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "configuration.md"
    stale = PAGE.read_text(encoding="utf-8").replace(rows()[-1] + "\n", "")
    page.write_text(stale, encoding="utf-8")
    assert main(["--check", str(page)]) == 1
    assert "run `make docs`" in capsys.readouterr().err
    assert main([str(page)]) == 0
    assert main(["--check", str(page)]) == 0
    assert rows()[-1] in page.read_text(encoding="utf-8")


def test_a_page_without_the_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="no"):
        rendered(f"# Configuration\n{BEGIN}\nno end marker\n")
    assert END not in rendered(f"{BEGIN}\nold\n{END}").split(END, 1)[1]


def test_each_variable_is_declared_once_with_a_meaning() -> None:
    names = [spec.env for _, spec in declared()]
    assert len(names) == len(set(names))
    assert all(spec.doc and spec.kind.accepts for _, spec in declared())


def test_the_defaults_are_what_an_empty_environment_gives() -> None:
    """The declared default is the value read when the variable is unset."""
    settings = Settings.from_env({}, scope=Scope.NONE, dotenv=None)
    for field, spec in declared():
        if spec.need is Need.OPTIONAL:
            assert getattr(settings, field.name) == field.default, spec.env
