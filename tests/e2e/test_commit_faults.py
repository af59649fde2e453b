"""A cut that is killed, runs beside another, meets a mount point or cannot write its outputs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import zstandard

from slicer import journal, rootfs
from tests.e2e.test_cut_local import SLICES, cut, cut_arguments, debs, tree
from tests.helpers.debs import DebSpec, directory, file

MANY = 800
MANY_SLICES = {"many.yaml": "package: many\nslices:\n  data:\n    contents:\n      /usr/share/many/*:\n"}
BASE = ("base-files_base", "base-files_chisel", "base-files_status", "hello_bins")
EXTENSION = ("many_data",)
# The child's entry point: the CLI, as the console script runs it.
CHILD = "import sys\nfrom slicer.cli import main\nsys.exit(main(sys.argv[1:]))"


def many_deb() -> DebSpec:
    return DebSpec(
        "many",
        "1.0",
        "amd64",
        [
            directory("./usr/"),
            directory("./usr/share/"),
            directory("./usr/share/many/"),
            *(file(f"./usr/share/many/f{number:04d}", f"{number}\n") for number in range(MANY)),
        ],
    )


@pytest.fixture
def many_release(release_of):
    return release_of([*debs(), many_deb()], {**SLICES, **MANY_SLICES})


def _child(release: str, root: Path, *slices: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, *cut_arguments(release, root, *slices)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _copy(source: Path, target: Path) -> Path:
    subprocess.run(["cp", "-a", str(source), str(target)], check=True)
    return target


def _wall(root: Path) -> bytes:
    with (root / "var/lib/chisel/manifest.wall").open("rb") as stream:
        return zstandard.ZstdDecompressor().stream_reader(stream).read()


def _commit_starts(release: str, base: Path, probe: Path) -> tuple[float, float]:
    """(seconds until the journal appears, seconds until the cut ends) in one extending cut."""
    root = _copy(base, probe)
    started = time.monotonic()
    child = _child(release, root, *EXTENSION)
    journalled = None
    while child.poll() is None:
        if journalled is None and any(item.name.endswith(journal.SUFFIX) for item in os.scandir(root)):
            journalled = time.monotonic() - started
        time.sleep(0.001)
    ended = time.monotonic() - started
    assert child.returncode == 0, child.stderr.read().decode()  # type: ignore[union-attr]
    return (journalled if journalled is not None else ended * 0.9), ended


def test_a_killed_extending_cut_leaves_the_old_root_or_the_new_one(many_release, tmp_path):
    """Kills spread over a whole extending cut, and densely over its commit: after each, once
    the next run has recovered the root, it holds exactly the old tree or exactly the new one."""
    _, release = many_release
    base = tmp_path / "base"
    assert cut(release, base, *BASE) == 0
    old = tree(base)
    done = _copy(base, tmp_path / "done")
    assert cut(release, done, *EXTENSION) == 0
    new = tree(done)
    assert len(new) > len(old) + MANY
    journalled, duration = _commit_starts(release, base, tmp_path / "probe")
    window = duration - journalled + 0.04
    points = [duration * (step + 0.5) / 20 for step in range(20)] + [
        journalled - 0.02 + window * step / 30 for step in range(30)
    ]
    outcomes = []
    for step, delay in enumerate(points):
        root = _copy(base, tmp_path / f"kill{step}")
        child = _child(release, root, *EXTENSION)
        time.sleep(max(delay, 0.0))
        child.kill()
        child.wait()
        with rootfs.root_lock(root):
            rootfs.recover(root)
        after = tree(root)
        assert after in (old, new), f"a kill after {delay:.3f}s (of {duration:.3f}s) left a mixed root"
        outcomes.append(after == new)
        if step % 25 == 0:  # the next cut completes the root
            assert cut(release, root, *EXTENSION) == 0
            assert tree(root) == new
        shutil.rmtree(root)
    assert any(outcomes) and not all(outcomes)


def test_a_journal_left_by_a_killed_commit_is_finished_by_the_next_cut(many_release, tmp_path, monkeypatch):
    _, release = many_release
    root = tmp_path / "root"
    assert cut(release, root, *BASE) == 0
    done = _copy(root, tmp_path / "done")
    assert cut(release, done, *EXTENSION) == 0
    renames = 0
    real_rename = os.rename

    def dies_midway(source, target):
        nonlocal renames
        renames += 1
        if renames == MANY // 2:
            raise KeyboardInterrupt  # as a signal would, halfway through the moves
        real_rename(source, target)

    monkeypatch.setattr(os, "rename", dies_midway)
    assert cut(release, root, *EXTENSION) == 130
    monkeypatch.setattr(os, "rename", real_rename)
    assert [item.name for item in root.iterdir() if item.name.endswith(journal.SUFFIX)]
    assert cut(release, root, "base-files_base") == 0
    assert tree(root) == tree(done)
    assert not [item for item in root.iterdir() if item.name.startswith(rootfs.STAGING_PREFIX)]


def test_what_a_dead_run_left_is_removed_by_the_next_cut(local_release, tmp_path):
    _, release = local_release
    root = tmp_path / "root"
    assert cut(release, root, "base-files_base") == 0
    before = tree(root)
    for name in ("1", "2"):
        leftover = root / f"{rootfs.STAGING_PREFIX}{name}" / "usr/share"
        leftover.mkdir(parents=True)
        (leftover / "big").write_bytes(b"x" * 100_000)
        os.chmod(leftover, 0o500)
    (root / f"{rootfs.STAGING_PREFIX}3{journal.SUFFIX}.tmp").write_text("{half a journ")
    (root / f"{rootfs.STAGING_PREFIX}4{journal.SUFFIX}").write_text("{half a journ")
    assert cut(release, root, "base-files_base") == 0
    assert tree(root) == before


def test_concurrent_cuts_into_one_root_keep_every_record(local_release, tmp_path):
    _, release = local_release
    root = tmp_path / "root"
    # Warm the cache, and start with both records, so whichever cut runs first, each later one
    # adds its packages to them (records added later do not cover what earlier cuts wrote).
    assert cut(release, root, "base-files_chisel", "base-files_status") == 0
    groups = [("base-files_base",), ("hello_bins",), ("libhello_libs",), ("base-files_status",)]
    children = [_child(release, root, "base-files_chisel", *group) for group in groups]
    for child in children:
        assert child.wait(timeout=120) == 0, child.stderr.read().decode()  # type: ignore[union-attr]
    wall = _wall(root)
    for group in groups:
        assert f'"kind":"slice","name":"{group[0]}"'.encode() in wall
    for path in ("/usr/bin/hello", "/lib/x86_64-linux-gnu/libhello.so.1", "/var/lib/dpkg/status.d/hello", "/tmp/"):
        assert f'"path":"{path}"'.encode() in wall, path


def test_outputs_that_cannot_be_written_stop_the_cut_before_the_root_changes(local_release, tmp_path, capsys):
    _, release = local_release
    root = tmp_path / "root"
    assert cut(release, root, "base-files_base") == 0
    before = tree(root)
    capsys.readouterr()
    for option in ("--lock", "--sbom"):
        assert cut(release, root, "hello_bins", extra=(option, str(tmp_path / "missing/out.json"))) == 1
        error = capsys.readouterr().err
        assert error.startswith(f"error: cannot write the {option} file {tmp_path}/missing/out.json: ")
        assert "internal error" not in error
        assert tree(root) == before
    assert cut(release, tmp_path / "fresh", "hello_bins", extra=("--lock", str(tmp_path))) == 1
    assert "is a folder" in capsys.readouterr().err
    assert not (tmp_path / "fresh").exists()
    lock, sbom = tmp_path / "lock.json", tmp_path / "sbom.json"
    assert cut(release, root, "hello_bins", extra=("--lock", str(lock), "--sbom", str(sbom))) == 0
    assert lock.stat().st_mode & 0o777 == 0o644 and b'"hello"' in sbom.read_bytes()
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(".")) == []


def test_records_describe_the_root_after_every_cut(local_release, tmp_path):
    _, release = local_release
    root = tmp_path / "root"
    assert cut(release, root, "base-files_status", "base-files_chisel", "base-files_base") == 0
    assert not (root / "var/lib/dpkg/status.d/hello").exists()
    # Later cuts name neither record slice: the records still follow the root.
    assert cut(release, root, "hello_bins") == 0
    assert "Package: hello" in (root / "var/lib/dpkg/status.d/hello").read_text()
    assert b'"path":"/usr/bin/hello"' in _wall(root)
    assert cut(release, root, "base-files_status", "libhello_libs") == 0
    assert b'"path":"/lib/x86_64-linux-gnu/libhello.so.1"' in _wall(root)
    assert "usr/bin/hello\n" in (root / "var/lib/dpkg/status.d/hello.md5sums").read_text()


@pytest.mark.skipif(os.geteuid() != 0, reason="bind mounts need root")
def test_a_mount_point_in_the_root_is_refused_before_anything_is_written(local_release, tmp_path, capsys):
    _, release = local_release
    root = tmp_path / "root"
    assert cut(release, root, "base-files_base") == 0
    host = tmp_path / "host"
    host.mkdir()
    (root / "usr").mkdir(exist_ok=True)
    mounted = subprocess.run(["mount", "--bind", str(host), str(root / "usr")], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"this machine allows no bind mount: {mounted.stderr.strip()}")
    try:
        before = tree(root)
        capsys.readouterr()
        assert cut(release, root, "hello_bins") == 1
        error = capsys.readouterr().err
        assert f"error: cannot cut into {root}: another file system is mounted at /usr/" in error
        assert list(host.iterdir()) == []
        assert tree(root) == before
    finally:
        subprocess.run(["umount", str(root / "usr")], check=True)
