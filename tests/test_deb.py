"""Reading .deb files: ar members, every data.tar compression, names, errors."""

from __future__ import annotations

import hashlib
import io
import lzma
import os
import shutil
import subprocess
import tarfile

import pytest

from slicer.deb import CachedData, copy_data, iter_data, read_control, write_index
from slicer.errors import DebError
from tests.helpers.debs import Entry, compress, control_text, directory, file, hardlink, make_deb, make_tar, symlink


def ar(*members: tuple[str, bytes]) -> bytes:
    out = b"!<arch>\n"
    for name, data in members:
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n".encode() + data
        out += b"\n" if len(data) % 2 else b""
    return out


def control_member() -> tuple[str, bytes]:
    return "control.tar.xz", lzma.compress(make_tar([file("./control", control_text("p", "1", "amd64"))]))


ENTRIES = [
    directory("./usr/", mode=0o755),
    directory("./usr/bin/", mode=0o711, mtime=1_600_000_000),
    file("./usr/bin/tool", "#!/bin/sh\n", mode=0o4755, uid=3, gid=4),
    symlink("./usr/bin/alias", "tool"),
    hardlink("./usr/bin/again", "./usr/bin/tool"),
    directory("./tmp/", mode=0o1777),
]


def rows(deb, cached=None) -> list[tuple]:
    return [
        (m.path, m.kind, m.mode, m.uid, m.gid, m.mtime, m.link, m.stream.read() if m.stream else None)
        for m in iter_data(deb, cached)
    ]


def cache_data(deb, tmp_path) -> CachedData:
    """The zstd copy of the data.tar of `deb` and its index, as a cache keeps them."""
    cached = CachedData(tmp_path / "data.tar.zst", tmp_path / "index.json")
    with cached.copy.open("wb") as out:
        copy_data(deb, out)
    with cached.index.open("wb") as out:
        write_index(deb, cached.copy, out)
    return cached


EXPECTED = [
    ("/usr/", "dir", 0o755, 0, 0, 1_700_000_000, "", None),
    ("/usr/bin/", "dir", 0o711, 0, 0, 1_600_000_000, "", None),
    ("/usr/bin/tool", "file", 0o4755, 3, 4, 1_700_000_000, "", b"#!/bin/sh\n"),
    ("/usr/bin/alias", "symlink", 0o777, 0, 0, 1_700_000_000, "tool", None),
    ("/usr/bin/again", "hardlink", 0o644, 0, 0, 1_700_000_000, "/usr/bin/tool", None),
    ("/tmp/", "dir", 0o1777, 0, 0, 1_700_000_000, "", None),
]


@pytest.mark.parametrize("compression", ["xz", "zst", "gz", "bz2", "none"])
def test_every_compression_gives_the_same_entries(tmp_path, compression):
    deb = tmp_path / "p.deb"
    deb.write_bytes(make_deb([*ENTRIES], compression=compression))
    assert rows(deb) == EXPECTED


@pytest.mark.parametrize("compression", ["xz", "gz", "none"])
def test_a_zstd_copy_of_the_data_reads_as_the_package(tmp_path, compression):
    deb = tmp_path / "p.deb"
    deb.write_bytes(make_deb([*ENTRIES], compression=compression))
    cached = cache_data(deb, tmp_path)
    deb.write_bytes(b"the copy alone is read")
    assert rows(deb, cached) == EXPECTED


def test_a_damaged_copy_names_the_copy(tmp_path):
    deb = tmp_path / "p.deb"
    deb.write_bytes(make_deb([*ENTRIES, file("./big", os.urandom(100_000))]))
    cached = cache_data(deb, tmp_path)
    data = bytearray(cached.copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    cached.copy.write_bytes(bytes(data))
    with pytest.raises(DebError, match=rf"^{cached.copy} has a corrupt data.tar.zst member: "):
        rows(deb, cached)


def test_copying_a_corrupt_package_fails_naming_it(tmp_path):
    deb, suffix = corrupted_deb(tmp_path, "xz", -1)
    with pytest.raises(DebError, match=rf"^{deb} has a corrupt data.tar{suffix} member: "):
        copy_data(deb, io.BytesIO())


def test_lzma_alone_member(tmp_path):
    deb = tmp_path / "p.deb"
    data = lzma.compress(make_tar(ENTRIES), format=lzma.FORMAT_ALONE)
    deb.write_bytes(ar(("debian-binary", b"2.0\n"), control_member(), ("data.tar.lzma", data)))
    assert rows(deb) == EXPECTED


def test_names_without_leading_dot_are_made_absolute(tmp_path):
    deb = tmp_path / "p.deb"
    deb.write_bytes(
        make_deb(
            [directory("./"), directory("./etc/"), file("etc/x", "1"), hardlink("etc/y", "etc/x")], leading_dot=False
        )
    )
    assert [(m.path, m.link) for m in iter_data(deb)] == [("/etc/", ""), ("/etc/x", ""), ("/etc/y", "/etc/x")]


def test_large_content_streams_intact(tmp_path):
    payload = os.urandom(3 << 20)
    deb = tmp_path / "p.deb"
    deb.write_bytes(make_deb([file("./big", payload)], compression="zst"))
    digest = hashlib.sha256()
    for member in iter_data(deb):
        assert member.size == len(payload)
        while chunk := member.stream.read(65536):
            digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(payload).hexdigest()


def test_unread_content_is_skipped(tmp_path):
    deb = tmp_path / "p.deb"
    deb.write_bytes(make_deb([file("./a", os.urandom(100_000)), file("./b", "second")]))
    members = iter_data(deb)
    next(members)
    assert next(members).stream.read() == b"second"


def test_device_nodes_and_fifos_are_reported_not_refused_while_reading(tmp_path):
    deb = tmp_path / "p.deb"
    deb.write_bytes(
        make_deb([Entry("./dev/null", "chardev"), Entry("./run/fifo", "fifo"), Entry("./dev/sda", "blockdev")])
    )
    assert [(m.path, m.kind) for m in iter_data(deb)] == [
        ("/dev/null", "character device"),
        ("/run/fifo", "FIFO"),
        ("/dev/sda", "block device"),
    ]


def test_read_control(tmp_path):
    deb = tmp_path / "p.deb"
    deb.write_bytes(make_deb([], package="hello", version="2.10-3", arch="arm64"))
    text = read_control(deb)
    assert text.startswith("Package: hello\nVersion: 2.10-3\nArchitecture: arm64\n")


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb is not installed")
@pytest.mark.parametrize("compression", ["xz", "zstd", "gzip", "none"])
def test_packages_built_by_dpkg_deb(tmp_path, compression):
    tree = tmp_path / "tree"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(control_text("built", "1.0", "all"))
    (tree / "usr" / "bin").mkdir(parents=True)
    (tree / "usr" / "bin" / "prog").write_bytes(b"\x7fELF" + os.urandom(5000))
    (tree / "usr" / "bin" / "prog").chmod(0o2755)
    (tree / "usr" / "bin" / "link").symlink_to("prog")
    deb = tmp_path / "built.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", f"-Z{compression}", "--build", tree, deb], check=True, capture_output=True
    )
    listed = subprocess.run(["dpkg-deb", "--fsys-tarfile", deb], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(listed)) as tar:
        expected = [
            ("/" + m.name.removeprefix("./") + ("/" if m.isdir() else ""), m.mode & 0o7777)
            for m in tar
            if m.name not in (".", "./")
        ]
    assert ("/usr/bin/prog", 0o2755) in expected
    assert [(m.path, m.mode) for m in iter_data(deb)] == expected
    assert read_control(deb) == control_text("built", "1.0", "all")


def test_not_an_ar_archive(tmp_path):
    deb = tmp_path / "bad.deb"
    deb.write_bytes(b"PK\x03\x04 definitely a zip")
    with pytest.raises(DebError, match=rf"^{deb} is not a Debian package: it is not an ar archive$"):
        list(iter_data(deb))


def test_missing_file(tmp_path):
    with pytest.raises(DebError, match="^cannot open .*missing.deb: No such file or directory$"):
        list(iter_data(tmp_path / "missing.deb"))


def test_no_data_member(tmp_path):
    deb = tmp_path / "p.deb"
    deb.write_bytes(ar(("debian-binary", b"2.0\n"), control_member()))
    with pytest.raises(DebError, match=rf"^{deb} has no data.tar member$"):
        list(iter_data(deb))


def test_unknown_compression(tmp_path):
    deb = tmp_path / "p.deb"
    deb.write_bytes(ar(("debian-binary", b"2.0\n"), control_member(), ("data.tar.lz4", b"xxxx")))
    with pytest.raises(DebError, match=r"data.tar.lz4 member in a compression slicer does not know"):
        list(iter_data(deb))


def test_broken_ar_header(tmp_path):
    deb = tmp_path / "p.deb"
    good = make_deb([file("./a", "1")])
    deb.write_bytes(good[:8] + b"X" * 60 + good[68:])
    with pytest.raises(DebError, match=r"its ar header at byte 8 is broken"):
        list(iter_data(deb))


def corrupted_deb(tmp_path, compression: str, start: int) -> tuple:
    text = "".join(f"line {n} of a compressible file\n" for n in range(4_000))
    suffix, data = compress(make_tar([file("./a", text), file("./b", "x")]), compression)
    broken = bytearray(data)
    offset = start if start >= 0 else len(broken) // 2
    for index in range(offset, offset + 64):
        broken[index] ^= 0xFF
    deb = tmp_path / "p.deb"
    deb.write_bytes(ar(("debian-binary", b"2.0\n"), control_member(), ("data.tar" + suffix, bytes(broken))))
    return deb, suffix


def read_all(deb) -> None:
    for member in iter_data(deb):
        if member.stream:
            member.stream.read()


@pytest.mark.parametrize("compression", ["xz", "zst", "gz", "bz2"])
def test_corrupt_compression_header_names_the_file(tmp_path, compression):
    deb, suffix = corrupted_deb(tmp_path, compression, 0)
    with pytest.raises(DebError, match=rf"^{deb} has a corrupt data.tar{suffix} member: "):
        read_all(deb)


@pytest.mark.parametrize("compression", ["xz", "gz", "bz2"])
def test_corrupt_compressed_data_is_caught_by_the_stream_checksum(tmp_path, compression):
    deb, suffix = corrupted_deb(tmp_path, compression, -1)
    with pytest.raises(DebError, match=rf"^{deb} has a corrupt data.tar{suffix} member: "):
        read_all(deb)


def test_truncated_package(tmp_path):
    deb = tmp_path / "p.deb"
    whole = make_deb([file("./a", os.urandom(100_000)), file("./b", "x")], compression="gz")
    deb.write_bytes(whole[: len(whole) - 5000])
    with pytest.raises(DebError, match=rf"^{deb} has a corrupt data.tar.gz member: "):
        read_all(deb)


@pytest.mark.parametrize("name", ["./../escape", "./usr/../../escape", "/etc/passwd"])
def test_names_that_could_escape_are_refused(tmp_path, name):
    deb = tmp_path / "p.deb"
    deb.write_bytes(make_deb([file(name, "x")]))
    with pytest.raises(DebError, match=rf"^{deb} holds an? .*{name.lstrip('./')}.*, which slicer refuses$"):
        list(iter_data(deb))


@pytest.mark.parametrize("target", ["../../etc/passwd", "/etc/passwd"])
def test_hard_link_targets_that_could_escape_are_refused(tmp_path, target):
    deb = tmp_path / "p.deb"
    deb.write_bytes(make_deb([hardlink("./x", target)]))
    with pytest.raises(DebError, match=rf"^{deb} holds an? .*hard-link target .*{target}, which slicer refuses$"):
        list(iter_data(deb))


def test_control_missing(tmp_path):
    deb = tmp_path / "p.deb"
    data = lzma.compress(make_tar([file("./md5sums", "")]))
    deb.write_bytes(ar(("debian-binary", b"2.0\n"), ("control.tar.xz", data), ("data.tar", make_tar([]))))
    with pytest.raises(DebError, match=rf"^{deb} has no control file in its control.tar.xz member$"):
        read_control(deb)
