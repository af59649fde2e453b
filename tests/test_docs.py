"""Docs that cannot drift: every slicer command they show parses and names slices that exist,
every Dockerfile copies only from stages it defines, and sample output matches a real run."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from slicer.cli import build_parser
from slicer.release.load import load_release
from slicer.release.model import SliceKey

REPOSITORY = Path(__file__).resolve().parent.parent
DOCUMENTS = [REPOSITORY / "README.md", *sorted((REPOSITORY / "docs").glob("*.md"))]
SLICER = Path(sys.executable).parent / "slicer"

# Values the examples' variables take when checked (Docker's build arguments, uname -m).
SAMPLE_VALUES = {"$TARGETARCH": "arm64", "$TARGETVARIANT": "", "$(uname -m)": "x86_64", "$(mktemp -d)": "/tmp/root"}
# Named build contexts the recipes pass with `docker build --build-context`.
BUILD_CONTEXTS = {"slicer-src"}


def blocks(path: Path) -> list[tuple[str, str]]:
    """(language, text) of each fenced code block."""
    return re.findall(r"^```(\w*)\n(.*?)^```$", path.read_text(), re.MULTILINE | re.DOTALL)


def dockerfiles(path: Path) -> list[str]:
    return [text for language, text in blocks(path) if language == "Dockerfile"]


def shell_lines(path: Path) -> list[str]:
    """Every shell command of the document: sh blocks, console `$` lines and Dockerfile RUN steps,
    continuation lines joined."""
    lines = []
    for language, text in blocks(path):
        joined = re.sub(r"\\\n\s*", " ", text)
        if language == "sh":
            lines += joined.splitlines()
        elif language == "console":
            lines += [line[2:] for line in joined.splitlines() if line.startswith("$ ")]
        elif language == "Dockerfile":
            lines += [re.sub(r"^RUN (--\S+ )*", "", line) for line in joined.splitlines() if line.startswith("RUN ")]
    return lines


def slicer_commands(path: Path) -> list[list[str]]:
    """The arguments of every slicer invocation in the document's shell commands."""
    found = []
    for line in shell_lines(path):
        for name, value in SAMPLE_VALUES.items():
            line = line.replace(name, value)
        for part in re.split(r"&&|;|\|", line):
            words = shlex.split(part, comments=True)
            while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
                words.pop(0)
            if words and Path(words[0]).name == "slicer":
                arguments = words[1:]
                if ">" in arguments:
                    arguments = arguments[: arguments.index(">")]
                found.append(arguments)
    return found


ALL_COMMANDS = [(path.name, " ".join(arguments)) for path in DOCUMENTS for arguments in slicer_commands(path)]


def test_the_documents_show_commands():
    assert len(ALL_COMMANDS) > 25
    assert {command.split()[0] for _, command in ALL_COMMANDS if command} >= {
        "cut",
        "inspect",
        "info",
        "find",
        "releases",
        "cache",
        "deps",
        "check",
        "completion",
        "version",
    }


@pytest.mark.parametrize("document, command", ALL_COMMANDS)
def test_every_documented_command_parses_and_names_real_slices(document, command):
    arguments = shlex.split(command)
    try:
        args = build_parser().parse_args(arguments)
    except SystemExit as exited:
        pytest.fail(f"{document}: slicer {command} is not a valid command line (exit {exited.code})")
    if args.command not in ("cut", "info") or getattr(args, "slices", None):
        return
    if args.release and "/" in args.release:
        return  # a release directory of the reader's
    release = load_release(args.release or "debian-12")
    names = args.slices_requested if args.command == "cut" else args.queries
    for name in names:
        key = SliceKey.parse(name)
        exists = release.slice(key) is not None if key else name in release.packages
        assert exists, f"{document}: {name} is not in {release.name}"


@pytest.mark.parametrize("path", [path for path in DOCUMENTS if dockerfiles(path)], ids=lambda path: path.name)
def test_dockerfiles_copy_only_from_stages_that_exist(path):
    texts = dockerfiles(path)
    everywhere = {stage for text in texts for stage in re.findall(r"^FROM .* AS (\S+)$", text, re.MULTILINE)}
    for text in texts:
        defined = set(re.findall(r"^FROM .* AS (\S+)$", text, re.MULTILINE))
        # A fragment (no stage of its own) continues the recipe's stages shown before it.
        known = (defined or everywhere) | BUILD_CONTEXTS
        for source in re.findall(r"--from=(\S+)", text):
            assert source in known, f"{path.name}: COPY --from={source}, a stage this Dockerfile does not define"


def test_the_readme_dockerfile_defines_every_stage_it_copies_from():
    (text,) = dockerfiles(REPOSITORY / "README.md")
    stages = re.findall(r"^FROM .* AS (\S+)$", text, re.MULTILINE)
    assert set(re.findall(r"--from=(\S+)", text)) <= set(stages) | BUILD_CONTEXTS


def test_the_guide_s_releases_output_is_a_real_run():
    (block,) = [text for language, text in blocks(REPOSITORY / "docs" / "guide.md") if language == "console"]
    shown = block.splitlines()
    assert shown[0] == "$ slicer releases"
    real = subprocess.run([str(SLICER), "releases"], capture_output=True, text=True, timeout=60).stdout.splitlines()

    def without_state(line: str) -> list[str]:
        words = line.split()
        return words[:2] + words[3:] if words[0] != "Release" else words

    # The state column depends on the day; everything else is the release files'.
    assert [without_state(line) for line in shown[1:]] == [without_state(line) for line in real]
