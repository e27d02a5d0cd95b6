"""Finding and reading the configuration file: the standard library and PyYAML only, so a
command that needs one key (``cron next`` reads ``server.timezone``) can read it without the
settings models; :mod:`.loader` reads every file through here."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError
from .paths import DEFAULT_CONFIG_PATH

ENV_PREFIX = "BINGO_"
_MERGE_TAG = "tag:yaml.org,2002:merge"


def config_file(path: str | os.PathLike[str] | None, environ: Mapping[str, str]) -> Path | None:
    origin = ""
    if path is None:
        from_env = environ.get("BINGO_CONFIG", "")
        if not from_env:
            return DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.is_file() else None
        path, origin = from_env, " (from BINGO_CONFIG)"
    file = Path(path)
    if not str(path) or not file.exists():
        raise ConfigError(f"config file {path}{origin} does not exist")
    if file.is_dir():
        raise ConfigError(f"config file {path}{origin} is a directory, expected a YAML file")
    return file


class _Loader(yaml.SafeLoader):
    """Safe YAML that refuses a key given twice in one mapping."""


class _FastLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """:class:`_Loader` on libyaml when PyYAML was built with it: a config file parses in
    a tenth of a millisecond instead of several. A file it refuses is read again by
    :class:`_Loader`, whose messages the errors quote."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == _MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
            continue
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"key {key!r} appears twice (first on line {seen[key] + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node)


for _loader in (_Loader, _FastLoader):
    _loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(file: Path) -> dict[str, Any]:
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"config file {file} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"config file {file} cannot be read: {exc.strerror}") from None
    try:
        try:
            raw = yaml.load(text, Loader=_FastLoader)  # a SafeLoader (libyaml) subclass
        except yaml.YAMLError:
            raw = yaml.load(text, Loader=_Loader)  # the same refusal, in PyYAML's words
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = " ".join(str(exc.problem or exc.context or "syntax error").split())
        raise ConfigError(f"config file {file}: invalid YAML{where}: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"config file {file}: invalid YAML: {' '.join(str(exc).split())}"
        ) from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"config file {file}: expected a mapping of sections (server, redis, ...) "
            f"at the top, got {type(raw).__name__}"
        )
    return raw


def server_timezone(
    path: str | os.PathLike[str] | None,
    overrides: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
) -> str | None:
    """``server.timezone`` as the settings would read it (default ``UTC`` < the file < the
    environment < ``overrides``), without the settings models; None when it is not a
    plain string naming a zone, so the caller loads the settings, whose error names the
    key. Only that key is read: the rest of the file is not checked here."""
    environ = os.environ if env is None else env
    zone: Any = "UTC"
    file = config_file(path, environ)
    if file is not None:
        server = read_yaml(file).get("server")
        if server is not None:
            if not isinstance(server, dict):
                return None
            zone = server.get("timezone", zone)
    for var in sorted(environ):
        if var.startswith(ENV_PREFIX) and var[len(ENV_PREFIX) :].upper() == "SERVER__TIMEZONE":
            zone = environ[var]
    for key, value in (overrides or {}).items():
        if [p.strip().lower() for p in key.split(".")] == ["server", "timezone"]:
            zone = value
    if not isinstance(zone, str) or not zone.strip():
        return None
    # lazy: zoneinfo is needed only when a zone is read
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None
    return zone
