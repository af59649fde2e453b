"""The compact parsed form of Packages indexes."""

from __future__ import annotations

import hashlib
import mmap

import pytest

from slicer.archive import packages
from slicer.archive.packages import PackageIndex

KEY = b"k" * 32


def _packages_text(count: int) -> bytes:
    stanzas = []
    for number in range(count):
        name = f"pkg{number:05d}"
        for version in ("1.0-1", "1.0-2"):
            stanzas.append(
                f"Package: {name}\nVersion: {version}\nArchitecture: amd64\n"
                f"Description: package number {number}\n padding {'x' * 200}\n"
                f"Filename: pool/main/p/{name}/{name}_{version}_amd64.deb\nSize: {number + 1}\n"
                f"SHA256: {hashlib.sha256(f'{name}{version}'.encode()).hexdigest()}\n"
            )
    return "\n".join(stanzas).encode()


def test_build_groups_versions_and_keeps_paragraphs() -> None:
    text = _packages_text(3000)  # spans several zstd frames
    index = PackageIndex.build(text)
    assert len(index) == 3000
    entries = index.entries("pkg02999")
    assert [entry[0] for entry in entries] == ["1.0-1", "1.0-2"]
    assert entries[1][2] == "pool/main/p/pkg02999/pkg02999_1.0-2_amd64.deb"
    assert entries[1][3] == 3000
    assert entries[1][5] > 0  # not in the first frame
    stanza = index.stanza(entries[1])
    assert stanza.startswith("Package: pkg02999\nVersion: 1.0-2\n")
    assert stanza in text.decode()
    assert "pkg00000" in index and "nothing" not in index
    assert index.entries("nothing") == []


def test_round_trip_through_bytes() -> None:
    index = PackageIndex.build(_packages_text(600))
    loaded = PackageIndex.from_bytes(index.to_bytes(KEY), KEY)
    assert loaded is not None
    assert len(loaded) == 600
    for name in ("pkg00000", "pkg00321", "pkg00599"):
        assert loaded.entries(name) == index.entries(name)
        assert loaded.stanza(loaded.entries(name)[0]) == index.stanza(index.entries(name)[0])


def test_names_sharing_prefixes_are_found_exactly_after_loading() -> None:
    names = ["a", "lib", "lib+c", "lib-a", "lib.b", "liba", "libz", "z9"]
    text = "\n".join(
        f"Package: {name}\nVersion: 1\nArchitecture: all\nFilename: pool/{name}.deb\nSize: 1\nSHA256: {'0' * 64}\n"
        for name in reversed(names)
    ).encode()
    loaded = PackageIndex.from_bytes(PackageIndex.build(text).to_bytes(KEY), KEY)
    assert loaded is not None and len(loaded) == len(names)
    for name in names:
        assert name in loaded
        assert [entry[2] for entry in loaded.entries(name)] == [f"pool/{name}.deb"]
    for absent in ("", "0", "li", "lib-", "libb", "lia", "z", "z99", "zz"):
        assert absent not in loaded and loaded.entries(absent) == []


def test_a_mapped_file_loads_like_bytes(tmp_path) -> None:
    index = PackageIndex.build(_packages_text(300))
    path = tmp_path / "parsed"
    path.write_bytes(index.to_bytes(KEY))
    with path.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        loaded = PackageIndex.from_bytes(mapped, KEY)
        assert loaded is not None and len(loaded) == 300
        entry = loaded.entries("pkg00123")[1]
        assert loaded.stanza(entry) == index.stanza(index.entries("pkg00123")[1])
        del loaded, entry  # the map closes only when no view of it is left


def test_empty_index_round_trips() -> None:
    loaded = PackageIndex.from_bytes(PackageIndex.build(b"").to_bytes(KEY), KEY)
    assert loaded is not None and len(loaded) == 0


def test_damaged_or_foreign_data_is_rejected() -> None:
    blob = bytearray(PackageIndex.build(_packages_text(50)).to_bytes(KEY))
    header_end = len(packages.MAGIC) + packages._PREAMBLE.size + 100
    damaged = bytearray(blob)
    damaged[header_end] ^= 0x40
    assert PackageIndex.from_bytes(bytes(damaged), KEY) is None
    assert PackageIndex.from_bytes(bytes(blob[:-10]), KEY) is None
    assert PackageIndex.from_bytes(b"slicer-packages-0\n" + bytes(blob[len(packages.MAGIC) :]), KEY) is None
    assert PackageIndex.from_bytes(b"", KEY) is None


def test_an_index_sealed_with_another_key_is_rejected() -> None:
    """A parsed index someone else wrote (another key) is never used, however well formed."""
    stored = PackageIndex.build(_packages_text(50)).to_bytes(b"another key")
    assert PackageIndex.from_bytes(stored, KEY) is None
    assert PackageIndex.from_bytes(stored, b"another key") is not None


def test_a_changed_paragraph_frame_is_refused_when_read() -> None:
    stored = bytearray(PackageIndex.build(_packages_text(50)).to_bytes(KEY))
    stored[-5] ^= 0x01  # inside the last frame, outside the sealed header and records
    loaded = PackageIndex.from_bytes(bytes(stored), KEY)
    assert loaded is not None
    entry = loaded.entries("pkg00049")[0]
    with pytest.raises(packages.DamagedIndexError, match="paragraph frame 0 does not match its recorded SHA256"):
        loaded.stanza(entry)
    with pytest.raises(packages.DamagedIndexError, match="run `slicer cache prune`"):
        list(loaded.paragraphs())


def test_a_changed_block_of_entries_is_refused_when_read(monkeypatch) -> None:
    monkeypatch.setattr(packages, "RECORD_BLOCK", 512)  # several blocks from a small index
    index = PackageIndex.build(_packages_text(50))
    stored = bytearray(index.to_bytes(KEY))
    loaded = PackageIndex.from_bytes(bytes(stored), KEY)
    assert loaded is not None and loaded.entries("pkg00049") == index.entries("pkg00049")
    _, header_length, records_length = packages._PREAMBLE.unpack_from(stored, len(packages.MAGIC))
    records_end = len(packages.MAGIC) + packages._PREAMBLE.size + header_length + records_length
    stored[records_end - 3] ^= 0x01  # inside the last block's entries, outside the sealed header
    damaged = PackageIndex.from_bytes(bytes(stored), KEY)
    assert damaged is not None
    assert damaged.entries("pkg00000") == index.entries("pkg00000")  # other blocks still read
    with pytest.raises(packages.DamagedIndexError, match="block of entries .* does not match its recorded SHA256"):
        damaged.entries("pkg00049")
