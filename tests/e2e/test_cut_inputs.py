"""Bad --root values, cache arguments and awkward roots: one clear line, the right exit code, no harm."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from slicer.cli import main
from tests.e2e.test_cut_local import cut, tree


def _error(capsys) -> str:
    error = capsys.readouterr().err
    assert "Traceback" not in error and error.count("\n") == 1, error
    return error


def test_an_empty_root_is_a_usage_error(local_release, tmp_path, capsys, monkeypatch):
    _, release = local_release
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(["cut", "--release", release, "--arch", "amd64", "--root", "", "base-files_base"])
    assert exit_.value.code == 2
    assert "argument --root: must name a folder, not an empty string" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["mirror", "release"]


def test_the_machines_own_root_needs_allow_root_dir(local_release, capsys):
    _, release = local_release
    with pytest.raises(SystemExit) as exit_:
        cut(release, Path("/"), "base-files_base")
    assert exit_.value.code == 2
    assert "--root / is this machine's own root folder; pass --allow-root-dir" in capsys.readouterr().err
    # With the flag the cut goes on (and here stops at an unknown slice, before writing anything).
    assert cut(release, Path("/"), "base-files_nothing", extra=("--allow-root-dir",)) == 1
    assert "slice base-files_nothing not found" in _error(capsys)


def test_a_root_that_is_a_file_or_a_dangling_link_is_named(local_release, tmp_path, capsys):
    _, release = local_release
    plain = tmp_path / "plain"
    plain.write_text("keep me")
    assert cut(release, plain, "base-files_base") == 1
    assert _error(capsys) == f"error: the root {plain} is not a folder\n"
    assert plain.read_text() == "keep me"
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    assert cut(release, dangling, "base-files_base") == 1
    assert (
        _error(capsys) == f"error: the root {dangling} is a symbolic link to {tmp_path}/nowhere, which does not exist\n"
    )
    assert not (tmp_path / "nowhere").exists()


def test_prune_refuses_a_negative_age(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["cache", "--cache-dir", str(tmp_path), "prune", "--older-than", "-5"])
    assert exit_.value.code == 2
    assert "argument --older-than: expects zero or more days, not -5" in capsys.readouterr().err


@pytest.mark.parametrize("existing", [True, False])
def test_the_root_folder_gets_the_mode_of_an_images_root_whatever_the_umask(local_release, tmp_path, existing):
    _, release = local_release
    root = tmp_path / "root"
    if existing:
        root.mkdir(mode=0o700)
    previous = os.umask(0o077)
    try:
        assert cut(release, root, "base-files_base") == 0
    finally:
        os.umask(previous)
    found = root.stat()
    assert stat.S_IMODE(found.st_mode) == 0o755
    if os.geteuid() == 0:
        assert (found.st_uid, found.st_gid) == (0, 0)


def _read_only(root: Path):
    """Make `root` unwritable: a read-only bind mount as root (chmod does not stop root), else chmod."""
    if os.geteuid() != 0:
        os.chmod(root, 0o555)
        return lambda: os.chmod(root, 0o755)
    for command in (["mount", "--bind", str(root), str(root)], ["mount", "-o", "remount,bind,ro", str(root)]):
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            subprocess.run(["umount", str(root)], capture_output=True)
            pytest.skip(f"this machine allows no read-only bind mount: {done.stderr.strip()}")
    return lambda: subprocess.run(["umount", str(root)], check=True)


def test_a_read_only_root_is_fine_when_the_cut_changes_nothing(local_release, tmp_path, capsys):
    _, release = local_release
    root = tmp_path / "root"
    assert cut(release, root, "base-files_base", "hello_bins") == 0
    before = tree(root)
    undo = _read_only(root)
    try:
        capsys.readouterr()
        assert cut(release, root, "hello_bins") == 0
        assert tree(root) == before
        assert cut(release, root, "libhello_libs") == 1
        assert "the cut would change it, and it cannot be written" in _error(capsys)
        assert tree(root) == before
    finally:
        undo()
