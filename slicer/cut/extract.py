"""Cut the selected slices out of their packages into a staging tree, as `plan.py` planned.

`extract_all` streams each package once, straight into staging, in
selection order: the result never depends on thread timing (a symlink
shipped by an earlier package is followed by a later one's paths). Warm cuts
read each package from a zstd copy of its data.tar kept in the cache, an
order of magnitude faster than xz. Modes, owners and mtimes are applied
once, when the staging tree is committed, since writing into a directory
changes its mtime.
"""

from __future__ import annotations

import hashlib
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from .. import rootfs
from ..cache import Cache
from ..console import Console
from ..deb import CachedData, Content, Member, cached_data, package_data
from ..errors import DebError, ExtractError, RootError
from ..globs import literal_prefix, match
from ..release.selection import Selection
from ..report import Entry, Report, number_links
from .epoch import source_date_epoch
from .plan import PackagePlan, Target, parent_dir, plan

if TYPE_CHECKING:
    from _typeshed import SupportsRead

WRITABLE = frozenset({"file", "dir", "symlink", "hardlink"})


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
        for member in package_data(self.package, self.deb, self.cached, keep=self.keeps):
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
        parent = parent_dir(path)
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
        for member in package_data(self.package, self.deb, self.cached):
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
    cache: Cache | None = None,
) -> None:
    """Extract every selected package into `staging`, one after the other in selection order.

    The order makes the result independent of thread timing: a symlink
    shipped by an earlier package is followed by a later one's paths. Threads
    only make the zstd copies of packages stored in a cache, on their first use.
    `plans` is `plan(selection)` when the caller made it already; `debs` are
    blobs of `cache` when one is given.
    """
    plans = {name: current for name, current in (plans or plan(selection)).items() if current.wants()}
    missing = [name for name in plans if name not in debs]
    if missing:
        raise ExtractError(f"no .deb file was given for package {', '.join(missing)}")
    with (
        console.task("Extracting packages", total=len(plans), unit="packages") as task,
        ThreadPoolExecutor(max_workers=max(1, workers)) as pool,
    ):
        copies = {name: pool.submit(cached_data, debs[name], cache) for name in plans}
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
