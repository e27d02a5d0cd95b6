"""Build :class:`Settings` from defaults, the YAML file, the environment and overrides.

Precedence: defaults < file < environment (``BINGO_<SECTION>__<KEY>``) < overrides
(``section.key`` → value, the command line's ``--set``). Every error is one line naming the
key in its YAML spelling, the value and what was expected, plus where the value came from.
Secrets are never shown: the value of a secret key (``server.key``, any ``password``,
``dashboard.readOnlyKey``) is ``***``, and so is the password of any URL in a message.
"""

from __future__ import annotations

import logging
import os
import types
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from ..errors import ConfigError
from .files import ENV_PREFIX
from .files import config_file as _config_file
from .files import read_yaml as _read_yaml
from .paths import DEFAULT_CONFIG_PATH
from .settings import Settings, is_secret_key, mask_secrets

log = logging.getLogger("bingo.config")


def load_settings(
    path: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> Settings:
    """Load and validate the settings; raise :class:`ConfigError` on any bad key or value.

    :param path: the YAML file; ``None`` means ``$BINGO_CONFIG``, else
        ``config/bingo-scheduler.yaml`` when it exists, else defaults only.
    :param env: the environment to read (``os.environ`` when ``None``).
    :param overrides: dotted keys (``worker.concurrency``) → values, parsed as YAML scalars.
    """
    environ = os.environ if env is None else env
    file = _config_file(path, environ)
    data: dict[str, Any] = {}
    sources: dict[str, str] = {}
    if file is not None:
        sources[""] = f"in {file}"
        data = _canonical(Settings, _read_yaml(file), "", sources[""])
    for var in sorted(environ):
        if not var.startswith(ENV_PREFIX) or "__" not in var:
            continue
        parts = var[len(ENV_PREFIX) :].split("__")
        if not all(parts):
            raise ConfigError(
                f"environment variable {var}: expected BINGO_SECTION__KEY (one key per __)"
            )
        _apply(data, parts, environ[var], f"from environment variable {var}", sources, env=True)
    for key, value in (overrides or {}).items():
        parts = [p.strip() for p in key.split(".")]
        if not all(parts):
            raise ConfigError(f"override {key!r}: expected SECTION.KEY")
        _apply(data, parts, value, f"from override {key}", sources, env=False)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, sources=sources)) from None
    settings._sources = sources
    return settings


def defaults_note(settings: Settings) -> str | None:
    """One line for a process that loaded its settings without a config file and will
    use a Redis nobody named for it (built in, or from a ``BINGO_`` variable), else None.
    Redis given as an override (``--set``, ``Client(redis_url=...)``) was named."""
    sources: Mapping[str, str] = getattr(settings, "_sources", None) or {}
    if "" in sources:  # a file was read
        return None
    given = {k: v for k, v in sources.items() if k == "redis" or k.startswith("redis.")}
    if any(label.startswith("from override") for label in given.values()):
        return None
    where = f"Redis at {settings.redis.address}"
    if given:
        where += " (" + ", ".join(sorted(set(given.values()))) + ")"
    return (
        f"note: no config file (none given with -c or $BINGO_CONFIG, and no "
        f"{DEFAULT_CONFIG_PATH} here): using the built-in defaults and {where}"
    )


# -- walking the models ----------------------------------------------------------------------


def _submodel(annotation: Any) -> type[BaseModel] | None:
    """The model class of a section field (``Model`` or ``Model | None``), else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType):
        for arg in get_args(annotation):
            found = _submodel(arg)
            if found is not None:
                return found
    return None


def _is_mapping(annotation: Any) -> bool:
    return get_origin(annotation) is dict


def _resolve(model: type[BaseModel], key: str, *, ignore_case: bool) -> str | None:
    """The field name for ``key`` given as the camelCase alias or the snake_case name."""
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return name
    if ignore_case:
        folded = key.lower()
        for name, info in model.model_fields.items():
            if folded in (name.lower(), (info.alias or name).lower()):
                return name
    return None


def _known(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _join(base: str, part: str) -> str:
    if part.startswith("["):
        return base + part
    part = part.removeprefix(".")
    if not part:
        return base
    return f"{base}.{part}" if base else part


def _unknown(model: type[BaseModel], key: str, source: str) -> str:
    if not key.isprintable():  # a key holding a newline or a control character
        key = repr(key)
    known = _known(model)
    word = key.rsplit(".", 1)[-1].lower()
    folded = {k.lower(): k for k in known}
    # lazy: difflib only for the hint of an unknown key (an error)
    import difflib

    close = difflib.get_close_matches(word, list(folded), n=1)
    hint = f"; did you mean {folded[close[0]]}?" if close else ""
    where = f" ({source})" if source else ""
    return f"config key {key}: unknown key (known: {', '.join(known)}){hint}{where}"


def _canonical(
    model: type[BaseModel], raw: Mapping[Any, Any], path: str, where: str
) -> dict[str, Any]:
    """``raw`` with every key in its YAML spelling; unknown keys raise ConfigError."""
    out: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for raw_key, value in raw.items():
        key = str(raw_key)
        name = _resolve(model, key, ignore_case=False)
        if name is None:
            raise ConfigError(_unknown(model, _join(path, key), where))
        info = model.model_fields[name]
        alias = info.alias or name
        if alias in spelled:
            raise ConfigError(
                f"config key {_join(path, alias)}: given twice "
                f"(as {spelled[alias]} and {key}) ({where})"
            )
        spelled[alias] = key
        sub = _submodel(info.annotation)
        if sub is not None and value is None:
            continue  # an empty section: its defaults
        if sub is not None and isinstance(value, Mapping):
            value = _canonical(sub, value, _join(path, alias), where)
        out[alias] = value
    return out


def parse_value(text: str) -> Any:
    """An environment or override value as YAML would read it: ``50`` → 50, ``true`` →
    True, ``[a, b]`` → a list; anything else stays the string it is."""
    if not text.strip():
        return text
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, dict | list):
        return value if text.lstrip()[0] in "[{" else text
    return text if value is None and text.strip() not in ("~", "null", "Null", "NULL") else value


def _apply(
    data: dict[str, Any],
    parts: Sequence[str],
    raw: Any,
    label: str,
    sources: dict[str, str],
    *,
    env: bool,
) -> None:
    """Set ``parts`` (matched case-insensitively) in ``data`` to the parsed ``raw``."""
    model: type[BaseModel] | None = Settings
    node = data
    path = ""
    for i, part in enumerate(parts):
        annotation: Any = None
        default: Any = None
        if model is None:
            key = part.lower() if env else part
        else:
            name = _resolve(model, part, ignore_case=True)
            if name is None:
                shown = part.lower() if env else part
                raise ConfigError(_unknown(model, _join(path, shown), label))
            info = model.model_fields[name]
            key, annotation = info.alias or name, info.annotation
            if _is_mapping(annotation):
                default = info.get_default(call_default_factory=True)
        path = _join(path, key)
        if i == len(parts) - 1:
            plain = annotation is str or not isinstance(raw, str)
            node[key] = raw if plain else parse_value(raw)
            sources[path] = label
            return
        if model is not None:
            sub = _submodel(annotation)
            if sub is None and not _is_mapping(annotation):
                raise ConfigError(
                    f"config key {path}: is a single value, it has no keys below it ({label})"
                )
            model = sub
        child = node.get(key)
        if not isinstance(child, dict):
            # A mapping field (worker.queues) grows from its default, as a section does.
            child = node[key] = dict(default) if isinstance(default, dict) else {}
        node = child


# -- one-line messages for validation errors -------------------------------------------------

_EXPECTED = {
    "int_parsing": "expected a whole number",
    "int_type": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "string_type": "expected a string",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
    "list_type": "expected a list",
}
_BOUNDS = {
    "greater_than_equal": (">=", "ge"),
    "greater_than": (">", "gt"),
    "less_than_equal": ("<=", "le"),
    "less_than": ("<", "lt"),
    "too_short": ("at least", "min_length"),
}


def key_path(prefix: str, loc: Sequence[int | str], at: str = "") -> str:
    """The dotted YAML key for a pydantic ``loc`` (list items as ``[i]``)."""
    out = prefix
    for part in loc:
        text = str(part)
        if not isinstance(part, int) and not text.isprintable():
            text = repr(text)  # a key holding a newline stays on one line
        out = _join(out, f"[{part}]" if isinstance(part, int) else text)
    return _join(out, at)


def _expected(error: Mapping[str, Any]) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in _EXPECTED:
        return _EXPECTED[kind]
    if kind in _BOUNDS:
        word, name = _BOUNDS[kind]
        if kind == "too_short":
            return f"expected {word} {ctx.get(name)} item(s)"
        return f"expected a number {word} {ctx.get(name)}"
    if kind == "literal_error":
        return f"expected one of {ctx.get('expected')}"
    message = str(error["msg"])
    if kind == "bingo":
        return message
    message = message.removeprefix("Value error, ")
    return message[:1].lower() + message[1:]


def _show(value: Any) -> str:
    text = mask_secrets(repr(value))  # before cutting: a cut URL would keep its password
    return text if len(text) <= 60 else text[:57] + "..."


def _source(sources: Mapping[str, str], key: str) -> str:
    best = ""
    for prefix in sources:
        hit = prefix == "" or key == prefix or key.startswith((prefix + ".", prefix + "["))
        if hit and len(prefix) >= len(best):
            best = prefix
    found = sources.get(best, "")
    return f" ({found})" if found else ""


def _model_at(model: type[BaseModel] | None, loc: Sequence[int | str]) -> type[BaseModel] | None:
    for part in loc:
        if model is None or not isinstance(part, str):
            return None
        name = _resolve(model, part, ignore_case=False)
        model = _submodel(model.model_fields[name].annotation) if name else None
    return model


def _describe(
    error: Mapping[str, Any], prefix: str, model: type[BaseModel] | None, sources: Mapping[str, str]
) -> tuple[str, str]:
    ctx = error.get("ctx") or {}
    at = str(ctx.get("at", ""))
    key = key_path(prefix, error["loc"], at)
    key_for_source = key
    kind = error["type"]
    if kind == "missing":
        text = "required but not set"
        # A missing key has no source; name where its section was set.
        parent = key.rpartition(".")[0]
        siblings = [k for k in sources if parent and k.startswith(parent + ".")]
        if siblings:
            key_for_source = siblings[0]
    elif kind == "extra_forbidden":
        owner = _model_at(model, error["loc"][:-1])
        known = f" (known: {', '.join(_known(owner))})" if owner is not None else ""
        text = f"unknown key{known}"
    else:
        value = ctx.get("value") if at else error.get("input")
        expected = _expected(error)
        if is_secret_key(key):
            shown = "***"
            if isinstance(value, str) and value:
                expected = expected.replace(value, "***")
        elif isinstance(value, Mapping) and value:
            shown = "section"  # a whole section is not repeated (it may hold secrets)
        else:
            shown = _show(value)
        text = f"{shown} is not valid: {expected}"
    line = f"config key {key}: {text}{_source(sources, key_for_source)}"
    return key, mask_secrets(line)


def describe_validation_error(
    exc: ValidationError,
    *,
    prefix: str = "",
    model: type[BaseModel] | None = Settings,
    sources: Mapping[str, str] | None = None,
) -> str:
    """One line for a pydantic error: the first bad key, its value, what was expected."""
    errors = exc.errors(include_url=False)
    described = [_describe(e, prefix, model, sources or {}) for e in errors]
    line = described[0][1]
    others = list(dict.fromkeys(key for key, _ in described[1:] if key != described[0][0]))
    if others:
        more = ", ..." if len(others) > 5 else ""
        line += f" ({len(others)} more: {', '.join(others[:5])}{more})"
    return line


def bind_plugin_settings(
    settings: Settings,
    models: Mapping[str, type[BaseModel]],
    installed: Iterable[str] = (),
) -> dict[str, Any]:
    """Validate each ``plugins.<name>`` section of ``settings`` against the model its
    plugin registered, and keep the result in ``settings.plugin_settings``.

    A section without a model is kept as a mapping; a model without a section gets its
    defaults. Raises :class:`ConfigError` naming ``plugins.<name>.<field>``. A section
    that names none of the ``installed`` plugins (loaded or broken; the app passes the
    ``bingo.plugins`` entry points and the plugins it registered itself) gets one warning,
    logged and kept in ``settings.warnings``.
    """
    sources = settings._sources
    bound: dict[str, Any] = {}
    sections = {_plugin_key(name): (name, section) for name, section in settings.plugins.items()}
    for plugin, model in models.items():
        name, section = sections.pop(_plugin_key(plugin), (plugin, {}))
        try:
            bound[plugin] = model.model_validate(_fold_keys(model, section))
        except ValidationError as exc:
            raise ConfigError(
                describe_validation_error(
                    exc, prefix=f"plugins.{name}", model=model, sources=sources
                )
            ) from None
    for name, section in sections.values():
        bound[name] = dict(section)
    _warn_unknown_plugins(settings, [name for name, _ in sections.values()], models, installed)
    settings._plugin_settings = bound
    return bound


def _warn_unknown_plugins(
    settings: Settings,
    names: list[str],
    models: Mapping[str, type[BaseModel]],
    installed: Iterable[str],
) -> None:
    warnings = settings._warnings
    warnings[:] = [w for w in warnings if not w.startswith("config key plugins.")]
    if not names:
        return
    known = {_plugin_key(n): n for n in [*installed, *models]}
    for name in names:
        if _plugin_key(name) in known:
            continue
        # lazy: difflib only for the hint of an unknown plugin section (a warning)
        import difflib

        close = difflib.get_close_matches(_plugin_key(name), list(known), n=1)
        hint = f"; did you mean {known[close[0]]}?" if close else ""
        listed = ", ".join(sorted(known.values())) or "none"
        line = (
            f"config key plugins.{name}: no installed plugin is named {name!r} "
            f"(installed: {listed}), so this section is not used{hint}"
        )
        if line not in warnings:
            warnings.append(line)
            log.warning("%s", line)


def _plugin_key(name: str) -> str:
    return name.replace("-", "_").lower()


def _fold_keys(model: type[BaseModel], section: Mapping[str, Any]) -> dict[str, Any]:
    """``section`` with keys that match a field only case-insensitively (environment
    variables are upper case) spelled as the field's alias."""
    spellings: dict[str, str] = {}
    for name, info in model.model_fields.items():
        for spelling in (name, info.alias or name):
            spellings.setdefault(spelling.lower(), info.alias or name)
    exact = set(spellings.values()) | set(model.model_fields)
    out: dict[str, Any] = {}
    for key, value in section.items():
        out[key if key in exact else spellings.get(key.lower(), key)] = value
    return out
