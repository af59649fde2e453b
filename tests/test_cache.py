"""The content-addressed cache: location, verified reads, atomic writes, locking, pruning."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import threading
import time
from pathlib import Path

import pytest

from slicer.cache import BlobWriter, Cache, default_directory
from slicer.errors import CacheError, VerificationError

DATA = b"some package bytes\n" * 100
DIGEST = hashlib.sha256(DATA).hexdigest()


def _writer_of(data: bytes):
    def produce(writer: BlobWriter) -> None:
        writer.write(data)

    return produce


def test_default_directory_rule(tmp_path: Path) -> None:
    assert default_directory({"SLICER_CACHE_DIR": "/a", "XDG_CACHE_HOME": "/b"}) == Path("/a")
    assert default_directory({"XDG_CACHE_HOME": "/b"}) == Path("/b/slicer")
    assert default_directory({}) == Path.home() / ".cache" / "slicer"


def test_cache_without_directory_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLICER_CACHE_DIR", str(tmp_path / "env-cache"))
    assert Cache().directory == tmp_path / "env-cache"


def test_obtain_stores_once_and_reuses(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    calls = []

    def produce(writer: BlobWriter) -> None:
        calls.append(1)
        writer.write(DATA)

    first = cache.obtain(DIGEST, len(DATA), produce, "http://x/a.deb")
    second = cache.obtain(DIGEST, len(DATA), produce, "http://x/a.deb")
    assert first == second == tmp_path / "sha256" / DIGEST
    assert first.read_bytes() == DATA
    assert len(calls) == 1
    assert [path.name for path in (tmp_path / "sha256").iterdir()] == [DIGEST]


def test_writer_reset_starts_over(tmp_path: Path) -> None:
    def produce(writer: BlobWriter) -> None:
        writer.write(b"garbage that the server sent first")
        writer.reset()
        writer.write(DATA)

    assert Cache(tmp_path).obtain(DIGEST, len(DATA), produce, "src").read_bytes() == DATA


@pytest.mark.parametrize(
    ("data", "size", "message"),
    [
        (DATA[:-1] + b"?", len(DATA), "has SHA256 .*, but its signed index says " + DIGEST),
        (DATA[:-1], len(DATA), f"is {len(DATA) - 1} bytes, but its signed index says {len(DATA)}"),
    ],
)
def test_obtain_refuses_wrong_content_and_keeps_nothing(tmp_path: Path, data: bytes, size: int, message: str) -> None:
    cache = Cache(tmp_path)
    with pytest.raises(VerificationError, match=f"^http://x/a.deb {message}"):
        cache.obtain(DIGEST, size, _writer_of(data), "http://x/a.deb")
    assert list((tmp_path / "sha256").iterdir()) == []


def test_failed_producer_leaves_no_temporary_file(tmp_path: Path) -> None:
    def produce(writer: BlobWriter) -> None:
        writer.write(b"half")
        raise RuntimeError("network gone")

    with pytest.raises(RuntimeError):
        Cache(tmp_path).obtain(DIGEST, None, produce, "src")
    assert list((tmp_path / "sha256").iterdir()) == []


def test_damaged_blob_is_deleted_reported_and_fetched_again(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    path = cache.obtain(DIGEST, len(DATA), _writer_of(DATA), "src")
    path.write_bytes(DATA.replace(b"some", b"same", 1))
    reports: list[str] = []
    assert cache.lookup(DIGEST, reports.append) is None
    assert not path.exists()
    assert reports == [
        f"cached file {path} was damaged (its SHA256 is "
        f"{hashlib.sha256(DATA.replace(b'some', b'same', 1)).hexdigest()}); removed it"
    ]
    assert cache.obtain(DIGEST, len(DATA), _writer_of(DATA), "src").read_bytes() == DATA


def test_reads_touch_blobs_for_pruning(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    path = cache.obtain(DIGEST, None, _writer_of(DATA), "src")
    old = time.time() - 30 * 86400
    os.utime(path, (old, old))
    assert cache.lookup(DIGEST) == path
    assert path.stat().st_mtime > old + 86400


def test_info_and_prune_by_age(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    fresh = cache.obtain(DIGEST, None, _writer_of(DATA), "src")
    stale_data = b"stale"
    stale = cache.obtain(hashlib.sha256(stale_data).hexdigest(), None, _writer_of(stale_data), "src")
    cache.write_mapped("ab" * 32, b"parsed")
    cache.save_inrelease("http://m/dists/s", b"inrelease", None)
    info = cache.info()
    assert (info.path, info.blobs, info.bytes) == (tmp_path, 2, len(DATA) + 5 + 6 + 9)
    old = time.time() - 10 * 86400
    os.utime(stale, (old, old))
    result = cache.prune(older_than_days=7)
    assert (result.removed, result.freed) == (1, 5)
    assert fresh.exists() and not stale.exists()
    result = cache.prune(None)
    assert (result.removed, result.freed) == (3, len(DATA) + 6 + 9)
    assert cache.info().bytes == 0


def test_a_derived_blob_is_found_by_its_source_and_checked_on_use(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    derived = DATA.upper()
    assert cache.derived(DIGEST, "upper") is None
    path = cache.derive(DIGEST, "upper", _writer_of(derived))
    assert path == tmp_path / "sha256" / hashlib.sha256(derived).hexdigest()
    assert cache.derived(DIGEST, "upper") == path and path.read_bytes() == derived
    assert cache.derived(DIGEST, "lower") is None
    path.write_bytes(derived[:-1])
    reports: list[str] = []
    assert cache.derived(DIGEST, "upper", reports.append) is None
    assert len(reports) == 1 and not path.exists()
    assert cache.derived(DIGEST, "upper") is None
    assert cache.derive(DIGEST, "upper", _writer_of(derived)) == path
    assert cache.derived(DIGEST, "upper") == path


def test_a_failed_derivation_keeps_nothing(tmp_path: Path) -> None:
    cache = Cache(tmp_path)

    def fail(writer: BlobWriter) -> None:
        writer.write(b"partial")
        raise VerificationError("broken source")

    with pytest.raises(VerificationError):
        cache.derive(DIGEST, "upper", fail)
    assert cache.derived(DIGEST, "upper") is None
    assert list((tmp_path / "sha256").iterdir()) == []


def test_release_files_are_kept_per_url(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    assert cache.load_inrelease("http://m/dists/a") is None
    cache.save_inrelease("http://m/dists/a", b"release", b"signature")
    cache.save_inrelease("http://m/dists/b", b"inrelease", None)
    assert cache.load_inrelease("http://m/dists/a") == (b"release", b"signature")
    assert cache.load_inrelease("http://m/dists/b") == (b"inrelease", None)
    cache.save_inrelease("http://m/dists/a", b"newer inrelease", None)
    assert cache.load_inrelease("http://m/dists/a") == (b"newer inrelease", None)


def test_sealed_parsed_entries(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    assert cache.read_parsed("cd" * 32) is None
    cache.write_parsed("cd" * 32, b"index")
    assert cache.read_parsed("cd" * 32) == b"index"
    cache.discard_parsed("cd" * 32)
    assert cache.read_parsed("cd" * 32) is None


def test_parsed_entries_mapped(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    assert cache.map_parsed("cd" * 32) is None
    cache.write_mapped("cd" * 32, b"index")
    mapped = cache.map_parsed("cd" * 32)
    assert mapped is not None and mapped[:] == b"index"
    cache.write_mapped("cd" * 32, b"")
    assert cache.map_parsed("cd" * 32) is None


def _obtain_in_process(directory: str, marker: str) -> None:
    def produce(writer: BlobWriter) -> None:
        with open(marker, "a") as log:
            log.write("produced\n")
        time.sleep(0.2)  # hold the lock while "downloading"
        writer.write(DATA)

    Cache(Path(directory)).obtain(DIGEST, len(DATA), produce, "src")


def test_concurrent_processes_download_a_blob_once(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    context = multiprocessing.get_context("fork")
    processes = [
        context.Process(target=_obtain_in_process, args=(str(tmp_path / "cache"), str(marker))) for _ in range(3)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert marker.read_text() == "produced\n"
    assert (tmp_path / "cache" / "sha256" / DIGEST).read_bytes() == DATA


def test_prune_refuses_a_negative_age(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.obtain(DIGEST, None, _writer_of(DATA), "src")
    with pytest.raises(CacheError, match="give zero or more days"):
        cache.prune(-5)
    assert cache.info().blobs == 1


def test_prune_waits_for_cuts_using_the_cache(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.obtain(DIGEST, None, _writer_of(DATA), "src")
    done = threading.Event()
    with cache.in_use():
        pruning = threading.Thread(target=lambda: (Cache(tmp_path).prune(None), done.set()))
        pruning.start()
        assert not done.wait(0.5)
        assert cache.lookup(DIGEST) is not None
    pruning.join(10)
    assert done.is_set() and cache.lookup(DIGEST) is None


def test_a_partial_download_left_by_a_killed_run_is_removed_when_fetched_again(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.obtain(hashlib.sha256(b"other").hexdigest(), None, _writer_of(b"other"), "src")
    partial = tmp_path / "sha256" / f".tmp-{DIGEST}-abc123"
    partial.write_bytes(DATA[:3])
    cache.obtain(DIGEST, None, _writer_of(DATA), "src")
    assert not partial.exists()
