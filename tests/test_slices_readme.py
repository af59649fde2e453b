"""`slices/<release>/README.md` lists every package and slice with its hint.

The table is generated from the slice files; this test fails when they drift
apart. To rewrite the tables: `.venv/bin/python tests/test_slices_readme.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from slicer.release.load import bundled_names, data_root, load_release
from slicer.release.model import Release
from tests.helpers.check_record import Files, load_record, unproven


def architecture_limits(release: Release) -> dict[str, tuple[str, ...]]:
    """Packages whose every path carries `arch:`: Debian builds them for those architectures only."""
    limits = {}
    for name, package in release.packages.items():
        infos = [info for slice_ in package.slices.values() for info in slice_.contents.values()]
        if infos and all(info.arch for info in infos):
            limits[name] = tuple(sorted({arch for info in infos for arch in info.arch}))
    return limits


def proof_lines(name: str, release: Release) -> list[str]:
    """The counts, and the date and length of the last full run of every check."""
    slices = sum(len(package.slices) for package in release.packages.values())
    counts = f"{len(release.packages)} packages, {slices} slices."
    record = load_record(Files.bundled(name))
    if record is None:
        return [f"{counts} No full run is recorded yet."]
    changed = len(unproven(release, Files.bundled(name)))
    since = f" {changed} of the packages changed since then." if changed else ""
    return [
        f"{counts} The last full run of `slicer check` on {' and '.join(record['architectures'])}",
        f"({record['date']}, {record['seconds']} s) passed for {len(record['packages'])} packages.{since}",
    ]


def uncovered_packages(name: str) -> dict[str, str]:
    """`package: reason` lines of `slices/<release>/uncovered.txt`: coverage targets left out, and why."""
    path = Files.bundled(name).slices / "uncovered.txt"
    if not path.is_file():
        return {}
    entries = (line.partition(":") for line in path.read_text().splitlines() if line.strip())
    return {package.strip(): reason.strip() for package, _, reason in entries}


def readme_text(name: str) -> str:
    release = load_release(name)
    lines = [
        f"# Slices of {name} ({release.codename})",
        "",
        "Generated from the slice files by `tests/test_slices_readme.py`; every slice is",
        "proven by `slicer check` on amd64 and arm64.",
        "",
        *proof_lines(name, release),
        "",
        "| package | slice | hint |",
        "|---|---|---|",
    ]
    for package_name in sorted(release.packages):
        package = release.packages[package_name]
        for slice_name in sorted(package.slices):
            hint = package.slices[slice_name].hint or "-"
            lines.append(f"| {package_name} | {slice_name} | {hint} |")
    limits = architecture_limits(release)
    if limits:
        lines += [
            "",
            "## Packages built for some architectures only",
            "",
            "Debian does not build these packages for every architecture. Each of their paths carries",
            "`arch:`, so a cut for another architecture gets no files from them.",
            "",
            "| package | architectures |",
            "|---|---|",
        ]
        lines += [f"| {package_name} | {', '.join(arches)} |" for package_name, arches in sorted(limits.items())]
    uncovered = uncovered_packages(name)
    if uncovered:
        lines += [
            "",
            "## Packages not covered",
            "",
            "These packages of the coverage targets have no slice definitions, for the reason given.",
            "",
            "| package | reason |",
            "|---|---|",
        ]
        lines += [f"| {package_name} | {reason} |" for package_name, reason in uncovered.items()]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("name", bundled_names())
def test_readme_lists_every_slice(name):
    readme = data_root() / "slices" / name / "README.md"
    assert readme.is_file(), f"{readme} is missing; run {__file__}"
    assert readme.read_text() == readme_text(name), f"{readme} is out of date; run {__file__}"


@pytest.mark.parametrize("name", bundled_names())
def test_uncovered_packages_have_no_slices_and_a_reason(name):
    release = load_release(name)
    for package_name, reason in uncovered_packages(name).items():
        assert package_name not in release.packages, f"{package_name} has slices yet is listed as not covered"
        assert reason, f"{package_name} is listed as not covered without a reason"


if __name__ == "__main__":
    for release_name in bundled_names():
        (data_root() / "slices" / release_name / "README.md").write_text(readme_text(release_name))
