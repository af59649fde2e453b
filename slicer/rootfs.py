"""The only writer under a root: every path is resolved inside it.

`resolve` walks a root-relative path one component at a time, following
symlinks as if the root were `/`: an absolute target restarts at the root and
`..` never climbs above it. So a `/var/run -> /run` link placed by a package
can never make a write land on the host. Every writer below goes through it
and never follows a symlink in the last component.

A cut is built in a staging directory inside the root and moved in by
`commit`, which checks every path against what the root already holds before
it writes anything, then writes its plan to a journal (`journal`) before
changing the root, so a crash leaves the old cut or (once the next run
finishes the journal) the new one. `staging_area` holds a lock on the root for
the whole cut, so cuts into one root run one after another, and removes (or
finishes) what a killed run left behind before it starts.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import filecmp
import hashlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from attrs import define, field, frozen

from . import journal
from .errors import RootError
from .report import Entry, Report

if TYPE_CHECKING:
    from _typeshed import SupportsRead

# Bound on symlinks followed while resolving one path, as the kernel's ELOOP.
MAX_SYMLINKS = 40
STAGING_PREFIX = ".slicer-staging-"
CHUNK = 1 << 20
# The mode of an image's `/`, as Debian's base-files gives it.
ROOT_MODE = 0o755


def resolve(root: Path, path: str, follow_last: bool = True) -> Path:
    """The host path that `path` (absolute, inside the image) names under `root`.

    Missing components are allowed (the result names where they would be
    created); symlinks met on the way are resolved inside `root`. With
    `follow_last` false a final symlink is returned itself, not its target.
    """
    base = os.fspath(root).rstrip("/")
    pending = [part for part in path.split("/") if part not in ("", ".")]
    pending.reverse()
    resolved: list[str] = []
    # The host path of `resolved`, kept alongside it to avoid re-joining every step.
    current = base
    followed = 0
    while pending:
        part = pending.pop()
        if part == "..":
            if resolved:
                resolved.pop()
                current = base + "".join("/" + name for name in resolved)
            continue
        candidate = current + "/" + part
        if (follow_last or pending) and os.path.islink(candidate):
            followed += 1
            if followed > MAX_SYMLINKS:
                raise RootError(f"too many levels of symbolic links resolving {path} in {root}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved, current = [], base
            pending.extend(reversed([p for p in target.split("/") if p not in ("", ".")]))
            continue
        resolved.append(part)
        current = candidate
    return Path(current) if current else root


class Resolver:
    """`resolve` with `follow_last` false for many paths of one tree, each parent directory resolved once.

    For a tree that one writer fills and nothing else changes: a directory,
    once it exists, stays where it is. Only existing directories are
    remembered, so a symlink created later at a missing component is still
    followed; `forget` drops everything after a change of that kind.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._folders: dict[str, str] = {}

    def place(self, path: str) -> str:
        parent, _, name = path.rstrip("/").rpartition("/")
        if name in ("", ".", ".."):
            return os.fspath(resolve(self.root, path, follow_last=False))
        folder = self._folders.get(parent)
        if folder is None:
            folder = os.fspath(resolve(self.root, parent or "/"))
            if os.path.isdir(folder):
                self._folders[parent] = folder
        return folder + "/" + name

    def forget(self) -> None:
        self._folders.clear()


def image_path(root: Path, host: Path) -> str:
    """The absolute image path of `host`, a path under `root`."""
    relative = host.relative_to(root).as_posix()
    return "/" if relative == "." else "/" + relative


def _lstat(host: Path | str) -> os.stat_result | None:
    try:
        return os.lstat(host)
    except FileNotFoundError:
        return None


def _failure(action: str, path: str, root: Path, error: OSError) -> RootError:
    return RootError(f"cannot {action} {path} in {root}: {error.strerror or error}")


def make_dirs(root: Path, path: str) -> list[str]:
    """Create the missing directories along `path`; return the image paths created.

    Symlinks on the way are followed inside the root, so the returned paths
    are where the directories really are (`/usr/lib/` for `/lib/` when `/lib`
    links to `usr/lib`), each ending in `/`.
    """
    current = root
    created: list[str] = []
    for part in (p for p in path.split("/") if p not in ("", ".")):
        candidate = current / part
        if candidate.is_symlink():
            # The link may point at a directory whose own parents are missing.
            candidate = resolve(root, image_path(root, candidate))
            if candidate != root:
                created += make_dirs(root, image_path(root, candidate.parent))
        try:
            os.mkdir(candidate, 0o755)
            created.append(image_path(root, candidate) + "/")
        except FileExistsError:
            if not candidate.is_dir():
                raise RootError(
                    f"cannot create directory {path} in {root}: {image_path(root, candidate)} is not a directory"
                ) from None
        except OSError as error:
            raise _failure("create directory", path, root, error) from None
        current = candidate
    return created


def _clear(root: Path, path: str, host: Path | str) -> None:
    """Remove a file or symlink at `host` so a new one can take its place."""
    found = _lstat(host)
    if found is None:
        return
    if stat.S_ISDIR(found.st_mode):
        raise RootError(f"cannot write {path} in {root}: a directory is in the way")
    os.unlink(host)


def _create(root: Path, path: str, host: Path | str) -> int:
    """A new file at `host`, open for writing; what was there (not a directory) is replaced."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(host, flags, 0o600)
    except FileExistsError:
        _clear(root, path, host)
        return os.open(host, flags, 0o600)


def _write_all(fd: int, chunk: bytes) -> None:
    view = memoryview(chunk)
    while view:
        view = view[os.write(fd, view) :]


def write_file(
    root: Path, path: str, data: bytes | SupportsRead[bytes], mode: int, host: str | None = None
) -> tuple[str, int]:
    """Write a regular file with exactly `mode`; return its sha256 and size.

    `host` is where `path` lands when a `Resolver` of `root` already placed it.
    """
    if host is None:
        host = os.fspath(resolve(root, path, follow_last=False))
    digest = hashlib.sha256()
    size = 0
    try:
        # Straight to the descriptor: a file object would cost an fstat, an ioctl and an lseek per file.
        fd = _create(root, path, host)
        try:
            chunks = iter([data]) if isinstance(data, bytes) else iter(lambda: data.read(CHUNK), b"")
            for chunk in chunks:
                digest.update(chunk)
                _write_all(fd, chunk)
                size += len(chunk)
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
    except OSError as error:
        raise _failure("write", path, root, error) from None
    return digest.hexdigest(), size


def copy_file(root: Path, source: str, path: str, mode: int) -> None:
    """Copy the file at `source` to `path`, both inside the root."""
    try:
        with open(resolve(root, source, follow_last=False), "rb") as data:
            write_file(root, path, data, mode)
    except OSError as error:
        raise _failure("read", source, root, error) from None


def write_symlink(root: Path, path: str, target: str, host: str | None = None) -> None:
    """Create a symlink holding `target` verbatim (it is resolved inside the root when used).

    `host` is where `path` lands when a `Resolver` of `root` already placed it.
    """
    if host is None:
        host = os.fspath(resolve(root, path, follow_last=False))
    try:
        _clear(root, path, host)
        os.symlink(target, host)
    except OSError as error:
        raise _failure("create symlink", path, root, error) from None


def hard_link(root: Path, existing: str, path: str) -> None:
    """Make `path` another name of `existing`; a symlink is linked, not followed."""
    source = resolve(root, existing, follow_last=False)
    host = resolve(root, path, follow_last=False)
    try:
        _clear(root, path, host)
        os.link(source, host, follow_symlinks=False)
    except OSError as error:
        raise _failure("create hard link", path, root, error) from None


def remove(root: Path, path: str) -> bool:
    """Remove a file, symlink or empty directory; False when a directory is not empty."""
    host = resolve(root, path, follow_last=False)
    found = _lstat(host)
    try:
        if found is None:
            return True
        if stat.S_ISDIR(found.st_mode):
            if any(os.scandir(host)):
                return False
            os.rmdir(host)
        else:
            os.unlink(host)
    except OSError as error:
        raise _failure("remove", path, root, error) from None
    return True


def apply_metadata(root: Path, entries: Iterable[Entry]) -> None:
    """Give every entry its recorded ownership (as root), mode and mtime.

    Directories come last, deepest first, because writing into a directory
    changes its mtime. When two entries name the same place, a listed one
    wins over an implicit parent, then the first one.
    """
    folders: dict[str, Path] = {}
    chosen: dict[Path, Entry] = {}
    for entry in entries:
        # Resolving each parent once is enough: nothing moves while metadata is applied.
        parent, _, name = entry.path.rstrip("/").rpartition("/")
        folder = folders.get(parent)
        if folder is None:
            folder = folders[parent] = resolve(root, parent or "/")
        host = folder / name
        current = chosen.get(host)
        if current is None or (entry.listed and not current.listed):
            chosen[host] = entry
    as_root = os.geteuid() == 0
    for host, entry in sorted(chosen.items(), key=lambda item: (item[1].kind == "dir", -len(item[0].parts))):
        try:
            if as_root:
                os.lchown(host, entry.uid, entry.gid)
            if entry.kind != "symlink":
                os.chmod(host, entry.mode)
            os.utime(host, (entry.mtime, entry.mtime), follow_symlinks=False)
        except OSError as error:
            raise _failure("set the metadata of", entry.path, root, error) from None


def _make_root(root: Path) -> None:
    """Create `root` (and its parents) unless it exists; explain a root that is not a folder."""
    if root.is_symlink() and not root.exists():
        raise RootError(f"the root {root} is a symbolic link to {os.readlink(root)}, which does not exist")
    if root.exists():
        if not root.is_dir():
            raise RootError(f"the root {root} is not a folder")
        return
    try:
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root, ROOT_MODE)
    except OSError as error:
        raise RootError(f"cannot create the root {root}: {error.strerror or error}") from None


def new_staging(root: Path) -> Path:
    """A fresh staging directory inside `root` (created with its parents if missing).

    A root that cannot be written (read-only, or not the user's) gets one
    outside it: a cut that would change nothing there still succeeds, and
    `commit` refuses any other before it writes.
    """
    _make_root(root)
    try:
        return Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=root))
    except OSError as error:
        if error.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise RootError(f"cannot create a staging directory in {root}: {error.strerror or error}") from None
    try:
        return Path(tempfile.mkdtemp(prefix=STAGING_PREFIX))
    except OSError as error:
        raise RootError(f"cannot create a staging directory: {error.strerror or error}") from None


def discard(path: Path) -> None:
    """Remove a staging tree, even one holding directories without write permission."""

    def retry(function: Callable[[str], object], failed: str, _info: object) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(failed), 0o700)
            function(failed)

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, onerror=retry)
    elif path.is_symlink() or path.exists():
        path.unlink()


# Roots this process holds locked, with how many holders: the lock is reentrant within a process.
_HELD: dict[str, int] = {}


@contextlib.contextmanager
def root_lock(root: Path) -> Iterator[None]:
    """Hold the root's lock (a lock on the folder itself, so nothing is added to the image).

    Creates the root if missing. Reentrant within one process.
    """
    _make_root(root)
    key = os.path.realpath(root)
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield
        finally:
            _HELD[key] -= 1
        return
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as error:
        raise RootError(f"cannot open the root {root}: {error.strerror or error}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _HELD[key] = 1
        try:
            yield
        finally:
            del _HELD[key]
    finally:
        os.close(fd)


def recover(root: Path) -> None:
    """Finish the commits that killed runs journalled, and remove their staging trees.

    Call it holding the root's lock: every staging tree then belongs to a run that is gone.
    """
    leftovers = sorted(item.name for item in os.scandir(root) if item.name.startswith(STAGING_PREFIX))
    for name in leftovers:
        if not name.endswith(journal.SUFFIX):
            continue
        staging = root / name.removesuffix(journal.SUFFIX)
        plan = journal.read(root / name)
        if plan is not None:
            try:
                journal.replay(root, plan)
            except OSError as error:
                raise RootError(
                    f"cannot finish the cut a stopped run left in {root}: {error.strerror or error} ({error.filename})"
                ) from None
        (root / name).unlink()
        discard(staging)
    for name in leftovers:
        if not name.endswith(journal.SUFFIX):
            discard(root / name)


@contextlib.contextmanager
def staging_area(root: Path) -> Iterator[Path]:
    """A staging directory that is removed however the cut ends, under the root's lock.

    What killed runs left in the root is finished or removed first.
    """
    with root_lock(root):
        recover(root)
        staging = new_staging(root)
        try:
            yield staging
        finally:
            if not journal.path_of(staging).exists():
                discard(staging)


@frozen
class CommitResult:
    written: int
    written_bytes: int
    unchanged: int


def _tree_size(host: Path) -> tuple[int, int]:
    """Paths and regular-file bytes in the tree at `host`, itself included."""
    count, size = 1, 0
    for folder, dirs, files in os.walk(host):
        for name in dirs + files:
            found = os.lstat(os.path.join(folder, name))
            count += 1
            size += found.st_size if stat.S_ISREG(found.st_mode) else 0
    return count, size


def _owner_differs(first: os.stat_result, second: os.stat_result) -> bool:
    return os.geteuid() == 0 and (first.st_uid, first.st_gid) != (second.st_uid, second.st_gid)


def _same(source: Path, have: os.stat_result, target: Path, found: os.stat_result) -> bool:
    """Whether the non-directory at `target` already is what `source` holds."""
    if stat.S_IFMT(have.st_mode) != stat.S_IFMT(found.st_mode) or _owner_differs(have, found):
        return False
    if stat.S_ISLNK(have.st_mode):
        return os.readlink(source) == os.readlink(target)
    return (
        stat.S_IMODE(have.st_mode) == stat.S_IMODE(found.st_mode)
        and have.st_size == found.st_size
        and filecmp.cmp(source, target, shallow=False)
    )


def mount_points(root: Path, mountinfo: Path = Path("/proc/self/mountinfo")) -> frozenset[Path]:
    """Where file systems are mounted inside `root`, as paths under `root`.

    A bind mount of a folder of the same file system has the same device
    number, yet no rename crosses into it; the kernel's mount table tells.
    """
    real = os.path.realpath(root)
    try:
        lines = mountinfo.read_text().splitlines()
    except OSError:
        return frozenset()
    found = set()
    for line in lines:
        fields = line.split(" ")
        if len(fields) < 5:
            continue
        point = re.sub(r"\\([0-7]{3})", lambda escaped: chr(int(escaped[1], 8)), fields[4])
        if point.startswith(real.rstrip("/") + "/"):
            found.add(root / os.path.relpath(point, real))
    return frozenset(found)


@define
class _Commit:
    """Compares staging with the root first, then moves what is new."""

    staging: Path
    root: Path
    # Decides which directories are listed, so that their mode must match.
    report: Report
    # Image paths whose new content may replace what the root holds (generated files).
    replaceable: frozenset[str] = frozenset()
    # A root holding nothing but staging has no symlink that could make two staged
    # directories meet, so a new directory moves in whole, with one rename.
    fresh: bool = False
    moves: list[tuple[Path, Path]] = field(factory=list)
    # New directories, created (in order) before the moves: two staged directories
    # can land in one place through a symlink (/lib and /usr/lib under merged /usr).
    new_dirs: dict[Path, os.stat_result] = field(factory=dict)
    replaced: list[Path] = field(factory=list)
    modes: list[tuple[Path, os.stat_result]] = field(factory=list)
    mtimes: dict[Path, int] = field(factory=dict)
    # Root paths already given a staged path (two image paths can meet through a symlink).
    claimed: dict[Path, Path] = field(factory=dict)
    conflicts: list[str] = field(factory=list)
    # Image paths where the root holds another file system: a rename cannot cross into it.
    mounts: list[str] = field(factory=list)
    device: int = field(init=False)
    mount_points: frozenset[Path] = field(init=False)
    written: int = 0
    written_bytes: int = 0
    unchanged: int = 0

    def check(self, folder: Path, image: str, into: Path) -> None:
        """Compare the staged `folder` (image path `image`) with `into`, its resolved place in the root."""
        for item in sorted(os.scandir(folder), key=lambda item: item.name):
            source = Path(item.path)
            have = item.stat(follow_symlinks=False)
            is_dir = stat.S_ISDIR(have.st_mode)
            path = image + item.name + ("/" if is_dir else "")
            target = into / item.name
            if is_dir and target.is_symlink():
                target = resolve(self.root, image_path(self.root, target))
            found = _lstat(target)
            if found is not None and (found.st_dev != self.device or target in self.mount_points):
                self.mounts.append(path)
                continue
            earlier = self.claimed.get(target)
            if earlier is not None:
                if not is_dir and _same(source, have, earlier, os.lstat(earlier)):
                    self.unchanged += 1
                else:
                    self.conflicts.append(path)
            elif found is None and is_dir and self.fresh:
                self._move(source, have, target)
            elif found is None and is_dir:
                if target not in self.new_dirs:
                    self.new_dirs[target] = have
                    self.written += 1
                self.check(source, path, target)
            elif found is None:
                self._move(source, have, target)
            elif is_dir and stat.S_ISDIR(found.st_mode):
                self._merge_dir(source, have, target, found, path)
            elif not is_dir and not stat.S_ISDIR(found.st_mode) and _same(source, have, target, found):
                self.claimed[target] = source
                self.unchanged += 1
            else:
                if path not in self.replaceable:
                    self.conflicts.append(path)
                self.replaced.append(target)
                self._move(source, have, target)

    def __attrs_post_init__(self) -> None:
        self.device = os.stat(self.root).st_dev
        self.mount_points = mount_points(self.root)

    def _move(self, source: Path, have: os.stat_result, target: Path) -> None:
        if stat.S_ISDIR(have.st_mode):
            count, size = _tree_size(source)
        else:
            count, size = 1, have.st_size if stat.S_ISREG(have.st_mode) else 0
        self.claimed[target] = source
        self.moves.append((source, target))
        self.written += count
        self.written_bytes += size

    def _merge_dir(self, source: Path, have: os.stat_result, target: Path, found: os.stat_result, path: str) -> None:
        entry = self.report.entries.get(path)
        if (
            entry is not None
            and entry.listed
            and (stat.S_IMODE(have.st_mode) != stat.S_IMODE(found.st_mode) or _owner_differs(have, found))
        ):
            self.conflicts.append(path)
            self.modes.append((target, have))
            self.mtimes[target] = have.st_mtime_ns
        else:
            self.unchanged += 1
            self.mtimes.setdefault(target, found.st_mtime_ns)
        self.check(source, path, target)

    def plan(self) -> journal.Plan:
        """Every change to the root, in the order `journal.replay` makes them."""

        def relative(path: Path) -> str:
            return os.path.relpath(path, self.root)

        def metadata(target: Path, have: os.stat_result) -> journal.Metadata:
            return journal.Metadata(relative(target), stat.S_IMODE(have.st_mode), have.st_uid, have.st_gid)

        replaced = set(self.replaced)
        mtimes = {**self.mtimes, **{target: have.st_mtime_ns for target, have in self.new_dirs.items()}}
        return journal.Plan(
            moves=[
                journal.Move(relative(source), relative(target), target in replaced) for source, target in self.moves
            ],
            new_dirs=[relative(target) for target in self.new_dirs],
            modes=[
                *(metadata(target, have) for target, have in self.new_dirs.items()),
                *(metadata(target, have) for target, have in self.modes),
                *self._root_metadata(),
            ],
            mtimes=[(relative(target), mtime) for target, mtime in mtimes.items()],
        )

    def _root_metadata(self) -> list[journal.Metadata]:
        """The root folder's own mode (and owner, as root) when they are not those of an image's `/`."""
        found = os.stat(self.root)
        wrong_owner = os.geteuid() == 0 and (found.st_uid, found.st_gid) != (0, 0)
        if stat.S_IMODE(found.st_mode) == ROOT_MODE and not wrong_owner:
            return []
        return [journal.Metadata(".", ROOT_MODE, 0, 0)]

    def changes(self) -> bool:
        """Whether committing changes anything in the root (times restored alone change nothing)."""
        return bool(self.moves or self.new_dirs or self.modes or self._root_metadata())


# How many conflicting paths an error names; the rest are counted.
SHOWN_CONFLICTS = 3


def conflict_message(root: Path, conflicts: list[str]) -> str:
    """A few of the paths, how many there are, and the ways out."""
    shown = ", ".join(conflicts[:SHOWN_CONFLICTS])
    more = len(conflicts) - SHOWN_CONFLICTS
    where = f"{shown} and {more} more path{'s' if more > 1 else ''}" if more > 0 else shown
    return (
        f"cannot cut into {root}: it already holds different content at {where}; pass --overwrite to "
        "replace it, or cut into a fresh root (or choose one of the slices that ship these paths)"
    )


def holds_nothing(root: Path) -> bool:
    """Whether `root` is missing or holds nothing but staging trees (and no commit journal to finish)."""
    try:
        with os.scandir(root) as listing:
            return all(
                item.name.startswith(STAGING_PREFIX) and not item.name.endswith(journal.SUFFIX) for item in listing
            )
    except FileNotFoundError:
        return True


def compare(
    staging: Path,
    root: Path,
    report: Report,
    replaceable: frozenset[str] = frozenset(),
    metadata_applied: bool = False,
) -> _Commit:
    """What moving the staged cut into `root` would write, leave alone and conflict with; nothing moves.

    The staged tree takes the report's metadata first, unless `metadata_applied` already.
    """
    if not metadata_applied:
        apply_metadata(staging, report.entries.values())
    work = _Commit(staging, root, report, replaceable, holds_nothing(root))
    work.check(staging, "/", root)
    return work


def commit(
    staging: Path,
    root: Path,
    report: Report,
    overwrite: bool = False,
    replaceable: frozenset[str] = frozenset(),
    metadata_applied: bool = False,
) -> CommitResult:
    """Move the staged cut into `root`, after checking every path it would touch.

    A path the root already holds with the same type, mode, content, link
    target (and ownership, as root) is left alone. Any other difference fails
    the whole commit before anything is written, unless `overwrite` or the
    path is `replaceable` (files generated from the whole root, such as a
    merged manifest). The staging directory is removed either way, unless
    the changes were journalled and then interrupted: the next `recover`
    (run by `staging_area`) finishes them.
    """
    journalled = False
    try:
        work = compare(staging, root, report, replaceable, metadata_applied)
        if work.mounts:
            raise RootError(
                f"cannot cut into {root}: another file system is mounted at "
                f"{', '.join(work.mounts)}, and a cut moves its files into place with renames; "
                "unmount it, or cut into a folder without mount points and copy from there"
            )
        if work.conflicts and not overwrite:
            raise RootError(conflict_message(root, work.conflicts))
        if not work.changes():
            return CommitResult(work.written, work.written_bytes, work.unchanged)
        if staging.parent != root:
            raise RootError(
                f"cannot cut into {root}: the cut would change it, and it cannot be written (read-only, or not yours)"
            )
        plan = work.plan()
        try:
            path = journal.write(staging, plan)
        except OSError as error:
            raise RootError(f"cannot write the commit journal in {root}: {error.strerror or error}") from None
        journalled = True
        try:
            journal.replay(root, plan)
        except OSError as error:
            raise RootError(
                f"cannot move the cut into {root}: {error.strerror or error} ({error.filename}); "
                "the next cut into it finishes the move"
            ) from None
        path.unlink()
        journalled = False
        return CommitResult(work.written, work.written_bytes, work.unchanged)
    finally:
        if not journalled:
            discard(staging)
