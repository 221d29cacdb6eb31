"""Bolt's request, minus one misreading: a form body that merely *contains* "payload".

slack-bolt decides a form-encoded body is an interactivity payload when the text "payload"
appears anywhere in it (`slack_bolt.request.internals.parse_body`), then finds no `payload=`
field and reads the body as empty: a slash command such as `/mysafe share … reason "rotate the
payload key"` matches no listener and answers 404. This request reads such a form as the form
it is, and stays so when Bolt copies it for a lazy listener. The raw body is untouched, so
the signature is verified exactly as before.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from flask import Request
from slack_bolt.context.context import BoltContext
from slack_bolt.request import BoltRequest
from slack_bolt.request.internals import build_context, parse_body


def read_body(raw_body: str, content_type: str | None) -> dict[str, Any]:
    """The payload as Bolt reads it, except that a form merely containing "payload" is read
    as the form it is. The fast acks (`app.slack.intake`) and `FormSafeRequest` both read
    bodies here, so a job's body is the same whichever path took it."""
    body = parse_body(raw_body, content_type)
    if body or not raw_body or raw_body.startswith("{"):
        return body
    return _as_form(raw_body)


def _as_form(raw_body: str) -> dict[str, Any]:
    """A form Bolt read as empty because it mentions "payload": the form it is (a real,
    empty interactivity payload stays empty)."""
    form = dict(parse_qsl(raw_body, keep_blank_values=True))
    return {} if "payload" in form else form


class FormSafeRequest(BoltRequest):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.body or not self.raw_body or self.raw_body.startswith("{"):
            return
        body = _as_form(self.raw_body)  # Bolt has parsed it once already
        if body:
            self.body = body
            self.context = build_context(BoltContext(dict(self.context)), self.body)

    def to_copyable(self) -> BoltRequest:
        return FormSafeRequest(
            body=self.raw_body if self.mode == "http" else self.body,
            query=self.query,
            headers=self.headers,
            context=self.context.to_copyable(),
            mode=self.mode,
        )


def from_flask(req: Request) -> FormSafeRequest:
    """What `slack_bolt.adapter.flask.to_bolt_request` builds, as a `FormSafeRequest`."""
    return FormSafeRequest(
        body=req.get_data(as_text=True),
        query=req.query_string.decode("utf-8"),
        headers=dict(req.headers),
    )
