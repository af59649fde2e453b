"""Which Debian packages ship a library file, from the archives' signed Contents indexes.

A suite's `Contents-<arch>` index names the package of every file
(bookworm's main: 12 MB compressed, 148 MB of text, 1.5 million lines). It
is found through the suite's verified InRelease like a Packages index, one
per component (`main/Contents-amd64.gz`; Ubuntu keeps one per suite,
`Contents-amd64.gz`), and its download is checked against the signed SHA256
and size, its text against the signed uncompressed hash when listed.

Only library files are wanted: names holding `.so` in a `lib` folder
(`lib/`, `usr/lib/`, `lib64/`, `usr/lib32/` and their subfolders), some
60,000 lines. The index is scanned once, as a stream, and that part is kept
in the cache's parsed area, sealed with the cache's key and named by the
index's hash; later runs read only that.

Architecture-independent packages are listed apart, in `Contents-all`
(bookworm's main: 34 MB compressed, 520 MB of text), which seldom holds a
shared library; it is read only for names `Contents-<arch>` lacks.
"""

from __future__ import annotations

import hashlib
import itertools
import lzma
import posixpath
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from attrs import frozen

from ..errors import ArchiveError, VerificationError
from . import signed
from .client import ArchiveClient

# The parsed area's entry for one Contents index; the number changes with the layout.
PARSED_PREFIX = "libraries-2-"
READ_SIZE = 1 << 20

# A library line: a `lib*` folder (under usr/ or not), a file name holding `.so`, then the packages.
_LIBRARY_LINE = re.compile(rb"((?:usr/)?lib[^/]*/(?:.*/)?([^/\s]*\.so(?:\.[^/\s]*)?))\s+(\S+)")
_SO = re.compile(rb"\.so")
# Folders the dynamic loader searches by default: /lib, /usr/lib, their 64-bit and multiarch ones.
_LOADER_FOLDER = re.compile(r"/(?:usr/)?lib(?:64)?(?:/[a-z0-9_]+-linux-[a-z0-9_]+)?")
# Streaming decompressors for the compressions an InRelease may list, in order of preference.
_STREAMS: tuple[tuple[str, Callable[[], Callable[[bytes], bytes]]], ...] = (
    (".xz", lambda: lzma.LZMADecompressor().decompress),
    (".gz", lambda: zlib.decompressobj(wbits=47).decompress),
    ("", lambda: bytes),
)


@frozen
class Shipper:
    """A Debian package shipping a file of the name asked for, and where."""

    package: str
    path: str


class LibraryFiles:
    """The library files one Contents index lists, as sorted lines `name<TAB>path<TAB>package,...`.

    Kept as the text itself: loading costs no parsing, and a name's lines are
    found with one search (they are adjacent, the lines being sorted).
    """

    def __init__(self, text: bytes) -> None:
        # Every line, the first included, follows a newline.
        self.text = text

    @classmethod
    def scan(cls, chunks: Iterable[bytes]) -> LibraryFiles:
        """Keep the library lines of a Contents index given in pieces of any size.

        Only the lines around each `.so` are looked at, so the megabytes of
        other lines cost one search each.
        """
        lines = []
        rest = b""
        for chunk in itertools.chain(chunks, [b"\n"]):
            text = rest + chunk
            end = text.rfind(b"\n") + 1
            text, rest = text[:end], text[end:]
            line_end = 0
            for found in _SO.finditer(text):
                if found.start() < line_end:
                    continue
                line_start = text.rfind(b"\n", 0, found.start()) + 1
                line_end = text.find(b"\n", found.start())
                line = _LIBRARY_LINE.fullmatch(text, line_start, line_end)
                if line is None or b"\t" in line[1]:
                    continue
                path, name, locations = line.groups()
                packages = b",".join(location.rsplit(b"/", 1)[-1] for location in locations.split(b","))
                lines.append(b"\n%s\t/%s\t%s" % (name, path, packages))
        return cls(b"".join(sorted(lines)) + b"\n")

    def to_bytes(self) -> bytes:
        return self.text

    @classmethod
    def from_bytes(cls, data: bytes) -> LibraryFiles | None:
        """The files stored by `to_bytes` (in a cache entry whose seal the cache has checked)."""
        return cls(data) if data.startswith(b"\n") and data.endswith(b"\n") else None

    def shippers(self, name: str) -> list[Shipper]:
        """Every package shipping a library file called `name`, with its path."""
        key = b"\n" + name.encode() + b"\t"
        found = []
        start = self.text.find(key)
        while start >= 0:
            end = self.text.index(b"\n", start + 1)
            _, path, packages = self.text[start + 1 : end].decode("utf-8", "replace").split("\t")
            found += [Shipper(package, path) for package in packages.split(",")]
            start = end if self.text.startswith(key, end) else -1
        return found


def _policy_name(library: str) -> str:
    """The package name Debian's policy gives the library `library` (`libssl.so.3` -> `libssl3`)."""
    stem, _, version = library.partition(".so")
    version = version.lstrip(".")
    if not version:
        return stem
    return f"{stem}-{version}" if stem[-1:].isdigit() else stem + version


def _rank(library: str, shipper: Shipper) -> tuple[int, bool, int, str, str]:
    """Best first: in a folder the loader searches, not -dev or -dbg, named as policy names the library."""
    expected = _policy_name(library)
    named = 0 if shipper.package == expected else 1 if shipper.package.startswith(expected) else 2
    return (
        0 if _LOADER_FOLDER.fullmatch(posixpath.dirname(shipper.path)) else 1,
        shipper.package.endswith(("-dev", "-dbg")),
        named,
        shipper.package,
        shipper.path,
    )


def best_first(library: str, shippers: Iterable[Shipper]) -> list[Shipper]:
    """One entry per package, its best path, best package first."""
    chosen: dict[str, Shipper] = {}
    for shipper in sorted(shippers, key=lambda shipper: _rank(library, shipper)):
        chosen.setdefault(shipper.package, shipper)
    return list(chosen.values())


@frozen
class _Index:
    """One Contents index a suite's InRelease lists."""

    release: signed.InRelease
    listed: signed.IndexFile
    plain: signed.IndexFile | None
    decompressor: Callable[[], Callable[[bytes], bytes]]

    @property
    def key(self) -> str:
        return PARSED_PREFIX + (self.plain or self.listed).sha256

    @property
    def url(self) -> str:
        return f"{self.release.url}/{self.listed.path}"


def _listed(release: signed.InRelease, base: str) -> _Index | None:
    """The index `base` (`main/Contents-amd64`) in the best compression the InRelease lists, if any."""
    for suffix, decompressor in _STREAMS:
        listed = release.files.get(base + suffix)
        if listed is not None:
            return _Index(release, listed, release.files.get(base), decompressor)
    return None


def _indexes(release: signed.InRelease, components: Iterable[str], name: str) -> list[_Index]:
    """The `name` indexes (`Contents-amd64`) of a suite: one per component, else the suite's own."""
    found = [index for component in components if (index := _listed(release, f"{component}/{name}"))]
    if found:
        return found
    own = _listed(release, name)
    return [own] if own else []


@frozen
class LibrarySearch:
    """What the Contents indexes say about some library names."""

    # name -> the packages shipping a library file of that name, best first; [] for none.
    shippers: dict[str, list[Shipper]]
    # How many Contents-<arch> indexes the release's suites publish: none means nothing could be said.
    indexes: int


class LibraryFinder:
    """Names the Debian packages that ship library files, for the client's release and architecture."""

    def __init__(self, client: ArchiveClient) -> None:
        self.client = client
        # How many Contents indexes were read, from the parsed cache or scanned anew.
        self.indexes_loaded = 0
        self.indexes_scanned = 0

    def search(self, names: Iterable[str]) -> LibrarySearch:
        """The packages shipping each of `names`, from `Contents-<arch>`, then `Contents-all` for the rest.

        Raises `OfflineError` when offline and an index is in neither form in the cache,
        `VerificationError` when a download does not match its signed hash.
        """
        releases = self.client.suite_releases()
        native = self._all_indexes(releases, f"Contents-{self.client.arch}")
        found: dict[str, list[Shipper]] = {name: [] for name in sorted(set(names))}
        if found and native:
            self._gather(native, f"Contents-{self.client.arch}", found)
            lacking = {name: shippers for name, shippers in found.items() if not shippers}
            if lacking:
                self._gather(self._all_indexes(releases, "Contents-all"), "Contents-all", lacking)
        return LibrarySearch({name: best_first(name, shippers) for name, shippers in found.items()}, len(native))

    def _all_indexes(self, releases: list[signed.InRelease], name: str) -> list[_Index]:
        components = {archive.name: archive.components for archive in self.client.release.archives.values()}
        return [index for release in releases for index in _indexes(release, components[release.archive], name)]

    def _gather(self, indexes: list[_Index], name: str, found: dict[str, list[Shipper]]) -> None:
        """Add to each list of `found` the shippers of its name that `indexes` list."""
        for files in self._load(indexes, name):
            for library, shippers in found.items():
                shippers += files.shippers(library)

    def _load(self, indexes: list[_Index], name: str) -> Iterator[LibraryFiles]:
        """Each index's library files: from the parsed cache, else downloaded (or recalled) and scanned."""
        cache = self.client.cache
        unread = []
        for index in indexes:
            stored = cache.read_parsed(index.key)
            files = LibraryFiles.from_bytes(stored) if stored is not None else None
            if files is None:
                unread.append(index)
                continue
            self.indexes_loaded += 1
            yield files
        if not unread:
            return
        console = self.client.console
        with console.task(f"Downloading {name} indexes", unit="bytes") as task:
            blobs = [self.client.signed_file(index.release, index.listed, task) for index in unread]
        total = sum(blob.stat().st_size for blob in blobs)
        with console.task(f"Reading {name} indexes", total=total, unit="bytes") as task:
            for index, blob in zip(unread, blobs, strict=True):
                files = LibraryFiles.scan(_checked_text(index, blob, task.advance))
                cache.write_parsed(index.key, files.to_bytes())
                self.indexes_scanned += 1
                yield files


def _checked_text(index: _Index, blob: Path, progress: Callable[[int], None]) -> Iterator[bytes]:
    """The decompressed text of a verified index blob, in pieces; checked against the signed
    uncompressed hash and size when the InRelease lists them."""
    decompress = index.decompressor()
    digest, size = hashlib.sha256(), 0
    with blob.open("rb") as source:
        while chunk := source.read(READ_SIZE):
            try:
                text = decompress(chunk)
            except (lzma.LZMAError, zlib.error, EOFError) as error:
                raise ArchiveError(f"cannot decompress {index.url}: {error}") from None
            digest.update(text)
            size += len(text)
            progress(len(chunk))
            yield text
    if index.plain is not None and (size != index.plain.size or digest.hexdigest() != index.plain.sha256):
        raise VerificationError(f"{index.url} does not decompress to the {index.plain.path} its signed index lists")
