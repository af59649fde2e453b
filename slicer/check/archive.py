"""The checks of `slicer check` that need the real packages, one architecture at a time.

Against the archive, per package and architecture (default amd64 and
arm64): every literal path and glob exists in the real package (or is
restricted to other architectures); each package has a `copyright` slice
that ships its copyright file and that every other slice needs; the
essentials of each slice cover the shared-library needs of the ELF files it
ships; literal paths shared by two packages hold the same thing in both; a
slice that writes dpkg records brings the OS identity files with it (see
`records`); and each slice cuts on its own. Each .deb is downloaded once per architecture
and its data.tar read once.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from attrs import frozen

from ..archive import ArchiveOptions, FetchedPackage, open_archives
from ..cache import Cache
from ..console import Console, Task
from ..contents import Item, Listing, PackageContents, find_providers
from ..cut.pipeline import CutOptions, build, packages_with_content
from ..cut.plan import PackagePlan, plan
from ..deb import keep_decompressed
from ..errors import SlicerError
from ..release.model import Package, PathKind, Release, Slice, SliceKey
from ..release.selection import Selection, select
from .records import identity_slices, missing_identity
from .report import CheckReport


def _extracts(slice_: Slice, arch: str) -> bool:
    return any(
        info.kind in (PathKind.COPY, PathKind.GLOB) and info.applies_to(arch) for info in slice_.contents.values()
    )


def _ancestors(path: str) -> Iterator[str]:
    """`/usr/lib/x/` -> `/usr/lib`, `/usr` (no trailing slashes, the root left out)."""
    parts = path.rstrip("/").split("/")[1:-1]
    for end in range(1, len(parts) + 1):
        yield "/" + "/".join(parts[:end])


def _shape(item: Item) -> tuple[str, int, str]:
    return item.kind, item.mode, item.link


def _describe(item: Item) -> str:
    if item.kind == "dir":
        return f"a directory with mode {item.mode:04o}"
    if item.kind == "symlink":
        return f"a symlink to {item.link}"
    if item.kind == "file":
        return f"a file with mode {item.mode:04o} and SHA-256 {item.sha256[:12]}"
    return f"a {item.kind}"


class ArchiveChecks:
    """Every archive-backed check of the report's packages for one architecture."""

    def __init__(
        self,
        release: Release,
        arch: str,
        report: CheckReport,
        archives: ArchiveOptions,
        workers: int,
        console: Console,
    ) -> None:
        self.release, self.arch, self.report, self.workers, self.console = release, arch, report, workers, console
        client = open_archives(release, arch, console, archives)
        self.contents = PackageContents(release, arch, client, console, workers)
        self.packages = [release.packages[name] for name in report.packages]
        self.closures: dict[SliceKey, Selection] = {}
        # What each closure takes from each package (`plan.plan`), made once.
        self.plans: dict[SliceKey, dict[str, PackagePlan]] = {}

    def slices(self) -> Iterator[Slice]:
        for package in self.packages:
            yield from package.slices.values()

    def add(self, package: str, check: str, message: str, slice_: SliceKey | None = None) -> None:
        self.report.add(package, check, self.arch, message, slice_)

    def skip(self, package: str, checks: Iterable[str], reason: str) -> None:
        for name in checks:
            self.report.skipped[(package, name, self.arch)] = reason

    def run(self) -> None:
        self.console.info(f"Checking {len(self.packages)} packages of {self.release.name} for {self.arch}")
        for slice_ in self.slices():
            try:
                self.closures[slice_.key] = select(self.release, [slice_.key], self.arch)
                self.plans[slice_.key] = plan(self.closures[slice_.key])
            except SlicerError as error:
                self.add(slice_.package, "cut", str(error), slice_.key)
        with_content = [p.name for p in self.packages if any(_extracts(s, self.arch) for s in p.slices.values())]
        needed = {name for plans in self.plans.values() for name in packages_with_content(plans)}
        listings = self.contents.listings(with_content)
        # A cut resolves every selected package, even one it reads nothing from.
        every = {name for closure in self.closures.values() for name in closure.fetched()}
        self.contents.fetch(sorted(needed | every))
        for package in self.packages:
            listing = listings.get(package.name)
            if package.name in self.contents.missing:
                self.add(package.name, "paths", self.contents.missing[package.name])
                self.skip(package.name, ("libraries", "conflicts"), f"package not in the archive for {self.arch}")
            self.copyright(package, listing)
            if listing is not None:
                self.paths(package, listing)
        self.libraries(listings)
        self.conflicts(self.contents.listings(with_content + sorted(needed)))
        self.records()
        self.cuts()

    # copyright ----------------------------------------------------------------------

    def copyright(self, package: Package, listing: Listing | None) -> None:
        own = SliceKey(package.name, "copyright")
        if own.slice not in package.slices:
            return
        for slice_ in package.slices.values():
            closure = self.closures.get(slice_.key)
            if slice_.name != own.slice and closure is not None and own not in {s.key for s in closure.slices}:
                self.add(
                    package.name,
                    "copyright",
                    f'slice {slice_.key} does not need {own} on {self.arch}; add "{own}:" to the '
                    f'essentials of package "{package.name}"',
                    slice_.key,
                )
        notice = f"/usr/share/doc/{package.name}/copyright"
        if listing is None or notice not in listing.items:
            return
        patterns = [
            info.info or path if info.kind is PathKind.COPY else path
            for path, info in package.slices[own.slice].contents.items()
            if info.kind in (PathKind.COPY, PathKind.GLOB) and info.applies_to(self.arch)
        ]
        if not any(notice in listing.matching(pattern) for pattern in patterns):
            self.add(
                package.name,
                "copyright",
                f'slice {own} does not ship {notice}, which package "{package.name}" has on {self.arch}',
                own,
            )

    # paths --------------------------------------------------------------------------

    def paths(self, package: Package, listing: Listing) -> None:
        shown = f'package "{package.name}" {listing.version}'
        for slice_ in package.slices.values():
            for path, info in slice_.contents.items():
                if info.kind not in (PathKind.COPY, PathKind.GLOB) or not info.applies_to(self.arch):
                    continue
                source = info.info or path if info.kind is PathKind.COPY else path
                if listing.matching(source):
                    continue
                if info.kind is PathKind.GLOB:
                    message = f"slice {slice_.key} glob {path} matches nothing in {shown} on {self.arch}"
                else:
                    message = self._missing_literal(slice_.key, path, source, listing, shown)
                self.add(package.name, "paths", message, slice_.key)

    def _missing_literal(self, key: SliceKey, path: str, source: str, listing: Listing, shown: str) -> str:
        lists = f"slice {key} lists {path}" + (f" copied from {source}" if source != path else "")
        other = source[:-1] if source.endswith("/") else source + "/"
        found = listing.items.get(other)
        if found is not None:
            return f"{lists}, but {shown} has {_describe(found)} at {other} on {self.arch}; write {other}"
        return f"{lists}, which {shown} does not ship on {self.arch}"

    # shared libraries ---------------------------------------------------------------

    def shipped(self, slice_: Slice, listing: Listing, until: bool = False) -> Iterator[tuple[str, str]]:
        """(path in the package, path in the root) of what the slice extracts for this architecture.

        Paths marked `until: mutate` are left out unless `until` is set.
        """
        for path, info in slice_.contents.items():
            if (
                info.kind not in (PathKind.COPY, PathKind.GLOB)
                or not info.applies_to(self.arch)
                or (info.until == "mutate" and not until)
            ):
                continue
            if info.kind is PathKind.GLOB:
                yield from ((found, found) for found in listing.matching(path))
            elif listing.matching(info.info or path):
                yield info.info or path, path

    def libraries(self, listings: dict[str, Listing]) -> None:
        # slice -> [(path in the root, needed name)], in file order.
        needs: dict[SliceKey, list[tuple[str, str]]] = {}
        for slice_ in self.slices():
            listing = listings.get(slice_.package)
            if listing is None:
                continue
            wanted = needs.setdefault(slice_.key, [])
            for source, target in self.shipped(slice_, listing):
                if source in listing.broken:
                    self.add(
                        slice_.package,
                        "libraries",
                        f"slice {slice_.key} ships a file slicer cannot read: {listing.broken[source]}",
                        slice_.key,
                    )
                info = listing.elves.get(source)
                if info is not None:
                    names = ([info.interpreter.rsplit("/", 1)[-1]] if info.interpreter else []) + list(info.needed)
                    wanted += [(target, name) for name in names]
        providers = find_providers(self.release, self.contents, {name for pairs in needs.values() for _, name in pairs})
        for key, pairs in needs.items():
            closure = self.closures.get(key)
            if closure is None:
                continue
            essentials = {s.key for s in closure.slices}
            files: dict[str, list[str]] = {}
            for target, name in pairs:
                files.setdefault(name, []).append(target)
            for name, targets in files.items():
                by = list(dict.fromkeys(provision.slice for provision in providers[name]))
                if key in by or essentials.intersection(by):
                    continue
                ships = f"slice {key} ships {targets[0]}" + (
                    f" (and {len(set(targets)) - 1} more files)" if len(set(targets)) > 1 else ""
                )
                if not by:
                    message = f"{ships} needing {name}, which no slice of {self.release.name} provides on {self.arch}"
                elif len(by) == 1:
                    message = f"{ships} needing {name}, provided by {by[0]}, which is not among its essentials"
                else:
                    message = (
                        f"{ships} needing {name}, provided by {', '.join(map(str, by))}, none of which is "
                        "among its essentials"
                    )
                self.add(key.package, "libraries", message, key)

    # conflicts ----------------------------------------------------------------------

    def conflicts(self, listings: dict[str, Listing]) -> None:
        """Implicit parents: a directory or symlink no slice lists, that packages ship differently.

        Slices extract below such a path, so a cut combining the packages keeps
        whichever comes first (or fails, for a symlink against a directory).
        Compared across the checked packages and their essentials.
        """
        listed = {
            path.rstrip("/")
            for package in self.release.packages.values()
            for slice_ in package.slices.values()
            for path in slice_.contents
        }
        below: set[str] = set()
        for name, listing in listings.items():
            for slice_ in self.release.packages[name].slices.values():
                for source, _ in self.shipped(slice_, listing, until=True):
                    below.update(_ancestors(source))
        seen: dict[str, dict[str, Item]] = {}
        for name, listing in listings.items():
            for path, item in listing.items.items():
                key = path.rstrip("/")
                if item.kind in ("dir", "symlink") and key in below and key not in listed:
                    seen.setdefault(key, {})[name] = item
        checked = set(self.report.packages)
        for path, owners in sorted(seen.items()):
            for name, item in owners.items():
                other = next(((o, found) for o, found in owners.items() if _shape(found) != _shape(item)), None)
                if name in checked and other is not None:
                    self.add(
                        name,
                        "conflicts",
                        f'path {path}, which slices extract below, is {_describe(item)} in package "{name}" '
                        f'but {_describe(other[1])} in package "{other[0]}" on {self.arch}',
                    )

    # dpkg records and the OS identity -----------------------------------------------

    def records(self) -> None:
        for key, closure in self.closures.items():
            missing = missing_identity(closure.slices, self.arch)
            if not missing:
                continue
            offer = " or ".join(identity_slices(self.release, self.arch)) or "a slice that ships them"
            self.add(
                key.package,
                "records",
                f"slice {key} writes dpkg records without {' and '.join(missing)} on {self.arch}, so scanners "
                f"cannot tell which distribution the packages belong to; add {offer} to its essentials",
                key,
            )

    # cutting each slice alone -------------------------------------------------------

    def cuts(self) -> None:
        jobs = []
        for slice_ in self.slices():
            selection = self.closures.get(slice_.key)
            if selection is None:
                continue
            lacking = [name for name in selection.fetched() if name in self.contents.missing]
            if lacking:
                self.add(
                    slice_.package,
                    "cut",
                    f"slice {slice_.key} cannot be cut on {self.arch}: {self.contents.missing[lacking[0]]}",
                    slice_.key,
                )
                continue
            jobs.append(selection)
        if not jobs:
            return
        keys = [selection.slices[-1].key for selection in jobs]
        # A cut resolves every selected package, even one it reads nothing from.
        names = {name for key in keys for name in self.closures[key].fetched()}
        work = _CutWork(
            self.arch,
            {key: self.closures[key] for key in keys},
            {key: self.plans[key] for key in keys},
            {name: self.contents.fetched[name] for name in names},
            self.contents.client.cache,
        )
        within = {key: {s.key for s in self.closures[key].slices} for key in keys}
        # A copyright slice is in the closure of its package's other slices (the copyright check
        # sees to that), so their cuts extract it as it would be alone; with no script of its own,
        # it is cut alone only when none of them cut. A third of a release's lone cuts are these.
        later = [
            key
            for key in keys
            if key.slice == "copyright"
            and not self.release.packages[key.package].slices[key.slice].mutate
            and any(other.package == key.package and other != key and key in within[other] for other in keys)
        ]
        first = [key for key in keys if key not in later]
        with (
            self.console.task(f"Cutting each slice alone for {self.arch}", total=len(jobs), unit="slices") as task,
            _cut_pool(work, self.workers) as pool,
        ):
            cut = self._cut(pool, first, task)
            again = [key for key in later if not any(key in within[other] for other in cut)]
            task.advance(len(later) - len(again))
            self._cut(pool, again, task)

    def _cut(self, pool: ProcessPoolExecutor, keys: list[SliceKey], task: Task) -> list[SliceKey]:
        """Cut each of `keys` alone in the pool, reporting failures; the keys that cut."""
        cut = []
        for key, error in zip(keys, pool.map(_cut_alone, keys, chunksize=4), strict=True):
            if error is None:
                cut.append(key)
            else:
                self.add(key.package, "cut", f"slice {key} does not cut on its own on {self.arch}: {error}", key)
            task.advance()
        return cut


@frozen
class _CutWork:
    """What a process cutting slices alone needs: each slice's closure and extraction plan, and the
    packages already fetched."""

    arch: str
    closures: dict[SliceKey, Selection]
    plans: dict[SliceKey, dict[str, PackagePlan]]
    packages: dict[str, FetchedPackage]
    cache: Cache


# The work of this process, when it is one of `_cut_pool`'s workers.
_work: _CutWork | None = None
# How much of the packages' data a cut worker keeps decompressed between cuts.
DECOMPRESSED_LIMIT = 512 << 20


def _start_worker(work: _CutWork) -> None:
    global _work
    _work = work
    keep_decompressed(DECOMPRESSED_LIMIT)


def _cut_pool(work: _CutWork, workers: int) -> ProcessPoolExecutor:
    """Processes that cut slices alone: cutting is CPU-bound Python, so threads would share one core.

    They are spawned, not forked: a fork copies whatever locks this process's
    other threads (downloads, progress) hold at that moment.
    """
    count = max(1, min(workers, os.cpu_count() or 1))
    return ProcessPoolExecutor(
        max_workers=count,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(work,),
    )


def _cut_alone(key: SliceKey) -> str | None:
    """Cut one slice and its essentials into an empty root, on a memory-backed folder when there is
    one; the error, if any."""
    assert _work is not None, "a cut worker runs only in the pool"
    selection, plans = _work.closures[key], _work.plans[key]
    packages = {name: _work.packages[name] for name in selection.fetched()}
    quiet = Console(io.StringIO(), quiet=True)
    with tempfile.TemporaryDirectory(prefix="slicer-check-", dir=scratch_folder()) as folder:
        options = CutOptions(root=Path(folder) / "root", slices=(str(key),), arch=_work.arch, workers=1)
        try:
            build(selection, plans, packages, _work.cache, options, quiet)
        except SlicerError as error:
            return str(error)
    return None


def scratch_folder() -> str | None:
    """A memory-backed folder for short-lived roots (`/dev/shm`) when this machine has a writable one."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None
