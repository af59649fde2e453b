"""The slicer(1) man page, generated from the argument parser so it cannot drift.

setup.py calls `write` with the command line's parser at build time; the
page is installed as share/man/man1/slicer.1. Importing this module (and slicer.cli) needs no
third-party package, so the build needs nothing beyond setuptools.
"""

from __future__ import annotations

import argparse
import datetime
import os
from pathlib import Path

from . import __version__

ENVIRONMENT = (
    ("SLICER_CACHE_DIR", "The download and index cache (else $XDG_CACHE_HOME/slicer, else ~/.cache/slicer)."),
    (
        "SLICER_MIRROR_<ARCHIVE>",
        "The mirror of an archive, e.g. SLICER_MIRROR_DEBIAN_SECURITY, when --mirror "
        "does not name one; else the host's apt sources.",
    ),
    ("SOURCE_DATE_EPOCH", "The modification time of what slicer creates, and the SBOM's creation time."),
    ("HTTP_PROXY, HTTPS_PROXY, NO_PROXY", "Proxies, as for every Python tool."),
    ("REQUESTS_CA_BUNDLE", "The CA bundle for an HTTPS mirror or a TLS-inspecting proxy."),
)

EXIT_STATUS = (
    ("0", "Success."),
    (
        "1",
        "An error slicer explains on stderr; also check finding a problem, deps finding a library no slice "
        "provides, inspect --verify finding a difference, and a dry run that would conflict.",
    ),
    ("2", "A usage error."),
    ("130", "Interrupted."),
)


def _escape(text: str) -> str:
    """Text safe in roff: backslashes and hyphens escaped, no line starting with a control character."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join("\\&" + line if line.startswith((".", "'")) else line for line in text.split("\n"))


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _usage(parser: argparse.ArgumentParser) -> str:
    return " ".join(parser.format_usage().removeprefix("usage: ").split())


def _options(parser: argparse.ArgumentParser) -> list[str]:
    lines = []
    for action in parser._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        metavar = f" {action.metavar or action.dest.upper()}" if action.nargs != 0 else ""
        names = ", ".join(f"\\fB{_escape(name)}\\fR{_escape(metavar)}" for name in action.option_strings)
        lines += [".TP", names, _escape(action.help or "")]
    return lines


def _examples(parser: argparse.ArgumentParser) -> list[str]:
    epilog = parser.epilog or ""
    if "examples:" not in epilog:
        return []
    examples = [line.strip() for line in epilog.split("examples:", 1)[1].splitlines() if line.strip()]
    return [".PP", "Examples:", ".RS", ".nf", *(_escape(line) for line in examples), ".fi", ".RE"]


def _sections(parser: argparse.ArgumentParser, name: str) -> list[str]:
    lines = [".SS " + _escape(name), ".B " + _escape(_usage(parser))]
    if parser.description:
        lines += [".PP", _escape(parser.description)]
    lines += _options(parser) + _examples(parser)
    for action, sub in _subparsers(parser).items():
        lines += _sections(sub, f"{name} {action}")
    return lines


def render(parser: argparse.ArgumentParser) -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    day = (
        datetime.datetime.fromtimestamp(int(epoch), datetime.UTC).date()
        if epoch.isdigit()
        else datetime.date(2025, 1, 1)
    )
    lines = [
        f'.TH SLICER 1 "{day.isoformat()}" "slicer {__version__}" "User Commands"',
        ".SH NAME",
        "slicer \\- " + _escape(parser.description or ""),
        ".SH SYNOPSIS",
        ".B slicer",
        "[\\fIOPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]",
        ".SH OPTIONS",
        *_options(parser),
        ".SH COMMANDS",
    ]
    for name, sub in _subparsers(parser).items():
        lines += _sections(sub, name)
    lines.append(".SH ENVIRONMENT")
    for variable, meaning in ENVIRONMENT:
        lines += [".TP", f"\\fB{_escape(variable)}\\fR", _escape(meaning)]
    lines.append(".SH EXIT STATUS")
    for code, meaning in EXIT_STATUS:
        lines += [".TP", f"\\fB{code}\\fR", _escape(meaning)]
    lines += [".SH SEE ALSO", "The user guide, docs/guide.md, in slicer's source."]
    return "\n".join(lines) + "\n"


def write(path: Path, parser: argparse.ArgumentParser) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(parser))
