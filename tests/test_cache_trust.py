"""The cache's trust rule: folders only the user can write, derived data sealed with the cache's key."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from slicer.cache import KEY_FILE, KEY_SIZE, MAC_SIZE, BlobWriter, Cache
from slicer.errors import CacheError

SOURCE = hashlib.sha256(b"source").hexdigest()

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")


def _writer_of(data: bytes):
    def produce(writer: BlobWriter) -> None:
        writer.write(data)

    return produce


def _plant_blob(cache: Cache, data: bytes) -> str:
    """What an attacker can always do: a blob is valid under its own name."""
    digest = hashlib.sha256(data).hexdigest()
    (cache.directory / "sha256" / digest).write_bytes(data)
    return digest


def test_folders_and_key_are_for_the_user_alone_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        cache = Cache(tmp_path / "deep" / "cache")
        cache.derive(SOURCE, "copy", _writer_of(b"derived"))
    finally:
        os.umask(previous)
    for name in ("", "sha256", "derived", "parsed", "releases", "locks"):
        assert (cache.directory / name).stat().st_mode & 0o777 == 0o700, name
    key = cache.directory / KEY_FILE
    assert key.stat().st_mode & 0o777 == 0o600 and key.stat().st_size == KEY_SIZE


def test_a_planted_derived_mapping_is_ignored(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    genuine = cache.derive(SOURCE, "copy", _writer_of(b"genuine"))
    evil = _plant_blob(cache, b"evil")
    mapping = tmp_path / "derived" / f"{SOURCE}.copy"
    for forged in (evil, f"{evil} {'00' * 32}", f"{evil} {mapping.read_text().split()[1]}"):
        mapping.write_text(forged)
        assert Cache(tmp_path).derived(SOURCE, "copy") is None
        assert not mapping.exists()
    # Sealed by another cache's key: refused too.
    elsewhere = Cache(tmp_path / "other")
    elsewhere.derive(SOURCE, "copy", _writer_of(b"evil"))
    mapping.write_bytes((elsewhere.directory / "derived" / f"{SOURCE}.copy").read_bytes())
    assert cache.derived(SOURCE, "copy") is None
    assert cache.derive(SOURCE, "copy", _writer_of(b"genuine")) == genuine
    assert cache.derived(SOURCE, "copy") == genuine


def test_a_planted_sealed_entry_is_ignored(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.write_parsed("release-x", b"genuine")
    stored = tmp_path / "parsed" / "release-x"
    seal = stored.read_bytes()[:MAC_SIZE]
    stored.write_bytes(seal + b"forged!")
    assert cache.read_parsed("release-x") is None and not stored.exists()
    cache.write_mapped("release-x", b"\0" * MAC_SIZE + b"forged")
    assert cache.read_parsed("release-x") is None


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o757])
@pytest.mark.parametrize("folder", ["", "sha256", "derived", "parsed"])
def test_a_folder_others_can_write_is_refused(tmp_path: Path, folder: str, mode: int) -> None:
    Cache(tmp_path / "cache").write_parsed("x", b"data")
    loose = tmp_path / "cache" / folder
    os.chmod(loose, mode)
    with pytest.raises(CacheError) as refused:
        Cache(tmp_path / "cache").read_parsed("x")
    message = str(refused.value)
    assert f"cache folder {loose.as_posix().rstrip('/')} is writable by group or others" in message
    assert f"chmod -R go-w {loose.as_posix().rstrip('/')}" in message


def test_an_ancestor_anyone_can_write_is_refused_unless_sticky(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    with pytest.raises(CacheError, match=f"lies in {shared}, which anyone can write"):
        Cache(shared / "cache").read_parsed("x")
    os.chmod(shared, 0o1777)
    assert Cache(shared / "cache").read_parsed("x") is None


@needs_root
def test_a_cache_of_another_user_is_refused(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    cache.write_parsed("x", b"data")
    os.chown(tmp_path / "cache" / "parsed", 65534, 65534)
    with pytest.raises(CacheError, match=r"cache folder .*/parsed belongs to uid 65534, not to you \(uid 0\)"):
        Cache(tmp_path / "cache").read_parsed("x")


@needs_root
def test_a_cache_in_a_folder_of_another_user_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, 65534, 65534)
    with pytest.raises(CacheError, match=f"lies in {home}, which belongs to uid 65534"):
        Cache(home / "cache").read_parsed("x")


def test_an_area_replaced_by_a_file_is_named(tmp_path: Path) -> None:
    Cache(tmp_path).write_parsed("x", b"data")
    for name in ("sha256", "parsed"):
        folder = tmp_path / name
        folder.rename(tmp_path / f"{name}.old")
        folder.write_bytes(b"not a folder")
        with pytest.raises(CacheError, match=f"the cache folder {folder} is not a folder; remove it"):
            Cache(tmp_path).lookup(SOURCE)
        folder.unlink()
        (tmp_path / f"{name}.old").rename(folder)


def test_a_key_others_can_read_is_refused(tmp_path: Path) -> None:
    Cache(tmp_path).write_parsed("x", b"data")
    key = tmp_path / KEY_FILE
    os.chmod(key, 0o644)
    with pytest.raises(CacheError, match=f"the cache key {key} is not a file of yours readable by you alone"):
        Cache(tmp_path).read_parsed("x")
    key.unlink()
    # A new key: what the old one sealed is no longer trusted, and is made again.
    assert Cache(tmp_path).read_parsed("x") is None
