"""Contents indexes: library files scanned from a signed local archive, kept parsed in the cache."""

from __future__ import annotations

import pytest

from slicer.archive.libraries import PARSED_PREFIX, LibraryFiles, LibraryFinder, Shipper, best_first
from slicer.errors import OfflineError, VerificationError
from tests.helpers import testarchive
from tests.helpers.debs import library_debs

CONTENTS = (
    b"bin/true                                                    utils/coreutils\n"
    b"lib/x86_64-linux-gnu/libz.so.1                              libs/zlib1g\n"
    b"usr/lib32/libz.so.1                                         libs/lib32z1\n"
    b"usr/lib/x86_64-linux-gnu/libssl.so.3                        libs/libssl3,non-free/libs/libssl3-extra\n"
    b"usr/lib/python3/dist-packages/_cffi.cpython-311.so          python/python3-cffi\n"
    b"usr/share/doc/libz.so.1/notes                               doc/zlib-doc\n"
    b"usr/lib/x86_64-linux-gnu/libfoo.socket                      libs/foo\n"
    b"usr/lib/x86_64-linux-gnu/libsp ace.so.1                     libs/space1\n"
)


def test_scanning_keeps_library_files_under_lib_folders_only():
    files = LibraryFiles.scan([CONTENTS])
    assert files.text.decode().splitlines()[1:] == [
        "_cffi.cpython-311.so\t/usr/lib/python3/dist-packages/_cffi.cpython-311.so\tpython3-cffi",
        "libssl.so.3\t/usr/lib/x86_64-linux-gnu/libssl.so.3\tlibssl3,libssl3-extra",
        "libz.so.1\t/lib/x86_64-linux-gnu/libz.so.1\tzlib1g",
        "libz.so.1\t/usr/lib32/libz.so.1\tlib32z1",
    ]
    assert files.shippers("libz.so.1") == [
        Shipper("zlib1g", "/lib/x86_64-linux-gnu/libz.so.1"),
        Shipper("lib32z1", "/usr/lib32/libz.so.1"),
    ]
    assert files.shippers("libssl.so.3") == [
        Shipper("libssl3", "/usr/lib/x86_64-linux-gnu/libssl.so.3"),
        Shipper("libssl3-extra", "/usr/lib/x86_64-linux-gnu/libssl.so.3"),
    ]
    # Not kept: other folders, names that only start like a library, names with a space (no soname has one).
    for name in ("true", "libz.so", "libfoo.socket", "ace.so.1", "libsp ace.so.1"):
        assert files.shippers(name) == []


def test_scanning_does_not_depend_on_where_the_pieces_break():
    whole = LibraryFiles.scan([CONTENTS]).text
    for cut in range(0, len(CONTENTS), 7):
        assert LibraryFiles.scan([CONTENTS[:cut], b"", CONTENTS[cut:]]).text == whole
    assert LibraryFiles.scan([CONTENTS.rstrip(b"\n")]).text == whole


def test_the_stored_form_round_trips():
    files = LibraryFiles.scan([CONTENTS])
    assert LibraryFiles.from_bytes(files.to_bytes()).shippers("libz.so.1") == files.shippers("libz.so.1")  # type: ignore[union-attr]
    assert LibraryFiles.from_bytes(LibraryFiles.scan([]).to_bytes()).shippers("libz.so.1") == []  # type: ignore[union-attr]
    assert LibraryFiles.from_bytes(b"not the stored form") is None


def test_best_first_prefers_the_loader_s_folders_then_the_policy_name():
    shippers = [
        Shipper("libssl-dev", "/usr/lib/x86_64-linux-gnu/libssl.so.3"),
        Shipper("libssl3", "/usr/lib/x86_64-linux-gnu/debug/libssl.so.3"),
        Shipper("embedded-ssl", "/usr/lib/x86_64-linux-gnu/libssl.so.3"),
        Shipper("libssl3t64", "/usr/lib/x86_64-linux-gnu/libssl.so.3"),
        Shipper("libssl3", "/usr/lib/x86_64-linux-gnu/libssl.so.3"),
        Shipper("lib32ssl3", "/usr/lib32/libssl.so.3"),
    ]
    assert best_first("libssl.so.3", shippers) == [
        Shipper("libssl3", "/usr/lib/x86_64-linux-gnu/libssl.so.3"),
        Shipper("libssl3t64", "/usr/lib/x86_64-linux-gnu/libssl.so.3"),
        Shipper("embedded-ssl", "/usr/lib/x86_64-linux-gnu/libssl.so.3"),
        Shipper("libssl-dev", "/usr/lib/x86_64-linux-gnu/libssl.so.3"),
        Shipper("lib32ssl3", "/usr/lib32/libssl.so.3"),
    ]
    # A version after a digit takes a hyphen, as policy names libbz2.so.1.0's package libbz2-1.0.
    bz2 = [Shipper("bzip2-extra", "/usr/lib/libbz2.so.1.0"), Shipper("libbz2-1.0", "/usr/lib/libbz2.so.1.0")]
    assert [shipper.package for shipper in best_first("libbz2.so.1.0", bz2)] == ["libbz2-1.0", "bzip2-extra"]


@pytest.fixture
def archive(test_archive):
    return test_archive({"bookworm": library_debs(), "bookworm-updates": []})


def test_the_packages_shipping_a_library_come_from_the_signed_contents_indexes(archive, archive_client):
    finder = LibraryFinder(archive_client(archive.release()))
    search = finder.search(["libnope.so.9", "libjnihelper.so", "libabsent.so.1"])
    assert search.shippers == {
        "libabsent.so.1": [],
        # Contents-all is read only for the names Contents-amd64 lacks.
        "libjnihelper.so": [Shipper("libjni-all", "/usr/lib/jni/libjnihelper.so")],
        "libnope.so.9": [
            Shipper("libnope9", "/usr/lib/x86_64-linux-gnu/libnope.so.9"),
            Shipper("nope-tools", "/usr/lib/nope-tools/libnope.so.9"),
        ],
    }
    # bookworm and bookworm-updates each publish main/Contents-amd64 and main/Contents-all.
    assert search.indexes == 2
    # bookworm-updates' two indexes are empty, the same bytes: the second is the first's parsed entry.
    assert (finder.indexes_scanned, finder.indexes_loaded) == (3, 1)
    served = {request.path.rsplit("/", 1)[-1] for request in archive.server.requests()}
    assert not any(name.startswith("Packages") for name in served)


def test_a_later_run_reads_the_parsed_cache_only(archive, archive_client, cache_dir):
    LibraryFinder(archive_client(archive.release())).search(["libnope.so.9"])
    assert sorted(path.name for path in (cache_dir / "parsed").iterdir() if path.name.startswith(PARSED_PREFIX))
    archive.server.log.clear()
    offline = LibraryFinder(archive_client(archive.release(), offline=True))
    assert offline.search(["libnope.so.9"]).shippers["libnope.so.9"][0].package == "libnope9"
    assert (offline.indexes_scanned, offline.indexes_loaded) == (0, 2)
    assert archive.server.requests() == []


def test_a_parsed_entry_this_cache_did_not_seal_is_scanned_again(archive, archive_client, cache_dir):
    LibraryFinder(archive_client(archive.release())).search(["libnope.so.9"])
    forged = LibraryFiles.scan([b"usr/lib/evil/libnope.so.9 libs/evil\n"]).to_bytes()
    for entry in (cache_dir / "parsed").glob(PARSED_PREFIX + "*"):
        entry.write_bytes(bytes(32) + forged)
    finder = LibraryFinder(archive_client(archive.release(), offline=True))
    assert [shipper.package for shipper in finder.search(["libnope.so.9"]).shippers["libnope.so.9"]] == [
        "libnope9",
        "nope-tools",
    ]
    assert (finder.indexes_scanned, finder.indexes_loaded) == (2, 0)


def test_a_contents_index_that_does_not_match_its_signed_hash_is_refused(archive, archive_client, cache_dir):
    listed = next(path for path, _, _ in archive.suites["bookworm"].files if path == "main/Contents-amd64.gz")
    digest = next(sha for path, sha, _ in archive.suites["bookworm"].files if path == listed)
    for path in (f"dists/bookworm/{listed}", f"dists/bookworm/main/by-hash/SHA256/{digest}"):
        archive.server.inject(archive.path(path), testarchive.flip(-1))
    with pytest.raises(VerificationError, match=r"Contents-amd64\.gz has SHA256 [0-9a-f]+, but its signed index says"):
        LibraryFinder(archive_client(archive.release())).search(["libnope.so.9"])
    assert not list((cache_dir / "parsed").glob(PARSED_PREFIX + "*"))
    archive.server.clear_faults()
    assert LibraryFinder(archive_client(archive.release())).search(["libnope.so.9"]).shippers["libnope.so.9"]


def test_a_contents_index_that_does_not_decompress_to_its_signed_text_is_refused(
    test_archive, archive_client, signing_key
):
    archive = test_archive({"bookworm": library_debs()})
    state = archive.suites["bookworm"]
    # Sign a Release whose uncompressed Contents-amd64 entry names other bytes than the .gz holds.
    state.files = [(path, "0" * 64 if path == "main/Contents-amd64" else sha, size) for path, sha, size in state.files]
    (archive.root / "dists" / "bookworm" / "InRelease").write_bytes(archive.sign(archive.release_text("bookworm")))
    with pytest.raises(VerificationError, match=r"Contents-amd64\.gz does not decompress to the main/Contents-amd64"):
        LibraryFinder(archive_client(archive.release())).search(["libnope.so.9"])


def test_offline_without_the_index_is_an_offline_error(archive, archive_client):
    client = archive_client(archive.release())
    client.resolve(["libnope9"])  # the InRelease and Packages, but no Contents, are cached
    offline = LibraryFinder(archive_client(archive.release(), offline=True))
    with pytest.raises(OfflineError, match=r'offline, and the cache lacks main/Contents-amd64\.gz of suite "bookworm"'):
        offline.search(["libnope.so.9"])


def test_a_suite_wide_contents_index_serves_when_components_have_none(test_archive, archive_client):
    archive = test_archive({"noble": library_debs()}, contents="suite")
    search = LibraryFinder(archive_client(archive.release())).search(["libnope.so.9"])
    assert search.indexes == 1
    # Fetched by hash from the suite's own by-hash folder.
    (listed,) = [entry for entry in archive.suites["noble"].files if entry[0] == "Contents-amd64.gz"]
    assert [
        request.path for request in archive.server.requests() if "Contents" in request.path or "by-hash" in request.path
    ] == [archive.path(f"dists/noble/by-hash/SHA256/{listed[1]}")]
    assert search.shippers["libnope.so.9"][0] == Shipper("libnope9", "/usr/lib/x86_64-linux-gnu/libnope.so.9")


def test_archives_without_contents_indexes_say_so(test_archive, archive_client):
    archive = test_archive({"bookworm": library_debs()}, contents=None)
    assert LibraryFinder(archive_client(archive.release())).search(["libnope.so.9"]).indexes == 0
