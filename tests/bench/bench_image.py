"""`slicer image` of the cc image against the same `slicer cut`, from a warm cache.

Both commands run in-process, alternately, `--rounds` times each after one
warm-up of each (which fills the cache); the medians of wall-clock and CPU
time (all threads) and their ratios are printed, per compression and per
architecture count. CPU time shows the work done even on a loaded machine,
where wall-clock time mostly measures waiting for a core. The image writes every
layer (compressed), config, manifest and index on top of the cut.

A second table compares gzip compressors on the cc layer's own tar (taken from a
docker-archive, whose layers are uncompressed), cut in the pieces slicer compresses.

    .venv/bin/python tests/bench/bench_image.py [--release debian-12] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tarfile
import tempfile
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import deflate

from slicer.cli import main
from slicer.image.layer import GZIP_PIECE
from slicer.image.spec import load_spec

IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"


def timed(arguments: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one in-process command; CPU counts every thread of the process."""
    started, cpu = time.perf_counter(), time.process_time()
    if main(["-q", *arguments]):
        raise SystemExit(f"slicer {' '.join(arguments)} failed")
    return time.perf_counter() - started, time.process_time() - cpu


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", default="debian-12")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    slices = list(load_spec(IMAGES / args.release / "cc.yaml").slices)
    cases = [("gzip", "amd64"), ("zstd", "amd64"), ("gzip", "amd64,arm64")]
    print("| image | archs | cut wall (s) | image wall (s) | wall ratio | cut CPU (s) | image CPU (s) | CPU ratio |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        counter = 0

        def fresh(name: str) -> str:
            nonlocal counter
            counter += 1
            return str(Path(tmp, f"{name}{counter}"))

        for compression, archs in cases:
            cuts, images = [], []
            for round_ in range(args.rounds + 1):
                cut = [
                    timed(["cut", "--release", args.release, "--arch", arch, "--root", fresh("root"), *slices])
                    for arch in archs.split(",")
                ]
                image = timed(
                    [
                        "image",
                        "--release",
                        args.release,
                        "--arch",
                        archs,
                        "--compression",
                        compression,
                        "--output",
                        f"oci:{fresh('layout')}",
                        *slices,
                    ]
                )
                if round_:  # the first round warms the cache
                    cuts.append((sum(wall for wall, _ in cut), sum(cpu for _, cpu in cut)))
                    images.append(image)
            cut_wall, cut_cpu = (statistics.median(times) for times in zip(*cuts, strict=True))
            image_wall, image_cpu = (statistics.median(times) for times in zip(*images, strict=True))
            print(
                f"| cc {args.release} ({compression}) | {archs} | {cut_wall:.2f} | {image_wall:.2f} "
                f"| {image_wall / cut_wall:.2f}x | {cut_cpu:.2f} | {image_cpu:.2f} | {image_cpu / cut_cpu:.2f}x |",
                flush=True,
            )
    compressors(args.release, slices, args.rounds)


def zlib_member(data: bytes, level: int) -> bytes:
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)
    return compressor.compress(data) + compressor.flush()


def compressors(release: str, slices: list[str], rounds: int) -> None:
    """CPU time and size of each gzip compressor on the cc layer's tar, in slicer's pieces."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp, "cc.tar")
        timed(["image", "--release", release, "--arch", "amd64", "--output", f"docker-archive:{archive}", *slices])
        with tarfile.open(archive) as outer:
            [entry] = json.load(outer.extractfile("manifest.json"))
            layer = outer.extractfile(entry["Layers"][0]).read()
    pieces = [layer[start : start + GZIP_PIECE] for start in range(0, len(layer), GZIP_PIECE)]
    print(f"\n| gzip compressor ({len(layer) / 1e6:.1f} MB tar) | CPU (s) | layer (MB) |")
    print("|---|---:|---:|")
    cases = [(f"zlib level {level}", lambda piece, level=level: zlib_member(piece, level)) for level in (1, 4, 6)]
    cases += [
        (f"libdeflate level {level}", lambda piece, level=level: bytes(deflate.gzip_compress(piece, level)))
        for level in (1, 2, 4, 6)
    ]
    for name, compress in cases:
        times, size = [], 0
        for _ in range(rounds):
            started = time.process_time()
            size = sum(len(compress(piece)) for piece in pieces)
            times.append(time.process_time() - started)
        print(f"| {name} | {statistics.median(times):.3f} | {size / 1e6:.2f} |", flush=True)


if __name__ == "__main__":
    main_()
