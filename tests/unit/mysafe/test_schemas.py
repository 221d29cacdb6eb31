"""Schemas: the vendor's own examples validate and load; bad bodies are refused by field."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.foundations import errors
from app.mysafe.models import Kind
from app.mysafe.schemas import CREATE_SCHEMAS, UPDATE_SCHEMAS, read_entry, read_list, validate_body
from app.sandbox.emulator import Emulator
from tests.support.paths import FIXTURES

EXAMPLES = json.loads((FIXTURES / "vendor_examples.json").read_text())


def _examples(role: str) -> list[dict]:
    return [
        pytest.param(e, id=f"{e['source'][:3]}-{e['kind']}-{i}")
        for i, e in enumerate(EXAMPLES)
        if e["role"] == role
    ]


@pytest.mark.parametrize("example", _examples("request"))
def test_vendor_example_requests_validate(example: dict) -> None:
    kind = Kind(example["kind"])
    for schema in (CREATE_SCHEMAS[kind], UPDATE_SCHEMAS[kind]):
        body = validate_body(schema, example["body"])
        assert body["name"] == example["body"]["name"]
        for share in body.get("users_allowed", []):
            assert set(share) == {"username", "can_edit"}


@pytest.mark.parametrize("example", _examples("answer"))
def test_vendor_example_answers_load(example: dict) -> None:
    kind = Kind(example["kind"])
    entity = next(example["body"][k] for k in ("password_entity", "api_entity") if k in example["body"])
    entry = read_entry(kind, entity)
    assert entry.identifier == int(entity["identifier"])
    assert entry.notes == entity.get("notes", entity.get("note"))
    assert [s.username for s in entry.users_allowed] == [u["username"] for u in entity["users_allowed"]]
    if entity.get("client_secret"):
        assert entry.has_client_secret and entity["client_secret"] not in repr(entry)


@pytest.mark.parametrize("example", _examples("error"))
def test_vendor_example_errors_map_to_their_class(
    example: dict, services, link, emulator: Emulator
) -> None:
    link("UERR", "erin")
    client = services.mysafe.session_for("UERR", services.vault.credentials("UERR"))
    emulator.inject(status=400, body=example["body"], method="GET")
    expected = errors.ERROR_CODES[example["body"]["exception"]["code"]]
    with pytest.raises(expected) as caught:
        client.get(Kind.PASSWORD, 1)
    assert caught.value.message == example["body"]["response"]["message"]


def test_read_side_accepts_every_variant() -> None:
    entry = read_entry(
        Kind.PASSWORD,
        {
            "identifier": "5",
            "name": "gmail",
            "note": "singular",
            "password": "x",
            "token": "123456",
            "users_allowed": [{"name": "alices", "can_write": "1"}, {"username": "bob"}],
            "groups_allowed": [{"name": "Ops", "can_write": True}],
            "shared_error": "",
            "something_new": {"ignored": True},
        },
    )
    assert entry.identifier == 5 and entry.notes == "singular" and entry.has_password
    assert [(s.username, s.can_edit) for s in entry.users_allowed] == [("alices", True), ("bob", False)]
    assert [(g.name, g.can_edit) for g in entry.groups_allowed] == [("Ops", True)]


@pytest.mark.parametrize(
    ("kind", "body", "field"),
    [
        (Kind.PASSWORD, {"username": "u", "password": "p"}, "name"),
        (
            Kind.PASSWORD,
            {"name": "n", "username": "u", "password": "p", "secret_key": "not base32!"},
            "secret_key",
        ),
        (Kind.PASSWORD, {"name": "n" * 256, "username": "u", "password": "p"}, "name"),
        (Kind.PASSWORD, {"name": "n", "username": "u", "password": "p", "colour": "red"}, "colour"),
        (
            Kind.PASSWORD,
            {"name": "n", "username": "u", "password": "p", "users_allowed": [{"can_edit": True}]},
            "users_allowed",
        ),
        (Kind.SECRET, {"name": "n", "url": "u", "client_id": "c"}, "client_secret"),
        (
            Kind.SECRET,
            {"name": "n", "url": "u", "client_id": "c", "client_secret": "s", "method": "FETCH"},
            "method",
        ),
    ],
)
def test_bad_create_bodies_name_the_field(kind: Kind, body: dict, field: str) -> None:
    with pytest.raises(errors.ValidationError) as caught:
        validate_body(CREATE_SCHEMAS[kind], body)
    assert field in caught.value.errors
    assert str(caught.value) != "p"


def test_update_needs_at_least_one_field() -> None:
    with pytest.raises(errors.ValidationError):
        validate_body(UPDATE_SCHEMAS[Kind.PASSWORD], {})


def test_secret_values_are_not_echoed_in_errors() -> None:
    with pytest.raises(errors.ValidationError) as caught:
        validate_body(
            CREATE_SCHEMAS[Kind.PASSWORD],
            {"name": "n", "username": "u", "password": "p", "secret_key": "hunter2hunter2!"},
        )
    assert "hunter2" not in str(caught.value) and "hunter2" not in json.dumps(caught.value.errors)


def test_totp_seed_is_normalised() -> None:
    body = validate_body(
        CREATE_SCHEMAS[Kind.PASSWORD],
        {"name": "n", "username": "u", "password": "p", "secret_key": "jbsw y3dp ehpk 3pxp"},
    )
    assert body["secret_key"] == "JBSWY3DPEHPK3PXP"


def test_threads_reading_at_once_each_get_their_own_entry() -> None:
    """The readers are made once and shared (`_entry_reader`): no read sees another's data,
    whatever the interleaving of sixteen threads."""

    def entity(n: int) -> dict:
        return {
            "identifier": str(n),
            "name": f"entry {n}",
            "password": "hunter2" if n % 2 else "",
            "users_allowed": [{"name": f"user{n}-{i}", "can_write": i % 2} for i in range(n % 5)],
        }

    def read(n: int) -> tuple[int, object, object]:
        kind = (Kind.PASSWORD, Kind.SECRET)[n % 2]
        entry = read_entry(kind, entity(n))
        (item,) = read_list(kind, [{"identifier": n, "name": f"item {n}", "can_edit": n % 3 == 0}])
        return n, entry, item

    with ThreadPoolExecutor(16) as pool:
        for n, entry, item in pool.map(read, range(2000)):
            assert (entry.identifier, entry.name, entry.has_password) == (n, f"entry {n}", bool(n % 2))
            assert entry.kind is item.kind is (Kind.PASSWORD, Kind.SECRET)[n % 2]
            assert [s.username for s in entry.users_allowed] == [f"user{n}-{i}" for i in range(n % 5)]
            assert (item.identifier, item.name, item.can_write) == (n, f"item {n}", n % 3 == 0)
