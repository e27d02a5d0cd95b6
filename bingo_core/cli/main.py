"""``bingo-scheduler``: run the daemon, or one subcommand.

Each subcommand lives in its own module with ``register(subparsers)``; the parser it adds
sets ``func(app) -> int``.

This module is the one place that turns what a user can meet into one line on stderr and
an exit code (each line masks the configured secrets):

====  ==================================================================================
0     done (also the daemon after SIGTERM/SIGINT)
1     a service is missing or unusable (Redis, the database), a key in Redis of the wrong
      type, the daemon stopped on its own, or an internal error (a bug: "internal error:
      ...; run with --debug for the traceback")
2     bad input: a config value, an argument, a payload, a spec, a task type
130   interrupted (Ctrl-C)
141   stdout was closed early (``... | head``): the output stops quietly
====  ==================================================================================

``--debug`` (anywhere on the command line) or ``BINGO_DEBUG=1`` adds the traceback and
the log records of a subcommand to stderr.

The cyclic garbage collector is paused while a quick command runs: its start-up (the
libraries, the settings models) makes many objects that live until the exit and hardly
any cycles, which the collector would scan again and again, a large share of a quick
command's time. The daemon and a command that runs on (its parser sets ``lasting``: the
dashboard, ``tasks wait``) run with the collector on; ``main`` leaves it as it found it,
and when it is the program (called with no ``argv``) it freezes what it made (see
:func:`gc.freeze`): the interpreter's exit then has nothing large to scan.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import logging
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from .. import process
from ..config.paths import DEFAULT_CONFIG_PATH
from ..errors import BingoError, Crashed, ServiceUnavailable, UsageError

if TYPE_CHECKING:
    from ..app import App

#: The module (in this package) of each command, in help order. A command line that names
#: one imports that module alone and builds its parser alone; ``--help`` and a line that
#: names none build them all.
COMMANDS = {
    "enqueue": "enqueue",
    "plugins": "plugins",
    "stats": "stats",
    "problems": "problems",
    "tasks": "tasks",
    "workflows": "workflows",
    "queues": "queues",
    "servers": "servers",
    "cron": "cron",
    "db": "db",
    "check": "check",
    "dashboard": "dashboard",
    "plugin": "plugin_new",
}
#: Pydantic's switch for its plugins (observers of validation, found by reading every
#: installed distribution's entry points): a quick command runs without them.
PYDANTIC_PLUGINS_ENV = "PYDANTIC_DISABLE_PLUGINS"
#: The top-level options that take a value: the word after one is not the command.
_VALUED = ("-c", "--config", "--set")
DEFAULT_CONFIG = str(DEFAULT_CONFIG_PATH)
#: Environment variable that turns ``--debug`` on.
DEBUG_ENV = "BINGO_DEBUG"
#: Exit code when stdout was closed before all was written (128 + SIGPIPE, as a shell
#: reports a tool killed by it).
EXIT_PIPE = 141


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # An argument that holds a newline or a control character stays on one line.
        flat = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
        print(f"{self.prog}: error: {flat}", file=sys.stderr)
        raise SystemExit(2)


def _add_debug(parser: argparse.ArgumentParser, top: bool) -> None:
    """``--debug`` on ``parser`` and on every parser below it."""
    parser.add_argument(
        "--debug",
        action="store_true",
        # Below the top level, an absent flag must not reset one given before.
        default=False if top else argparse.SUPPRESS,
        help=f"show tracebacks and log records on stderr (also: {DEBUG_ENV}=1)",
    )
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in set(action.choices.values()):
                _add_debug(child, top=False)


def command_named(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names, when it can be told before parsing (the first word
    that is neither an option nor an option's value, when it is a command), else None."""
    words = iter(argv)
    for word in words:
        if word == "--":
            return None
        if word in _VALUED:
            next(words, None)
        elif not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser: the daemon's options plus every subcommand (``only``: plus
    that one alone)."""
    parser = _Parser(
        prog="bingo-scheduler",
        description="Distributed task scheduler: cron schedules, Redis queues, plugin tasks.",
    )
    parser.add_argument(
        "-c",
        "--config",
        default=None,
        metavar="FILE",
        help=f"config file (default: $BINGO_CONFIG, else {DEFAULT_CONFIG} if present)",
    )
    parser.add_argument("--no-scheduler", action="store_true", help="do not run the scheduler")
    parser.add_argument("--no-worker", action="store_true", help="do not run workers")
    parser.add_argument("--no-dashboard", action="store_true", help="do not serve the dashboard")
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one config value (highest precedence); repeatable",
    )
    parser.set_defaults(func=None)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    for command, module in COMMANDS.items():
        if only is None or command == only:
            importlib.import_module(f".{module}", __package__).register(sub)
    _add_debug(parser, top=True)
    return parser


def _overrides(sets: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            raise UsageError(f"--set {item!r}: expected SECTION.KEY=VALUE")
        out[key.strip()] = value
    return out


def _debug_wanted(argv: Sequence[str] | None) -> bool:
    args = sys.argv[1:] if argv is None else argv
    return "--debug" in args or os.environ.get(DEBUG_ENV, "").strip() not in ("", "0")


def _secrets(app: App | None) -> list[str]:
    """The configured secrets, when the config loads (a config error masks its own)."""
    if app is None:
        return []
    # lazy: keeps the settings models (pydantic) out of the start-up; a line is rare
    from ..config.logging import secret_values

    try:
        return secret_values(app.settings)
    except Exception:
        return []


def _say(text: str, app: App | None) -> None:
    """One line on stderr, secrets masked."""
    # lazy: keeps the settings models (pydantic) out of the start-up; a line is rare
    from ..config.logging import SecretMask

    line = SecretMask(_secrets(app)).mask(" ".join(text.split()))
    with contextlib.suppress(OSError, ValueError):
        print(line, file=sys.stderr)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null: nothing more is written, nothing fails at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _classify(exc: BaseException) -> tuple[int, str]:
    """The exit code and line for an exception no Bingo error wraps."""
    # lazy: keeps asyncio and redis out of the start-up (an unexpected error is rare)
    from ..loops import is_connection_error, is_wrong_type, one_line

    if is_wrong_type(exc):
        return 1, f"error: Redis refused a command on a key of the wrong type: {one_line(exc)}"
    if is_connection_error(exc):
        return 1, f"error: Redis is not reachable: {one_line(exc)}"
    return 1, f"error: internal error: {one_line(exc)}; run with --debug for the traceback"


@contextlib.contextmanager
def _quick() -> Iterator[None]:
    """What a quick command runs in: pydantic loads no plugin (unless
    :data:`PYDANTIC_PLUGINS_ENV` is set); as before after it."""
    plugins_set = PYDANTIC_PLUGINS_ENV in os.environ
    if not plugins_set:
        os.environ[PYDANTIC_PLUGINS_ENV] = "__all__"
    try:
        yield
    finally:
        if not plugins_set:
            os.environ.pop(PYDANTIC_PLUGINS_ENV, None)


def _debug_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("bingo")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    process.ignore_usr1()  # only the daemon acts on SIGUSR1: it installs its own handler
    collecting = gc.isenabled()
    gc.disable()  # see the module's note
    try:
        return _main(argv, collecting)
    finally:
        if argv is None:
            # The program (the console script) ends here: what it made is moved out of the
            # collector's reach, so the interpreter's exit does not scan it once more.
            gc.freeze()
        if collecting:
            gc.enable()


def _main(argv: Sequence[str] | None, collecting: bool) -> int:
    debug = _debug_wanted(argv)
    app: App | None = None
    error: BaseException | None = None
    try:
        words = sys.argv[1:] if argv is None else list(argv)
        parser = build_parser(command_named(words))
        args = parser.parse_args(words)
        args.overrides = _overrides(args.sets)
        # lazy: what a command needs loads when it first uses it (see .parts), not before
        # its arguments are parsed (--help, a usage error)
        from ..app import App

        app = App.from_args(args)
        quick = args.func is not None and not getattr(args, "lasting", False)
        if collecting and not quick:
            gc.enable()  # a process that runs on collects its garbage
        if args.func is None:
            # lazy: keeps the daemon (and redis, which it loads) out of the other commands'
            # start-up
            from ..daemon import run_daemon

            return run_daemon(app)
        # Subcommands report problems themselves, in one line; keep log records quiet.
        quiet = logging.getLogger("bingo")
        quiet.addHandler(logging.NullHandler())
        quiet.propagate = False
        if debug:
            _debug_logging()
        with _quick() if quick else contextlib.nullcontext():
            code: int = args.func(app)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_PIPE
    except ServiceUnavailable as exc:
        code, line, error = 1, f"error: {exc}", exc
    except UsageError as exc:
        code, line, error = 2, f"error: {exc}", exc
    except Crashed as exc:
        if exc.logged:
            return 1
        code, line, error = 1, f"error: bingo-scheduler stops: {exc}", exc
    except BingoError as exc:
        code, line, error = 1, f"error: {exc}", exc
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        (code, line), error = _classify(exc), exc
    finally:
        logging.shutdown()
    if debug:
        traceback.print_exception(error)
    _say(line, app)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
