"""manifest.wall: byte-exact jsonwall text, zstd framing, chisel's validation, merging."""

from __future__ import annotations

import io

import pytest
import zstandard

from slicer.cut.manifest import (
    Manifest,
    ManifestPackage,
    ManifestPath,
    build_manifest,
    collect,
    encode,
    merge,
    read_manifest,
)
from slicer.errors import ManifestError
from slicer.report import Entry, Report

H1 = "1" * 64
H2 = "2" * 64
H3 = "3" * 64
HD = "d" * 64
WALL = "/var/lib/chisel/manifest.wall"

PACKAGES = [
    ManifestPackage("base-files", "12.4+deb12u5", HD, "amd64"),
    ManifestPackage("base-passwd", "3.6.1", H3, "amd64"),
]
SLICES = ["base-files_base", "base-files_chisel", "base-passwd_data"]


def small_report() -> Report:
    report = Report()
    report.add(Entry("/etc/", "dir", 0o755, {"base-files_base", "base-passwd_data"}, "base-files"))
    report.add(Entry("/tmp/", "dir", 0o1777, {"base-files_base"}, "base-files"))
    report.add(Entry("/usr/", "dir", 0o755, {"base-files_base"}, "base-files", listed=False))
    report.add(Entry("/usr/bin/su", "file", 0o4755, {"base-files_base"}, "base-files", H1, size=10))
    report.add(Entry("/bin", "symlink", 0o777, {"base-files_base"}, "base-files", link="usr/bin"))
    report.add(Entry("/etc/passwd", "file", 0o644, {"base-passwd_data"}, "base-passwd", H2, H3, size=7))
    report.add(Entry("/etc/group", "file", 0o644, {"base-passwd_data"}, "base-passwd", H2, H2, size=5))
    report.add(Entry("/usr/a&b<c>", "file", 0o600, {"base-files_base"}, "base-files", H1, size=3, inode=4))
    report.add(Entry("/usr/a-hardlink", "file", 0o600, {"base-files_base"}, "base-files", H1, size=3, inode=4))
    report.add(Entry("/usr/lone", "file", 0o644, {"base-files_base"}, "base-files", H1, size=3, inode=2))
    report.add(Entry(WALL, "file", 0o644, {"base-files_chisel"}, "base-files", H1, size=99))
    return report


# Written by hand from the format description: sorted bytewise, Go's field order,
# empty fields left out, setuid dropped, sticky kept, Go's HTML escapes.
EXPECTED = f"""\
{{"jsonwall":"1.0","schema":"1.0","count":27}}
{{"kind":"content","slice":"base-files_base","path":"/bin"}}
{{"kind":"content","slice":"base-files_base","path":"/etc/"}}
{{"kind":"content","slice":"base-files_base","path":"/tmp/"}}
{{"kind":"content","slice":"base-files_base","path":"/usr/a-hardlink"}}
{{"kind":"content","slice":"base-files_base","path":"/usr/a\\u0026b\\u003cc\\u003e"}}
{{"kind":"content","slice":"base-files_base","path":"/usr/bin/su"}}
{{"kind":"content","slice":"base-files_base","path":"/usr/lone"}}
{{"kind":"content","slice":"base-files_chisel","path":"/var/lib/chisel/manifest.wall"}}
{{"kind":"content","slice":"base-passwd_data","path":"/etc/"}}
{{"kind":"content","slice":"base-passwd_data","path":"/etc/group"}}
{{"kind":"content","slice":"base-passwd_data","path":"/etc/passwd"}}
{{"kind":"package","name":"base-files","version":"12.4+deb12u5","sha256":"{HD}","arch":"amd64"}}
{{"kind":"package","name":"base-passwd","version":"3.6.1","sha256":"{H3}","arch":"amd64"}}
{{"kind":"path","path":"/bin","mode":"0777","slices":["base-files_base"],"link":"usr/bin"}}
{{"kind":"path","path":"/etc/","mode":"0755","slices":["base-files_base","base-passwd_data"]}}
{{"kind":"path","path":"/etc/group","mode":"0644","slices":["base-passwd_data"],"sha256":"{H2}","size":5}}
{{"kind":"path","path":"/etc/passwd","mode":"0644","slices":["base-passwd_data"],"sha256":"{H2}","final_sha256":"{H3}","size":7}}
{{"kind":"path","path":"/tmp/","mode":"01777","slices":["base-files_base"]}}
{{"kind":"path","path":"/usr/a-hardlink","mode":"0600","slices":["base-files_base"],"sha256":"{H1}","size":3,"inode":1}}
{{"kind":"path","path":"/usr/a\\u0026b\\u003cc\\u003e","mode":"0600","slices":["base-files_base"],"sha256":"{H1}","size":3,"inode":1}}
{{"kind":"path","path":"/usr/bin/su","mode":"0755","slices":["base-files_base"],"sha256":"{H1}","size":10}}
{{"kind":"path","path":"/usr/lone","mode":"0644","slices":["base-files_base"],"sha256":"{H1}","size":3}}
{{"kind":"path","path":"/var/lib/chisel/manifest.wall","mode":"0644","slices":["base-files_chisel"]}}
{{"kind":"slice","name":"base-files_base"}}
{{"kind":"slice","name":"base-files_chisel"}}
{{"kind":"slice","name":"base-passwd_data"}}
"""


def text_of(data: bytes) -> str:
    return zstandard.ZstdDecompressor().decompressobj().decompress(data).decode()


def test_byte_exact_jsonwall() -> None:
    assert text_of(build_manifest(PACKAGES, SLICES, small_report(), [WALL])) == EXPECTED


def test_header_count_and_bytewise_order() -> None:
    lines = text_of(build_manifest(PACKAGES, SLICES, small_report(), [WALL])).encode().splitlines()
    assert lines[0] == b'{"jsonwall":"1.0","schema":"1.0","count":%d}' % len(lines)
    assert lines[1:] == sorted(lines[1:])


def test_output_is_deterministic_whatever_the_input_order() -> None:
    report = small_report()
    shuffled = Report()
    for path in sorted(report.entries, reverse=True):
        shuffled.add(report.entries[path])
    first = build_manifest(PACKAGES, SLICES, report, [WALL])
    assert build_manifest(list(reversed(PACKAGES)), list(reversed(SLICES)), shuffled, [WALL]) == first


def test_round_trip() -> None:
    data = build_manifest(PACKAGES, SLICES, small_report(), [WALL])
    manifest = read_manifest(data)
    assert manifest == collect(PACKAGES, SLICES, small_report(), [WALL])
    assert manifest.paths["/tmp/"] == ManifestPath("/tmp/", 0o1777, ("base-files_base",))
    assert manifest.paths["/etc/passwd"].final_sha256 == H3
    assert encode(manifest) == data


def test_reads_multiple_frames_without_content_size() -> None:
    # A streaming writer (as chisel's) does not record the content size in the frame.
    lines = EXPECTED.encode().splitlines(keepends=True)
    buffer = io.BytesIO()
    with zstandard.ZstdCompressor().stream_writer(buffer, closefd=False) as writer:
        writer.write(b"".join(lines[:10]))
    buffer.write(zstandard.ZstdCompressor().compress(b"".join(lines[10:])))
    assert read_manifest(buffer.getvalue()) == collect(PACKAGES, SLICES, small_report(), [WALL])


# -- checks before writing ------------------------------------------------------------


def build_error(packages=PACKAGES, slices=SLICES, entries=(), manifest_paths=()) -> str:
    report = Report()
    for entry in entries:
        report.add(entry)
    with pytest.raises(ManifestError) as caught:
        build_manifest(list(packages), list(slices), report, list(manifest_paths))
    return str(caught.value)


def test_build_refuses_incomplete_packages_and_unknown_slices() -> None:
    assert (
        build_error(packages=[ManifestPackage("base-files", "", HD, "amd64")])
        == 'internal error: invalid manifest: package "base-files" missing version'
    )
    assert (
        build_error(packages=[ManifestPackage("base-files", "1", HD, "")])
        == 'internal error: invalid manifest: package "base-files" missing arch'
    )
    assert (
        build_error(packages=PACKAGES[:1])
        == 'internal error: invalid manifest: slice base-passwd_data refers to missing package "base-passwd"'
    )
    assert (
        build_error(entries=[Entry("/x", "file", 0o644, {"base-files_other"})])
        == 'internal error: invalid manifest: path "/x" refers to missing slice base-files_other'
    )
    assert (
        build_error(manifest_paths=[WALL])
        == f"internal error: invalid manifest: manifest path {WALL} is not in the report"
    )


@pytest.mark.parametrize(
    "entry, problem",
    [
        (
            Entry("/d/", "dir", 0o755, {"base-files_base"}, sha256=H1),
            'path "/d/" has invalid options: sha256 set for dir',
        ),
        (Entry("/d/", "dir", 0o755, {"base-files_base"}, link="x"), 'path "/d/" has invalid options: link set for dir'),
        (Entry("/l", "symlink", 0o777, {"base-files_base"}), 'path "/l" has invalid options: link not set for symlink'),
        (
            Entry("/l", "symlink", 0o777, {"base-files_base"}, link="x", size=3),
            'path "/l" has invalid options: size set for symlink',
        ),
        (Entry("/p", "fifo", 0o644, {"base-files_base"}), "unsupported file type: /p"),
        (Entry("/f", "file", 0o644, set()), 'path "/f" has no slices'),
        (Entry("/d", "dir", 0o755, {"base-files_base"}), 'path "/d" is a dir but only directories end in /'),
    ],
)
def test_build_refuses_inconsistent_entries(entry: Entry, problem: str) -> None:
    assert build_error(entries=[entry]) == f"internal error: invalid manifest: {problem}"


def test_build_refuses_diverging_hard_links() -> None:
    entries = [
        Entry("/a", "file", 0o644, {"base-files_base"}, sha256=H1, size=1, inode=1),
        Entry("/b", "file", 0o644, {"base-files_base"}, sha256=H2, size=1, inode=1),
    ]
    assert (
        build_error(entries=entries)
        == 'internal error: invalid manifest: hard linked paths "/a" and "/b" have diverging contents'
    )


# -- checks when reading --------------------------------------------------------------


def wall(*lines: str) -> bytes:
    text = "".join(line + "\n" for line in lines)
    return zstandard.ZstdCompressor().compress(text.encode())


HEADER = '{"jsonwall":"1.0","schema":"1.0","count":1}'
PACKAGE = f'{{"kind":"package","name":"hello","version":"1","sha256":"{H1}","arch":"amd64"}}'
SLICE = '{"kind":"slice","name":"hello_bins"}'
PATH = '{"kind":"path","path":"/usr/bin/hello","mode":"0755","slices":["hello_bins"]}'
CONTENT = '{"kind":"content","slice":"hello_bins","path":"/usr/bin/hello"}'


def test_reads_a_hand_written_manifest() -> None:
    manifest = read_manifest(wall(HEADER, CONTENT, PACKAGE, PATH, SLICE))
    assert manifest.packages == {"hello": ManifestPackage("hello", "1", H1, "amd64")}
    assert manifest.slices == {"hello_bins"}
    assert manifest.paths == {"/usr/bin/hello": ManifestPath("/usr/bin/hello", 0o755, ("hello_bins",))}


@pytest.mark.parametrize(
    "data, problem",
    [
        (b"not zstd at all", "cannot read manifest m.wall: the data is not zstd-compressed"),
        (wall(HEADER, PACKAGE)[:-4], "cannot read manifest m.wall: the zstd data is truncated"),
        (wall("[]"), "cannot read manifest m.wall: invalid database content"),
        (
            wall('{"jsonwall":"2.0","schema":"1.0","count":1}'),
            'cannot read manifest m.wall: unsupported database format: "2.0"',
        ),
        (
            wall('{"jsonwall":"1.0","schema":"2.0","count":1}'),
            'cannot read manifest m.wall: unknown schema version "2.0"',
        ),
        (wall(HEADER, "{broken"), "cannot read manifest m.wall: line 2 is not valid JSON"),
        (
            wall(HEADER, '{"kind":"path","path":"/x","mode":"9z"}'),
            'cannot read manifest m.wall: path /x has invalid mode "9z"',
        ),
        (
            wall(HEADER, '{"kind":"package","name":"hello","version":"1","arch":"amd64"}'),
            'invalid manifest m.wall: package "hello" missing sha256',
        ),
        (wall(HEADER, SLICE), 'invalid manifest m.wall: slice hello_bins refers to missing package "hello"'),
        (
            wall(HEADER, PACKAGE, CONTENT, PATH),
            'invalid manifest m.wall: content path "/usr/bin/hello" refers to missing slice hello_bins',
        ),
        (
            wall(HEADER, PACKAGE, SLICE, PATH),
            "invalid manifest m.wall: path /usr/bin/hello has no matching entry in contents",
        ),
        (
            wall(HEADER, PACKAGE, SLICE, CONTENT),
            "invalid manifest m.wall: content path /usr/bin/hello has no matching entry in paths",
        ),
        (
            wall(
                HEADER,
                PACKAGE,
                SLICE,
                '{"kind":"slice","name":"hello_libs"}',
                CONTENT,
                '{"kind":"path","path":"/usr/bin/hello","mode":"0755","slices":["hello_bins","hello_libs"]}',
            ),
            "invalid manifest m.wall: path /usr/bin/hello and content have diverging slices: "
            "['hello_bins', 'hello_libs'] != ['hello_bins']",
        ),
    ],
)
def test_read_refuses(data: bytes, problem: str) -> None:
    with pytest.raises(ManifestError) as caught:
        read_manifest(data, "m.wall")
    assert str(caught.value) == problem


# -- extending a root -----------------------------------------------------------------


def manifest_of(packages, slices, entries) -> Manifest:
    report = Report()
    for entry in entries:
        report.add(entry)
    return collect(packages, slices, report, [])


HELLO = ManifestPackage("hello", "2.10-3", H2, "amd64")


def test_merge_extends_an_existing_manifest() -> None:
    existing = read_manifest(build_manifest(PACKAGES, SLICES, small_report(), [WALL]))
    cut = manifest_of(
        [PACKAGES[0], HELLO],
        ["base-files_var", "hello_bins"],
        [
            Entry("/etc/", "dir", 0o755, {"base-files_var"}),
            Entry("/usr/bin/hello", "file", 0o755, {"hello_bins"}, sha256=H2, size=8, inode=1),
            Entry("/usr/bin/hi", "file", 0o755, {"hello_bins"}, sha256=H2, size=8, inode=1),
        ],
    )
    merged = merge(existing, cut)
    assert set(merged.packages) == {"base-files", "base-passwd", "hello"}
    assert merged.slices == set(SLICES) | {"base-files_var", "hello_bins"}
    assert merged.paths["/etc/"].slices == ("base-files_base", "base-files_var", "base-passwd_data")
    # The existing group keeps 1; the new group follows it.
    assert merged.paths["/usr/a-hardlink"].inode == 1
    assert merged.paths["/usr/bin/hello"].inode == merged.paths["/usr/bin/hi"].inode == 2
    assert read_manifest(encode(merged)) == merged


def test_merge_refuses_divergence() -> None:
    existing = manifest_of(
        [HELLO], ["hello_bins"], [Entry("/usr/bin/hello", "file", 0o755, {"hello_bins"}, sha256=H2, size=8)]
    )
    changed = manifest_of(
        [HELLO], ["hello_bins"], [Entry("/usr/bin/hello", "file", 0o755, {"hello_bins"}, sha256=H3, size=8)]
    )
    with pytest.raises(ManifestError, match=f"path /usr/bin/hello reported twice with diverging hash: {H2} != {H3}"):
        merge(existing, changed)
    newer = manifest_of([ManifestPackage("hello", "2.10-4", H3, "amd64")], [], [])
    with pytest.raises(
        ManifestError,
        match=r"package hello is 2.10-3 \(amd64\) in the existing manifest "
        r"but 2.10-4 \(amd64\) in this cut",
    ):
        merge(existing, newer)


def test_an_overwriting_cut_replaces_what_it_changed() -> None:
    """With --overwrite the root holds the cut's version and content, so the manifest says so."""
    existing = manifest_of(
        [HELLO],
        ["hello_bins"],
        [
            Entry("/usr/bin/hello", "file", 0o755, {"hello_bins"}, sha256=H2, size=8),
            Entry("/usr/bin/kept", "file", 0o755, {"hello_bins"}, sha256=H2, size=8),
        ],
    )
    newer_hello = ManifestPackage("hello", "2.10-4", H3, "amd64")
    changed = manifest_of(
        [newer_hello], ["hello_bins"], [Entry("/usr/bin/hello", "file", 0o755, {"hello_bins"}, sha256=H3, size=9)]
    )
    merged = merge(existing, changed, replace=True)
    assert merged.packages["hello"] == newer_hello
    assert (merged.paths["/usr/bin/hello"].sha256, merged.paths["/usr/bin/hello"].size) == (H3, 9)
    assert merged.paths["/usr/bin/kept"].sha256 == H2
    assert read_manifest(encode(merged)) == merged
