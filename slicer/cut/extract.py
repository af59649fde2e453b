"""Cut the selected slices out of their packages into a staging tree.

`plan` turns a selection into per-package requests. `extract_all` streams
each package once, straight into staging, in selection order: the result
never depends on thread timing (a symlink shipped by an earlier package is
followed by a later one's paths). Warm cuts read each package from a zstd
copy of its data.tar kept in the cache, an order of magnitude faster than
xz. `create_inline` adds `text`, `make` and `symlink` content, and
`remove_until` drops `until: mutate` paths after the scripts ran. Modes, owners and mtimes are applied once, when
the staging tree is committed, since writing into a directory changes its mtime.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from attrs import define, field

from .. import rootfs
from ..console import Console
from ..deb import CachedData, Content, Member, cached_data, iter_data
from ..errors import DebError, ExtractError, RootError, SlicerError
from ..globs import is_glob, literal_prefix, match
from ..release.model import PathInfo, PathKind, Slice
from ..release.selection import Selection
from ..report import Entry, Report

if TYPE_CHECKING:
    from _typeshed import SupportsRead

WRITABLE = frozenset({"file", "dir", "symlink", "hardlink"})
INLINE = frozenset({PathKind.TEXT, PathKind.MAKE, PathKind.SYMLINK})
DEFAULT_MODES = {PathKind.TEXT: 0o644, PathKind.MAKE: 0o755, PathKind.SYMLINK: 0o777}
# The cache's names for a package's data.tar recompressed with zstd, and for the index of its members.


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


def _digest(stream: SupportsRead[bytes]) -> tuple[str, int]:
    """The SHA256 and size of what `stream` holds, read to its end."""
    digest, size = hashlib.sha256(), 0
    for chunk in iter(lambda: stream.read(rootfs.CHUNK), b""):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _content(member: Member) -> Content:
    """The content of a regular file's member; only those have one."""
    assert member.stream is not None, f"{member.path} is a {member.kind}, with no content"
    return member.stream


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
        current.excluded = frozenset(
            path for path in selection.release.prefers if _loses(selection, path, current.package)
        )
    return plans


class _View:
    """The directories and symlinks one package made, by the paths a tree of its own would give them.

    Packages are extracted one after the other into one tree, but each
    package's report must not depend on what earlier ones left there: its
    implicit parents are named as if it were extracted alone, following only
    its own symlinks.
    """

    def __init__(self) -> None:
        self.dirs: set[str] = {"/"}
        self.links: dict[str, str] = {}

    def walk(self, path: str) -> tuple[str, list[str]]:
        """`path` resolved through the package's own symlinks, and the directories along it it had not made yet."""
        pending = [part for part in path.split("/") if part not in ("", ".")]
        pending.reverse()
        current, made, followed = "", [], 0
        while pending:
            part = pending.pop()
            if part == "..":
                current = current.rpartition("/")[0]
                continue
            candidate = current + "/" + part
            link = self.links.get(candidate)
            if link is not None:
                followed += 1
                if followed > rootfs.MAX_SYMLINKS:
                    raise RootError(f"too many levels of symbolic links resolving {path}")
                current = "" if link.startswith("/") else current
                pending.extend(reversed([p for p in link.split("/") if p not in ("", ".")]))
                continue
            if (pending or path.endswith("/")) and candidate + "/" not in self.dirs:
                self.dirs.add(candidate + "/")
                made.append(candidate + "/")
            current = candidate
        return current or "/", made


class _Extraction:
    """One streaming pass over a package's data.tar into the shared staging tree.

    Writing where an earlier package (or inline content) already put
    something is allowed only when it is the same; this package may replace
    what it wrote itself, as when it was extracted into a tree of its own.
    """

    def __init__(self, deb: Path, plan: PackagePlan, tree: Path, report: Report, cached: CachedData | None) -> None:
        self.deb, self.plan, self.tree, self.report, self.cached = deb, plan, tree, report, cached
        self.view = _View()
        self.places = rootfs.Resolver(tree)
        # Host paths of the files and symlinks this package wrote.
        self.mine: set[str] = set()
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
        for member in iter_data(self.deb, self.cached, keep=self.keeps):
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

    def keeps(self, path: str) -> bool:
        """Whether a non-directory entry at `path` is one this package's plan may take."""
        return (
            path in self.plan.literals
            or path in self.plan.optional
            or any(path.startswith(prefix) and match(pattern, path) for pattern, prefix in self.prefixes.items())
        )

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
            raise DebError(
                f'cannot extract {member.path} from package "{self.package}": '
                f"it is a {member.kind}, which slicer does not write"
            )
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
        self.make_dirs(parent)
        for created in self.view.walk(parent)[1]:
            entry = self.report.add(Entry(created, "dir", 0o755, package=self.package, mtime=self.epoch, listed=False))
            self.parents[created] = entry
            if created not in self.tar_dirs:
                self.parents_unread.add(created)
        self.known_dirs.add(parent)

    def make_dirs(self, path: str) -> None:
        try:
            rootfs.make_dirs(self.tree, path)
        except RootError:
            raise self.conflict(path) from None

    def conflict(self, path: str) -> RootError:
        return RootError(
            f'package "{self.package}" has content at {path} that differs from what an earlier package put there'
        )

    def occupied(self, path: str) -> tuple[str, os.stat_result | None]:
        """Where `path` lands, and what an earlier package left there (None: nothing, or this package's own)."""
        host = self.places.place(path)
        if host in self.mine:
            return host, None
        try:
            return host, os.lstat(host)
        except FileNotFoundError:
            return host, None

    @staticmethod
    def same(host: str, found: os.stat_result, source: Entry) -> bool:
        """Whether what is at `host` already is the file or symlink `source` describes."""
        if source.kind == "symlink":
            return stat.S_ISLNK(found.st_mode) and os.readlink(host) == source.link
        if not stat.S_ISREG(found.st_mode) or stat.S_IMODE(found.st_mode) != source.mode:
            return False
        with open(host, "rb") as existing:
            return _digest(existing) == (source.sha256, source.size)

    def entry(self, member: Member, target: Target, kind: str | None = None) -> Entry:
        return Entry(
            target.path,
            kind or member.kind,
            member.mode,
            set(target.slices),
            self.package,
            uid=member.uid if target.uid is None else target.uid,
            gid=member.gid if target.gid is None else target.gid,
            mtime=member.mtime,
            listed=target.listed,
        )

    def write(self, member: Member, target: Target, first: Entry | None) -> Entry:
        """Write one target of a file, directory or symlink member."""
        entry = self.entry(member, target)
        if member.kind == "dir":
            self.known_dirs.add(target.path)
            self.make_dirs(target.path)
            self.view.walk(target.path)
            return self.report.add(entry)
        host, found = self.occupied(target.path)
        if member.kind == "symlink":
            entry.mode, entry.link = 0o777, member.link
            parent, _, name = target.path.rpartition("/")
            self.view.links[self.view.walk(parent or "/")[0].rstrip("/") + "/" + name] = member.link
            if found is None:
                rootfs.write_symlink(self.tree, target.path, member.link, host)
                self.places.forget()
        elif found is not None:
            if first is None:
                entry.sha256, entry.size = _digest(_content(member))
            else:
                entry.sha256, entry.size = first.sha256, first.size
        elif first is None:
            entry.sha256, entry.size = rootfs.write_file(self.tree, target.path, _content(member), member.mode, host)
        else:
            entry.sha256, entry.size = first.sha256, first.size
            rootfs.copy_file(self.tree, first.path, target.path, member.mode)
        if found is not None and not self.same(host, found, entry):
            raise self.conflict(target.path)
        self.mine.add(host)
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
            host, found = self.occupied(target.path)
            if found is None:
                rootfs.hard_link(self.tree, source.path, target.path)
                self.mine.add(host)
            elif not self.same(host, found, source):
                raise self.conflict(target.path)
            entry = self.entry(member, target, source.kind)
            entry.mode, entry.mtime, entry.inode = source.mode, source.mtime, source.inode
            entry.sha256, entry.size, entry.link = source.sha256, source.size, source.link
            self.report.add(entry)

    def second_pass(self) -> None:
        """Give hard links whose target was not selected that target's content."""
        for member in iter_data(self.deb, self.cached):
            links = self.waiting.pop(member.path, None)
            if links is None:
                continue
            if member.kind not in ("file", "symlink"):
                raise DebError(
                    f'package "{self.package}" has a hard link {links[0][0].path} to a {member.kind}, {member.path}'
                )
            first_link, first_target = links[0]
            source = self.write(member, first_target, None)
            self.first[member.path] = source
            self.link(first_link, [target for _, target in links[1:]])
            if not self.waiting:
                return
        path, links = next(iter(self.waiting.items()))
        raise ExtractError(
            f'cannot create hard link {links[0][0].path} from package "{self.package}": no content at {path}'
        )

    def check_missing(self) -> None:
        missing = sorted(
            {path for path in self.plan.literals if path in self.unseen} | (self.plan.globs.keys() - self.matched)
        )
        if len(missing) == 1:
            raise ExtractError(f'package "{self.package}" has no content at {missing[0]}')
        if missing:
            raise ExtractError(f'package "{self.package}" has no content at: {", ".join(missing)}')


def extract_package(
    deb: Path, plan: PackagePlan, staging: Path, report: Report, cached: CachedData | None = None
) -> None:
    """Extract one package into `staging`, recording into `report`.

    `cached` is the package's data.tar as a cache keeps it, read instead of the .deb.
    """
    _Extraction(deb, plan, staging, report, cached).run()


def _record(report: Report, package: Report, offset: int, console: Console) -> int:
    """Add one package's entries in order; return the next free hard-link group number."""
    groups = offset
    for entry in package.entries.values():
        if entry.inode:
            entry.inode += offset
            groups = max(groups, entry.inode)
        known = report.entries.get(entry.path)
        if known is not None and not known.listed and not entry.listed and known.mode != entry.mode:
            console.warn(
                f"directory {entry.path} has mode {known.mode:04o} in package {known.package} and "
                f"{entry.mode:04o} in package {entry.package}; keeping {known.mode:04o}"
            )
        report.add(entry)
    return groups


def extract_all(
    selection: Selection,
    debs: dict[str, Path],
    staging: Path,
    report: Report,
    console: Console,
    workers: int = 4,
    plans: dict[str, PackagePlan] | None = None,
) -> None:
    """Extract every selected package into `staging`, one after the other in selection order.

    The order makes the result independent of thread timing: a symlink
    shipped by an earlier package is followed by a later one's paths. Threads
    only make the zstd copies of packages stored in a cache, on their first use.
    `plans` is `plan(selection)` when the caller made it already.
    """
    plans = {name: current for name, current in (plans or plan(selection)).items() if current.wants()}
    missing = [name for name in plans if name not in debs]
    if missing:
        raise ExtractError(f"no .deb file was given for package {', '.join(missing)}")
    with (
        console.task("Extracting packages", total=len(plans), unit="packages") as task,
        ThreadPoolExecutor(max_workers=max(1, workers)) as pool,
    ):
        copies = {name: pool.submit(cached_data, debs[name]) for name in plans}
        try:
            groups = 0
            for name, current in plans.items():
                package = Report()
                extract_package(debs[name], current, staging, package, copies[name].result())
                groups = _record(report, package, groups, console)
                task.advance()
        finally:
            for future in copies.values():
                future.cancel()
    number_links(report)


def create_inline(selection: Selection, staging: Path, report: Report, kinds: frozenset[PathKind] = INLINE) -> None:
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

    chosen = sorted(
        (entry for entry in report.entries.values() if doomed(entry)),
        key=lambda entry: (entry.kind == "dir", -entry.path.count("/")),
    )
    for entry in chosen:
        if rootfs.remove(staging, entry.path):
            del report.entries[entry.path]
    number_links(report)


def number_links(report: Report) -> None:
    """Number hard-link groups 1..N in order of discovery, dropping groups of one.

    Modes, owners and mtimes are applied once, by `rootfs.commit`.
    """
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
