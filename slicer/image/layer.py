"""Deterministic layer tarballs: the same tree always gives the same bytes.

Entries are sorted (each parent before its children, names in byte order),
written as PAX tar with numeric owners only (no user or group names), no
extended attributes, and every mtime clamped to the build's epoch. Owners
never come from the disk: a cut made without root leaves the caller's
uid/gid on every file, so owners come from what the cut recorded (the
package's tar headers and the slices' `uid:`/`gid:`). The tar stream is
hashed (the config's diff_id) and compressed (the blob) in one pass.
"""

from __future__ import annotations

import collections
import hashlib
import os
import stat
import tarfile
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, BinaryIO

import deflate
import zstandard
from attrs import frozen

from .. import rootfs
from ..atomic import write_atomic
from ..errors import ImageError
from ..report import Report

# libdeflate at level 1 (the speed level go-containerregistry's image tools use too), on the
# cc image: a quarter of the CPU time of zlib at level 4 for a layer 5 % larger, and smaller
# than zlib's own level 1 gives; levels 2 and 4 cost 35 % and 50 % more for 5 and 6 % smaller
# layers. libdeflate's output is fixed for a given version, which pyproject.toml pins.
GZIP_LEVEL = 1
# gzip members of this many tar bytes, compressed in parallel, a few at a time.
GZIP_PIECE = 4 << 20
GZIP_IN_FLIGHT = 8
ZSTD_LEVEL = 3
CHUNK = 1 << 20
MEDIA_TYPES = {
    "none": "application/vnd.oci.image.layer.v1.tar",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}


@frozen
class LayerEntry:
    """One tar entry. `path` is relative without a leading `./` (the root is `""`);
    `source` is the host file a regular file's bytes come from; `link` is a
    symlink's target or, for a hard link, the layer path of the first name."""

    path: str
    kind: str  # "dir", "file", "symlink" or "hardlink"
    mode: int
    uid: int = 0
    gid: int = 0
    mtime: int = 0
    size: int = 0
    link: str = ""
    source: Path | None = None


@frozen
class Owner:
    uid: int
    gid: int


@frozen
class LayerBlob:
    """A written layer: its blob (compressed) and its diff_id (the tar's own digest)."""

    path: Path
    digest: str
    size: int
    diff_id: str
    media_type: str


def recorded_owners(root: Path, report: Report) -> dict[str, Owner]:
    """Owners by real host path (symlinked parents resolved), listed entries winning over
    the implicit parents recorded on the way, as the cut applies them."""
    owners: dict[str, tuple[Owner, bool]] = {}
    resolver = rootfs.Resolver(root)
    for entry in report.entries.values():
        host = resolver.place(entry.path)
        current = owners.get(host)
        if current is None or (entry.listed and not current[1]):
            owners[host] = (Owner(entry.uid, entry.gid), entry.listed)
    return {host: owner for host, (owner, _) in owners.items()}


def tree_entries(root: Path, owners: dict[str, Owner], epoch: int) -> list[LayerEntry]:
    """Every path under `root`, root first, parents before children, names sorted."""
    entries = [LayerEntry("", "dir", 0o755, 0, 0, epoch)]
    seen_inodes: dict[tuple[int, int], str] = {}
    for host, relative, info in _walk(root):
        owner = owners.get(host, Owner(0, 0))
        mode = stat.S_IMODE(info.st_mode)
        mtime = min(int(info.st_mtime), epoch)
        if stat.S_ISDIR(info.st_mode):
            entries.append(LayerEntry(relative, "dir", mode, owner.uid, owner.gid, mtime))
        elif stat.S_ISLNK(info.st_mode):
            entries.append(LayerEntry(relative, "symlink", 0o777, owner.uid, owner.gid, mtime, link=os.readlink(host)))
        elif stat.S_ISREG(info.st_mode):
            inode = (info.st_dev, info.st_ino)
            first = seen_inodes.get(inode) if info.st_nlink > 1 else None
            if first is not None:
                entries.append(LayerEntry(relative, "hardlink", mode, owner.uid, owner.gid, mtime, link=first))
            else:
                seen_inodes[inode] = relative
                entries.append(
                    LayerEntry(relative, "file", mode, owner.uid, owner.gid, mtime, info.st_size, source=Path(host))
                )
        else:
            raise ImageError(f"cannot put {host} in a layer: only files, directories and symlinks are supported")
    return entries


def _walk(root: Path | str, prefix: str = "") -> Iterator[tuple[str, str, os.stat_result]]:
    """(host path, layer path, lstat) below `root`, depth first, names in byte order."""
    for item in sorted(os.scandir(root), key=lambda item: os.fsencode(item.name)):
        info = item.stat(follow_symlinks=False)
        relative = prefix + item.name
        yield item.path, relative, info
        if stat.S_ISDIR(info.st_mode):
            yield from _walk(item.path, relative + "/")


def _tar_info(entry: LayerEntry) -> tarfile.TarInfo:
    info = tarfile.TarInfo("./" if not entry.path else "./" + entry.path + ("/" if entry.kind == "dir" else ""))
    info.mode = entry.mode
    info.uid, info.gid = entry.uid, entry.gid
    info.uname = info.gname = ""
    info.mtime = entry.mtime
    if entry.kind == "dir":
        info.type = tarfile.DIRTYPE
    elif entry.kind == "symlink":
        info.type, info.linkname = tarfile.SYMTYPE, entry.link
    elif entry.kind == "hardlink":
        info.type, info.linkname = tarfile.LNKTYPE, "./" + entry.link
    else:
        info.type, info.size = tarfile.REGTYPE, entry.size
    return info


class _Sink:
    """Hashes the tar stream, compresses it, and hashes and stores what comes out.

    gzip compresses fixed-size pieces of the stream in parallel (libdeflate), each as its
    own gzip member: a multi-member gzip file is one valid gzip stream
    (RFC 1952) that every layer reader decompresses whole, and fixed pieces
    keep the output deterministic. zstd, several times faster, compresses in line.
    """

    def __init__(self, output: IO[bytes], compression: str, pool: ThreadPoolExecutor | None) -> None:
        self.output = output
        self.tar_digest = hashlib.sha256()
        self.blob_digest = hashlib.sha256()
        self.size = 0
        self.tar_size = 0
        self.compression = compression
        self._pool = pool
        self._pending: collections.deque[Future[bytearray] | bytearray] = collections.deque()
        self._piece = bytearray()
        self._zstd = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compressobj() if compression == "zstd" else None

    def tell(self) -> int:
        return self.tar_size

    def write(self, data: bytes) -> int:
        self.tar_size += len(data)
        self.tar_digest.update(data)
        if self._zstd is not None:
            self._emit(self._zstd.compress(data))
        elif self.compression == "gzip":
            self._piece += data
            if len(self._piece) >= GZIP_PIECE:
                self._submit()
        else:
            self._emit(data)
        return len(data)

    def _submit(self) -> None:
        piece = bytes(self._piece)
        self._piece.clear()
        self._pending.append(self._pool.submit(_gzip_member, piece) if self._pool else _gzip_member(piece))
        while len(self._pending) > GZIP_IN_FLIGHT:
            self._drain_one()

    def _drain_one(self) -> None:
        done = self._pending.popleft()
        self._emit(done if isinstance(done, bytearray) else done.result())

    def _emit(self, data: bytes | bytearray) -> None:
        if data:
            self.blob_digest.update(data)
            self.output.write(data)
            self.size += len(data)

    def close(self) -> None:
        if self._zstd is not None:
            self._emit(self._zstd.flush())
        elif self.compression == "gzip":
            if self._piece or not self._pending:
                self._submit()
            while self._pending:
                self._drain_one()


def _gzip_member(data: bytes) -> bytearray:
    """One gzip member (header mtime 0, no name) holding `data`; libdeflate releases the GIL."""
    return deflate.gzip_compress(data, GZIP_LEVEL)


def write_layer(
    entries: Iterable[LayerEntry], directory: Path, compression: str, pool: ThreadPoolExecutor | None = None
) -> LayerBlob:
    """Write the layer of `entries` as a blob in `directory` (named by its digest);
    `pool` runs the gzip compression of pieces of the stream in parallel."""
    sinks: list[_Sink] = []

    def write(output: BinaryIO) -> Path:
        sink = _Sink(output, compression, pool)
        sinks.append(sink)
        with tarfile.open(fileobj=sink, mode="w", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
            tar.copybufsize = CHUNK  # fewer, larger writes into the hash and the compressor
            for entry in entries:
                info = _tar_info(entry)
                if entry.source is None:
                    tar.addfile(info)
                    continue
                with open(entry.source, "rb") as content:
                    if os.fstat(content.fileno()).st_size != entry.size:
                        raise ImageError(f"{entry.source} changed while the layer was written")
                    tar.addfile(info, content)
        sink.close()
        return directory / sink.blob_digest.hexdigest()

    try:
        final = write_atomic(directory, ".layer-", write, 0o644)
    except OSError as error:
        raise ImageError(f"cannot write a layer in {directory}: {error.strerror or error}") from None
    sink = sinks[0]
    digest = "sha256:" + sink.blob_digest.hexdigest()
    return LayerBlob(final, digest, sink.size, "sha256:" + sink.tar_digest.hexdigest(), MEDIA_TYPES[compression])
