"""Sizes of slicer's distroless equivalents next to distroless's own.

Cuts, for debian-12 and debian-13 (amd64), the slice selection matching each
distroless image and prints a markdown table: files (sum of regular-file
sizes, what `docker images` roughly shows) and gz (the root as one gzip-6 tar
layer, the pull size), beside distroless's figures measured the same way
(see docs/bases.md for their source), and the ratio.

A second table measures the language-runtime bases (Java, Node.js, Python):
the cut root against the same packages installed whole, every package the cut
read extracted with `dpkg-deb -x`: entries (files, links and directories),
file bytes and the gzip-6 layer.

    .venv/bin/python tests/bench/bench_bases.py [--arch amd64] [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from slicer.cache import Cache, default_directory
from slicer.cli import main

STATIC = (
    "base-files_base",
    "base-files_release-info",
    "base-files_dpkg-status",
    "base-passwd_nonroot",
    "netbase_data",
    "tzdata_zoneinfo",
    "ca-certificates_data",
    "media-types_data",
)
LIBSSL = {"debian-12": "libssl3_libs", "debian-13": "libssl3t64_libs"}
PYTHON = {"debian-12": "python3.11_standard", "debian-13": "python3.13_standard"}

# distroless, amd64, rebuilt from current packages: (files MB, gz layers MB).
DISTROLESS = {
    ("debian-12", "static"): (2.11, 0.72),
    ("debian-12", "base-nossl"): (14.93, 5.67),
    ("debian-12", "base"): (20.85, 8.18),
    ("debian-12", "cc"): (23.68, 9.19),
    ("debian-13", "static"): (2.37, 0.86),
    ("debian-13", "base-nossl"): (15.39, 5.94),
    ("debian-13", "base"): (24.44, 9.50),
    ("debian-13", "cc"): (27.72, 10.69),
    ("debian-13", "python3"): (59.71, 22.58),
}

# The runtime bases: static + libc, then each runtime's user-facing slice.
RUNTIMES = {"java": ("default-jre-headless_bins",), "nodejs": ("nodejs_bins",), "python3": ("python3_standard",)}


def selections(release: str) -> dict[str, tuple[str, ...]]:
    nossl = (*STATIC, "libc6_libs")
    base = (*nossl, LIBSSL[release])
    cc = (*base, "libgcc-s1_libs", "libstdc++6_libs", "libgomp1_libs")
    return {"static": STATIC, "base-nossl": nossl, "base": base, "cc": cc, "python3": (*cc, PYTHON[release])}


def entries(root: Path) -> int:
    return sum(len(folders) + len(names) for _, folders, names in os.walk(root))


def sizes(root: Path) -> tuple[int, int]:
    files = 0
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder, name)
            if path.is_file() and not path.is_symlink():
                files += path.stat().st_size
    layer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=layer, mode="wb", compresslevel=6, mtime=0) as stream,
        tarfile.open(fileobj=stream, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for entry in sorted(root.iterdir()):
            tar.add(entry, arcname=entry.name)
    return files, len(layer.getvalue())


def cut(release: str, arch: str, cache_dir: Path, root: Path, *slices: str, lock: Path | None = None) -> None:
    options = ["--lock", str(lock)] if lock else []
    arguments = ["--release", release, "--arch", arch, "--root", str(root), "--cache-dir", str(cache_dir)]
    if main(["-q", "cut", *arguments, *options, *slices]):
        raise SystemExit(f"cutting {' '.join(slices)} for {release} failed")


def whole_packages(lock: Path, cache: Cache, target: Path) -> None:
    """Every package the lock file names, extracted whole into `target`."""
    for name, package in json.loads(lock.read_text())["packages"].items():
        deb = cache.lookup(package["sha256"])
        if deb is None:
            raise SystemExit(f"{name} is not in the cache {cache.directory}")
        subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True)


def runtime_table(arch: str, cache_dir: Path, tmp: str) -> None:
    print(
        "| release | base | slicer entries | whole entries | slicer files | whole files | ratio "
        "| slicer gz | whole gz | ratio |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for release in ("debian-12", "debian-13"):
        for image, slices in RUNTIMES.items():
            root, whole = Path(tmp, release, f"{image}-cut"), Path(tmp, release, f"{image}-whole")
            lock = Path(tmp, release, f"{image}.lock")
            cut(release, arch, cache_dir, root, *STATIC, "libc6_libs", *slices, lock=lock)
            whole_packages(lock, Cache(cache_dir), whole)
            (mine, mine_gz), (theirs, theirs_gz) = sizes(root), sizes(whole)
            print(
                f"| {release} | {image} | {entries(root)} | {entries(whole)} | {mine / 1e6:.2f} MB | "
                f"{theirs / 1e6:.2f} MB | {mine / theirs:.0%} | {mine_gz / 1e6:.2f} MB | "
                f"{theirs_gz / 1e6:.2f} MB | {mine_gz / theirs_gz:.0%} |"
            )


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="amd64")
    parser.add_argument("--cache-dir", type=Path, default=default_directory())
    parser.add_argument("--runtimes-only", action="store_true", help="print only the runtime bases' table")
    args = parser.parse_args()
    if args.runtimes_only:
        with tempfile.TemporaryDirectory() as tmp:
            runtime_table(args.arch, args.cache_dir, tmp)
        return
    print("| release | image | slicer files | distroless files | ratio | slicer gz | distroless gz | ratio |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for release in ("debian-12", "debian-13"):
            for image, slices in selections(release).items():
                root = Path(tmp, release, image)
                cut(release, args.arch, args.cache_dir, root, *slices)
                files, gz = sizes(root)
                theirs = DISTROLESS.get((release, image))
                ratio = (lambda mine, them: f"{mine / them:.0%}") if theirs else (lambda *_: "-")
                their_files = f"{theirs[0]:.2f} MB" if theirs else "-"
                their_gz = f"{theirs[1]:.2f} MB" if theirs else "-"
                print(
                    f"| {release} | {image} | {files / 1e6:.2f} MB | {their_files} | "
                    f"{ratio(files / 1e6, theirs[0]) if theirs else '-'} | {gz / 1e6:.2f} MB | {their_gz} | "
                    f"{ratio(gz / 1e6, theirs[1]) if theirs else '-'} |"
                )
        print()
        runtime_table(args.arch, args.cache_dir, tmp)


if __name__ == "__main__":
    main_()
