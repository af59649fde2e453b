"""The cut's build step as a whole: its stages run in the order a cut runs them, on real .deb files."""

from __future__ import annotations

from pathlib import Path

import pytest
import zstandard

from slicer.errors import ExtractError
from slicer.release.model import PathInfo, PathKind, Release, Slice
from slicer.release.selection import Selection
from tests.helpers.cuts import build_from_debs
from tests.helpers.debs import directory, file

JOIN = 'content.write("/etc/joined", content.read("/usr/lib/part-a") + content.read("/usr/lib/part-b"))\n'


def _selection(*slices: Slice) -> Selection:
    return Selection(Release(Path("/nonexistent"), "v3", {}, {}, {}), "amd64", slices)


def test_links_then_packages_then_scripts_then_until_then_generated_files(tmp_path, write_debs):
    debs = write_debs(
        {
            "pkg": [
                directory("./lib/"),
                file("./lib/kept", "kept"),
                directory("./usr/lib/"),
                file("./usr/lib/part-a", "one\n"),
                file("./usr/lib/part-b", "two\n"),
            ]
        }
    )
    chosen = _selection(
        Slice("pkg", "links", contents={"/lib": PathInfo(PathKind.SYMLINK, info="usr/lib")}),
        Slice(
            "pkg",
            "joined",
            contents={
                "/usr/lib/part-*": PathInfo(PathKind.GLOB, info="/usr/lib/part-*", until="mutate"),
                "/etc/joined": PathInfo(PathKind.TEXT, info="", mutable=True),
                "/lib/kept": PathInfo(PathKind.COPY, info="/lib/kept"),
            },
            mutate=JOIN,
        ),
        Slice("pkg", "manifest", contents={"/var/lib/chisel/**": PathInfo(PathKind.GENERATE, info="manifest")}),
    )
    root = tmp_path / "root"
    report = build_from_debs(root, chosen, debs)
    # The inline link was made before the package's /lib/ was extracted through it;
    # the script read the parts, and `until: mutate` removed them after it.
    assert (root / "lib").readlink() == Path("usr/lib")
    assert (root / "usr/lib/kept").read_text() == "kept"
    assert (root / "etc/joined").read_text() == "one\ntwo\n"
    assert not (root / "usr/lib/part-a").exists() and not (root / "usr/lib/part-b").exists()
    assert "/usr/lib/part-a" not in report.entries
    # The manifest, generated last, records the final content only.
    wall = zstandard.ZstdDecompressor().stream_reader((root / "var/lib/chisel/manifest.wall").open("rb")).read()
    assert b'"path":"/etc/joined"' in wall and b"part-a" not in wall


def test_a_failing_build_leaves_the_root_as_it_was(tmp_path, write_debs):
    debs = write_debs({"pkg": [file("./a", "a")]})
    root = tmp_path / "root"
    build_from_debs(root, _selection(Slice("pkg", "a", contents={"/a": PathInfo(PathKind.COPY, info="/a")})), debs)
    before = sorted(path.name for path in root.iterdir())
    missing = _selection(Slice("pkg", "b", contents={"/b": PathInfo(PathKind.COPY, info="/b")}))
    with pytest.raises(ExtractError, match='^package "pkg" has no content at /b$'):
        build_from_debs(root, missing, debs)
    assert sorted(path.name for path in root.iterdir()) == before
