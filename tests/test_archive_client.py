"""ArchiveClient against complete signed archives served on 127.0.0.1."""

from __future__ import annotations

import datetime
import hashlib
import io
from collections.abc import Callable
from pathlib import Path

import attrs
import pysequoia
import pytest

from slicer.archive import ArchiveClient, signed
from slicer.cache import Cache
from slicer.console import Console
from slicer.errors import ArchiveError, MirrorError, OfflineError, VerificationError
from tests.helpers import testarchive
from tests.helpers.debs import DebSpec, file
from tests.helpers.testarchive import LocalArchive, make_release

Factory = Callable[..., LocalArchive]
ClientFactory = Callable[..., ArchiveClient]


def deb(name: str, version: str = "1.0-1", arch: str = "amd64") -> DebSpec:
    return DebSpec(name, version, arch, [file(f"./usr/share/{name}/version", f"{version} {arch}\n")])


def _bookworm(test_archive: Factory, **options: object) -> LocalArchive:
    return test_archive(
        {
            "bookworm": [
                deb("libc6", "2.36-9", "amd64"),
                deb("libc6", "2.36-9", "arm64"),
                deb("tzdata", "2024a-0", "all"),
            ]
        },
        **options,
    )


def _parsed_indexes(cache_dir: Path) -> list[Path]:
    """The parsed indexes in the cache, without the verdicts on InRelease files kept beside them."""
    folder = cache_dir / "parsed"
    return (
        [path for path in folder.iterdir() if not path.name.startswith("inrelease-verdict-")] if folder.exists() else []
    )


def _xz_index_path(archive: LocalArchive) -> str:
    """Where bookworm's amd64 Packages.xz is served by hash."""
    digest = next(entry[1] for entry in archive.suites["bookworm"].files if entry[0] == "main/binary-amd64/Packages.xz")
    return archive.path(f"dists/bookworm/main/binary-amd64/by-hash/SHA256/{digest}")


def _index_requests(archive: LocalArchive) -> list[str]:
    return [request.path for request in archive.server.log if "/binary-" in request.path]


# Choosing and fetching


def test_resolve_and_fetch(test_archive: Factory, archive_client: ClientFactory) -> None:
    archive = _bookworm(test_archive)
    client = archive_client(archive.release())
    records = client.resolve(["tzdata", "libc6"])
    assert list(records) == ["tzdata", "libc6"]
    libc = records["libc6"]
    pool_file = archive.root / archive.deb("libc6", arch="amd64")
    assert (libc.version, libc.arch, libc.archive, libc.suite, libc.component) == (
        "2.36-9",
        "amd64",
        "debian",
        "bookworm",
        "main",
    )
    assert libc.filename == archive.deb("libc6", arch="amd64")
    assert libc.size == pool_file.stat().st_size
    assert libc.sha256 == hashlib.sha256(pool_file.read_bytes()).hexdigest()
    assert libc.stanza.startswith("Package: libc6\nVersion: 2.36-9\nArchitecture: amd64\n")
    assert " a longer description\n .\n over lines\n" in libc.stanza
    assert records["tzdata"].arch == "all"
    paths = client.fetch(records.values())
    assert paths["libc6"].read_bytes() == pool_file.read_bytes()
    assert paths["tzdata"].read_bytes() == (archive.root / archive.deb("tzdata")).read_bytes()


def test_architecture_all_packages_come_from_the_arch_index(
    test_archive: Factory, archive_client: ClientFactory
) -> None:
    archive = _bookworm(test_archive)
    records = archive_client(archive.release(), "arm64").resolve(["libc6", "tzdata"])
    assert (records["libc6"].arch, records["tzdata"].arch) == ("arm64", "all")
    assert not any("binary-all" in path or "binary-amd64" in path for path in _index_requests(archive))


def test_indexes_come_through_by_hash(test_archive: Factory, archive_client: ClientFactory) -> None:
    archive = _bookworm(test_archive)
    archive_client(archive.release()).resolve(["libc6"])
    (request,) = _index_requests(archive)
    assert request.startswith("/debian/dists/bookworm/main/binary-amd64/by-hash/SHA256/")


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"by_hash": False}, "/debian/dists/bookworm/main/binary-amd64/Packages.xz"),
        ({"by_hash": False, "compressions": ("gz", "")}, "/debian/dists/bookworm/main/binary-amd64/Packages.gz"),
        ({"by_hash": False, "compressions": ("",)}, "/debian/dists/bookworm/main/binary-amd64/Packages"),
    ],
)
def test_index_compressions(test_archive: Factory, archive_client: ClientFactory, options: dict, expected: str) -> None:
    archive = _bookworm(test_archive, **options)
    assert archive_client(archive.release()).resolve(["libc6"])["libc6"].version == "2.36-9"
    assert _index_requests(archive) == [expected]


def test_missing_by_hash_file_falls_back_to_the_plain_path(
    test_archive: Factory, archive_client: ClientFactory
) -> None:
    archive = _bookworm(test_archive)
    for path in (archive.root / "dists/bookworm/main/binary-amd64/by-hash/SHA256").iterdir():
        path.unlink()
    archive_client(archive.release()).resolve(["libc6"])
    assert _index_requests(archive)[-1] == "/debian/dists/bookworm/main/binary-amd64/Packages.xz"


def test_release_and_detached_signature_when_there_is_no_inrelease(
    test_archive: Factory, archive_client: ClientFactory
) -> None:
    archive = _bookworm(test_archive, inrelease=False)
    assert archive_client(archive.release()).resolve(["libc6"])["libc6"].version == "2.36-9"
    paths = [request.path for request in archive.server.log if "/binary-" not in request.path]
    assert paths == [
        "/debian/dists/bookworm/InRelease",
        "/debian/dists/bookworm/Release",
        "/debian/dists/bookworm/Release.gpg",
    ]


def test_point_release_newer_than_security(test_archive: Factory, archive_client: ClientFactory) -> None:
    main = test_archive(
        {
            "bookworm": [deb("libc6", "2.36-9+deb12u4"), deb("tzdata", "2024a-0+deb12u1", "all")],
            "bookworm-updates": [deb("tzdata", "2024b-0+deb12u1", "all")],
        }
    )
    security = test_archive(
        {"bookworm-security": [deb("libc6", "2.36-9+deb12u3"), deb("libssl3", "3.0.13-1")]}, name="debian-security"
    )
    client = archive_client(make_release([main, security]))
    records = client.resolve(["libc6", "tzdata", "libssl3"])
    assert (records["libc6"].version, records["libc6"].archive) == ("2.36-9+deb12u4", "debian")
    assert (records["tzdata"].version, records["tzdata"].suite) == ("2024b-0+deb12u1", "bookworm-updates")
    assert (records["libssl3"].version, records["libssl3"].archive) == ("3.0.13-1", "debian-security")


def test_security_newer_than_main(test_archive: Factory, archive_client: ClientFactory) -> None:
    main = test_archive({"bookworm": [deb("libc6", "2.36-9+deb12u3")]})
    security = test_archive({"bookworm-security": [deb("libc6", "2.36-9+deb12u4")]}, name="debian-security")
    record = archive_client(make_release([main, security])).resolve(["libc6"])["libc6"]
    assert (record.version, record.archive, record.suite) == ("2.36-9+deb12u4", "debian-security", "bookworm-security")


def test_priority_beats_version_and_later_archives_stay_closed(
    test_archive: Factory, archive_client: ClientFactory
) -> None:
    low = test_archive({"stable": [deb("libc6", "9.0"), deb("only-low")]}, name="low")
    high = test_archive({"stable": [deb("libc6", "1.0")]}, name="high")
    release = make_release([low, high], by_version=False, priorities={"low": 10, "high": 20})
    client = archive_client(release)
    assert client.resolve(["libc6"])["libc6"].version == "1.0"
    assert not any(request.path.startswith("/low/") for request in low.server.log)
    assert client.resolve(["only-low"])["only-low"].archive == "low"


def test_negative_priority_only_when_pinned(test_archive: Factory, archive_client: ClientFactory) -> None:
    main = test_archive({"stable": [deb("libc6")]}, name="main")
    # Another codename, as another archive has: two suites of one identity signed a second
    # apart would trip the replay check, whichever of the two is read first.
    extra = test_archive({"stable": [deb("extra-tool"), deb("libc6", "5.0")]}, name="extra", codename="extra")
    unpinned = make_release([main, extra], by_version=False, priorities={"main": 10, "extra": -1})
    with pytest.raises(ArchiveError) as error:
        archive_client(unpinned).resolve(["extra-tool"])
    assert str(error.value) == 'cannot find package "extra-tool" in archive main for amd64'
    pinned = make_release(
        [main, extra], by_version=False, priorities={"main": 10, "extra": -1}, pins={"extra-tool": "extra"}
    )
    client = archive_client(pinned)
    assert client.resolve(["extra-tool"])["extra-tool"].archive == "extra"
    assert client.resolve(["libc6"])["libc6"].version == "1.0-1"


def test_pin_overrides_version_choice(test_archive: Factory, archive_client: ClientFactory) -> None:
    main = test_archive({"bookworm": [deb("libc6", "1.0")]})
    security = test_archive({"bookworm-security": [deb("libc6", "2.0")]}, name="debian-security")
    release = make_release([main, security], pins={"libc6": "debian"})
    assert archive_client(release).resolve(["libc6"])["libc6"].version == "1.0"


def test_missing_packages_are_named_together(test_archive: Factory, archive_client: ClientFactory) -> None:
    main = test_archive({"bookworm": [deb("libc6")]})
    security = test_archive({"bookworm-security": [deb("libssl3")]}, name="debian-security")
    with pytest.raises(ArchiveError) as error:
        archive_client(make_release([main, security])).resolve(["libc6", "nope", "libc6", "gone"])
    assert str(error.value) == ('cannot find packages "nope", "gone" in archives debian, debian-security for amd64')


def test_package_of_another_architecture_is_missing(test_archive: Factory, archive_client: ClientFactory) -> None:
    archive = test_archive({"bookworm": [deb("amd64-only", arch="amd64")]})
    with pytest.raises(ArchiveError, match='cannot find package "amd64-only" in archive debian for arm64'):
        archive_client(archive.release(), "arm64").resolve(["amd64-only"])


def test_find_exact_versions(test_archive: Factory, archive_client: ClientFactory) -> None:
    archive = test_archive({"bookworm": [deb("libc6", "1.0")], "bookworm-updates": [deb("libc6", "1.1")]})
    client = archive_client(archive.release())
    assert client.find("libc6", "1.0").suite == "bookworm"
    assert client.find("libc6", "1.1").suite == "bookworm-updates"
    with pytest.raises(ArchiveError) as error:
        client.find("libc6", "0.9")
    assert str(error.value) == (
        'package "libc6" version 0.9 is no longer in archive debian for amd64; update the lock file'
    )


def test_missing_mirror(test_archive: Factory, archive_client: ClientFactory) -> None:
    archive = _bookworm(test_archive)
    with pytest.raises(MirrorError, match='no mirror for archive "debian" \\(suite bookworm\\)'):
        archive_client(archive.release(), mirrors={}).resolve(["libc6"])


# The warm cache and offline runs


def test_warm_run_neither_downloads_nor_parses_indexes(test_archive: Factory, archive_client: ClientFactory) -> None:
    archive = _bookworm(test_archive)
    first = archive_client(archive.release())
    records = first.fetch(first.resolve(["libc6", "tzdata"]).values())
    assert (first.stats.indexes_downloaded, first.stats.indexes_parsed, first.stats.indexes_loaded) == (1, 1, 0)
    archive.server.log.clear()
    second = archive_client(archive.release())
    again = second.fetch(second.resolve(["libc6", "tzdata"]).values())
    assert again == records
    assert (second.stats.indexes_downloaded, second.stats.indexes_parsed, second.stats.indexes_loaded) == (0, 0, 1)
    assert [request.path for request in archive.server.log] == ["/debian/dists/bookworm/InRelease"]


def test_damaged_parsed_index_is_rebuilt(test_archive: Factory, archive_client: ClientFactory, cache_dir: Path) -> None:
    archive = _bookworm(test_archive)
    archive_client(archive.release()).resolve(["libc6"])
    (parsed,) = _parsed_indexes(cache_dir)
    parsed.write_bytes(parsed.read_bytes()[:-3])
    client = archive_client(archive.release())
    assert client.resolve(["libc6"])["libc6"].version == "2.36-9"
    assert (client.stats.indexes_downloaded, client.stats.indexes_parsed) == (0, 1)


def test_offline_run_from_a_warm_cache(test_archive: Factory, archive_client: ClientFactory) -> None:
    archive = _bookworm(test_archive)
    online = archive_client(archive.release())
    expected = online.fetch(online.resolve(["libc6", "tzdata"]).values())
    archive.server.log.clear()
    offline = archive_client(archive.release(), offline=True)
    assert offline.fetch(offline.resolve(["libc6", "tzdata"]).values()) == expected
    assert archive.server.log == []


def test_offline_names_every_missing_suite(test_archive: Factory, archive_client: ClientFactory) -> None:
    main = test_archive({"bookworm": [deb("libc6")], "bookworm-updates": []})
    security = test_archive({"bookworm-security": []}, name="debian-security")
    with pytest.raises(OfflineError) as error:
        archive_client(make_release([main, security]), offline=True).resolve(["libc6"])
    message = str(error.value)
    for suite, name in (
        ("bookworm", "debian"),
        ("bookworm-updates", "debian"),
        ("bookworm-security", "debian-security"),
    ):
        assert f'the InRelease of suite "{suite}" ({main.server.url}/{name}/dists/{suite})' in message
    assert message.endswith("; run once online to fill it")
    assert main.server.log == []


def test_offline_names_missing_indexes_and_packages(
    test_archive: Factory, archive_client: ClientFactory, cache_dir: Path
) -> None:
    archive = _bookworm(test_archive)
    online = archive_client(archive.release())
    records = online.resolve(["libc6", "tzdata"])
    with pytest.raises(OfflineError) as error:
        archive_client(archive.release(), offline=True).fetch(records.values())
    assert str(error.value) == (
        "offline, and the cache lacks packages libc6 2.36-9, tzdata 2024a-0; run once online to fetch them"
    )
    for path in (cache_dir / "parsed").iterdir():
        path.unlink()
    for path in (cache_dir / "sha256").iterdir():
        path.unlink()
    with pytest.raises(OfflineError, match=r'the main/binary-amd64/Packages index of suite "bookworm" \('):
        archive_client(archive.release(), offline=True).resolve(["libc6"])


def test_offline_reparses_a_cached_index_blob(
    test_archive: Factory, archive_client: ClientFactory, cache_dir: Path
) -> None:
    archive = _bookworm(test_archive)
    archive_client(archive.release()).resolve(["libc6"])
    for path in (cache_dir / "parsed").iterdir():
        path.unlink()
    client = archive_client(archive.release(), offline=True)
    assert client.resolve(["libc6"])["libc6"].version == "2.36-9"
    assert client.stats.indexes_parsed == 1


def test_offline_expired_cached_inrelease(
    test_archive: Factory, archive_client: ClientFactory, cache_dir: Path
) -> None:
    archive = _bookworm(test_archive)
    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    archive.server.inject(
        "/debian/dists/bookworm/InRelease",
        testarchive.replace(archive.inrelease("bookworm", Valid_Until=testarchive._http_date(soon))),
    )
    archive_client(archive.release()).resolve(["libc6"])
    # The cached copy has since expired: replace it with one whose Valid-Until is past.
    Cache(cache_dir).save_inrelease(
        f"{archive.url}/dists/bookworm", archive.inrelease("bookworm", Valid_Until=testarchive._http_date(past)), None
    )
    with pytest.raises(VerificationError) as error:
        archive_client(archive.release(), offline=True).resolve(["libc6"])
    assert str(error.value).startswith(
        f'the cached InRelease of suite "bookworm" from {archive.url}/dists/bookworm expired on '
    )
    assert "--ignore-valid-until" in str(error.value)
    client = archive_client(archive.release(), offline=True, check_valid_until=False)
    assert client.resolve(["libc6"])["libc6"].version == "2.36-9"


# Faults: survived by retry, or refused with nothing kept


def test_flipped_byte_in_a_deb_is_refused_and_not_kept(
    test_archive: Factory, archive_client: ClientFactory, cache_dir: Path
) -> None:
    archive = _bookworm(test_archive)
    client = archive_client(archive.release())
    record = client.resolve(["libc6"])["libc6"]
    archive.server.inject(archive.path(record.filename), testarchive.flip(offset=-100))
    with pytest.raises(VerificationError) as error:
        client.fetch([record])
    assert str(error.value).startswith(f"{archive.url}/{record.filename} has SHA256 ")
    assert str(error.value).endswith(f"but its signed index says {record.sha256}")
    assert not (cache_dir / "sha256" / record.sha256).exists()
    assert [path.name for path in (cache_dir / "sha256").iterdir() if path.name.startswith(".tmp")] == []
    archive.server.clear_faults()
    assert client.fetch([record])["libc6"].read_bytes() == (archive.root / record.filename).read_bytes()


def test_flipped_byte_in_an_index_is_refused(
    test_archive: Factory, archive_client: ClientFactory, cache_dir: Path
) -> None:
    archive = _bookworm(test_archive)
    digest = archive.suites["bookworm"].files
    xz = next(entry for entry in digest if entry[0] == "main/binary-amd64/Packages.xz")
    archive.server.inject(
        archive.path(f"dists/bookworm/main/binary-amd64/by-hash/SHA256/{xz[1]}"), testarchive.flip(offset=40)
    )
    with pytest.raises(VerificationError, match="but its signed index says " + xz[1]):
        archive_client(archive.release()).resolve(["libc6"])
    assert _parsed_indexes(cache_dir) == []
    assert not (cache_dir / "sha256" / xz[1]).exists()


def test_uncompressed_index_must_match_its_signed_hash(test_archive: Factory, archive_client: ClientFactory) -> None:
    archive = _bookworm(test_archive)
    plain = next(entry for entry in archive.suites["bookworm"].files if entry[0] == "main/binary-amd64/Packages")
    forged = archive.release_text("bookworm").replace(plain[1].encode(), b"0" * 64)
    archive.server.inject(archive.path("dists/bookworm/InRelease"), testarchive.replace(archive.sign(forged)))
    with pytest.raises(VerificationError, match="does not decompress to the main/binary-amd64/Packages"):
        archive_client(archive.release()).resolve(["libc6"])


def test_inrelease_signed_by_an_unpinned_key(
    test_archive: Factory, archive_client: ClientFactory, other_key: pysequoia.Tsk
) -> None:
    archive = _bookworm(test_archive)
    archive.server.inject(
        archive.path("dists/bookworm/InRelease"), testarchive.replace(archive.inrelease("bookworm", key=other_key))
    )
    with pytest.raises(VerificationError) as error:
        archive_client(archive.release()).resolve(["libc6"])
    assert str(error.value) == (
        f'InRelease of suite "bookworm" from {archive.url}/dists/bookworm '
        "is not signed by a key pinned in test-release: no valid signature"
    )
    assert _index_requests(archive) == []


def test_expired_inrelease(test_archive: Factory, archive_client: ClientFactory) -> None:
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
    archive = _bookworm(test_archive, valid_until=past)
    with pytest.raises(VerificationError, match=r"expired on .* \(Valid-Until\): the mirror is stale"):
        archive_client(archive.release()).resolve(["libc6"])
    assert archive_client(archive.release(), check_valid_until=False).resolve(["libc6"])


def test_inrelease_of_another_suite_is_refused(test_archive: Factory, archive_client: ClientFactory) -> None:
    archive = test_archive({"bookworm": [deb("libc6", "1")], "trixie": [deb("libc6", "2")]})
    swapped = (archive.root / "dists/trixie/InRelease").read_bytes()
    archive.server.inject(archive.path("dists/bookworm/InRelease"), testarchive.replace(swapped))
    release = make_release([archive])
    with pytest.raises(VerificationError, match='is for suite "trixie" \\(codename "trixie"\\), not "bookworm"'):
        archive_client(release).resolve(["libc6"])


def test_suite_named_by_its_suite_field(test_archive: Factory, archive_client: ClientFactory) -> None:
    archive = _bookworm(test_archive, codename="bookworm", suite_field="oldstable")
    assert archive_client(archive.release()).resolve(["libc6"])


def test_architecture_not_offered(test_archive: Factory, archive_client: ClientFactory) -> None:
    archive = test_archive({"bookworm": [deb("libc6")]}, archs=("amd64",))
    with pytest.raises(ArchiveError, match='offers no architecture "arm64" \\(it has all, amd64\\)'):
        archive_client(archive.release(), "arm64").resolve(["libc6"])


def test_transient_failures_are_survived(test_archive: Factory, archive_client: ClientFactory) -> None:
    archive = _bookworm(test_archive)
    archive.server.inject(archive.path("dists/bookworm/InRelease"), testarchive.status(503, times=2))
    client = archive_client(archive.release())
    records = client.resolve(["libc6", "tzdata"])
    archive.server.inject(archive.path(records["libc6"].filename), testarchive.reset())
    archive.server.inject(archive.path(records["tzdata"].filename), testarchive.truncate(keep=100))
    paths = client.fetch(records.values())
    for name, record in records.items():
        assert paths[name].read_bytes() == (archive.root / record.filename).read_bytes()
    assert archive.server.requests(archive.path(records["tzdata"].filename))[1].range == "bytes=100-"


def test_damaged_cached_deb_is_fetched_again(test_archive: Factory, archive_client: ClientFactory) -> None:
    archive = _bookworm(test_archive)
    console = Console(io.StringIO())
    client = archive_client(archive.release(), console=console)
    record = client.resolve(["libc6"])["libc6"]
    path = client.fetch([record])["libc6"]
    path.write_bytes(b"bit rot")
    assert client.fetch([record])["libc6"].read_bytes() == (archive.root / record.filename).read_bytes()
    assert f"warning: cached file {path} was damaged" in console.stream.getvalue()
    assert len(archive.server.requests(archive.path(record.filename))) == 2


def test_parallel_fetch_reports_progress(test_archive: Factory, archive_client: ClientFactory) -> None:
    specs = [deb(f"pkg{number}") for number in range(12)]
    archive = test_archive({"bookworm": specs})
    console = Console(io.StringIO())
    client = archive_client(archive.release(), console=console)
    records = client.resolve(spec.name for spec in specs)
    paths = client.fetch(records.values())
    assert sorted(paths) == sorted(records)
    assert all(paths[name].stat().st_size == records[name].size for name in records)
    output = console.stream.getvalue()
    total = sum(record.size for record in records.values())
    assert f"Downloading: {total / 1e3:.1f} kB in " in output


def test_file_mirror(test_archive: Factory, archive_client: ClientFactory) -> None:
    archive = _bookworm(test_archive)
    client = archive_client(archive.release(), mirrors={"debian": archive.root.as_uri()})
    record = client.resolve(["libc6"])["libc6"]
    assert client.fetch([record])["libc6"].read_bytes() == (archive.root / record.filename).read_bytes()
    assert archive.server.log == []


# Replays


def test_an_older_inrelease_is_refused_after_a_newer_one_whatever_the_mirror(
    test_archive: Factory, archive_client: ClientFactory, cache_dir: Path
) -> None:
    archive = _bookworm(test_archive)
    release = archive.release()
    assert archive_client(release).resolve(["libc6"])["libc6"].version == "2.36-9"
    newer = Cache(cache_dir).load_inrelease(f"{archive.url}/dists/bookworm")
    week_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=7)
    older = archive.inrelease("bookworm", Date=testarchive._http_date(week_ago))
    # The same archive through a second mirror URL: the record is kept by what the signature proves.
    (archive.server.root / "second").symlink_to(archive.root)
    second = {"debian": f"{archive.server.url}/second"}
    for mirrors, path in (
        (None, archive.path("dists/bookworm/InRelease")),
        (second, "/second/dists/bookworm/InRelease"),
    ):
        archive.server.inject(path, testarchive.replace(older))
        with pytest.raises(
            VerificationError,
            match=r"InRelease of suite \"bookworm\" from .* is dated .*, older "
            r"than the .* one already accepted for this suite: .* pass --allow-older-index",
        ):
            archive_client(release, mirrors=mirrors).resolve(["libc6"])
    assert Cache(cache_dir).load_inrelease(f"{archive.url}/dists/bookworm") == newer
    assert Cache(cache_dir).load_inrelease(f"{archive.server.url}/second/dists/bookworm") is None
    # A deliberate rollback is allowed, and does not lower the record.
    archive.server.inject(archive.path("dists/bookworm/InRelease"), testarchive.replace(older))
    assert archive_client(release, allow_older_index=True).resolve(["libc6"])
    archive.server.inject(archive.path("dists/bookworm/InRelease"), testarchive.replace(older))
    with pytest.raises(VerificationError, match="older than"):
        archive_client(release).resolve(["libc6"])
    # Pruning the cache forgets downloads, not what was seen.
    Cache(cache_dir).prune(None)
    archive.server.inject(archive.path("dists/bookworm/InRelease"), testarchive.replace(older))
    with pytest.raises(VerificationError, match="older than"):
        archive_client(release).resolve(["libc6"])


def test_a_newer_inrelease_is_accepted_and_recorded(test_archive: Factory, archive_client: ClientFactory) -> None:
    archive = _bookworm(test_archive)
    release = archive.release()
    week_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=7)
    archive.server.inject(
        archive.path("dists/bookworm/InRelease"),
        testarchive.replace(archive.inrelease("bookworm", Date=testarchive._http_date(week_ago)), times=1),
    )
    assert archive_client(release).resolve(["libc6"])
    assert archive_client(release).resolve(["libc6"])  # the current one, newer
    archive.server.inject(
        archive.path("dists/bookworm/InRelease"),
        testarchive.replace(archive.inrelease("bookworm", Date=testarchive._http_date(week_ago)), times=1),
    )
    with pytest.raises(VerificationError, match="older than"):
        archive_client(release).resolve(["libc6"])


# Reusing the verdict on an InRelease


def test_the_verdict_on_unchanged_bytes_is_reused_online_and_offline(
    test_archive: Factory, archive_client: ClientFactory
) -> None:
    archive = _bookworm(test_archive)
    first = archive_client(archive.release())
    expected = first.resolve(["libc6"])
    assert (first.stats.signatures_checked, first.stats.signatures_reused) == (1, 0)
    for offline in (False, True):
        again = archive_client(archive.release(), offline=offline)
        assert again.resolve(["libc6"]) == expected
        assert (again.stats.signatures_checked, again.stats.signatures_reused) == (0, 1)


def test_other_bytes_with_the_same_text_are_verified_again(
    test_archive: Factory, archive_client: ClientFactory, other_key: pysequoia.Tsk
) -> None:
    archive = _bookworm(test_archive)
    archive_client(archive.release()).resolve(["libc6"])
    # The very text just verified, signed by a key the release does not pin.
    forged = archive.inrelease("bookworm", key=other_key)
    archive.server.inject(archive.path("dists/bookworm/InRelease"), testarchive.replace(forged))
    with pytest.raises(VerificationError, match="is not signed by a key pinned in test-release"):
        archive_client(archive.release()).resolve(["libc6"])
    # Signed again by the pinned key: other bytes, checked once more.
    archive.server.inject(archive.path("dists/bookworm/InRelease"), testarchive.replace(archive.inrelease("bookworm")))
    client = archive_client(archive.release())
    assert client.resolve(["libc6"])
    assert (client.stats.signatures_checked, client.stats.signatures_reused) == (1, 0)


def test_a_verdict_another_cache_sealed_is_not_trusted(
    test_archive: Factory, archive_client: ClientFactory, cache_dir: Path, other_key: pysequoia.Tsk, tmp_path: Path
) -> None:
    archive = _bookworm(test_archive)
    release = archive.release()
    archive_client(release).resolve(["libc6"])
    forged = archive.inrelease("bookworm", key=other_key)
    key = signed.verdict_key(forged, None, release, "debian")
    now = datetime.datetime.now(datetime.UTC)
    other = Cache(tmp_path / "other-cache")
    other.write_parsed(key, signed.verdict_bytes(archive.release_text("bookworm"), now))
    (cache_dir / "parsed" / key).write_bytes((tmp_path / "other-cache" / "parsed" / key).read_bytes())
    archive.server.inject(archive.path("dists/bookworm/InRelease"), testarchive.replace(forged))
    with pytest.raises(VerificationError, match="is not signed by a key pinned in test-release"):
        archive_client(release).resolve(["libc6"])
    assert not (cache_dir / "parsed" / key).exists()


def test_a_verdict_older_than_its_lifetime_is_reached_again(
    test_archive: Factory, archive_client: ClientFactory, cache_dir: Path
) -> None:
    archive = _bookworm(test_archive)
    release = archive.release()
    archive_client(release).resolve(["libc6"])
    data, _ = Cache(cache_dir).load_inrelease(f"{archive.url}/dists/bookworm") or (b"", None)
    stale = datetime.datetime.now(datetime.UTC) - signed.VERDICT_LIFETIME - datetime.timedelta(minutes=1)
    key = signed.verdict_key(data, None, release, "debian")
    Cache(cache_dir).write_parsed(key, signed.verdict_bytes(archive.release_text("bookworm"), stale))
    client = archive_client(release, offline=True)
    assert client.resolve(["libc6"])
    assert (client.stats.signatures_checked, client.stats.signatures_reused) == (1, 0)


def test_a_verdict_names_the_bytes_and_every_pinned_key(test_archive: Factory) -> None:
    release = _bookworm(test_archive).release()
    key = signed.verdict_key(b"text", None, release, "debian")
    assert signed.verdict_key(b"text", b"signature", release, "debian") != key
    assert signed.verdict_key(b"text ", None, release, "debian") != key
    (name,) = release.archives["debian"].public_keys
    rearmored = attrs.evolve(
        release,
        public_keys={name: attrs.evolve(release.public_keys[name], armor=release.public_keys[name].armor + "\n")},
    )
    assert signed.verdict_key(b"text", None, rearmored, "debian") != key


# Decompressing an index while it downloads


def test_an_xz_index_is_decompressed_while_it_downloads(test_archive: Factory, archive_client: ClientFactory) -> None:
    archive = _bookworm(test_archive)
    client = archive_client(archive.release())
    assert client.resolve(["libc6"])["libc6"].version == "2.36-9"
    assert (client.stats.indexes_parsed, client.stats.indexes_streamed) == (1, 1)


def test_a_resumed_index_download_is_decompressed_whole(
    test_archive: Factory, archive_client: ClientFactory, cache_dir: Path
) -> None:
    archive = _bookworm(test_archive)
    request = _xz_index_path(archive)
    archive.server.inject(request, testarchive.truncate(keep=100))
    client = archive_client(archive.release())
    assert client.resolve(["libc6", "tzdata"])["tzdata"].version == "2024a-0"
    assert (client.stats.indexes_parsed, client.stats.indexes_streamed) == (1, 1)
    assert archive.server.requests(request)[1].range == "bytes=100-"
    # What was parsed is what a later run parses from the stored blob.
    for path in _parsed_indexes(cache_dir):
        path.unlink()
    offline = archive_client(archive.release(), offline=True)
    assert offline.resolve(["libc6", "tzdata"]) == client.resolve(["libc6", "tzdata"])
    assert (offline.stats.indexes_parsed, offline.stats.indexes_streamed) == (1, 0)


def test_other_index_compressions_are_decompressed_after_the_download(
    test_archive: Factory, archive_client: ClientFactory
) -> None:
    archive = _bookworm(test_archive, compressions=("gz", ""))
    client = archive_client(archive.release())
    assert client.resolve(["libc6"])["libc6"].version == "2.36-9"
    assert (client.stats.indexes_parsed, client.stats.indexes_streamed) == (1, 0)
