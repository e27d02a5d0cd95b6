"""The ``bingo-scheduler`` process itself: SIGUSR1 and the daemon's title.

Only the daemon acts on SIGUSR1 (a ``sys_crontab`` sync); every other ``bingo-scheduler``
process (a CLI command, a standalone ``dashboard``) ignores it, so that ``pkill -USR1
bingo-scheduler`` reaches the daemons and hurts nothing else. The default action of
SIGUSR1 ends a process, so the console script ignores it before anything else:
:mod:`bingo_core` imports this module first, and it sets ``SIG_IGN`` at import when the
program is the console script (``sys.argv[0]`` named ``bingo-scheduler``); the command line
sets it again for ``python -m bingo_core.cli.main``. The daemon installs its own handler.

The daemon's title: :func:`set_title` rewrites the process's command line in place (what
``ps`` shows and ``pkill -f`` matches) on Linux, and sets its short name (``comm``, what
``pkill NAME`` matches) to ``bingo-scheduler``; elsewhere it does nothing. This needs no
dependency: the command line is the memory ``/proc/self/stat`` names (``arg_start`` to
``arg_end``), written through :mod:`ctypes` within its length, as ``setproctitle`` does.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

#: The console script's name, and the ``comm`` name of every ``bingo-scheduler`` process.
NAME = "bingo-scheduler"
#: ``prctl`` option that sets the calling thread's name (``linux/prctl.h``).
_PR_SET_NAME = 15


def ignore_usr1() -> None:
    """Ignore SIGUSR1 in this process (the main thread only; elsewhere nothing)."""
    # no SIGUSR1 (Windows), or not the main thread
    with contextlib.suppress(AttributeError, ValueError, OSError):
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)


def is_console_script() -> bool:
    """Whether this program is the ``bingo-scheduler`` console script."""
    return bool(sys.argv) and os.path.basename(sys.argv[0]).removesuffix(".exe") == NAME


def _arg_area() -> tuple[int, int] | None:
    """The start and end address of this process's command line (Linux), else None."""
    try:
        with open("/proc/self/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    fields = stat[stat.rindex(b")") + 2 :].split()
    # Field 48 is arg_start, 49 arg_end; the list starts at field 3.
    if len(fields) < 47:
        return None
    start, end = int(fields[45]), int(fields[46])
    return (start, end) if 0 < start < end else None


def set_title(title: str) -> bool:
    """Show ``title`` as this process's command line (``ps``, ``pkill -f``), cut to the
    length of the original one, and name the process ``bingo-scheduler``; True when the
    command line was rewritten."""
    if not sys.platform.startswith("linux"):
        return False
    # lazy: only the daemon names itself; the other commands never load ctypes
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_NAME, ctypes.c_char_p(NAME.encode()[:15]), 0, 0, 0)
    except (OSError, AttributeError):
        pass
    area = _arg_area()
    if area is None:
        return False
    start, end = area
    size = end - start
    data = title.encode("utf-8", "replace")[: size - 1].ljust(size, b"\0")
    ctypes.memmove(start, data, size)
    return True


# At import, which bingo_core does before anything else (see the module's docstring).
if is_console_script():
    ignore_usr1()
