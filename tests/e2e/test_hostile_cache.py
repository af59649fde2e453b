"""A cache someone else wrote into cannot change what a cut writes."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from slicer.archive import packages
from slicer.archive.packages import PackageIndex
from slicer.deb import DATA_COPY, DATA_INDEX, copy_data, write_index
from tests.e2e.test_cut_local import cut, debs
from tests.helpers.debs import DebSpec, file


def _cache_of(release: str) -> Path:
    return Path(release.rstrip("/")).parent / "cache"


def _plant(cache: Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    (cache / "sha256" / digest).write_bytes(data)
    return digest


def _evil_hello(tmp_path: Path) -> Path:
    """The hello package with a setuid file of the attacker's choosing."""
    genuine = next(spec for spec in debs() if spec.name == "hello")
    entries = [
        file(entry.path, b"evil", 0o4755) if entry.path == "./usr/bin/su-hello" else entry for entry in genuine.entries
    ]
    path = tmp_path / "evil.deb"
    path.write_bytes(DebSpec("hello", genuine.version, "amd64", entries).build())
    return path


def _forget_trees(cache: Path) -> None:
    """Without a stored tree, the next cut reads the packages again (a stored tree would skip them)."""
    for mapping in (cache / "derived").glob("*.tree-1"):
        mapping.unlink()


def _assert_genuine(release: str, root: Path) -> None:
    assert cut(release, root, "hello_bins") == 0
    assert (root / "usr/bin/su-hello").read_bytes() == b"setuid"


def test_planted_derived_data_does_not_reach_the_root(local_release, tmp_path):
    archive, release = local_release
    assert cut(release, tmp_path / "first", "hello_bins") == 0
    cache = _cache_of(release)
    genuine = hashlib.sha256((archive.root / archive.deb("hello")).read_bytes()).hexdigest()
    evil = _evil_hello(tmp_path)
    copy, index = io.BytesIO(), io.BytesIO()
    copy_data(evil, copy)
    copy_path = cache / "sha256" / _plant(cache, copy.getvalue())
    write_index(evil, copy_path, index)
    index_sha = _plant(cache, index.getvalue())
    (cache / "derived" / f"{genuine}.{DATA_COPY}").write_text(copy_path.name)
    (cache / "derived" / f"{genuine}.{DATA_INDEX}").write_text(f"{index_sha} {'ab' * 32}")
    _forget_trees(cache)

    _assert_genuine(release, tmp_path / "second")


def test_a_planted_package_index_does_not_choose_the_package(local_release, tmp_path):
    archive, release = local_release
    assert cut(release, tmp_path / "first", "hello_bins") == 0
    cache = _cache_of(release)
    evil = _evil_hello(tmp_path).read_bytes()
    evil_sha = _plant(cache, evil)
    genuine_sha = hashlib.sha256((archive.root / archive.deb("hello")).read_bytes()).hexdigest()
    planted = 0
    for parsed in (cache / "parsed").iterdir():
        if parsed.name.startswith("release-"):
            continue
        text = (archive.root / "dists/bookworm/main/binary-amd64/Packages").read_bytes()
        if packages.cache_name(hashlib.sha256(text).hexdigest()) != parsed.name:
            continue
        forged = text.replace(genuine_sha.encode(), evil_sha.encode())
        forged = forged.replace(
            f"Size: {(archive.root / archive.deb('hello')).stat().st_size}\n".encode(), f"Size: {len(evil)}\n".encode()
        )
        parsed.write_bytes(PackageIndex.build(forged).to_bytes(b"an attacker's key"))
        planted += 1
    assert planted == 1
    _forget_trees(cache)

    _assert_genuine(release, tmp_path / "second")


def test_a_planted_stored_tree_does_not_reach_the_root(local_release, tmp_path):
    _, release = local_release
    assert cut(release, tmp_path / "first", "hello_bins") == 0
    cache = _cache_of(release)
    (mapping,) = (cache / "derived").glob("*.tree-1")
    genuine, seal = mapping.read_text().split()
    data = (cache / "sha256" / genuine).read_bytes()
    assert data.count(b"setuid") == 1
    # A tree whose su-hello holds the attacker's bytes, under the genuine tree's seal.
    mapping.write_text(f"{_plant(cache, data.replace(b'setuid', b'evil!!'))} {seal}")

    _assert_genuine(release, tmp_path / "second")


def test_a_planted_release_does_not_change_the_slices(local_release, tmp_path):
    _, release = local_release
    assert cut(release, tmp_path / "first", "base-files_base") == 0
    cache = _cache_of(release)
    (stored,) = [path for path in (cache / "parsed").iterdir() if path.name.startswith("release-")]
    data = stored.read_bytes()
    assert b"/var/run" in data
    # The same pickle with one symlink sent elsewhere, and the old seal kept.
    stored.write_bytes(data.replace(b"/run", b"/etc"))

    assert cut(release, tmp_path / "second", "base-files_base") == 0
    assert os.readlink(tmp_path / "second/var/run") == "/run"


def test_a_cache_others_can_write_stops_the_cut_before_the_root(local_release, tmp_path, capsys):
    _, release = local_release
    cache = _cache_of(release)
    assert cut(release, tmp_path / "first", "hello_bins") == 0
    capsys.readouterr()
    os.chmod(cache / "derived", 0o777)
    assert cut(release, tmp_path / "second", "hello_bins") == 1
    error = capsys.readouterr().err
    assert f"error: the cache folder {cache}/derived is writable by group or others (mode 0777)" in error
    assert "Traceback" not in error
    assert not (tmp_path / "second").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="giving the cache to another user needs root")
def test_a_cache_of_another_user_stops_the_cut(local_release, tmp_path, capsys):
    _, release = local_release
    cache = _cache_of(release)
    assert cut(release, tmp_path / "first", "hello_bins") == 0
    capsys.readouterr()
    os.chown(cache, 1000, 1000)
    assert cut(release, tmp_path / "second", "hello_bins") == 1
    error = capsys.readouterr().err
    assert f"error: the cache folder {cache} belongs to uid 1000, not to you (uid 0)" in error
    assert not (tmp_path / "second").exists()
