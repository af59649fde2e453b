"""Progress and messages on stderr: rich on a terminal, plain lines otherwise.

Every long step (resolve, download, extract, scripts) runs inside
`Console.task`, which shows a rich progress bar when stderr is a terminal and
prints one line at the start and end of the step when it is not.

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

    def table(self, table: object) -> None:
        """Print a rich table on stdout; never truncated when stdout is not a terminal."""
        from rich.console import Console as RichConsole  # late: see the module docstring

        out = RichConsole(highlight=False, soft_wrap=True)
        if not out.is_terminal:
            out = RichConsole(highlight=False, soft_wrap=True, width=1000)
        out.print(table)

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
