"""How many real packages `slicer draft` gets right with no hand edits.

Drafts the 30 packages below (plain C libraries, libraries with plugins, tools
with configuration, data packages, a runtime) in one run per release, into a
temporary folder, then runs `slicer check` on amd64 and arm64 with that folder
overlaid on the release (a drafted file replaces the repository's file of the
same package, so the drafts are measured even once reviewed files have landed).
A package passes when every check is "ok" on both architectures.

    .venv/bin/python tests/bench/draft_trial.py [--release debian-13] [--cache-dir DIR] [--keep DIR]

Prints one line per package and `N/30 pass with no hand edits` per release.
The mirror comes from the host's apt sources (or SLICER_MIRROR_*).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ARCHES = ("amd64", "arm64")
# Grouped by kind; drafted together so that they provide each other's libraries.
PACKAGES = {
    "C library": ("libjansson4", "libjq1", "libonig5", "libyaml-0-2", "libpq5", "libzmq5", "libnftables1"),
    "library with plugins": ("libnotify4", "libgdk-pixbuf-2.0-0", "p11-kit", "p11-kit-modules"),
    "tool with configuration": ("wget", "less", "sudo", "rsyslog"),
    "tool": ("jq", "zstd", "xz-utils", "sqlite3", "pwgen", "gawk", "file"),
    "data": (
        "publicsuffix",
        "distro-info-data",
        "dns-root-data",
        "wamerican",
        "fonts-dejavu-core",
        "geoip-database",
        "mysql-common",
    ),
    "runtime": ("lua5.4",),
}
KIND = {name: kind for kind, names in PACKAGES.items() for name in names}


def slicer(*args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from slicer.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, "-q", *args], capture_output=True, text=True, check=False)


def trial(release: str, cache: list[str], folder: Path) -> int:
    """Draft and check every package of the trial for one release; the number that pass."""
    names = list(KIND)
    drafted = slicer("draft", "--release", release, "--output", str(folder), "--force", *cache, *names)
    missing = [name for name in names if not (folder / f"{name}.yaml").exists()]
    if missing:
        raise SystemExit(f"{release}: draft wrote no file for {', '.join(missing)}:\n{drafted.stderr}")
    arches = [option for arch in ARCHES for option in ("--arch", arch)]
    checked = slicer("check", "--release", release, "--slices", str(folder), *arches, "--json", *cache, *names)
    if not checked.stdout.startswith("{"):
        raise SystemExit(f"{release}: check failed to run:\n{checked.stderr}")
    report = json.loads(checked.stdout)
    passed = 0
    for name in names:
        rows = report["packages"][name]
        bad = [row for row in rows if row["result"] != "ok"]
        reviews = (folder / f"{name}.yaml").read_text().count("# review:")
        verdict = "pass" if not bad else "FAIL"
        passed += not bad
        detail = "; ".join(
            f"{row['check']} {row['arch']}: {(row.get('problems') or [row.get('reason', '')])[0][:120]}" for row in bad
        )
        print(f"{release}  {name:22} {KIND[name]:24} {verdict}  {reviews} review questions  {detail}".rstrip())
    print(f"{release}: {passed}/{len(names)} pass with no hand edits")
    return passed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--release", action="append", help="release to draft for (repeatable; default: both)")
    parser.add_argument("--cache-dir", help="download cache (default: slicer's)")
    parser.add_argument("--keep", type=Path, help="write the drafts under this folder and keep them")
    args = parser.parse_args()
    cache = ["--cache-dir", args.cache_dir] if args.cache_dir else []
    for release in args.release or ["debian-13", "debian-12"]:
        if args.keep:
            folder = args.keep / release
            folder.mkdir(parents=True, exist_ok=True)
            trial(release, cache, folder)
            continue
        with tempfile.TemporaryDirectory(prefix=f"slicer-trial-{release}-") as temporary:
            trial(release, cache, Path(temporary))


if __name__ == "__main__":
    main()
