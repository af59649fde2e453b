"""Tables: columns when they fit, a list layout when they do not, never a cut name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from slicer.tables import render

SLICER = Path(sys.executable).parent / "slicer"

HEADERS = ("Slice", "Hint")
ROWS = [("libc6_libs", "GNU C library: shared libraries"), ("ca-certificates_data", "Mozilla's CA bundle")]


def test_columns_when_they_fit():
    assert render(HEADERS, ROWS, 80) == (
        "Slice                 Hint\n"
        "libc6_libs            GNU C library: shared libraries\n"
        "ca-certificates_data  Mozilla's CA bundle\n"
    )


def test_no_width_means_columns_whatever_their_length():
    long = [("x" * 150, "y")]
    assert render(HEADERS, long, None).splitlines()[1] == "x" * 150 + "  y"


def test_a_list_layout_when_columns_do_not_fit_with_values_wrapped_not_cut():
    text = render(HEADERS, ROWS, 30)
    assert text == (
        "libc6_libs\n"
        "  Hint: GNU C library: shared\n"
        "        libraries\n"
        "\n"
        "ca-certificates_data\n"
        "  Hint: Mozilla's CA bundle\n"
    )


def test_a_title_and_multi_line_cells():
    assert render(("Check", "Result"), [("paths", "first\nsecond")], 80, title="libc6:") == (
        "libc6:\nCheck  Result\npaths  first\n       second\n"
    )


def run_at_80(*args: str) -> str:
    result = subprocess.run(
        [str(SLICER), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "80", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_releases_at_80_columns_show_every_name_in_full():
    out = run_at_80("releases")
    assert "…" not in out
    assert max(len(line) for line in out.splitlines()) <= 80
    for word in ("debian-12", "bookworm", "debian-13", "trixie", "Regular support until:"):
        assert word in out


def test_find_at_80_columns_never_cuts_a_slice_name():
    out = run_at_80("find", "--release", "debian-12", "libc6")
    assert "…" not in out and max(len(line) for line in out.splitlines()) <= 80
    assert "libc6_libs" in out.split()
