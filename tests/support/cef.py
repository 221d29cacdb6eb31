"""A strict CEF (version 0) parser for the tests: what a SIEM's parser must make of a line.

Seven header fields separated by unescaped `|` (escapes `\\|` and `\\\\` only), then an
extension of `key=value` pairs separated by spaces, where a value runs to the next ` key=`
and may escape `\\=`, `\\\\`, `\\n` and `\\r` only. Anything else (a bare `=` in a value, an
unknown escape, a line break, a key that is not alphanumeric) raises `ValueError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_KEY = re.compile(r"[A-Za-z0-9_]+")
_VALUE_ESCAPES = {"\\": "\\", "=": "=", "n": "\n", "r": "\r"}


@dataclass(frozen=True)
class CefEvent:
    version: int
    vendor: str
    product: str
    device_version: str
    signature: str
    name: str
    severity: int
    extension: dict[str, str]


def parse(line: str) -> CefEvent:
    if "\n" in line or "\r" in line:
        raise ValueError("a CEF line holds no line break")
    if not line.startswith("CEF:"):
        raise ValueError("no CEF: prefix")
    fields, rest = _header(line[4:])
    version, vendor, product, device_version, signature, name, severity = fields
    if version != "0":
        raise ValueError("CEF version 0 only")
    if not severity.isdigit() or not 0 <= int(severity) <= 10:
        raise ValueError("severity is 0-10")
    return CefEvent(
        0, vendor, product, device_version, signature, name, int(severity), _extension(rest)
    )


def _header(text: str) -> tuple[list[str], str]:
    fields: list[str] = []
    current: list[str] = []
    i = 0
    while len(fields) < 7:
        if i >= len(text):
            raise ValueError("fewer than 7 header fields")
        c = text[i]
        if c == "\\":
            if i + 1 >= len(text) or text[i + 1] not in "\\|":
                raise ValueError(f"bad header escape at {i}")
            current.append(text[i + 1])
            i += 2
        elif c == "|":
            fields.append("".join(current))
            current = []
            i += 1
        else:
            current.append(c)
            i += 1
    return fields, text[i:]


def _extension(text: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    # Split at each unescaped '=' to find keys: the key is the last word before it.
    tokens: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 >= len(text) or text[i + 1] not in _VALUE_ESCAPES:
                raise ValueError(f"bad extension escape at {i}")
            current.append("\\" + text[i + 1])
            i += 2
        elif c == "=":
            tokens.append("".join(current))
            current = []
            i += 1
        else:
            current.append(c)
            i += 1
    tokens.append("".join(current))
    if len(tokens) == 1:
        if tokens[0]:
            raise ValueError("an extension without key=value")
        return pairs
    key = tokens[0]
    for n, token in enumerate(tokens[1:], start=1):
        if n < len(tokens) - 1:
            value, sep, next_key = token.rpartition(" ")
            if not sep:
                raise ValueError("a value with an unescaped '='")
        else:
            value, next_key = token, ""
        if not _KEY.fullmatch(key):
            raise ValueError(f"bad key {key!r}")
        if key in pairs:
            raise ValueError(f"key {key!r} twice")
        pairs[key] = _unescape(value)
        key = next_key
    return pairs


def _unescape(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        if value[i] == "\\":
            out.append(_VALUE_ESCAPES[value[i + 1]])
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)
