"""A cut next to the physical limits: writing its finished tree, unpacking its packages, downloading its bytes.

For each release and selection (`--selection cc`: a distroless-cc-like set;
`python3`: the python3 image of `docs/images/<release>/python3.yaml`), one
run prints side by side, each a ratio of medians measured in the same run:

- cold: `slicer cut` with an empty cache, against a plain parallel download
  with `curl` of the same files (each InRelease, each Packages index, each
  `.deb`), one after the other in each round;
- warm: `slicer cut` online and `--offline` into a fresh directory, `dpkg-deb
  -x` of every package (read from the cache, `<cache>/sha256/<hex>`, one
  process per package), and `tar -x` of an uncompressed tar of the finished
  tree, one after the other in each round.

The first cold cut writes a lock file, which names the `.deb` files and
their URLs. Every output stays on disk until the run ends (see
docs/benchmarks.md). Each contender's wall-clock time and the CPU time of the
processes it ran are both printed: on a loaded machine the CPU ratios move
less. `--baseline REV` runs the warm cuts of an earlier revision (exported
with `git archive`) beside this tree's in every round; `--revision REV`
measures that revision instead of the installed slicer, so the tree can
change while the benchmark runs. `--profile` adds where an in-process
offline cut spends its time, and each package's extraction on one thread
next to `dpkg-deb -x`.

    .venv/bin/python tests/bench/bench_cut.py [--release debian-12 debian-13] [--selection cc python3]
        [--repeat 5] [--cold-repeat 3] [--baseline REV] [--revision REV] [--profile]

The mirror comes from the host's apt sources (or SLICER_MIRROR_*).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from attrs import frozen

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from slicer.archive import resolve_mirrors, signed
from slicer.cache import Cache
from slicer.cli import main as slicer_main
from slicer.cut import extract
from slicer.cut.plan import plan
from slicer.deb import cached_data
from slicer.release.load import known_suites, load_release
from slicer.release.selection import parse_keys, select
from slicer.report import Report

ROOT = Path(__file__).resolve().parents[2]
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
    return timed_with_cpu(action, target)[0]


def children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def timed_with_cpu(action: Callable[[Path], object], target: Path) -> tuple[float, float]:
    """Wall-clock seconds `action` takes to fill `target`, and the CPU seconds of the processes it ran."""
    cpu, started = children_cpu(), time.perf_counter()
    action(target)
    return time.perf_counter() - started, children_cpu() - cpu


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


def export(revision: str, target: Path) -> Path:
    """The tree of `revision` of this repository, written under `target`."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision], check=True, capture_output=True).stdout
    target.mkdir()
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def slicer_command(tree: Path | None) -> tuple[list[str], dict[str, str]]:
    """How to run slicer: the installed console script, or the code of `tree` (`-P`: not the current directory's)."""
    if tree is None:
        return [console_script()], user_environment()
    code = "import sys; from slicer.cli import main; sys.exit(main(sys.argv[1:]))"
    return [sys.executable, "-P", "-c", code], {**user_environment(), "PYTHONPATH": str(tree)}


def curl_download(urls: list[str], target: Path) -> None:
    """Download `urls` in parallel (six at a time, as slicer does) into the fresh directory `target`."""
    target.mkdir()
    arguments = [argument for index, url in enumerate(urls) for argument in ("-o", str(target / str(index)), url)]
    command = ["curl", "-sS", "--no-progress-meter", "--fail", "--parallel", "--parallel-max", "6", *arguments]
    subprocess.run(command, check=True)


def downloaded_urls(release_name: str, arch: str, cache: Path, locked: dict[str, Any]) -> list[str]:
    """What a cold cut downloads: each suite's InRelease, its Packages index (by hash when offered), each .deb."""
    release = load_release(release_name)
    mirrors = resolve_mirrors(release, {}, known_suites())
    urls = []
    for archive in release.archives.values():
        for suite in archive.suites:
            url = f"{mirrors[archive.name]}/dists/{suite}"
            saved = Cache(cache).load_inrelease(url)
            if saved is None:
                continue  # not opened by this cut
            urls.append(f"{url}/InRelease")
            text = signed.verify(saved[0], saved[1], signed.load_certs(release, archive.name), url, release_name)
            info = signed.parse_inrelease(text, archive.name, suite, url, url)
            for component in archive.components:
                listed = info.files[f"{component}/binary-{arch}/Packages.xz"]
                folder = listed.path.rsplit("/", 1)[0]
                by_hash = f"{url}/{folder}/by-hash/SHA256/{listed.sha256}"
                urls.append(by_hash if info.by_hash else f"{url}/{listed.path}")
    urls += [f"{mirrors[entry['archive']]}/{entry['filename']}" for entry in locked["packages"].values()]
    return urls


def selection_slices(release_name: str, selection: str) -> tuple[str, ...]:
    if selection == "python3":
        image = yaml.safe_load((ROOT / "docs" / "images" / release_name / "python3.yaml").read_text())
        return tuple(image["slices"])
    libssl = "libssl3t64" if "libssl3t64" in load_release(release_name).packages else "libssl3"
    return (*SLICES, f"{libssl}_libs")


@frozen
class Measured:
    release: str
    selection: str
    packages: int
    deb_bytes: int
    download_bytes: int
    paths: int
    rounds: dict[str, list[float]]
    cpu: dict[str, list[float]]

    def median(self, label: str) -> float:
        return statistics.median(self.rounds[label])

    def median_cpu(self, label: str) -> float:
        return statistics.median(self.cpu[label])


def measure(
    release_name: str,
    selection: str,
    scratch: Path,
    repeat: int,
    cold_repeat: int,
    baseline: Path | None,
    current: Path | None,
) -> Measured:
    """Cold rounds (each with an empty cache), then warm rounds on the first cold cut's cache."""
    slices = selection_slices(release_name, selection)
    scratch.mkdir()
    lock = scratch / "cut.lock"
    rounds: dict[str, list[float]] = {label: [] for label in LABELS}
    cpu: dict[str, list[float]] = {label: [] for label in LABELS}

    def record(label: str, action: Callable[[Path], object], target: Path) -> None:
        wall, used = timed_with_cpu(action, target)
        rounds.setdefault(label, []).append(wall)
        cpu.setdefault(label, []).append(used)

    def cut(cache: Path, target: Path, *extra: str, tree: Path | None = current) -> None:
        arguments = ["-q", "cut", "--release", release_name, "--cache-dir", str(cache), *extra]
        command, environment = slicer_command(tree)
        subprocess.run([*command, *arguments, "--root", str(target), *slices], check=True, env=environment)

    cache = scratch / "cache-0"
    record(COLD, lambda target: cut(cache, target, "--lock", str(lock)), scratch / "cold-0")
    locked = json.loads(lock.read_text())
    urls = downloaded_urls(release_name, locked["arch"], cache, locked)
    record(CURL, lambda target: curl_download(urls, target), scratch / "curl-0")
    for number in range(1, cold_repeat):
        fresh = scratch / f"cache-{number}"
        record(COLD, lambda target, fresh=fresh: cut(fresh, target), scratch / f"cold-{number}")
        record(CURL, lambda target: curl_download(urls, target), scratch / f"curl-{number}")

    debs = [cache / "sha256" / entry["sha256"] for entry in locked["packages"].values()]
    tree = scratch / "tree.tar"
    subprocess.run(["tar", "-C", str(scratch / "cold-0"), "-cf", str(tree), "."], check=True)

    def dpkg_deb(target: Path) -> None:
        target.mkdir()
        for deb in debs:
            subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True)

    def untar(target: Path) -> None:
        target.mkdir()
        subprocess.run(["tar", "-C", str(target), "-xf", str(tree)], check=True)

    actions: dict[str, Callable[[Path], object]] = {
        WARM: lambda target: cut(cache, target),
        OFFLINE: lambda target: cut(cache, target, "--offline"),
        DPKG: dpkg_deb,
        TAR: untar,
    }
    if baseline is not None:
        cut(cache, scratch / "baseline-warm-up", tree=baseline)  # its own validated release in the cache
        actions[BASE_WARM] = lambda target: cut(cache, target, tree=baseline)
        actions[BASE_OFFLINE] = lambda target: cut(cache, target, "--offline", tree=baseline)
    for number in range(repeat):
        for index, (label, action) in enumerate(actions.items()):
            record(label, action, scratch / f"run-{number}-{index}")
    download = sum(path.stat().st_size for path in (scratch / "curl-0").iterdir())
    paths = sum(1 for _ in (scratch / "cold-0").rglob("*"))
    return Measured(
        release_name, selection, len(debs), sum(deb.stat().st_size for deb in debs), download, paths, rounds, cpu
    )


COLD, CURL = "slicer cut (cold)", "curl download"
WARM, OFFLINE = "slicer cut (warm)", "slicer cut (warm, --offline)"
DPKG, TAR = "dpkg-deb -x", "tar -x of the tree"
BASE_WARM, BASE_OFFLINE = "baseline cut (warm)", "baseline cut (warm, --offline)"
LABELS = (COLD, CURL, WARM, OFFLINE, DPKG, TAR)
# numerator, denominator, target
RATIOS = (
    ("offline/tar", OFFLINE, TAR, 3.0),
    ("online/tar", WARM, TAR, 4.0),
    ("warm/dpkg", WARM, DPKG, 0.35),
    ("cold/curl", COLD, CURL, 2.0),
)


def print_measured(measured: Measured) -> None:
    print(
        f"{measured.release} {measured.selection}: {measured.packages} packages, {measured.deb_bytes / 1e6:.1f} MB "
        f"of .deb files, {measured.download_bytes / 1e6:.1f} MB downloaded, {measured.paths} paths"
    )
    for label in measured.rounds:
        spread = ", ".join(f"{value:.2f}" for value in measured.rounds[label])
        print(
            f"  {label:<30} median {measured.median(label):6.2f} s, CPU {measured.median_cpu(label):6.2f} s"
            f"   (wall: {spread})"
        )


def print_ratios(results: list[Measured]) -> None:
    """The ratios of medians, of wall-clock time and (less sensitive to a loaded machine) of CPU time."""
    for kind, median in (("wall", Measured.median), ("CPU", Measured.median_cpu)):
        print(f"{f'ratio of {kind} (target)':<26}{''.join(f'{name:>12}' for name, *_ in RATIOS)}")
        targets = ("<= " + f"{target:.2f}" for *_, target in RATIOS)
        print(f"{'':<26}{''.join(f'{target:>12}' for target in targets)}")
        for measured in results:
            ratios = [(median(measured, top) / median(measured, bottom), target) for _, top, bottom, target in RATIOS]
            cells = "".join(f"{ratio:11.2f}{'*' if ratio > target else ' '}" for ratio, target in ratios)
            print(f"{measured.release + ' ' + measured.selection:<26}{cells}")
            if BASE_WARM in measured.rounds:
                before = [(BASE_OFFLINE, TAR), (BASE_WARM, TAR), (BASE_WARM, DPKG)]
                cells = "".join(f"{median(measured, top) / median(measured, bottom):11.2f} " for top, bottom in before)
                print(f"{'  baseline':<26}{cells}")
    print("(* misses its target)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", nargs="+", default=["debian-12", "debian-13"], help="bundled release names")
    parser.add_argument("--selection", nargs="+", default=["cc", "python3"], choices=["cc", "python3"])
    parser.add_argument("--repeat", type=int, default=5, help="warm rounds")
    parser.add_argument("--cold-repeat", type=int, default=3, help="cold rounds (each downloads everything)")
    parser.add_argument("--profile", action="store_true", help="profile one in-process offline cut of each")
    parser.add_argument("--baseline", help="git revision whose warm cuts run beside this tree's in every round")
    parser.add_argument("--revision", help="git revision to measure instead of the installed slicer")
    options = parser.parse_args()

    results = []
    with tempfile.TemporaryDirectory() as directory:
        baseline = export(options.baseline, Path(directory) / "baseline") if options.baseline else None
        current = export(options.revision, Path(directory) / "current") if options.revision else None
        for release_name in options.release:
            for selection in options.selection:
                scratch = Path(directory) / f"{release_name}-{selection}"
                measured = measure(
                    release_name, selection, scratch, options.repeat, options.cold_repeat, baseline, current
                )
                print_measured(measured)
                results.append(measured)
                if options.profile:
                    profile_both(release_name, selection_slices(release_name, selection), scratch)
        print_ratios(results)


def profile_both(release_name: str, slices: tuple[str, ...], scratch: Path) -> None:
    cache = scratch / "cache-0"
    (scratch / "extraction").mkdir()
    locked = json.loads((scratch / "cut.lock").read_text())
    arguments = ["-q", "cut", "--release", release_name, "--cache-dir", str(cache), "--offline"]
    profile_cut(arguments, slices, scratch / "profiled")
    debs = {name: cache / "sha256" / entry["sha256"] for name, entry in locked["packages"].items()}
    profile_extraction(release_name, slices, locked["arch"], debs, Cache(cache), scratch / "extraction")


if __name__ == "__main__":
    main()
