"""Sentences written in modules that know nothing of languages (the MySafe client's kinds, the
field labels, the duration form), marked here so extraction puts them in the catalog. Where
they are shown, `_()` translates them; a test keeps this list equal to their source.
"""

from __future__ import annotations

from app.i18n import N_

#: `app.mysafe.models.Kind.label`.
KIND_LABELS = (N_("password"), N_("API secret"))
#: `app.text.FIELD_LABELS`, and the plain field names people read in refusals and cards.
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
#: `app.durations.PERIOD_FORM`.
PERIOD_FORM = N_("a duration such as 30m, 8h, 2d or 1d12h")
