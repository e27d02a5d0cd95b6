"""Random configs: mutations of the original service's ``bingo-scheduler.yaml``.

Each example starts from ``tests/fixtures/original-bingo-scheduler.yaml`` and changes it a
few times: a key set to a value of the wrong type or to garbage, a key dropped or
misspelt, unknown keys and sections, whole sections replaced, the extension sections
(``worker``, ``scheduler``, ``dashboard``, ``plugins``, ``schedules``, ``database``) filled
with near-misses, and secrets set (``server.key``, passwords, a URL's password, a
plugin's ``apiKey``), sometimes as a list or mapping instead of a string. Some files are
also damaged as text (a cut, a stray character, a repeated line).

Properties: :func:`load_settings` returns settings or raises ``ConfigError`` (a
``BingoError``) in one line; no secret in that line, in ``settings.warnings``, or in what
``bingo-scheduler plugins --json`` and ``bingo-scheduler check`` print; a config that
loads masks every secret it holds (``secret_values``).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from fuzz_support import (
    FUZZ,
    NEAR_MISSES,
    VALUES,
    Outcome,
    check_outcome,
    leaked,
    only_bingo_errors,
    run_main,
    secrets,
    write_yaml,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from bingo_core.config import Settings, load_settings
from bingo_core.config.logging import SecretMask, secret_values

SEED = Path(__file__).resolve().parents[1] / "fixtures" / "original-bingo-scheduler.yaml"
ORIGINAL: dict[str, Any] = yaml.safe_load(SEED.read_text())
#: The seed's own secret (its password "root" is also its user name, so it is shown as
#: the user name, legitimately).
SEED_SECRETS = ["your-secret-key"]


def _known_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key of the settings in its YAML spelling, sections included."""
    out: list[tuple[str, ...]] = []
    for name, info in model.model_fields.items():
        path = (*prefix, info.alias or name)
        out.append(path)
        annotation = info.annotation
        for candidate in (annotation, *getattr(annotation, "__args__", ())):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                out += _known_paths(candidate, path)
    return out


KNOWN = _known_paths(Settings)
#: Where a secret may be written (the value is a secret whatever its type).
SECRET_KEYS = [
    ("server", "key"),
    ("redis", "password"),
    ("mysql", "password"),
    ("dashboard", "readOnlyKey"),
    ("redis", "sentinel", "password"),
    ("plugins", "mail_notify", "password"),
    ("plugins", "testplug", "apiKey"),
    ("plugins", "nosuchplugin", "token"),
]


def _set(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = data
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[path[-1]] = value


def _delete(data: dict[str, Any], path: tuple[str, ...]) -> None:
    node: Any = data
    for part in path[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(path[-1], None)


def _respell(key: str, how: int) -> str:
    if how == 0:
        return key.upper()
    if how == 1:
        return key[:1].upper() + key[1:]
    if how == 2:
        return "".join("_" + c.lower() if c.isupper() else c for c in key)  # snake_case
    return key + "s"


@st.composite
def configs(draw: st.DrawFn) -> tuple[dict[str, Any], list[str]]:
    """A mutated copy of the original config and the secrets planted in it."""
    data = copy.deepcopy(ORIGINAL)
    planted: list[str] = []
    for _ in range(draw(st.integers(1, 5))):
        op = draw(st.sampled_from(["set", "set", "delete", "unknown", "section", "respell"]))
        if op == "set":
            path = draw(st.sampled_from(KNOWN))
            _set(data, path, draw(VALUES))
        elif op == "delete":
            _delete(data, draw(st.sampled_from(KNOWN)))
        elif op == "unknown":
            section = draw(st.sampled_from([None, *ORIGINAL, "worker", "plugins", "nosuch"]))
            key = draw(st.sampled_from(["bogus", "queue_dash", "Timezone", "hosts", "", "7"]))
            _set(data, (key,) if section is None else (section, key), draw(VALUES))
        elif op == "section":
            name = draw(
                st.sampled_from(
                    [
                        *ORIGINAL,
                        "worker",
                        "scheduler",
                        "dashboard",
                        "plugins",
                        "schedules",
                        "database",
                    ]
                )
            )
            data[name] = draw(VALUES)
        else:
            section = draw(st.sampled_from(list(ORIGINAL)))
            if isinstance(data.get(section), dict) and data[section]:
                key = draw(st.sampled_from(sorted(map(str, data[section]))))
                value = data[section].pop(key)
                data[section][_respell(key, draw(st.integers(0, 3)))] = value
    for _ in range(draw(st.integers(0, 3))):
        secret = draw(secrets())
        planted.append(secret)
        where = draw(st.sampled_from(["key", "key", "redis.url", "database.url", "mysql.url"]))
        form = draw(st.sampled_from(["str", "str", "list", "dict"]))
        value: Any = {"str": secret, "list": [secret], "dict": {"v": secret}}[form]
        if where == "key":
            _set(data, draw(st.sampled_from(SECRET_KEYS)), value)
        elif where == "redis.url":
            host = draw(st.sampled_from(["redis:6379", "", "127.0.0.1:notaport", "h:1/0"]))
            _set(data, ("redis", "url"), f"redis://:{secret}@{host}")
        else:
            scheme = "mysql+pymysql" if where == "database.url" else "http"
            url = f"{scheme}://root:{secret}@mysql:3306/bingo"
            _set(data, ("database", "url"), url)
    return data, planted


def _damage(text: str, how: int, at: int, char: str) -> str:
    """The file as text, damaged: cut, a stray character, a line repeated, a tab indent."""
    at = at % (len(text) + 1)
    if how == 0:
        return text[:at]
    if how == 1:
        return text[:at] + char + text[at:]
    lines = text.splitlines(keepends=True)
    i = at % max(1, len(lines))
    if how == 2 and lines:
        return "".join([*lines[: i + 1], lines[i], *lines[i + 1 :]])
    return "".join(("\t" + ln.lstrip(" ") if j == i else ln) for j, ln in enumerate(lines))


def _load(path: Path, planted: list[str]) -> Settings | None:
    everything = [*planted, *SEED_SECRETS]
    with only_bingo_errors(secrets=everything) as raised:
        loaded = load_settings(path, env={})
    if raised:
        return None
    assert not leaked(loaded.warnings, everything), loaded.warnings
    # A setting that holds a secret, logged as it is, shows it masked (log records go
    # through this mask).
    mask = SecretMask(secret_values(loaded))
    for value in _strings(loaded.model_dump()):
        if leaked([value], planted):
            assert not leaked([mask.mask(value)], planted), (value, mask.mask(value))
    return loaded


def _strings(data: Any) -> list[str]:
    if isinstance(data, dict):
        return [s for v in data.values() for s in _strings(v)]
    if isinstance(data, list):
        return [s for v in data for s in _strings(v)]
    return [data] if isinstance(data, str) else []


@settings(FUZZ, max_examples=150)
@given(case=configs())
def test_mutated_config_loads_or_fails_in_one_line(tmp_path: Path, case: Any) -> None:
    data, planted = case
    _load(write_yaml(tmp_path / "bingo.yaml", data), planted)


@settings(FUZZ, max_examples=60)
@given(
    case=configs(),
    how=st.integers(0, 3),
    at=st.integers(0, 10_000),
    char=st.sampled_from(
        [
            "\t",
            ":",
            "-",
            "{",
            "[",
            "'",
            '"',
            "&",
            "*",
            "!",
            "%",
            "@",
            "\x00",
            "\ufeff",
            "\x85",
            "\u2028",
            "? ",
            "<<: ",
        ]
    ),
)
def test_damaged_yaml_text_fails_in_one_line(
    tmp_path: Path, case: Any, how: int, at: int, char: str
) -> None:
    data, planted = case
    path = write_yaml(tmp_path / "bingo.yaml", data)
    path.write_text(_damage(path.read_text(encoding="utf-8"), how, at, char), encoding="utf-8")
    _load(path, planted)


@settings(FUZZ, max_examples=40)
@given(
    case=configs(),
    command=st.sampled_from(
        [["plugins", "--json"], ["check", "--json"], ["check"], ["cron", "next", "@daily"]]
    ),
)
def test_cli_on_a_mutated_config(
    cli_env: Path, capsys: pytest.CaptureFixture[str], case: Any, command: list[str]
) -> None:
    data, planted = case
    path = write_yaml(cli_env / "bingo.yaml", data)
    if command[0] == "check":
        # check pings Redis: a mutated redis.host ("0") must not reach a server of this
        # machine (a closed port; the file's host is still validated).
        os.environ["BINGO_REDIS__HOST"] = "127.0.0.1:1"
    try:
        result = run_main(capsys, ["-c", str(path), *command])
    finally:
        os.environ.pop("BINGO_REDIS__HOST", None)
    # check prints one line per problem it finds (Redis and MySQL hosts of the seed).
    check_outcome(result, secrets=[*planted, *SEED_SECRETS], one_line=command[0] != "check")


@settings(FUZZ, max_examples=40)
@given(
    key=st.sampled_from(
        [".".join(p) for p in KNOWN]
        + ["server.nosuch", "nosuch.key", "worker.queues.default", "plugins.x.y"]
    ),
    value=st.sampled_from(NEAR_MISSES)
    | st.text(st.characters(exclude_characters="\x00"), max_size=12),
    secret=secrets(),
    via=st.sampled_from(["env", "set"]),
)
def test_bad_env_and_set_values_fail_in_one_line(
    cli_env: Path, capsys: pytest.CaptureFixture[str], key: str, value: str, secret: str, via: str
) -> None:
    config = write_yaml(cli_env / "bingo.yaml", {"server": {"key": secret}})
    argv = ["-c", str(config)]
    if via == "set":
        argv += ["--set", f"{key}={value}"]
    else:
        os.environ["BINGO_" + key.upper().replace(".", "__")] = value
    try:
        result = run_main(capsys, [*argv, "plugins", "--json"])
    finally:
        for var in [v for v in os.environ if v.startswith("BINGO_") and v != "BINGO_PLUGINS"]:
            del os.environ[var]
    check_outcome(result, secrets=[secret])


@pytest.mark.parametrize(
    "redis_section",
    [
        {"host": "127.0.0.1:1", "password": "Zq-redis-pw-5511"},
        {"url": "redis://bingo:Zq-url-pw-5512@127.0.0.1:1/0"},
        {"url": "redis://:Zq%2Fslash%40at-5513@127.0.0.1:1/0"},
    ],
)
def test_daemon_that_cannot_start_says_so_in_one_line_without_secrets(
    tmp_path: Path, redis_section: dict[str, str]
) -> None:
    """The real daemon on a config whose Redis is a closed port: exit 1, one line on
    stderr, no password (the seed's server.key included) in anything it prints."""
    import subprocess
    import sys
    from urllib.parse import unquote, urlsplit

    data = copy.deepcopy(ORIGINAL)
    data["redis"] = redis_section
    config = write_yaml(tmp_path / "bingo.yaml", data)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINGO_")}
    env["BINGO_PLUGINS"] = "testplug"
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("bingo-scheduler")), "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    password = redis_section.get("password") or urlsplit(redis_section["url"]).password or ""
    result = Outcome(["-c", str(config)], proc.returncode, proc.stdout, proc.stderr)
    secrets = [password, unquote(password), *SEED_SECRETS]
    check_outcome(result, secrets=secrets)
    assert result.code == 1, result
    # The seed's log.path: the rotated log file holds no secret either.
    logs = [p.read_text(errors="replace") for p in (tmp_path / "storage").rglob("*.log*")]
    assert not leaked(logs, secrets), logs
