"""Progress display: live bars on a terminal (rich), plain log lines when output is redirected."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class Steps(Protocol):
    """What training needs of its progress: a step done, and a new total when a run is re-planned
    (:class:`Task`, or a member process's JSON lines, :mod:`sweep.commands.ensemble`)."""

    def advance(self, info: str = "", steps: int = 1) -> None: ...

    def resize(self, total: int) -> None: ...


class Display:
    """One place that decides how progress is shown.

    On a terminal, bars update in place (with elapsed and remaining time); otherwise every
    update is one plain line, so logs of batch jobs and CI stay readable.
    """

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False)
        self.live = self.console.is_terminal
        self._progress: Progress | None = None

    def log(self, message: str) -> None:
        """Print one line above any live bars (flushed at once, also into a log file)."""
        self.console.print(message, markup=False, soft_wrap=True)
        self.console.file.flush()

    @contextmanager
    def session(self) -> Iterator[Display]:
        """Keep the bars of everything inside on screen together (one rich Progress)."""
        if not self.live:
            yield self
            return
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            console=self.console,
        )
        with self._progress:
            yield self
        self._progress = None

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Task]:
        """A unit of work with ``total`` steps; yields a :class:`Task` to advance."""
        task = Task(self, description, total)
        try:
            yield task
        finally:
            task.close()


class Task:
    """A progress bar (terminal) or a series of log lines (anything else)."""

    def __init__(self, display: Display, description: str, total: int | None) -> None:
        self.display = display
        self.description = description
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        self._logged = False
        progress = display._progress
        self._id = progress.add_task(description, total=total, info="") if progress is not None else None

    def advance(self, info: str = "", steps: int = 1) -> None:
        """Record ``steps`` more steps done, with a short status text."""
        self.done += steps
        progress = self.display._progress
        if progress is not None and self._id is not None:
            progress.update(self._id, advance=steps, info=info)
        elif steps or not self._logged:  # a log line only when something happened
            self._logged = True
            of = f"/{self.total}" if self.total else ""
            elapsed = time.monotonic() - self.started
            self.display.log(f"{self.description} {self.done}{of} [{elapsed:.0f}s] {info}".rstrip())

    def resize(self, total: int) -> None:
        """A new total: a run re-planned while it runs (more or fewer epochs than it began with)."""
        self.total = total
        progress = self.display._progress
        if progress is not None and self._id is not None:
            progress.update(self._id, total=total)

    def close(self) -> None:
        """Remove a finished sub-bar so that nested tasks do not pile up on screen."""
        progress = self.display._progress
        if progress is not None and self._id is not None:
            progress.remove_task(self._id)
            self._id = None
