"""``dash_secret.lua`` and the dashboard's logins through ``DashboardStore`` on a real Redis."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bingo_core.app import App
from bingo_core.broker import DashboardStore


@pytest.fixture
def store(bingo_settings: Any) -> Iterator[DashboardStore]:
    app = App(bingo_settings)
    yield DashboardStore(app.broker)
    app.close()


def test_the_secret_is_replaced_only_if_unchanged(store: DashboardStore) -> None:
    assert store.secret() == ""
    assert store.swap_secret("", "first") == "first"
    assert store.secret() == "first"
    # another process stored "first" since this one read nothing: its value is kept
    assert store.swap_secret("", "mine") == "first"
    assert store.swap_secret("first", "second") == "second"
    assert store.secret() == "second"


def test_logins_start_end_and_expire(store: DashboardStore, redis_client: Any) -> None:
    store.start_session("ref1", "admin", 60)
    store.start_session("ref2", "read-only", 60)
    assert store.session_role("ref1") == "admin"
    assert 0 < redis_client.ttl("bingo:dashboard:session:ref1") <= 60
    store.end_session("ref1")
    assert store.session_role("ref1") is None
    assert store.session_role("ref2") == "read-only"
    redis_client.set("bingo:dashboard:sessionless", "kept")
    assert store.end_sessions() == 1
    assert store.session_role("ref2") is None
    assert redis_client.get("bingo:dashboard:sessionless") == "kept"
