"""setup_logging: levels, console and JSON formats, the rotated file, no duplicate handlers."""

from __future__ import annotations

import calendar
import datetime as dt
import gzip
import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bingo_core.config import setup_logging
from bingo_core.config.settings import LogSettings
from bingo_core.errors import ConfigError

ROTATED = re.compile(r"scheduler-(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3})(?:-(\d+))?\.log(\.gz)?")


@pytest.fixture
def logger_name() -> Iterator[str]:
    """A logger of its own for each test, its handlers closed afterwards."""
    name = f"bingo.test.{uuid.uuid4().hex[:8]}"
    yield name
    logger = logging.getLogger(name)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


def stamp(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H-%M-%S", time.gmtime(when)) + ".000"


def rotation_order(path: Path) -> tuple[str, int]:
    """Rotated files in the order they were written: time, then the same-millisecond count."""
    match = ROTATED.fullmatch(path.name)
    assert match is not None
    return match.group(1), int(match.group(2) or 0)


def test_console_format_and_level(logger_name: str, capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging(LogSettings(level="warn", format="console"), name=logger_name)
    log = logging.getLogger(f"{logger_name}.worker")
    log.info("not shown")
    log.warning("task %s failed", "abc")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert re.fullmatch(
        rf"\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{{3}} WARNING +{re.escape(logger_name)}\.worker: "
        r"task abc failed",
        lines[0],
    )


def test_json_lines_parse(logger_name: str, tmp_path: Path) -> None:
    path = tmp_path / "log" / "scheduler.log"
    setup_logging(
        LogSettings(level="debug", format="json", console=False, path=str(path)),
        name=logger_name,
    )
    log = logging.getLogger(logger_name)
    log.debug("plain", extra={"task_id": "t1", "queue": "default"})
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("handler failed")
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == 2
    first, second = records
    assert (first["level"], first["logger"], first["message"]) == ("debug", logger_name, "plain")
    assert (first["task_id"], first["queue"]) == ("t1", "default")
    when = dt.datetime.fromisoformat(first["time"])
    assert when.tzinfo is not None
    assert abs(when.timestamp() - time.time()) < 60
    assert second["level"] == "error" and second["message"] == "handler failed"
    assert "RuntimeError: boom" in second["exception"]
    assert "Traceback" in second["exception"]


def test_calling_twice_does_not_duplicate_handlers(
    logger_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = LogSettings(path=str(tmp_path / "scheduler.log"))
    setup_logging(settings, name=logger_name)
    setup_logging(settings, name=logger_name)
    logger = logging.getLogger(logger_name)
    assert len(logger.handlers) == 2  # stderr + file
    logger.info("once")
    assert capsys.readouterr().err.count("once") == 1
    assert (tmp_path / "scheduler.log").read_text().count("once") == 1
    setup_logging(LogSettings(console=False), name=logger_name)
    assert [type(h) for h in logger.handlers] == [logging.NullHandler]
    logger.error("nowhere")
    assert capsys.readouterr().err == ""


def test_rotation_compresses_with_timestamp_and_deletes_old(
    logger_name: str, tmp_path: Path
) -> None:
    folder = tmp_path / "storage" / "log"
    folder.mkdir(parents=True)
    now = time.time()
    expired = folder / f"scheduler-{stamp(now - 8 * 86400)}.log.gz"
    recent = folder / f"scheduler-{stamp(now - 6 * 86400)}.log.gz"
    unrelated = [folder / "scheduler-notes.log", folder / "other.log"]
    for path in [expired, recent, *unrelated]:
        path.write_bytes(b"x")
    settings = LogSettings(
        console=False, path=str(folder / "scheduler.log"), max_size=0.001, compress=True, days=7
    )
    setup_logging(settings, name=logger_name)
    log = logging.getLogger(logger_name)
    messages = [f"message {i:03d} " + "." * 80 for i in range(40)]
    for message in messages:
        log.info(message)
    assert not expired.exists()
    assert recent.exists() and all(p.exists() for p in unrelated)
    rotated = sorted(
        (p for p in folder.iterdir() if ROTATED.fullmatch(p.name) and p != recent),
        key=rotation_order,
    )
    assert len(rotated) >= 3
    text = ""
    for path in rotated:
        match = ROTATED.fullmatch(path.name)
        assert match is not None and match.group(3) == ".gz"
        when = calendar.timegm(time.strptime(match.group(1)[:-4], "%Y-%m-%dT%H-%M-%S"))
        assert now - 5 <= when <= time.time() + 1
        assert path.stat().st_size < 1048  # compressed
        text += gzip.decompress(path.read_bytes()).decode()
    current = (folder / "scheduler.log").read_text()
    assert len(current.encode()) <= 1048
    lines = (text + current).splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == messages  # nothing lost, in order


def test_rotation_without_compression_keeps_everything_when_days_is_zero(
    logger_name: str, tmp_path: Path
) -> None:
    old = tmp_path / f"scheduler-{stamp(time.time() - 400 * 86400)}.log"
    old.write_text("old\n")
    settings = LogSettings(
        console=False, path=str(tmp_path / "scheduler.log"), max_size=0.001, days=0
    )
    setup_logging(settings, name=logger_name)
    for i in range(20):
        logging.getLogger(logger_name).info("line %d %s", i, "-" * 100)
    rotated = [p for p in tmp_path.iterdir() if ROTATED.fullmatch(p.name)]
    assert old in rotated and len(rotated) >= 2
    assert not any(p.name.endswith(".gz") for p in rotated)


def test_log_path_that_cannot_be_created(logger_name: str, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError) as info:
        setup_logging(LogSettings(console=False, path=str(blocker / "x.log")), name=logger_name)
    assert str(info.value).startswith(f"config key log.path: '{blocker / 'x.log'}' is not valid")
