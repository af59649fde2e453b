"""The root writer: resolution inside the root, safe writes, staging and commit."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from slicer import rootfs
from slicer.errors import RootError
from slicer.report import Entry, Report
from tests.helpers.tree_fixtures import listing

AS_ROOT = os.geteuid() == 0


@pytest.fixture
def root(tmp_path):
    folder = tmp_path / "root"
    folder.mkdir()
    return folder


def test_resolve_keeps_absolute_and_dotdot_links_inside(root, outside):
    (root / "run").mkdir()
    (root / "var").mkdir()
    os.symlink("/run", root / "var" / "run")
    os.symlink("../../../../..", root / "up")
    os.symlink(str(outside), root / "host")
    assert rootfs.resolve(root, "/var/run/x") == root / "run" / "x"
    assert rootfs.resolve(root, "/up/etc/passwd") == root / "etc" / "passwd"
    assert rootfs.resolve(root, "/host/precious") == root / str(outside).lstrip("/") / "precious"
    assert rootfs.resolve(root, "/var/run", follow_last=False) == root / "var" / "run"
    assert rootfs.resolve(root, "/../../x") == root / "x"


def test_resolve_symlink_loop(root):
    os.symlink("b", root / "a")
    os.symlink("a", root / "b")
    with pytest.raises(RootError, match="^too many levels of symbolic links resolving /a/x in "):
        rootfs.resolve(root, "/a/x")


def test_make_dirs_reports_where_directories_really_are(root):
    (root / "usr").mkdir()
    os.symlink("usr/lib", root / "lib")
    assert rootfs.make_dirs(root, "/lib/x86_64-linux-gnu/") == ["/usr/lib/", "/usr/lib/x86_64-linux-gnu/"]
    assert (root / "usr" / "lib" / "x86_64-linux-gnu").is_dir()
    assert rootfs.make_dirs(root, "/lib/x86_64-linux-gnu/") == []


def test_make_dirs_through_a_link_to_the_root(root):
    os.symlink("/", root / "up")
    assert rootfs.make_dirs(root, "/up/up/etc/") == ["/etc/"]
    assert (root / "etc").is_dir()


def test_make_dirs_refuses_a_file_in_the_way(root):
    (root / "etc").write_text("not a directory")
    with pytest.raises(RootError, match=r"^cannot create directory /etc/ssl/ in .*: /etc is not a directory$"):
        rootfs.make_dirs(root, "/etc/ssl/")


def test_write_file_replaces_a_final_symlink_instead_of_following_it(root, outside):
    os.symlink(str(outside / "precious"), root / "passwd")
    digest, size = rootfs.write_file(root, "/passwd", b"image data", 0o644)
    assert (outside / "precious").read_text() == "host data"
    assert not (root / "passwd").is_symlink()
    assert (root / "passwd").read_bytes() == b"image data"
    assert (digest, size) == (hashlib.sha256(b"image data").hexdigest(), 10)


def test_write_file_mode_is_exact_whatever_the_umask(root):
    previous = os.umask(0o077)
    try:
        rootfs.write_file(root, "/su", b"x", 0o4755)
        rootfs.write_file(root, "/sticky", b"x", 0o1777)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.lstat(root / "su").st_mode) == 0o4755
    assert stat.S_IMODE(os.lstat(root / "sticky").st_mode) == 0o1777


def test_write_file_through_a_directory_symlink_stays_inside(root, outside):
    os.symlink(str(outside), root / "etc")
    assert rootfs.make_dirs(root, "/etc/")[-1] == str(outside) + "/"
    rootfs.write_file(root, "/etc/precious", b"image", 0o644)
    assert (outside / "precious").read_text() == "host data"
    assert (root / str(outside).lstrip("/") / "precious").read_bytes() == b"image"


def test_write_file_refuses_to_replace_a_directory(root):
    (root / "d").mkdir()
    with pytest.raises(RootError, match=r"^cannot write /d in .*: a directory is in the way$"):
        rootfs.write_file(root, "/d", b"x", 0o644)


def test_hard_link_to_a_symlink_links_the_symlink(root):
    os.symlink("target", root / "link")
    rootfs.hard_link(root, "/link", "/again")
    assert os.readlink(root / "again") == "target"
    assert os.lstat(root / "again").st_ino == os.lstat(root / "link").st_ino


def test_remove_keeps_a_directory_that_is_not_empty(root):
    (root / "d").mkdir()
    (root / "d" / "f").write_text("x")
    assert rootfs.remove(root, "/d/") is False
    assert rootfs.remove(root, "/d/f") is True
    assert rootfs.remove(root, "/d/") is True
    assert not (root / "d").exists()


def test_apply_metadata_sets_mode_owner_and_mtime(root):
    (root / "d").mkdir()
    (root / "d" / "f").write_text("x")
    os.symlink("f", root / "d" / "l")
    entries = [
        Entry("/d/", "dir", 0o700, mtime=1000, uid=5, gid=6),
        Entry("/d/f", "file", 0o4711, mtime=2000),
        Entry("/d/l", "symlink", 0o777, mtime=3000),
    ]
    rootfs.apply_metadata(root, entries)
    assert [(p.name, stat.S_IMODE(p.lstat().st_mode), p.lstat().st_mtime) for p in (root / "d", root / "d" / "f")] == [
        ("d", 0o700, 1000),
        ("f", 0o4711, 2000),
    ]
    assert (root / "d" / "l").lstat().st_mtime == 3000
    if AS_ROOT:
        assert ((root / "d").stat().st_uid, (root / "d").stat().st_gid) == (5, 6)


def test_apply_metadata_listed_directory_beats_an_implicit_alias(root):
    (root / "usr" / "lib").mkdir(parents=True)
    os.symlink("usr/lib", root / "lib")
    rootfs.apply_metadata(
        root, [Entry("/usr/lib/", "dir", 0o755, listed=False), Entry("/lib/", "dir", 0o750, listed=True)]
    )
    assert stat.S_IMODE((root / "usr" / "lib").stat().st_mode) == 0o750


def test_new_staging_creates_the_root_with_parents(tmp_path):
    staging = rootfs.new_staging(tmp_path / "a" / "b")
    assert staging.parent == tmp_path / "a" / "b"
    assert staging.name.startswith(".slicer-staging-")


def test_staging_area_is_removed_on_failure_even_with_locked_directories(root):
    with pytest.raises(RuntimeError), rootfs.staging_area(root) as staging:
        (staging / "locked" / "inner").mkdir(parents=True)
        (staging / "locked" / "inner" / "f").write_text("x")
        os.chmod(staging / "locked" / "inner", 0o500)
        os.chmod(staging / "locked", 0o500)
        raise RuntimeError("cut failed")
    assert list(root.iterdir()) == []


def stage(root: Path, files: dict[str, bytes | str], report: Report | None = None) -> tuple[Path, Report]:
    """A staging tree with `files` (bytes: file, str: symlink target, path ending in /: directory)."""
    staging = rootfs.new_staging(root)
    report = report or Report()
    for path, content in files.items():
        rootfs.make_dirs(staging, os.path.dirname(path.rstrip("/")))
        if path.endswith("/"):
            rootfs.make_dirs(staging, path)
            report.add(Entry(path, "dir", 0o755, mtime=100))
        elif isinstance(content, bytes):
            rootfs.write_file(staging, path, content, 0o644)
            report.add(Entry(path, "file", 0o644, mtime=200))
        else:
            rootfs.write_symlink(staging, path, content)
            report.add(Entry(path, "symlink", 0o777, mtime=300))
    return staging, report


TREE = {
    "/etc/": b"",
    "/etc/hostname": b"image\n",
    "/usr/bin/tool": b"\x7fELF",
    "/bin": "usr/bin",
    "/usr/share/doc/": b"",
}


def test_commit_into_a_fresh_root(tmp_path, root):
    staging, report = stage(root, TREE)
    rootfs.apply_metadata(staging, report.entries.values())
    expected = listing(staging)
    result = rootfs.commit(staging, root, report)
    assert listing(root) == expected
    assert result == rootfs.CommitResult(written=len(expected), written_bytes=10, unchanged=0)
    assert not staging.exists()


def test_commit_of_identical_content_changes_nothing(root):
    staging, report = stage(root, TREE)
    rootfs.commit(staging, root, report)
    before = listing(root)
    staging, report = stage(root, TREE)
    result = rootfs.commit(staging, root, report)
    assert listing(root) == before
    assert result.written == 0 and result.unchanged == len(before)


def test_commit_extends_an_existing_root_and_keeps_its_directory_times(root):
    staging, report = stage(root, TREE)
    rootfs.commit(staging, root, report)
    before = {row[0]: row for row in listing(root)}
    staging, report = stage(root, {"/etc/": b"", "/etc/os-release": b"ID=debian\n"})
    result = rootfs.commit(staging, root, report)
    after = {row[0]: row for row in listing(root)}
    assert set(after) - set(before) == {"/etc/os-release"}
    assert after["/etc"] == before["/etc"]
    assert result.written == 1 and result.written_bytes == 10


@pytest.mark.parametrize(
    "change",
    [
        {"/etc/hostname": b"other\n"},
        {"/bin": "usr/sbin"},
        {"/etc/hostname": "elsewhere"},
        {"/usr/bin/tool/": b""},
    ],
)
def test_commit_conflict_names_every_path_and_writes_nothing(root, change):
    staging, report = stage(root, TREE)
    rootfs.commit(staging, root, report)
    before = listing(root)
    changed = {
        **{k: v for k, v in TREE.items() if k.rstrip("/") not in {c.rstrip("/") for c in change}},
        **change,
        "/etc/new": b"new",
    }
    staging, report = stage(root, changed)
    with pytest.raises(RootError) as failure:
        rootfs.commit(staging, root, report)
    assert str(failure.value).startswith(
        f"cannot cut into {root}: it already holds different content at {next(iter(change))}; pass --overwrite"
    )
    assert listing(root) == before
    assert not staging.exists()


def test_commit_mode_conflict_and_overwrite(root):
    staging, report = stage(root, TREE)
    rootfs.commit(staging, root, report)
    staging, report = stage(root, TREE)
    os.chmod(staging / "etc" / "hostname", 0o600)
    os.chmod(staging / "usr" / "bin" / "tool", 0o755)
    report.entries["/etc/hostname"].mode = 0o600
    report.entries["/usr/bin/tool"].mode = 0o755
    with pytest.raises(RootError, match=r"different content at /etc/hostname, /usr/bin/tool; pass --overwrite"):
        rootfs.commit(staging, root, report)
    staging, report = stage(root, {**TREE, "/bin": "usr/sbin"})
    report.entries["/etc/hostname"].mode = 0o600
    result = rootfs.commit(staging, root, report, overwrite=True)
    assert stat.S_IMODE((root / "etc" / "hostname").stat().st_mode) == 0o600
    assert os.readlink(root / "bin") == "usr/sbin"
    assert result.written == 2


def test_commit_directory_modes_matter_only_when_listed(root):
    staging, report = stage(root, TREE)
    rootfs.commit(staging, root, report)
    staging, report = stage(root, {"/usr/share/doc/": b""})
    report.entries["/usr/share/doc/"].mode = 0o700
    report.add(Entry("/usr/", "dir", 0o711, listed=False))
    with pytest.raises(RootError, match=r"different content at /usr/share/doc/; pass --overwrite"):
        rootfs.commit(staging, root, report)
    assert stat.S_IMODE((root / "usr").stat().st_mode) == 0o755
    staging, report = stage(root, {"/usr/share/doc/": b""})
    report.entries["/usr/share/doc/"].listed = False
    report.entries["/usr/share/doc/"].mode = 0o700
    assert rootfs.commit(staging, root, report).written == 0
    assert stat.S_IMODE((root / "usr" / "share" / "doc").stat().st_mode) == 0o755


@pytest.mark.skipif(not AS_ROOT, reason="ownership is compared only when running as root")
def test_commit_ownership_conflict_as_root(root):
    staging, report = stage(root, TREE)
    rootfs.commit(staging, root, report)
    staging, report = stage(root, TREE)
    report.entries["/etc/hostname"].uid = 65532
    with pytest.raises(RootError, match=r"different content at /etc/hostname; pass --overwrite"):
        rootfs.commit(staging, root, report)


@pytest.mark.parametrize("link", ["/", "../../..", "OUTSIDE"])
def test_commit_through_a_hostile_symlink_already_in_the_root(root, outside, link):
    (root / "var").mkdir()
    os.symlink(str(outside) if link == "OUTSIDE" else link, root / "var" / "run")
    staging, report = stage(root, {"/var/run/precious": b"cut", "/var/run/new": b"cut"})
    rootfs.commit(staging, root, report)
    assert (outside / "precious").read_text() == "host data"
    assert sorted(p.name for p in outside.iterdir()) == ["precious"]
    landed = rootfs.resolve(root, "/var/run/new")
    assert landed.is_relative_to(root) and landed.read_bytes() == b"cut"


def test_commit_files_meeting_through_a_root_symlink(root):
    (root / "usr" / "bin").mkdir(parents=True)
    os.symlink("usr/bin", root / "bin")
    staging, report = stage(root, {"/bin/sh": b"dash", "/usr/bin/sh": b"bash"})
    with pytest.raises(RootError, match=r"different content at /usr/bin/sh; pass --overwrite"):
        rootfs.commit(staging, root, report)
    assert list((root / "usr" / "bin").iterdir()) == []


def test_mount_points_inside_the_root_come_from_the_mount_table(tmp_path):
    root = tmp_path / "my root"
    root.mkdir()
    table = tmp_path / "mountinfo"
    escaped = str(root).replace(" ", "\\040")
    table.write_text(
        "22 1 0:21 / / rw shared:1 - ext4 /dev/sda1 rw\n"
        f"40 22 0:21 /srv {escaped}/usr rw shared:1 - ext4 /dev/sda1 rw\n"
        f"41 22 0:5 / {escaped}/proc\\040x rw - proc proc rw\n"
        f"42 22 0:6 / {escaped}2/elsewhere rw - tmpfs tmpfs rw\n"
    )
    assert rootfs.mount_points(root, table) == {root / "usr", root / "proc x"}
    assert rootfs.mount_points(root, tmp_path / "absent") == frozenset()


def test_a_conflict_error_names_a_few_paths_counts_the_rest_and_says_the_way_out(tmp_path):
    conflicts = [f"/etc/file{number}" for number in range(18)]
    assert rootfs.conflict_message(tmp_path, conflicts) == (
        f"cannot cut into {tmp_path}: it already holds different content at /etc/file0, /etc/file1, /etc/file2 "
        "and 15 more paths; pass --overwrite to replace it, or cut into a fresh root (or choose one of the "
        "slices that ship these paths)"
    )
