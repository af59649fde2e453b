"""Load + validate time of a large synthetic release.

Generates a chisel-format release of 1,000 packages, 3,000 slices, 10,000
literal paths and 3,000 globs spread over realistic prefixes, then times
`load_release` cold (parse every file, validate every rule, conflicts
included) and warm (the validated release read back from the cache).
chisel's published figure for a release of this size (ubuntu-24.04: 605
packages, 2,848 globs) is 10-35 s; the target here is under 1 s.

    .venv/bin/python tests/bench/bench_release.py [--packages 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from slicer import globs
from slicer.cache import Cache
from slicer.release.load import load_release
from tests.helpers.releases import test_cert, write_release

PREFIXES = [
    "/usr/lib/{triplet}/",
    "/usr/share/{pkg}/",
    "/usr/bin/",
    "/etc/{pkg}/",
    "/usr/lib/{pkg}/",
    "/usr/share/doc/{pkg}/",
    "/usr/libexec/{pkg}/",
    "/var/lib/{pkg}/",
]


def synthetic_slices(packages: int, seed: int = 1) -> dict[str, str]:
    """package file name -> YAML: 3 slices, 10 literal paths and 3 globs per package on average."""
    rng = random.Random(seed)
    files = {}
    names = [f"pkg{index:04d}" for index in range(packages)]
    for index, name in enumerate(names):
        lines = [f"package: {name}", "essential:", f"  {name}_copyright: null", "slices:"]
        slices: dict[str, list[str]] = {"copyright": [f"/usr/share/doc/{name}/copyright:"], "libs": [], "bins": []}
        for number in range(9):
            prefix = rng.choice(PREFIXES).format(triplet="x86_64-linux-gnu", pkg=name)
            path = f"{prefix}{name}-file{number}"
            slices[rng.choice(["libs", "bins"])].append(f"{path}:")
        for number in range(3):
            prefix = rng.choice(PREFIXES).format(triplet="*-linux-gnu", pkg=name)
            slices[rng.choice(["libs", "bins"])].append(f"{prefix}{name}-glob{number}*:")
        for slice_name, contents in slices.items():
            lines.append(f"  {slice_name}:")
            if slice_name != "copyright" and index:
                lines.append("    essential:")
                lines.append(f"      {names[rng.randrange(index)]}_libs: null")
            lines.append(f"    hint: Part {slice_name} of {name}")
            lines.append("    contents:")
            lines.extend(f"      {entry}" for entry in sorted(set(contents)))
        files[f"{name}.yaml"] = "\n".join(lines) + "\n"
    return files


def _forget_glob_results() -> None:
    for value in vars(globs).values():
        if hasattr(value, "cache_clear"):
            value.cache_clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = write_release(Path(tmp) / "release", test_cert(), synthetic_slices(args.packages))
        timings, warm = [], []
        for run in range(args.repeat):
            # A fresh cache directory per cold run: parse and validate everything,
            # and no glob results memoised by the run before, as in a new process.
            cache = Path(tmp) / f"cache{run}"
            _forget_glob_results()
            started = time.perf_counter()
            release = load_release(str(root) + "/", cache=Cache(cache))
            timings.append(time.perf_counter() - started)
            started = time.perf_counter()
            load_release(str(root) + "/", cache=Cache(cache))
            warm.append(time.perf_counter() - started)
    slices = sum(len(p.slices) for p in release.packages.values())
    paths = [path for p in release.packages.values() for s in p.slices.values() for path in s.contents]
    globbed = sum(1 for path in paths if "*" in path or "?" in path)
    best = min(timings)
    print(
        f"release: {len(release.packages)} packages, {slices} slices, {len(paths) - globbed} literal paths, "
        f"{globbed} globs"
    )
    print(f"cold load + validate: best {best:.3f} s, median {statistics.median(timings):.3f} s over {args.repeat} runs")
    print(
        f"warm load (validated release from the cache): best {min(warm):.3f} s "
        f"({best / min(warm):.0f}x faster than cold)"
    )
    print(
        f"cold vs chisel's published 10 s (fastest) / 35 s (slowest) for a release of this size: "
        f"{10 / best:.0f}x / {35 / best:.0f}x faster"
    )


if __name__ == "__main__":
    main()
