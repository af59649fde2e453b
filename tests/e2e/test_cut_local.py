"""Whole cuts through the CLI against a local signed archive on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
import zstandard

from slicer.cli import main
from tests.helpers.debs import DebSpec, directory, file, hardlink

SLICES = {
    "base-files.yaml": """\
        package: base-files
        essential:
          base-files_copyright: null
        slices:
          base:
            hint: Directories and /tmp
            contents:
              /etc/:
              /tmp/: {make: true, mode: 01777}
              /var/run: {symlink: /run}
              /run/:
          status:
            contents:
              /var/lib/dpkg/status.d/**: {generate: dpkg-status}
          chisel:
            contents:
              /var/lib/chisel/**: {generate: manifest}
          merged-usr:
            contents:
              /lib: {symlink: usr/lib}
          copyright:
            contents:
              /usr/share/doc/base-files/copyright:
        """,
    "libhello.yaml": """\
        package: libhello
        slices:
          libs:
            essential:
              base-files_merged-usr: null
            contents:
              /lib/x86_64-linux-gnu/libhello.so.1:
        """,
    "hello.yaml": """\
        package: hello
        slices:
          bins:
            essential:
              base-files_base: null
            contents:
              /usr/bin/hello:
              /usr/bin/hello-again:
              /usr/bin/su-hello:
              /usr/share/hello/data:
              /etc/hello.conf: {text: "greeting=hi\\n", mutable: true}
              /usr/share/hello/parts/: {until: mutate}
              /usr/share/hello/parts/*: {until: mutate}
            mutate: |
              parts = content.list("/usr/share/hello/parts/")
              content.write("/etc/hello.conf", "".join([content.read("/usr/share/hello/parts/" + p) for p in parts]))
        """,
}


def debs() -> list[DebSpec]:
    base = DebSpec(
        "base-files",
        "12.4",
        "amd64",
        [
            directory("./etc/"),
            directory("./run/"),
            directory("./tmp/", 0o1777),
            directory("./usr/"),
            directory("./usr/share/"),
            directory("./usr/share/doc/"),
            directory("./usr/share/doc/base-files/"),
            file("./usr/share/doc/base-files/copyright", "MIT\n"),
        ],
    )
    hello = DebSpec(
        "hello",
        "2.10-3",
        "amd64",
        [
            directory("./usr/"),
            directory("./usr/bin/", 0o755),
            file("./usr/bin/hello", b"\x7fELFhello", 0o755),
            hardlink("./usr/bin/hello-again", "./usr/bin/hello"),
            file("./usr/bin/su-hello", b"setuid", 0o4755),
            directory("./usr/share/"),
            directory("./usr/share/hello/"),
            file("./usr/share/hello/data", "d\n"),
            directory("./usr/share/hello/parts/"),
            file("./usr/share/hello/parts/b", "two\n"),
            file("./usr/share/hello/parts/a", "one\n"),
        ],
    )
    libhello = DebSpec(
        "libhello",
        "2.10-3",
        "amd64",
        [
            directory("./lib/"),
            directory("./lib/x86_64-linux-gnu/"),
            file("./lib/x86_64-linux-gnu/libhello.so.1", b"\x7fELFlib", 0o644),
        ],
    )
    motd = DebSpec("motd", "1.0", "amd64", [directory("./etc/", 0o750), directory("./etc/motd.d/", 0o750)])
    return [base, hello, libhello, motd]


def tree(root: Path) -> list[tuple]:
    """A full listing: path, type, mode, owner, mtime, size, sha256 (or link target)."""
    listing = []
    for folder, dirs, files in os.walk(root):
        for name in sorted(dirs + files):
            path = Path(folder, name)
            info = path.lstat()
            content = (
                os.readlink(path)
                if stat.S_ISLNK(info.st_mode)
                else hashlib.sha256(path.read_bytes()).hexdigest()
                if stat.S_ISREG(info.st_mode)
                else ""
            )
            listing.append(
                (
                    str(path.relative_to(root)),
                    stat.S_IFMT(info.st_mode),
                    stat.S_IMODE(info.st_mode),
                    info.st_uid,
                    info.st_gid,
                    info.st_mtime_ns,
                    info.st_size if not stat.S_ISDIR(info.st_mode) else 0,
                    content,
                )
            )
    return sorted(listing)


def cut_arguments(release: str, root: Path, *slices: str, extra: tuple[str, ...] = ()) -> list[str]:
    """The command line of `cut`, after the program name."""
    # Each test's archive has its own cache (release.rstrip("/") is unique per test).
    cache = Path(release.rstrip("/")).parent / "cache"
    return [
        "-q",
        "cut",
        "--release",
        release,
        "--arch",
        "amd64",
        "--root",
        str(root),
        "--cache-dir",
        str(cache),
        *extra,
        *slices,
    ]


def cut(release: str, root: Path, *slices: str, extra: tuple[str, ...] = ()) -> int:
    return main(cut_arguments(release, root, *slices, extra=extra))


def test_cut_writes_exactly_the_selected_paths(local_release, tmp_path, capsys):
    _, release = local_release
    root = tmp_path / "root"
    sbom = tmp_path / "sbom.spdx.json"
    assert (
        cut(
            release, root, "hello_bins", "base-files_status", "base-files_chisel", extra=("--json", "--sbom", str(sbom))
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert {p["name"]: p["version"] for p in summary["packages"]} == {"base-files": "12.4", "hello": "2.10-3"}
    assert (root / "usr/bin/hello").read_bytes() == b"\x7fELFhello"
    assert os.path.samefile(root / "usr/bin/hello", root / "usr/bin/hello-again")
    assert stat.S_IMODE((root / "usr/bin/su-hello").stat().st_mode) == 0o4755
    assert stat.S_IMODE((root / "tmp").stat().st_mode) == 0o1777
    assert os.readlink(root / "var/run") == "/run"
    # The mutate script joined the parts in name order; the parts are gone, their directory too.
    assert (root / "etc/hello.conf").read_text() == "one\ntwo\n"
    assert not (root / "usr/share/hello/parts").exists()
    assert (root / "usr/share/hello/data").exists()
    # Only what was asked: the package's other files are absent.
    assert sorted(p.name for p in (root / "usr/share/doc").iterdir()) == ["base-files"]
    # Scanner visibility: status entry and md5sums of the shipped files only.
    status = (root / "var/lib/dpkg/status.d/hello").read_text()
    assert "Package: hello" in status and "Version: 2.10-3" in status
    md5sums = (root / "var/lib/dpkg/status.d/hello.md5sums").read_text()
    assert "usr/bin/hello\n" in md5sums and "parts" not in md5sums
    wall = zstandard.ZstdDecompressor().stream_reader((root / "var/lib/chisel/manifest.wall").open("rb")).read()
    assert b'{"kind":"slice","name":"hello_bins"}' in wall
    assert not any(p.name.startswith(".slicer-staging") for p in root.iterdir())
    document = json.loads(sbom.read_text())
    assert document["spdxVersion"] == "SPDX-2.3"
    assert {p["name"]: p["versionInfo"] for p in document["packages"]} == {"base-files": "12.4", "hello": "2.10-3"}


def test_recut_is_identical_and_idempotent(local_release, tmp_path):
    _, release = local_release
    first, second = tmp_path / "one", tmp_path / "two"
    os.environ["SOURCE_DATE_EPOCH"] = "1700000000"
    try:
        assert cut(release, first, "hello_bins", "base-files_chisel") == 0
        assert cut(release, second, "hello_bins", "base-files_chisel") == 0
        before = tree(first)
        assert before == tree(second)
        assert cut(release, first, "hello_bins", "base-files_chisel") == 0
        assert tree(first) == before
    finally:
        del os.environ["SOURCE_DATE_EPOCH"]


def test_cutting_again_into_a_root_with_status_entries_keeps_their_md5sums(local_release, tmp_path):
    _, release = local_release
    root = tmp_path / "root"
    assert cut(release, root, "hello_bins", "base-files_status") == 0
    md5sums = (root / "var/lib/dpkg/status.d/hello.md5sums").read_bytes()
    assert cut(release, root, "hello_bins", "base-files_status", "base-files_copyright") == 0
    assert (root / "var/lib/dpkg/status.d/hello.md5sums").read_bytes() == md5sums
    base_files = (root / "var/lib/dpkg/status.d/base-files.md5sums").read_text()
    assert "usr/share/doc/base-files/copyright\n" in base_files


def test_extending_a_root_merges_the_manifest(local_release, tmp_path):
    _, release = local_release
    root = tmp_path / "root"
    assert cut(release, root, "base-files_base", "base-files_chisel") == 0
    assert cut(release, root, "hello_bins", "base-files_chisel") == 0
    wall = zstandard.ZstdDecompressor().stream_reader((root / "var/lib/chisel/manifest.wall").open("rb")).read()
    assert b'"name":"hello_bins"' in wall and b'"name":"base-files_base"' in wall


def test_extending_a_root_keeps_each_package_record(local_release, tmp_path):
    _, release = local_release
    root = tmp_path / "root"
    status = root / "var/lib/dpkg/status.d"
    assert cut(release, root, "base-files_base", "base-files_status") == 0
    base_sums = (status / "base-files.md5sums").read_text()
    # Records stay true whether or not a later cut names their slice: a root holding them
    # selects it again, so a manifest written alongside lists the records too.
    assert cut(release, root, "libhello_libs", "base-files_status") == 0
    assert cut(release, root, "hello_bins", "base-files_chisel") == 0
    assert sorted(path.name for path in status.iterdir()) == [
        "base-files",
        "base-files.md5sums",
        "hello",
        "hello.md5sums",
        "libhello",
        "libhello.md5sums",
    ]
    assert (status / "base-files.md5sums").read_text() == base_sums
    assert "usr/bin/hello\n" in (status / "hello.md5sums").read_text()
    wall = zstandard.ZstdDecompressor().stream_reader((root / "var/lib/chisel/manifest.wall").open("rb")).read()
    assert b'{"kind":"slice","name":"base-files_status"}' in wall
    assert b"/var/lib/dpkg/status.d/hello.md5sums" in wall


def test_a_recut_replaces_a_stale_md5sum(local_release, tmp_path):
    _, release = local_release
    root = tmp_path / "root"
    assert cut(release, root, "hello_bins", "base-files_status") == 0
    sums = root / "var/lib/dpkg/status.d/hello.md5sums"
    fresh = sums.read_text()
    stale = fresh.replace(hashlib.md5(b"\x7fELFhello").hexdigest(), "0" * 32)
    assert stale != fresh
    sums.write_text(stale + "00000000000000000000000000000000  usr/share/hello/gone\n")
    assert cut(release, root, "hello_bins", "base-files_status", extra=("--overwrite",)) == 0
    # This cut's sum wins for a file both list; what only the earlier cut listed stays.
    assert sums.read_text() == "".join(
        sorted(
            [*fresh.splitlines(keepends=True), "0" * 32 + "  usr/share/hello/gone\n"],
            key=lambda line: line.split("  ", 1)[1],
        )
    )


def test_different_existing_content_fails_before_writing(local_release, tmp_path, capsys):
    _, release = local_release
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/hello").write_text("mine")
    before = tree(root)
    assert cut(release, root, "hello_bins") == 1
    assert "/usr/bin/hello" in capsys.readouterr().err
    assert tree(root) == before
    assert cut(release, root, "hello_bins", extra=("--overwrite",)) == 0
    assert (root / "usr/bin/hello").read_bytes() == b"\x7fELFhello"


def test_corrupt_package_leaves_no_root(local_release, tmp_path, capsys):
    from tests.helpers import testarchive

    archive, release = local_release
    archive.server.inject(archive.path(archive.deb("hello")), testarchive.flip(100))
    root = tmp_path / "fresh"
    assert cut(release, root, "hello_bins") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    assert not root.exists()


def test_lock_round_trip(local_release, tmp_path):
    _archive, release = local_release
    lock = tmp_path / "slicer.lock"
    assert cut(release, tmp_path / "a", "hello_bins", extra=("--lock", str(lock))) == 0
    data = json.loads(lock.read_text())
    assert data["packages"]["hello"]["version"] == "2.10-3"
    assert cut(release, tmp_path / "b", "hello_bins", extra=("--locked", str(lock))) == 0
    assert tree(tmp_path / "a") == tree(tmp_path / "b")
    data["packages"]["hello"]["sha256"] = "0" * 64
    lock.write_text(json.dumps(data))
    assert cut(release, tmp_path / "c", "hello_bins", extra=("--locked", str(lock))) == 1


def test_offline_cut_uses_only_the_cache(local_release, tmp_path, capsys):
    archive, release = local_release
    assert cut(release, tmp_path / "warm", "hello_bins") == 0
    archive.server.close()  # offline must not need the server
    assert cut(release, tmp_path / "offline", "hello_bins", extra=("--offline",)) == 0
    assert tree(tmp_path / "offline") == tree(tmp_path / "warm")
    capsys.readouterr()
    empty = ["--offline", "--cache-dir", str(tmp_path / "empty-cache")]
    # The later --cache-dir wins: an empty cache.
    assert main(cut_arguments(release, tmp_path / "cold", "hello_bins", extra=tuple(empty))) == 1
    err = capsys.readouterr().err
    assert "offline" in err and "bookworm" in err


def test_mirror_flag_overrides_the_release_url(local_release, tmp_path, capsys):
    archive, release = local_release
    chisel = Path(release) / "chisel.yaml"
    chisel.write_text(chisel.read_text().replace(archive.url, "http://127.0.0.1:9/nowhere"))
    assert cut(release, tmp_path / "root", "hello_bins", extra=("--mirror", f"debian={archive.url}")) == 0
    with pytest.raises(SystemExit) as exited:
        cut(release, tmp_path / "bad", "hello_bins", extra=("--mirror", "nonsense"))
    assert exited.value.code == 2
    assert "--mirror expects ARCHIVE=URL" in capsys.readouterr().err


def test_package_paths_land_through_a_merged_usr_link(local_release, tmp_path):
    _, release = local_release
    root = tmp_path / "root"
    assert cut(release, root, "libhello_libs") == 0
    assert os.readlink(root / "lib") == "usr/lib"
    assert (root / "usr/lib/x86_64-linux-gnu/libhello.so.1").read_bytes() == b"\x7fELFlib"
    # Cutting again into the merged tree changes nothing.
    before = tree(root)
    assert cut(release, root, "libhello_libs") == 0
    assert tree(root) == before


def test_a_slice_with_only_inline_content(local_release, tmp_path):
    """The package is still read: its directory gives the inline file's parent its mode."""
    _, release = local_release
    (Path(release) / "slices" / "motd.yaml").write_text(
        "package: motd\nslices:\n  data:\n    contents:\n      /etc/motd.d/welcome: {text: hi}\n"
    )
    root = tmp_path / "root"
    assert cut(release, root, "motd_data") == 0
    assert (root / "etc/motd.d/welcome").read_text() == "hi"
    assert stat.S_IMODE((root / "etc/motd.d").stat().st_mode) == 0o750


def test_a_package_with_only_inline_content_is_in_the_manifest(local_release, tmp_path):
    """Every selected package is recorded, as chisel records it, even when nothing is read from it
    (top-level inline paths have no parent to take a mode from)."""
    _, release = local_release
    (Path(release) / "slices" / "libhello.yaml").write_text(
        "package: libhello\nslices:\n  conf:\n    contents:\n"
        "      /hello.conf: {text: x}\n      /hello-link: {symlink: hello.conf}\n"
    )
    root = tmp_path / "root"
    assert cut(release, root, "libhello_conf", "base-files_chisel", extra=("--lock", str(tmp_path / "lock"))) == 0
    wall = zstandard.ZstdDecompressor().stream_reader((root / "var/lib/chisel/manifest.wall").open("rb")).read()
    packages = [json.loads(line) for line in wall.decode().splitlines() if '"kind":"package"' in line]
    assert [(p["name"], p["version"]) for p in packages] == [("base-files", "12.4"), ("libhello", "2.10-3")]
    assert json.loads((tmp_path / "lock").read_text())["packages"]["libhello"]["version"] == "2.10-3"


PRO_ARCHIVE = (
    "  esm:\n    version: '12'\n    suites: [bookworm-esm]\n    components: [main]\n"
    "    public-keys: [test-key]\n    priority: 20\n    pro: esm-infra\n"
)


def with_archives(release: str, edit) -> None:
    """Rewrite the release's archives section through `edit(text) -> text`."""
    path = Path(release) / "chisel.yaml"
    path.write_text(edit(path.read_text()))


def test_a_pro_archive_is_skipped_with_a_note(local_release, tmp_path, capsys):
    _, release = local_release
    with_archives(
        release,
        lambda text: text.replace("    url:", "    priority: 10\n    url:").replace(
            "public-keys:\n  test-key", PRO_ARCHIVE + "public-keys:\n  test-key", 1
        ),
    )
    assert cut(release, tmp_path / "root", "hello_bins") == 0
    assert (
        'warning: archive "esm" ignored: it is an Ubuntu Pro archive (pro: esm-infra), which needs '
        "credentials slicer does not handle"
    ) in capsys.readouterr().err
    (Path(release) / "slices" / "hello.yaml").write_text(
        (Path(release) / "slices" / "hello.yaml")
        .read_text()
        .replace("package: hello\n", "package: hello\narchive: esm\n")
    )
    assert cut(release, tmp_path / "other", "hello_bins") == 1
    assert (
        'error: package "hello" is pinned to archive "esm", an Ubuntu Pro archive slicer cannot fetch from '
        "(it needs credentials)"
    ) in capsys.readouterr().err


def test_a_release_left_without_archives_fails_when_finding_packages(local_release, tmp_path, capsys):
    _, release = local_release
    with_archives(release, lambda text: text.replace("    url:", "    pro: unknown-value\n    url:"))
    assert cut(release, tmp_path / "root", "hello_bins") == 1
    assert capsys.readouterr().err.strip() == (
        'error: cannot find packages "base-files", "hello" for amd64: '
        "release release has no archive slicer can fetch from"
    )


def test_implicit_parents_with_diverging_modes_are_warned_about(release_of, tmp_path, capsys):
    _, release = release_of(
        [
            DebSpec("one", "1", "amd64", [directory("./"), directory("./parent/", 0o766), file("./parent/foo", "f")]),
            DebSpec("two", "1", "amd64", [directory("./"), directory("./parent/"), file("./parent/bar", "b")]),
        ],
        {
            "one.yaml": "package: one\nslices:\n  data:\n    contents:\n      /parent/foo:\n",
            "two.yaml": "package: two\nslices:\n  data:\n    contents:\n      /parent/bar:\n",
        },
    )
    assert cut(release, tmp_path / "root", "one_data", "two_data") == 0
    assert (
        "warning: directory /parent/ has mode 0766 in package one and 0755 in package two; keeping 0766"
        in capsys.readouterr().err
    )
    assert stat.S_IMODE((tmp_path / "root/parent").stat().st_mode) == 0o766


# -- slicer inspect: what a cut root holds ------------------------------------------------


def inspect(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["inspect", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_inspect_reads_the_manifest_and_verify_finds_every_difference(local_release, tmp_path, capsys):
    _, release = local_release
    root = tmp_path / "root"
    assert cut(release, root, "hello_bins", "base-files_chisel", "base-files_status") == 0
    code, out, _ = inspect(capsys, "--json", "--verify", str(root))
    assert code == 0
    found = json.loads(out)
    assert (found["release"], found["arch"]) == ("debian-12", "amd64")
    assert found["records"] == ["/var/lib/chisel/manifest.wall", "/var/lib/dpkg/status.d/"]
    assert found["packages"] == [
        {"name": "base-files", "version": "12.4", "arch": "amd64"},
        {"name": "hello", "version": "2.10-3", "arch": "amd64"},
    ]
    assert "hello_bins" in found["slices"] and "base-files_chisel" in found["slices"]
    assert (found["changed"], found["added"], found["removed"]) == ([], [], [])
    (root / "usr/share/hello/data").write_text("changed\n")
    (root / "usr/bin/hello").chmod(0o700)
    (root / "usr/bin/hello-again").unlink()
    (root / "etc/extra").write_text("x")
    (root / "opt/new").mkdir(parents=True)
    code, out, _ = inspect(capsys, "--verify", str(root))
    assert code == 1
    assert out.splitlines()[-6:] == [
        f"Verified {found['paths']} recorded paths: 2 changed, 2 added, 1 removed",
        "  changed: /usr/bin/hello (mode)",
        "  changed: /usr/share/hello/data (content)",
        "  added: /etc/extra",
        "  added: /opt/",
        "  removed: /usr/bin/hello-again",
    ]


def test_verify_finds_paths_recorded_through_a_linked_folder_where_they_lie(local_release, tmp_path, capsys):
    _, release = local_release
    root = tmp_path / "root"
    # libhello ships /lib/x86_64-linux-gnu/libhello.so.1, and /lib is base-files' link to usr/lib.
    assert cut(release, root, "libhello_libs", "base-files_chisel") == 0
    assert (root / "usr/lib/x86_64-linux-gnu/libhello.so.1").is_file()
    code, out, _ = inspect(capsys, "--json", "--verify", str(root))
    assert (code, json.loads(out)["added"]) == (0, [])
    (root / "usr/lib/x86_64-linux-gnu/libextra.so").write_text("x")
    code, out, _ = inspect(capsys, "--json", "--verify", str(root))
    assert (code, json.loads(out)["added"]) == (1, ["/usr/lib/x86_64-linux-gnu/libextra.so"])


def test_inspect_reads_status_entries_alone(local_release, tmp_path, capsys, monkeypatch):
    _, release = local_release
    root = tmp_path / "root"
    assert cut(release, root, "hello_bins", "base-files_status") == 0
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = inspect(capsys, str(root))
    assert code == 0
    lines = out.splitlines()
    # The root's long path does not fit 80 columns with the rest: the summary is a list.
    assert lines[:3] == [str(root), "  Release:  debian-12", "  Arch:     amd64"]
    assert "Records: /var/lib/dpkg/status.d/" in lines
    assert lines[-3:] == ["Package     Version  Arch", "base-files  12.4     amd64", "hello       2.10-3   amd64"]
    (root / "usr/share/hello/data").write_text("changed\n")
    code, out, _ = inspect(capsys, "--verify", "--json", str(root))
    assert code == 1 and json.loads(out)["changed"] == ["/usr/share/hello/data (content)"]


def test_inspect_without_records_names_the_slices_that_add_them(tmp_path, capsys):
    (tmp_path / "etc").mkdir()
    code, _, err = inspect(capsys, str(tmp_path))
    assert code == 1
    assert err == (
        f"error: {tmp_path} holds no records of a cut (neither /var/lib/chisel/manifest.wall nor "
        "/var/lib/dpkg/status.d/); cut the slice base-files_chisel (or base-files_dpkg-status) into it "
        "to record what it holds\n"
    )
