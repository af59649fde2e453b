"""Warm-cache `slicer check` of a whole release on one architecture: this tree against a baseline revision.

The baseline is an earlier revision of this repository (default: the last one
before lone cuts ran in worker processes), exported with `git archive` and run
from the export; both check the same packages of the same bundled release, with
the same download cache. One run of this tree warms the cache first. Each round
times both, one after the other, and the medians are printed as seconds per
package with the ratio baseline / now.

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
    done = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
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
    packages = names[: args.packages] if args.packages else []
    count = len(packages or names)
    with tempfile.TemporaryDirectory(prefix="slicer-bench-") as folder:
        baseline = export(args.baseline, Path(folder))
        run_check(ROOT, args.release, args.arch, packages)  # warm the cache
        run_check(baseline, args.release, args.arch, packages)
        before, now = [], []
        for _ in range(args.repeat):
            before.append(run_check(baseline, args.release, args.arch, packages))
            now.append(run_check(ROOT, args.release, args.arch, packages))
    old, new = statistics.median(before), statistics.median(now)
    print(f"{args.release} {args.arch}: {count} packages, {args.repeat} rounds (cpus: {os.cpu_count()})")
    print(f"baseline {args.baseline}: {old:.1f} s, {old / count:.2f} s/package")
    print(f"now:              {new:.1f} s, {new / count:.2f} s/package")
    print(f"ratio baseline / now: {old / new:.2f}x; 600 packages now: about {new / count * 600 / 60:.1f} min")


if __name__ == "__main__":
    main()
