"""The record of the last full `slicer check` of a bundled release, and what changed since.

Checking every package of a release on every architecture takes long enough
that CI does it on amd64 only; for arm64 it checks the packages whose slice
file (or the release file) differs from the one a full run proved, and the
packages that need them. `slices/<release>/checked.json` holds that proof:
the SHA-256 of each package's file as it was when every check passed on
every architecture, with the run's date and duration.

To prove a whole release again and rewrite its record and README:

    .venv/bin/python -m tests.helpers.check_record debian-13 [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

import attrs

from slicer.check.changes import with_dependents
from slicer.cli import main as slicer_main
from slicer.release.load import data_root, load_release
from slicer.release.model import Release

ARCHITECTURES = ("amd64", "arm64")


@attrs.frozen
class Files:
    """Where a release's definitions and its record live: bundled, or a release directory."""

    release_file: Path
    slices: Path

    @classmethod
    def bundled(cls, name: str) -> Files:
        return cls(data_root() / "release" / f"{name}.yaml", data_root() / "slices" / name)

    @property
    def record(self) -> Path:
        return self.slices / "checked.json"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def current_digests(files: Files) -> tuple[str, dict[str, str]]:
    """The release file's digest, and each package's slice file digest."""
    packages = {path.stem: _digest(path) for path in sorted(files.slices.rglob("*.yaml"))}
    return _digest(files.release_file), packages


def load_record(files: Files) -> dict[str, Any] | None:
    if not files.record.is_file():
        return None
    record: dict[str, Any] = json.loads(files.record.read_text())
    return record


def unproven(release: Release, files: Files) -> list[str]:
    """Packages the record does not prove as they are now, and every package needing one of them."""
    release_digest, digests = current_digests(files)
    record = load_record(files)
    if record is None or record["release"] != release_digest:
        return sorted(digests)
    proven = record["packages"]
    changed = sorted(package for package, digest in digests.items() if proven.get(package) != digest)
    return with_dependents(release, changed)


def _check_everything(name: str, cache_dir: str | None) -> dict[str, Any]:
    args = ["-q", "check", "--release", name, "--json"]
    for arch in ARCHITECTURES:
        args += ["--arch", arch]
    if cache_dir:
        args += ["--cache-dir", cache_dir]
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        code = slicer_main(args)
    report: dict[str, Any] = json.loads(output.getvalue())
    if code != 0 or report["problems"]:
        for problem in report["problems"]:
            print(f"{problem['package']}: {problem['check']}: {problem['message']}", file=sys.stderr)
        raise SystemExit(f"{name}: the full check failed; the record is unchanged")
    return report


def prove(name: str, cache_dir: str | None) -> dict[str, Any]:
    """Run every check on every architecture and return the record of the pass."""
    release_digest, digests = current_digests(Files.bundled(name))
    started = time.monotonic()
    _check_everything(name, cache_dir)
    release = load_release(name)
    return {
        "date": datetime.date.today().isoformat(),
        "architectures": list(ARCHITECTURES),
        "seconds": round(time.monotonic() - started),
        "slices": sum(len(package.slices) for package in release.packages.values()),
        "release": release_digest,
        "packages": digests,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Prove bundled releases in full and record the pass.")
    parser.add_argument("names", nargs="+", metavar="RELEASE")
    parser.add_argument("--cache-dir")
    args = parser.parse_args(argv)
    from tests.test_slices_readme import readme_text

    for name in args.names:
        record = prove(name, args.cache_dir)
        Files.bundled(name).record.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        (data_root() / "slices" / name / "README.md").write_text(readme_text(name))
        print(f"{name}: {len(record['packages'])} packages proven in {record['seconds']} s")


if __name__ == "__main__":
    main()
