"""Why a cache can be trusted: only its owner can write it, and derived data carries a MAC.

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
import hashlib
import hmac
import os
import secrets
import stat
import tempfile
from pathlib import Path

from .errors import CacheError

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
            raise CacheError(f"cannot create the cache folder {folder}: {error.strerror or error}") from None
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
