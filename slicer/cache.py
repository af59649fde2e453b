"""The download cache: content-addressed blobs, parsed indexes, last InReleases.

Layout under the cache directory:
  sha256/<hex>     downloaded files (.debs, compressed indexes), named by content
  parsed/<name>    parsed package indexes, `packages-<format>-<hex>` for the
                   index of SHA256 <hex> (and the library files of Contents
                   indexes, `libraries-2-<hex>`), validated releases and
                   signature verdicts
  releases/<hex>   the latest verified InRelease (or Release + `.sig`) per URL
  derived/<hex>.<kind>  the SHA256 of a blob made from blob <hex> (e.g. its
                   data.tar recompressed) or from inputs of digest <hex> (a
                   cut's finished tree), itself stored under sha256/
  locks/<xx>       lock stripes, so concurrent runs download a blob once
  seen/<hex>       the newest signed Date accepted per suite (kept by `prune`)
  key              the cache's secret key (mode 0600), see "Trust" below

Writes go to a temporary file in the same directory and are renamed into
place. Blobs are hashed again on every read: a damaged one is deleted and
fetched again, never used. What is derived from blobs (the `derived/`
mappings, parsed entries) carries an HMAC under the cache's key that binds it
to its source; one that fails is ignored and made again. A cache folder
someone else could write is refused (see "Trust" below). Every use touches the
file, so `prune` can drop what has not been used for a while.

Trust: only its owner can write the cache, and derived data carries a MAC.
Downloaded blobs prove themselves (they are named by their SHA256 and hashed
again on every read), but what slicer derives from them (zstd copies of a
data.tar and their indexes, parsed package indexes, validated releases) is
used as found. So a cache is used only when nobody but the running user (and
root) can change it, as ssh treats its key folder:

- the cache folder and its areas are folders owned by the running user and
  not writable by group or others; every ancestor is owned by the user or
  root and not writable by others unless sticky (like /tmp);
- a secret key, `key` in the cache folder (mode 0600), is made on first use;
  derived data is stored with an HMAC under it that binds the data to the
  verified input it came from, and anything whose MAC does not match is
  ignored and made again.

A folder that fails the rule is refused with a message naming it and the fix.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import hmac
import mmap
import os
import secrets
import stat
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

from attrs import frozen

from .atomic import write_atomic
from .errors import CacheError, VerificationError

_AREAS = ("sha256", "parsed", "releases", "derived")
_FOLDERS = (*_AREAS, "locks", "seen")


def default_directory(environ: Mapping[str, str] = os.environ) -> Path:
    """$SLICER_CACHE_DIR, else $XDG_CACHE_HOME/slicer, else ~/.cache/slicer."""
    if environ.get("SLICER_CACHE_DIR"):
        return Path(environ["SLICER_CACHE_DIR"])
    if environ.get("XDG_CACHE_HOME"):
        return Path(environ["XDG_CACHE_HOME"]) / "slicer"
    return Path.home() / ".cache" / "slicer"


@frozen
class CacheInfo:
    path: Path
    # Every file, and those of them in sha256/ (downloads and what was made from them).
    files: int
    blobs: int
    bytes: int


@frozen
class PruneResult:
    removed: int
    freed: int


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class BlobWriter:
    """Writes a blob's temporary file while hashing it; `reset` starts over."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self._digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes, /) -> int:
        self._digest.update(data)
        self.size += len(data)
        return self._file.write(data)

    def reset(self) -> None:
        self._file.seek(0)
        self._file.truncate()
        self._digest = hashlib.sha256()
        self.size = 0

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def _is_hex(name: str) -> bool:
    return len(name) == 64 and all(char in "0123456789abcdef" for char in name)


def _url_key(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


KEY_FILE = "key"
KEY_SIZE = 32
MAC_SIZE = 32


def _mode(found: os.stat_result) -> str:
    return f"{stat.S_IMODE(found.st_mode):04o}"


def check_ancestors(folder: Path) -> None:
    """Refuse a cache whose ancestors someone else could rename or replace."""
    uid = os.geteuid()
    for ancestor in folder.parents:
        try:
            found = os.stat(ancestor)
        except OSError:
            continue
        if found.st_uid not in (0, uid):
            raise CacheError(
                f"the cache folder {folder} lies in {ancestor}, which belongs to uid {found.st_uid}, so that "
                f"user could replace the cache and change what slicer cuts; use a cache under a folder of "
                "your own (--cache-dir or SLICER_CACHE_DIR)"
            )
        if found.st_mode & stat.S_IWOTH and not found.st_mode & stat.S_ISVTX:
            raise CacheError(
                f"the cache folder {folder} lies in {ancestor}, which anyone can write (mode {_mode(found)}), "
                f"so another user could replace the cache and change what slicer cuts; run "
                f"`chmod o-w {ancestor}` or use another --cache-dir"
            )


def check_folder(folder: Path) -> None:
    """Refuse a cache folder that is not a folder, not the user's own, or writable by others."""
    try:
        found = os.stat(folder)
    except OSError as error:
        raise CacheError(f"cannot use the cache folder {folder}: {error.strerror or error}") from None
    if not stat.S_ISDIR(found.st_mode):
        raise CacheError(
            f"the cache folder {folder} is not a folder; remove it (slicer makes it again) or use another --cache-dir"
        )
    uid = os.geteuid()
    if found.st_uid != uid:
        raise CacheError(
            f"the cache folder {folder} belongs to uid {found.st_uid}, not to you (uid {uid}), so that user "
            f"could change what slicer cuts; use a cache of your own (--cache-dir or SLICER_CACHE_DIR), "
            f"or run `chown -R {uid} {folder}` if it is yours"
        )
    if found.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise CacheError(
            f"the cache folder {folder} is writable by group or others (mode {_mode(found)}), so another "
            f"user could change what slicer cuts; run `chmod -R go-w {folder}` or use another --cache-dir"
        )


def make_folder(folder: Path) -> None:
    """Create `folder` (and missing parents) for the user alone, whatever the umask; then check it."""
    if not folder.exists() and not folder.is_symlink():
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(folder, 0o700)
        except OSError as error:
            hint = (
                " (choose a writable cache with --cache-dir DIR or SLICER_CACHE_DIR=DIR)"
                if isinstance(error, PermissionError) or error.errno == errno.EROFS
                else ""
            )
            raise CacheError(f"cannot create the cache folder {folder}: {error.strerror or error}{hint}") from None
    check_folder(folder)


def load_key(folder: Path) -> bytes:
    """The cache's secret key, made on first use; refused when someone else could read or change it."""
    path = folder / KEY_FILE
    for _ in range(2):
        try:
            with open(path, "rb", opener=lambda name, flags: os.open(name, flags | os.O_NOFOLLOW)) as file:
                found = os.fstat(file.fileno())
                key = file.read(KEY_SIZE + 1)
        except FileNotFoundError:
            _create_key(path)
            continue
        except OSError as error:
            raise CacheError(
                f"cannot read the cache key {path}: {error.strerror or error}; remove it (slicer makes a new one)"
            ) from None
        if not stat.S_ISREG(found.st_mode) or found.st_uid != os.geteuid() or found.st_mode & 0o077:
            raise CacheError(
                f"the cache key {path} is not a file of yours readable by you alone (mode {_mode(found)}, "
                f"uid {found.st_uid}); remove it (slicer makes a new one and derives its data again)"
            )
        if len(key) != KEY_SIZE:
            raise CacheError(f"the cache key {path} is damaged; remove it (slicer makes a new one)")
        return key
    raise CacheError(f"cannot create the cache key {path}")


def _create_key(path: Path) -> None:
    """Write a new key under a temporary name, then link it into place: a racing run keeps the first."""
    try:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".tmp-{KEY_FILE}-")
    except OSError as error:
        raise CacheError(f"cannot create the cache key {path}: {error.strerror or error}") from None
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(secrets.token_bytes(KEY_SIZE))
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)


def mac(key: bytes, purpose: str, *parts: bytes | memoryview) -> bytes:
    """The HMAC-SHA256 of `parts` for `purpose`; each part is length-prefixed, so parts cannot shift."""
    digest = hmac.new(key, purpose.encode() + b"\0", hashlib.sha256)
    for part in parts:
        digest.update(len(part).to_bytes(8, "little"))
        digest.update(part)
    return digest.digest()


def subkey(key: bytes, purpose: str) -> bytes:
    """A key for one purpose, so data sealed for one use cannot pass for another."""
    return mac(key, "subkey", purpose.encode())


class Cache:
    """The cache directory; None picks $SLICER_CACHE_DIR, XDG or ~/.cache."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_directory()
        self._key: bytes | None = None

    def _ready(self) -> bytes:
        """Check (making them if missing) the cache's folders, then load its key; once per instance."""
        if self._key is None:
            check_ancestors(self.directory)
            make_folder(self.directory)
            for name in _FOLDERS:
                make_folder(self.directory / name)
            self._key = load_key(self.directory)
        return self._key

    def _area(self, name: str) -> Path:
        self._ready()
        return self.directory / name

    def _mac(self, purpose: str, *parts: bytes | memoryview) -> bytes:
        return mac(self._ready(), purpose, *parts)

    def parsed_key(self, key: str) -> bytes:
        """The key that seals the parsed entry `key`, for formats that check their own seal."""
        return subkey(self._ready(), f"parsed {key}")

    @contextlib.contextmanager
    def _locked(self, key: str, blocking: bool = True) -> Iterator[bool]:
        """Hold the lock stripe of `key`; yields False when not blocking and it is taken."""
        path = self._area("locks") / key[:2]
        with open(path, "a+b") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _write_atomic(self, target: Path, data: bytes) -> None:
        with self._locked(target.name):
            self._write_unlocked(target, data)

    def lookup(self, sha256: str, on_corrupt: Callable[[str], None] | None = None) -> Path | None:
        """The verified blob `sha256`, or None; a damaged blob is deleted and reported."""
        path = self._area("sha256") / sha256
        try:
            actual = file_sha256(path)
        except FileNotFoundError:
            return None
        if actual != sha256:
            path.unlink(missing_ok=True)
            if on_corrupt is not None:
                on_corrupt(f"cached file {path} was damaged (its SHA256 is {actual}); removed it")
            return None
        try:
            os.utime(path)
        except FileNotFoundError:  # pruned by another run meanwhile
            return None
        return path

    def obtain(
        self,
        sha256: str,
        size: int | None,
        produce: Callable[[BlobWriter], object],
        source: str,
        on_corrupt: Callable[[str], None] | None = None,
    ) -> Path:
        """The blob `sha256`, written by `produce` unless already cached.

        The result is checked against `sha256` and `size` (from a signed
        index) before it is renamed into place; `source` names it in errors.
        """
        with self._locked(sha256):
            found = self.lookup(sha256, on_corrupt)
            if found is not None:
                return found
            target = self._area("sha256") / sha256
            # What a killed run was writing under this same lock is of no use to anyone.
            for partial in target.parent.glob(f".tmp-{sha256}-*"):
                partial.unlink(missing_ok=True)

            def write(file: BinaryIO) -> Path:
                writer = BlobWriter(file)
                produce(writer)
                if size is not None and writer.size != size:
                    raise VerificationError(f"{source} is {writer.size} bytes, but its signed index says {size}")
                if writer.hexdigest() != sha256:
                    raise VerificationError(
                        f"{source} has SHA256 {writer.hexdigest()}, but its signed index says {sha256}"
                    )
                return target

            return write_atomic(target.parent, f".tmp-{sha256}-", write)

    def derived(self, source: str, kind: str, on_corrupt: Callable[[str], None] | None = None) -> Path | None:
        """The verified blob made as `kind` from blob `source`, or None when there is none (or it was damaged)."""
        mapping = self._area("derived") / f"{source}.{kind}"
        try:
            key, _, seal = mapping.read_text().partition(" ")
        except (FileNotFoundError, UnicodeDecodeError):
            return None
        proven = (
            _is_hex(key) and seal.strip() == self._mac("derived", source.encode(), kind.encode(), key.encode()).hex()
        )
        found = self.lookup(key, on_corrupt) if proven else None
        if found is None:
            mapping.unlink(missing_ok=True)
            return None
        with contextlib.suppress(FileNotFoundError):
            os.utime(mapping)
        return found

    def derive(self, source: str, kind: str, produce: Callable[[BlobWriter], object]) -> Path:
        """Store what `produce` writes as the `kind` made from blob `source`; return the stored blob.

        The result is a blob like any other, named by its own SHA256, so every
        later use re-checks it. Two runs deriving at once write the same bytes.
        """
        area = self._area("sha256")

        def write(file: BinaryIO) -> Path:
            writer = BlobWriter(file)
            produce(writer)
            return area / writer.hexdigest()

        with self._locked(source):
            target = write_atomic(area, f".tmp-{source}-{kind}-", write)
        digest = target.name
        seal = self._mac("derived", source.encode(), kind.encode(), digest.encode()).hex()
        self._write_atomic(self._area("derived") / f"{source}.{kind}", f"{digest} {seal}".encode())
        return target

    def read_parsed(self, key: str) -> bytes | None:
        """The parsed entry `key` written by `write_parsed`; None when absent or not sealed by this cache."""
        path = self._area("parsed") / key
        try:
            stored = path.read_bytes()
        except FileNotFoundError:
            return None
        seal, data = stored[:MAC_SIZE], stored[MAC_SIZE:]
        if not hmac.compare_digest(seal, self._mac("parsed", key.encode(), data)):
            path.unlink(missing_ok=True)
            return None
        with contextlib.suppress(FileNotFoundError):
            os.utime(path)
        return data

    def write_parsed(self, key: str, data: bytes) -> None:
        """Store `data` as the parsed entry `key`, sealed with the cache's key."""
        self.write_mapped(key, self._mac("parsed", key.encode(), data) + data)

    def map_parsed(self, key: str) -> mmap.mmap | None:
        """The parsed entry `key` mapped read-only, so only the pages a reader touches are read.

        Its reader checks its seal (made with `parsed_key`).
        """
        path = self._area("parsed") / key
        try:
            with open(path, "rb") as file:
                if os.fstat(file.fileno()).st_size == 0:
                    return None
                mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        except FileNotFoundError:
            return None
        with contextlib.suppress(FileNotFoundError):
            os.utime(path)
        return mapped

    def write_mapped(self, key: str, data: bytes) -> None:
        """Store `data` as the parsed entry `key` for `map_parsed`: a format that checks its own seal."""
        self._write_atomic(self._area("parsed") / key, data)

    def discard_parsed(self, key: str) -> None:
        (self.directory / "parsed" / key).unlink(missing_ok=True)

    def load_inrelease(self, url: str) -> tuple[bytes, bytes | None] | None:
        """The last verified InRelease (signature None) or Release + signature seen at `url`."""
        path = self._area("releases") / _url_key(url)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        signature_path = path.with_suffix(".sig")
        signature = signature_path.read_bytes() if signature_path.exists() else None
        with contextlib.suppress(FileNotFoundError):
            os.utime(path)
        return data, signature

    def save_inrelease(self, url: str, data: bytes, signature: bytes | None) -> None:
        path = self._area("releases") / _url_key(url)
        signature_path = path.with_suffix(".sig")
        if signature is None:
            signature_path.unlink(missing_ok=True)
        else:
            self._write_atomic(signature_path, signature)
        self._write_atomic(path, data)

    @contextlib.contextmanager
    def release_record(self, identity: str) -> Iterator[tuple[str | None, Callable[[str], None]]]:
        """The newest signed Date accepted so far for a suite (named by what its signature proves),
        and the function that records a newer one; held locked while a new Release is checked.

        Records live outside the pruned areas: pruning must not let an old index back in.
        """
        path = self._area("seen") / _url_key(identity)
        with self._locked(path.name):
            try:
                newest = path.read_text().strip() or None
            except FileNotFoundError:
                newest = None
            yield newest, lambda date: self._write_unlocked(path, date.encode())

    def _write_unlocked(self, target: Path, data: bytes) -> None:
        def write(file: BinaryIO) -> Path:
            file.write(data)
            return target

        write_atomic(target.parent, f".tmp-{target.name}-", write)

    def _files(self) -> Iterator[Path]:
        for area in _AREAS:
            folder = self.directory / area
            if folder.is_dir():
                yield from (path for path in folder.iterdir() if path.is_file())

    def info(self) -> CacheInfo:
        files = blobs = total = 0
        for path in self._files():
            with contextlib.suppress(FileNotFoundError):
                total += path.stat().st_size
                files += 1
                if path.parent.name == "sha256" and not path.name.startswith("."):
                    blobs += 1
        return CacheInfo(self.directory, files, blobs, total)

    @contextlib.contextmanager
    def _use_lock(self, exclusive: bool) -> Iterator[None]:
        try:
            handle = open(self._area("locks") / "use", "a+b")  # noqa: SIM115 - closed below
        except OSError as error:
            if exclusive:
                raise CacheError(f"cannot lock the cache {self.directory}: {error.strerror or error}") from None
            yield  # a read-only cache: nothing can prune it either
            return
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def in_use(self) -> contextlib.AbstractContextManager[None]:
        """Held (shared) by a cut from its first look into the cache to its commit: `prune` waits for it."""
        return self._use_lock(exclusive=False)

    def prune(self, older_than_days: float | None) -> PruneResult:
        """Delete what was last used before the cutoff (everything when None).

        Waits until no cut uses the cache (`in_use`); blobs being downloaded
        by other commands right now (their lock stripe is held) are kept.
        """
        if older_than_days is not None and not older_than_days >= 0:
            raise CacheError(f"cannot prune files unused for {older_than_days} days: give zero or more days")
        with self._use_lock(exclusive=True):
            return self._prune(older_than_days)

    def _prune(self, older_than_days: float | None) -> PruneResult:
        cutoff = None if older_than_days is None else time.time() - older_than_days * 86400
        removed = freed = 0
        for path in list(self._files()):
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            if cutoff is not None and stat.st_mtime >= cutoff:
                continue
            stripe = path.name.removeprefix(".tmp-")
            with self._locked(stripe, blocking=False) as free:
                if not free:
                    continue
                path.unlink(missing_ok=True)
            removed += 1
            freed += stat.st_size
        return PruneResult(removed, freed)
