"""Reuse the staged tree of an identical earlier cut into a fresh root.

A cut into a root that holds nothing depends only on its inputs: the code,
the release's files, the architecture, the selected slices, the exact
packages the signed indexes resolved to (by SHA-256 and index entry) and
SOURCE_DATE_EPOCH. When all of them match a cut made before, its staged
tree (before the commit) is stored in the cache and is written again
instead of being extracted, mutated and generated anew; the commit that
follows is the same as for a fresh build.

Trust: the tree is a blob named by its own SHA-256 and hashed again on every
use, and the cache's `derived/` mapping from the inputs' digest to it is
sealed with the cache's key (see `slicer.cache`), as for the zstd copies of
a package's data. The inputs' digest names the packages by the SHA-256 their
signed index gives, so every byte written is still proven by the signature
chain that proved the packages it came from.

Blob layout: a magic line, the length of the header (8 bytes, little
endian), the pickled header (the cut's report, its replaceable paths and
one node per staged path), then the content of every file in node order.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import mmap
import os
import pickle
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attrs import frozen

from ..errors import CacheError
from ..report import Report
from .epoch import source_date_epoch

if TYPE_CHECKING:
    from ..archive import PackageRecord
    from ..cache import BlobWriter, Cache
    from ..release.model import Release
    from ..release.selection import Selection

KIND = "tree-1"
_MAGIC = b"slicer staged tree 1\n"
_PACKAGE = Path(__file__).resolve().parent.parent


@frozen
class Node:
    """One staged path: `kind` is "dir", "file", "symlink" or "link" (a hard link to `target`)."""

    path: str  # relative to the staging tree
    kind: str
    mode: int
    mtime_ns: int
    uid: int
    gid: int
    size: int = 0
    target: str = ""


@frozen
class StoredTree:
    blob: Path
    report: Report
    replaceable: frozenset[str]
    nodes: tuple[Node, ...]
    content_offset: int


@functools.cache
def _code_digest() -> str:
    """Every module of slicer: a change anywhere may change what a cut writes (read once per process)."""
    digest = hashlib.sha256()
    sources: list[str] = []
    for folder, dirs, files in os.walk(_PACKAGE):
        dirs[:] = [name for name in dirs if name != "__pycache__"]
        sources += [os.path.join(folder, name) for name in files if name.endswith(".py")]
    for source in sorted(sources):
        with open(source, "rb") as file:
            digest.update(source.encode() + b"\0" + file.read() + b"\0")
    return digest.hexdigest()


def key(release: Release, selection: Selection, records: dict[str, PackageRecord]) -> str:
    """The digest of everything a cut into an empty root reads."""
    from .. import __version__

    digest = hashlib.sha256()
    parts = [
        KIND,
        __version__,
        _code_digest(),
        release.digest,
        selection.arch,
        " ".join(str(slice_.key) for slice_ in selection.slices),
        str(source_date_epoch()),
        str(os.geteuid() == 0),
    ]
    for name in sorted(records):
        record = records[name]
        stanza = hashlib.sha256(record.stanza.encode()).hexdigest()
        parts.append(f"{name} {record.version} {record.arch} {record.sha256} {stanza}")
    for part in parts:
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()


class _TreeUnpickler(pickle.Unpickler):
    """Reads back only what `store` writes, so even a stored tree that passed its seal cannot run code."""

    ALLOWED = frozenset(
        {
            ("slicer.report", "Report"),
            ("slicer.report", "Entry"),
            (__name__, "Node"),
            ("builtins", "set"),
            ("builtins", "frozenset"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a stored tree")
        return super().find_class(module, name)


def find(cache: Cache, tree_key: str) -> StoredTree | None:
    """The stored tree for `tree_key`, hash-checked; None when there is none or it cannot be read."""
    try:
        blob = cache.derived(tree_key, KIND)
        if blob is None:
            return None
        with open(blob, "rb") as file:
            if file.read(len(_MAGIC)) != _MAGIC:
                return None
            length = int.from_bytes(file.read(8), "little")
            report, replaceable, nodes = _TreeUnpickler(io.BytesIO(file.read(length))).load()
    except (OSError, CacheError, pickle.UnpicklingError, EOFError, ValueError, TypeError):
        return None
    return StoredTree(blob, report, replaceable, tuple(nodes), len(_MAGIC) + 8 + length)


def _walk(staging: Path) -> Iterator[tuple[str, os.stat_result]]:
    """Every path under `staging`, parents before children, in a stable order."""
    pending = [""]
    while pending:
        folder = pending.pop()
        with os.scandir(staging / folder if folder else staging) as listing:
            items = sorted(listing, key=lambda item: item.name)
        for item in items:
            relative = f"{folder}/{item.name}" if folder else item.name
            found = item.stat(follow_symlinks=False)
            yield relative, found
            if stat.S_ISDIR(found.st_mode):
                pending.append(relative)


def _nodes(staging: Path) -> list[Node]:
    nodes: list[Node] = []
    first_link: dict[tuple[int, int], str] = {}
    for path, found in _walk(staging):
        metadata = (stat.S_IMODE(found.st_mode), found.st_mtime_ns, found.st_uid, found.st_gid)
        if stat.S_ISDIR(found.st_mode):
            nodes.append(Node(path, "dir", *metadata))
        elif stat.S_ISLNK(found.st_mode):
            nodes.append(Node(path, "symlink", *metadata, target=os.readlink(staging / path)))
        elif stat.S_ISREG(found.st_mode):
            inode = (found.st_dev, found.st_ino)
            if found.st_nlink > 1 and inode in first_link:
                nodes.append(Node(path, "link", *metadata, target=first_link[inode]))
            else:
                first_link[inode] = path
                nodes.append(Node(path, "file", *metadata, size=found.st_size))
        else:
            raise ValueError(f"{path} is neither a folder, a file nor a link")
    return nodes


def store(cache: Cache, tree_key: str, staging: Path, report: Report, replaceable: frozenset[str]) -> None:
    """Keep the staged tree, its metadata applied, for later cuts with the same inputs.

    A cache that cannot take it only costs speed.
    """
    nodes = _nodes(staging)
    header = pickle.dumps((report, replaceable, nodes), protocol=pickle.HIGHEST_PROTOCOL)

    def produce(writer: BlobWriter) -> None:
        writer.write(_MAGIC + len(header).to_bytes(8, "little") + header)
        for node in nodes:
            if node.kind == "file":
                writer.write((staging / node.path).read_bytes())

    with contextlib.suppress(OSError, CacheError, ValueError):
        cache.derive(tree_key, KIND, produce)


def restore(tree: StoredTree, staging: Path) -> None:
    """Write the stored tree into the empty `staging` folder, with the metadata it had (owners as root)."""
    base, as_root = os.fspath(staging), os.geteuid() == 0
    with open(tree.blob, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        content = memoryview(mapped)
        offset = tree.content_offset
        try:
            for node in tree.nodes:
                host = f"{base}/{node.path}"
                if node.kind == "dir":
                    os.mkdir(host, 0o700)
                elif node.kind == "symlink":
                    os.symlink(node.target, host)
                elif node.kind == "link":
                    os.link(f"{base}/{node.target}", host)
                else:
                    fd = os.open(host, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
                    try:
                        end = offset + node.size
                        while offset < end:
                            offset += os.write(fd, content[offset:end])
                        if as_root:  # before the mode: a change of owner clears setuid bits
                            os.fchown(fd, node.uid, node.gid)
                        os.fchmod(fd, node.mode)
                        os.utime(fd, ns=(node.mtime_ns, node.mtime_ns))
                    finally:
                        os.close(fd)
        finally:
            content.release()
    # Folders last, deepest first: filling a folder changes its mtime, and it may lack write permission.
    for node in reversed(tree.nodes):
        if node.kind in ("dir", "symlink"):
            host = f"{base}/{node.path}"
            if as_root:
                os.lchown(host, node.uid, node.gid)
            if node.kind == "dir":
                os.chmod(host, node.mode)
            os.utime(host, ns=(node.mtime_ns, node.mtime_ns), follow_symlinks=False)
