"""Cold and warm cost of opening debian-12's archives and resolving packages.

Cold: an empty cache; every InRelease is fetched and verified, every Packages
index downloaded, decompressed, parsed and stored in its compact form. Warm:
the same cache; InRelease files are fetched and verified again (they change
daily), the parsed indexes are loaded from the cache. Warm offline: no
network at all. The baseline, measured in the same run on the same bytes, is
what a plain reader does every time: decompress the main index and parse
every paragraph with a general deb822 reader.

    .venv/bin/python tests/bench/bench_archive.py [--release debian-12] [--arch amd64] [--repeat 3]

The mirror comes from the host's apt sources (or SLICER_MIRROR_*).
"""

from __future__ import annotations

import argparse
import io
import lzma
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from slicer.archive import ArchiveClient, deb822, resolve_mirrors
from slicer.archive.packages import PackageIndex
from slicer.cache import Cache
from slicer.console import Console
from slicer.release.load import load_release

PACKAGES = {
    "debian-12": [
        "base-files",
        "ca-certificates",
        "tzdata",
        "netbase",
        "libc6",
        "libgcc-s1",
        "libstdc++6",
        "libssl3",
        "zlib1g",
        "libzstd1",
        "liblzma5",
        "libbz2-1.0",
        "libffi8",
        "libexpat1",
        "libsqlite3-0",
    ],
    "debian-13": [
        "base-files",
        "ca-certificates",
        "tzdata",
        "netbase",
        "libc6",
        "libgcc-s1",
        "libstdc++6",
        "libssl3t64",
        "zlib1g",
        "libzstd1",
        "liblzma5",
        "libbz2-1.0",
        "libffi8",
        "libexpat1",
        "libsqlite3-0",
    ],
}


def timed(action: Callable[[], object], repeat: int) -> tuple[float, object]:
    """Median seconds over `repeat` runs, and the last result."""
    times = []
    result = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", default="debian-12", choices=sorted(PACKAGES))
    parser.add_argument("--arch", default="amd64")
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()

    release = load_release(options.release)
    known: dict[str, set[str]] = {}
    for name in PACKAGES:
        for archive in load_release(name).archives.values():
            known.setdefault(archive.name, set()).update(archive.suites)
    mirrors = resolve_mirrors(release, {}, known)
    names = PACKAGES[options.release]

    with tempfile.TemporaryDirectory() as directory:
        cache = Cache(Path(directory))

        def client(**extra: object) -> ArchiveClient:
            return ArchiveClient(
                release, options.arch, mirrors=mirrors, cache=cache, console=Console(io.StringIO()), **extra
            )  # type: ignore[arg-type]

        cold_client = client()
        started = time.perf_counter()
        cold_client.resolve(names)
        cold = time.perf_counter() - started
        warm, _ = timed(lambda: client().resolve(names), options.repeat)
        offline, _ = timed(lambda: client(offline=True).resolve(names), options.repeat)

        # The biggest index, bookworm or trixie main, as stored in the cache.
        main_suite = release.archives["debian"].suites[0]
        blob = max((cache.directory / "sha256").iterdir(), key=lambda path: path.stat().st_size)
        compressed = blob.read_bytes()
        text = lzma.decompress(compressed)
        decompress, _ = timed(lambda: lzma.decompress(compressed), options.repeat)
        naive_parse, paragraphs = timed(lambda: deb822.parse(text.decode("utf-8", "replace")), 1)
        fast_build, index = timed(lambda: PackageIndex.build(text), options.repeat)
        stored = index.to_bytes()  # type: ignore[union-attr]
        load, _ = timed(lambda: PackageIndex.from_bytes(stored).entries("libc6"), options.repeat)  # type: ignore[union-attr]

    naive = decompress + naive_parse
    print(f"release {options.release}, arch {options.arch}, {len(names)} packages, mirror {mirrors['debian']}")
    print(f"cold stats: {cold_client.stats}")
    print(
        f"{main_suite} main index: {len(compressed) / 1e6:.1f} MB xz, {len(text) / 1e6:.1f} MB, "
        f"{len(paragraphs)} paragraphs; parsed form {len(stored) / 1e6:.1f} MB"
    )  # type: ignore[arg-type]
    rows = [
        ("cold: fetch, verify, decompress, parse, store", cold),
        ("warm: fetch + verify InRelease, load parsed", warm),
        ("warm offline: verify cached InRelease, load parsed", offline),
        (f"baseline: xz decompress of {main_suite} main", decompress),
        ("baseline: general deb822 parse of it", naive_parse),
        ("fast scan + compact build of it", fast_build),
        ("load of its parsed form + one lookup", load),
    ]
    for label, seconds in rows:
        print(f"  {label:<52} {seconds * 1000:9.1f} ms")
    print(f"ratio naive decompress+parse / parsed load (one index): {naive / load:7.0f}x")
    print(f"ratio naive decompress+parse / warm offline resolve (all indexes): {naive / offline:7.1f}x")
    print(f"ratio cold / warm: {cold / warm:5.1f}x, cold / warm offline: {cold / offline:5.1f}x")


if __name__ == "__main__":
    main()
