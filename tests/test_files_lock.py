"""One command a results folder at a time (sweep.files.results_lock), without training."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sweep.errors import UsageError
from sweep.files import HOLDER, results_lock


def test_a_second_command_on_a_held_folder_is_refused_and_told_who_holds_it(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", (
            "import sys, time; from pathlib import Path; from sweep.files import results_lock\n"
            f"with results_lock(Path({str(tmp_path)!r}), 'sweep'):\n"
            "    print('held', flush=True); time.sleep(30)"
        )],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(UsageError, match=rf"is in use by sweep \(pid {holder.pid}, since"):
            with results_lock(tmp_path, "retrain"):
                pass
    finally:
        holder.kill()
        holder.wait()
    # Its end released the folder, however it ended.
    with results_lock(tmp_path, "retrain"):
        assert (tmp_path / HOLDER).read_text().startswith("retrain (pid")
    assert not (tmp_path / HOLDER).exists()  # nothing left behind
