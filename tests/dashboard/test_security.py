"""The dashboard's secret and logins in Redis, CSRF bound to the login, the client address
behind trusted proxies, and bodies bounded in JSON depth: each through the served app."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from itsdangerous import BadSignature, Signer

from bingo_core.app import App
from bingo_core.config import load_settings
from bingo_core.dashboard.service import DashboardService
from bingo_core.errors import ConfigError
from bingo_core.testing import free_port

from .conftest import ADMIN_KEY, READ_KEY, client, csrf_of, login, make_app


def dashboard(app: App) -> Any:
    from bingo_core.dashboard import create_app

    return create_app(app)


@pytest.fixture
def second(bingo_redis_url: str, tmp_path: Path) -> Iterator[Any]:
    """Another daemon's dashboard on the same Redis, with the same keys."""
    other = make_app(bingo_redis_url, tmp_path)
    web = dashboard(other)
    yield web
    web.state.dash.close()
    other.close()


# -- the signing secret ---------------------------------------------------------------------
CANDIDATES = [b"admin", b"change-me", b"password", ADMIN_KEY.encode()[:-1], ADMIN_KEY.encode()]


def verifies(key: bytes, ro_key: bytes, nonce: str, token: str) -> bool:
    """Whether ``token`` checks out offline for a guessed ``key``: the derivation the
    dashboard once used (a secret made of the keys alone), signed the ways it could be."""
    derived = [
        hashlib.sha256(b"bingo-dashboard\0" + key + b"\0" + ro_key).digest(),
        hashlib.sha256(key).digest(),
        key,
    ]
    for secret in derived:
        try:
            Signer(secret, salt="bingo-csrf").unsign(token)
            return True
        except BadSignature:
            pass
        for message in (nonce.encode(), b"csrf-nonce\0" + nonce.encode()):
            if hmac.compare_digest(token, hmac.new(secret, message, hashlib.sha256).hexdigest()):
                return True
    return False


def test_nothing_the_login_page_gives_verifies_a_guessed_key(web: Any) -> None:
    anon = client(web)
    page = anon.get("/queue/login")
    assert page.status_code == 200
    nonce, token = anon.cookies["bingo_csrf"], csrf_of(page.text)
    for key in CANDIDATES:
        assert not verifies(key, READ_KEY.encode(), nonce, token), key
    # and the token is still what the login form needs
    r = anon.post("/queue/login", data={"key": ADMIN_KEY, "csrf_token": token, "next": "/queue"})
    assert r.status_code == 303


def test_every_daemon_shares_the_secret_and_the_logins(web: Any, second: Any) -> None:
    c, token = login(web)
    other = client(second)
    other.cookies.set("bingo_session", c.cookies["bingo_session"], path="/queue")
    assert other.get("/queue").status_code == 200
    assert csrf_of(other.get("/queue").text) == token
    r = other.post("/queue/queues/default/pause", data={"csrf_token": token, "next": "/queue"})
    assert r.status_code == 303
    # a restart with the same keys keeps the secret, so the login goes on
    assert c.get("/queue").status_code == 200


def test_a_key_change_ends_every_session(
    bingo_redis_url: str, tmp_path: Path, web: Any, app: App
) -> None:
    c, _ = login(web)
    reader, _ = login(web, READ_KEY)
    changed = make_app(bingo_redis_url, tmp_path, **{"server.key": ADMIN_KEY + "-new"})
    new_web = dashboard(changed)
    try:
        moved = client(new_web)
        moved.cookies.set("bingo_session", c.cookies["bingo_session"], path="/queue")
        assert moved.get("/queue/api/session").status_code == 401
        # ended in Redis: the daemon still running with the old keys refuses them too
        assert c.get("/queue/api/session").status_code == 401
        assert reader.get("/queue/api/session").status_code == 401
        assert c.get("/queue").status_code == 303
        fresh, _ = login(new_web, ADMIN_KEY + "-new")
        assert fresh.get("/queue/api/session").json()["role"] == "admin"
    finally:
        new_web.state.dash.close()
        changed.close()


# -- logins ----------------------------------------------------------------------------------
def test_the_cookie_carries_only_a_random_id(web: Any) -> None:
    c, _ = login(web)
    value = c.cookies["bingo_session"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", value)
    again, _ = login(web)
    assert again.cookies["bingo_session"] != value


def test_logout_ends_a_copied_session(web: Any) -> None:
    c, token = login(web)
    copy = client(web)
    copy.cookies.set("bingo_session", c.cookies["bingo_session"], path="/queue")
    assert copy.get("/queue/api/session").json()["role"] == "admin"
    assert c.post("/queue/logout", data={"csrf_token": token}).status_code == 303
    assert copy.get("/queue/api/session").status_code == 401
    assert copy.get("/queue").status_code == 303


def test_redis_out_of_reach_is_one_line(bingo_redis_url: str, tmp_path: Path) -> None:
    port = free_port()
    app = make_app(bingo_redis_url, tmp_path, **{"redis.url": f"redis://127.0.0.1:{port}/0"})
    web = dashboard(app)
    try:
        r = client(web).get("/queue/api/session")
        assert r.status_code == 503
        assert "\n" not in r.json()["error"] and str(port) in r.json()["error"]
        assert client(web).get("/queue/login").status_code == 503
        # a Bearer key needs neither the secret nor a login: its refusal is still 401
        assert client(web, "wrong").get("/queue/api/session").status_code == 401
    finally:
        web.state.dash.close()
        app.close()


# -- CSRF --------------------------------------------------------------------------------------
def test_the_csrf_token_is_bound_to_the_session(web: Any) -> None:
    a, token_a = login(web)
    b, token_b = login(web)
    assert token_a != token_b
    # b carries a's CSRF cookie and token: still refused, the token is not b's login's
    b.cookies.set("bingo_csrf", a.cookies["bingo_csrf"], path="/queue")
    r = b.post("/queue/queues/default/pause", data={"csrf_token": token_a})
    assert r.status_code == 403
    r = b.post("/queue/api/queues/default/pause", headers={"X-CSRF-Token": token_a})
    assert r.status_code == 403 and r.json()["field"] == "csrf_token"
    # the login form's token (made for the cookie's nonce) is no good after logging in
    login_token = csrf_of(client(web).get("/queue/login").text)
    r = b.post("/queue/api/queues/default/pause", headers={"X-CSRF-Token": login_token})
    assert r.status_code == 403
    r = b.post("/queue/api/queues/default/pause", headers={"X-CSRF-Token": token_b})
    assert r.status_code == 200


# -- the client address ------------------------------------------------------------------------
def login_attempts(app: App, tries: list[tuple[str, str]]) -> list[int]:
    """Log in through the served dashboard once per (key, X-Forwarded-For); the statuses."""

    async def run() -> list[int]:
        service = DashboardService(app, serve=True)
        try:
            await service.start(strict=True)
            base = service.url.removesuffix("/queue")
            statuses = []
            async with httpx.AsyncClient(base_url=base) as http:
                token = csrf_of((await http.get("/queue/login")).text)
                for key, forwarded in tries:
                    r = await http.post(
                        "/queue/login",
                        data={"key": key, "csrf_token": token, "next": "/queue"},
                        headers={"X-Forwarded-For": forwarded},
                    )
                    statuses.append(r.status_code)
            return statuses
        finally:
            await service.stop()
            await app.aclose()

    return asyncio.run(run())


def test_x_forwarded_for_does_not_escape_the_login_limit(
    bingo_redis_url: str, tmp_path: Path
) -> None:
    addr = f"127.0.0.1:{free_port()}"
    app = make_app(bingo_redis_url, tmp_path, **{"server.addr": addr})
    tries = [("wrong", f"10.9.8.{i}") for i in range(8)] + [(ADMIN_KEY, "10.9.8.200")]
    assert login_attempts(app, tries) == [401] * 5 + [429] * 4


def test_x_forwarded_for_is_honoured_from_a_trusted_proxy(
    bingo_redis_url: str, tmp_path: Path
) -> None:
    addr = f"127.0.0.1:{free_port()}"
    app = make_app(
        bingo_redis_url,
        tmp_path,
        **{"server.addr": addr, "dashboard.trustedProxies": "10.0.0.0/8, 127.0.0.1"},
    )
    tries = [("wrong", "192.0.2.7")] * 6 + [
        (ADMIN_KEY, "192.0.2.7"),  # still locked out
        (ADMIN_KEY, "192.0.2.8"),  # another client behind the proxy
        (ADMIN_KEY, "192.0.2.7, 10.1.2.3"),  # through a second trusted proxy
        (ADMIN_KEY, "192.0.2.8, 192.0.2.7"),  # the nearest untrusted hop counts
    ]
    assert login_attempts(app, tries) == [401] * 5 + [429, 429, 303, 429, 429]


def test_trusted_proxies_are_checked(tmp_path: Path) -> None:
    ok = load_settings(None, env={}, overrides={"dashboard.trustedProxies": "10.0.0.1,::1/128"})
    assert ok.dashboard.trusted_proxies == ["10.0.0.1/32", "::1/128"]
    assert load_settings(None, env={}).dashboard.trusted_proxies == []
    with pytest.raises(ConfigError) as err:
        load_settings(None, env={}, overrides={"dashboard.trustedProxies": "10.0.0.1,proxy"})
    text = str(err.value)
    assert "dashboard.trustedProxies[1]" in text and "CIDR" in text and "\n" not in text


# -- body depth ----------------------------------------------------------------------------------
def nested(levels: int) -> str:
    return '{"type": "demo:free", "payload": {"x": ' + "[" * levels + "]" * levels + "}}"


def test_deeply_nested_json_is_a_400_naming_the_body(app: App, admin: Any) -> None:
    headers = {"content-type": "application/json"}
    for levels in (100_000, 70):
        r = admin.post("/queue/api/enqueue", content=nested(levels), headers=headers)
        assert r.status_code == 400, (levels, r.text)
        assert r.json() == {
            "error": "the body is nested deeper than 64 levels of arrays and objects",
            "field": "body",
        }
    assert app.inspector.stats(["default"])[0].pending == 0
    r = admin.post("/queue/api/enqueue", content=nested(60), headers=headers)
    assert r.status_code == 201, r.text


def test_deeply_nested_payload_in_the_form_is_a_400(web: Any) -> None:
    c, token = login(web)
    form = {
        "csrf_token": token,
        "type": "demo:free",
        "mode": "raw",
        "payload_json": json.dumps({"x": 1})[:-1] + ', "y": ' + "[" * 100_000 + "]" * 100_000 + "}",
        "do": "enqueue",
    }
    r = c.post("/queue/enqueue", data=form)
    assert r.status_code == 400
    assert "nested deeper than 64 levels" in r.text
