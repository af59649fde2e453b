"""Progress and messages on stderr: rich on a terminal, plain lines otherwise.

Every long step (resolve, download, extract, scripts) runs inside
`Console.task`, which shows a rich progress bar when stderr is a terminal and
prints one line at the start and end of the step when it is not.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from typing import TYPE_CHECKING, Any

from rich.console import Console as RichConsole

if TYPE_CHECKING:
    from rich.progress import Progress


class Task:
    """A handle on one running step; `advance` is safe from worker threads."""

    def __init__(self, progress: Progress | None, task_id: int | None) -> None:
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
        self.rich = RichConsole(file=self.stream, highlight=False, soft_wrap=True)
        self.interactive = self.rich.is_terminal and not quiet

    def table(self, table: object) -> None:
        """Print a rich table on stdout; never truncated when stdout is not a terminal."""
        out = RichConsole(highlight=False, soft_wrap=True)
        if not out.is_terminal:
            out = RichConsole(highlight=False, soft_wrap=True, width=1000)
        out.print(table)

    def info(self, message: str) -> None:
        if not self.quiet:
            self.rich.print(message, markup=False)

    def warn(self, message: str) -> None:
        self.rich.print(f"warning: {message}", markup=False, style="yellow")

    @contextmanager
    def task(self, description: str, total: int | None = None, unit: str = "items") -> Iterator[Task]:
        """A step with a progress bar; `unit="bytes"` shows sizes and rates."""
        if not self.interactive:
            started = time.monotonic()
            self.info(f"{description}...")
            task = Task(None, None)
            yield task
            self.info(f"{description}: done in {time.monotonic() - started:.1f}s")
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
            TransferSpeedColumn,
        )

        columns: list[Any] = [TextColumn("{task.description}"), BarColumn()]
        if unit == "bytes":
            columns += [DownloadColumn(), TransferSpeedColumn()]
        else:
            columns += [MofNCompleteColumn(), TaskProgressColumn()]
        columns.append(TimeElapsedColumn())
        with Progress(*columns, console=self.rich, transient=False) as progress:
            task_id = progress.add_task(description, total=total)
            yield Task(progress, task_id)
