"""Which fields of each kind of entry hold secret values: what `rotate` and `create` may set,
and what an approval message only ever says "changed" of."""

from __future__ import annotations

from app.mysafe.models import Kind

#: Secret fields each kind has (what `rotate` and `create` may set).
SECRET_FIELDS_OF = {
    Kind.PASSWORD: ("password", "secret_key"),
    Kind.SECRET: ("client_secret",),
}
