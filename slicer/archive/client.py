"""The archives of a release for one architecture: signed suites, package choice, downloads.

`ArchiveClient` opens only what a request needs: the suites of the archives
that may hold the asked packages, one Packages index per component. Each
suite's InRelease is verified against the release's pinned keys; each index
against the signed SHA256 list (through by-hash URLs when offered); each .deb
against its index entry. Parsed indexes are cached by their hash, so a warm
run neither decompresses nor parses.
"""

from __future__ import annotations

import datetime
import gzip
import lzma
import re
import threading
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from attrs import define, frozen

from ..cache import BlobWriter, Cache
from ..console import Console, Task
from ..errors import ArchiveError, MirrorError, OfflineError
from ..release.model import Release
from . import signed
from .mirrors import missing_mirror_message
from .packages import IndexEntry, PackageIndex, cache_name
from .versions import version_key

if TYPE_CHECKING:
    import pysequoia

    from .http import Http

DOWNLOAD_WORKERS = 6
# No signed suite index comes near this (Debian's largest are a few MB); an endless one stops here.
MAX_RELEASE_SIZE = 64 << 20
INDEX_WORKERS = 4

# Index compressions in order of preference, with their decompressors.
_COMPRESSIONS: tuple[tuple[str, Callable[[bytes], bytes]], ...] = (
    (".xz", lzma.decompress),
    (".gz", gzip.decompress),
    ("", bytes),
)


@frozen
class PackageRecord:
    """One package as an archive offers it."""

    name: str
    version: str
    arch: str
    filename: str
    sha256: str
    size: int
    archive: str
    suite: str
    component: str
    # The full Packages paragraph, for dpkg status entries and SBOMs.
    stanza: str


@frozen
class FetchedPackage:
    """A package as the archive offers it, and its .deb: downloaded, verified, a blob of the client's cache."""

    record: PackageRecord
    deb: Path


@define
class IndexStats:
    """What opening indexes cost: shown by benchmarks, checked by tests."""

    releases_fetched: int = 0
    indexes_downloaded: int = 0
    indexes_parsed: int = 0
    indexes_loaded: int = 0
    # Of the indexes parsed, those decompressed while they downloaded.
    indexes_streamed: int = 0
    signatures_checked: int = 0
    signatures_reused: int = 0


@frozen
class _Source:
    """One opened Packages index and where it came from."""

    archive: str
    suite: str
    component: str
    index: PackageIndex


class _Decompressing:
    """A download sink that passes each chunk on to `sink` and decompresses an `.xz` index on the way,
    so decompression overlaps the download. Its text is used only after the blob `sink` wrote has
    passed its signed hash check; `reset` (a body restarted from byte 0) starts both over."""

    def __init__(self, sink: BlobWriter) -> None:
        self.sink = sink
        self._start()

    def _start(self) -> None:
        self._decompressor: lzma.LZMADecompressor | None = lzma.LZMADecompressor()
        self._parts: list[bytes] = []

    def write(self, data: bytes, /) -> None:
        self.sink.write(data)
        if self._decompressor is None:
            return
        try:
            self._parts.append(self._decompressor.decompress(data))
        except (lzma.LZMAError, EOFError):
            self._decompressor = None  # decompressed again from the blob, which explains the failure

    def reset(self) -> None:
        self.sink.reset()
        self._start()

    def text(self) -> bytes | None:
        """The whole decompressed text; None unless exactly one complete stream came."""
        done = self._decompressor
        if done is None or not done.eof or done.unused_data:
            return None
        return b"".join(self._parts)


class _Missing(Exception):
    """An offline run lacks a cached item; collected, then reported together."""


_PROVIDES = re.compile(r"^Provides:[ \t]*(.*)$", re.MULTILINE)
_PACKAGE = re.compile(r"^Package:[ \t]*(\S+)", re.MULTILINE)


def _relation_names(value: str) -> set[str]:
    """The package names of a relation field (`a (= 1), b | c:any`), versions and qualifiers dropped."""
    return {part.split("(")[0].strip().split(":")[0] for part in re.split(r"[,|]", value) if part.strip()}


def _plural(count: int, word: str) -> str:
    return word if count == 1 else word + "s"


class ArchiveClient:
    def __init__(
        self,
        release: Release,
        arch: str,
        *,
        mirrors: dict[str, str],
        cache: Cache,
        console: Console,
        offline: bool = False,
        check_valid_until: bool = True,
        allow_older_index: bool = False,
        http: Http | None = None,
    ) -> None:
        self.release = release
        self.arch = arch
        self.mirrors = {name: url.rstrip("/") for name, url in mirrors.items()}
        self.cache = cache
        self.console = console
        self.offline = offline
        self.check_valid_until = check_valid_until
        self.allow_older_index = allow_older_index
        self._http = http
        self.stats = IndexStats()
        self._certs: dict[str, list[pysequoia.Cert]] = {}
        self._sources: dict[str, list[_Source]] = {}
        self._releases: dict[str, signed.InRelease] = {}
        self._lock = threading.Lock()
        for archive in release.archives.values():
            if archive.pro:
                console.warn(
                    f'archive "{archive.name}" ignored: it is an Ubuntu Pro archive (pro: {archive.pro}), '
                    "which needs credentials slicer does not handle"
                )

    @property
    def http(self) -> Http:
        """The HTTP client, made on first use: a run served by the cache never imports requests."""
        with self._lock:
            if self._http is None:
                from .http import Http

                self._http = Http()
            return self._http

    # Opening archives

    def _archive_order(self, name: str) -> list[list[str]]:
        """Groups of archives to search for `name`, best first; versions compete within a group."""
        package = self.release.packages.get(name)
        pinned = package.archive if package is not None else ""
        if pinned:
            if pinned not in self.release.archives:
                raise ArchiveError(
                    f'package "{name}" is pinned to archive "{pinned}", which release '
                    f"{self.release.name} does not define"
                )
            if self.release.archives[pinned].pro:
                raise ArchiveError(
                    f'package "{name}" is pinned to archive "{pinned}", an Ubuntu Pro archive '
                    "slicer cannot fetch from (it needs credentials)"
                )
            return [[pinned]]
        usable = [archive for archive in self.release.archives.values() if archive.priority >= 0 and not archive.pro]
        if self.release.equal_priority_by_version:
            return [[archive.name for archive in usable]]
        levels: dict[int, list[str]] = {}
        for archive in sorted(usable, key=lambda archive: -archive.priority):
            levels.setdefault(archive.priority, []).append(archive.name)
        return list(levels.values())

    def _open(self, archives: Iterable[str]) -> None:
        """Open every suite and component of `archives` not opened yet, in parallel."""
        wanted = [name for name in dict.fromkeys(archives) if name not in self._sources]
        if not wanted:
            return
        absent = [name for name in wanted if name not in self.mirrors]
        if absent:
            raise MirrorError(missing_mirror_message(self.release, absent))
        jobs = [(name, suite) for name in wanted for suite in self.release.archives[name].suites]
        missing: list[str] = []
        opened: dict[tuple[str, str], list[_Source]] = {}
        # Counted in bytes: the indexes to download are what takes time on a cold cache.
        with (
            self.console.task("Reading package indexes", unit="bytes") as task,
            ThreadPoolExecutor(max_workers=INDEX_WORKERS) as pool,
        ):
            futures = {job: pool.submit(self._open_suite, *job, task) for job in jobs}
            for job, future in futures.items():
                opened[job], gaps = future.result()
                missing += gaps
        if missing:
            raise OfflineError(f"offline, and the cache lacks {', '.join(missing)}; run once online to fill it")
        for name in wanted:
            self._sources[name] = [
                source for suite in self.release.archives[name].suites for source in opened[(name, suite)]
            ]

    def _certs_of(self, archive: str) -> list[pysequoia.Cert]:
        with self._lock:
            if archive not in self._certs:
                self._certs[archive] = signed.load_certs(self.release, archive)
            return self._certs[archive]

    def _count(self, field: str) -> None:
        with self._lock:
            setattr(self.stats, field, getattr(self.stats, field) + 1)

    def _open_suite(self, archive: str, suite: str, task: Task) -> tuple[list[_Source], list[str]]:
        """The indexes of one suite, and what an offline run lacks to open them."""
        url = f"{self.mirrors[archive]}/dists/{suite}"
        try:
            info = self._inrelease(archive, suite, url)
        except _Missing as gap:
            return [], [str(gap)]
        sources, missing = [], []
        for component in self.release.archives[archive].components:
            try:
                sources.append(_Source(archive, suite, component, self._package_index(info, component, task)))
            except _Missing as gap:
                missing.append(str(gap))
        return sources, missing

    def _inrelease(self, archive: str, suite: str, url: str) -> signed.InRelease:
        """Fetch (or, offline, recall) and verify the InRelease of one suite, once per client."""
        with self._lock:
            known = self._releases.get(url)
        if known is not None:
            return known
        pinned_by = self.release.name or str(self.release.path)
        if self.offline:
            cached = self.cache.load_inrelease(url)
            if cached is None:
                raise _Missing(f'the InRelease of suite "{suite}" ({url})')
            data, signature = cached
        else:
            found = self.http.get_if_present(f"{url}/InRelease", limit=MAX_RELEASE_SIZE)
            if found is not None:
                data, signature = found, None
            else:
                data = self.http.get(f"{url}/Release", limit=MAX_RELEASE_SIZE)
                signature = self.http.get(f"{url}/Release.gpg", limit=MAX_RELEASE_SIZE)
            self._count("releases_fetched")
        what = f'{"InRelease" if signature is None else "Release"} of suite "{suite}" from {url}'
        now = datetime.datetime.now(datetime.UTC)
        text = self._signed_text(archive, data, signature, what, pinned_by, now)
        info = signed.parse_inrelease(text, archive, suite, url, what)
        signed.check_suite(
            info,
            what,
            now=now,
            check_valid_until=self.check_valid_until,
            cached=self.offline,
        )
        signed.check_offers(
            info,
            self.arch,
            self.release.archives[archive].components,
            f'suite "{suite}" of archive "{archive}" at {url}',
        )
        with self.cache.release_record(info.identity) as (newest, record):
            newest_date = datetime.datetime.fromisoformat(newest) if newest else None
            if not self.allow_older_index:
                signed.check_not_older(info, newest_date, what)
            if info.date is not None and (newest_date is None or info.date > newest_date):
                record(info.date.isoformat())
        if not self.offline:
            self.cache.save_inrelease(url, data, signature)
        with self._lock:
            self._releases[url] = info
        return info

    def _signed_text(
        self, archive: str, data: bytes, signature: bytes | None, what: str, pinned_by: str, now: datetime.datetime
    ) -> bytes:
        """The signed text of `data`, proven by a pinned key of `archive`.

        The OpenPGP check runs once for given bytes and keys: its verdict is kept in the cache, sealed
        with the cache's key (so only this cache's owner can have made it), and reused for the same
        bytes and keys for at most `signed.VERDICT_LIFETIME`. Every other check of the text runs anew.
        """
        key = signed.verdict_key(data, signature, self.release, archive)
        text = signed.reusable_text(self.cache.read_parsed(key), now)
        if text is not None:
            self._count("signatures_reused")
            return text
        text = signed.verify(data, signature, self._certs_of(archive), what, pinned_by)
        self._count("signatures_checked")
        self.cache.write_parsed(key, signed.verdict_bytes(text, now))
        return text

    def suite_releases(self) -> list[signed.InRelease]:
        """The verified InRelease of every suite the release's archives search, for indexes besides Packages."""
        archives = self.searched_archives()
        absent = [name for name in archives if name not in self.mirrors]
        if absent:
            raise MirrorError(missing_mirror_message(self.release, absent))
        found, missing = [], []
        for archive in archives:
            for suite in self.release.archives[archive].suites:
                try:
                    found.append(self._inrelease(archive, suite, f"{self.mirrors[archive]}/dists/{suite}"))
                except _Missing as gap:
                    missing.append(str(gap))
        if missing:
            raise OfflineError(f"offline, and the cache lacks {', '.join(missing)}")
        return found

    def _package_index(self, info: signed.InRelease, component: str, task: Task) -> PackageIndex:
        base = f"{component}/binary-{self.arch}/Packages"
        choice = next(
            ((suffix, decompress) for suffix, decompress in _COMPRESSIONS if base + suffix in info.files), None
        )
        if choice is None:
            raise ArchiveError(f'the InRelease of suite "{info.suite}" from {info.url} lists no {base} index')
        suffix, decompress = choice
        listed = info.files[base + suffix]
        plain = info.files.get(base)
        key = cache_name((plain or listed).sha256)
        cached = self.cache.map_parsed(key)
        if cached is not None:
            index = PackageIndex.from_bytes(cached, self.cache.parsed_key(key))
            if index is not None:
                self._count("indexes_loaded")
                return index
            self.cache.discard_parsed(key)
        url = f"{info.url}/{listed.path}"
        streamed: list[_Decompressing] = []

        def decompressing(writer: BlobWriter) -> _Decompressing:
            streamed[:] = [_Decompressing(writer)]
            return streamed[0]

        try:
            # `signed_file` checks the blob against the signed size and hash before it returns.
            blob = self.signed_file(info, listed, task, decompressing if suffix == ".xz" else None)
        except OfflineError:
            raise _Missing(f'the {base} index of suite "{info.suite}" ({url})') from None
        text = streamed[0].text() if streamed else None
        if text is not None:
            self._count("indexes_streamed")
        else:
            try:
                text = decompress(blob.read_bytes())
            except (lzma.LZMAError, OSError, EOFError, zlib.error) as error:
                raise ArchiveError(f"cannot decompress {url}: {error}") from None
        if plain is not None:
            signed.check_plain(text, plain, url)
        index = PackageIndex.build(text)
        self._count("indexes_parsed")
        self.cache.write_mapped(key, index.to_bytes(self.cache.parsed_key(key)))
        return index

    def signed_file(
        self,
        info: signed.InRelease,
        listed: signed.IndexFile,
        task: Task,
        through: Callable[[BlobWriter], _Decompressing] | None = None,
    ) -> Path:
        """A file the suite's InRelease lists: from the cache, or downloaded and checked against its signed
        SHA256 and size; `task` counts the bytes, `through` makes the sink a download passes through on its
        way to the blob. Offline, one the cache lacks is an `OfflineError`."""
        url = f"{info.url}/{listed.path}"
        if self.offline:
            blob = self.cache.lookup(listed.sha256, self.console.warn)
            if blob is None:
                raise OfflineError(f'offline, and the cache lacks {listed.path} of suite "{info.suite}" ({url})')
            return blob
        return self.cache.obtain(
            listed.sha256,
            listed.size,
            lambda writer: self._download_index(info, listed, through(writer) if through else writer, task),
            url,
            self.console.warn,
        )

    def _download_index(
        self, info: signed.InRelease, listed: signed.IndexFile, writer: BlobWriter | _Decompressing, task: Task
    ) -> None:
        """By-hash first when the archive offers it: it cannot change under us mid-update."""
        task.grow(listed.size)
        if info.by_hash:
            # The by-hash folder sits next to the file, in the suite's own folder for a file at its top.
            folder = listed.path.rpartition("/")[0]
            by_hash = f"{info.url}/{folder + '/' if folder else ''}by-hash/SHA256/{listed.sha256}"
            if self.http.download(by_hash, writer, size=listed.size, progress=task.advance, missing_ok=True):
                self._count("indexes_downloaded")
                return
        self.http.download(f"{info.url}/{listed.path}", writer, size=listed.size, progress=task.advance)
        self._count("indexes_downloaded")

    # Choosing packages

    def _candidates(self, name: str, archives: list[str]) -> list[tuple[int, _Source, IndexEntry]]:
        """Entries for `name` and this architecture, ranked by archive and suite order."""
        sources = [source for archive in archives for source in self._sources[archive]]
        return [
            (rank, source, entry)
            for rank, source in enumerate(sources)
            for entry in source.index.entries(name)
            if entry[1] in (self.arch, "all")
        ]

    def _record(self, name: str, source: _Source, entry: IndexEntry) -> PackageRecord:
        stanza = source.index.stanza(entry)
        return PackageRecord(
            name=name,
            version=entry[0],
            arch=entry[1],
            filename=entry[2],
            sha256=entry[4],
            size=entry[3],
            archive=source.archive,
            suite=source.suite,
            component=source.component,
            stanza=stanza,
        )

    def _missing_packages(self, names: list[str], searched: Iterable[str]) -> ArchiveError:
        quoted = ", ".join(f'"{name}"' for name in names)
        where = ", ".join(dict.fromkeys(searched))
        if not where:
            return ArchiveError(
                f"cannot find {_plural(len(names), 'package')} {quoted} for {self.arch}: release "
                f"{self.release.name} has no archive slicer can fetch from"
            )
        return ArchiveError(
            f"cannot find {_plural(len(names), 'package')} {quoted} in "
            f"{_plural(len(set(searched)), 'archive')} {where} for {self.arch}"
        )

    def resolve(self, names: Iterable[str]) -> dict[str, PackageRecord]:
        """The version apt would pick for each package.

        Archive groups are tried best first; within a group the highest
        version across all suites wins. Later groups are opened only for
        packages the earlier ones lack.
        """
        names = list(dict.fromkeys(names))
        plans = {name: self._archive_order(name) for name in names}
        chosen: dict[str, PackageRecord] = {}
        pending = list(names)
        searched: list[str] = []
        step = 0
        while pending:
            current = [name for name in pending if step < len(plans[name])]
            if not current:
                break
            self._open(archive for name in current for archive in plans[name][step])
            for name in current:
                group = plans[name][step]
                searched += group
                candidates = self._candidates(name, group)
                if candidates:
                    # Highest version; on a tie the earliest archive and suite.
                    _, source, entry = max(candidates, key=lambda found: (version_key(found[2][0]), -found[0]))
                    chosen[name] = self._record(name, source, entry)
            pending = [name for name in pending if name not in chosen]
            step += 1
        if pending:
            raise self._missing_packages(pending, searched)
        return {name: chosen[name] for name in names}

    def searched_archives(self) -> list[str]:
        """The archives searched for a package no slice file pins, best first."""
        return [archive for group in self._archive_order("") for archive in group]

    def names(self) -> list[str]:
        """Every package name the release's archives offer for this architecture, for suggestions."""
        archives = self.searched_archives()
        self._open(archives)
        return sorted(
            {name for archive in archives for source in self._sources[archive] for name in source.index.names()}
        )

    def providers(self, name: str) -> list[str]:
        """Packages whose `Provides` names `name`: what apt offers for a virtual package.

        A scan of every index, made only when a name is not a package.
        """
        archives = self.searched_archives()
        self._open(archives)
        found: set[str] = set()
        for archive in archives:
            for source in self._sources[archive]:
                for paragraph in source.index.paragraphs():
                    provides = _PROVIDES.search(paragraph)
                    if provides and name in _relation_names(provides.group(1)):
                        package = _PACKAGE.search(paragraph)
                        if package:
                            found.add(package.group(1))
        return sorted(found)

    def find(self, name: str, version: str) -> PackageRecord:
        """Exactly `version` of `name`, as a lock file asks for it."""
        archives = [archive for group in self._archive_order(name) for archive in group]
        self._open(archives)
        for _, source, entry in self._candidates(name, archives):
            if entry[0] == version:
                return self._record(name, source, entry)
        raise ArchiveError(
            f'package "{name}" version {version} is no longer in {_plural(len(archives), "archive")} '
            f"{', '.join(archives)} for {self.arch}; update the lock file"
        )

    # Downloading

    def fetch_packages(self, records: Iterable[PackageRecord]) -> dict[str, FetchedPackage]:
        """name -> the record and its verified .deb, in the order of `records`."""
        records = list(records)
        debs = self.fetch(records)
        return {record.name: FetchedPackage(record, debs[record.name]) for record in records}

    def fetch(self, records: Iterable[PackageRecord]) -> dict[str, Path]:
        """name -> verified .deb in the cache; downloads what is not cached, in parallel."""
        records = list(records)
        found: dict[str, Path] = {}
        wanted: list[PackageRecord] = []
        for record in records:
            path = self.cache.lookup(record.sha256, self.console.warn)
            if path is not None:
                found[record.name] = path
            else:
                wanted.append(record)
        if wanted and self.offline:
            raise OfflineError(
                f"offline, and the cache lacks {_plural(len(wanted), 'package')} "
                f"{', '.join(f'{record.name} {record.version}' for record in wanted)}; run once online to fetch "
                f"{'it' if len(wanted) == 1 else 'them'}"
            )
        if not wanted:
            return found
        total = sum(record.size for record in wanted)
        with (
            self.console.task("Downloading", total=total, unit="bytes") as task,
            ThreadPoolExecutor(max_workers=DOWNLOAD_WORKERS) as pool,
        ):
            futures = [(record, pool.submit(self._fetch_one, record, task.advance)) for record in wanted]
            try:
                for record, future in futures:
                    found[record.name] = future.result()
            except BaseException:
                pool.shutdown(cancel_futures=True)
                raise
        return {record.name: found[record.name] for record in records}

    def _fetch_one(self, record: PackageRecord, progress: Callable[[int], None]) -> Path:
        if record.archive not in self.mirrors:
            raise MirrorError(missing_mirror_message(self.release, [record.archive]))
        url = f"{self.mirrors[record.archive]}/{record.filename}"
        return self.cache.obtain(
            record.sha256,
            record.size,
            lambda writer: self.http.download(url, writer, size=record.size, progress=progress),
            url,
            self.console.warn,
        )
