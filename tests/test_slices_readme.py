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


def architecture_limits(release: Release) -> dict[str, tuple[str, ...]]:
    """Packages whose every path carries `arch:`: Debian builds them for those architectures only."""
    limits = {}
    for name, package in release.packages.items():
        infos = [info for slice_ in package.slices.values() for info in slice_.contents.values()]
        if infos and all(info.arch for info in infos):
            limits[name] = tuple(sorted({arch for info in infos for arch in info.arch}))
    return limits


def readme_text(name: str) -> str:
    release = load_release(name)
    lines = [
        f"# Slices of {name} ({release.codename})",
        "",
        "Generated from the slice files by `tests/test_slices_readme.py`; every slice is",
        "proven by `slicer check` on amd64 and arm64.",
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
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("name", bundled_names())
def test_readme_lists_every_slice(name):
    readme = data_root() / "slices" / name / "README.md"
    assert readme.is_file(), f"{readme} is missing; run {__file__}"
    assert readme.read_text() == readme_text(name), f"{readme} is out of date; run {__file__}"


if __name__ == "__main__":
    for release_name in bundled_names():
        (data_root() / "slices" / release_name / "README.md").write_text(readme_text(release_name))
