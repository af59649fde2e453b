"""Control paragraphs: the general reader and the Packages fast path."""

from __future__ import annotations

import pytest

from slicer.archive import deb822
from slicer.errors import ArchiveError

RELEASE = """\
Origin: Debian
Suite: oldstable
Codename: bookworm
SHA256:
 aaaa 10 main/binary-amd64/Packages
 bbbb 5 main/binary-amd64/Packages.xz
"""


def test_parse_keeps_case_and_looks_up_without_it() -> None:
    (paragraph,) = deb822.parse(RELEASE)
    assert list(paragraph.fields)[:3] == ["Origin", "Suite", "Codename"]
    assert paragraph["codename"] == "bookworm"
    assert paragraph.get("CODENAME") == "bookworm"
    assert "sha256" in paragraph
    assert paragraph.get("Missing") is None


def test_parse_joins_continuation_lines() -> None:
    (paragraph,) = deb822.parse(RELEASE)
    assert paragraph["SHA256"].splitlines() == [
        "",
        "aaaa 10 main/binary-amd64/Packages",
        "bbbb 5 main/binary-amd64/Packages.xz",
    ]


def test_parse_keeps_each_field_s_own_lines_across_paragraphs_and_repeats() -> None:
    text = "A: 1\n first\nB: 2\n x\n# a comment\n y\nA: again\n only\n\nA: next\n\n continued after a blank line\n"
    with pytest.raises(ArchiveError, match="line 12 continues a field that was never started"):
        deb822.parse(text)
    first, second = deb822.parse(text.rsplit("\n\n", 1)[0] + "\n")
    assert first.fields == {"A": "again\nonly", "B": "2\nx\ny"}
    assert second.fields == {"A": "next"}


def test_parse_splits_paragraphs_and_skips_comments() -> None:
    text = "# a comment\nTypes: deb\nURIs: http://a\n\n\n# between\nTypes: deb-src\n"
    paragraphs = deb822.parse(text)
    assert [p["Types"] for p in paragraphs] == ["deb", "deb-src"]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Field: a\nno colon here\n", "line 2"),
        (" starts with a continuation\n", "line 1"),
    ],
)
def test_parse_names_source_and_line_of_malformed_input(text: str, words: str) -> None:
    with pytest.raises(ArchiveError, match=f"sources.list {words}"):
        deb822.parse(text, "sources.list")


def _stanza(name: str, version: str = "1.0", arch: str = "amd64", extra: str = "") -> str:
    return (
        f"Package: {name}\nVersion: {version}\nArchitecture: {arch}\n{extra}"
        f"Description: x\n more text\nFilename: pool/{name}.deb\nSize: 12\nSHA256: {'AB' * 32}\n"
    )


def test_scan_packages_reads_fields_and_spans() -> None:
    data = (_stanza("a") + "\n" + _stanza("b", "2:3-1", "all")).encode()
    found = list(deb822.scan_packages(data))
    assert [entry[:6] for entry in found] == [
        ("a", "1.0", "amd64", "pool/a.deb", 12, "ab" * 32),
        ("b", "2:3-1", "all", "pool/b.deb", 12, "ab" * 32),
    ]
    for entry in found:
        paragraph = data[entry[6] : entry[7]].decode()
        assert paragraph.startswith(f"Package: {entry[0]}\n")
        assert paragraph.endswith("SHA256: " + "AB" * 32)


def test_scan_packages_falls_back_for_unusual_case_and_spacing() -> None:
    odd = "package: c\nversion:   4.0\narchitecture: arm64\nfilename: pool/c.deb\nsize: 7\nsha256: " + "cd" * 32
    data = ("\n\n" + _stanza("a") + "\n\n\n" + odd + "\n").encode()
    found = list(deb822.scan_packages(data))
    assert [entry[:6] for entry in found] == [
        ("a", "1.0", "amd64", "pool/a.deb", 12, "ab" * 32),
        ("c", "4.0", "arm64", "pool/c.deb", 7, "cd" * 32),
    ]
    assert data[found[1][6] : found[1][7]].decode() == odd


def test_scan_packages_leaves_out_paragraphs_it_cannot_fetch() -> None:
    no_hash = "Package: d\nVersion: 1\nArchitecture: all\nFilename: pool/d.deb\nSize: 3\n"
    bad_size = _stanza("e").replace("Size: 12", "Size: twelve")
    data = (no_hash + "\n" + bad_size + "\n" + _stanza("f")).encode()
    assert [entry[0] for entry in deb822.scan_packages(data)] == ["f"]


def test_scan_packages_ignores_field_names_inside_descriptions() -> None:
    data = _stanza("a", extra="Homepage: x\n").replace(" more text", " Version: 9.9").encode()
    (entry,) = deb822.scan_packages(data)
    assert entry[1] == "1.0"
