"""`make test` runs the lint and the tests both, and fails if either failed."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[1]


def fake_venv(tmp_path: Path, ruff: int, pytest_status: int) -> Path:
    """A .venv whose ruff, mypy and python only record that they ran, and exit as told."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    log = tmp_path / "ran"
    for name, status in (("ruff", ruff), ("mypy", 0), ("python", pytest_status)):
        tool = venv / "bin" / name
        tool.write_text(f'#!/bin/sh\necho "{name} $*" >> {log}\nexit {status}\n')
        tool.chmod(0o755)
    (venv / ".installed-stamp").touch()  # newer than setup.cfg: no install
    return venv


def make_test(tmp_path: Path, ruff: int, pytest_status: int) -> tuple[int, list[str]]:
    venv = fake_venv(tmp_path, ruff, pytest_status)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    result = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), f"VENV={venv}", "PYTEST_ARGS=", "test"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    return result.returncode, [line.strip() for line in (tmp_path / "ran").read_text().splitlines()]


def test_a_lint_failure_still_runs_the_tests_and_fails(tmp_path):
    status, ran = make_test(tmp_path, ruff=1, pytest_status=0)
    assert ran[0].startswith("ruff check")
    assert "python -m pytest" in ran  # the tests ran although the lint failed
    assert status != 0


def test_a_test_failure_fails(tmp_path):
    status, ran = make_test(tmp_path, ruff=0, pytest_status=1)
    assert "python -m pytest" in ran
    assert status != 0


def test_all_good_passes(tmp_path):
    status, ran = make_test(tmp_path, ruff=0, pytest_status=0)
    assert [line.split()[0] for line in ran] == ["ruff", "ruff", "mypy", "python"]
    assert status == 0


def test_the_makefile_names_only_commands_that_exist(app):
    """Every `$(FLASK) <command>` of the Makefile is a registered flask command."""
    named = set(re.findall(r"\$\(FLASK\) ([\w-]+)", (ROOT / "Makefile").read_text()))
    assert {"demo", "serve", "worker"} <= named
    commands = set(app.cli.list_commands(click.Context(app.cli))) | {"db"}
    assert named <= commands, named - commands
