"""The progress display falls back to plain lines, one per real step, when not on a terminal."""

from __future__ import annotations

import io

from rich.console import Console

from sweep.progress import Display


def test_plain_output_logs_each_step_once_and_not_idle_polls() -> None:
    out = io.StringIO()
    display = Display(Console(file=out, force_terminal=False))
    assert not display.live
    with display.session(), display.task("trials", 3) as task:
        task.advance(steps=0)  # the start line
        task.advance(steps=0)  # a poll where nothing finished: no line
        task.advance("best 0.9", steps=1)
        task.advance("best 0.9", steps=0)
    lines = out.getvalue().splitlines()
    assert [line.split(" [")[0] for line in lines] == ["trials 0/3", "trials 1/3"]
    assert lines[1].endswith("best 0.9")


def test_a_resized_task_counts_against_its_new_total_in_lines_and_on_a_terminal() -> None:
    out = io.StringIO()
    display = Display(Console(file=out, force_terminal=False))
    with display.session(), display.task("retrain epochs", 2) as task:
        task.advance(steps=1)
        task.resize(3)  # the run was lengthened while it trained
        task.advance(steps=1)
        task.advance(steps=1)
    assert [line.split(" [")[0] for line in out.getvalue().splitlines()] == [
        "retrain epochs 1/2",
        "retrain epochs 2/3",
        "retrain epochs 3/3",
    ]
    terminal = Display(Console(file=io.StringIO(), force_terminal=True))
    with terminal.session(), terminal.task("retrain epochs", 2) as task:
        task.resize(5)
        assert terminal._progress is not None and task._id is not None
        assert terminal._progress.tasks[0].total == 5
