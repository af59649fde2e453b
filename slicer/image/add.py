"""The layer of the user's own files (`--add SRC:DEST[:MODE[:UID:GID]]`).

Host metadata that depends on the machine is never copied: owners come from
the option (default 0:0), modes are normalised (0755 for directories and
executables, 0644 for other files, unless MODE is given) so that the umask of
the build host does not change the digest, and mtimes are the build's epoch.
A destination's parents take their metadata from the cut tree beneath, and a
parent that is a symlink there (`/lib -> usr/lib`) is followed, so the layer
never replaces a directory's owner or a symlink of the lower layer.
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Iterator
from pathlib import Path

from .. import rootfs
from ..errors import ImageError
from .layer import LayerEntry, Owner
from .spec import AddFile


def _normal_mode(info: os.stat_result, given: int | None) -> int:
    if given is not None:
        return given
    return 0o755 if info.st_mode & 0o111 else 0o644


def _real(base: Path, path: str) -> str:
    """`path` with the symlinks of the lower tree resolved (an image path)."""
    parent, name = posixpath.split(path)
    return posixpath.join(rootfs.image_path(base, rootfs.resolve(base, parent)), name)


def added_entries(items: tuple[AddFile, ...], base: Path, owners: dict[str, Owner], epoch: int) -> list[LayerEntry]:
    """Tar entries for `items` on top of the cut tree at `base`, sorted, parents first."""
    entries: dict[str, LayerEntry] = {}
    for item in items:
        try:
            info = os.lstat(item.source)
        except OSError as error:
            raise ImageError(f"cannot read {item.source} for --add: {error.strerror or error}") from None
        dest = item.dest
        if dest.endswith("/") and not stat.S_ISDIR(info.st_mode):
            dest += item.source.name
        dest = _real(base, dest.rstrip("/") or "/")
        _add_parents(entries, base, owners, dest, epoch)
        for path, host, found in _sources(item.source, dest, info):
            entries[path] = _entry(path, host, found, item, epoch)
    return [entries[path] for path in sorted(entries, key=lambda path: path.split("/"))]


def _add_parents(entries: dict[str, LayerEntry], base: Path, owners: dict[str, Owner], dest: str, epoch: int) -> None:
    parts = [part for part in dest.split("/") if part][:-1]
    for depth in range(1, len(parts) + 1):
        path = "/".join(parts[:depth])
        if path in entries:
            continue
        host = os.path.join(base, path)
        try:
            below = os.lstat(host)
        except FileNotFoundError:
            entries[path] = LayerEntry(path, "dir", 0o755, 0, 0, epoch)
            continue
        if not stat.S_ISDIR(below.st_mode):
            raise ImageError(f"cannot add files under /{path}: the image has a file there, not a directory")
        owner = owners.get(host, Owner(0, 0))
        entries[path] = LayerEntry(
            path, "dir", stat.S_IMODE(below.st_mode), owner.uid, owner.gid, min(int(below.st_mtime), epoch)
        )


def _sources(source: Path, dest: str, info: os.stat_result) -> Iterator[tuple[str, Path, os.stat_result]]:
    """(layer path, host path, lstat) of `source` and, for a directory, everything below it."""
    top = dest.strip("/")
    if top:  # "/" itself is the layer's root entry
        yield top, source, info
    if not stat.S_ISDIR(info.st_mode):
        return
    for folder, dirs, files in os.walk(source):
        dirs.sort()
        relative = os.path.relpath(folder, source)
        for name in sorted(dirs + files):
            host = Path(folder, name)
            path = posixpath.normpath(posixpath.join(top, relative, name))
            yield path, host, os.lstat(host)


def _entry(path: str, host: Path, info: os.stat_result, item: AddFile, epoch: int) -> LayerEntry:
    mode = _normal_mode(info, item.mode)
    if stat.S_ISDIR(info.st_mode):
        return LayerEntry(path, "dir", 0o755, item.uid, item.gid, epoch)
    if stat.S_ISLNK(info.st_mode):
        return LayerEntry(path, "symlink", 0o777, item.uid, item.gid, epoch, link=os.readlink(host))
    if stat.S_ISREG(info.st_mode):
        return LayerEntry(path, "file", mode, item.uid, item.gid, epoch, info.st_size, source=host)
    raise ImageError(f"cannot add {host}: only files, directories and symlinks can be added")
