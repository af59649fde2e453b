"""Which slices provide the shared libraries an ELF file needs (`slicer deps`).

An ELF file names its libraries by soname (`DT_NEEDED`) and its loader by
path (`PT_INTERP`). A slice provides a name when it ships a path whose
basename is that name, for the architecture at hand. Literal paths say so by
themselves; a glob such as `/usr/lib/*-linux-gnu/libssl.so.3*` only provides
`libssl.so.3` if the real package has a file it matches, so packages with
candidate globs are downloaded and listed.

`PackageContents` is that listing: each package of a release, for one
architecture, fetched once and its data.tar read once, with the ELF facts of
every regular file. `slicer check` uses it for path, library and conflict
checks too.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shlex
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from attrs import define, field, frozen

from .archive import ArchiveClient, PackageRecord
from .console import Console
from .cut import ArchiveOptions, open_archives
from .deb import READ_SIZE, iter_data
from .elf import MAGIC, ElfInfo, read_elf
from .extract import cached_data
from .errors import ArchiveError, DebError, MirrorError, OfflineError, SlicerError, VerificationError
from .globs import is_glob, literal_prefix, match
from .model import PathKind, Release, SliceKey
from .release import load_release

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
            digest.update(data[len(MAGIC):])
            try:
                info = read_elf(data, f'{member.path} of package "{package}"')
            except DebError as error:
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

    def __init__(self, release: Release, arch: str, client: ArchiveClient, console: Console,
                 workers: int = 4) -> None:
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
            with (self.console.task(f"Reading packages for {self.arch}", total=len(unread), unit="packages") as task,
                  ThreadPoolExecutor(max_workers=max(1, self.workers)) as pool):
                futures = {name: pool.submit(read_listing, name, self.records[name].version, self.debs[name])
                           for name in unread}
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


# -- slicer deps ------------------------------------------------------------------


@frozen
class DepsOptions:
    files: tuple[Path, ...]
    arch: str | None = None
    release: str | None = None
    overlays: tuple[Path, ...] = ()
    archives: ArchiveOptions = field(factory=ArchiveOptions)


@frozen
class Need:
    """One library (or the loader) a file needs, and the slices that provide it."""

    file: str
    arch: str
    kind: str  # "needed" or "interpreter"
    name: str
    providers: tuple[SliceKey, ...]


# What every root for a program holds besides its libraries: directories and /tmp, a
# non-root user, CA certificates and time zones (each only if the release has it).
BASE_SLICES = ("base-files_base", "base-passwd_nonroot", "ca-certificates_data", "tzdata_zoneinfo")


@define
class DepsReport:
    release: str
    # How `--release` names it again in a command line: a bundled name or the directory.
    release_argument: str = ""
    base: list[str] = field(factory=list)
    needs: list[Need] = field(factory=list)
    # Files that need nothing (static programs, plain data).
    standalone: list[str] = field(factory=list)

    @property
    def missing(self) -> list[Need]:
        return [need for need in self.needs if not need.providers]

    def slices(self) -> list[str]:
        """What to cut: the first provider of every need, once each, in order of appearance."""
        return list(dict.fromkeys(str(need.providers[0]) for need in self.needs if need.providers))

    def cut_commands(self) -> dict[str, list[str]]:
        """arch -> the words of a `slicer cut` that gives the files of that architecture their libraries."""
        commands = {}
        for arch in dict.fromkeys(need.arch for need in self.needs) or [None]:
            slices = dict.fromkeys(str(need.providers[0]) for need in self.needs
                                   if need.providers and need.arch == arch)
            words = ["slicer", "cut", "--release", self.release_argument or self.release]
            words += ["--arch", arch] if arch else []
            commands[arch or ""] = [*words, "--root", "rootfs", *dict.fromkeys([*self.base, *slices])]
        return commands

    def to_json(self) -> dict:
        return {
            "release": self.release,
            "needs": [{"file": need.file, "arch": need.arch, "kind": need.kind, "name": need.name,
                       "slices": [str(key) for key in need.providers]} for need in self.needs],
            "standalone": self.standalone,
            "missing": [need.name for need in self.missing],
            "slices": self.slices(),
            "cut": {arch: shlex.join(words) for arch, words in self.cut_commands().items()},
        }


def _elf_of(path: Path) -> ElfInfo:
    if not path.is_file():
        raise SlicerError(f"{path} is not a file")
    info = read_elf(path)
    if info is None:
        raise SlicerError(f"{path} is not an ELF file")
    return info


def deps(options: DepsOptions, console: Console) -> DepsReport:
    """Map each file's DT_NEEDED sonames and its loader to the release's slices that ship them."""
    release = load_release(options.release, options.overlays, options.archives.cache_dir)
    files = {path: _elf_of(path) for path in options.files}
    by_arch: dict[str, list[Path]] = {}
    for path, info in files.items():
        arch = options.arch or info.arch
        if not arch:
            raise SlicerError(f"{path} is an ELF file for a machine slicer does not know; pass --arch")
        if options.arch and info.arch and info.arch != options.arch:
            raise SlicerError(f"{path} is an ELF file for {info.arch}, not {options.arch}")
        by_arch.setdefault(arch, []).append(path)
    base = [name for name in BASE_SLICES if (key := SliceKey.parse(name)) and release.slice(key) is not None]
    report = DepsReport(release.name, options.release or release.name, base)
    for arch, paths in by_arch.items():
        client = open_archives(release, arch, console, options.archives)
        contents = PackageContents(release, arch, client, console)
        wanted = {path: _wanted(files[path]) for path in paths}
        providers = find_providers(release, contents, {name for pairs in wanted.values() for _, name in pairs})
        for path in paths:
            if not wanted[path]:
                report.standalone.append(os.fspath(path))
            for kind, name in wanted[path]:
                keys = tuple(dict.fromkeys(provision.slice for provision in providers[name]))
                report.needs.append(Need(os.fspath(path), arch, kind, name, keys))
    return report


def _wanted(info: ElfInfo) -> list[tuple[str, str]]:
    """(kind, basename) of the loader and each needed library, loader first."""
    pairs = [("interpreter", posixpath.basename(info.interpreter))] if info.interpreter else []
    return pairs + [("needed", name) for name in info.needed]
