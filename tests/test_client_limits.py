"""What an enqueue refuses before anything is written: a payload over
``client.maxPayloadSize`` (``Client.enqueue``, ``enqueue_many``, the CLI), named in one
line with its size and the limit."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import cli, write_config

import bingo_core as bingo
from bingo_core.app import App
from bingo_core.errors import PayloadError

MIB = 1 << 20


async def handle(ctx: bingo.TaskContext, payload: dict[str, Any]) -> None:
    return None


class Plugin:
    @bingo.hookimpl
    def bingo_register_tasks(self, register: Any) -> None:
        register("p:blob", handle)


def blob(size: int) -> dict[str, str]:
    """A payload whose JSON is exactly ``size`` bytes."""
    return {"b": "x" * (size - len('{"b":""}'))}


def test_the_default_bound_is_one_mib(bingo_app: Callable[..., App], redis_client: Any) -> None:
    app = bingo_app(Plugin())
    assert app.settings.client.max_payload_size == MIB
    app.client.enqueue("p:blob", blob(MIB))
    with pytest.raises(PayloadError) as caught:
        app.client.enqueue("p:blob", blob(MIB + 1))
    assert str(caught.value) == (
        f"payload for p:blob is {MIB + 1} bytes of JSON, over client.maxPayloadSize ({MIB} bytes)"
    )
    assert redis_client.llen("bingo:{default}:pending") == 1


def test_a_200_mb_payload_is_refused(bingo_app: Callable[..., App], redis_client: Any) -> None:
    app = bingo_app(Plugin())
    with pytest.raises(PayloadError, match=r"is 200000000 bytes of JSON, over"):
        app.client.enqueue("p:blob", blob(200_000_000))
    assert redis_client.keys("bingo:*t:*") == []


def test_the_bound_counts_bytes_not_characters(bingo_app: Callable[..., App]) -> None:
    app = bingo_app(Plugin(), client={"maxPayloadSize": 100})
    with pytest.raises(PayloadError, match=r"is 128 bytes of JSON, over .* \(100 bytes\)"):
        app.client.enqueue("p:blob", {"b": "\u00e9" * 60})  # 2 bytes each in UTF-8


def test_enqueue_many_writes_nothing_when_one_is_too_large(
    bingo_app: Callable[..., App], redis_client: Any
) -> None:
    app = bingo_app(Plugin(), client={"maxPayloadSize": 1000})
    items = [("p:blob", blob(100))] * 10 + [("p:blob", blob(1001))]
    with pytest.raises(PayloadError, match=r"1001 bytes of JSON, over client.maxPayloadSize"):
        app.client.enqueue_many(items)
    assert redis_client.keys("bingo:*t:*") == []


def test_zero_means_no_bound(bingo_app: Callable[..., App]) -> None:
    app = bingo_app(Plugin(), client={"maxPayloadSize": 0})
    assert app.client.enqueue("p:blob", blob(2 * MIB)).state == "pending"


def test_the_cli_refuses_with_one_line_and_exit_2(
    tmp_path: Path, redis_url: str, redis_client: Any
) -> None:
    cfg = write_config(tmp_path / "bingo.yaml", redis_url, client={"maxPayloadSize": 100})
    payload = json.dumps({"path": str(tmp_path / "out"), "value": "v" * 200})
    out = cli(cfg, "enqueue", "test:record", "--payload", payload, check=False)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1
    assert "bytes of JSON, over client.maxPayloadSize (100 bytes)" in out.stderr
    assert redis_client.keys("bingo:*t:*") == []


def test_a_bad_bound_is_a_config_error(tmp_path: Path, redis_url: str) -> None:
    cfg = write_config(tmp_path / "bingo.yaml", redis_url, client={"maxPayloadSize": -1})
    out = cli(cfg, "enqueue", "test:record", "--payload", "{}", check=False)
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "client.maxPayloadSize" in out.stderr
