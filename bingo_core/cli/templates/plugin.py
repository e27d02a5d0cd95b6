"""The files ``bingo-scheduler plugin new NAME`` writes, as :class:`string.Template` texts.

Placeholders: ``${dist}`` (distribution, ``bingo-plugin-hello``), ``${module}`` (package,
``bingo_plugin_hello``), ``${entry}`` (entry point and ``plugins.<entry>`` section,
``hello``), ``${task_type}`` (``task:hello``), ``${camel}`` (``Hello``), ``${func}``
(``hello``), ``${core}`` (the lowest ``bingo-scheduler`` version it needs).
"""

from __future__ import annotations

from string import Template

PYPROJECT = Template("""\
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "${dist}"
version = "0.1.0"
description = "Bingo Scheduler plugin: the ${task_type} task type."
readme = "README.md"
requires-python = ">=3.11"
license = "MIT"
dependencies = ["bingo-scheduler>=${core}", "pydantic>=2.6"]

[project.optional-dependencies]
test = ["pytest>=8"]

# How the daemon finds the plugin: the entry point's name is the plugin's name, and the
# name of its settings section (plugins.${entry} in bingo-scheduler.yaml).
[project.entry-points."bingo.plugins"]
${entry} = "${module}"

[tool.setuptools]
packages = ["${module}"]

[tool.pytest.ini_options]
testpaths = ["tests"]
addopts = "-ra --strict-markers"
filterwarnings = ["error"]
""")

MODULE = Template('''\
"""Bingo Scheduler plugin ${dist}: the ``${task_type}`` task type.

Configuration, in the daemon's ``bingo-scheduler.yaml``::

    plugins:
      ${entry}:
        greeting: Hello
"""

from __future__ import annotations

from typing import Any

import bingo_core as bingo
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

TASK_TYPE = "${task_type}"


class ${camel}Payload(BaseModel):
    """Payload of ``${task_type}``: checked when the task is enqueued, before it reaches
    Redis, so a bad one is refused with the field's name."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="world", min_length=1, max_length=100)


class ${camel}Settings(BaseModel):
    """The ``plugins.${entry}`` section, validated when the daemon starts and handed to
    the handler as ``ctx.settings`` (these defaults when the section is absent)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    greeting: str = Field(default="Hello", min_length=1)


async def handle_${func}(ctx: bingo.TaskContext, payload: ${camel}Payload) -> dict[str, Any]:
    """Greet ``payload.name``. The returned dict is the task's result.

    An ``async def`` handler runs on the worker's event loop (a plain ``def`` runs in a
    thread); raise ``bingo.SkipRetry`` to archive the task without retrying it.
    """
    settings: ${camel}Settings = ctx.settings
    message = f"{settings.greeting}, {payload.name}!"
    ctx.logger.info("%s", message)
    return {"message": message}


@bingo.hookimpl
def bingo_register_settings(register: bingo.SettingsRegister) -> None:
    """Validate ``plugins.${entry}`` against :class:`${camel}Settings`."""
    register(${camel}Settings)


@bingo.hookimpl
def bingo_register_tasks(register: bingo.TaskRegister) -> None:
    """Register ``${task_type}`` with its payload model and default options."""
    register(TASK_TYPE, handle_${func}, payload=${camel}Payload, max_retry=3, timeout=60)


# A static schedule: uncomment to run the task every day at 03:00, server time.
#
# @bingo.hookimpl
# def bingo_register_schedules(register: bingo.ScheduleRegister) -> None:
#     register("0 3 * * *", TASK_TYPE, payload={"name": "night shift"})
#
# A schedule may start a workflow instead (each tick once): give a bingo.step, chain or
# group where the type goes, e.g.
#     register("0 4 * * *", bingo.chain(bingo.step(TASK_TYPE, {"name": "a"}),
#                                       bingo.step(TASK_TYPE, {"name": "b"})), name="two")
''')

TEST = Template('''\
"""Tests of ${dist}: each runs a real worker on a private Redis (bingo_core.testing,
loaded by pytest automatically; it needs redis-server on the PATH)."""

from __future__ import annotations

from collections.abc import Callable

import bingo_core as bingo
import pytest
from bingo_core.testing import run_task

import ${module} as plugin


def test_the_task_greets_with_the_configured_greeting(
    bingo_app: Callable[..., bingo.App],
) -> None:
    app = bingo_app(plugin, plugins={"${entry}": {"greeting": "Hi"}})
    task = run_task(app, plugin.TASK_TYPE, {"name": "Ada"})
    assert task.state == "completed", task.error
    assert task.result == {"message": "Hi, Ada!"}


def test_the_defaults_apply_without_a_settings_section(
    bingo_app: Callable[..., bingo.App],
) -> None:
    task = run_task(bingo_app(plugin), plugin.TASK_TYPE)
    assert task.result == {"message": "Hello, world!"}


def test_a_bad_payload_is_refused_before_it_is_enqueued(
    bingo_app: Callable[..., bingo.App],
) -> None:
    app = bingo_app(plugin)
    with pytest.raises(bingo.PayloadError, match="name"):
        app.client.enqueue(plugin.TASK_TYPE, {"name": ""})


def test_a_bad_settings_section_is_refused_naming_the_key(
    bingo_app: Callable[..., bingo.App],
) -> None:
    with pytest.raises(bingo.ConfigError, match="plugins.${entry}"):
        bingo_app(plugin, plugins={"${entry}": {"greting": "typo"}})
''')

README = Template("""\
# ${dist}

A [Bingo Scheduler](https://pypi.org/project/bingo-scheduler/) plugin: the `${task_type}`
task type.

    pip install ${dist}

The daemon finds it through its `bingo.plugins` entry point; `bingo-scheduler plugins`
lists it. Enqueue a task:

    bingo-scheduler enqueue ${task_type} --payload '{"name": "Ada"}'

## Configuration

In the daemon's `bingo-scheduler.yaml` (defaults shown):

```yaml
plugins:
  ${entry}:
    greeting: Hello
```

## Development

    pip install -e '.[test]'
    pytest                      # needs redis-server on the PATH

The tests use the fixtures of `bingo_core.testing` (loaded by pytest automatically): a
private Redis, `bingo_app(plugin, plugins={...})` and `run_task(app, type, payload)`,
which runs a real worker until the queue is empty and returns the task with its result.

## Publishing

    python -m pip install build twine
    python -m build             # dist/${module}-0.1.0.tar.gz and the wheel
    python -m twine upload dist/*
""")

GITIGNORE = """\
__pycache__/
*.egg-info/
build/
dist/
.pytest_cache/
"""


def files(values: dict[str, str], *, test_name: str) -> dict[str, str]:
    """Relative path -> content of every file of the package."""
    module = values["module"]
    return {
        "pyproject.toml": PYPROJECT.substitute(values),
        "README.md": README.substitute(values),
        ".gitignore": GITIGNORE,
        f"{module}/__init__.py": MODULE.substitute(values),
        f"tests/{test_name}": TEST.substitute(values),
    }
