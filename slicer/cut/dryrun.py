"""`slicer cut --dry-run`: what a cut would write, without touching the root.

The plan is exact because it is the real cut up to the last step: packages
are resolved, downloaded into the cache and verified, and the tree is built
in a temporary directory outside the root; then it is compared with what the
root holds, as the commit would, and thrown away.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from .. import rootfs
from ..archive import ArchiveClient
from ..console import Console
from ..release.model import Release
from ..release.selection import Selection
from .pipeline import CutOptions, resolve_packages, stage
from .plan import PackagePlan


def plan_cut(
    client: ArchiveClient,
    release: Release,
    selection: Selection,
    plans: dict[str, PackagePlan],
    options: CutOptions,
    console: Console,
) -> dict[str, Any]:
    """The JSON-ready plan of a cut: packages, downloads, paths and bytes, conflicts with the root."""
    records = resolve_packages(client, release, selection, selection.fetched(), options)
    to_download = [record for record in records.values() if client.cache.lookup(record.sha256) is None]
    packages = client.fetch_packages(records.values())
    with tempfile.TemporaryDirectory(prefix="slicer-dry-run-") as temporary:
        staging = Path(temporary) / "staging"
        staging.mkdir()
        report, replaceable = stage(selection, plans, packages, client.cache, staging, options, console)
        # A root that does not exist yet compares like an empty one.
        root = options.root if options.root.is_dir() else Path(temporary) / "empty-root"
        root.mkdir(exist_ok=True)
        work = rootfs.compare(staging, root, report, replaceable)
        files = [entry for entry in report.entries.values() if entry.kind == "file"]
        return {
            "dry_run": True,
            "release": release.name,
            "arch": selection.arch,
            "root": str(options.root),
            "slices": [str(slice_.key) for slice_ in selection.slices],
            "packages": [
                {
                    "name": r.name,
                    "version": r.version,
                    "arch": r.arch,
                    "archive": r.archive,
                    "suite": r.suite,
                    "size": r.size,
                    "sha256": r.sha256,
                }
                for r in records.values()
            ],
            "download": {"packages": [r.name for r in to_download], "bytes": sum(r.size for r in to_download)},
            "paths": len(report.entries),
            "files": len(files),
            "bytes": sum(entry.size for entry in files),
            "write": work.written,
            "write_bytes": work.written_bytes,
            "unchanged": work.unchanged,
            "conflicts": sorted(work.conflicts),
            "overwrite": options.overwrite,
        }
