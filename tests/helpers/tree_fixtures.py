"""Fixtures for extraction and root tests: .deb files on disk, selections built
straight from model objects, and listings of a tree to compare states.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from slicer.release.model import PathInfo, PathKind, Release, Slice
from slicer.release.selection import Selection
from tests.helpers.debs import Entry, make_deb


def copy(**kw) -> PathInfo:
    return PathInfo(PathKind.COPY, **kw)


def glob(**kw) -> PathInfo:
    return PathInfo(PathKind.GLOB, **kw)


def selection(
    slices: dict[str, dict[str, PathInfo]], arch: str = "amd64", prefers: dict[str, dict[str, str]] | None = None
) -> Selection:
    """A selection of `{"pkg_name": {path: PathInfo}}`, in the order given.

    Plain copies may be given as None. No release validation runs, so tests
    can express what a hostile or broken package would need.
    """
    built = []
    for key, contents in slices.items():
        package, _, name = key.partition("_")
        infos = {path: info or PathInfo(PathKind.COPY, info=path) for path, info in contents.items()}
        built.append(Slice(package, name, contents=infos))
    release = Release(Path("/nonexistent"), "v3", {}, {}, {}, prefers=prefers or {})
    return Selection(release, arch, tuple(built))


def listing(root: Path, skip: str = "") -> list[tuple]:
    """Every path under `root` with type, mode, owner, mtime, size, sha256 and link target."""
    rows = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(dirs + files):
            host = Path(folder, name)
            relative = "/" + host.relative_to(root).as_posix()
            if skip and relative.startswith(skip):
                continue
            info = os.lstat(host)
            digest = hashlib.sha256(host.read_bytes()).hexdigest() if stat.S_ISREG(info.st_mode) else ""
            link = os.readlink(host) if stat.S_ISLNK(info.st_mode) else ""
            mtime = info.st_mtime_ns if not stat.S_ISLNK(info.st_mode) else int(info.st_mtime)
            rows.append(
                (
                    relative,
                    stat.S_IFMT(info.st_mode),
                    oct(stat.S_IMODE(info.st_mode)),
                    info.st_uid,
                    info.st_gid,
                    mtime,
                    info.st_size if digest else 0,
                    digest,
                    link,
                )
            )
    return rows


@pytest.fixture
def write_debs(tmp_path):
    """Factory: write_debs({"pkg": [entries]}, compression="xz") -> {"pkg": Path to its .deb}."""
    folder = tmp_path / "debs"
    folder.mkdir()

    def write(packages: dict[str, list[Entry]], compression: str = "xz") -> dict[str, Path]:
        paths = {}
        for name, entries in packages.items():
            path = folder / f"{name}.deb"
            path.write_bytes(make_deb(entries, package=name, compression=compression))
            paths[name] = path
        return paths

    return write


@pytest.fixture
def outside(tmp_path):
    """A host directory next to the root that nothing may ever touch."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "precious").write_text("host data")
    return folder


def untouched(outside: Path) -> bool:
    """Whether the `outside` directory still holds exactly what the fixture put there."""
    return [p.name for p in outside.iterdir()] == ["precious"] and (outside / "precious").read_text() == "host data"
