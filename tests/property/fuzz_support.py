"""What the property tests of bad input share: settings, strategies of garbage, the checks.

Every test in this folder runs a bounded, derandomized search (the same examples on every
run, no example database), so CI sees the same inputs each time and the folder stays
within its time budget. The properties checked on every output:

- no traceback reaches the user (no ``Traceback`` on stderr), the CLI exits 0, 1 or 2;
- a failing command says what is wrong in exactly one line on stderr;
- only :class:`bingo_core.errors.BingoError` subclasses leave the public APIs;
- no secret given in the config (in any spelling: as written, ``repr``-escaped, JSON- or
  URL-encoded) appears in any output.
"""

from __future__ import annotations

import contextlib
import json
import os
import string
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from bingo_core.errors import BingoError

#: The settings of every property test here: few examples, the same ones on every run.
FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # each example resets what it uses itself
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)

#: Words a user's mistake is made of: near-valid values of every kind the config takes.
NEAR_MISSES = [
    "",
    " ",
    "\t",
    "0",
    "-0",
    "-1",
    "1e309",
    "nan",
    "inf",
    "-inf",
    "NaN",
    "10s",
    "-1s",
    "1h30m",
    "1.5",
    "250ms",
    "7d",
    "90d",
    "1y",
    "10 s",
    "s",
    "abc",
    "yes",
    "no",
    "on",
    "off",
    "~",
    "null",
    "true",
    "True",
    ":",
    "::",
    "host:",
    ":0",
    ":8080",
    ":65536",
    "[::1]",
    "[::1]:6379",
    "::1:6379",
    "redis:6379",
    "redis://",
    "redis://localhost:notaport",
    "unix://",
    "http://x",
    "sqlite://",
    "sqlite:///",
    "mysql+pymysql://",
    "debug",
    "release",
    "Asia/Shanghai",
    "Mars/Olympus",
    "Asia",
    "../../etc/passwd",
    "UTC",
    "json",
    "console",
    "warn",
    "*",
    "@every 1s",
    "@every",
    "0 2 * * *",
    "61 * * * *",
    "{}",
    "[]",
    "{a: b}",
    "%s",
    "%(x)s",
    "${HOME}",
    "\u00e9t\u00e9",
    "\U0001f600",
    "a" * 300,
    "x\ny",
    "\\",
    "'",
    '"',
]

SCALARS: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=-3, max_value=70000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(NEAR_MISSES),
)

#: Any value YAML can hold, nested a little.
VALUES: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=8) | st.sampled_from(NEAR_MISSES), inner, max_size=3)
    ),
    max_leaves=6,
)

#: What a secret may be made of: printable ASCII, URL and YAML punctuation included.
_SECRET_CHARS = string.ascii_letters + string.digits + "!#$%&()*+,-./:;<=>?@[]^_{|}~ "


@st.composite
def secrets(draw: st.DrawFn) -> str:
    """A password or key a user may write: a marker no output contains by chance, then
    letters, digits and punctuation (``@``, ``:``, ``/``, ``#``, ``%``, spaces)."""
    body = draw(st.text(alphabet=_SECRET_CHARS, min_size=3, max_size=14))
    return "Zq" + body.strip() + "9"


def spellings(secret: str) -> set[str]:
    """Every form in which ``secret`` could reach an output."""
    forms = {
        secret,
        repr(secret)[1:-1],
        json.dumps(secret)[1:-1],
        quote(secret, safe=""),
        quote(secret),
    }
    return {f for f in forms if len(f) >= 4}


def leaked(texts: Iterable[str], secret_values: Iterable[str]) -> list[str]:
    """The secrets (any spelling) found in ``texts``."""
    blob = "\n".join(texts)
    return sorted({s for s in secret_values for f in spellings(s) if f in blob})


def check_error(exc: BaseException, *, secrets: Sequence[str] = ()) -> str:
    """``exc`` is a Bingo error with a one-line message and no secret; return the line."""
    assert isinstance(exc, BingoError), f"{type(exc).__name__} is not a BingoError: {exc!r}"
    text = str(exc)
    assert text.strip(), f"{type(exc).__name__} with an empty message"
    assert "\n" not in text, f"message on more than one line: {text!r}"
    assert not leaked([text], secrets), f"secret in the message: {text!r}"
    return text


@contextlib.contextmanager
def only_bingo_errors(*, secrets: Sequence[str] = ()) -> Iterator[list[BaseException]]:
    """A block that may raise only a Bingo error (one line, no secret); the error raised,
    if any, is appended to the yielded list."""
    raised: list[BaseException] = []
    try:
        yield raised
    except Exception as exc:  # anything else is the bug this folder hunts
        check_error(exc, secrets=secrets)
        raised.append(exc)


@dataclass
class Outcome:
    """One command line's result."""

    argv: list[str]
    code: int
    out: str
    err: str

    def lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def run_main(capsys: pytest.CaptureFixture[str], argv: Sequence[str]) -> Outcome:
    """``bingo_core.cli.main.main(argv)`` in this process, as the console script runs it
    (``SystemExit`` from argument parsing becomes the exit code)."""
    from bingo_core.cli.main import main

    capsys.readouterr()
    try:
        code: Any = main(list(argv))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return Outcome(list(argv), code, out, err)


def check_outcome(
    result: Outcome,
    *,
    secrets: Sequence[str] = (),
    one_line: bool = True,
    allow_internal: bool = False,
) -> None:
    """The command-line properties: exit 0/1/2, no traceback, no secret anywhere, and a
    failure is said in exactly one line (``one_line``; ``check`` says one per problem)."""
    where = (
        f"argv={result.argv!r}\nexit={result.code}\nstdout={result.out!r}\nstderr={result.err!r}"
    )
    assert result.code in (0, 1, 2), where
    assert "Traceback" not in result.err, where
    if not allow_internal:
        assert "internal error" not in result.err, where
    assert not leaked([result.out, result.err], secrets), where
    lines = result.lines()
    if result.code != 0 and not lines and "--json" in result.argv:
        # --json reports what it found in its JSON (``check``), not on stderr.
        assert isinstance(json.loads(result.out), dict), where
    elif result.code != 0:
        if one_line:
            assert len(lines) == 1, where
        else:
            assert lines, where
        assert all(
            line.startswith(("error: ", "warning: ", "bingo-scheduler")) for line in lines
        ), where


def write_yaml(path: Path, data: Any) -> Path:
    """Write ``data`` as YAML (safe_dump: every string quoted where YAML needs it)."""
    import yaml

    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@contextlib.contextmanager
def clean_environ() -> Iterator[None]:
    """No ``BINGO_*`` variable of the caller's shell reaches the code under test, except
    ``BINGO_PLUGINS=testplug`` (the test plugin package only)."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("BINGO_")}
    for key in saved:
        del os.environ[key]
    os.environ["BINGO_PLUGINS"] = "testplug"
    try:
        yield
    finally:
        for key in [k for k in os.environ if k.startswith("BINGO_")]:
            del os.environ[key]
        os.environ.update(saved)


def run_worker_until(app: Any, done: Any, timeout: float = 5.0) -> bool:
    """Run a real worker of ``app`` in this process until ``done()`` is true or ``timeout``
    seconds passed; return ``done()``. The worker must not stop on its own (a crash
    fails the test); its asyncio connections are closed afterwards."""
    import asyncio
    import time

    from bingo_core.worker import Worker

    async def main() -> bool:
        stop = asyncio.Event()
        runner = asyncio.create_task(Worker(app).run(stop))
        deadline = time.monotonic() + timeout
        try:
            while not done() and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
                if runner.done():
                    runner.result()
                    raise AssertionError("the worker stopped on its own")
            return bool(done())
        finally:
            stop.set()
            await runner
            await app.aclose()

    return asyncio.run(main())
