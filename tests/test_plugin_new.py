"""``bingo-scheduler plugin new NAME``: the package it writes lints clean and passes its own
tests here, and, installed with pip into a fresh virtual environment next to the core
(nothing borrowed from this one), passes them there and runs as a task type in a real
daemon."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import venv
from pathlib import Path
from typing import Any

import pytest

from bingo_core.cli.main import main
from bingo_core.cli.plugin_new import names, write_package

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def test_names_derive_from_the_plugin_name() -> None:
    assert names("disk-report") == {
        "dist": "bingo-plugin-disk-report",
        "module": "bingo_plugin_disk_report",
        "entry": "disk_report",
        "task_type": "task:disk-report",
        "camel": "DiskReport",
        "func": "disk_report",
        "core": "0.1",
    }
    assert names("bingo-plugin-x2")["module"] == "bingo_plugin_x2"
    assert names("sync_users", "users:sync")["task_type"] == "users:sync"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["Disk Report"], "plugin name 'Disk Report': expected lowercase letters"),
        (["2fast"], "plugin name '2fast': expected lowercase letters"),
        (["a--b"], "plugin name 'a--b'"),
        (["ok", "--task-type", "bad type"], "--task-type 'bad type': expected letters"),
    ],
)
def test_bad_names_exit_2_with_one_line(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plugin", "new", *argv, "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_not_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "hello").mkdir()
    (tmp_path / "hello" / "mine.txt").write_text("keep")
    assert main(["plugin", "new", "hello", "--dir", str(tmp_path)]) == 2
    assert "already exists and is not empty" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "hello").iterdir()] == ["mine.txt"]


def test_json_lists_what_was_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugin", "new", "hello", "--dir", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dist"] == "bingo-plugin-hello"
    assert out["files"] == [
        "pyproject.toml",
        "README.md",
        ".gitignore",
        "bingo_plugin_hello/__init__.py",
        "tests/test_hello.py",
    ]
    assert all((tmp_path / "hello" / f).is_file() for f in out["files"])
    pyproject = (tmp_path / "hello" / "pyproject.toml").read_text()
    assert '[project.entry-points."bingo.plugins"]\nhello = "bingo_plugin_hello"' in pyproject
    assert 'license = "MIT"' in pyproject and 'requires = ["setuptools>=77"]' in pyproject


def test_the_package_lints_clean_and_its_tests_pass_here(tmp_path: Path) -> None:
    root, _ = write_package("disk-report", tmp_path)
    for args in (["check"], ["format", "--check"]):
        lint = subprocess.run(
            [str(BIN / "ruff"), *args, "--line-length", "100", "."],
            cwd=root,
            capture_output=True,
            text=True,
        )
        assert lint.returncode == 0, lint.stdout + lint.stderr
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "4 passed" in run.stdout


# -- installed for real -------------------------------------------------------------------


def _clean_env(venv_dir: Path) -> dict[str, str]:
    """This environment without anything that would let the fresh venv see this one."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PIP_USER")
        and not k.startswith("BINGO_")
    }
    env["VIRTUAL_ENV"] = str(venv_dir)
    env["PATH"] = os.pathsep.join([str(venv_dir / "bin"), env.get("PATH", "")])
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(cmd: list[str], env: dict[str, str], cwd: Path, timeout: float = 600) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
    return proc.stdout


@pytest.mark.slow
@pytest.mark.parallel_safe
@pytest.mark.timeout(1200)
def test_pip_install_of_the_package_runs_its_task_type_in_a_real_daemon(
    tmp_path: Path, bingo_redis_url: str
) -> None:
    venv_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False, clear=True).create(venv_dir)
    py = str(venv_dir / "bin" / "python")
    env = _clean_env(venv_dir)
    # Nothing of this environment is visible there.
    probe = subprocess.run(
        [py, "-c", "import bingo_core"], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert probe.returncode != 0 and "No module named 'bingo_core'" in probe.stderr

    # The core from this repository, then the generated package with its test extra.
    _run([py, "-m", "pip", "install", "-q", str(ROOT)], env, tmp_path)
    exe = str(venv_dir / "bin" / "bingo-scheduler")
    _run([exe, "plugin", "new", "hello", "--dir", str(tmp_path)], env, tmp_path)
    _run([py, "-m", "pip", "install", "-q", f"{tmp_path / 'hello'}[test]"], env, tmp_path)

    # Its own tests, in that environment (bingo_core.testing comes with the core).
    out = _run([py, "-m", "pytest", "-q", "-p", "no:cacheprovider"], env, tmp_path / "hello")
    assert "4 passed" in out

    # Run from another folder, so only the installed copy can be imported.
    work = tmp_path / "work"
    work.mkdir()
    config = work / "bingo.yaml"
    config.write_text(
        json.dumps(
            {
                "server": {"timezone": "UTC"},
                "redis": {"url": bingo_redis_url},
                "database": {"url": f"sqlite:///{work / 'bingo.db'}"},
                "log": {"level": "info", "console": True, "path": ""},
                "scheduler": {"enabled": False},
                "plugins": {"hello": {"greeting": "Hi"}},
            }
        )
    )
    listed = json.loads(_run([exe, "-c", str(config), "plugins", "--json"], env, work))
    [hello] = [p for p in listed["plugins"] if p["name"] == "hello"]
    assert (hello["distribution"], hello["version"], hello["error"]) == (
        "bingo-plugin-hello",
        "0.1.0",
        None,
    )
    assert [t["name"] for t in hello["task_types"]] == ["task:hello"]
    assert hello["task_types"][0]["handler"] == "bingo_plugin_hello.handle_hello"

    daemon = subprocess.Popen(
        [exe, "-c", str(config), "--no-scheduler", "--no-dashboard"],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        task_id = _run(
            [exe, "-c", str(config), "enqueue", "task:hello", "--payload", '{"name": "Ada"}',
             "--retention", "60"],
            env,
            work,
        ).strip()  # fmt: skip
        shown: dict[str, Any] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            shown = json.loads(
                _run([exe, "-c", str(config), "tasks", "show", task_id, "--json"], env, work)
            )
            if shown.get("state") in ("completed", "archived"):
                break
            assert daemon.poll() is None, "the daemon exited"
            time.sleep(0.2)
        assert shown.get("state") == "completed", shown
        assert shown["result"] == {"message": "Hi, Ada!"}
    finally:
        daemon.terminate()
        log, _ = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, log
    assert "bingo-scheduler started" in log
