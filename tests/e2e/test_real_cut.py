"""Real slices cut from the real Debian archives, proven by programs run inside the root.

Each test program is compiled on the host, copied into the root and run with
`chroot`, as root and as the image's non-root user 65532. The same program
fails in a root holding only itself (no loader) and, where it needs more
than libraries, in a root holding only the libraries it links: so what
makes it pass is what the slices cut.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from attrs import field, frozen

from slicer import rootfs
from slicer.elf import read_elf
from tests.helpers.tree_fixtures import listing

pytestmark = pytest.mark.network

RELEASES = ("debian-12", "debian-13")
NONROOT = "65532:65532"
USERS = {"root": None, "nonroot": NONROOT}
# Programs live here inside a root, apart from everything the cut wrote.
PROGRAM_DIR = "/slicer-test"


@frozen
class Program:
    """A test program, what it prints when it works, and whether libraries alone satisfy it."""

    source: str
    expected: dict[str, str]  # user -> regular expression for its whole output
    env: dict[str, str] = field(factory=dict)
    needs_more_than_libraries: bool = True

    @property
    def name(self) -> str:
        return Path(self.source).stem


PROGRAMS = {
    program.name: program
    for program in (
        Program("hello.c", {"root": "hello: ok", "nonroot": "hello: ok"}, needs_more_than_libraries=False),
        Program(
            "passwd.c",
            {
                "root": "passwd: ok uid=0 name=root home=/root",
                "nonroot": "passwd: ok uid=65532 name=nonroot home=/home/nonroot",
            },
        ),
        Program("tmp.c", {"root": "tmp: ok", "nonroot": "tmp: ok"}),
        Program("tz.c", {"root": "tz: ok CET CEST", "nonroot": "tz: ok CET CEST"}, env={"TZ": "Europe/Amsterdam"}),
        Program(
            "cacerts.c",
            {"root": r"cacerts: ok [1-9]\d{2} certificates", "nonroot": r"cacerts: ok [1-9]\d{2} certificates"},
        ),
        Program("cxx.cc", {"root": "cxx: ok", "nonroot": "cxx: ok"}, needs_more_than_libraries=False),
    )
}


def run_in_root(chroot: str, root: Path, program: Program, user: str) -> subprocess.CompletedProcess[str]:
    """Run the program installed in `root` as `user`, with a minimal environment."""
    userspec = [f"--userspec={USERS[user]}"] if USERS[user] else []
    return subprocess.run(
        [chroot, *userspec, str(root), f"{PROGRAM_DIR}/{program.name}"],
        env={"PATH": "/usr/bin:/bin", "LC_ALL": "C", **program.env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def install(binary: Path, root: Path) -> None:
    """Copy a test program into `root`, executable by every user."""
    target = root / PROGRAM_DIR.lstrip("/")
    target.mkdir(parents=True, exist_ok=True)
    target.chmod(0o755)
    shutil.copyfile(binary, target / binary.name)
    (target / binary.name).chmod(0o755)


def linked_files(chroot: str, root: Path, binary: Path) -> list[str]:
    """The loader and every library the program loads in `root`, as the root's loader finds them."""
    interpreter = read_elf(binary).interpreter
    listed = subprocess.run(
        [chroot, str(root), interpreter, "--list", f"{PROGRAM_DIR}/{binary.name}"],
        env={"LC_ALL": "C"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, f"{interpreter} --list {binary.name} failed in {root}: {listed.stderr}"
    paths = re.findall(r"^\s*(?:\S+ => )?(/\S+) \(0x", listed.stdout, re.MULTILINE)
    assert interpreter in paths and len(paths) >= 2, listed.stdout
    return paths


def libraries_only_root(chroot: str, cut: Path, binary: Path, root: Path) -> None:
    """A root with the program and the files it links, copied from the cut root, and nothing else."""
    install(binary, root)
    for path in linked_files(chroot, cut, binary):
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(rootfs.resolve(cut, path), target)


def console_script() -> str:
    """The installed `slicer` command next to this interpreter, else on PATH."""
    beside = Path(sys.executable).parent / "slicer"
    found = str(beside) if beside.exists() else shutil.which("slicer")
    assert found, "the slicer console script is not installed (pip install -e .)"
    return found


@pytest.fixture
def program_root(
    cut_root: Callable[..., Path], compile_program: Callable[[str], Path], chroot_binary: str
) -> Callable[[str, Program], tuple[Path, Path]]:
    """Factory: program_root(release, program) -> (a cut root with the program installed, binary).

    Programs run in a root of their own: running them changes it (/tmp).
    """

    def make(release: str, program: Program) -> tuple[Path, Path]:
        binary = compile_program(program.source)
        root = cut_root(release, "programs")
        install(binary, root)
        return root, binary

    return make


@pytest.mark.parametrize("user", sorted(USERS))
@pytest.mark.parametrize("name", sorted(PROGRAMS))
@pytest.mark.parametrize("release", RELEASES)
def test_program_runs_in_the_cut_root(release: str, name: str, user: str, program_root, chroot_binary: str) -> None:
    program = PROGRAMS[name]
    root, _ = program_root(release, program)
    result = run_in_root(chroot_binary, root, program, user)
    assert result.returncode == 0, f"{name} failed as {user} in {release}: {result.stdout}{result.stderr}"
    assert re.fullmatch(program.expected[user], result.stdout.strip()), result.stdout


@pytest.mark.parametrize("user", sorted(USERS))
@pytest.mark.parametrize("name", sorted(PROGRAMS))
@pytest.mark.parametrize("release", RELEASES)
def test_program_fails_without_the_slices(
    release: str, name: str, user: str, program_root, chroot_binary: str, tmp_path: Path
) -> None:
    program = PROGRAMS[name]
    cut, binary = program_root(release, program)

    alone = tmp_path / "alone"
    install(binary, alone)
    result = run_in_root(chroot_binary, alone, program, user)
    assert result.returncode == 127 and "No such file or directory" in result.stderr, result

    libraries = tmp_path / "libraries"
    libraries_only_root(chroot_binary, cut, binary, libraries)
    result = run_in_root(chroot_binary, libraries, program, user)
    if program.needs_more_than_libraries:
        assert result.returncode == 1, result
        assert result.stdout.startswith(f"{name}: FAIL"), result.stdout
    else:  # the control: this root is complete for a program that needs only libraries
        assert result.returncode == 0, result
        assert re.fullmatch(program.expected[user], result.stdout.strip()), result.stdout


@pytest.mark.parametrize("release", RELEASES)
def test_recut_gives_an_identical_tree(
    release: str,
    cut_root: Callable[[str], Path],
    cut_arguments: Callable[[str], list[str]],
    selections: dict[str, tuple[str, ...]],
    tmp_path: Path,
) -> None:
    first = cut_root(release)
    second = tmp_path / "root"
    command = [console_script(), "-q", "cut", *cut_arguments(release), "--json"]
    result = subprocess.run(
        [*command, "--root", str(second), *selections[release]], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    written = json.loads(result.stdout)["written"]
    assert written > 100 and json.loads(result.stdout)["unchanged"] == 0
    assert listing(second) == listing(first)

    # Cutting the same slices into a root that holds them changes nothing.
    before = listing(first)
    again = subprocess.run(
        [*command, "--root", str(first), *selections[release]], capture_output=True, text=True, timeout=600
    )
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["written"] == 0 and summary["unchanged"] == written
    assert listing(first) == before


@pytest.mark.parametrize("release", RELEASES)
def test_lock_and_locked_round_trip(
    release: str,
    cut_root: Callable[[str], Path],
    real_cut: Callable[..., int],
    selections: dict[str, tuple[str, ...]],
    tmp_path: Path,
    capsys,
) -> None:
    first = cut_root(release)
    lock_path = Path(f"{first}.lock")
    lock = json.loads(lock_path.read_text())
    assert lock["release"] == release
    assert set(lock["packages"]) >= {"base-files", "libc6", "tzdata", "ca-certificates"}
    for entry in lock["packages"].values():
        assert re.fullmatch(r"[0-9a-f]{64}", entry["sha256"]) and entry["version"]

    locked = tmp_path / "locked"
    relocked = tmp_path / "again.lock"
    assert (
        real_cut(release, locked, *selections[release], extra=["--locked", str(lock_path), "--lock", str(relocked)])
        == 0
    )
    assert listing(locked) == listing(first)
    assert json.loads(relocked.read_text()) == lock
    capsys.readouterr()

    forged = dict(lock, packages=dict(lock["packages"], libc6=dict(lock["packages"]["libc6"], sha256="0" * 64)))
    forged_path = tmp_path / "forged.lock"
    forged_path.write_text(json.dumps(forged))
    refused = tmp_path / "refused"
    assert real_cut(release, refused, *selections[release], extra=["--locked", str(forged_path)]) == 1
    error = capsys.readouterr().err
    assert str(forged_path) in error and "libc6" in error and "0" * 64 in error, error
    assert not refused.exists()

    unknown = dict(lock, packages=dict(lock["packages"], tzdata=dict(lock["packages"]["tzdata"], version="0.0-0")))
    unknown_path = tmp_path / "unknown.lock"
    unknown_path.write_text(json.dumps(unknown))
    assert real_cut(release, refused, *selections[release], extra=["--locked", str(unknown_path)]) == 1
    error = capsys.readouterr().err
    assert str(unknown_path) in error and "tzdata 0.0-0" in error, error
    assert not refused.exists()
