"""Warm-cache `slicer cut` of a distroless-cc-like selection against `dpkg-deb -x` of the same packages.

One cut warms the cache (and Python's compiled modules) and writes a lock file; the .deb files it names are
then read from the cache (`<cache>/sha256/<hex>`). Each round times, one
after the other on the same machine: `slicer cut` (the console script, as a
user runs it) into a fresh directory, online and `--offline`, and `dpkg-deb
-x` of every package into a fresh directory, one process per package. Medians
are printed with the ratio slicer / dpkg-deb. `--profile` adds where an
in-process offline cut spends its time, and each package's extraction on one
thread (from its cached zstd copy, as a warm cut reads it) next to `dpkg-deb
-x` of that package.

    .venv/bin/python tests/bench/bench_cut.py [--release debian-12] [--repeat 5] [--profile]

The mirror comes from the host's apt sources (or SLICER_MIRROR_*).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from slicer.cache import Cache
from slicer.cli import main as slicer_main
from slicer.cut import extract
from slicer.cut.plan import plan
from slicer.deb import cached_data
from slicer.release.load import load_release
from slicer.release.selection import parse_keys, select
from slicer.report import Report

SLICES = (
    "base-files_base",
    "base-passwd_nonroot",
    "ca-certificates_data",
    "tzdata_zoneinfo",
    "libc6_libs",
    "libgcc-s1_libs",
    "libstdc++6_libs",
)


def timed(action: Callable[[Path], object], target: Path) -> float:
    """Seconds `action` takes to fill the fresh directory `target`, which is kept until the run ends."""
    started = time.perf_counter()
    action(target)
    return time.perf_counter() - started


def print_profile(profile: cProfile.Profile, order: str, restrict: str | None, count: int) -> None:
    report = io.StringIO()
    stats = pstats.Stats(profile, stream=report).sort_stats(order)
    stats.print_stats(*(arg for arg in (restrict, count) if arg is not None))
    print(report.getvalue())


def profile_cut(arguments: list[str], slices: tuple[str, ...], root: Path) -> None:
    """Where a whole in-process cut spends its time, seen from the main thread (the stages)."""
    profile = cProfile.Profile()
    profile.runcall(slicer_main, [*arguments, "--root", str(root), *slices])
    print("== whole cut, main thread, cumulative (extraction threads show as waiting) ==")
    print_profile(profile, "cumulative", "slicer/", 25)


def profile_extraction(
    release_name: str, slices: tuple[str, ...], arch: str, debs: dict[str, Path], cache: Cache, scratch: Path
) -> None:
    """Each package's extraction on this thread, timed next to `dpkg-deb -x` of the same package, then profiled."""
    plans = plan(select(load_release(release_name), parse_keys(slices), arch))

    def extract_into(name: str, target: Path) -> int:
        target.mkdir()
        report = Report()
        extract.extract_package(debs[name], plans[name], target, report, cached_data(debs[name], cache))
        return len(report.entries)

    print("== extraction per package: slicer (its slices' paths, one thread) vs dpkg-deb -x (every path) ==")
    for name, deb in debs.items():
        paths = extract_into(name, scratch / "count")
        shutil.rmtree(scratch / "count")
        ours = timed(lambda target, name=name: extract_into(name, target), scratch / f"ours-{name}")
        native = timed(
            lambda target, deb=deb: subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True),
            scratch / f"native-{name}",
        )
        print(
            f"  {name:<18} {deb.stat().st_size / 1e6:5.1f} MB   slicer {ours:5.2f} s ({paths:4} paths)"
            f"   dpkg-deb -x {native:5.2f} s"
        )
    profile = cProfile.Profile()
    for name in debs:
        timed(lambda target, name=name: profile.runcall(extract_into, name, target), scratch / f"profiled-{name}")
    print("== the same extractions under the profiler ==")
    print_profile(profile, "tottime", None, 20)


def user_environment() -> dict[str, str]:
    """The environment without `PYTHONDONTWRITEBYTECODE`: an installed slicer runs from compiled modules."""
    return {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def console_script() -> str:
    beside = Path(sys.executable).parent / "slicer"
    return str(beside) if beside.exists() else (shutil.which("slicer") or sys.exit("slicer is not installed"))


def compare(
    command: list[str], slices: tuple[str, ...], debs: list[Path], scratch: Path, repeat: int
) -> dict[str, list[float]]:
    """Seconds per round of each contender, run one after the other in every round."""

    def cut(target: Path, *extra: str) -> None:
        subprocess.run([*command, *extra, "--root", str(target), *slices], check=True, env=user_environment())

    def dpkg_deb(target: Path) -> None:
        target.mkdir()
        for deb in debs:
            subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True)

    actions: dict[str, Callable[[Path], object]] = {
        "slicer cut (warm)": cut,
        "slicer cut (warm, --offline)": lambda target: cut(target, "--offline"),
        "dpkg-deb -x": dpkg_deb,
    }
    rounds: dict[str, list[float]] = {label: [] for label in actions}
    for number in range(repeat):
        for index, (label, action) in enumerate(actions.items()):
            rounds[label].append(timed(action, scratch / f"run-{number}-{index}"))
    return rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", default="debian-12", help="bundled release name or release directory")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="profile one in-process offline cut")
    options = parser.parse_args()

    libssl = "libssl3t64" if "libssl3t64" in load_release(options.release).packages else "libssl3"
    slices = (*SLICES, f"{libssl}_libs")
    with tempfile.TemporaryDirectory() as directory:
        scratch = Path(directory)
        cache = scratch / "cache"
        lock = scratch / "cut.lock"
        arguments = ["-q", "cut", "--release", options.release, "--cache-dir", str(cache)]
        subprocess.run(
            [console_script(), *arguments, "--root", str(scratch / "warm-up"), "--lock", str(lock), *slices],
            check=True,
            env=user_environment(),
        )
        locked = json.loads(lock.read_text())
        debs = {name: cache / "sha256" / entry["sha256"] for name, entry in locked["packages"].items()}
        rounds = compare([console_script(), *arguments], slices, list(debs.values()), scratch, options.repeat)

        print(
            f"release {options.release}: {len(slices)} slices of {len(debs)} packages ({', '.join(sorted(debs))}), "
            f"{sum(deb.stat().st_size for deb in debs.values()) / 1e6:.1f} MB of .deb files"
        )
        medians = {label: statistics.median(times) for label, times in rounds.items()}
        for label, seconds in medians.items():
            spread = ", ".join(f"{value:.2f}" for value in rounds[label])
            print(f"  {label:<30} median {seconds:6.2f} s   ({spread})")
        for label in ("slicer cut (warm)", "slicer cut (warm, --offline)"):
            print(f"ratio {label} / dpkg-deb -x: {medians[label] / medians['dpkg-deb -x']:.2f}x (target 0.50x)")

        if options.profile:
            profile_cut([*arguments, "--offline"], slices, scratch / "profiled")
            profile_extraction(options.release, slices, locked["arch"], debs, Cache(cache), scratch)


if __name__ == "__main__":
    main()
