"""Cut local .deb files through the real pipeline, without an archive."""

from __future__ import annotations

import hashlib
from pathlib import Path

from slicer.archive import FetchedPackage, PackageRecord
from slicer.cache import Cache
from slicer.console import Console
from slicer.cut.pipeline import CutOptions, build
from slicer.cut.plan import plan
from slicer.release.selection import Selection
from slicer.report import Report

QUIET = Console(quiet=True)


def local_package(name: str, deb: Path, arch: str) -> FetchedPackage:
    """`deb` as if an archive named `local` had offered it as version 1.0."""
    data = deb.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    stanza = f"Package: {name}\nVersion: 1.0\nArchitecture: {arch}\n"
    record = PackageRecord(name, "1.0", arch, deb.name, sha256, len(data), "local", "local", "main", stanza)
    return FetchedPackage(record, deb)


def build_from_debs(
    root: Path,
    selection: Selection,
    debs: dict[str, Path],
    cache: Cache | None = None,
    workers: int = 4,
    console: Console = QUIET,
) -> Report:
    """Run the cut's build step (inline links, extraction, inline content, scripts, `until`,
    generated files, commit) for `selection` from `debs` into `root`; the report of what it wrote."""
    packages = {name: local_package(name, deb, selection.arch) for name, deb in debs.items()}
    options = CutOptions(root=root, slices=(), arch=selection.arch, workers=workers)
    report, _ = build(selection, plan(selection), packages, cache, options, console)
    return report
