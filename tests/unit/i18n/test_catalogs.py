"""Every sentence the bot marks is in the Portuguese catalog, translated, with the same
placeholders; what a Portuguese speaker reads is Portuguese, an English speaker's English."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from marshmallow import fields

from app import text
from app.approvals.changes import Verb
from app.approvals.store import State
from app.foundations.durations import PERIOD_FORM, describe
from app.i18n import PSEUDO, _, ngettext, resolve, speaking
from app.i18n.catalogs import catalog_path
from app.i18n.marks import FIELD_ERRORS, FIELD_LABELS, KIND_LABELS, STATES, VERBS
from app.i18n.marks import PERIOD_FORM as MARKED_PERIOD_FORM
from app.i18n.pseudo import pseudo
from app.mysafe.models import Kind
from app.mysafe.schemas import HTTP_METHODS
from app.slack.command_text import parse
from commands.help import help_text
from commands.parser import CommandError

ROOT = Path(__file__).resolve().parents[3]
PLACEHOLDER = re.compile(r"\{(\w*)\}")


def catalog() -> dict[object, object]:
    with catalog_path("pt_BR").open("rb") as po:
        return {m.id: m.string for m in read_po(po, locale="pt_BR") if m.id}


def extracted() -> set[object]:
    found: set[object] = set()
    for folder in ("app", "commands"):
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / folder, method_map=[("**.py", "python")]
        ):
            found.add(message)
    return found


def test_extraction_finds_no_sentence_missing_from_the_catalog() -> None:
    missing = extracted() - set(catalog())
    assert missing == set(), "run `make messages` and translate the new sentences"


@pytest.mark.parametrize("message", sorted(catalog(), key=str))
def test_every_sentence_has_portuguese_with_the_same_placeholders(message: object) -> None:
    translated = catalog()[message]
    sources = message if isinstance(message, tuple) else (message,)
    forms = translated if isinstance(translated, tuple) else (translated,)
    assert all(forms), f"no translation for {message!r}"
    wanted = set(PLACEHOLDER.findall(sources[-1]))
    for form in forms:
        assert set(PLACEHOLDER.findall(form)) == wanted, (message, form)


def test_sentences_marked_elsewhere_are_the_ones_their_modules_show() -> None:
    assert set(KIND_LABELS) == {kind.label for kind in Kind}
    assert set(FIELD_LABELS) == set(text.FIELD_LABELS.values())
    assert MARKED_PERIOD_FORM == PERIOD_FORM
    assert set(VERBS) == {verb.value for verb in Verb}
    defaults = {
        fields.Field.default_error_messages["required"],
        fields.Field.default_error_messages["null"],
        fields.Url.default_error_messages["invalid"],
        fields.String.default_error_messages["invalid"],
        "must be one of " + ", ".join(HTTP_METHODS),
    }
    assert defaults <= set(FIELD_ERRORS)
    assert set(STATES) == {state.value for state in State}


def test_slack_locales_choose_our_language_and_others_fall_back_to_the_workspace() -> None:
    assert resolve("pt-BR") == "pt_BR"
    assert resolve("pt-PT") == "pt_BR"
    assert resolve("en-US") == "en"
    assert resolve("es-ES", default="pt_BR") == "pt_BR"
    assert resolve(None, default="pt-BR") == "pt_BR"
    assert resolve("de-DE") == "en"


def test_counts_and_durations_are_said_as_the_language_says_them() -> None:
    template = ("{count} of {required} approvals", "{count} of {required} approvals")
    with speaking("pt-BR"):
        assert ngettext(*template, 2).format(count=1, required=2) == "1 de 2 aprovações"
        assert ngettext(*template, 1).format(count=0, required=1) == "0 de 1 aprovação"
        assert describe(23 * 3600 + 59 * 60) == "23 h 59 min"
        assert describe(36 * 3600) == "1 dia 12 h"
        assert describe(90 * 86400) == "90 dias"
    with speaking("en-US"):
        assert ngettext(*template, 1).format(count=0, required=1) == "0 of 1 approvals"
        assert describe(36 * 3600) == "1 d 12 h"


def test_a_portuguese_speaker_reads_refusals_and_help_in_portuguese() -> None:
    with speaking("pt-BR"), pytest.raises(CommandError) as refused:
        parse("compartilhar password abc with <@U1|a>")
    assert str(refused.value).startswith('"abc" não é um ID de item')
    with speaking("pt-BR"):
        page = help_text("compartilhar")
    said = "\n".join("".join(str(part) for part in line) for line in page.lines)
    assert "pede para compartilhar um item" in said and "Também: compartilhar" in said
    with speaking("en"):
        assert help_text("share").lines[1] == (
            'ask to share an entry with people or groups (group:"Name"), read-only unless you add '
            "edit; for a period (30m, 8h, 2d, 1d12h) the access ends by itself, and rotate-after "
            "also sets a new password then; an approver decides (emergency: break-glass, applied "
            "at once if you are on call and a policy rule allows it, then reviewed)",
        )


def test_the_pseudo_locale_is_longer_accented_and_keeps_placeholders_and_markup() -> None:
    source = "Request *{id}* is waiting in <#C1>: `/mysafe cancel {id}`"
    shown = pseudo(source)
    assert len(shown) >= 1.4 * len(source)
    assert "{id}" in shown and "<#C1>" in shown and "`/mysafe cancel {id}`" in shown
    assert "Réqüést" in shown
    with speaking(PSEUDO):
        assert _("Approve").startswith("Åpprövé")


def test_portuguese_modal_titles_and_buttons_fit_slack_without_a_cut() -> None:
    """Slack cuts nothing: a modal title over 24 characters is refused, and the modal
    builder would shorten it. Each title and submit label, at its longest, fits whole."""
    with speaking("pt-BR"):
        secret = _("API secret")
        titles = [
            _("Link your MySafe key"),
            _("Denied {id}").format(id="R-ABCDE"),
            _("Rotate {kind}").format(kind=secret),
            _("New {kind}").format(kind=secret),
            _("Change {id}").format(id="R-ABCDE"),
            _("Who has access"),
        ]
        submits = [_("Link"), _("Add reason"), _("Ask for approval"), _("Close"), _("Cancel")]
    assert [t for t in titles + submits if len(t) > 24] == []
