"""Cold and warm cost of naming the Debian packages that ship libraries, from Contents indexes.

Cold: the Contents-<arch> indexes are in the cache as downloaded blobs (the
first run's download is timed apart) and are decompressed, checked and
scanned for their library lines, which are stored. Warm offline: the cached
InRelease files are verified and the stored library lines searched; nothing
is decompressed or scanned. The baseline, measured in the same run on the
same bytes, is what a plain reader does every time: decompress the main index
and split every line into a path -> packages table, then look the names up.

    .venv/bin/python tests/bench/bench_contents.py [--release debian-12] [--arch amd64] [--repeat 3]

The mirror comes from the host's apt sources (or SLICER_MIRROR_*).
"""

from __future__ import annotations

import argparse
import gzip
import io
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from slicer.archive import ArchiveClient, resolve_mirrors
from slicer.archive.libraries import PARSED_PREFIX, LibraryFinder
from slicer.cache import Cache
from slicer.console import Console
from slicer.release.load import known_suites, load_release
from tests.bench.bench_archive import timed

# Libraries of common programs, all in Contents-<arch> (a name it lacks would read Contents-all too).
NAMES = ["libc.so.6", "libssl.so.3", "libz.so.1", "libmagic.so.1", "libstdc++.so.6", "libapt-pkg.so.6.0"]


def naive_lookup(text: bytes, names: list[str]) -> dict[str, list[str]]:
    """Every line into a table, then the names looked up: a reader that keeps nothing."""
    table: dict[str, list[str]] = {}
    for line in text.decode("utf-8", "replace").splitlines():
        path, _, locations = line.rpartition(" ")
        table.setdefault(path.rstrip().rsplit("/", 1)[-1], []).append(locations)
    return {name: table.get(name, []) for name in names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", default="debian-12")
    parser.add_argument("--arch", default="amd64")
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()

    release = load_release(options.release)
    mirrors = resolve_mirrors(release, {}, known_suites())

    with tempfile.TemporaryDirectory() as directory:
        cache = Cache(Path(directory))

        def finder(**extra: object) -> LibraryFinder:
            client = ArchiveClient(
                release, options.arch, mirrors=mirrors, cache=cache, console=Console(io.StringIO()), **extra
            )  # type: ignore[arg-type]
            return LibraryFinder(client)

        started = time.perf_counter()
        first = finder()
        first.search(NAMES)
        download_and_scan = time.perf_counter() - started

        def cold() -> object:
            for entry in (cache.directory / "parsed").glob(PARSED_PREFIX + "*"):
                entry.unlink()
            return finder(offline=True).search(NAMES)

        cold_time, _ = timed(cold, options.repeat)
        warm_time, search = timed(lambda: finder(offline=True).search(NAMES), options.repeat)

        blob = max((cache.directory / "sha256").iterdir(), key=lambda path: path.stat().st_size)
        compressed = blob.read_bytes()
        decompress, text = timed(lambda: gzip.decompress(compressed), options.repeat)
        naive, _ = timed(lambda: naive_lookup(text, NAMES), 1)  # type: ignore[arg-type]
        stored = max(
            (path.stat().st_size for path in (cache.directory / "parsed").glob(PARSED_PREFIX + "*")), default=0
        )

    print(f"release {options.release}, arch {options.arch}, mirror {mirrors['debian']}")
    print(
        f"largest Contents index: {len(compressed) / 1e6:.1f} MB gz, {len(text) / 1e6:.1f} MB; "  # type: ignore[arg-type]
        f"its library lines {stored / 1e6:.1f} MB"
    )
    for name, shippers in search.shippers.items():  # type: ignore[attr-defined]
        print(f"  {name}: {', '.join(shipper.package for shipper in shippers[:3]) or 'none'}")
    rows = [
        ("first run: download, decompress, check, scan, store", download_and_scan),
        ("cold: decompress, check, scan, store (cached blobs)", cold_time),
        ("warm offline: verify InRelease, search stored lines", warm_time),
        ("baseline: gzip decompress of the largest index", decompress),
        ("baseline: split every line into a table, look up", naive),
    ]
    for label, seconds in rows:
        print(f"  {label:<54} {seconds * 1000:9.1f} ms")
    print(f"ratio baseline (decompress + table) / warm offline: {(decompress + naive) / warm_time:7.1f}x")
    print(f"ratio cold / warm offline: {cold_time / warm_time:7.1f}x")


if __name__ == "__main__":
    main()
