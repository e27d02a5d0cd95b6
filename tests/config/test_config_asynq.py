"""The ``asynq`` section and the guard on Bingo's own prefix."""

from __future__ import annotations

from pathlib import Path

import pytest

from bingo_core.config import load_settings
from bingo_core.errors import ConfigError


@pytest.fixture(autouse=True)
def _no_config_in_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def _load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return load_settings(path, env={})


def _error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("prefix", ["asynq", "asynq:bingo", "asynq:"])
def test_asynq_prefix_is_refused(tmp_path: Path, prefix: str) -> None:
    assert _error(tmp_path, f"redis: {{prefix: '{prefix}'}}") == (
        f"config key redis.prefix: {prefix!r} is not valid: expected a prefix other than "
        "asynq: Asynq's own keys start with asynq: (name Asynq's queues under asynq.queues) "
        f"(in {tmp_path / 'c.yaml'})"
    )


def test_asynq_prefix_is_refused_from_the_environment() -> None:
    with pytest.raises(ConfigError, match=r"redis\.prefix: 'asynq' is not valid"):
        load_settings(None, env={"BINGO_REDIS__PREFIX": "asynq"})


@pytest.mark.parametrize("prefix", ["asynqx", "bingo", "my-asynq"])
def test_other_prefixes_load(tmp_path: Path, prefix: str) -> None:
    assert _load(tmp_path, f"redis: {{prefix: {prefix}}}").redis.prefix == prefix  # type: ignore[attr-defined]


def test_asynq_queues_beside_the_default_worker_queues(tmp_path: Path) -> None:
    s = _load(tmp_path, "asynq: {queues: {default: 3, critical: 6}}")
    assert s.asynq.queues == {"default": 3, "critical": 6}  # type: ignore[attr-defined]
    # the default worker queue gives way: "default" is an Asynq queue now
    assert s.worker.queues == {}  # type: ignore[attr-defined]
    s = _load(tmp_path, "asynq: {queues: {legacy: 1}}\nworker: {queues: {default: 2}}")
    assert s.worker.queues == {"default": 2} and s.asynq.queues == {"legacy": 1}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "asynq: {queues: {default: 1}}\nworker: {queues: {default: 1, low: 1}}",
            "config key asynq.queues: 'default' is not valid: expected each queue in "
            "worker.queues or in asynq.queues, not both (default)",
        ),
        (
            "asynq: {queues: {'a:b': 1}}",
            "config key asynq.queues.a:b: 'a:b' is not valid: expected a queue name without "
            "braces, colons or spaces",
        ),
        (
            "asynq: {queues: {low: 0}}",
            "config key asynq.queues.low: 0 is not valid: expected a number >= 1",
        ),
        ("asynq: {queue: {low: 1}}", "config key asynq.queue: unknown key (known: queues, redis)"),
    ],
)
def test_bad_asynq_sections(tmp_path: Path, text: str, expected: str) -> None:
    assert _error(tmp_path, text).startswith(expected)
