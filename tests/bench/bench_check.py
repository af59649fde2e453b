"""Warm-cache `slicer check` of a whole release on one architecture: this tree against a baseline revision.

The baseline is an earlier revision of this repository (default: the last one
before lone cuts ran in worker processes), exported with `git archive` and run
from the export. Both check the packages the baseline's bundled release has
too (each with its own slice files), with the same download cache; then this
tree checks its whole release, which is the number that matters as the
repository grows. One run of each warms the cache first. Each round times all
three, one after the other, and the medians are printed as seconds per
package, with the ratio baseline / now on the shared packages.

    .venv/bin/python tests/bench/bench_check.py [--release debian-12] [--arch amd64] [--repeat 3]
        [--baseline REV] [--packages N]

The mirror comes from the host's apt sources (or SLICER_MIRROR_*).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The revision before the lone cuts of `check` moved to worker processes.
BASELINE = "3c1ace0"


def export(revision: str, target: Path) -> Path:
    """The tree of `revision`, written under `target`."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def run_check(tree: Path, release: str, arch: str, packages: list[str]) -> float:
    """Seconds one `slicer check` run from `tree` takes; fails loudly if it reports problems."""
    code = "import sys; from slicer.cli import main; sys.exit(main(sys.argv[1:]))"
    command = [sys.executable, "-c", code, "-q", "check", "--release", release, "--arch", arch, "--json", *packages]
    environment = {**os.environ, "PYTHONPATH": str(tree)}
    started = time.perf_counter()
    # Run from the tree: `python -c` puts the working folder first on sys.path, before PYTHONPATH.
    done = subprocess.run(command, cwd=tree, env=environment, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        problems = json.loads(done.stdout)["problems"] if done.stdout.startswith("{") else done.stderr
        raise SystemExit(f"check from {tree} failed: {str(problems)[:2000]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--release", default="debian-12")
    parser.add_argument("--arch", default="amd64")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", default=BASELINE, help="git revision to compare with")
    parser.add_argument("--packages", type=int, default=0, help="check only the first N packages (default: all)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from slicer.cache import Cache
    from slicer.release.load import load_release

    names = sorted(load_release(args.release, (), Cache()).packages)
    with tempfile.TemporaryDirectory(prefix="slicer-bench-") as folder:
        baseline = export(args.baseline, Path(folder))
        release = load_release(args.release, (), Cache())
        folder_of_release = baseline / "slices" / release.name
        shared = sorted(set(names) & {path.stem for path in folder_of_release.glob("*.yaml")})
        if args.packages:
            shared, names = shared[: args.packages], names[: args.packages]
        run_check(ROOT, args.release, args.arch, names)  # warm the cache
        run_check(baseline, args.release, args.arch, shared)
        before, now, whole = [], [], []
        for _ in range(args.repeat):
            before.append(run_check(baseline, args.release, args.arch, shared))
            now.append(run_check(ROOT, args.release, args.arch, shared))
            whole.append(run_check(ROOT, args.release, args.arch, names))
    old, new, all_ = statistics.median(before), statistics.median(now), statistics.median(whole)
    print(f"{args.release} {args.arch}: {args.repeat} rounds (cpus: {os.cpu_count()}, load {os.getloadavg()[0]:.1f})")
    print(f"baseline {args.baseline}, {len(shared)} packages: {old:.1f} s, {old / len(shared):.2f} s/package")
    print(f"now, the same {len(shared)} packages: {new:.1f} s, {new / len(shared):.2f} s/package")
    print(f"ratio baseline / now: {old / new:.2f}x")
    print(f"now, whole release, {len(names)} packages: {all_:.1f} s, {all_ / len(names):.2f} s/package")
    print(f"600 packages now: about {all_ / len(names) * 600 / 60:.1f} min")


if __name__ == "__main__":
    main()
