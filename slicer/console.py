"""Progress and messages on stderr: rich on a terminal, plain lines otherwise.

Every long step (resolve, download, extract, scripts) runs inside
`Console.task`, which shows a rich progress bar when stderr is a terminal and
prints one line when the step ends when it is not.

rich is imported only when something may reach a terminal: importing it
costs a noticeable part of a warm cut's start-up.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

from .humane import duration, size

if TYPE_CHECKING:
    from rich.console import Console as RichConsole
    from rich.progress import Progress, TaskID


def _plainly_not_terminal(stream: TextIO) -> bool:
    """True when rich would see no terminal either: not a tty, and no variable forcing one."""
    forced = os.environ.get("TTY_COMPATIBLE", "")
    if forced in ("0", "1"):
        return forced == "0"
    if "FORCE_COLOR" in os.environ:
        return False
    try:
        return not stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return True


class Task:
    """A handle on one running step; `advance` is safe from worker threads."""

    def __init__(self, progress: Progress | None, task_id: TaskID | None) -> None:
        self._progress = progress
        self._task_id = task_id
        self._lock = threading.Lock()
        self.completed = 0

    def advance(self, amount: int = 1) -> None:
        with self._lock:
            self.completed += amount
        if self._progress is not None and self._task_id is not None:
            self._progress.update(self._task_id, advance=amount)

    def grow(self, amount: int) -> None:
        """Raise the total when more work is discovered on the way."""
        if self._progress is not None and self._task_id is not None:
            task = self._progress.tasks[self._task_id]
            self._progress.update(self._task_id, total=(task.total or 0) + amount)


class Console:
    def __init__(self, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self._plain = _plainly_not_terminal(self.stream)
        self._lock = threading.Lock()

    @functools.cached_property
    def rich(self) -> RichConsole:
        """The rich console on the stream, made on first use."""
        from rich.console import Console as RichConsole  # late: see the module docstring

        return RichConsole(file=self.stream, highlight=False, soft_wrap=True)

    @functools.cached_property
    def interactive(self) -> bool:
        """Whether steps draw progress bars: on a terminal, unless quiet."""
        return not self.quiet and not self._plain and self.rich.is_terminal

    def _line(self, text: str, style: str | None = None) -> None:
        if self._plain:
            with self._lock:
                self.stream.write(text + "\n")
                self.stream.flush()
        else:
            self.rich.print(text, markup=False, style=style)

    def info(self, message: str) -> None:
        if not self.quiet:
            self._line(message)

    def warn(self, message: str) -> None:
        self._line(f"warning: {message}", style="yellow")

    @contextmanager
    def task(self, description: str, total: int | None = None, unit: str = "items") -> Iterator[Task]:
        """A step with a progress bar; `unit="bytes"` shows sizes, rate and time left.

        Off a terminal the step prints one line when it ends: what it did, how
        long it took, and for bytes the rate.
        """
        if not self.interactive:
            started = time.monotonic()
            task = Task(None, None)
            yield task
            self.info(f"{description}: {_finished(task.completed, unit, time.monotonic() - started)}")
            return
        # Imported here: only a terminal draws bars, and the import costs start-up time.
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        columns: list[Any] = [TextColumn("{task.description}"), BarColumn()]
        if unit == "bytes":
            columns += [DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn()]
        else:
            columns += [MofNCompleteColumn(), TaskProgressColumn(), TimeElapsedColumn()]
        with Progress(*columns, console=self.rich, transient=False) as progress:
            task_id = progress.add_task(description, total=total)
            yield Task(progress, task_id)


def _finished(completed: int, unit: str, seconds: float) -> str:
    """The end of a step, e.g. `3.2 MB in 2.1s (1.5 MB/s)` or `12 packages in 0.4s`."""
    if unit != "bytes":
        return f"{completed} {unit} in {duration(seconds)}"
    if not completed:
        return f"nothing to download, {duration(seconds)}"
    return f"{size(completed)} in {duration(seconds)} ({size(int(completed / max(seconds, 1e-3)))}/s)"
