"""Programs the bundled slices ship, run with chroot in roots cut from the real archive.

Each case cuts a few slices of one release into a fresh root and runs a
command inside it, as root and as uid 65532 (base-passwd_nonroot's user).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

PYTHON = {"debian-12": "python3.11", "debian-13": "python3.13"}
LIBSSL = {"debian-12": "libssl3", "debian-13": "libssl3t64"}
PYTHON_CHECK = (
    "import json, ssl, sqlite3, zoneinfo, ctypes, decimal, hashlib, lzma, bz2, zlib, uuid, datetime; "
    "ctx = ssl.create_default_context(); "
    "assert ctx.cert_store_stats()['x509_ca'] > 100, ctx.cert_store_stats(); "
    "db = sqlite3.connect(':memory:'); db.execute('create table t (x)'); "
    "tz = zoneinfo.ZoneInfo('Europe/Amsterdam'); "
    "assert datetime.datetime(2024, 7, 1, tzinfo=tz).utcoffset().seconds == 7200; "
    "print('python ok', ssl.OPENSSL_VERSION.split()[0], json.dumps(decimal.Decimal('1.5') > 1))"
)


def cases(release: str) -> list[tuple[str, tuple[str, ...], list[str], str]]:
    """(id, slices, command, expected output fragment)."""
    base = ("base-files_base", "base-passwd_nonroot")
    python = PYTHON[release]
    return [
        ("busybox", (*base, "busybox-static_bins"), ["/bin/busybox", "ls", "/"], "tmp"),
        ("dash", (*base, "dash_bins"), ["/bin/sh", "-c", "echo dash $((6 * 7))"], "dash 42"),
        ("bash", (*base, "bash_bins"), ["/bin/bash", "-c", "echo bash ${BASH_VERSINFO[0]}"], "bash 5"),
        ("coreutils", (*base, "coreutils_ls-bin", "coreutils_cat"), ["/usr/bin/ls", "/etc"], "passwd"),
        ("openssl", (*base, "openssl_bins"), ["/usr/bin/openssl", "version"], "OpenSSL 3"),
        (
            "python",
            (*base, f"{python}_standard", "ca-certificates_data", "tzdata_zoneinfo"),
            [f"/usr/bin/{python}", "-c", PYTHON_CHECK],
            "python ok OpenSSL true",
        ),
    ]


def _params() -> list:
    return [
        pytest.param(release, *case, id=f"{release}-{case[0]}")
        for release in ("debian-12", "debian-13")
        for case in cases(release)
    ]


@pytest.mark.network
@pytest.mark.parametrize("release,name,slices,command,expected", _params())
@pytest.mark.parametrize("user", ["root", "65532"])
def test_slice_program_runs(release, name, slices, command, expected, user, real_cut, chroot_binary, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"{release}-{name}-{user}") / "root"
    assert real_cut(release, root, *slices) == 0
    userspec = [] if user == "root" else ["--userspec=65532:65532"]
    result = subprocess.run(
        [chroot_binary, *userspec, str(root), *command],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": "/"},
    )
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout


@pytest.mark.network
@pytest.mark.parametrize("release", ["debian-12", "debian-13"])
def test_program_needs_its_slices(release, real_cut, chroot_binary, tmp_path):
    """Without python's standard slice the same check fails: the test above proves the slices."""
    root = tmp_path / "root"
    python = PYTHON[release]
    assert real_cut(release, root, "base-files_base", f"{python}_core") == 0
    result = subprocess.run(
        [chroot_binary, str(root), f"/usr/bin/{python}", "-c", PYTHON_CHECK], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "ModuleNotFoundError" in result.stderr or "ImportError" in result.stderr
    assert not Path(root, "usr/lib", python, "sqlite3").exists()
