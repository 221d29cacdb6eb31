"""A `requests.Session` that prepares a plain request without `requests`' merging.

Every call through `Session.request` merges the session's settings into the request's
(`merge_setting` for headers, params, auth and hooks, two cookie jars built and merged) before
preparing it. On Python 3.11 each merge checks its values against a runtime-checkable Protocol
(`requests._types.SupportsItems`), which walks the protocol's members on every check, and the
cookie jars are built even when nobody has a cookie: a large share of each MySafe and Slack
call's CPU in the share burst's profile. A plain request (the bot's only kind: no cookies, no
auth object, no session-wide params, no files, nothing from netrc; a listing's query
parameters are its own) is prepared here step by step, as `PreparedRequest.prepare` does, to
the same result; anything else is left to `requests`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from requests import PreparedRequest, Request, Session
from requests.cookies import RequestsCookieJar
from requests.sessions import merge_hooks
from requests.structures import CaseInsensitiveDict


class PlainSession(Session):
    def prepare_request(self, request: Request) -> PreparedRequest:
        url = request.url
        if url is None or not self._plain(request, str(url)):
            return super().prepare_request(request)
        prepared = PreparedRequest()
        prepared.prepare_method(request.method)
        prepared.prepare_url(url, _params(request.params))
        prepared.prepare_headers(self._headers(request))
        # What `prepare_cookies` leaves for an empty jar, without its mock request and header
        # scan: no Cookie header, and a jar for the cookies of a redirect.
        prepared._cookies = RequestsCookieJar()
        prepared.prepare_body(request.data, None, request.json)
        prepared.prepare_auth(None, url)  # credentials in the URL, as `requests` does
        prepared.prepare_hooks(merge_hooks(request.hooks, self.hooks))
        return prepared

    def _plain(self, request: Request, url: str) -> bool:
        """Nothing to merge but headers and hooks."""
        return not (
            self.cookies or request.cookies or self.auth or request.auth or self.params or request.files
        ) and self._without_netrc(url)

    def _without_netrc(self, url: str) -> bool:
        """Whether `requests` would read no credentials from a netrc file for `url`."""
        return not self.trust_env

    def _headers(self, request: Request) -> CaseInsensitiveDict[Any]:
        """The session's headers with the request's over them; a None removes one (as
        `merge_setting` does)."""
        headers: CaseInsensitiveDict[Any] = CaseInsensitiveDict()
        given: list[tuple[str, Any]] = [*self.headers.items(), *(request.headers or {}).items()]
        for name, value in given:
            if value is None:
                headers.pop(name, None)
            else:
                headers[name] = value
        return headers


def given_per_call(proxies: Any, stream: Any, verify: Any, cert: Any) -> bool:
    """Whether a call passed settings of its own, which `requests` must merge afresh."""
    return bool(proxies) or stream is not None or verify is not None or cert is not None


def _params(params: Any) -> Any:
    """The request's query parameters as `merge_setting` leaves them when the session has
    none: a mapping loses its None values, anything else is kept as given. None for none at
    all: `requests` encodes an empty mapping to the same URL, through a Protocol check."""
    if isinstance(params, Mapping):
        return {name: value for name, value in params.items() if value is not None} or None
    return params
