"""Sizes of slicer's distroless equivalents next to distroless's own.

Cuts, for debian-12 and debian-13 (amd64), the slice selection matching each
distroless image and prints a markdown table: files (sum of regular-file
sizes, what `docker images` roughly shows) and gz (the root as one gzip-6 tar
layer, the pull size), beside distroless's figures measured the same way
(see docs/bases.md for their source), and the ratio.

    .venv/bin/python tests/bench/bench_bases.py [--arch amd64]
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

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


def selections(release: str) -> dict[str, tuple[str, ...]]:
    nossl = (*STATIC, "libc6_libs")
    base = (*nossl, LIBSSL[release])
    cc = (*base, "libgcc-s1_libs", "libstdc++6_libs", "libgomp1_libs")
    return {"static": STATIC, "base-nossl": nossl, "base": base, "cc": cc, "python3": (*cc, PYTHON[release])}


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


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="amd64")
    args = parser.parse_args()
    print("| release | image | slicer files | distroless files | ratio | slicer gz | distroless gz | ratio |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for release in ("debian-12", "debian-13"):
            for image, slices in selections(release).items():
                root = Path(tmp, release, image)
                if main(["-q", "cut", "--release", release, "--arch", args.arch, "--root", str(root), *slices]):
                    raise SystemExit(f"cutting {image} for {release} failed")
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


if __name__ == "__main__":
    main_()
