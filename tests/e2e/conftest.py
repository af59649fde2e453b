"""Fixtures for the real-archive end-to-end tests: compiled test programs and cut roots.

- `chroot_binary` (once per run): coreutils `chroot`; skips unless running as root.
- `compile_program` (once per run): factory `compile_program("passwd.c")` -> the
  host-compiled binary of `programs/<source>` (for a `.java` source, the
  directory of its classes, built for Java 17); skips with the reason when the
  compiler or the headers a program needs are missing.
- `selections` (once per run): the slices the tests cut, per release.
- `cut_arguments` (once per run): factory `cut_arguments(release)` -> `--release`,
  the `--mirror` options naming the host's Debian mirror (skips without one) and
  `--cache-dir` of the shared network cache.
- `real_cut` (once per run): factory `real_cut(release, root, *slices, extra=())`
  -> the exit code of an in-process `slicer cut` with those options.
- `cut_root` (once per run): factory `cut_root(release, name="root")` -> a root
  holding the release's whole test selection, cut once per run and name,
  with its lock file next to it (`<root>.lock`).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from slicer.cache import Cache
from slicer.cli import main
from slicer.release.load import load_release
from slicer.release.model import Release
from tests.helpers.debs import DebSpec
from tests.helpers.releases import key_block

PROGRAMS = Path(__file__).parent / "programs"

# What each program links beyond the C library, and the host package giving its headers.
LINK_LIBRARIES = {"cacerts.c": (["-lssl", "-lcrypto"], "libssl-dev", "openssl/ssl.h")}

# A distroless-cc-like image: directories and /tmp, users, time zones, CA
# bundle, libc, OpenSSL and the C++ runtime.
SELECTIONS = {
    "debian-12": (
        "base-files_base",
        "base-passwd_nonroot",
        "ca-certificates_data",
        "tzdata_zoneinfo",
        "libc6_libs",
        "libssl3_libs",
        "openssl_config",
        "libgcc-s1_libs",
        "libstdc++6_libs",
    ),
    "debian-13": (
        "base-files_base",
        "base-passwd_nonroot",
        "ca-certificates_data",
        "tzdata_zoneinfo",
        "libc6_libs",
        "libssl3t64_libs",
        "openssl_config",
        "libgcc-s1_libs",
        "libstdc++6_libs",
    ),
}


@pytest.fixture(scope="session")
def chroot_binary() -> str:
    """coreutils chroot, which needs root to run anything."""
    if os.geteuid() != 0:
        pytest.skip("running programs in a cut root needs chroot, which needs root")
    found = shutil.which("chroot") or shutil.which("chroot", path="/usr/sbin:/sbin")
    if found is None:
        pytest.skip("coreutils chroot is not installed")
    return found


@pytest.fixture(scope="session")
def compile_program(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Factory: compile_program("tz.c") -> the binary, built once per run."""
    output = tmp_path_factory.mktemp("programs")
    built: dict[str, Path | str] = {}

    def build(source: str) -> Path:
        if source not in built:
            built[source] = _compile(PROGRAMS / source, output)
        result = built[source]
        if isinstance(result, str):
            pytest.skip(result)
        return result

    return build


def _compile(source: Path, output: Path) -> Path | str:
    """The binary (or class directory), or the reason it cannot be built on this host."""
    if source.suffix == ".java":
        return _compile_java(source, output)
    compiler = "g++" if source.suffix == ".cc" else "gcc"
    if shutil.which(compiler) is None:
        return f"{compiler} is not installed, so {source.name} cannot be compiled"
    libraries, headers_package, header = LINK_LIBRARIES.get(source.name, ([], "", ""))
    binary = output / source.stem
    result = subprocess.run(
        [compiler, "-O2", "-Wall", "-Werror", "-o", str(binary), str(source), *libraries],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        if header and header in result.stderr:
            return f"{source.name} needs {header}: install {headers_package}"
        raise AssertionError(f"{compiler} failed on {source.name}:\n{result.stderr}")
    return binary


def _compile_java(source: Path, output: Path) -> Path | str:
    """Classes for Java 17, so the same build runs on every release's JRE."""
    if shutil.which("javac") is None:
        return f"javac is not installed, so {source.name} cannot be compiled: install openjdk-17-jdk-headless"
    classes = output / source.stem
    result = subprocess.run(
        ["javac", "--release", "17", "-d", str(classes), str(source)], capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        raise AssertionError(f"javac failed on {source.name}:\n{result.stderr}")
    return classes


@pytest.fixture(scope="session")
def selections() -> dict[str, tuple[str, ...]]:
    """The slices every test cuts, per release."""
    return SELECTIONS


@pytest.fixture(scope="session")
def cut_arguments(
    host_mirrors: Callable[[Release], dict[str, str]], network_cache: Cache
) -> Callable[[str], list[str]]:
    """Factory: cut_arguments(release) -> the --release, --mirror and --cache-dir options of a real cut."""

    def arguments(release: str) -> list[str]:
        mirrors = host_mirrors(load_release(release))
        return [
            "--release",
            release,
            "--cache-dir",
            str(network_cache.directory),
            *(f"--mirror={archive}={url}" for archive, url in sorted(mirrors.items())),
        ]

    return arguments


@pytest.fixture(scope="session")
def real_cut(cut_arguments: Callable[[str], list[str]]) -> Callable[..., int]:
    """Factory: real_cut(release, root, *slices, extra=()) -> exit code of an in-process `slicer cut`."""

    def run(release: str, root: Path, *slices: str, extra: Sequence[str] = ()) -> int:
        return main(["-q", "cut", "--root", str(root), *cut_arguments(release), *extra, *slices])

    return run


@pytest.fixture(scope="session")
def cut_root(real_cut: Callable[..., int], tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """Factory: cut_root(release, name="root") -> the release's test selection, cut once per run and name.

    Each root's lock file is `<root>.lock`. Tests that change a root (by
    installing and running programs in it) use their own name. A failed cut
    fails every test that needs it, with slicer's error, without cutting again.
    """
    roots: dict[tuple[str, str], Path | str] = {}

    def get(release: str, name: str = "root") -> Path:
        if (release, name) not in roots:
            root = tmp_path_factory.mktemp(release) / name
            errors = io.StringIO()
            with contextlib.redirect_stderr(errors):
                code = real_cut(release, root, *SELECTIONS[release], extra=["--lock", f"{root}.lock"])
            roots[release, name] = root if code == 0 else f"cutting {release} failed: {errors.getvalue().strip()}"
        found = roots[release, name]
        if isinstance(found, str):
            pytest.fail(found)
        return found

    return get


@pytest.fixture
def release_of(test_archive, signing_key, tmp_path):
    """Factory: release_of(debs, slices) -> (archive, release directory) on a local signed archive."""
    cert = signing_key.extract_certificate()

    def make(packages: list[DebSpec], slices: dict[str, str]):
        archive = test_archive({"bookworm": packages})
        root = tmp_path / "release"
        (root / "slices").mkdir(parents=True)
        (root / "chisel.yaml").write_text(
            "format: v3\nmaintenance:\n  standard: 2023-06-10\n  end-of-life: 2099-01-01\n"
            f"archives:\n  debian:\n    version: '12'\n    suites: [bookworm]\n    components: [main]\n"
            f"    public-keys: [test-key]\n    url: {archive.url}\npublic-keys:\n" + key_block("test-key", cert)
        )
        for name, text in slices.items():
            (root / "slices" / name).write_text(textwrap.dedent(text))
        return archive, str(root) + "/"

    return make


@pytest.fixture
def local_release(release_of):
    """(archive, release directory/) of the local signed archive and slices that test_cut_local defines."""
    from tests.e2e.test_cut_local import SLICES, debs

    return release_of(debs(), SLICES)
