"""The command line: help, exit codes, output streams and formats.

Most tests run the installed console script as a subprocess, the way users
run it; the rest call `slicer.cli.main` in-process where that reaches more.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from slicer import __version__
from slicer.cli import build_parser, host_arch, main
from slicer.errors import ReleaseError
from slicer.release import load as release_module
from slicer.release.model import Maintenance
from tests.helpers.debs import DebSpec, directory, file
from tests.helpers.releases import key_block

SLICER = Path(sys.executable).parent / "slicer"

SLICES = {
    "libfoo1.yaml": """\
        package: libfoo1
        essential:
          libfoo1_copyright:
        slices:
          libs:
            hint: Foo runtime library
            contents:
              /usr/lib/*-linux-*/libfoo.so.1*:
          copyright:
            contents:
              /usr/share/doc/libfoo1/copyright:
        """,
    "foo-tools.yaml": """\
        package: foo-tools
        slices:
          bins:
            hint: Foo command-line tools
            essential:
              libfoo1_libs:
            contents:
              /usr/bin/foo:
          config:
            contents:
              /etc/foo.conf: {text: "x = 1\\n", mode: 0640}
        """,
}


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The console script, with stdout and stderr captured (neither is a terminal)."""
    return subprocess.run([str(SLICER), *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def call(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`slicer.cli.main` in-process: (exit code, stdout, stderr)."""
    try:
        code = main(list(args))
    except SystemExit as exited:
        code = exited.code if isinstance(exited.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def release_dir(make_release) -> str:
    return str(make_release(SLICES)) + "/"


def test_console_script_is_installed():
    assert SLICER.is_file() and os.access(SLICER, os.X_OK)


# -- help --------------------------------------------------------------------------


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices) if actions else {}


def _commands() -> list[str]:
    return sorted(_subcommands(build_parser()))


def _command_paths() -> list[str]:
    """Every command and sub-command, e.g. "cut" and "cache info"."""
    paths = []
    for name, parser in sorted(_subcommands(build_parser()).items()):
        paths.append(name)
        paths += [f"{name} {action}" for action in sorted(_subcommands(parser))]
    return paths


@pytest.mark.parametrize("command", _command_paths())
def test_every_command_help_shows_examples(command, capsys):
    with pytest.raises(SystemExit) as exited:
        main([*command.split(), "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: slicer {command}")
    examples = out.split("examples:\n", 1)[1]
    assert f"  slicer {command}" in examples


def test_top_level_help_lists_commands_and_examples():
    result = run("--help")
    assert result.returncode == 0
    for command in _commands():
        assert f"    {command} " in result.stdout
    assert "examples:\n  slicer " in result.stdout


# -- exit codes ---------------------------------------------------------------------


def test_version_prints_the_package_version():
    result = run("version")
    assert (result.returncode, result.stdout, result.stderr) == (0, f"{__version__}\n", "")
    assert run("--version").stdout == f"slicer {__version__}\n"


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "usage: slicer"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["find"], "the following arguments are required: QUERY"),
        (["find", "--nope", "x"], "unrecognized arguments: --nope"),
        (["cut", "libc6_libs"], "the following arguments are required: --root"),
        (["cut", "--root", "r", "--ignore", "everything", "libc6_libs"], "invalid choice: 'everything'"),
        (["cut", "--root", "r", "--mirror", "debian", "libc6_libs"], "--mirror expects ARCHIVE=URL, got 'debian'"),
    ],
)
def test_usage_errors_exit_2(args, message, tmp_path):
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "r").exists()


def test_errors_are_one_line_without_traceback(tmp_path):
    result = run("info", "--release", f"{tmp_path}/absent/", "libc6")
    assert result.returncode == 1
    assert result.stderr == f"error: release directory {tmp_path}/absent/ has no chisel.yaml\n"
    assert result.stdout == ""


def test_a_slice_file_error_names_file_and_line(make_release, capsys):
    broken = make_release({"foo.yaml": "package: foo\nslices:\n  bar:\n    contents:\n      relative/path:\n"})
    assert call(capsys, "find", "--release", f"{broken}/", "foo") == (
        1,
        "",
        f"error: {broken}/slices/foo.yaml:5: slice foo_bar has invalid content path: relative/path\n",
    )


def test_debug_shows_the_traceback(tmp_path, capsys):
    result = run("--debug", "info", "--release", f"{tmp_path}/absent/", "libc6")
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "ReleaseError: release directory" in result.stderr
    # In-process, --debug lets the exception through; without it main() returns 1.
    with pytest.raises(ReleaseError):
        main(["--debug", "info", "--release", f"{tmp_path}/absent/", "libc6"])
    assert main(["info", "--release", f"{tmp_path}/absent/", "libc6"]) == 1
    assert capsys.readouterr().err == f"error: release directory {tmp_path}/absent/ has no chisel.yaml\n"


# -- find -----------------------------------------------------------------------------


def test_find_prints_a_table_sorted_by_name(release_dir):
    result = run("find", "--release", release_dir, "_libs")
    assert result.returncode == 0
    rows = [line.split() for line in result.stdout.splitlines() if line.strip()]
    assert rows[0] == ["Slice", "Hint"]
    assert rows[1:] == [["libfoo1_libs", "Foo", "runtime", "library"]]
    result = run("find", "--release", release_dir, "foo-tool")
    rows = [line.split()[0] for line in result.stdout.splitlines()[1:] if line.strip()]
    assert rows == ["foo-tools_bins", "foo-tools_config"]
    # A slice without a hint shows "-".
    assert result.stdout.splitlines()[2].split() == ["foo-tools_config", "-"]


def test_find_json(release_dir, capsys):
    code, out, _ = call(capsys, "find", "--json", "--release", release_dir, "*")
    assert code == 0
    assert json.loads(out) == [
        {"slice": "foo-tools_bins", "hint": "Foo command-line tools"},
        {"slice": "foo-tools_config", "hint": ""},
        {"slice": "libfoo1_copyright", "hint": ""},
        {"slice": "libfoo1_libs", "hint": "Foo runtime library"},
    ]


def test_find_without_match_says_so_on_stderr_and_succeeds(release_dir, capsys):
    assert call(capsys, "find", "--release", release_dir, "nothing", "_here") == (
        0,
        "",
        'No matching slices for "nothing _here"\n',
    )
    assert call(capsys, "find", "--json", "--release", release_dir, "nothing") == (0, "[]\n", "")


# -- info -----------------------------------------------------------------------------


def test_info_prints_yaml_documents(release_dir):
    result = run("info", "--release", release_dir, "libfoo1_libs", "foo-tools")
    assert (result.returncode, result.stderr) == (0, "")
    documents = list(yaml.safe_load_all(result.stdout))
    assert [d["package"] for d in documents] == ["libfoo1", "foo-tools"]
    assert list(documents[0]["slices"]) == ["libs"]
    assert documents[0]["slices"]["libs"]["essential"] == {"libfoo1_copyright": {}}
    assert documents[1]["slices"]["config"]["contents"]["/etc/foo.conf"] == {"text": "x = 1\n", "mode": 0o640}


def test_info_names_missing_queries_and_exits_1(release_dir, capsys):
    code, out, err = call(capsys, "info", "--release", release_dir, "nope", "libfoo1_libs", "libfoo1_nope")
    assert code == 1
    assert err == 'error: no slice definitions found for: "nope", "libfoo1_nope"\n'
    assert [d["package"] for d in yaml.safe_load_all(out)] == ["libfoo1"]


def test_slices_overlay_replaces_a_package_file(release_dir, tmp_path, capsys):
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "foo-tools.yaml").write_text("package: foo-tools\nslices:\n  extra:\n    hint: Replaced\n")
    code, out, _ = call(capsys, "find", "--json", "--release", release_dir, "--slices", str(overlay), "foo-tools")
    assert (code, json.loads(out)) == (0, [{"slice": "foo-tools_extra", "hint": "Replaced"}])


# -- cut --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "slice_name, message",
    [
        ("libfoo1", 'error: invalid slice reference: "libfoo1" (expected package_slice, e.g. libc6_libs)\n'),
        ("libfoo1_nope", "error: slice libfoo1_nope not found\n"),
        ("bar_libs", 'error: slices of package "bar" not found\n'),
    ],
)
def test_cut_selection_errors_exit_1_and_leave_no_root(slice_name, message, release_dir, tmp_path, capsys):
    root = tmp_path / "root"
    assert call(capsys, "-q", "cut", "--release", release_dir, "--arch", "amd64", "--root", str(root), slice_name) == (
        1,
        "",
        message,
    )
    assert not root.exists()


def test_cut_without_a_mirror_says_which_archive_lacks_one(make_release, release_cert, tmp_path, monkeypatch, capsys):
    archives = (
        "  local-test:\n    version: '1'\n    suites: [no-such-suite]\n    components: [main]\n"
        "    public-keys: [test-key]\n"
    )
    text = "format: v3\narchives:\n" + archives + "public-keys:\n" + key_block("test-key", release_cert)
    release_dir = make_release(SLICES, release_text=text)
    monkeypatch.delenv("SLICER_MIRROR_LOCAL_TEST", raising=False)
    assert call(
        capsys,
        "-q",
        "cut",
        "--release",
        f"{release_dir}/",
        "--arch",
        "amd64",
        "--root",
        str(tmp_path / "r"),
        "foo-tools_bins",
    ) == (
        1,
        "",
        'error: no mirror for archive "local-test" (suite no-such-suite): '
        "pass --mirror local-test=URL or set SLICER_MIRROR_LOCAL_TEST\n",
    )


@pytest.fixture
def libfoo_release(test_archive, signing_key, tmp_path) -> Path:
    """A release directory whose one archive, served on 127.0.0.1, holds libfoo1."""
    archive = test_archive(
        {
            "bookworm": [
                DebSpec(
                    "libfoo1",
                    "1.0-1",
                    "amd64",
                    [
                        directory("./usr/"),
                        directory("./usr/lib/"),
                        directory("./usr/lib/x86_64-linux-gnu/"),
                        file("./usr/lib/x86_64-linux-gnu/libfoo.so.1.0", b"\x7fELF", 0o644),
                        directory("./usr/share/"),
                        directory("./usr/share/doc/"),
                        directory("./usr/share/doc/libfoo1/"),
                        file("./usr/share/doc/libfoo1/copyright", "MIT\n"),
                    ],
                ),
            ]
        }
    )
    release_dir = tmp_path / "release"
    (release_dir / "slices").mkdir(parents=True)
    (release_dir / "chisel.yaml").write_text(
        "format: v3\narchives:\n  debian:\n    version: '12'\n    suites: [bookworm]\n    components: [main]\n"
        f"    public-keys: [test-key]\n    url: {archive.url}\npublic-keys:\n"
        + key_block("test-key", signing_key.extract_certificate())
    )
    (release_dir / "slices" / "libfoo1.yaml").write_text(
        "package: libfoo1\nessential:\n  libfoo1_copyright:\nslices:\n  libs:\n    contents:\n"
        "      /usr/lib/*-linux-*/libfoo.so.1*:\n  copyright:\n    contents:\n"
        "      /usr/share/doc/libfoo1/copyright:\n"
    )
    return release_dir


def test_cut_json_on_stdout_progress_on_stderr(libfoo_release, tmp_path):
    release_dir = libfoo_release
    root, cache = tmp_path / "root", tmp_path / "cache"
    args = [
        "cut",
        "--release",
        f"{release_dir}/",
        "--arch",
        "amd64",
        "--root",
        str(root),
        "--cache-dir",
        str(cache),
        "--json",
        "libfoo1_libs",
    ]
    first = run("-q", *args)
    assert (first.returncode, first.stderr) == (0, "")
    summary = json.loads(first.stdout)
    assert summary["slices"] == ["libfoo1_copyright", "libfoo1_libs"]
    assert [(p["name"], p["version"]) for p in summary["packages"]] == [("libfoo1", "1.0-1")]
    assert summary["unchanged"] == 0 and summary["written"] > 0
    assert (root / "usr/lib/x86_64-linux-gnu/libfoo.so.1.0").read_bytes() == b"\x7fELF"
    # Without -q the steps go to stderr, while stdout still holds only the JSON.
    second = run(*args)
    assert second.returncode == 0
    assert json.loads(second.stdout)["written"] == 0
    assert "Selected 2 slices of 1 package from" in second.stderr
    assert "0 paths written" in second.stderr


# Libraries that cost start-up time and that only some runs need.
HEAVY = ("cattrs", "difflib", "pysequoia", "requests", "rich", "slicer.cut.manifest", "starlark", "yaml")


def loaded_heavy(*args: str) -> list[str]:
    """Run the command line in a fresh interpreter; the heavy libraries it imported."""
    code = (
        "import json, sys\nfrom slicer.cli import main\ntry:\n    sys.exit(main(sys.argv[1:]))\nfinally:\n"
        f"    print(json.dumps(sorted(name for name in {HEAVY!r} if name in sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_host_arch_is_the_debian_name_of_the_machine():
    assert host_arch() == {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


@pytest.mark.parametrize(
    "given, debian",
    [
        ("x86_64", "amd64"),
        ("aarch64", "arm64"),
        ("armv7l", "armhf"),
        ("i686", "i386"),
        ("ppc64le", "ppc64el"),
        ("s390x", "s390x"),
        ("riscv64", "riscv64"),
        ("amd64", "amd64"),
        ("arm64/v8", "arm64"),
        ("arm/v7", "armhf"),
        ("arm/v6", "armel"),
        ("386", "i386"),
        ("linux/arm64", "arm64"),
        ("amd64/", "amd64"),
    ],
)
def test_arch_accepts_uname_and_docker_names(given, debian):
    args = build_parser().parse_args(["cut", "--root", "r", "--arch", given, "libc6_libs"])
    assert args.arch == debian


def test_an_unknown_arch_lists_the_valid_names(tmp_path):
    result = run("cut", "--root", "r", "--arch", "sparc", "libc6_libs", cwd=tmp_path)
    assert result.returncode == 2
    assert 'unknown architecture "sparc"; Debian names: amd64, arm64, armel, armhf, i386' in result.stderr
    assert "also accepted: 386, aarch64" in result.stderr and "x86_64" in result.stderr


@pytest.mark.parametrize("name", ["bookworm", "12", "debian12", "Bookworm"])
def test_release_accepts_codenames_and_numbers(name, capsys):
    code, out, _ = call(capsys, "info", "--release", name, "base-files_base")
    assert code == 0 and out.startswith("package: base-files\n")


def test_an_unknown_release_lists_names_and_codenames(capsys):
    assert call(capsys, "info", "--release", "sid", "libc6") == (
        1,
        "",
        (
            'error: unknown release "sid" (bundled releases: debian-12 (bookworm), debian-13 (trixie); '
            "a path containing / names a release directory)\n"
        ),
    )


def test_help_and_version_load_no_heavy_library():
    assert loaded_heavy("--help") == []
    assert loaded_heavy("version") == []


def test_a_warm_cut_loads_only_the_libraries_it_needs(libfoo_release, tmp_path):
    args = [
        "cut",
        "--release",
        f"{libfoo_release}/",
        "--arch",
        "amd64",
        "--cache-dir",
        str(tmp_path / "cache"),
        "libfoo1_libs",
    ]
    # The first cut parses the release, downloads and checks the InRelease signature: it needs YAML,
    # cattrs, HTTP and OpenPGP.
    assert loaded_heavy(*args, "--root", str(tmp_path / "first")) == ["cattrs", "pysequoia", "requests", "yaml"]
    # Online, a warm cut still fetches the InRelease, but reuses its verdict on unchanged bytes;
    # offline it needs the network library no more.
    assert loaded_heavy(*args, "--root", str(tmp_path / "online")) == ["requests"]
    assert loaded_heavy(*args, "--offline", "--root", str(tmp_path / "offline")) == []
    assert (tmp_path / "offline/usr/lib/x86_64-linux-gnu/libfoo.so.1.0").read_bytes() == b"\x7fELF"


# -- releases ---------------------------------------------------------------------------


def _bundled_rows(root: Path) -> list[dict]:
    """What `releases` should report, read straight from the release and slice files."""
    today = datetime.date.today()
    rows = []
    for path in sorted((root / "release").glob("*.yaml")):
        document = yaml.safe_load(path.read_text())
        dates = document["maintenance"]
        state = Maintenance(dates["standard"], dates["end-of-life"], dates.get("expanded"), dates.get("legacy")).state(
            today
        )
        slices = sum(
            len((yaml.safe_load(f.read_text()) or {}).get("slices") or {})
            for f in (root / "slices" / path.stem).rglob("*.yaml")
        )
        rows.append(
            {
                "release": path.stem,
                "codename": document.get("codename", ""),
                "state": state,
                "released": dates["standard"].isoformat(),
                "end-of-life": dates["end-of-life"].isoformat(),
                "slices": slices,
            }
        )
    return rows


def _summary(rows: list[dict]) -> list[dict]:
    keys = ("release", "codename", "state", "released", "end-of-life", "slices")
    return [{key: row[key] for key in keys} for row in rows]


def test_releases_lists_the_bundled_releases():
    result = run("releases", "--json")
    assert (result.returncode, result.stderr) == (0, "")
    rows = json.loads(result.stdout)
    assert _summary(rows) == _bundled_rows(release_module.data_root())
    assert [row["release"] for row in rows] == ["debian-12", "debian-13"]
    table = run("releases")
    assert table.returncode == 0
    lines = [line.split() for line in table.stdout.splitlines() if line.strip()]
    assert lines[0][:3] == ["Release", "Codename", "State"]
    assert [line[:3] for line in lines[1:]] == [[r["release"], r["codename"], r["state"]] for r in rows]


def _write_bundled(root: Path, cert, name: str, standard: str, end_of_life: str) -> None:
    (root / "release").mkdir(parents=True, exist_ok=True)
    (root / "slices" / name).mkdir(parents=True, exist_ok=True)
    (root / "release" / f"{name}.yaml").write_text(
        f"format: v3\nname: {name}\ncodename: {name.replace('-', '')}\n"
        f"maintenance:\n  standard: {standard}\n  end-of-life: {end_of_life}\n"
        "archives:\n  debian:\n    version: '1'\n    suites: [s]\n    components: [main]\n"
        "    public-keys: [test-key]\npublic-keys:\n" + key_block("test-key", cert)
    )
    (root / "slices" / name / "foo.yaml").write_text("package: foo\nslices:\n  one:\n  two:\n")


def test_releases_shows_each_maintenance_state(tmp_path, release_cert, monkeypatch, capsys):
    today = datetime.date.today()
    _write_bundled(tmp_path, release_cert, "test-1", "2000-01-01", (today - datetime.timedelta(days=1)).isoformat())
    _write_bundled(tmp_path, release_cert, "test-2", "2000-01-01", "2999-01-01")
    _write_bundled(tmp_path, release_cert, "test-3", (today + datetime.timedelta(days=1)).isoformat(), "2999-01-01")
    monkeypatch.setattr(release_module, "data_root", lambda: tmp_path)
    assert main(["releases", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["release"], r["codename"], r["state"], r["slices"]) for r in rows] == [
        ("test-1", "test1", "end-of-life", 2),
        ("test-2", "test2", "supported", 2),
        ("test-3", "test3", "unstable", 2),
    ]
    assert rows[1]["regular-support-until"] == rows[1]["end-of-life"] == "2999-01-01"
    assert main(["releases"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[2] for line in lines[1:] if line.strip()] == ["end-of-life", "supported", "unstable"]


# -- cache ---------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["before", "after"])
def test_cache_info_and_prune_count_every_file(where, tmp_path, capsys):
    cache = tmp_path / "cache"
    (cache / "sha256").mkdir(parents=True)
    (cache / "parsed").mkdir()
    (cache / "sha256" / ("ab" * 32)).write_bytes(b"x" * 2_000_000)
    (cache / "parsed" / ("cd" * 32)).write_bytes(b"y" * 1000)

    def cache_command(action: str, *options: str) -> list[str]:
        option = ["--cache-dir", str(cache)]
        return ["cache", *option, action, *options] if where == "before" else ["cache", action, *option, *options]

    assert main(cache_command("info")) == 0
    assert capsys.readouterr().out == f"{cache}: 2 files, 2.0 MB (1 downloaded or derived in sha256/)\n"
    assert main(cache_command("prune", "--older-than", "30")) == 0
    assert capsys.readouterr().out == "removed 0 files, 0 B\n"
    (cache / "sha256" / ("ef" * 32)).write_bytes(b"z")
    assert main(cache_command("prune")) == 0
    assert capsys.readouterr().out == "removed 3 files, 2.0 MB\n"
    assert not (cache / "sha256" / ("ab" * 32)).exists()


def run_as_nobody(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The console script as user and group 65534 (needs root to switch)."""
    if os.geteuid() != 0:
        pytest.skip("switching to another user needs root")
    return subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(SLICER), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


@pytest.fixture
def shared_dir():
    """A directory every user can reach (pytest's own are private to root), sticky like /tmp."""
    path = Path(tempfile.mkdtemp(prefix="slicer-shared-"))
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path)


def test_cache_directory_without_permission_suggests_another(shared_dir):
    locked = shared_dir / "locked"
    locked.mkdir(mode=0o555)
    result = run_as_nobody(
        "cut",
        "--release",
        "debian-12",
        "--arch",
        "amd64",
        "--root",
        str(shared_dir / "root"),
        "--offline",
        "base-files_base",
        env={"HOME": str(locked), "SLICER_CACHE_DIR": ""},
    )
    assert result.returncode == 1
    assert result.stderr == (
        f"error: cannot create the cache folder {locked}/.cache/slicer: Permission denied "
        "(choose a writable cache with --cache-dir DIR or SLICER_CACHE_DIR=DIR)\n"
    )


# -- cut --dry-run and non-root cuts ---------------------------------------------------------


def test_dry_run_prints_the_plan_and_writes_nothing(libfoo_release, tmp_path):
    root, cache = tmp_path / "root", tmp_path / "cache"
    args = [
        "cut",
        "--release",
        f"{libfoo_release}/",
        "--arch",
        "x86_64",
        "--root",
        str(root),
        "--cache-dir",
        str(cache),
        "libfoo1_libs",
    ]
    planned = run("-q", *args, "--dry-run", "--json")
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    assert not root.exists()
    assert [(p["name"], p["version"], p["archive"], p["suite"]) for p in plan["packages"]] == [
        ("libfoo1", "1.0-1", "debian", "bookworm")
    ]
    assert plan["download"]["packages"] == ["libfoo1"] and plan["download"]["bytes"] == plan["packages"][0]["size"]
    assert (plan["files"], plan["bytes"], plan["conflicts"]) == (2, 8, [])
    assert plan["write"] == plan["paths"] and plan["unchanged"] == 0
    # The real cut writes what the plan said; a second plan finds it all present.
    cut = run("-q", *args, "--json")
    assert json.loads(cut.stdout)["written"] == plan["write"]
    (root / "usr/share/doc/libfoo1/copyright").write_text("changed\n")
    text = run(*args, "--dry-run")
    assert text.returncode == 1
    assert text.stdout.splitlines()[0] == (
        f"Dry run: 2 slices of 1 package from release for amd64; nothing was written to {root}"
    )
    assert "Download: nothing (1 package cached)\n" in text.stdout
    assert text.stdout.endswith("Conflicts with the root: 1\n  /usr/share/doc/libfoo1/copyright\n")
    assert "the cut would fail: 1 path in" in text.stderr
    assert (root / "usr/share/doc/libfoo1/copyright").read_text() == "changed\n"


def test_a_non_root_cut_warns_once_about_owners_unless_quiet(libfoo_release, shared_dir):
    shared = shared_dir
    shutil.copytree(libfoo_release, shared / "release")
    args = [
        "cut",
        "--release",
        f"{shared}/release/",
        "--arch",
        "amd64",
        "--cache-dir",
        str(shared / "cache"),
        "libfoo1_libs",
    ]
    loud = run_as_nobody(*args, "--root", str(shared / "one"), env={})
    assert loud.returncode == 0, loud.stderr
    assert loud.stderr.count("warning: not running as root: every path in") == 1
    quiet = run_as_nobody("-q", *args, "--root", str(shared / "two"), env={})
    assert (quiet.returncode, quiet.stderr) == (0, ""), quiet.stderr
    assert (shared / "two/usr/lib/x86_64-linux-gnu/libfoo.so.1.0").stat().st_uid == 65534
    assert "not running as root" not in run(*args, "--root", str(shared / "three")).stderr


# -- progress ----------------------------------------------------------------------------


def run_in_terminal(*args: str, columns: int = 80) -> str:
    """The console script with stderr on a pseudo-terminal of `columns` columns; what the terminal got."""
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(columns)}
    process = subprocess.Popen([str(SLICER), *args], stdout=subprocess.DEVNULL, stderr=follower, env=env)
    os.close(follower)
    received = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the process is done
            break
        if not chunk:
            break
        received += chunk
    os.close(leader)
    assert process.wait(timeout=120) == 0, received.decode(errors="replace")
    return received.decode(errors="replace")


def cold_cut(release: Path, tmp_path: Path) -> list[str]:
    """A cut of libfoo1_libs with an empty cache: every step has something to do."""
    return [
        "cut",
        "--release",
        f"{release}/",
        "--arch",
        "amd64",
        "--root",
        str(tmp_path / "root"),
        "--cache-dir",
        str(tmp_path / "cache"),
        "libfoo1_libs",
    ]


def test_progress_on_a_terminal_shows_bytes_rate_and_time_left(libfoo_release, tmp_path):
    shown = run_in_terminal(*cold_cut(libfoo_release, tmp_path))
    frames = re.split(r"[\r\n]", re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown))
    # The last frame of each bar: the finished step.
    index_line = [frame for frame in frames if "Reading package indexes" in frame][-1]
    download_line = [frame for frame in frames if "Downloading" in frame][-1]
    for line in (index_line, download_line):
        # Bytes done of total, the rate, and the time left (0:00:00 at the end).
        assert re.search(r"\d+(\.\d+)?/\d+(\.\d+)? (bytes|kB)", line), line
        # Then the rate ("?" until rich has two samples: the local archive is fast) and the time left.
        assert re.search(r"(bytes|kB) (\?|[\d.]+ [kM]?B/s) \d:\d\d:\d\d$", line.rstrip()), line


def test_progress_off_a_terminal_is_one_line_per_step_with_sizes(libfoo_release, tmp_path):
    result = run(*cold_cut(libfoo_release, tmp_path))
    steps = [line for line in result.stderr.splitlines() if line.startswith(("Reading", "Downloading"))]
    assert len(steps) == 2
    assert re.fullmatch(r"Reading package indexes: \d+ B in \d+\.\ds \(\d+(\.\d)? [kM]?B/s\)", steps[0]), steps
    assert re.fullmatch(r"Downloading: \d+ B in \d+\.\ds \(\d+(\.\d)? [kM]?B/s\)", steps[1]), steps
