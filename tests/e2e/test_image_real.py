"""Images of real slices: built by `slicer image`, unpacked by umoci, run with chroot.

The cc image of each release (docs/images/<release>/cc.yaml) carries the
test programs of test_real_cut.py in an --add layer; umoci unpacks it with
the image's owners and each program runs as root and as 65532. slicer's own
image (docs/images/debian-12/slicer.yaml, slicer installed with
`pip install --target`) runs `slicer cut` inside itself against the host's
mirror.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from slicer.cli import main
from tests.e2e.test_real_cut import PROGRAM_DIR, PROGRAMS, USERS, run_in_root

pytestmark = pytest.mark.network

IMAGES = Path(__file__).parent.parent.parent / "docs" / "images"


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (.ci/run installs it)")
    return found


def unpack(layout: Path, bundle: Path) -> Path:
    result = subprocess.run(
        [tool("umoci"), "unpack", "--image", f"{layout}:latest", str(bundle)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return bundle / "rootfs"


@pytest.mark.parametrize("release", ["debian-12", "debian-13"])
def test_programs_run_in_the_unpacked_cc_image(
    release: str,
    cut_arguments: Callable[[str], list[str]],
    compile_program: Callable[[str], Path],
    chroot_binary: str,
    tmp_path: Path,
) -> None:
    programs = tmp_path / "programs"
    programs.mkdir()
    for program in PROGRAMS.values():
        shutil.copy(compile_program(program.source), programs / program.name)
    layout = tmp_path / "cc"
    code = main(
        [
            "-q",
            "image",
            "-f",
            str(IMAGES / release / "cc.yaml"),
            *cut_arguments(release),
            "--arch",
            "amd64",
            "--tag",
            "cc:latest",
            "--add",
            f"{programs}:{PROGRAM_DIR}",
            "--output",
            f"oci:{layout}",
        ]
    )
    assert code == 0
    rootfs = unpack(layout, tmp_path / "bundle")
    home = (rootfs / "home/nonroot").stat()
    assert (home.st_uid, home.st_mode & 0o777) == (65532, 0o700)
    runtime = json.loads((tmp_path / "bundle" / "config.json").read_text())
    assert runtime["process"]["user"]["uid"] == 65532 and runtime["process"]["cwd"] == "/home/nonroot"
    assert "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" in runtime["process"]["env"]
    for name, program in sorted(PROGRAMS.items()):
        for user in sorted(USERS):
            result = run_in_root(chroot_binary, rootfs, program, user)
            assert result.returncode == 0, f"{name} as {user}: {result.stderr}"
            assert re.fullmatch(program.expected[user], result.stdout.strip()), f"{name} as {user}: {result.stdout}"


def test_slicer_runs_slicer_cut_inside_its_own_image(
    cut_arguments: Callable[[str], list[str]], chroot_binary: str, tmp_path: Path
) -> None:
    """The self-image: the release's python3.11 plus slicer from `pip install --target`, cutting for real."""
    repository = IMAGES.parent.parent
    spec = tmp_path / "docs" / "images" / "debian-12" / "slicer.yaml"
    spec.parent.mkdir(parents=True)
    shutil.copy(IMAGES / "debian-12" / "slicer.yaml", spec)
    target = tmp_path / "build" / "slicer-debian-12-amd64"
    # This interpreter is CPython 3.11 on amd64, the ABI of debian-12's python3.11.
    assert sys.version_info[:2] == (3, 11) or pytest.skip("pip installs wheels for this interpreter: needs 3.11")
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--target", str(target), str(repository)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert installed.returncode == 0, installed.stderr
    layout = tmp_path / "slicer-image"
    arguments = cut_arguments("debian-12")
    code = main(
        [
            "-q",
            "image",
            "-f",
            str(spec),
            *arguments,
            "--arch",
            "amd64",
            "--tag",
            "slicer:latest",
            "--output",
            f"oci:{layout}",
        ]
    )
    assert code == 0
    rootfs = unpack(layout, tmp_path / "bundle")
    # A container runtime provides name resolution; so does this test, for the mirror's host name.
    shutil.copy("/etc/resolv.conf", rootfs / "etc" / "resolv.conf")
    mirrors = [argument for argument in arguments if argument.startswith("--mirror=")]
    result = subprocess.run(
        [
            chroot_binary,
            "--userspec=65532:65532",
            str(rootfs),
            "/usr/bin/python3.11",
            "-m",
            "slicer.cli",
            "-q",
            "cut",
            "--release",
            "debian-12",
            "--arch",
            "amd64",
            "--root",
            "/tmp/out",
            "--cache-dir",
            "/tmp/cache",
            *mirrors,
            "base-files_base",
            "base-passwd_nonroot",
        ],
        env={
            "PYTHONPATH": "/usr/lib/slicer",
            "HOME": "/home/nonroot",
            "LANG": "C.UTF-8",
            "PATH": "/usr/bin:/bin",
            **{key: value for key, value in os.environ.items() if "proxy" in key.lower()},
        },
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert (rootfs / "tmp/out/etc/passwd").read_text().startswith("root:x:0:0:")
    assert (rootfs / "tmp/out/tmp").stat().st_mode & 0o7777 == 0o1777
