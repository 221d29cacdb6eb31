"""The passkey pages translate the ceremony's refusals as they answer (app.pages.refusals):
every sentence app.approvals.stepup raises must be one the pages know, or it would reach a
Portuguese reader in English."""

from __future__ import annotations

import ast
import inspect

from app.approvals import stepup
from app.i18n import speaking
from app.pages.refusals import FIXED, SAYING, translated


def raised() -> list[ast.expr]:
    """The first argument of every `StepUpRefused(...)` in the ceremony's module."""
    tree = ast.parse(inspect.getsource(stepup))
    return [
        node.args[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "StepUpRefused" and node.args
    ]


def test_every_refusal_the_ceremony_raises_is_one_the_pages_translate() -> None:
    starts = {start for start, _ in SAYING}
    for sentence in raised():
        if isinstance(sentence, ast.Constant):
            assert sentence.value in FIXED, sentence.value
        else:
            assert isinstance(sentence, ast.JoinedStr)
            first = sentence.values[0]
            assert isinstance(first, ast.Constant) and first.value in starts, ast.unparse(sentence)
    assert stepup.StepUpRefused.user_message in FIXED


def test_a_refusal_is_translated_around_the_libraries_own_words() -> None:
    with speaking("pt-BR"):
        assert translated("The passkey check failed: Invalid signature.") == (
            "A verificação da passkey falhou: Invalid signature."
        )
        assert translated("This link has expired: go back to Slack for a new one.") == (
            "Este link expirou: volte ao Slack para pedir um novo."
        )
        assert translated("Something nobody marked.") == "Something nobody marked."
