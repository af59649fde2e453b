"""Shell completion: scripts generated from the parser, and bash completing real words."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from slicer.cli import build_parser
from slicer.completion import script

SLICER = Path(sys.executable).parent / "slicer"


def complete(words: str, tmp_path: Path) -> list[str]:
    """What bash offers for the last word of `words`, with the script `slicer completion bash` prints."""
    completion = subprocess.run([str(SLICER), "completion", "bash"], capture_output=True, text=True, timeout=60)
    assert completion.returncode == 0, completion.stderr
    (tmp_path / "slicer.bash").write_text(completion.stdout)
    driver = (
        f"source {tmp_path / 'slicer.bash'}\n"
        f"COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1))\n"
        "_slicer; printf '%s\\n' \"${COMPREPLY[@]}\"\n"
    )
    result = subprocess.run(
        ["bash", "-c", driver],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"PATH": f"{SLICER.parent}:/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    return sorted(line for line in result.stdout.splitlines() if line)


@pytest.mark.parametrize(
    "words, offered",
    [
        ("slicer c", ["cache", "check", "completion", "cut"]),
        ("slicer cut --ro", ["--root"]),
        ("slicer cut --arch aarch", ["aarch64"]),
        ("slicer cut --release book", ["bookworm"]),
        ("slicer cache p", ["prune"]),
        ("slicer --debug inspect --ver", ["--verify"]),
    ],
)
def test_bash_completes_commands_options_and_names(words, offered, tmp_path):
    assert complete(words, tmp_path) == offered


def test_bash_completes_slice_names_of_the_release_on_the_command_line(tmp_path):
    assert complete("slicer cut --release debian-13 --root r libssl3t64_l", tmp_path) == ["libssl3t64_libs"]
    assert complete("slicer cut --release debian-12 --root r libssl3t64_l", tmp_path) == []
    assert "libc6_libs" in complete("slicer info libc6_", tmp_path)


def test_bash_completes_files_for_commands_that_take_files(tmp_path):
    (tmp_path / "server").write_text("")
    assert complete("slicer deps serv", tmp_path) == ["server"]
    assert complete("slicer cut --lock serv", tmp_path) == ["server"]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_every_script_names_every_command_and_option(shell):
    parser = build_parser()
    text = script(shell, parser)
    (commands,) = [
        action
        for action in parser._actions
        if hasattr(action, "choices") and action.choices and "cut" in action.choices
    ]
    for name, sub in commands.choices.items():
        assert name in text
        for action in sub._actions:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help" and action.help != "==SUPPRESS==":
                    assert (option in text) or (option[2:] in text), (shell, name, option)


@pytest.mark.parametrize("shell, check", [("zsh", ["zsh", "-n"]), ("fish", ["fish", "--no-execute"])])
def test_zsh_and_fish_scripts_parse(shell, check, tmp_path):
    if shutil.which(check[0]) is None:
        pytest.skip(f"{check[0]} is not installed")
    path = tmp_path / f"slicer.{shell}"
    path.write_text(script(shell, build_parser()))
    result = subprocess.run([*check, str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
