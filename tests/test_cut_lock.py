"""Lock files: written in a stable JSON shape, read back whole or refused with one sentence."""

from __future__ import annotations

import json

import pytest

from slicer.cut.lock import LOCK_FORMAT, LockedPackage, LockFile, read_lock, write_lock
from slicer.errors import SlicerError

LOCK = LockFile(
    release="debian-12",
    arch="amd64",
    slices=("base-files_base", "libc6_libs"),
    packages={
        "base-files": LockedPackage("12.4+deb12u5", "a" * 64, "debian", "bookworm", "pool/b/base-files.deb", 70000),
        "libc6": LockedPackage("2.36-9+deb12u4", "b" * 64, "debian-security", "bookworm-security", "pool/l.deb", 9),
    },
)


def test_a_lock_file_round_trips_and_starts_with_its_format(tmp_path):
    path = tmp_path / "slicer.lock"
    write_lock(path, LOCK)
    assert read_lock(path) == LOCK
    text = path.read_text()
    assert text.endswith("}\n")
    data = json.loads(text)
    assert list(data) == ["slicer-lock", "release", "arch", "slices", "packages"]
    assert data["slicer-lock"] == LOCK_FORMAT
    assert data["packages"]["libc6"] == {
        "version": "2.36-9+deb12u4",
        "sha256": "b" * 64,
        "archive": "debian-security",
        "suite": "bookworm-security",
        "filename": "pool/l.deb",
        "size": 9,
    }
    assert [p.name for p in tmp_path.iterdir()] == ["slicer.lock"]


def test_unknown_keys_are_ignored(tmp_path):
    path = tmp_path / "slicer.lock"
    write_lock(path, LOCK)
    data = json.loads(path.read_text())
    data["comment"] = "added by hand"
    path.write_text(json.dumps(data))
    assert read_lock(path) == LOCK


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", r"it is not JSON"),
        ("[]", r"it is not a JSON object"),
        ('{"release": "debian-12", "arch": "amd64", "slices": []}', r"required field missing @ lock\.packages"),
        (
            '{"release": "debian-12", "arch": "amd64", "slices": [], "packages": {"p": {"version": "1"}}}',
            r"required field missing @ lock\.packages\['p'\]\.sha256",
        ),
    ],
)
def test_a_broken_lock_file_is_one_sentence_naming_it(tmp_path, text, reason):
    path = tmp_path / "slicer.lock"
    path.write_text(text)
    with pytest.raises(SlicerError, match=rf"^cannot read lock file {path}: .*{reason}"):
        read_lock(path)


def test_a_missing_lock_file_says_so(tmp_path):
    with pytest.raises(SlicerError, match=r"^cannot read lock file .*: No such file or directory$"):
        read_lock(tmp_path / "absent.lock")
