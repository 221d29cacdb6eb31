"""Sentences written in modules that know nothing of languages (the MySafe client's kinds, the
field labels, the duration form), marked here so extraction puts them in the catalog. Where
they are shown, `_()` translates them; a test keeps this list equal to their source.
"""

from __future__ import annotations

from app.i18n import N_

#: `app.mysafe.models.Kind.label`, and each kind in the plural.
KIND_LABELS = (N_("password"), N_("API secret"))
PLURALS = {"password": N_("passwords"), "secret": N_("API secrets")}
#: `app.foundations.field_labels.FIELD_LABELS`, and the plain field names people read in refusals
#: and cards.
FIELD_LABELS = (
    N_("TOTP seed"),
    N_("client secret"),
    N_("client ID"),
    N_("identifier code"),
    N_("shared with"),
    N_("shared with groups"),
)
#: A right as a change line names it (`DiffLine.before`/`after`).
RIGHTS = (N_("view"), N_("edit"))
#: `app.approvals.changes.Verb` values, as a request's sentence names what it does.
VERBS = (
    N_("share"),
    N_("unshare"),
    N_("update"),
    N_("rotate"),
    N_("create"),
    N_("disable"),
    N_("enable"),
    N_("reduce"),
)
#: `app.approvals.store.State` values, as a message's plain-text fallback says them.
STATES = (
    N_("pending"),
    N_("approved"),
    N_("applying"),
    N_("applied"),
    N_("failed"),
    N_("denied"),
    N_("expired"),
    N_("cancelled"),
)
#: A break-glass review's verdicts (`app.approvals.break_glass`), as its refusals name them.
VERDICTS = (N_("justified"), N_("not justified"))
#: Field errors a form shows as they come (`app.slack.views`): the MySafe schemas' and the
#: vault's own, and marshmallow's fixed ones.
FIELD_ERRORS = (
    N_("must be a base32 TOTP seed (letters A-Z, digits 2-7, '=')"),
    N_("at least one field must change"),
    N_("must be one of get, post, put, patch, delete, head, options"),
    N_("expected a MySafe username without spaces"),
    N_("expected a MySafe username without control or invisible characters"),
    N_("Missing data for required field."),
    N_("Field may not be null."),
    N_("Not a valid URL."),
    N_("Not a valid string."),
)
#: `app.foundations.durations.PERIOD_FORM`.
PERIOD_FORM = N_("a duration such as 30m, 8h, 2d or 1d12h")
