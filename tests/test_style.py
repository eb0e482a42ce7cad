"""The code passes the project's linter and formatter (ruff) and type checker (mypy, strict on the package),
both configured in pyproject.toml. ``make lint`` runs only these; ``make test-fast`` leaves them out
(mypy alone takes about a minute)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.lint


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (make installs it with the test extra)")
    return found


def test_ruff_finds_nothing() -> None:
    done = subprocess.run(
        [_tool("ruff"), "check", "sweep", "bench", "tests"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_code_is_formatted_by_ruff() -> None:
    done = subprocess.run(
        [_tool("ruff"), "format", "--check", "sweep", "bench", "tests"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, "run `ruff format sweep bench tests`:\n" + done.stdout + done.stderr


def test_mypy_finds_nothing_in_the_package() -> None:
    done = subprocess.run([_tool("mypy")], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
