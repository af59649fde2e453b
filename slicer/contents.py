"""What the packages of a release hold, and which slices provide a library by name.

`PackageContents` lists each package of a release, for one architecture:
fetched once and its data.tar read once, with the ELF facts of every regular
file. `find_providers` maps sonames to the slices that ship them, looking
into the real packages for slices whose paths are globs. `slicer deps` and
`slicer check` share both.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import posixpath
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from attrs import frozen

from .archive import ArchiveClient, FetchedPackage, PackageRecord
from .cache import Cache
from .console import Console
from .deb import READ_SIZE, cached_data, package_data
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


def read_listing(package: str, version: str, deb: Path, cache: Cache | None = None) -> Listing:
    """List a .deb's data.tar in one pass, hashing files and reading the ELF ones.

    A .deb in `cache` is read through the zstd copy of its data.tar that the
    later cuts of `slicer check` use too, so it is decompressed from xz once.
    """
    items: dict[str, Item] = {}
    elves: dict[str, ElfInfo] = {}
    broken: dict[str, str] = {}
    for member in package_data(package, deb, cached_data(deb, cache)):
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


# The cache's derived blob holding a package's listing; the number changes with its layout.
LISTING = "listing-1.json"


def cached_listing(package: str, version: str, deb: Path, cache: Cache | None = None) -> Listing:
    """The listing of a .deb, kept in `cache` as JSON so that later runs skip the data.tar.

    Like every derived blob it is named by its SHA256 and checked on use; a
    .deb outside a cache, or a cache that cannot be written, is listed anew.
    """
    if cache is None:
        return read_listing(package, version, deb)
    try:
        blob = cache.derived(deb.name, LISTING)
        if blob is not None:
            return _listing_from_json(package, version, json.loads(blob.read_bytes()))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    # Listed before the cache's lock on the .deb is taken: listing derives the data.tar copy under it.
    listing = read_listing(package, version, deb, cache)
    # A cache that cannot be written: the next run lists the package again.
    with contextlib.suppress(OSError, ArchiveError):
        cache.derive(deb.name, LISTING, lambda out: out.write(_listing_json(listing)))
    return listing


def _listing_json(listing: Listing) -> bytes:
    items = {path: [item.kind, item.mode, item.link, item.size, item.sha256] for path, item in listing.items.items()}
    elves = {
        path: [
            info.elf_class,
            info.endianness,
            info.machine,
            info.flags,
            info.needed,
            info.soname,
            info.interpreter,
            info.rpath,
            info.runpath,
        ]
        for path, info in listing.elves.items()
    }
    return json.dumps({"items": items, "elves": elves, "broken": listing.broken}, separators=(",", ":")).encode()


def _listing_from_json(package: str, version: str, data: dict[str, Any]) -> Listing:
    items = {path: Item(*row) for path, row in data["items"].items()}
    elves = {
        path: ElfInfo(
            elf_class, endianness, machine, flags, tuple(needed), soname, interpreter, tuple(rpath), tuple(runpath)
        )
        for path, (elf_class, endianness, machine, flags, needed, soname, interpreter, rpath, runpath) in data[
            "elves"
        ].items()
    }
    return Listing(package, version, items, elves, dict(data["broken"]))


class PackageContents:
    """A release's packages for one architecture: each resolved, fetched and listed at most once."""

    def __init__(self, release: Release, arch: str, client: ArchiveClient, console: Console, workers: int = 4) -> None:
        self.release = release
        self.arch = arch
        self.client = client
        self.console = console
        self.workers = workers
        self.fetched: dict[str, FetchedPackage] = {}
        # Package -> why the archive does not offer it for this architecture.
        self.missing: dict[str, str] = {}
        self._listings: dict[str, Listing] = {}

    def fetch(self, names: Iterable[str]) -> None:
        """Resolve and download `names`; packages the archive lacks are noted in `missing`."""
        new = [name for name in dict.fromkeys(names) if name not in self.fetched and name not in self.missing]
        records: list[PackageRecord] = []
        for name in new:
            try:
                records.append(self.client.resolve([name])[name])
            except (MirrorError, OfflineError, VerificationError):
                raise
            except ArchiveError as error:
                self.missing[name] = str(error)
        if records:
            self.fetched.update(self.client.fetch_packages(records))

    def listings(self, names: Iterable[str]) -> dict[str, Listing]:
        """The listing of each of `names` the archive offers, reading new ones in parallel."""
        names = list(dict.fromkeys(names))
        self.fetch(names)
        unread = [name for name in names if name in self.fetched and name not in self._listings]
        if unread:
            with (
                self.console.task(f"Reading packages for {self.arch}", total=len(unread), unit="packages") as task,
                ThreadPoolExecutor(max_workers=max(1, self.workers)) as pool,
            ):
                futures = {
                    name: pool.submit(
                        cached_listing,
                        name,
                        self.fetched[name].record.version,
                        self.fetched[name].deb,
                        self.client.cache,
                    )
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
    # (slice, glob) -> the wanted names its last component can match: each glob is matched
    # against its package's listing once, not once per name (a `**` glob can match them all).
    candidates: dict[tuple[SliceKey, str], set[str]] = {}
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
                hits = {name for name in wanted if match(last, name)}
                if hits:
                    candidates.setdefault((slice_.key, path), set()).update(hits)
    listings = contents.listings(sorted({key.package for key, _ in candidates}))
    for (key, pattern), hits in candidates.items():
        listing = listings.get(key.package)
        if listing is None:
            continue
        for path in listing.matching(pattern):
            base = posixpath.basename(path)
            if base in hits:
                found[base].append(Provision(key, path))
    return {name: sorted(set(provisions), key=lambda p: (str(p.slice), p.path)) for name, provisions in found.items()}
