"""Read a .deb: its ar members, the data.tar stream and the control paragraph.

A .deb is an ar archive; its `data.tar[.xz|.zst|.gz|.bz2|.lzma]` member is
read in place (a bounded view of the file at the member's offset) through a
streaming decompressor, so a package is never held in memory whole.

A cache keeps a package's data.tar as `CachedData`: a zstd copy and an index
of its entries with the offset of each content, so a warm cut reads no tar
header and skips what it does not take.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import tarfile
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, BinaryIO, Protocol, cast

import zstandard
from attrs import frozen

from .cache import Cache
from .errors import ArchiveError, DebError

if TYPE_CHECKING:
    from _typeshed import SupportsRead

AR_MAGIC = b"!<arch>\n"
AR_HEADER_SIZE = 60
READ_SIZE = 1 << 16
# Bytes skipped per read when seeking forward in a decompressed stream.
CHUNK_SKIP = 1 << 20
# The layout of an index written by `write_index`.
INDEX_FORMAT = 1

# What broken compression or a broken tar raises while streaming.
_STREAM_ERRORS = (tarfile.TarError, lzma.LZMAError, zlib.error, zstandard.ZstdError, EOFError, OSError)

_KINDS = (
    (tarfile.TarInfo.isreg, "file"),
    (tarfile.TarInfo.isdir, "dir"),
    (tarfile.TarInfo.issym, "symlink"),
    (tarfile.TarInfo.islnk, "hardlink"),
    (tarfile.TarInfo.ischr, "character device"),
    (tarfile.TarInfo.isblk, "block device"),
    (tarfile.TarInfo.isfifo, "FIFO"),
)


@frozen
class Member:
    """One data.tar entry, its name made absolute (`/usr/bin/x`, directories `/usr/`).

    `link` is a symlink's target verbatim, or a hard link's target path made
    absolute like `path`. `stream` reads a regular file's content and is only
    valid until the next member is taken.
    """

    path: str
    kind: str
    mode: int
    uid: int
    gid: int
    mtime: int
    size: int
    link: str
    stream: Content | None


class Sink(Protocol):
    """Where `copy_data` and `write_index` write: a file, or a cache's `BlobWriter`."""

    def write(self, data: bytes, /) -> int: ...


class _MemberReader(io.RawIOBase):
    """A bounded view of one ar member, read straight from the .deb file."""

    def __init__(self, file: io.BufferedReader, offset: int, size: int) -> None:
        super().__init__()
        file.seek(offset)
        self._file = file
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        wanted = min(len(buffer), self._left)
        if wanted == 0:
            return 0
        count = self._file.readinto(memoryview(buffer)[:wanted]) or 0
        self._left -= count
        return count


class Content:
    """A file's content stream whose decoding failures become one `DebError` sentence."""

    def __init__(self, inner: SupportsRead[bytes], deb: Path, member: str) -> None:
        self._inner = inner
        self._deb = deb
        self._member = member

    def read(self, size: int = -1) -> bytes:
        try:
            return self._inner.read(size)
        except _STREAM_ERRORS as error:
            raise _corrupt(self._deb, self._member, error) from None


def _corrupt(deb: Path, member: str, error: BaseException) -> DebError:
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    return DebError(f"{deb} has a corrupt {member} member: {reason}")


def _ar_members(deb: Path, file: BinaryIO) -> Iterator[tuple[str, int, int]]:
    """(name, offset, size) of each member, without reading their data."""
    if file.read(len(AR_MAGIC)) != AR_MAGIC:
        raise DebError(f"{deb} is not a Debian package: it is not an ar archive")
    offset = len(AR_MAGIC)
    while True:
        file.seek(offset)
        header = file.read(AR_HEADER_SIZE)
        if not header:
            return
        if len(header) < AR_HEADER_SIZE or header[58:60] != b"`\n":
            raise DebError(f"{deb} is not a valid Debian package: its ar header at byte {offset} is broken")
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        try:
            size = int(header[48:58])
        except ValueError:
            raise DebError(f"{deb} is not a valid Debian package: ar member {name!r} has a bad size") from None
        yield name, offset + AR_HEADER_SIZE, size
        offset += AR_HEADER_SIZE + size + (size & 1)


def _decompressor(deb: Path, name: str, raw: BinaryIO) -> IO[bytes]:
    """A streaming decompressor for member `name`, chosen by its suffix."""
    suffix = name.rpartition(".tar")[2]
    if suffix == "":
        return raw
    if suffix in (".xz", ".lzma"):
        return lzma.LZMAFile(raw)
    if suffix == ".zst":
        return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True, closefd=False)
    if suffix == ".gz":
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb"))
    if suffix == ".bz2":
        return bz2.BZ2File(raw)
    raise DebError(f"{deb} has a {name} member in a compression slicer does not know")


@contextmanager
def _member_stream(deb: Path, prefix: str) -> Iterator[tuple[str, IO[bytes]]]:
    """The decompressed stream of the member named `prefix` + a compression suffix."""
    with ExitStack() as stack:
        try:
            file = stack.enter_context(open(deb, "rb"))
        except OSError as error:
            raise DebError(f"cannot open {deb}: {error.strerror}") from None
        for name, offset, size in _ar_members(deb, file):
            if not name.startswith(prefix):
                continue
            raw = io.BufferedReader(_MemberReader(file, offset, size), READ_SIZE)
            stream = _decompressor(deb, name, raw)
            stack.callback(stream.close)
            yield name, stream
            return
        raise DebError(f"{deb} has no {prefix} member")


class _Decompressed:
    """Cached data.tar copies kept decompressed in this process, the least recently used dropped past
    `limit` bytes: `slicer check` cuts each slice alone, and most cuts read the same few packages."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held: OrderedDict[Path, bytes] = OrderedDict()
        self.size = 0

    def get(self, path: Path, file: BinaryIO) -> bytes:
        data = self.held.pop(path, None)
        if data is None:
            # One whole read verifies the frames' checksums, as reading a stream to its end does.
            with zstandard.ZstdDecompressor().stream_reader(file, read_across_frames=True, closefd=False) as stream:
                data = stream.read()
            self.size += len(data)
        self.held[path] = data
        while self.size > self.limit and len(self.held) > 1:
            self.size -= len(self.held.popitem(last=False)[1])
        return data


_decompressed: _Decompressed | None = None


def keep_decompressed(limit: int) -> None:
    """From now on, keep up to `limit` bytes of cached data.tar copies decompressed in this process."""
    global _decompressed
    _decompressed = _Decompressed(limit)


@contextmanager
def _zstd_stream(path: Path) -> Iterator[tuple[str, IO[bytes]]]:
    """The decompressed stream of a zstd-compressed tar file (a cached copy of a data.tar)."""
    try:
        file = open(path, "rb")  # noqa: SIM115 - closed by the `with` below, after the error is mapped
    except OSError as error:
        raise DebError(f"cannot open {path}: {error.strerror}") from None
    with file:
        if _decompressed is not None:
            try:
                yield "data.tar.zst", io.BytesIO(_decompressed.get(path, file))
            except zstandard.ZstdError as error:
                raise _corrupt(path, "data.tar.zst", error) from None
            return
        with zstandard.ZstdDecompressor().stream_reader(file, read_across_frames=True, closefd=False) as stream:
            yield "data.tar.zst", stream


def _open_tar(source: Path, name: str, stream: IO[bytes]) -> tarfile.TarFile:
    try:
        return tarfile.open(fileobj=stream, mode="r|")
    except _STREAM_ERRORS as error:
        raise _corrupt(source, name, error) from None


@contextmanager
def _tar(deb: Path, prefix: str) -> Iterator[tuple[str, tarfile.TarFile, IO[bytes]]]:
    """The tar stream of the member named `prefix` + a compression suffix, and its decompressed stream."""
    with _member_stream(deb, prefix) as (name, stream):
        yield name, _open_tar(deb, name, stream), stream


def copy_data(deb: Path, out: Sink) -> None:
    """Write the package's data.tar to `out` compressed with zstd.

    Reading this copy is an order of magnitude faster than xz, and a cached
    copy serves every later cut of the package.
    """
    with _member_stream(deb, "data.tar") as (name, stream):
        try:
            # copy_stream only calls `out.write`.
            zstandard.ZstdCompressor(level=3, write_checksum=True).copy_stream(
                stream, cast(IO[bytes], out), read_size=READ_SIZE * 4
            )  # it only writes
        except _STREAM_ERRORS as error:
            raise _corrupt(deb, name, error) from None


class UnsafeName(DebError):
    """A data.tar entry name or hard-link target that could land outside the root."""

    def __init__(self, deb: Path, problem: str) -> None:
        super().__init__(f"{deb} holds {problem}, which slicer refuses")
        self.problem = problem

    def of_package(self, package: str) -> DebError:
        """The same refusal naming the package rather than the file it was read from."""
        return DebError(f'package "{package}" holds {self.problem}, which slicer refuses')


def _absolute(deb: Path, name: str, what: str = "entry name") -> str:
    """`./usr/bin/x` or `usr/bin/x` as `/usr/bin/x`; names that could escape are refused."""
    if name.startswith("/"):
        raise UnsafeName(deb, f"an absolute {what} {name}")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UnsafeName(deb, f"a {what} with '..', {name}")
    return "/" + "/".join(parts)


def _kind(info: tarfile.TarInfo) -> str:
    return next((kind for test, kind in _KINDS if test(info)), "unsupported entry")


@frozen
class CachedData:
    """A package's data.tar as a cache keeps it: a zstd copy (`copy_data`) and its index (`write_index`).

    With the index a cut parses no tar header: it looks at the members it
    knows, and decompresses only up to the last content it reads.
    """

    copy: Path
    index: Path


def _members(source: Path, name: str, decompressed: IO[bytes], deb: Path) -> Iterator[tuple[Member, int]]:
    """Each entry of a decompressed data.tar stream, with the offset of its content in that stream."""
    tar = _open_tar(source, name, decompressed)
    entries = iter(tar)
    while True:
        try:
            info = next(entries, None)
            if info is None:
                # Read past the tar's end so the compression's own checksum is verified.
                while decompressed.read(READ_SIZE):
                    pass
                return
        except _STREAM_ERRORS as error:
            raise _corrupt(source, name, error) from None
        path = _absolute(deb, info.name)
        if path == "/":
            continue
        kind = _kind(info)
        link = info.linkname
        if kind == "dir":
            path += "/"
        elif kind == "hardlink":
            link = _absolute(deb, link, "hard-link target")
        content = tar.extractfile(info) if kind == "file" else None
        stream = Content(content, source, name) if content is not None else None
        member = Member(path, kind, info.mode & 0o7777, info.uid, info.gid, int(info.mtime), info.size, link, stream)
        yield member, info.offset_data


def write_index(deb: Path, copy: Path, out: Sink) -> None:
    """Write the index of the zstd copy `copy` of the data.tar of `deb`: one JSON row per member."""
    with _zstd_stream(copy) as (name, decompressed):
        rows = [
            [
                member.path,
                member.kind,
                member.mode,
                member.uid,
                member.gid,
                member.mtime,
                member.size,
                member.link,
                offset,
            ]
            for member, offset in _members(copy, name, decompressed, deb)
        ]
    out.write(json.dumps({"slicer-data-index": INDEX_FORMAT, "members": rows}, separators=(",", ":")).encode())


class _Forward:
    """Reads parts of a decompressed stream in increasing order of offset, skipping what lies between."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._at = 0

    def read_at(self, offset: int, size: int) -> bytes:
        if offset < self._at:
            raise OSError(f"cannot read back to offset {offset} from {self._at}")
        while self._at < offset:
            self._at += len(self._read(min(offset - self._at, CHUNK_SKIP)))
        parts = []
        while size:
            part = self._read(size)
            parts.append(part)
            size -= len(part)
            self._at += len(part)
        return b"".join(parts)

    def _read(self, size: int) -> bytes:
        data = self._stream.read(size)
        if not data:
            raise EOFError("unexpected end of data")
        return data


class _IndexedContent(io.RawIOBase):
    """One member's content in a stream read through `_Forward`."""

    def __init__(self, source: _Forward, offset: int, size: int) -> None:
        super().__init__()
        self._source, self._offset, self._left = source, offset, size

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        size = -1 if size is None else size
        wanted = self._left if size < 0 else min(size, self._left)
        if wanted == 0:
            return b""
        data = self._source.read_at(self._offset, wanted)
        self._offset += wanted
        self._left -= wanted
        return data


def _indexed(deb: Path, cached: CachedData, keep: Callable[[str], bool]) -> Iterator[Member]:
    try:
        index = json.loads(cached.index.read_bytes())
        rows = index["members"] if index.get("slicer-data-index") == INDEX_FORMAT else None
    except (OSError, ValueError, AttributeError, KeyError) as error:
        raise DebError(f"cannot read the index {cached.index} of {deb}: {error}") from None
    if rows is None:
        raise DebError(f"the index {cached.index} of {deb} is in a format this slicer does not read")
    with _zstd_stream(cached.copy) as (name, decompressed):
        source = _Forward(decompressed)
        for path, kind, mode, uid, gid, mtime, size, link, offset in rows:
            if kind != "dir" and not keep(path):
                continue
            stream = Content(_IndexedContent(source, offset, size), cached.copy, name) if kind == "file" else None
            yield Member(path, kind, mode, uid, gid, mtime, size, link, stream)
        # Read to the end so the compression's own checksum is verified.
        rest = Content(decompressed, cached.copy, name)
        while rest.read(CHUNK_SKIP):
            pass


def _everything(path: str) -> bool:
    return True


def iter_data(
    deb: Path, cached: CachedData | None = None, keep: Callable[[str], bool] = _everything
) -> Iterator[Member]:
    """Every entry of the package's data.tar, in tar order, streamed.

    `cached` is the data.tar as a cache keeps it, read instead of the .deb
    when given. Only directories and the entries `keep` accepts (by path) are
    given: the others cost nothing to pass over in a cached copy.
    """
    if cached is not None:
        yield from _indexed(deb, cached, keep)
        return
    with _member_stream(deb, "data.tar") as (name, decompressed):
        for member, _ in _members(deb, name, decompressed, deb):
            if member.kind == "dir" or keep(member.path):
                yield member


def package_data(
    package: str, deb: Path, cached: CachedData | None = None, keep: Callable[[str], bool] = _everything
) -> Iterator[Member]:
    """`iter_data` for a known package: an unsafe name is refused naming the package, not the file."""
    try:
        yield from iter_data(deb, cached, keep)
    except UnsafeName as error:
        raise error.of_package(package) from None


def read_control_files(deb: Path) -> dict[str, bytes]:
    """Every regular file of the control.tar member (control, conffiles, postinst ...) by name."""
    return _control_member(deb)[1]


def _control_member(deb: Path) -> tuple[str, dict[str, bytes]]:
    files: dict[str, bytes] = {}
    with _tar(deb, "control.tar") as (name, tar, _):
        try:
            for info in tar:
                if info.isreg():
                    files[info.name.removeprefix("./")] = tar.extractfile(info).read()  # type: ignore[union-attr]
        except _STREAM_ERRORS as error:
            raise _corrupt(deb, name, error) from None
    return name, files


def read_control(deb: Path) -> str:
    """The package's control paragraph, as dpkg-deb would print it."""
    member, files = _control_member(deb)
    data = files.get("control")
    if data is None:
        raise DebError(f"{deb} has no control file in its {member} member")
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise DebError(f"{deb} has a control file that is not UTF-8") from None


# Names of the derived blobs a cache keeps for a .deb.
DATA_COPY = "data.tar.zst"
DATA_INDEX = f"data.tar.index-{INDEX_FORMAT}.json"


def cached_data(deb: Path, cache: Cache | None) -> CachedData | None:
    """The data.tar of `deb`, a blob of `cache`, as that cache keeps it; None without a cache.

    The zstd copy and its index are made on first use from the .deb, which
    the cache verified when the cut fetched it. Both are blobs named by their
    SHA256 and checked on every use: a damaged one is made again. A cache
    that cannot be written to gives none, and the .deb is read instead.
    """
    if cache is None:
        return None
    try:
        copy = cache.derived(deb.name, DATA_COPY) or cache.derive(deb.name, DATA_COPY, lambda out: copy_data(deb, out))
        index = cache.derived(deb.name, DATA_INDEX) or cache.derive(
            deb.name, DATA_INDEX, lambda out: write_index(deb, copy, out)
        )
    except (OSError, ArchiveError, UnsafeName):
        return None  # reading the .deb itself reports an unsafe name, naming the package
    return CachedData(copy, index)
