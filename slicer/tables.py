"""Tables on stdout, one style for every command, never cutting a name.

A table is printed as aligned columns when it fits the width; when it does
not (a narrow terminal, long names), each row becomes a small block: the
first cell as a heading, then one `Column: value` line per other cell, long
values wrapped under themselves. Off a terminal, without `COLUMNS`, nothing
limits the width, so scripts always get the column layout.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import textwrap
from collections.abc import Sequence

GAP = "  "


def output_width() -> int | None:
    """The width tables must fit: `COLUMNS`, else the terminal's, else none (a pipe or file)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


def _cell_lines(value: str) -> list[str]:
    return value.split("\n") if value else [""]


def columns_layout(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Aligned columns under a header line; a cell with several lines takes several lines."""
    widths = [
        max(len(line) for cell in [header, *(row[i] for row in rows)] for line in _cell_lines(cell))
        for i, header in enumerate(headers)
    ]
    lines = []
    for row in [list(headers), *rows]:
        cells = [_cell_lines(cell) for cell in row]
        for depth in range(max(len(cell) for cell in cells)):
            parts = [
                (cell[depth] if depth < len(cell) else "").ljust(width)
                for cell, width in zip(cells, widths, strict=True)
            ]
            lines.append(GAP.join(parts).rstrip())
    return lines


def list_layout(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int) -> list[str]:
    """One block per row: the first cell, then `Header: value` lines wrapped to `width`."""
    label_width = max((len(header) for header in headers[1:]), default=0) + 2
    lines: list[str] = []
    for row in rows:
        if lines:
            lines.append("")
        lines.append(row[0])
        for header, value in zip(headers[1:], row[1:], strict=True):
            if not value:
                continue
            label = f"  {header + ':':<{label_width}}"
            room = max(20, width - len(label))
            wrapped = [
                piece
                for line in _cell_lines(value)
                for piece in textwrap.wrap(line, room, break_long_words=False, break_on_hyphens=False) or [""]
            ]
            lines.append(label + wrapped[0])
            lines += [" " * len(label) + piece for piece in wrapped[1:]]
    return lines


def render(
    headers: Sequence[str], rows: Sequence[Sequence[str]], width: int | None = None, title: str | None = None
) -> str:
    """The table as text: columns when they fit `width` (or no width is set), else the list layout."""
    lines = columns_layout(headers, rows)
    if width is not None and max(len(line) for line in lines) > width:
        lines = list_layout(headers, rows, width)
    if title:
        lines = [title, *lines]
    return "".join(line + "\n" for line in lines)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]], title: str | None = None) -> None:
    sys.stdout.write(render(headers, rows, output_width(), title))


def shell_command(words: Sequence[str], width: int) -> str:
    """A command line to copy: one line if it fits `width`, else the options (each with its value)
    on the first line and one argument per continued line."""
    quoted = [shlex.quote(word) for word in words]
    line = " ".join(quoted)
    if len(line) <= width:
        return line
    arguments = max((i for i, word in enumerate(words) if word.startswith("--")), default=-2) + 2
    return " \\\n    ".join([" ".join(quoted[:arguments]), *quoted[arguments:]])
