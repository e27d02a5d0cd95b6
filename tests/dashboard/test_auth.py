"""Every refusal: no key, wrong key, the read-only key on each change, CSRF, the rate
limit, expired sessions, the key policy; and the security headers on every answer."""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

import pytest

from bingo_core.broker import DashboardStore
from bingo_core.dashboard.app import endpoints
from bingo_core.dashboard.security import (
    Auth,
    RateLimiter,
    body_limit,
    check_key_policy,
    is_loopback,
)
from bingo_core.errors import UsageError

from .conftest import ADMIN_KEY, READ_KEY, client, csrf_of, login

SAMPLE = {
    "queue": "default",
    "task_id": "0" * 32,
    "action": "archive",
    "state": "scheduled",
    "row_id": "1",
    "workflow_id": "wf-" + "0" * 32,
}
BODIES: dict[str, Any] = {
    "/queues/{queue}/tasks-bulk": {"action": "archive", "ids": ["x"]},
    "/schedules/run": {"key": "plugin:demo|every five"},
    "/crontab": {"name": "n", "type": "demo:free", "spec": "@every 1m"},
    "/crontab/check": {"name": "n", "type": "demo:free", "spec": "@every 1m"},
    "/crontab/{row_id}": {"name": "n", "type": "demo:free", "spec": "@every 1m"},
    "/enqueue": {"type": "demo:free", "payload": {}},
}


def mutations() -> list[tuple[str, str, Any]]:
    out = []
    for ep in endpoints():
        if ep.method == "GET":
            continue
        path = "/queue/api" + re.sub(r"\{(\w+)\}", lambda m: SAMPLE[m.group(1)], ep.path)
        out.append((ep.method, path, BODIES.get(ep.path)))
    return out


MUTATIONS = mutations()
PAGE_POSTS = [
    "/queue/queues/default/pause",
    "/queue/queues/default/resume",
    "/queue/queues/default/tasks/x/archive",
    "/queue/queues/default/bulk",
    "/queue/schedules/run",
    "/queue/crontab",
    "/queue/crontab/1",
    "/queue/crontab/1/enable",
    "/queue/crontab/1/disable",
    "/queue/crontab/1/delete",
    "/queue/enqueue",
    "/queue/workflows/wf-0/cancel",
]


def test_every_api_mutation_is_in_the_list() -> None:
    assert len(MUTATIONS) >= 14
    assert {m for m, _, _ in MUTATIONS} == {"POST", "PUT", "DELETE"}


def test_no_key_api_is_401_json_naming_the_field(anon: Any) -> None:
    for path in ("/queue/api/overview", "/queue/api/servers", "/queue/api/openapi.json"):
        r = anon.get(path)
        assert r.status_code == 401
        assert r.json()["field"] == "Authorization"
    for method, path, body in MUTATIONS:
        r = anon.request(method, path, json=body)
        assert r.status_code == 401, (method, path)


def test_no_key_page_redirects_to_login(anon: Any) -> None:
    r = anon.get("/queue/schedules?q=a")
    assert r.status_code == 303
    assert r.headers["location"] == "/queue/login?next=%2Fqueue%2Fschedules%3Fq%3Da"
    assert anon.get("/queue/login").status_code == 200
    for path in PAGE_POSTS:
        assert anon.post(path, data={}).status_code in (401, 403), path


def test_wrong_bearer_is_401_then_429_after_five(web: Any) -> None:
    bad = client(web, "not-the-key")
    codes = [bad.get("/queue/api/overview").status_code for _ in range(7)]
    assert codes == [401] * 5 + [429] * 2
    r = bad.get("/queue/api/overview")
    assert int(r.headers["retry-after"]) >= 1
    assert r.json()["field"] == "Authorization"
    # the right key from the same address is refused too until the window has passed
    assert client(web, ADMIN_KEY).get("/queue/api/overview").status_code == 429


def test_wrong_login_is_rate_limited(web: Any) -> None:
    c = client(web)
    token = csrf_of(c.get("/queue/login").text)
    codes = [
        c.post("/queue/login", data={"key": "nope", "csrf_token": token}).status_code
        for _ in range(6)
    ]
    assert codes == [401] * 5 + [429]
    good = c.post("/queue/login", data={"key": ADMIN_KEY, "csrf_token": token})
    assert good.status_code == 429 and "try again in" in good.text


def test_rate_limit_is_per_address_and_forgets() -> None:
    limiter = RateLimiter(limit=2, window=60)
    limiter.failed("a")
    limiter.failed("a")
    assert limiter.retry_after("a") > 0
    assert limiter.retry_after("b") == 0
    limiter = RateLimiter(limit=1, window=0.0)
    limiter.failed("a")
    assert limiter.retry_after("a") == 0
    small = RateLimiter(limit=1, size=3)
    for name in "abcdef":
        small.failed(name)
    assert len(small._failures) == 3


def test_login_sets_a_strict_http_only_cookie_with_expiry(web: Any) -> None:
    c = client(web)
    token = csrf_of(c.get("/queue/login").text)
    r = c.post(
        "/queue/login", data={"key": ADMIN_KEY, "csrf_token": token, "next": "/queue/servers"}
    )
    assert r.status_code == 303 and r.headers["location"] == "/queue/servers"
    cookies = [v for k, v in r.headers.multi_items() if k == "set-cookie"]
    cookie = next(v for v in cookies if "bingo_session" in v)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/queue" in cookie
    assert "Max-Age=43200" in cookie
    assert c.get("/queue/servers").status_code == 200
    assert c.get("/queue/api/session").json() == {"role": "admin", "can_change": True}


def test_login_refuses_an_open_redirect(web: Any) -> None:
    c = client(web)
    token = csrf_of(c.get("/queue/login").text)
    for target in ("//evil.example/x", "https://evil.example", "/queue//evil", "/other"):
        r = c.post("/queue/login", data={"key": ADMIN_KEY, "csrf_token": token, "next": target})
        assert r.headers["location"] == "/queue", target


def test_login_needs_the_csrf_token(web: Any) -> None:
    c = client(web)
    c.get("/queue/login")
    assert c.post("/queue/login", data={"key": ADMIN_KEY}).status_code == 403
    assert c.post("/queue/login", data={"key": ADMIN_KEY, "csrf_token": "x.y"}).status_code == 403


def test_logout_ends_the_session(web: Any) -> None:
    c, token = login(web)
    r = c.post("/queue/logout", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/queue/login"
    assert c.get("/queue").status_code == 303


def test_session_expires(web: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import bingo_core.dashboard.security.keys as keys

    monkeypatch.setattr(keys, "SESSION_MAX_AGE", 1)
    c, _ = login(web)
    assert c.get("/queue").status_code == 200
    time.sleep(1.2)
    assert c.get("/queue").status_code == 303


def test_a_forged_or_foreign_session_is_refused(web: Any) -> None:
    c = client(web)
    c.cookies.set("bingo_session", secrets.token_urlsafe(32), path="/queue")
    assert c.get("/queue/api/overview").status_code == 401
    c.cookies.set("bingo_session", "garbage", path="/queue")
    assert c.get("/queue").status_code == 303


def test_csrf_is_checked_on_every_session_change(web: Any) -> None:
    c, token = login(web)
    for path in PAGE_POSTS:
        assert c.post(path, data={}).status_code == 403, path
        assert c.post(path, data={"csrf_token": "forged.token"}).status_code == 403, path
    for method, path, body in MUTATIONS:
        r = c.request(method, path, json=body)
        assert r.status_code == 403 and r.json()["field"] == "csrf_token", (method, path)
        r = c.request(method, path, json=body, headers={"X-CSRF-Token": token + "x"})
        assert r.status_code == 403, (method, path)
    ok = c.post("/queue/queues/default/pause", data={"csrf_token": token, "next": "/queue"})
    assert ok.status_code == 303
    api = c.post("/queue/api/queues/default/resume", headers={"X-CSRF-Token": token})
    assert api.status_code == 200 and api.json()["paused"] is False


def test_a_token_from_another_browser_is_refused(web: Any) -> None:
    _a, token_a = login(web)
    b, _ = login(web)
    assert b.post("/queue/queues/default/pause", data={"csrf_token": token_a}).status_code == 403


def test_bearer_needs_no_csrf(admin: Any) -> None:
    assert admin.post("/queue/api/queues/default/pause").json() == {
        "queue": "default",
        "paused": True,
    }


def test_read_only_key_sees_everything(reader: Any) -> None:
    for path in (
        "/queue",
        "/queue/schedules",
        "/queue/crontab",
        "/queue/servers",
        "/queue/plugins",
    ):
        r = reader.get(path)
        assert r.status_code == 200, path
        assert "read-only" in r.text
    assert reader.get("/queue/api/overview").status_code == 200


#: Posts that write nothing, which the read-only key may send.
DRY_RUNS = {("POST", "/queue/api/crontab/check")}


def test_read_only_key_changes_nothing(web: Any, reader: Any, app: Any) -> None:
    for method, path, body in MUTATIONS:
        if (method, path) in DRY_RUNS:
            continue
        r = reader.request(method, path, json=body)
        assert r.status_code == 403, (method, path)
        assert "read-only" in r.json()["error"]
    assert app.inspector.stats(["default"])[0].paused is False
    c, token = login(web, READ_KEY)
    for path in PAGE_POSTS:
        r = c.post(path, data={"csrf_token": token})
        assert r.status_code == 403, path
    assert c.get("/queue/api/session").json()["role"] == "read-only"
    assert c.post("/queue/logout", data={"csrf_token": token}).status_code == 303


HEADERS = {
    "content-security-policy": "script-src 'self'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def test_security_headers_on_every_answer(admin: Any, anon: Any) -> None:
    answers = [
        admin.get("/queue"),
        admin.get("/queue/api/overview"),
        admin.get("/queue/nope"),
        admin.get("/queue/api/nope"),
        admin.get("/queue/static/app.js"),
        anon.get("/queue/login"),
        anon.get("/queue/api/overview"),
        anon.get("/metrics"),
        anon.get("/healthz"),
        admin.get("/queue/charts/daily.svg"),
    ]
    for r in answers:
        for name, value in HEADERS.items():
            assert value in r.headers.get(name, ""), (r.url, name)
        assert "unsafe-inline" not in r.headers["content-security-policy"]
    assert admin.get("/queue").headers["cache-control"] == "no-store"


def test_no_inline_script_or_style_in_any_page(admin: Any) -> None:
    for path in (
        "/queue",
        "/queue/queues/default",
        "/queue/schedules",
        "/queue/crontab",
        "/queue/enqueue",
        "/queue/servers",
        "/queue/plugins",
        "/queue/redis",
    ):
        html = admin.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        assert " style=" not in html and "<style" not in html, path
        assert not re.search(r"\son[a-z]+=", html), path


def test_large_bodies_are_refused(app: Any, admin: Any) -> None:
    limit = body_limit(app.settings.client.max_payload_size)
    r = admin.post(
        "/queue/api/enqueue",
        content=b"{" + b" " * limit + b"}",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413 and r.json() == {
        "error": f"request body too large: at most {limit} bytes are accepted",
        "field": "body",
    }


def test_key_policy() -> None:
    for host in ("", "0.0.0.0", "10.1.2.3", "::", "example.com"):
        for key in ("", "change-me", "your-secret-key"):
            with pytest.raises(UsageError, match=r"set server\.key"):
                check_key_policy(host, key)
        check_key_policy(host, "a-real-secret-1234567890")
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert is_loopback(host)
        check_key_policy(host, "change-me")
        check_key_policy(host, "")


def test_empty_and_read_only_keys_never_match(app: Any) -> None:
    store = DashboardStore(app.broker)
    auth = Auth("admin-1", "", store)
    assert auth.role_for_key("") is None
    assert auth.role_for_key("admin-1") == "admin"
    assert Auth("admin-1", "ro-1", store).role_for_key("ro-1") == "read-only"


ROW = {"name": "n", "type": "demo:free", "spec": "@every 1m", "payload": "", "enabled": "1"}


def test_read_only_key_may_check_what_writes_nothing(web: Any, reader: Any, app: Any) -> None:
    body = {"name": "n", "type": "demo:free", "spec": "@every 1m"}
    r = reader.post("/queue/api/crontab/check", json=body)
    assert r.status_code == 200 and r.json()["ok"] is True
    assert reader.post("/queue/api/crontab", json=body).status_code == 403
    web.state.dash.store().add("kept", "demo:free", "@every 5m", None, 1)
    c, token = login(web, READ_KEY)
    for path in ("/queue/crontab", "/queue/crontab/1"):
        r = c.post(path, data={**ROW, "csrf_token": token, "do": "check"})
        assert r.status_code == 200 and "valid" in r.text, path
        for do in ("save", ["check", "save"], ["save", "check"], None):
            form = {**ROW, "csrf_token": token, **({"do": do} if do else {})}
            assert c.post(path, data=form).status_code == 403, (path, do)
        r = c.post(path, data={**ROW, "do": "check"})  # CSRF still holds
        assert r.status_code == 403 and "CSRF" in r.text
    enqueue = {"type": "demo:free", "mode": "raw", "payload_json": "{}", "csrf_token": token}
    r = c.post("/queue/enqueue", data={**enqueue, "do": "check"})
    assert r.status_code == 200 and "nothing was written" in r.text
    assert c.post("/queue/enqueue", data={**enqueue, "do": "enqueue"}).status_code == 403
    assert [r.name for r in web.state.dash.store().rows()] == ["kept"]
    assert app.inspector.stats(["default"])[0].pending == 0
