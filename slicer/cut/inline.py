"""Content a slice makes up rather than takes from a package: `text`, `make` and `symlink`
paths; and the removal of `until: mutate` paths once the scripts ran."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .. import rootfs
from ..errors import RootError
from ..globs import is_glob, literal_prefix, match
from ..release.model import PathInfo, PathKind
from ..release.selection import Selection
from ..report import Entry, Report, number_links
from .epoch import source_date_epoch
from .plan import applicable, parent_dir

INLINE = frozenset({PathKind.TEXT, PathKind.MAKE, PathKind.SYMLINK})
DEFAULT_MODES = {PathKind.TEXT: 0o644, PathKind.MAKE: 0o755, PathKind.SYMLINK: 0o777}


def create_inline(selection: Selection, staging: Path, report: Report, kinds: frozenset[PathKind] = INLINE) -> None:
    """Create `text`, `make` and `symlink` content (or only `kinds` of it), in selection order.

    Symlinks are also made before extraction, so that a package shipping
    `/lib/x` lands through a slice's `/lib -> usr/lib` link (merged /usr).
    """
    epoch = source_date_epoch()
    for slice_, path, info in applicable(selection):
        if info.kind not in kinds:
            continue
        target = path.rstrip("/") if info.kind is PathKind.SYMLINK else path
        for created in rootfs.make_dirs(staging, parent_dir(target)):
            report.add(Entry(created, "dir", 0o755, package=slice_.package, mtime=epoch, listed=False))
        mode = DEFAULT_MODES[info.kind] if info.mode is None or info.kind is PathKind.SYMLINK else info.mode
        kind = {PathKind.TEXT: "file", PathKind.MAKE: "dir", PathKind.SYMLINK: "symlink"}[info.kind]
        entry = Entry(
            target, kind, mode, {str(slice_.key)}, slice_.package, uid=info.uid or 0, gid=info.gid or 0, mtime=epoch
        )
        found = _kind_at(staging, target)
        if found is not None and (found != kind or (kind == "symlink" and _link_at(staging, target) != info.info)):
            raise RootError(f"cannot create {target} for slice {slice_.key}: a different {found} is already there")
        if found is None:
            if kind == "file":
                entry.sha256, entry.size = rootfs.write_file(staging, target, info.info.encode(), mode)
            elif kind == "dir":
                rootfs.make_dirs(staging, target)
            else:
                entry.link = info.info
                rootfs.write_symlink(staging, target, info.info)
        report.add(entry)
    number_links(report)


def _kind_at(root: Path, path: str) -> str | None:
    try:
        mode = os.lstat(rootfs.resolve(root, path, follow_last=False)).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISDIR(mode):
        return "dir"
    return "symlink" if stat.S_ISLNK(mode) else "file"


def _link_at(root: Path, path: str) -> str:
    return os.readlink(rootfs.resolve(root, path, follow_last=False))


class _Listings:
    """What each slice lists, found for a path by lookup (literal paths) or by literal prefix and match (globs)."""

    def __init__(self) -> None:
        self.literals: dict[str, dict[str, list[PathInfo]]] = {}
        self.globs: dict[str, list[tuple[str, str, PathInfo]]] = {}

    def add(self, slice_name: str, path: str, info: PathInfo) -> None:
        if is_glob(path):
            self.globs.setdefault(slice_name, []).append((literal_prefix(path), path, info))
        else:
            self.literals.setdefault(slice_name, {}).setdefault(path, []).append(info)

    def matching(self, slice_name: str, path: str) -> list[PathInfo]:
        """How `slice_name` lists `path`: under the path itself or under globs that match it."""
        found = list(self.literals.get(slice_name, {}).get(path, ()))
        for prefix, pattern, info in self.globs.get(slice_name, ()):
            if path.startswith(prefix) and match(pattern, path):
                found.append(info)
        return found

    def marks(self, slice_name: str) -> bool:
        """Whether `slice_name` marks any of its paths `until: mutate`."""
        infos = [info for paths in self.literals.get(slice_name, {}).values() for info in paths]
        infos += [info for *_, info in self.globs.get(slice_name, ())]
        return any(info.until == "mutate" for info in infos)


def _listings(selection: Selection) -> _Listings:
    listings = _Listings()
    for slice_, path, info in applicable(selection):
        listings.add(str(slice_.key), path.rstrip("/") if info.kind is PathKind.SYMLINK else path, info)
    return listings


def remove_until(selection: Selection, staging: Path, report: Report) -> None:
    """Remove paths every selected slice listing them marks `until: mutate`.

    Files go first, then directories deepest first and only when empty.
    """
    listings = _listings(selection)
    marking = {str(slice_.key) for slice_ in selection.slices if listings.marks(str(slice_.key))}

    def doomed(entry: Entry) -> bool:
        if not entry.slices or not entry.slices <= marking:
            return False
        for name in entry.slices:
            verdicts = [info.until == "mutate" for info in listings.matching(name, entry.path)]
            if not verdicts or not all(verdicts):
                return False
        return True

    chosen = sorted(
        (entry for entry in report.entries.values() if doomed(entry)),
        key=lambda entry: (entry.kind == "dir", -entry.path.count("/")),
    )
    for entry in chosen:
        if rootfs.remove(staging, entry.path):
            del report.entries[entry.path]
    _disown_until(listings, report)
    number_links(report)


def _disown_until(listings: _Listings, report: Report) -> None:
    """Owners as chisel's manifest records them, once `until: mutate` paths are gone.

    A slice owns an extracted path only through a listing that is not
    `until: mutate`; inline content is owned by all the slices listing it when
    any one of them keeps it. A path left with no owner (an `until: mutate`
    directory that was not empty) stays in the tree but not in the manifest.
    """
    for entry in report.entries.values():
        owners, inline, inline_kept = set(), set(), False
        for name in entry.slices:
            for info in listings.matching(name, entry.path):
                kept = info.until != "mutate"
                if info.kind in (PathKind.COPY, PathKind.GLOB):
                    owners.update([name] if kept else [])
                else:
                    inline.add(name)
                    inline_kept = inline_kept or kept
        owners |= inline if inline_kept else set()
        if owners != entry.slices:
            entry.slices = owners
            entry.listed = entry.listed and bool(owners)
