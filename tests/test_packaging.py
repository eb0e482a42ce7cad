"""The built wheel: it carries the search spaces, so an install outside the source tree finds them."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from sweep.space.spaces import shipped_spaces
from tests.conftest import REPO


@pytest.mark.slow
def test_the_wheel_ships_every_search_space(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a copy, so the build leaves nothing in the checkout
    shutil.copytree(REPO / "sweep", source / "sweep", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), "."],
        cwd=source, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("sweep-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"sweep/space/search_spaces/{path.name}" for path in shipped_spaces()}
    assert len(shipped) >= 5 and shipped <= names
    vendored = {"sweep/reporting/vendor/list.min.js", "sweep/reporting/vendor/LICENSE-list.js.txt"}
    assert vendored <= names  # the report's table
    assert not any(name.startswith(("tests/", "bench/")) for name in names)
