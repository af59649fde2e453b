"""A cut into a fresh root with the inputs of an earlier cut writes that cut's stored tree again."""

from __future__ import annotations

import os
from pathlib import Path

from slicer.cli import main
from tests.e2e.test_cut_local import cut_arguments, tree

SLICES = ("hello_bins", "base-files_status", "base-files_chisel")
REUSED = "Wrote the verified tree of an identical earlier cut"


def cache_of(release: str) -> Path:
    return Path(release.rstrip("/")).parent / "cache"


def stored_trees(cache: Path) -> list[Path]:
    """The stored trees' blobs, through their sealed mappings."""
    return [
        cache / "sha256" / mapping.read_text().split()[0] for mapping in sorted((cache / "derived").glob("*.tree-1"))
    ]


def cut_told(release: str, root: Path, capsys, *slices: str, extra: tuple[str, ...] = ()) -> str:
    """Cut with progress on; what it told the user."""
    capsys.readouterr()
    arguments = [argument for argument in cut_arguments(release, root, *slices, extra=extra) if argument != "-q"]
    assert main(arguments) == 0
    return capsys.readouterr().err


def test_an_identical_cut_writes_the_same_tree_without_reading_a_package(local_release, tmp_path, capsys):
    _, release = local_release
    cache = cache_of(release)
    assert REUSED not in cut_told(release, tmp_path / "first", capsys, *SLICES)
    assert len(stored_trees(cache)) == 1
    # Without the packages and their zstd copies, only the stored tree can give the second cut its files.
    for mapping in (cache / "derived").glob("*.data.tar*"):
        (cache / "sha256" / mapping.read_text().split()[0]).unlink()
    for deb in (cache / "sha256").iterdir():
        if deb.read_bytes().startswith(b"!<arch>\n"):
            deb.unlink()

    told = cut_told(release, tmp_path / "second", capsys, *SLICES, extra=("--offline",))

    assert REUSED in told
    assert tree(tmp_path / "second") == tree(tmp_path / "first")
    assert (tmp_path / "second/usr/bin/hello").stat().st_ino == (tmp_path / "second/usr/bin/hello-again").stat().st_ino
    assert (tmp_path / "second/etc/hello.conf").read_text() == "one\ntwo\n"
    assert main(["-q", "inspect", "--verify", str(tmp_path / "second")]) == 0


def test_a_cut_with_other_inputs_is_built_again(local_release, tmp_path, capsys, monkeypatch):
    _, release = local_release
    cache = cache_of(release)
    cut_told(release, tmp_path / "first", capsys, *SLICES)

    assert REUSED not in cut_told(release, tmp_path / "fewer", capsys, *SLICES[:-1])
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert REUSED not in cut_told(release, tmp_path / "dated", capsys, *SLICES)
    assert (tmp_path / "dated/etc/hello.conf").stat().st_mtime == 1700000000
    assert len(stored_trees(cache)) == 3


def test_a_root_that_holds_something_is_built_not_reused(local_release, tmp_path, capsys):
    _, release = local_release
    cut_told(release, tmp_path / "first", capsys, *SLICES)
    root = tmp_path / "busy"
    (root / "srv").mkdir(parents=True)

    assert REUSED not in cut_told(release, root, capsys, *SLICES)
    assert sorted(os.listdir(root)) == sorted([*os.listdir(tmp_path / "first"), "srv"])
    assert len(stored_trees(cache_of(release))) == 1


def test_a_damaged_stored_tree_is_removed_and_the_cut_built_again(local_release, tmp_path, capsys):
    _, release = local_release
    cut_told(release, tmp_path / "first", capsys, *SLICES)
    (blob,) = stored_trees(cache_of(release))
    data = blob.read_bytes()
    # The last bytes are the content of the last file stored.
    blob.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))

    assert REUSED not in cut_told(release, tmp_path / "second", capsys, *SLICES)
    assert tree(tmp_path / "second") == tree(tmp_path / "first")
    # Stored again from the second cut, as the first one stored it.
    assert blob.read_bytes() == data
