"""What the packages of a release hold, and which slices provide a library by name.

`PackageContents` lists each package of a release, for one architecture:
fetched once and its data.tar read once, with the ELF facts of every regular
file. `find_providers` maps sonames to the slices that ship them, looking
into the real packages for slices whose paths are globs. `slicer deps` and
`slicer check` share both.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from attrs import frozen

from .archive import ArchiveClient, PackageRecord
from .console import Console
from .deb import READ_SIZE, cached_data, iter_data
from .elf import MAGIC, ElfInfo, read_elf
from .errors import ArchiveError, ElfError, MirrorError, OfflineError, VerificationError
from .globs import is_glob, literal_prefix, match
from .release.model import PathKind, Release, SliceKey

# Kinds of slice paths that put a named file into the root.
PROVIDING = frozenset({PathKind.COPY, PathKind.GLOB, PathKind.SYMLINK})


@frozen
class Item:
    """One data.tar entry: its kind, mode, link target and, for regular files, size and SHA-256."""

    kind: str
    mode: int
    link: str = ""
    size: int = 0
    sha256: str = ""


@frozen
class Listing:
    """The real contents of one package for one architecture."""

    package: str
    version: str
    # Path -> entry; directories end in "/".
    items: dict[str, Item]
    # Regular file (or hard link to one) -> its ELF facts.
    elves: dict[str, ElfInfo]
    # Regular file -> why its ELF data cannot be read.
    broken: dict[str, str]

    def matching(self, pattern: str) -> list[str]:
        """Paths of the package that `pattern` (literal or glob) selects, in tar order."""
        if not is_glob(pattern):
            return [pattern] if pattern in self.items else []
        prefix = literal_prefix(pattern)
        return [path for path in self.items if path.startswith(prefix) and match(pattern, path)]


def read_listing(package: str, version: str, deb: Path) -> Listing:
    """List a .deb's data.tar in one pass, hashing files and reading the ELF ones.

    A .deb in the cache is read through the zstd copy of its data.tar that the
    later cuts of `slicer check` use too, so it is decompressed from xz once.
    """
    items: dict[str, Item] = {}
    elves: dict[str, ElfInfo] = {}
    broken: dict[str, str] = {}
    for member in iter_data(deb, cached_data(deb)):
        if member.kind != "file" or member.stream is None:
            items[member.path] = Item(member.kind, member.mode, member.link)
            continue
        digest = hashlib.sha256()
        head = member.stream.read(len(MAGIC))
        digest.update(head)
        if head == MAGIC:
            data = head + member.stream.read()
            digest.update(data[len(MAGIC) :])
            try:
                info = read_elf(data, f'{member.path} of package "{package}"')
            except ElfError as error:
                broken[member.path] = str(error)
            else:
                if info is not None:
                    elves[member.path] = info
        else:
            while chunk := member.stream.read(READ_SIZE):
                digest.update(chunk)
        items[member.path] = Item("file", member.mode, size=member.size, sha256=digest.hexdigest())
    for path, item in items.items():
        if item.kind == "hardlink":
            target = items.get(item.link)
            if target is not None:
                items[path] = Item(target.kind, target.mode, item.link, target.size, target.sha256)
            if item.link in elves:
                elves[path] = elves[item.link]
    return Listing(package, version, items, elves, broken)


class PackageContents:
    """A release's packages for one architecture: each resolved, fetched and listed at most once."""

    def __init__(self, release: Release, arch: str, client: ArchiveClient, console: Console, workers: int = 4) -> None:
        self.release = release
        self.arch = arch
        self.client = client
        self.console = console
        self.workers = workers
        self.records: dict[str, PackageRecord] = {}
        # Package -> why the archive does not offer it for this architecture.
        self.missing: dict[str, str] = {}
        self.debs: dict[str, Path] = {}
        self._listings: dict[str, Listing] = {}

    def fetch(self, names: Iterable[str]) -> None:
        """Resolve and download `names`; packages the archive lacks are noted in `missing`."""
        new = [name for name in dict.fromkeys(names) if name not in self.records and name not in self.missing]
        for name in new:
            try:
                self.records[name] = self.client.resolve([name])[name]
            except (MirrorError, OfflineError, VerificationError):
                raise
            except ArchiveError as error:
                self.missing[name] = str(error)
        wanted = [self.records[name] for name in new if name in self.records and name not in self.debs]
        if wanted:
            self.debs.update(self.client.fetch(wanted))

    def listings(self, names: Iterable[str]) -> dict[str, Listing]:
        """The listing of each of `names` the archive offers, reading new ones in parallel."""
        names = list(dict.fromkeys(names))
        self.fetch(names)
        unread = [name for name in names if name in self.debs and name not in self._listings]
        if unread:
            with (
                self.console.task(f"Reading packages for {self.arch}", total=len(unread), unit="packages") as task,
                ThreadPoolExecutor(max_workers=max(1, self.workers)) as pool,
            ):
                futures = {
                    name: pool.submit(read_listing, name, self.records[name].version, self.debs[name])
                    for name in unread
                }
                for name, future in futures.items():
                    self._listings[name] = future.result()
                    task.advance()
        return {name: self._listings[name] for name in names if name in self._listings}


@frozen
class Provision:
    """A slice shipping `path`, whose basename is the name asked for."""

    slice: SliceKey
    path: str


def _basename_pattern(pattern: str) -> str:
    """A pattern for the last component of the paths `pattern` matches (`**` may reach into it)."""
    _, star, tail = pattern.rpartition("**")
    if star and "/" not in tail:
        return "*" + tail
    return pattern.rsplit("/", 1)[-1]


def find_providers(release: Release, contents: PackageContents, names: Iterable[str]) -> dict[str, list[Provision]]:
    """name -> the slices that ship a path with that basename for the contents' architecture.

    Literal and symlink paths count as they are written; a glob counts for
    each real path of its package it matches.
    """
    wanted = set(names)
    found: dict[str, list[Provision]] = {name: [] for name in sorted(wanted)}
    candidates: list[tuple[SliceKey, str, str]] = []
    for package in release.packages.values():
        for slice_ in package.slices.values():
            for path, info in slice_.contents.items():
                if info.kind not in PROVIDING or path.endswith("/") or not info.applies_to(contents.arch):
                    continue
                if info.kind is not PathKind.GLOB:
                    base = posixpath.basename(path)
                    if base in wanted:
                        found[base].append(Provision(slice_.key, path))
                    continue
                last = _basename_pattern(path)
                candidates += [(slice_.key, path, name) for name in wanted if match(last, name)]
    listings = contents.listings(sorted({key.package for key, _, _ in candidates}))
    for key, pattern, name in candidates:
        listing = listings.get(key.package)
        if listing is None:
            continue
        for path in listing.matching(pattern):
            if not path.endswith("/") and posixpath.basename(path) == name:
                found[name].append(Provision(key, path))
    return {name: sorted(set(provisions), key=lambda p: (str(p.slice), p.path)) for name, provisions in found.items()}
