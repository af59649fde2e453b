"""Messages and progress: plain lines off a terminal (without importing rich), rich on one."""

from __future__ import annotations

import io
import subprocess
import sys
import threading

import pytest
from rich.console import Console as RichConsole

from slicer.console import Console

MESSAGES = ["Selected 2 slices of 1 package", "path /usr/lib/x86_64-linux-gnu/libfoo.so.1 [main] = 100%", "é ü ✓"]


@pytest.fixture(autouse=True)
def no_forced_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("FORCE_COLOR", "TTY_COMPATIBLE"):
        monkeypatch.delenv(variable, raising=False)


def _rich_output(messages: list[str], warning: str) -> str:
    """What rich itself prints for the same calls on a non-terminal stream."""
    stream = io.StringIO()
    rich = RichConsole(file=stream, highlight=False, soft_wrap=True)
    for message in messages:
        rich.print(message, markup=False)
    rich.print(f"warning: {warning}", markup=False, style="yellow")
    return stream.getvalue()


def test_plain_lines_are_what_rich_would_print_off_a_terminal():
    stream = io.StringIO()
    console = Console(stream)
    for message in MESSAGES:
        console.info(message)
    console.warn("cached file x was damaged")
    assert stream.getvalue() == _rich_output(MESSAGES, "cached file x was damaged")
    assert not console.interactive


def test_quiet_keeps_warnings_only():
    stream = io.StringIO()
    console = Console(stream, quiet=True)
    console.info("hidden")
    with console.task("Downloading", total=3) as task:
        task.advance(3)
    console.warn("shown")
    assert stream.getvalue() == "warning: shown\n"


def test_a_step_off_a_terminal_prints_one_line_with_its_real_duration(monkeypatch):
    clock = iter([100.0, 103.25])
    monkeypatch.setattr("slicer.console.time.monotonic", lambda: next(clock))
    stream = io.StringIO()
    console = Console(stream)
    with console.task("Extracting", total=2, unit="packages") as task:
        task.advance()
        task.advance()
    assert task.completed == 2
    assert stream.getvalue() == "Extracting: 2 packages in 3.2s\n"


def test_a_download_off_a_terminal_shows_size_and_rate(monkeypatch):
    clock = iter([10.0, 12.0, 20.0, 20.5])
    monkeypatch.setattr("slicer.console.time.monotonic", lambda: next(clock))
    stream = io.StringIO()
    console = Console(stream)
    with console.task("Downloading", total=3_000_000, unit="bytes") as task:
        task.advance(3_000_000)
    with console.task("Reading package indexes", unit="bytes"):
        pass
    assert stream.getvalue() == (
        "Downloading: 3.0 MB in 2.0s (1.5 MB/s)\nReading package indexes: nothing to download, 0.5s\n"
    )


@pytest.mark.parametrize(
    ("environment", "interactive"),
    [
        ({"FORCE_COLOR": "1"}, True),
        ({"TTY_COMPATIBLE": "1"}, True),
        ({"FORCE_COLOR": "1", "TTY_COMPATIBLE": "0"}, False),
    ],
)
def test_variables_that_force_a_terminal_are_rich_s_to_judge(environment, interactive, monkeypatch):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    stream = io.StringIO()
    console = Console(stream)
    assert console.interactive is interactive
    with console.task("Downloading", total=4) as task:
        task.advance(4)
    # A progress bar shows the count; plain lines only the start and end of the step.
    assert ("4/4" in stream.getvalue()) is interactive


def test_lines_from_many_threads_stay_whole():
    stream = io.StringIO()
    console = Console(stream)

    def speak(number: int) -> None:
        for _ in range(50):
            console.info(f"thread {number} says a fairly long line of text")

    threads = [threading.Thread(target=speak, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 400
    assert all(line.startswith("thread ") and line.endswith(" says a fairly long line of text") for line in lines)


def test_plain_messages_do_not_import_rich():
    code = (
        "import io, sys\n"
        "from slicer.console import Console\n"
        "console = Console(io.StringIO())\n"
        "console.info('x'); console.warn('y')\n"
        "with console.task('step', total=1) as task: task.advance()\n"
        "print('rich' in sys.modules)\n"
    )
    env = {"PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert (result.returncode, result.stdout, result.stderr) == (0, "False\n", "")
