"""The download cache: content-addressed blobs, parsed indexes, last InReleases.

Layout under the cache directory:
  sha256/<hex>     downloaded files (.debs, compressed indexes), named by content
  parsed/<hex>     parsed package indexes, named by the index's SHA256
  releases/<hex>   the latest verified InRelease (or Release + `.sig`) per URL
  derived/<hex>.<kind>  the SHA256 of a blob made from blob <hex> (e.g. its
                   data.tar recompressed), itself stored under sha256/
  locks/<xx>       lock stripes, so concurrent runs download a blob once
  seen/<hex>       the newest signed Date accepted per suite (kept by `prune`)
  key              the cache's secret key (mode 0600), see `cachetrust`

Writes go to a temporary file in the same directory and are renamed into
place. Blobs are hashed again on every read: a damaged one is deleted and
fetched again, never used. What is derived from blobs (the `derived/`
mappings, parsed entries) carries an HMAC under the cache's key that binds it
to its source; one that fails is ignored and made again. A cache folder
someone else could write is refused (`cachetrust`). Every use touches the
file, so `prune` can drop what has not been used for a while.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import mmap
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

from attrs import frozen

from . import cachetrust
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


class Cache:
    """The cache directory; None picks $SLICER_CACHE_DIR, XDG or ~/.cache."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_directory()
        self._key: bytes | None = None

    def _ready(self) -> bytes:
        """Check (making them if missing) the cache's folders, then load its key; once per instance."""
        if self._key is None:
            cachetrust.check_ancestors(self.directory)
            cachetrust.make_folder(self.directory)
            for name in _FOLDERS:
                cachetrust.make_folder(self.directory / name)
            self._key = cachetrust.load_key(self.directory)
        return self._key

    def _area(self, name: str) -> Path:
        self._ready()
        return self.directory / name

    def _mac(self, purpose: str, *parts: bytes | memoryview) -> bytes:
        return cachetrust.mac(self._ready(), purpose, *parts)

    def parsed_key(self, key: str) -> bytes:
        """The key that seals the parsed entry `key`, for formats that check their own seal."""
        return cachetrust.subkey(self._ready(), f"parsed {key}")

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
            fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".tmp-{sha256}-")
            try:
                with os.fdopen(fd, "wb") as file:
                    writer = BlobWriter(file)
                    produce(writer)
                if size is not None and writer.size != size:
                    raise VerificationError(f"{source} is {writer.size} bytes, but its signed index says {size}")
                if writer.hexdigest() != sha256:
                    raise VerificationError(
                        f"{source} has SHA256 {writer.hexdigest()}, but its signed index says {sha256}"
                    )
                os.replace(temporary, target)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
            return target

    @classmethod
    def holding(cls, path: Path) -> Cache | None:
        """The cache that stores the file at `path` as one of its blobs, or None."""
        if path.parent.name == "sha256" and _is_hex(path.name):
            return cls(path.parent.parent)
        return None

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
        with self._locked(source):
            fd, temporary = tempfile.mkstemp(dir=area, prefix=f".tmp-{source}-{kind}-")
            try:
                with os.fdopen(fd, "wb") as file:
                    writer = BlobWriter(file)
                    produce(writer)
                target = area / writer.hexdigest()
                os.replace(temporary, target)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        digest = writer.hexdigest()
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
        seal, data = stored[: cachetrust.MAC_SIZE], stored[cachetrust.MAC_SIZE :]
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

    def load_release(self, url: str) -> tuple[bytes, bytes | None] | None:
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

    def save_release(self, url: str, data: bytes, signature: bytes | None) -> None:
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
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".tmp-{target.name}-")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _files(self) -> Iterator[Path]:
        for area in _AREAS:
            folder = self.directory / area
            if folder.is_dir():
                yield from (path for path in folder.iterdir() if path.is_file())

    def info(self) -> CacheInfo:
        blobs = total = 0
        for path in self._files():
            with contextlib.suppress(FileNotFoundError):
                total += path.stat().st_size
                if path.parent.name == "sha256" and not path.name.startswith("."):
                    blobs += 1
        return CacheInfo(self.directory, blobs, total)

    @contextlib.contextmanager
    def _use_lock(self, exclusive: bool) -> Iterator[None]:
        with open(self._area("locks") / "use", "a+b") as handle:
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
