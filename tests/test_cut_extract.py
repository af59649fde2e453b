"""Extraction, through the cut's build step: plans, fidelity, hard links, parents, inline
content, until, determinism and safety against hostile packages."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from slicer import rootfs
from slicer.archive import ArchiveClient
from slicer.cache import Cache
from slicer.console import Console
from slicer.cut.plan import plan
from slicer.deb import DATA_COPY, DATA_INDEX
from slicer.errors import DebError, ExtractError, RootError
from slicer.release.load import load_release
from slicer.release.model import PathInfo, PathKind, SliceKey
from slicer.release.selection import select
from slicer.report import Report
from tests.helpers.cuts import build_from_debs
from tests.helpers.debs import Entry, directory, file, hardlink, make_deb, symlink
from tests.helpers.tree_fixtures import copy, glob, listing, selection, untouched

AS_ROOT = os.geteuid() == 0
QUIET = Console(quiet=True)


def text(content: str, **kw) -> PathInfo:
    return PathInfo(PathKind.TEXT, info=content, **kw)


def make(**kw) -> PathInfo:
    return PathInfo(PathKind.MAKE, **kw)


def link(target: str, **kw) -> PathInfo:
    return PathInfo(PathKind.SYMLINK, info=target, **kw)


def cut(
    tmp_path: Path,
    chosen,
    debs: dict[str, Path],
    workers: int = 4,
    name: str = "root",
    cache: Cache | None = None,
) -> tuple[Path, Report]:
    """Build `chosen` from `debs` into a fresh root through the cut pipeline; `debs` are blobs of `cache` if given."""
    root = tmp_path / name
    return root, build_from_debs(root, chosen, debs, cache, workers=workers)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


# -- plan --------------------------------------------------------------------


def test_plan_requests_per_package():
    chosen = selection(
        {
            "a_one": {
                "/usr/bin/a": None,
                "/etc/b": copy(info="/usr/share/b"),
                "/usr/share/b": None,
                "/only-arm": copy(info="/only-arm", arch=("arm64",)),
                "/usr/lib/**": glob(),
                "/etc/new/conf": text("x"),
                "/run/lock/": make(),
                "/var/lib/chisel/**": PathInfo(PathKind.GENERATE, info="manifest"),
            },
            "a_two": {"/usr/bin/a": None, "/shared": None},
            "b_one": {"/shared": None},
        },
        prefers={"/shared": {"a": "b"}},
    )
    plans = plan(chosen)
    a, b = plans["a"], plans["b"]
    assert {source: [(t.path, t.slices) for t in targets] for source, targets in a.literals.items()} == {
        "/usr/bin/a": [("/usr/bin/a", {"a_one", "a_two"})],
        "/usr/share/b": [("/etc/b", {"a_one"}), ("/usr/share/b", {"a_one"})],
    }
    assert a.globs == {"/usr/lib/**": {"a_one"}}
    assert a.optional == {"/etc/new/", "/run/", "/var/lib/chisel/"}
    assert a.excluded == {"/shared"} and b.excluded == frozenset()
    assert list(b.literals) == ["/shared"]


# -- fidelity ----------------------------------------------------------------


def test_modes_times_and_content_are_kept(tmp_path, write_debs, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1234567")
    debs = write_debs(
        {
            "p": [
                directory("./usr/", mtime=1_500_000_000),
                directory("./usr/bin/", mode=0o750, mtime=1_500_000_001),
                file("./usr/bin/su", "suid", mode=0o4755, mtime=1_500_000_002),
                file("./usr/bin/wall", "sgid", mode=0o2755),
                directory("./tmp/", mode=0o1777, mtime=1_500_000_003),
                symlink("./usr/bin/sh", "dash", mtime=1_500_000_004),
                file("./deep/down/file", "implicit parents"),
            ]
        }
    )
    chosen = selection(
        {
            "p_all": {
                "/usr/bin/su": None,
                "/usr/bin/wall": None,
                "/tmp/": None,
                "/usr/bin/sh": None,
                "/deep/down/file": None,
            }
        }
    )
    root, report = cut(tmp_path, chosen, debs)
    assert (root / "usr/bin/su").read_text() == "suid"
    assert [mode(root / p) for p in ("usr", "usr/bin", "usr/bin/su", "usr/bin/wall", "tmp", "deep", "deep/down")] == [
        0o755,
        0o750,
        0o4755,
        0o2755,
        0o1777,
        0o755,
        0o755,
    ]
    assert [os.lstat(root / p).st_mtime for p in ("usr", "usr/bin", "usr/bin/su", "tmp", "usr/bin/sh")] == [
        1_500_000_000,
        1_500_000_001,
        1_500_000_002,
        1_500_000_003,
        1_500_000_004,
    ]
    assert os.lstat(root / "deep").st_mtime == 1234567
    assert os.readlink(root / "usr/bin/sh") == "dash"
    assert report.entries["/usr/bin/su"].sha256 == hashlib.sha256(b"suid").hexdigest()
    assert (report.entries["/usr/bin/su"].size, report.entries["/usr/bin/sh"].link) == (4, "dash")
    assert [(e.path, e.listed) for e in report.entries.values() if e.kind == "dir"] == [
        ("/usr/", False),
        ("/usr/bin/", False),
        ("/tmp/", True),
        ("/deep/", False),
        ("/deep/down/", False),
    ]


def test_ownership_is_recorded_and_applied_as_root(tmp_path, write_debs):
    debs = write_debs(
        {
            "p": [
                directory("./var/"),
                directory("./var/mail/", mode=0o2775, gid=8),
                file("./var/mail/box", "x", uid=7, gid=8),
                file("./home/u/.profile", "x"),
            ]
        }
    )
    chosen = selection(
        {
            "p_all": {
                "/var/mail/": None,
                "/var/mail/box": None,
                "/home/u/.profile": copy(info="/home/u/.profile", uid=65532, gid=65533),
            }
        }
    )
    root, report = cut(tmp_path, chosen, debs)
    assert [
        (report.entries[p].uid, report.entries[p].gid) for p in ("/var/mail/", "/var/mail/box", "/home/u/.profile")
    ] == [(0, 8), (7, 8), (65532, 65533)]
    if AS_ROOT:
        assert [
            (os.lstat(root / p).st_uid, os.lstat(root / p).st_gid)
            for p in ("var/mail", "var/mail/box", "home/u/.profile")
        ] == [(0, 8), (7, 8), (65532, 65533)]
        assert mode(root / "var/mail") == 0o2775


def test_parents_take_the_package_directory_mode_even_when_listed_after_the_child(tmp_path, write_debs):
    debs = write_debs(
        {
            "p": [
                file("./srv/data/f", "x"),
                directory("./srv/data/", mode=0o700, mtime=99),
                directory("./srv/", mode=0o711, mtime=98),
            ]
        }
    )
    root, report = cut(tmp_path, selection({"p_all": {"/srv/data/f": None}}), debs)
    assert (mode(root / "srv"), mode(root / "srv/data")) == (0o711, 0o700)
    assert (os.lstat(root / "srv").st_mtime, os.lstat(root / "srv/data").st_mtime) == (98, 99)
    assert not report.entries["/srv/data/"].listed


@pytest.mark.parametrize("order", ["child-first", "dir-first"])
def test_a_listed_directory_wins_over_an_implicit_parent_in_any_order(tmp_path, write_debs, order):
    debs = write_debs(
        {
            "a": [directory("./opt/", mode=0o755), directory("./opt/a/", mode=0o711), file("./opt/a/x", "a")],
            "b": [directory("./opt/", mode=0o755), directory("./opt/a/", mode=0o700)],
        }
    )
    listed = {"b_dir": {"/opt/a/": None}}
    child = {"a_file": {"/opt/a/x": None}}
    chosen = selection({**child, **listed} if order == "child-first" else {**listed, **child})
    root, report = cut(tmp_path, chosen, debs)
    assert mode(root / "opt/a") == 0o700
    assert report.entries["/opt/a/"].listed and report.entries["/opt/a/"].package == "b"


def test_implicit_parent_from_two_packages_first_in_selection_wins(tmp_path, write_debs):
    debs = write_debs(
        {
            "a": [directory("./srv/", mode=0o750), file("./srv/a", "a")],
            "b": [directory("./srv/", mode=0o700), file("./srv/b", "b")],
        }
    )
    for order, expected in (("ab", 0o750), ("ba", 0o700)):
        chosen = selection({f"{p}_x": {f"/srv/{p}": None} for p in order})
        root, _ = cut(tmp_path, chosen, debs, name=order)
        assert mode(root / "srv") == expected


def test_diverging_implicit_parent_modes_are_reported(tmp_path, write_debs):
    debs = write_debs(
        {
            "a": [directory("./srv/", mode=0o750), file("./srv/a", "a")],
            "b": [directory("./srv/", mode=0o700), file("./srv/b", "b")],
        }
    )
    stream = io.StringIO()
    chosen = selection({"a_x": {"/srv/a": None}, "b_x": {"/srv/b": None}})
    build_from_debs(tmp_path / "root", chosen, debs, console=Console(stream))
    assert (
        "warning: directory /srv/ has mode 0750 in package a and 0700 in package b; keeping 0750" in stream.getvalue()
    )


def test_copy_fans_out_to_several_targets(tmp_path, write_debs):
    debs = write_debs({"p": [file("./usr/share/base/passwd", "root:x:0:0\n", mode=0o600)]})
    chosen = selection(
        {
            "p_all": {
                "/etc/passwd": copy(info="/usr/share/base/passwd"),
                "/etc/passwd-": copy(info="/usr/share/base/passwd"),
            }
        }
    )
    root, report = cut(tmp_path, chosen, debs)
    assert (root / "etc/passwd").read_text() == (root / "etc/passwd-").read_text() == "root:x:0:0\n"
    assert mode(root / "etc/passwd-") == 0o600
    assert not (root / "usr").exists()
    assert report.entries["/etc/passwd"].sha256 == report.entries["/etc/passwd-"].sha256 != ""


def test_globs_match_files_and_directories(tmp_path, write_debs):
    debs = write_debs(
        {
            "p": [
                directory("./usr/"),
                directory("./usr/share/"),
                directory("./usr/share/zoneinfo/"),
                directory("./usr/share/zoneinfo/Europe/"),
                file("./usr/share/zoneinfo/UTC", "u"),
                file("./usr/share/zoneinfo/Europe/Paris", "p"),
                file("./usr/share/other", "o"),
            ]
        }
    )
    root, report = cut(tmp_path, selection({"p_tz": {"/usr/share/zoneinfo/**": glob()}}), debs)
    assert sorted(p for p, e in report.entries.items() if e.listed) == [
        "/usr/share/zoneinfo/",
        "/usr/share/zoneinfo/Europe/",
        "/usr/share/zoneinfo/Europe/Paris",
        "/usr/share/zoneinfo/UTC",
    ]
    assert not (root / "usr/share/other").exists()


def test_arch_and_prefer_skip_paths(tmp_path, write_debs):
    debs = write_debs(
        {
            "a": [file("./lib64/ld.so", "a"), file("./usr/bin/vi", "a-vi"), file("./usr/bin/ex", "a")],
            "b": [file("./usr/bin/vi", "b-vi")],
        }
    )
    chosen = selection(
        {
            "a_all": {
                "/lib64/ld.so": copy(info="/lib64/ld.so", arch=("arm64",)),
                "/usr/bin/vi": copy(info="/usr/bin/vi", prefer="b"),
                "/usr/bin/*": glob(),
            },
            "b_vi": {"/usr/bin/vi": None},
        },
        prefers={"/usr/bin/vi": {"a": "b"}},
    )
    root, report = cut(tmp_path, chosen, debs)
    assert (root / "usr/bin/vi").read_text() == "b-vi"
    assert report.entries["/usr/bin/vi"].slices == {"b_vi"}
    assert (root / "usr/bin/ex").exists() and not (root / "lib64").exists()


# -- hard links --------------------------------------------------------------


def test_hard_links_to_extracted_and_unselected_targets(tmp_path, write_debs):
    debs = write_debs(
        {
            "p": [
                file("./usr/bin/perl5.36", "perl", mode=0o755),
                hardlink("./usr/bin/perl", "./usr/bin/perl5.36"),
                file("./usr/bin/unselected", "content", mode=0o750),
                hardlink("./usr/bin/a", "./usr/bin/unselected"),
                hardlink("./usr/bin/b", "./usr/bin/unselected"),
                symlink("./usr/bin/sym", "perl"),
                hardlink("./usr/bin/symlink-again", "./usr/bin/sym"),
                file("./usr/bin/lonely-target", "lonely"),
                hardlink("./usr/bin/lonely", "./usr/bin/lonely-target"),
            ]
        }
    )
    chosen = selection(
        {
            "p_bins": {
                "/usr/bin/perl5.36": None,
                "/usr/bin/perl": None,
                "/usr/bin/a": None,
                "/usr/bin/b": None,
                "/usr/bin/sym": None,
                "/usr/bin/symlink-again": None,
                "/usr/bin/lonely": None,
            }
        }
    )
    root, report = cut(tmp_path, chosen, debs)
    ino = {
        name: os.lstat(root / "usr/bin" / name).st_ino
        for name in ("perl5.36", "perl", "a", "b", "sym", "symlink-again", "lonely")
    }
    assert ino["perl"] == ino["perl5.36"] and ino["a"] == ino["b"] and ino["sym"] == ino["symlink-again"]
    assert (root / "usr/bin/a").read_text() == "content" and mode(root / "usr/bin/a") == 0o750
    assert not (root / "usr/bin/unselected").exists()
    assert (root / "usr/bin/lonely").read_text() == "lonely"
    groups = {p.rsplit("/", 1)[1]: e.inode for p, e in report.entries.items() if e.kind != "dir"}
    assert groups == {"perl5.36": 1, "perl": 1, "sym": 2, "symlink-again": 2, "a": 3, "b": 3, "lonely": 0}
    assert report.entries["/usr/bin/symlink-again"].link == "perl"
    assert report.entries["/usr/bin/a"].sha256 == report.entries["/usr/bin/b"].sha256 != ""


def test_hard_link_without_its_target(tmp_path, write_debs):
    debs = write_debs({"p": [hardlink("./usr/bin/x", "./usr/bin/missing")]})
    with pytest.raises(
        ExtractError,
        match=r'^cannot create hard link /usr/bin/x from package "p": '
        r"no content at /usr/bin/missing$",
    ):
        cut(tmp_path, selection({"p_x": {"/usr/bin/x": None}}), debs)


def test_hard_link_groups_are_numbered_across_packages(tmp_path, write_debs):
    debs = {
        name: write_debs({name: [file(f"./{name}/t", name), hardlink(f"./{name}/l", f"./{name}/t")]})[name]
        for name in ("first", "second")
    }
    chosen = selection({f"{n}_x": {f"/{n}/t": None, f"/{n}/l": None} for n in ("second", "first")})
    _, report = cut(tmp_path, chosen, debs, workers=2)
    assert [(p, e.inode) for p, e in report.entries.items() if e.kind == "file"] == [
        ("/second/t", 1),
        ("/second/l", 1),
        ("/first/t", 2),
        ("/first/l", 2),
    ]


# -- missing content and refused types ---------------------------------------


def test_every_missing_path_is_named_once(tmp_path, write_debs):
    debs = write_debs({"p": [file("./usr/bin/here", "x")]})
    chosen = selection(
        {"p_x": {"/usr/bin/here": None, "/usr/bin/gone": None, "/usr/lib/**": glob(), "/usr/bin/here/": None}}
    )
    with pytest.raises(ExtractError) as failure:
        cut(tmp_path, chosen, debs)
    assert str(failure.value) == 'package "p" has no content at: /usr/bin/gone, /usr/bin/here/, /usr/lib/**'
    assert not (tmp_path / "root").exists() or list((tmp_path / "root").iterdir()) == []


def test_one_missing_path(tmp_path, write_debs):
    debs = write_debs({"p": [file("./a", "x")]})
    with pytest.raises(ExtractError, match='^package "p" has no content at /b$'):
        cut(tmp_path, selection({"p_x": {"/b": None}}), debs)


def test_missing_deb(tmp_path):
    with pytest.raises(ExtractError, match="^no .deb file was given for package p$"):
        cut(tmp_path, selection({"p_x": {"/b": None}}), {})


@pytest.mark.parametrize("kind", ["chardev", "blockdev", "fifo"])
def test_special_files_are_refused_only_when_selected(tmp_path, write_debs, kind):
    debs = write_debs({"p": [Entry("./dev/thing", kind), file("./etc/ok", "x")]})
    root, _ = cut(tmp_path, selection({"p_ok": {"/etc/ok": None}}), debs, name="fine")
    assert (root / "etc/ok").exists()
    with pytest.raises(
        DebError,
        match=r'^cannot extract /dev/thing from package "p": it is a .*, which slicer '
        r"does not write$",
    ):
        cut(tmp_path, selection({"p_dev": {"/dev/*": glob()}}), debs)
    assert list((tmp_path / "root").iterdir()) == []


def test_reading_stops_once_every_literal_is_found(tmp_path):
    """A package cut short after the wanted entries still works for literals, not for globs."""
    whole = make_deb([file("./wanted", "w"), file("./later", os.urandom(50_000))], compression="none")
    deb = tmp_path / "p.deb"
    deb.write_bytes(whole[: len(whole) - 20_000])
    root, _ = cut(tmp_path, selection({"p_x": {"/wanted": None}}), {"p": deb})
    assert (root / "wanted").read_text() == "w"
    with pytest.raises(DebError, match="has a corrupt data.tar member"):
        cut(tmp_path, selection({"p_x": {"/want*": glob()}}), {"p": deb}, name="other")


# -- inline content ----------------------------------------------------------


def test_inline_content(tmp_path, write_debs, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000123")
    debs = write_debs(
        {
            "base": [
                directory("./run/", mode=0o755, mtime=5),
                directory("./etc/", mode=0o750, mtime=6),
                file("./etc/issue", "Debian"),
            ]
        }
    )
    chosen = selection(
        {
            "base_dirs": {
                "/tmp/": make(mode=0o1777),
                "/run/lock/": make(mode=0o1777),
                "/var/run/": link("/run"),
                "/etc/hostname": text("image\n"),
                "/etc/secret": text("s", mode=0o600),
                "/usr/bin/": make(),
            },
            "base_more": {"/etc/hostname": text("image\n"), "/etc/issue": None},
        }
    )
    root, report = cut(tmp_path, chosen, debs)
    assert (
        mode(root / "tmp"),
        mode(root / "run/lock"),
        mode(root / "etc/hostname"),
        mode(root / "etc/secret"),
        mode(root / "usr/bin"),
    ) == (0o1777, 0o1777, 0o644, 0o600, 0o755)
    assert os.readlink(root / "var/run") == "/run"
    assert (mode(root / "run"), os.lstat(root / "run").st_mtime) == (0o755, 5)
    assert (mode(root / "etc"), os.lstat(root / "etc").st_mtime) == (0o750, 6)
    assert {os.lstat(root / p).st_mtime for p in ("tmp", "run/lock", "etc/hostname", "var", "usr")} == {1700000123}
    assert os.lstat(root / "var/run").st_mtime == 1700000123
    assert report.entries["/etc/hostname"].slices == {"base_dirs", "base_more"}
    assert report.entries["/var/run"].link == "/run" and "/var/run/" not in report.entries
    assert not report.entries["/run/"].listed and not report.entries["/var/"].listed


def test_inline_content_parent_from_a_package_shipping_it(tmp_path, write_debs):
    debs = write_debs({"p": [directory("./parent/", mode=0o1777), file("./other", "x")]})
    root, _ = cut(tmp_path, selection({"p_x": {"/parent/new": text("new")}}), debs)
    assert mode(root / "parent") == 0o1777


def test_make_wins_over_an_implicit_parent(tmp_path, write_debs):
    debs = write_debs({"p": [directory("./srv/", mode=0o755), file("./srv/f", "x")]})
    root, _ = cut(tmp_path, selection({"p_x": {"/srv/f": None}, "q_y": {"/srv/": make(mode=0o700)}}), debs)
    assert mode(root / "srv") == 0o700


def test_inline_symlinks_come_first_and_package_content_lands_through_them(tmp_path, write_debs):
    debs = write_debs({"p": [directory("./lib/"), file("./lib/x", "x")]})
    root, _ = cut(tmp_path, selection({"p_x": {"/lib/x": None}, "q_links": {"/lib": link("usr/lib")}}), debs)
    assert os.readlink(root / "lib") == "usr/lib"
    assert (root / "usr/lib/x").read_text() == "x"


def test_inline_symlink_over_something_else_fails(tmp_path, write_debs):
    debs = write_debs({"p": [directory("./lib/"), file("./lib/x", "x")]})
    root, _ = cut(tmp_path, selection({"p_x": {"/lib/x": None}}), debs)
    message = rf"^cannot cut into {root}: it already holds different content at /lib; pass --overwrite"
    with pytest.raises(RootError, match=message):
        cut(tmp_path, selection({"p_x": {"/lib/x": None}, "q_links": {"/lib": link("usr/lib")}}), debs)
    assert not (root / "lib").is_symlink() and (root / "lib/x").read_text() == "x"


def test_source_date_epoch_must_be_a_number(tmp_path, write_debs, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    debs = write_debs({"p": [file("./a", "x")]})
    with pytest.raises(Exception, match="^SOURCE_DATE_EPOCH must be a whole number of seconds, not 'yesterday'$"):
        cut(tmp_path, selection({"p_x": {"/a": None}}), debs)


# -- until: mutate -----------------------------------------------------------


def test_until_removes_only_what_every_listing_slice_marks(tmp_path, write_debs):
    debs = write_debs(
        {
            "p": [
                directory("./usr/share/base/"),
                file("./usr/share/base/passwd", "p"),
                file("./usr/share/base/group", "g"),
                directory("./usr/share/keep/"),
                file("./usr/share/keep/a", "a"),
                file("./usr/share/keep/b", "b"),
                file("./one", "1"),
                hardlink("./two", "./one"),
                hardlink("./three", "./one"),
            ]
        }
    )
    chosen = selection(
        {
            "p_data": {
                "/usr/share/base/": copy(info="/usr/share/base/", until="mutate"),
                "/usr/share/base/**": glob(until="mutate"),
                "/usr/share/keep/**": glob(until="mutate"),
                "/one": None,
                "/two": copy(info="/two", until="mutate"),
                "/three": None,
            },
            "p_keep": {"/usr/share/keep/a": None},
        }
    )
    root, report = cut(tmp_path, chosen, debs)
    assert not (root / "usr/share/base").exists() and (root / "usr/share").is_dir()
    assert sorted(p.name for p in (root / "usr/share/keep").iterdir()) == ["a"]
    assert "/usr/share/keep/" in report.entries and "/usr/share/keep/b" not in report.entries
    assert "/usr/share/base/" not in report.entries and "/usr/share/" in report.entries
    assert not (root / "two").exists()
    assert (report.entries["/one"].inode, report.entries["/three"].inode) == (1, 1)


def test_until_listings_own_nothing_in_the_manifest(tmp_path, write_debs):
    """A slice owns a path through a listing that is not `until: mutate`; inline content is owned
    by every slice listing it once one keeps it; a surviving `until` directory is owned by none."""
    debs = write_debs(
        {
            "p": [
                directory("./dir/"),
                file("./dir/file", "f"),
                directory("./dir/nested/"),
                file("./dir/nested/file", "n"),
                directory("./keep/"),
                file("./keep/x", "x"),
            ]
        }
    )
    chosen = selection(
        {
            "p_one": {
                "/dir/**": glob(until="mutate"),
                "/file": text("foo", until="mutate"),
                "/keep/": copy(info="/keep/", until="mutate"),
            },
            "p_two": {"/dir/nested/**": glob(), "/file": text("foo"), "/keep/x": None},
        }
    )
    root, report = cut(tmp_path, chosen, debs)
    owners = {path: entry.slices for path, entry in report.entries.items() if entry.listed}
    assert owners == {
        "/dir/nested/": {"p_two"},
        "/dir/nested/file": {"p_two"},
        "/file": {"p_one", "p_two"},
        "/keep/x": {"p_two"},
    }
    # Gone from the tree: what only `until` listings kept; still there: non-empty directories.
    assert not (root / "dir/file").exists()
    assert (root / "dir/nested/file").exists() and (root / "keep").is_dir()


# -- determinism -------------------------------------------------------------


def many_packages(write_debs) -> tuple:
    packages = {}
    for index in range(8):
        name = f"pkg{index}"
        packages[name] = [
            directory("./usr/", mode=0o755, mtime=index),
            directory("./usr/lib/", mode=0o750 + index, mtime=index),
            file(f"./usr/lib/{name}.so", os.urandom(20_000), mode=0o644, mtime=1000 + index),
            directory(f"./usr/share/doc/{name}/", mtime=index),
            file(f"./usr/share/doc/{name}/copyright", name),
        ]
    packages["pkg0"].append(symlink("./lib", "usr/lib"))
    packages["pkg5"].append(file("./lib/late.so", "through the link"))
    chosen = selection(
        {
            f"{name}_libs": {
                f"/usr/lib/{name}.so": None,
                f"/usr/share/doc/{name}/**": glob(),
                **({"/lib": None} if name == "pkg0" else {}),
                **({"/lib/late.so": None} if name == "pkg5" else {}),
            }
            for name in packages
        }
    )
    return chosen, write_debs(packages)


def test_parallel_extraction_is_deterministic_and_reproducible(tmp_path, write_debs):
    chosen, debs = many_packages(write_debs)
    results = [
        cut(tmp_path, chosen, debs, workers=workers, name=f"root{run}") for run, workers in enumerate((1, 8, 3, 8))
    ]
    listings = [listing(root) for root, _ in results]
    reports = [list(report.entries.values()) for _, report in results]
    assert all(found == listings[0] for found in listings)
    assert all(found == reports[0] for found in reports)
    root = results[0][0]
    assert mode(root / "usr/lib") == 0o750
    assert (root / "usr/lib/late.so").read_text() == "through the link"


def cached_debs(cache: Cache, debs: dict[str, Path]) -> dict[str, Path]:
    """The packages stored as the cache's blobs, as a cut finds them after fetching: read through copies."""
    stored = {}
    for name, deb in debs.items():
        data = deb.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        stored[name] = cache.obtain(digest, len(data), lambda writer, data=data: writer.write(data), str(deb))
    return stored


def test_cached_copies_give_the_same_tree_and_later_cuts_read_only_them(tmp_path, write_debs):
    chosen, debs = many_packages(write_debs)
    cache = Cache(tmp_path / "cache")
    stored = cached_debs(cache, debs)
    plain = cut(tmp_path, chosen, debs, name="plain")
    first = cut(tmp_path, chosen, stored, name="first", cache=cache)
    copies = [cache.derived(deb.name, DATA_COPY) for deb in stored.values()]
    assert all(copy is not None for copy in copies)
    for deb in stored.values():
        deb.write_bytes(b"no longer a package")
    second = cut(tmp_path, chosen, stored, name="second", workers=1, cache=cache)
    assert listing(first[0]) == listing(second[0]) == listing(plain[0])
    assert list(first[1].entries.values()) == list(second[1].entries.values()) == list(plain[1].entries.values())


@pytest.mark.parametrize("kind", [DATA_COPY, DATA_INDEX])
def test_a_damaged_copy_or_index_is_made_again_from_the_package(tmp_path, write_debs, kind):
    debs = write_debs({"p": [file("./srv/f", os.urandom(50_000)), file("./srv/g", "g")]})
    chosen = selection({"p_x": {"/srv/f": None, "/srv/g": None}})
    cache = Cache(tmp_path / "cache")
    stored = cached_debs(cache, debs)
    cut(tmp_path, chosen, stored, name="first", cache=cache)
    blob = cache.derived(stored["p"].name, kind)
    good = blob.read_bytes()
    blob.write_bytes(good[:-10])
    root, _ = cut(tmp_path, chosen, stored, name="second", cache=cache)
    assert listing(root) == listing(tmp_path / "first")
    remade = cache.derived(stored["p"].name, kind)
    assert remade is not None and remade.read_bytes() == good


def test_a_cache_that_cannot_keep_copies_still_serves_its_packages(tmp_path, write_debs):
    debs = write_debs({"p": [file("./srv/f", "content")]})
    cache = Cache(tmp_path / "cache")
    stored = cached_debs(cache, debs)
    for deb in stored.values():  # folders where the cache wants to record its copies
        for kind in (DATA_COPY, DATA_INDEX):
            (tmp_path / "cache" / "derived" / f"{deb.name}.{kind}").mkdir(parents=True)
    root, _ = cut(tmp_path, selection({"p_x": {"/srv/f": None}}), stored, cache=cache)
    assert (root / "srv/f").read_text() == "content"


def test_a_later_package_may_ship_the_same_file_but_not_a_different_one(tmp_path, write_debs):
    debs = write_debs(
        {
            "a": [file("./etc/shared", "same"), file("./etc/other", "a")],
            "b": [file("./etc/shared", "same"), file("./etc/other", "b")],
        }
    )
    root, report = cut(tmp_path, selection({"a_x": {"/etc/shared": None}, "b_x": {"/etc/shared": None}}), debs)
    assert (root / "etc/shared").read_text() == "same"
    assert report.entries["/etc/shared"].slices == {"a_x", "b_x"}
    with pytest.raises(RootError, match=r'^package "b" has content at /etc/other that differs'):
        cut(tmp_path, selection({"a_x": {"/etc/other": None}, "b_x": {"/etc/other": None}}), debs, name="other")
    assert list((tmp_path / "other").iterdir()) == []


def test_a_package_lands_through_an_inline_link_and_names_its_parents_as_it_ships_them(tmp_path, write_debs):
    """bookworm's libc6 ships both /lib/<triplet>/ and /usr/lib/<triplet>/; under a
    /lib -> usr/lib link both land in one directory, with the package's mode and mtime."""
    debs = write_debs(
        {
            "libc6": [
                directory("./lib/"),
                directory("./lib/x86_64-linux-gnu/", mode=0o751, mtime=7),
                file("./lib/x86_64-linux-gnu/libc.so.6", "libc"),
                file("./usr/lib/x86_64-linux-gnu/gconv/UTF-16.so", "gconv"),
            ]
        }
    )
    chosen = selection(
        {
            "base_x": {"/lib": link("usr/lib")},
            "libc6_x": {"/lib/x86_64-linux-gnu/libc.so.6": None, "/usr/lib/x86_64-linux-gnu/gconv/UTF-16.so": None},
        }
    )
    root, report = cut(tmp_path, chosen, debs)
    assert os.readlink(root / "lib") == "usr/lib"
    assert (root / "usr/lib/x86_64-linux-gnu/libc.so.6").read_text() == "libc"
    assert (root / "usr/lib/x86_64-linux-gnu/gconv/UTF-16.so").read_text() == "gconv"
    parent = report.entries["/lib/x86_64-linux-gnu/"]
    assert (parent.package, parent.mode, parent.mtime, parent.listed) == ("libc6", 0o751, 7, False)
    assert (mode(root / "usr/lib/x86_64-linux-gnu"), os.lstat(root / "usr/lib/x86_64-linux-gnu").st_mtime) == (0o751, 7)


def test_a_later_package_cannot_turn_a_directory_into_a_symlink(tmp_path, write_debs):
    debs = write_debs({"a": [file("./lib/x", "x")], "b": [symlink("./lib", "usr/lib")]})
    with pytest.raises(RootError, match=r'^package "b" has content at /lib that differs'):
        cut(tmp_path, selection({"a_x": {"/lib/x": None}, "b_x": {"/lib": None}}), debs)


def test_a_second_cut_extends_the_root_and_a_failed_one_leaves_it_alone(tmp_path, write_debs):
    debs = write_debs({"a": [directory("./etc/"), file("./etc/a", "a")], "b": [file("./etc/b", "b")]})
    root, _ = cut(tmp_path, selection({"a_x": {"/etc/a": None}}), debs)
    first = listing(root)
    cut(tmp_path, selection({"a_x": {"/etc/a": None}, "b_x": {"/etc/b": None}}), debs)
    second = listing(root)
    assert [row for row in second if row[0] != "/etc/b"] == first
    with pytest.raises(ExtractError):
        cut(tmp_path, selection({"b_x": {"/etc/b": None, "/etc/c": None}}), debs)
    assert listing(root) == second


# -- safety ------------------------------------------------------------------


@pytest.mark.parametrize(
    "entries",
    [
        [file("./../outside/evil", "x")],
        [file("/outside/evil", "x")],
        [file("./etc/passwd", "x"), hardlink("./evil", "../outside/precious")],
        [hardlink("./evil", "/etc/shadow")],
    ],
)
def test_hostile_names_are_refused(tmp_path, write_debs, outside, entries):
    debs = write_debs({"p": entries})
    # The package is named, not the file it was read from.
    with pytest.raises(DebError, match='^package "p" holds an? .*, which slicer refuses$'):
        cut(tmp_path, selection({"p_x": {"/**": glob()}}), debs)
    assert untouched(outside)
    assert list((tmp_path / "root").iterdir()) == []


@pytest.mark.parametrize("target", ["/", "../../../../../../..", "OUTSIDE"])
def test_package_symlinks_cannot_lead_writes_out(tmp_path, write_debs, outside, target):
    target = str(outside) if target == "OUTSIDE" else target
    debs = write_debs(
        {
            "a": [directory("./var/"), symlink("./var/run", target), file("./var/run/precious", "a")],
            "b": [file("./var/run/evil", "b")],
        }
    )
    chosen = selection({"a_x": {"/var/run": None, "/var/run/precious": None}, "b_x": {"/var/run/evil": None}})
    root, _ = cut(tmp_path, chosen, debs)
    assert untouched(outside)
    assert rootfs.resolve(root, "/var/run/evil").read_text() == "b"
    assert rootfs.resolve(root, "/var/run/evil").is_relative_to(root)


def test_symlinks_already_in_the_root_cannot_lead_writes_out(tmp_path, write_debs, outside):
    root = tmp_path / "root"
    (root / "var").mkdir(parents=True)
    os.symlink(str(outside), root / "var" / "run")
    os.symlink("../../../../../..", root / "etc")
    debs = write_debs({"p": [file("./var/run/precious", "p"), file("./etc/passwd", "p")]})
    cut(tmp_path, selection({"p_x": {"/var/run/precious": None, "/etc/passwd": None}}), debs)
    assert untouched(outside)
    assert rootfs.resolve(root, "/var/run/precious").read_text() == "p"
    assert (root / "passwd").read_text() == "p"


def test_inline_symlink_then_text_below_it_stays_inside(tmp_path, write_debs, outside):
    debs = write_debs({"p": [file("./a", "a")]})
    chosen = selection({"p_x": {"/a": None, "/var/run/": link(str(outside)), "/var/run/precious": text("cut")}})
    root, _ = cut(tmp_path, chosen, debs)
    assert untouched(outside)
    assert rootfs.resolve(root, "/var/run/precious").read_text() == "cut"


# -- a real release ----------------------------------------------------------


def test_cut_from_a_loaded_release(tmp_path, write_debs, make_release):
    release = load_release(
        str(
            make_release(
                {
                    "base-files.yaml": """\
            package: base-files
            slices:
              base:
                contents:
                  /etc/debian_version:
                  /tmp/: {make: true, mode: 01777}
                  /usr/share/common-licenses/**:
              release:
                essential:
                  base-files_base: {}
                contents:
                  /etc/os-release: {text: "ID=debian\\n"}
            """,
                }
            )
        )
        + "/"
    )
    debs = write_debs(
        {
            "base-files": [
                directory("./etc/"),
                file("./etc/debian_version", "12.5\n"),
                directory("./usr/share/common-licenses/"),
                file("./usr/share/common-licenses/GPL", "gpl"),
            ]
        }
    )
    chosen = select(release, [SliceKey("base-files", "release")], "amd64")
    root, report = cut(tmp_path, chosen, debs)
    assert (root / "etc/debian_version").read_text() == "12.5\n"
    assert (root / "etc/os-release").read_text() == "ID=debian\n"
    assert mode(root / "tmp") == 0o1777
    assert sorted(p for p, e in report.entries.items() if e.listed) == [
        "/etc/debian_version",
        "/etc/os-release",
        "/tmp/",
        "/usr/share/common-licenses/",
        "/usr/share/common-licenses/GPL",
    ]


# -- real packages -----------------------------------------------------------


def without_directory_times(rows: list[tuple]) -> list[tuple]:
    """dpkg-deb -x leaves directories with the time of extraction; slicer keeps the package's."""
    return [row[:5] + ((0,) if row[1] == stat.S_IFDIR else (row[5],)) + row[6:] for row in rows]


@pytest.mark.network
@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb is not installed")
def test_real_packages_come_out_as_dpkg_deb_extracts_them(tmp_path, host_mirrors, network_cache):
    release = load_release("debian-12")
    client = ArchiveClient(release, "amd64", mirrors=host_mirrors(release), cache=network_cache, console=QUIET)
    debs = client.fetch(client.resolve(["base-files", "libc6", "tzdata"]).values())
    for name, deb in debs.items():
        root, report = cut(tmp_path, selection({f"{name}_all": {"/**": glob()}}), {name: deb}, name=name)
        reference = tmp_path / f"{name}-dpkg"
        subprocess.run(["dpkg-deb", "-x", deb, reference], check=True)
        assert without_directory_times(listing(root)) == without_directory_times(listing(reference))
        assert all(entry.listed for entry in report.entries.values())
