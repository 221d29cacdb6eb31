"""The MySafe emulator keeps the vendor's contract (mysafe-api.md) over real HTTP."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
import requests

from app.sandbox.demo_data import demo_emulator
from app.sandbox.emulator import Emulator, EmulatorOptions, EmulatorServer

TOKEN_PATH = "/api/oauth2/token"
UNAUTHORIZED = {"message": "You are not authorized to access this resource."}


@pytest.fixture
def serve() -> Iterator[Callable[[Emulator], EmulatorServer]]:
    """Start servers on demand and stop them all at teardown."""
    servers: list[EmulatorServer] = []

    def start(emulator: Emulator) -> EmulatorServer:
        servers.append(EmulatorServer(emulator).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def mysafe() -> Emulator:
    emulator = Emulator()
    for name in ("pduarte", "alices", "bobm", "carol"):
        emulator.add_user(name, client_id=f"{name}-id", client_secret=f"{name}-secret")
    emulator.add_group("Ops", ["alices", "bobm"])
    return emulator


@pytest.fixture
def server(mysafe: Emulator, serve) -> EmulatorServer:
    return serve(mysafe)


def fetch_token(server: EmulatorServer, user: str, path: str = TOKEN_PATH) -> str:
    data = {
        "grant_type": "client_credentials",
        "client_id": f"{user}-id",
        "client_secret": f"{user}-secret",
    }
    answer = requests.post(server.url + path, data=data, timeout=5)
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


@pytest.fixture
def call(server: EmulatorServer) -> Callable[..., requests.Response]:
    """call(user, method, path, json=...) with a token fetched once per user."""
    tokens: dict[str, str] = {}

    def send(user: str, method: str, path: str, **kwargs) -> requests.Response:
        if user not in tokens:
            tokens[user] = fetch_token(server, user)
        headers = {"Authorization": f"Bearer {tokens[user]}"}
        kwargs.setdefault("timeout", 5)
        return requests.request(method, server.url + path, headers=headers, **kwargs)

    return send


def test_token_is_fetched_once_and_reused(server, mysafe, call):
    assert call("pduarte", "GET", "/api/mysafe/password").status_code == 200
    assert call("pduarte", "GET", "/api/mysafe/secretapi").status_code == 200
    assert len(mysafe.calls_to("POST", TOKEN_PATH)) == 1
    assert [c.user for c in mysafe.calls_to("GET", "/api/mysafe/")] == ["pduarte", "pduarte"]
    token = requests.post(
        server.url + TOKEN_PATH,
        timeout=5,
        data={
            "grant_type": "client_credentials",
            "client_id": "bobm-id",
            "client_secret": "bobm-secret",
        },
    )
    assert token.json()["token_type"] == "Bearer" and token.json()["expires_in"] == 3600


def test_token_endpoint_rejects_bad_requests(server, mysafe):
    url = server.url + TOKEN_PATH
    bad = {"grant_type": "client_credentials", "client_id": "bobm-id", "client_secret": "nope"}
    assert requests.post(url, data=bad, timeout=5).status_code == 401
    wrong_grant = dict(bad, grant_type="password", client_secret="bobm-secret")
    assert requests.post(url, data=wrong_grant, timeout=5).status_code == 400
    assert requests.get(url, timeout=5).status_code == 405
    mysafe.revoke_user("bobm")
    good = dict(bad, client_secret="bobm-secret")
    assert requests.post(url, data=good, timeout=5).json()["error"] == "invalid_client"


def test_basic_auth_install_on_iso_path(serve):
    emulator = Emulator(
        EmulatorOptions(token_path="/iso/oauth2/token", basic_auth=True, lowercase_token_type=True)
    )
    emulator.add_user("pduarte", client_id="cid", client_secret="csecret")
    url = serve(emulator).url
    body = {"grant_type": "client_credentials", "client_id": "cid", "client_secret": "csecret"}
    assert requests.post(url + "/iso/oauth2/token", data=body, timeout=5).status_code == 401
    answer = requests.post(
        url + "/iso/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=("cid", "csecret"),
        timeout=5,
    )
    assert answer.json()["token_type"] == "bearer"
    assert requests.post(url + TOKEN_PATH, data=body, timeout=5).status_code == 404


def test_gateway_answers_401_without_token_and_404_for_unknown_paths(server):
    answer = requests.get(server.url + "/api/mysafe/password", timeout=5)
    assert (answer.status_code, answer.json()) == (401, UNAUTHORIZED)
    bogus = requests.get(
        server.url + "/api/mysafe/password", timeout=5, headers={"Authorization": "Bearer forged"}
    )
    assert bogus.status_code == 401
    missing = requests.get(server.url + "/api/nothing", timeout=5)
    assert missing.json() == {"message": "No route matched with those values"}


def test_create_then_get_password_in_vendor_shapes(call, mysafe):
    created = call(
        "pduarte",
        "POST",
        "/api/mysafe/password",
        json={
            "name": "Github",
            "username": "me",
            "password": "s3cret",
            "notes": "n",
            "secret_key": "JBSWY3DPEHPK3PXP",
            "users_allowed": [{"username": "alices"}],
        },
    )
    assert created.status_code == 201
    body = created.json()
    assert body["code"] == 201
    assert body["response"]["mensagem"] == "Password successfully registered"
    entity = body["password_entity"]
    assert entity["identifier"] == "1" and entity["note"] == "n" and "password" not in entity
    assert entity["users_allowed"] == [{"username": "alices", "can_edit": False}]
    assert entity["shared_error"] == []
    got = call("alices", "GET", "/api/mysafe/password/1").json()
    assert got["response"]["Message"] == "Success"
    assert got["password_entity"]["password"] == "s3cret"
    assert re.fullmatch(r"\d{6}", got["password_entity"]["token"])
    assert got["password_entity"]["users_allowed"] == [{"username": "alices", "can_write": False}]
    assert mysafe.get_password(1)["owner"] == "pduarte"


@pytest.mark.parametrize(
    ("user", "method", "path", "body", "code", "text"),
    [
        (
            "pduarte",
            "POST",
            "/api/mysafe/password",
            {"name": "x", "password": "p"},
            1001,
            "Parameter 'username' was not informed!",
        ),
        (
            "pduarte",
            "POST",
            "/api/mysafe/secretapi",
            {"name": "x", "url": "u", "client_id": "c"},
            1001,
            "Parameter 'client_secret' was not informed!",
        ),
        ("pduarte", "POST", "/api/mysafe/password", "{not json", 1001, "Invalid JSON"),
        (
            "pduarte",
            "POST",
            "/api/mysafe/secretapi",
            {"name": "x", "url": "u", "client_id": "c", "client_secret": "s", "identifier_code": "gcp"},
            1001,
            "'Identifier' already found in another API key of this user",
        ),
        ("pduarte", "GET", "/api/mysafe/password/99", None, 1005, "Password not found"),
        ("pduarte", "PUT", "/api/mysafe/secretapi/update/99", {}, 1005, "Api secret not found"),
        ("carol", "GET", "/api/mysafe/password/1", None, 1006, "User does not have access"),
        (
            "bobm",
            "PUT",
            "/api/mysafe/password/update/1",
            {"name": "y"},
            1006,
            "User does not have access",
        ),
        ("pduarte", "GET", "/api/mysafe/password/2", None, 1009, "Inactive password"),
        ("pduarte", "PUT", "/api/mysafe/password/update/2", {"name": "y"}, 1009, "Inactive password"),
        ("pduarte", "GET", "/api/mysafe/password/abc", None, 1010, "Unexpected identifier type"),
    ],
)
def test_business_errors_are_400_with_the_code_in_exception(
    mysafe, call, user, method, path, body, code, text
):
    mysafe.add_password(
        "pduarte", name="a", username="u", password="p", groups_allowed=[{"name": "Ops"}]
    )
    mysafe.set_active(
        "password", mysafe.add_password("pduarte", name="b", username="u", password="p"), False
    )
    mysafe.add_secret(
        "pduarte", name="s", url="u", client_id="c", client_secret="s", identifier_code="gcp"
    )
    kwargs = {"data": body} if isinstance(body, str) else {"json": body}
    answer = call(user, method, path, **kwargs)
    assert answer.status_code == 400
    envelope = answer.json()
    assert envelope["exception"] == {"code": code, "message": f"{code}: {text}", "detail": None}
    assert envelope["response"]["message"] == f"{code}: {text}"
    assert envelope["response"]["error"] is True and envelope["response"]["erro"] is True


def test_update_leaves_fields_and_replaces_sharing_lists(mysafe, call):
    ident = mysafe.add_password(
        "pduarte",
        name="a",
        username="u",
        password="p",
        tags="t",
        users_allowed=[{"username": "alices", "can_edit": True}],
        groups_allowed=[{"name": "Ops"}],
    )
    answer = call(
        "alices",
        "PUT",
        f"/api/mysafe/password/update/{ident}",
        json={"password": "new", "users_allowed": [{"username": "carol"}]},
    )
    assert answer.status_code == 200
    assert answer.json()["response"]["message"] == "Password successfully updated"
    stored = mysafe.get_password(ident)
    assert (stored["password"], stored["tags"], stored["name"]) == ("new", "t", "a")
    assert stored["users_allowed"] == [{"username": "carol", "can_edit": False}]
    assert stored["groups_allowed"] == [{"name": "Ops", "can_edit": False}]
    call("pduarte", "PUT", f"/api/mysafe/password/update/{ident}", json={"groups_allowed": []})
    assert mysafe.get_password(ident)["groups_allowed"] == []


def test_unknown_sharees_are_skipped_and_reported_in_shared_error(call, mysafe):
    answer = call(
        "pduarte",
        "POST",
        "/api/mysafe/secretapi",
        json={
            "name": "GCP",
            "url": "https://gcp.com",
            "client_id": "c",
            "client_secret": "s",
            "users_allowed": [{"username": "ghost"}, {"username": "bobm", "can_edit": True}],
            "groups_allowed": [{"name": "Nobody"}],
        },
    )
    entity = answer.json()["api_entity"]
    assert entity["client_secret"] == "s"
    assert entity["shared_error"] == ["User 'ghost' not found", "Group 'Nobody' not found"]
    assert mysafe.get_secret(1)["users_allowed"] == [{"username": "bobm", "can_edit": True}]


def test_group_share_grants_view_and_edit(mysafe, call):
    ident = mysafe.add_secret(
        "pduarte",
        name="s",
        url="u",
        client_id="c",
        client_secret="x",
        groups_allowed=[{"name": "Ops", "can_edit": True}],
        users_allowed=[{"username": "carol"}],
    )
    assert (
        call("bobm", "PUT", f"/api/mysafe/secretapi/update/{ident}", json={"notes": "ok"}).status_code
        == 201
    )
    got = call("carol", "GET", f"/api/mysafe/secretapi/{ident}").json()["api_secret_entity"]
    assert got["notes"] == "ok" and got["users_allowed"] == [{"name": "carol", "can_edit": False}]
    listed = call("carol", "GET", "/api/mysafe/secretapi").json()["api_secret_on_list"]
    assert listed == [
        {
            "identifier": "1",
            "name": "s",
            "need_justify": "0",
            "need_approval": "0",
            "can_view": True,
            "can_write": False,
        }
    ]


def test_disable_and_enable_with_vendor_messages(mysafe, call):
    ident = mysafe.add_password("pduarte", name="a", username="u", password="p")
    messages = [
        call("pduarte", "POST", f"/api/mysafe/password/{action}/{ident}").json()["response"]["message"]
        for action in ("inactive", "inactive")
    ]
    assert messages == ["Password successfully deactivated", "Password has already been deactivated"]
    assert call("pduarte", "GET", "/api/mysafe/password").json()["password_on_list"] == []
    assert mysafe.get_password(ident)["active"] is False
    again = call("pduarte", "POST", f"/api/mysafe/password/active/{ident}").json()
    assert again["response"]["message"] == "Password successfully activated"


def test_list_filters_by_substring_and_reports_can_write(mysafe, call):
    mysafe.add_password(
        "pduarte",
        name="Github",
        username="u",
        password="p",
        url="github.com",
        users_allowed=[{"username": "alices"}],
    )
    mysafe.add_password(
        "pduarte",
        name="Gmail",
        username="u",
        password="p",
        tags="mail",
        users_allowed=[{"username": "alices", "can_edit": True}],
    )
    names = call("alices", "GET", "/api/mysafe/password", params={"name": "g"}).json()
    assert [(i["name"], i["can_write"]) for i in names["password_on_list"]] == [
        ("Github", False),
        ("Gmail", True),
    ]
    tagged = call("alices", "GET", "/api/mysafe/password", params={"tag": "mai"}).json()
    assert [i["identifier"] for i in tagged["password_on_list"]] == ["2"]


def test_v3_variants_of_the_envelope(serve):
    emulator = Emulator(
        EmulatorOptions(
            secret_update_status=200, capital_message=True, omit_code=True, sharing_key_variants=False
        )
    )
    emulator.add_user("pduarte", client_id="cid", client_secret="cs")
    ident = emulator.add_secret("pduarte", name="s", url="u", client_id="c", client_secret="x")
    url = serve(emulator).url
    token = requests.post(
        url + TOKEN_PATH,
        timeout=5,
        data={"grant_type": "client_credentials", "client_id": "cid", "client_secret": "cs"},
    )
    headers = {"Authorization": "Bearer " + token.json()["access_token"]}
    answer = requests.put(
        f"{url}/api/mysafe/secretapi/update/{ident}", json={"tags": "t"}, headers=headers, timeout=5
    )
    assert answer.status_code == 200 and "code" not in answer.json()
    assert answer.json()["response"]["Message"] == "Api secret updated successfully"
    assert "mensagem" not in answer.json()["response"]


def test_injected_502_with_text_body_then_normal_service(mysafe, call):
    mysafe.inject(status=502, body="bad gateway", method="GET", path_prefix="/api/mysafe/password")
    failed = call("pduarte", "GET", "/api/mysafe/password")
    assert (failed.status_code, failed.text) == (502, "bad gateway")
    assert failed.headers["Content-Type"].startswith("text/plain")
    assert call("pduarte", "GET", "/api/mysafe/password").status_code == 200


def test_injected_delay_provokes_a_client_timeout(mysafe, call):
    mysafe.inject(status=0, delay=0.3, path_prefix="/api/mysafe/secretapi")
    with pytest.raises(requests.Timeout):
        call("pduarte", "GET", "/api/mysafe/secretapi", timeout=0.05)
    assert len(mysafe.calls_to("GET", "/api/mysafe/secretapi")) == 1


def test_expired_tokens_get_gateway_401_until_refetched(server, mysafe, call):
    assert call("pduarte", "GET", "/api/mysafe/password").status_code == 200
    mysafe.expire_tokens()
    stale = call("pduarte", "GET", "/api/mysafe/password")
    assert (stale.status_code, stale.json()) == (401, UNAUTHORIZED)
    fresh = requests.get(
        server.url + "/api/mysafe/password",
        timeout=5,
        headers={"Authorization": "Bearer " + fetch_token(server, "pduarte")},
    )
    assert fresh.status_code == 200


def test_demo_vault_lets_each_user_see_something(serve):
    emulator, keys, _ = demo_emulator(b"a seed")
    url = serve(emulator).url
    for client_id, client_secret in keys.values():
        token = requests.post(
            url + TOKEN_PATH,
            timeout=5,
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": client_secret,
            },
        ).json()["access_token"]
        listed = requests.get(
            url + "/api/mysafe/password", timeout=5, headers={"Authorization": f"Bearer {token}"}
        ).json()
        assert listed["password_on_list"]


def test_demo_keys_and_entries_are_the_same_on_every_start_with_one_seed():
    first, first_keys, first_samples = demo_emulator(b"kept under the data dir")
    again, again_keys, again_samples = demo_emulator(b"kept under the data dir")
    other_keys = demo_emulator(b"another machine")[1]
    assert first_keys == again_keys and first_samples == again_samples
    assert first.get_password(1) == again.get_password(1)
    assert all(other_keys[name] != key for name, key in first_keys.items())
