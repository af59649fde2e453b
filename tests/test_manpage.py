"""The man page: generated from the parser, valid roff, and installed with the package."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from slicer.cli import build_parser
from slicer.manpage import render

REPOSITORY = Path(__file__).resolve().parent.parent


def test_the_page_documents_every_command_and_option():
    parser = build_parser()
    page = render(parser)
    assert page.startswith('.TH SLICER 1 "')
    (commands,) = [
        action
        for action in parser._actions
        if hasattr(action, "choices") and action.choices and "cut" in action.choices
    ]
    for name, sub in commands.choices.items():
        assert f".SS {name}\n" in page
        for action in sub._actions:
            for option in action.option_strings:
                if action.help != "==SUPPRESS==":
                    assert f"\\fB{option.replace('-', chr(92) + '-')}\\fR" in page, (name, option)
    assert ".SS cache prune\n" in page and "slicer cache prune \\-\\-older\\-than 30" in page


def test_man_renders_the_page_without_warnings(tmp_path):
    if shutil.which("man") is None:
        pytest.skip("man is not installed")
    path = tmp_path / "slicer.1"
    path.write_text(render(build_parser()))
    result = subprocess.run(
        ["man", "--warnings", "-l", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "MANWIDTH": "80", "MANPAGER": "cat", "PAGER": "cat"},
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert "slicer inspect [-h]" in result.stdout


def test_the_wheel_installs_the_page_as_share_man_man1(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(REPOSITORY), "-w", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = tmp_path.glob("slicer-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [name for name in archive.namelist() if name.endswith("/data/share/man/man1/slicer.1")]
        assert archive.read(name).decode() == render(build_parser())
