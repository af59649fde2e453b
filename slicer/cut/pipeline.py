"""Orchestrate a cut: plan -> fetch -> verify -> extract -> mutate -> generate -> commit.

Everything that can fail (selection, mirrors, signatures, hashes, missing
content, scripts, conflicts with the root) fails before the root is touched:
the cut is built in a staging tree inside the root and moved into place only
when it is complete and consistent with what the root already holds.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import os
import posixpath
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attrs import field, frozen

from .. import rootfs
from ..archive import ArchiveClient, ArchiveOptions, FetchedPackage, PackageRecord, open_archives
from ..cache import Cache
from ..console import Console
from ..errors import SlicerError
from ..humane import plural, size
from ..release.load import load_release
from ..release.model import Generate, PathKind, Release, SliceKey
from ..release.schema import generate_kind
from ..release.selection import Selection, parse_keys, select
from ..report import Entry, Report
from . import inline, reuse
from .epoch import source_date_epoch
from .outputs import PendingOutputs
from .plan import PackagePlan, plan

if TYPE_CHECKING:
    from . import sbom


@frozen
class CutOptions:
    root: Path
    slices: tuple[str, ...]
    arch: str
    release: str | None = None
    overlays: tuple[Path, ...] = ()
    archives: ArchiveOptions = field(factory=ArchiveOptions)
    lock: Path | None = None
    locked: Path | None = None
    overwrite: bool = False
    ignore: frozenset[str] = frozenset()
    sbom: Path | None = None
    workers: int = 4
    # Resolve, download and stage, then report what the cut would do; the root is not touched.
    dry_run: bool = False


@frozen
class CutOutcome:
    """What a finished cut used and wrote, for commands that build on a cut (`image`)."""

    release: Release
    selection: Selection
    records: dict[str, PackageRecord]
    report: Report
    result: rootfs.CommitResult


@frozen
class _Prepared:
    """A cut up to its downloads: the release, the selection, its plans and the open archives."""

    release: Release
    selection: Selection
    plans: dict[str, PackagePlan]
    client: ArchiveClient


def cut(options: CutOptions, console: Console) -> dict[str, Any]:
    """Run a whole cut (or, with `dry_run`, plan it) and return its JSON-ready summary."""
    cache = Cache(options.archives.cache_dir)
    with cache.in_use():
        if options.dry_run:
            from .dryrun import plan_cut  # only dry runs need it

            prepared = _prepare(options, console, cache)
            return plan_cut(prepared.client, prepared.release, prepared.selection, prepared.plans, options, console)
        done = _run(options, console, cache)
    return summary(done.release, done.selection, done.records, done.report, done.result)


def run_cut(options: CutOptions, console: Console) -> CutOutcome:
    """Run a whole cut and return what it used and wrote."""
    cache = Cache(options.archives.cache_dir)
    with cache.in_use():
        return _run(options, console, cache)


def _prepare(options: CutOptions, console: Console, cache: Cache, fresh: bool = False) -> _Prepared:
    """`fresh`: the root holds nothing, so no records of an earlier cut either."""
    release = load_release(options.release, options.overlays, cache)
    check_maintenance(release, options.ignore, console)
    requested = parse_keys(options.slices)
    if not fresh:
        # The records an earlier cut left in the root stay true: their slices are selected again.
        requested += [key for key in record_slices(release, options.arch, options.root) if key not in requested]
    selection = select(release, requested, options.arch)
    console.info(
        f"Selected {plural(len(selection.slices), 'slice')} of {plural(len(selection.packages), 'package')} "
        f"from {release.name} for {options.arch}"
    )
    if os.geteuid() != 0 and not console.quiet:
        console.warn(
            f"not running as root: every path in {options.root} will be owned by you, not by the "
            "owners the packages and slices give"
        )
    return _Prepared(
        release, selection, plan(selection), open_archives(release, selection.arch, console, options.archives)
    )


def _run(options: CutOptions, console: Console, cache: Cache) -> CutOutcome:
    root_existed = options.root.exists()
    outputs = PendingOutputs()
    try:
        # The whole cut holds the root: a cut beside it could add records this one must keep true.
        with rootfs.root_lock(options.root):
            fresh = rootfs.holds_nothing(options.root)
            prepared = _prepare(options, console, cache, fresh)
            release, selection, plans, client = prepared.release, prepared.selection, prepared.plans, prepared.client
            # Every selected package, as chisel fetches them: one whose slices only create content
            # is recorded in the manifest, lock file and SBOM too.
            records = resolve_packages(client, release, selection, selection.fetched(), options)
            # A cut into an empty root with the same inputs as an earlier one writes that cut's tree again.
            tree_key = reuse.key(release, selection, records) if fresh else None
            stored = reuse.find(client.cache, tree_key) if tree_key else None
            packages = {} if stored else client.fetch_packages(records.values())

            def prepare_outputs(report: Report, staging: Path) -> None:
                if options.lock:
                    from . import lock  # Only cuts asked for a lock file need it (and cattrs).

                    outputs.prepare(
                        "--lock", options.lock, lock.lock_bytes(lock.LockFile.of(release, selection, records))
                    )
                if options.sbom:
                    outputs.prepare(
                        "--sbom",
                        options.sbom,
                        sbom_bytes(release, selection, records, report, staging, options.root.name),
                    )

            report, result = build(
                selection, plans, packages, client.cache, options, console, prepare_outputs, tree_key, stored
            )
    except BaseException:
        outputs.discard()
        if not root_existed:
            _remove_if_empty(options.root)
        raise
    outputs.publish()
    console.info(
        f"Cut {plural(len(selection.slices), 'slice')} into {options.root}: "
        f"{plural(result.written, 'path')} written ({size(result.written_bytes)}), "
        f"{result.unchanged} already present"
    )
    return CutOutcome(release, selection, records, report, result)


def check_maintenance(release: Release, ignore: frozenset[str], console: Console) -> None:
    """Refuse releases that are not yet released or past their end of life, unless ignored."""
    if release.maintenance is None:
        return
    state = release.maintenance.state(datetime.date.today())
    if state == "unstable" and "unstable" not in ignore:
        raise SlicerError(
            f'release {release.name} is not released yet ("unstable"); pass --ignore unstable to cut it anyway'
        )
    if state == "end-of-life" and "unmaintained" not in ignore:
        raise SlicerError(
            f"release {release.name} reached its end of life on {release.maintenance.end_of_life} and gets no "
            "security updates; pass --ignore unmaintained to cut it anyway"
        )
    if state in ("unstable", "end-of-life"):
        console.warn(f"release {release.name} is {state}")


def resolve_packages(
    client: ArchiveClient, release: Release, selection: Selection, needed: list[str], options: CutOptions
) -> dict[str, PackageRecord]:
    """The version of each package `needed`: the newest, or the lock file's with --locked."""
    if options.locked:
        from . import lock  # Only cuts from a lock file need it (and cattrs).

        return lock.locked_records(options.locked, release, selection, needed, client)
    return client.resolve(needed)


def packages_with_content(plans: dict[str, PackagePlan]) -> list[str]:
    """Packages the cut reads (`plans` from `plan.plan`): those it extracts from, and those
    whose directories give the modes of the parents of inline content (as chisel fetches them)."""
    return [name for name, wanted in plans.items() if wanted.wants()]


# -- building the tree ------------------------------------------------------------


def build(
    selection: Selection,
    plans: dict[str, PackagePlan],
    packages: dict[str, FetchedPackage],
    cache: Cache | None,
    options: CutOptions,
    console: Console,
    prepare: Callable[[Report, Path], None] | None = None,
    tree_key: str | None = None,
    stored: reuse.StoredTree | None = None,
) -> tuple[Report, rootfs.CommitResult]:
    """Build the selection in a staging tree inside the root from `packages` (blobs of `cache`), then commit it;
    `prepare` writes outputs beside the root from the staged tree first.

    With `stored`, the staged tree of an identical earlier cut is written instead; with `tree_key`
    (a cut into an empty root), the staged tree is kept in `cache` for the next identical cut.
    """
    metadata_applied = stored is not None
    with rootfs.staging_area(options.root) as staging:
        if stored is not None:
            reuse.restore(stored, staging)
            report, replaceable = stored.report, stored.replaceable
            console.info(f"Wrote the verified tree of an identical earlier cut ({plural(len(stored.nodes), 'path')})")
        else:
            report, replaceable = stage(selection, plans, packages, cache, staging, options, console)
            if tree_key is not None and cache is not None:
                rootfs.apply_metadata(staging, report.entries.values())
                metadata_applied = True
                reuse.store(cache, tree_key, staging, report, replaceable)
        if prepare is not None:
            prepare(report, staging)
        result = rootfs.commit(
            staging,
            options.root,
            report,
            options.overwrite,
            replaceable,
            metadata_applied=metadata_applied,
        )
    return report, result


def stage(
    selection: Selection,
    plans: dict[str, PackagePlan],
    packages: dict[str, FetchedPackage],
    cache: Cache | None,
    staging: Path,
    options: CutOptions,
    console: Console,
) -> tuple[Report, frozenset[str]]:
    """Build the whole cut in `staging`: its report, and the generated paths that may replace the root's."""
    from . import extract  # A cut that writes a stored tree reads no package.

    records = {name: package.record for name, package in packages.items()}
    debs = {name: package.deb for name, package in packages.items()}
    report = Report()
    inline.create_inline(selection, staging, report, kinds=frozenset({PathKind.SYMLINK}))
    extract.extract_all(selection, debs, staging, report, console, workers=options.workers, plans=plans, cache=cache)
    inline.create_inline(selection, staging, report)
    run_scripts(selection, staging, report, console)
    inline.remove_until(selection, staging, report)
    return report, frozenset(generate(selection, records, staging, report, options.root, options.overwrite))


def run_scripts(selection: Selection, staging: Path, report: Report, console: Console) -> None:
    with_scripts = [slice_ for slice_ in selection.slices if slice_.mutate]
    if not with_scripts:
        return
    from .. import scripts  # Starlark loads only for selections with mutate scripts.

    known, patterns, mutable = set(), [], set()
    for slice_ in selection.slices:
        for path, info in slice_.contents.items():
            if not info.applies_to(selection.arch):
                continue
            if info.kind == PathKind.GLOB:
                patterns.append(path)
            elif info.kind != PathKind.GENERATE:
                known.add(path)
            if info.mutable:
                mutable.add(path)
    hardlinks = {entry.path for entry in report.entries.values() if entry.inode}
    access = scripts.ScriptAccess(staging, known, tuple(patterns), mutable, hardlinks)

    def on_write(path: str, data: bytes) -> None:
        entry = report.entries.get(path)
        if entry is not None:
            entry.final_sha256 = hashlib.sha256(data).hexdigest()
            entry.size = len(data)

    with console.task("Running mutate scripts", total=len(with_scripts), unit="scripts") as task:
        for slice_ in with_scripts:
            scripts.run_mutate(str(slice_.key), slice_.mutate, access, on_write)
            task.advance()


def record_slices(release: Release, arch: str, root: Path) -> list[SliceKey]:
    """The slices whose `generate:` records (manifest, dpkg status) an earlier cut left in `root`.

    Every later cut selects them too, so the records describe everything the
    root holds after it, whatever slices that cut names.
    """
    found = []
    for package in release.packages.values():
        for slice_ in package.slices.values():
            for path, info in slice_.contents.items():
                if info.kind != PathKind.GENERATE or not info.applies_to(arch):
                    continue
                kind, directory = generate_kind(info.info), path[: -len("**")]
                if kind is not None and _holds_records(root, kind, directory):
                    found.append(slice_.key)
                    break
    return found


def _holds_records(root: Path, kind: Generate, directory: str) -> bool:
    if kind == Generate.MANIFEST:
        return _existing(root, f"{directory}manifest.wall") is not None
    if kind != Generate.DPKG_STATUS:
        return False
    host = rootfs.resolve(root, directory)
    return host.is_dir() and any(host.iterdir())


def generate(
    selection: Selection,
    records: dict[str, PackageRecord],
    staging: Path,
    report: Report,
    root: Path,
    overwrite: bool = False,
) -> set[str]:
    """Write `generate:` outputs (Java trust stores, dpkg status entries, then the manifest); returns their
    paths."""
    targets: dict[Generate, dict[str, set[str]]] = {kind: {} for kind in Generate}
    for slice_ in selection.slices:
        for path, info in slice_.contents.items():
            if info.kind == PathKind.GENERATE and info.applies_to(selection.arch):
                kind = generate_kind(info.info)
                if kind is not None:
                    targets[kind].setdefault(path[: -len("**")], set()).add(str(slice_.key))
    written: set[str] = set()
    # Each kind's writer loads only for selections that generate it.
    for directory, owners in sorted(targets[Generate.JAVA_KEYSTORE].items()):
        from . import keystore

        path = f"{directory}cacerts"
        store = keystore.jks(keystore.trusted_certificates(staging, root), source_date_epoch() * 1000)
        _write_generated(staging, report, path, store, owners)
        written.add(path)
    for directory, owners in sorted(targets[Generate.DPKG_STATUS].items()):
        from . import dpkgstatus

        packages = [
            dpkgstatus.StatusPackage(name, records[name].stanza) for name in selection.packages if name in records
        ]
        files = dpkgstatus.status_files(packages, report, staging, directory)
        for path, data in sorted(files.items()):
            data = _merge_md5sums(root, path, data) if path.endswith(".md5sums") else data
            _write_generated(staging, report, path, data, owners)
            written.add(path)
    manifest_paths = {f"{directory}manifest.wall": owners for directory, owners in targets[Generate.MANIFEST].items()}
    if manifest_paths:
        from . import manifest

        for path, owners in manifest_paths.items():
            _write_generated(staging, report, path, b"", owners, hashed=False)
        manifest_packages = [manifest.ManifestPackage(r.name, r.version, r.sha256, r.arch) for r in records.values()]
        slices = [str(slice_.key) for slice_ in selection.slices]
        cut_manifest = manifest.collect(manifest_packages, slices, report, sorted(manifest_paths))
        for path in sorted(manifest_paths):
            existing = _existing(root, path)
            merged = (
                manifest.merge(manifest.read_manifest(existing, path), cut_manifest, replace=overwrite)
                if existing
                else cut_manifest
            )
            rootfs.write_file(staging, path, manifest.encode(merged), 0o644)
            written.add(path)
    return written


def _existing(root: Path, path: str) -> bytes | None:
    host = rootfs.resolve(root, path)
    try:
        return host.read_bytes() if host.is_file() else None
    except OSError:
        return None


def _merge_md5sums(root: Path, path: str, data: bytes) -> bytes:
    """Keep the files an earlier cut into the same root listed for this package; where both list
    a file, this cut's sum is the file's content now (an `--overwrite` may have replaced it)."""
    existing = _existing(root, path)
    if not existing:
        return data
    sums = {line.split("  ", 1)[-1]: line for line in existing.decode().splitlines() + data.decode().splitlines()}
    return "".join(f"{sums[name]}\n" for name in sorted(sums)).encode()


def _write_generated(
    staging: Path, report: Report, path: str, data: bytes, owners: set[str], hashed: bool = True
) -> None:
    epoch = source_date_epoch()
    for directory in rootfs.make_dirs(staging, posixpath.dirname(path)):
        report.add(Entry(path=directory.rstrip("/") + "/", kind="dir", mode=0o755, mtime=epoch, listed=False))
    sha256, size = rootfs.write_file(staging, path, data, 0o644)
    # Records kept up to date in a root whose records' slice this cut did not select have no owner here.
    report.add(
        Entry(
            path=path,
            kind="file",
            mode=0o644,
            slices=set(owners),
            sha256=sha256 if hashed else "",
            size=size if hashed else 0,
            mtime=epoch,
            listed=bool(owners),
        )
    )


def _remove_if_empty(root: Path) -> None:
    with contextlib.suppress(OSError):
        root.rmdir()


# -- SBOM and summary --------------------------------------------------------------


def _stanza_field(stanza: str, name: str) -> str:
    prefix = f"{name.lower()}:"
    for line in stanza.splitlines():
        if line.lower().startswith(prefix):
            return line.split(":", 1)[1].strip()
    return ""


def sbom_packages(records: dict[str, PackageRecord]) -> list[sbom.SbomPackage]:
    """The SBOM's view of the packages a cut used."""
    from . import sbom

    return [
        sbom.SbomPackage(
            r.name,
            r.version,
            r.arch,
            r.sha256,
            _stanza_field(r.stanza, "Maintainer"),
            _stanza_field(r.stanza, "Source"),
        )
        for r in records.values()
    ]


def sbom_bytes(
    release: Release,
    selection: Selection,
    records: dict[str, PackageRecord],
    report: Report,
    tree: Path,
    root_name: str,
) -> bytes:
    """An SPDX 2.3 document of the packages and files this cut shipped, hashed in `tree` (the staged cut)."""
    from . import sbom  # Only cuts asked for an SBOM need it.

    document = sbom.build_spdx(
        f"{release.name}-{selection.arch}-{root_name}", sbom_packages(records), report, distro=release.name, root=tree
    )
    return sbom.spdx_bytes(document)


def summary(
    release: Release,
    selection: Selection,
    records: dict[str, PackageRecord],
    report: Report,
    result: rootfs.CommitResult,
) -> dict[str, Any]:
    return {
        "release": release.name,
        "arch": selection.arch,
        "slices": [str(slice_.key) for slice_ in selection.slices],
        "packages": [
            {"name": r.name, "version": r.version, "arch": r.arch, "sha256": r.sha256, "archive": r.archive}
            for r in records.values()
        ],
        "paths": len(report.entries),
        "files": sum(1 for entry in report.entries.values() if entry.kind == "file"),
        "bytes": sum(entry.size for entry in report.entries.values() if entry.kind == "file"),
        "written": result.written,
        "written_bytes": result.written_bytes,
        "unchanged": result.unchanged,
    }
