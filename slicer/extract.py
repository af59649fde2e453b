"""Cut the selected slices out of their packages into a staging tree.

`plan` turns a selection into per-package requests. `extract_all` streams
each package once, in parallel threads, each into a tree of its own, then
merges the trees into staging in selection order: the result never depends
on thread timing (a symlink shipped by an earlier package is followed by a
later one's paths, as a sequential extraction would). `create_inline` adds
`text`, `make` and `symlink` content, `remove_until` drops `until: mutate`
paths after the scripts ran. Directory modes and every mtime are applied last
(`finalize_metadata`), since writing into a directory changes its mtime.
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from attrs import define, field

from . import rootfs
from .console import Console
from .deb import Member, iter_data
from .errors import DebError, ExtractError, RootError, SlicerError
from .globs import is_glob, literal_prefix, match
from .model import PathInfo, PathKind, Slice
from .report import Entry, Report
from .selection import Selection

WRITABLE = frozenset({"file", "dir", "symlink", "hardlink"})
INLINE = frozenset({PathKind.TEXT, PathKind.MAKE, PathKind.SYMLINK})
DEFAULT_MODES = {PathKind.TEXT: 0o644, PathKind.MAKE: 0o755, PathKind.SYMLINK: 0o777}


@define
class Target:
    """Where one package path lands, for which slices."""

    path: str
    slices: set[str]
    uid: int | None = None
    gid: int | None = None
    # False for a directory wanted only as the parent of inline content.
    listed: bool = True


@define
class PackagePlan:
    package: str
    # Path in the package -> where it goes (several targets with `copy:`).
    literals: dict[str, list[Target]] = field(factory=dict)
    # Directories taken only if the package ships them: parents of inline content.
    optional: set[str] = field(factory=set)
    # Glob -> the slices listing it.
    globs: dict[str, set[str]] = field(factory=dict)
    # Paths another selected package provides under `prefer`.
    excluded: frozenset[str] = frozenset()

    def add(self, source: str, target: Target) -> None:
        for known in self.literals.setdefault(source, []):
            if known.path == target.path:
                known.slices |= target.slices
                return
        self.literals[source].append(target)

    def wants(self) -> bool:
        return bool(self.literals or self.optional or self.globs)


def source_date_epoch() -> int:
    """The mtime of content slicer makes up: `SOURCE_DATE_EPOCH`, else 0."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not value:
        return 0
    try:
        return int(value)
    except ValueError:
        raise SlicerError(f"SOURCE_DATE_EPOCH must be a whole number of seconds, not {value!r}") from None


def _parent(path: str) -> str:
    parent = posixpath.dirname(path.rstrip("/"))
    return parent if parent == "/" else parent + "/"


def _loses(selection: Selection, path: str, package: str) -> bool:
    winner = selection.winner(path)
    return winner is not None and winner != package


def _applicable(selection: Selection) -> Iterator[tuple[Slice, str, PathInfo]]:
    """Each path of each selected slice that this arch and `prefer` leave to its package."""
    for slice_ in selection.slices:
        for path, info in slice_.contents.items():
            if info.applies_to(selection.arch) and not _loses(selection, path, slice_.package):
                yield slice_, path, info


def plan(selection: Selection) -> dict[str, PackagePlan]:
    """What to take from each selected package, in selection order."""
    plans = {name: PackagePlan(name) for name in selection.packages}
    for slice_, path, info in _applicable(selection):
        current = plans[slice_.package]
        name = str(slice_.key)
        if info.kind is PathKind.GLOB or (info.kind is PathKind.COPY and is_glob(path)):
            current.globs.setdefault(path, set()).add(name)
        elif info.kind is PathKind.COPY:
            current.add(info.info or path, Target(path, {name}, info.uid, info.gid))
        else:
            wanted = path.removesuffix("**") if info.kind is PathKind.GENERATE else _parent(path)
            if wanted != "/":
                current.optional.add(wanted)
    for current in plans.values():
        current.optional -= current.literals.keys()
        current.excluded = frozenset(path for path in selection.release.prefers
                                     if _loses(selection, path, current.package))
    return plans


class _Extraction:
    """One streaming pass over a package's data.tar into its own tree."""

    def __init__(self, deb: Path, plan: PackagePlan, tree: Path, report: Report) -> None:
        self.deb, self.plan, self.tree, self.report = deb, plan, tree, report
        self.package = plan.package
        self.prefixes = {pattern: literal_prefix(pattern) for pattern in plan.globs}
        self.unseen = set(plan.literals) | plan.optional
        self.matched: set[str] = set()
        self.tar_dirs: dict[str, Member] = {}
        # Implicit parents made so far, and those whose tar entry is still unread.
        self.parents: dict[str, Entry] = {}
        self.parents_unread: set[str] = set()
        self.known_dirs = {"/"}
        # Package path -> the entry of its first extracted copy, for hard links.
        self.first: dict[str, Entry] = {}
        # Hard-link target in the package -> link targets waiting for its content.
        self.waiting: dict[str, list[tuple[Member, Target]]] = {}
        self.groups = 0
        self.epoch = source_date_epoch()

    def run(self) -> None:
        for member in iter_data(self.deb):
            self.take(member)
            if not self.plan.globs and not self.unseen and not self.parents_unread:
                break
        self.check_missing()
        if self.waiting:
            self.second_pass()
        for path, entry in self.parents.items():
            seen = self.tar_dirs.get(path)
            if seen is not None and not entry.listed:
                entry.mode, entry.uid, entry.gid, entry.mtime = seen.mode, seen.uid, seen.gid, seen.mtime

    def targets(self, member: Member) -> list[Target]:
        path = member.path
        self.unseen.discard(path)
        found = {target.path: target for target in self.plan.literals.get(path, ())}
        slices: set[str] = set()
        for pattern, names in self.plan.globs.items():
            if path.startswith(self.prefixes[pattern]) and match(pattern, path):
                self.matched.add(pattern)
                if path not in self.plan.excluded:
                    slices |= names
        if slices:
            if path in found:
                found[path] = Target(path, found[path].slices | slices, found[path].uid, found[path].gid)
            else:
                found[path] = Target(path, slices)
        if path in self.plan.optional and path not in found:
            found[path] = Target(path, set(), listed=False)
        return list(found.values())

    def take(self, member: Member) -> None:
        if member.kind == "dir":
            self.tar_dirs[member.path] = member
            self.parents_unread.discard(member.path)
        targets = self.targets(member)
        if not targets:
            return
        if member.kind not in WRITABLE:
            raise DebError(f'cannot extract {member.path} from package "{self.package}": '
                           f"it is a {member.kind}, which slicer does not write")
        for target in targets:
            self.make_parents(target.path)
        if member.kind == "hardlink":
            self.link(member, targets)
            return
        first = self.first[member.path] = self.write(member, targets[0], None)
        for target in targets[1:]:
            self.write(member, target, first)

    def make_parents(self, path: str) -> None:
        parent = _parent(path)
        if parent in self.known_dirs:
            return
        for created in rootfs.make_dirs(self.tree, parent):
            entry = self.report.add(Entry(created, "dir", 0o755, package=self.package, mtime=self.epoch,
                                          listed=False))
            self.parents[created] = entry
            if created not in self.tar_dirs:
                self.parents_unread.add(created)
        self.known_dirs.add(parent)

    def entry(self, member: Member, target: Target, kind: str | None = None) -> Entry:
        return Entry(target.path, kind or member.kind, member.mode, set(target.slices), self.package,
                     uid=member.uid if target.uid is None else target.uid,
                     gid=member.gid if target.gid is None else target.gid,
                     mtime=member.mtime, listed=target.listed)

    def write(self, member: Member, target: Target, first: Entry | None) -> Entry:
        """Write one target of a file, directory or symlink member."""
        entry = self.entry(member, target)
        if member.kind == "dir":
            self.known_dirs.add(target.path)
            rootfs.make_dirs(self.tree, target.path)
        elif member.kind == "symlink":
            entry.mode, entry.link = 0o777, member.link
            rootfs.write_symlink(self.tree, target.path, member.link)
        elif first is None:
            entry.sha256, entry.size = rootfs.write_file(self.tree, target.path, member.stream, member.mode)
        else:
            entry.sha256, entry.size = first.sha256, first.size
            rootfs.copy_file(self.tree, first.path, target.path, member.mode)
        return self.report.add(entry)

    def link(self, member: Member, targets: list[Target]) -> None:
        source = self.first.get(member.link)
        if source is None:
            self.waiting.setdefault(member.link, []).extend((member, target) for target in targets)
            return
        if source.kind == "dir":
            raise DebError(f'package "{self.package}" has a hard link {member.path} to a directory, {member.link}')
        if not source.inode:
            self.groups += 1
            source.inode = self.groups
        for target in targets:
            rootfs.hard_link(self.tree, source.path, target.path)
            entry = self.entry(member, target, source.kind)
            entry.mode, entry.mtime, entry.inode = source.mode, source.mtime, source.inode
            entry.sha256, entry.size, entry.link = source.sha256, source.size, source.link
            self.report.add(entry)

    def second_pass(self) -> None:
        """Give hard links whose target was not selected that target's content."""
        for member in iter_data(self.deb):
            links = self.waiting.pop(member.path, None)
            if links is None:
                continue
            if member.kind not in ("file", "symlink"):
                raise DebError(f'package "{self.package}" has a hard link {links[0][0].path} '
                               f"to a {member.kind}, {member.path}")
            first_link, first_target = links[0]
            source = self.write(member, first_target, None)
            self.first[member.path] = source
            self.link(first_link, [target for _, target in links[1:]])
            if not self.waiting:
                return
        path, links = next(iter(self.waiting.items()))
        raise ExtractError(f'cannot create hard link {links[0][0].path} from package "{self.package}": '
                           f"no content at {path}")

    def check_missing(self) -> None:
        missing = sorted({path for path in self.plan.literals if path in self.unseen}
                         | (self.plan.globs.keys() - self.matched))
        if len(missing) == 1:
            raise ExtractError(f'package "{self.package}" has no content at {missing[0]}')
        if missing:
            raise ExtractError(f'package "{self.package}" has no content at: {", ".join(missing)}')


def extract_package(deb: Path, plan: PackagePlan, staging: Path, report: Report) -> None:
    """Extract one package into `staging` (a tree of its own), recording into `report`."""
    _Extraction(deb, plan, staging, report).run()


def _extract_into(scratch: Path, index: int, deb: Path, plan: PackagePlan) -> tuple[Path, Report]:
    tree = scratch / str(index)
    rootfs.make_dirs(scratch, f"/{index}")
    report = Report()
    extract_package(deb, plan, tree, report)
    return tree, report


def _record(report: Report, package: Report, offset: int, console: Console) -> int:
    """Add one package's entries in order; return the next free hard-link group number."""
    groups = offset
    for entry in package.entries.values():
        if entry.inode:
            entry.inode += offset
            groups = max(groups, entry.inode)
        known = report.entries.get(entry.path)
        if known is not None and not known.listed and not entry.listed and known.mode != entry.mode:
            console.warn(f"directory {entry.path} has mode {known.mode:04o} in package {known.package} and "
                         f"{entry.mode:04o} in package {entry.package}; keeping {known.mode:04o}")
        report.add(entry)
    return groups


def extract_all(selection: Selection, debs: dict[str, Path], staging: Path, report: Report,
                console: Console, workers: int = 4) -> None:
    """Extract every selected package into `staging`, in parallel, with a deterministic result."""
    plans = {name: current for name, current in plan(selection).items() if current.wants()}
    missing = [name for name in plans if name not in debs]
    if missing:
        raise ExtractError(f"no .deb file was given for package {', '.join(missing)}")
    with (rootfs.staging_area(staging.parent) as scratch,
          console.task("Extracting packages", total=len(plans), unit="packages") as task,
          ThreadPoolExecutor(max_workers=max(1, workers)) as pool):
        futures = {name: pool.submit(_extract_into, scratch, index, debs[name], current)
                   for index, (name, current) in enumerate(plans.items())}
        try:
            groups = 0
            for name, future in futures.items():
                tree, package = future.result()
                rootfs.merge(tree, staging, f'package "{name}"')
                groups = _record(report, package, groups, console)
                task.advance()
        finally:
            for future in futures.values():
                future.cancel()
    finalize_metadata(staging, report)


def create_inline(selection: Selection, staging: Path, report: Report,
                  kinds: frozenset[PathKind] = INLINE) -> None:
    """Create `text`, `make` and `symlink` content (or only `kinds` of it), in selection order.

    Symlinks are also made before extraction, so that a package shipping
    `/lib/x` lands through a slice's `/lib -> usr/lib` link (merged /usr).
    """
    epoch = source_date_epoch()
    for slice_, path, info in _applicable(selection):
        if info.kind not in kinds:
            continue
        target = path.rstrip("/") if info.kind is PathKind.SYMLINK else path
        for created in rootfs.make_dirs(staging, _parent(target)):
            report.add(Entry(created, "dir", 0o755, package=slice_.package, mtime=epoch, listed=False))
        mode = DEFAULT_MODES[info.kind] if info.mode is None or info.kind is PathKind.SYMLINK else info.mode
        kind = {PathKind.TEXT: "file", PathKind.MAKE: "dir", PathKind.SYMLINK: "symlink"}[info.kind]
        entry = Entry(target, kind, mode, {str(slice_.key)}, slice_.package, uid=info.uid or 0,
                      gid=info.gid or 0, mtime=epoch)
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
    finalize_metadata(staging, report)


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


def remove_until(selection: Selection, staging: Path, report: Report) -> None:
    """Remove paths every selected slice listing them marks `until: mutate`.

    Files go first, then directories deepest first and only when empty.
    """
    listings: dict[str, list[tuple[str, bool]]] = {}
    for slice_, path, info in _applicable(selection):
        key = path.rstrip("/") if info.kind is PathKind.SYMLINK else path
        listings.setdefault(str(slice_.key), []).append((key, info.until == "mutate"))
    marking = {name for name, paths in listings.items() if any(until for _, until in paths)}

    def doomed(entry: Entry) -> bool:
        if not entry.slices or not entry.slices <= marking:
            return False
        for name in entry.slices:
            verdicts = [until for key, until in listings[name] if match(key, entry.path)]
            if not verdicts or not all(verdicts):
                return False
        return True

    chosen = sorted((entry for entry in report.entries.values() if doomed(entry)),
                    key=lambda entry: (entry.kind == "dir", -entry.path.count("/")))
    for entry in chosen:
        if rootfs.remove(staging, entry.path):
            del report.entries[entry.path]
    finalize_metadata(staging, report)


def _number_links(report: Report) -> None:
    """Number hard-link groups 1..N in order of discovery, dropping groups of one."""
    groups: dict[int, list[Entry]] = {}
    for entry in report.entries.values():
        if entry.inode:
            groups.setdefault(entry.inode, []).append(entry)
    number = 0
    for members in groups.values():
        if len(members) > 1:
            number += 1
        for member in members:
            member.inode = number if len(members) > 1 else 0


def finalize_metadata(staging: Path, report: Report) -> None:
    """Settle hard-link numbers and apply every entry's mode, ownership and mtime."""
    _number_links(report)
    rootfs.apply_metadata(staging, report.entries.values())
