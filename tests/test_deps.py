"""`slicer deps`: ELF needs mapped to the slices that ship them, looked up in a local signed archive."""

from __future__ import annotations

import hashlib
import io
import json
import posixpath
import re
import subprocess
import textwrap
from pathlib import Path

import attrs
import pysequoia
import pytest

from slicer.archive import ArchiveOptions, open_archives
from slicer.cache import Cache
from slicer.cli import main
from slicer.console import Console
from slicer.contents import PackageContents, Provision, find_providers, read_listing
from slicer.deps import BASE_SLICES, DepsOptions, DepsReport, Need
from slicer.deps import deps as run_deps
from slicer.elf import read_elf
from slicer.release.load import load_release
from slicer.release.model import SliceKey
from slicer.tables import shell_command
from tests.helpers import testarchive
from tests.helpers.debs import DebSpec, directory, file, hardlink, library_debs, make_deb, symlink
from tests.helpers.elfs import build_elf
from tests.helpers.releases import key_block
from tests.helpers.testarchive import LocalArchive

TRUE = Path("/usr/bin/true")
TRUE_INFO = read_elf(TRUE) if TRUE.is_file() else None
needs_amd64_true = pytest.mark.skipif(
    TRUE_INFO is None
    or TRUE_INFO.arch != "amd64"
    or "libc.so.6" not in TRUE_INFO.needed
    or not TRUE_INFO.interpreter.endswith("/ld-linux-x86-64.so.2"),
    reason="this host's /usr/bin/true is not an amd64 program needing libc.so.6 through ld-linux-x86-64.so.2",
)

LIBC = textwrap.dedent("""\
    package: libc6
    essential:
      libc6_copyright:
    slices:
      libs:
        hint: C runtime libraries and dynamic loader
        contents:
          /lib64/ld-linux-x86-64.so.2: {arch: [amd64]}
          /usr/lib/*-linux-gnu/ld-linux-*.so.*:
          /usr/lib/*-linux-gnu/libc.so.6*:
      copyright:
        hint: Copyright and license notice
        contents:
          /usr/share/doc/libc6/copyright:
    """)

PRIVATE = textwrap.dedent("""\
    package: libpriv1
    slices:
      libs:
        hint: Private libraries
        contents:
          /usr/lib/priv/**:
    """)


def libc_debs() -> list[DebSpec]:
    """libc6 for amd64 with libc.so.6; for arm64 the file is named otherwise, so the glob finds no libc.so.6."""
    amd64 = DebSpec(
        "libc6",
        "2.36-9",
        "amd64",
        [
            directory("./usr/lib/x86_64-linux-gnu/"),
            file("./usr/lib/x86_64-linux-gnu/libc.so.6", build_elf(soname="libc.so.6", interpreter="")),
            file("./usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", build_elf(interpreter="")),
            symlink("./lib64/ld-linux-x86-64.so.2", "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
            file("./usr/share/doc/libc6/copyright", "LGPL\n"),
        ],
    )
    arm64 = DebSpec(
        "libc6",
        "2.36-9",
        "arm64",
        [
            file("./usr/lib/aarch64-linux-gnu/libc.so.6.debug", b"not a library"),
            file("./usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1", build_elf(machine=183, interpreter="")),
            file("./usr/share/doc/libc6/copyright", "LGPL\n"),
        ],
    )
    private = DebSpec(
        "libpriv1",
        "1.0-1",
        "all",
        [
            file("./usr/lib/priv/sub/libpriv.so.1", b"lib"),
            directory("./usr/lib/priv/libdir.so.2/"),
        ],
    )
    return [amd64, arm64, private]


SIDE = textwrap.dedent("""\
    package: libside2
    slices:
      copyright:
        contents:
          /usr/share/doc/libside2/copyright:
    """)


def write_release(root: Path, archive: LocalArchive, key: pysequoia.Tsk) -> Path:
    (root / "slices").mkdir(parents=True)
    (root / "chisel.yaml").write_text(
        "format: v3\nmaintenance:\n  standard: 2023-06-10\n  end-of-life: 2099-01-01\n"
        "archives:\n  debian:\n    version: '12'\n    suites: [bookworm]\n    components: [main]\n"
        f"    public-keys: [test-key]\n    url: {archive.url}\npublic-keys:\n"
        + key_block("test-key", key.extract_certificate())
    )
    (root / "slices" / "libc6.yaml").write_text(LIBC)
    (root / "slices" / "libpriv1.yaml").write_text(PRIVATE)
    (root / "slices" / "libside2.yaml").write_text(SIDE)
    return root


@pytest.fixture
def archive(test_archive) -> LocalArchive:
    return test_archive({"bookworm": [*libc_debs(), *library_debs()]})


@pytest.fixture
def release(archive, signing_key, tmp_path) -> Path:
    return write_release(tmp_path / "release", archive, signing_key)


def deps(release: Path, *args: str) -> int:
    return main(["-q", "deps", "--release", f"{release}/", "--cache-dir", str(release / "cache"), *args])


def program(tmp_path: Path, name: str, **options) -> Path:
    path = tmp_path / name
    path.write_bytes(build_elf(**options))
    return path


@needs_amd64_true
def test_a_host_program_needs_libc6_libs(release, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")
    assert deps(release, str(TRUE)) == 0
    out = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in out[1:3]]
    assert rows == [
        [str(TRUE), "amd64", "ld-linux-x86-64.so.2", "(loader)", "libc6_libs"],
        [str(TRUE), "amd64", "libc.so.6", "libc6_libs"],
    ]
    # Then the cut that gives the program its libraries (this release has no base slices).
    assert out[3:] == ["", f"slicer cut --release {release}/ --arch amd64 --root rootfs libc6_libs"]


@needs_amd64_true
def test_json_output(release, capsys):
    assert deps(release, "--json", str(TRUE)) == 0
    assert json.loads(capsys.readouterr().out) == {
        "release": "release",
        "needs": [
            {
                "file": str(TRUE),
                "arch": "amd64",
                "kind": "interpreter",
                "name": "ld-linux-x86-64.so.2",
                "slices": ["libc6_libs"],
                "packages": [],
            },
            {
                "file": str(TRUE),
                "arch": "amd64",
                "kind": "needed",
                "name": "libc.so.6",
                "slices": ["libc6_libs"],
                "packages": [],
            },
        ],
        "standalone": [],
        "missing": [],
        "slices": ["libc6_libs"],
        "cut": {"amd64": f"slicer cut --release {release}/ --arch amd64 --root rootfs libc6_libs"},
        "draft": [],
        "unnamed": [],
    }


def test_unprovided_libraries_are_reported_and_fail(release, tmp_path, capsys):
    server = program(tmp_path, "server", needed=("libc.so.6", "libnope.so.9"), interpreter="")
    static = program(tmp_path, "static", interpreter="")
    assert deps(release, "--json", str(server), str(static)) == 1
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert [(need["name"], need["slices"]) for need in report["needs"]] == [
        ("libc.so.6", ["libc6_libs"]),
        ("libnope.so.9", []),
    ]
    assert (report["missing"], report["standalone"]) == (["libnope.so.9"], [str(static)])
    assert "warning: no slice of release release provides libnope.so.9" in captured.err


def test_globs_provide_only_what_the_real_package_ships(release, tmp_path, capsys):
    # On arm64 the libc.so.6* glob matches libc.so.6.debug only, and the ld-linux-x86-64 literal is amd64's.
    app = program(tmp_path, "app", machine=183, needed=("libc.so.6",), interpreter="/lib/ld-linux-aarch64.so.1")
    assert deps(release, "--json", str(app)) == 1
    report = json.loads(capsys.readouterr().out)
    assert [(need["arch"], need["name"], need["slices"]) for need in report["needs"]] == [
        ("arm64", "ld-linux-aarch64.so.1", ["libc6_libs"]),
        ("arm64", "libc.so.6", []),
    ]


def test_double_star_globs_provide_files_but_not_directories(release):
    loaded = load_release(f"{release}/", cache=Cache(release / "cache"))
    console = Console(io.StringIO())
    client = open_archives(loaded, "amd64", console, ArchiveOptions(cache_dir=release / "cache"))
    contents = PackageContents(loaded, "amd64", client, console)
    found = find_providers(loaded, contents, ["libpriv.so.1", "libdir.so.2", "libc.so.6", "absent.so.1"])
    assert found == {
        "absent.so.1": [],
        "libc.so.6": [Provision(SliceKey("libc6", "libs"), "/usr/lib/x86_64-linux-gnu/libc.so.6")],
        "libdir.so.2": [],
        "libpriv.so.1": [Provision(SliceKey("libpriv1", "libs"), "/usr/lib/priv/sub/libpriv.so.1")],
    }
    assert sorted(contents.fetched) == ["libc6", "libpriv1"]


def test_files_that_cannot_be_mapped_are_one_sentence_errors(release, tmp_path, capsys):
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    assert deps(release, str(text)) == 1
    assert capsys.readouterr().err.strip() == f"error: {text} is not an ELF file"
    assert deps(release, str(tmp_path / "absent")) == 1
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'absent'} is not a file"
    amd64 = program(tmp_path, "amd64-app", needed=("libc.so.6",))
    assert deps(release, "--arch", "arm64", str(amd64)) == 1
    assert capsys.readouterr().err.strip() == f"error: {amd64} is an ELF file for amd64, not arm64"


def test_listing_hashes_files_and_reads_elf_through_hard_links(tmp_path):
    library = build_elf(soname="libx.so.1", needed=("libc.so.6",), interpreter="")
    deb = tmp_path / "x.deb"
    deb.write_bytes(
        make_deb(
            [
                directory("./usr/lib/"),
                file("./usr/lib/libx.so.1", library, 0o644),
                hardlink("./usr/lib/libx-again.so.1", "./usr/lib/libx.so.1"),
                file("./usr/lib/broken.so", b"\x7fELF\x02\x01\x01" + bytes(9)),
                file("./usr/share/data", b"plain"),
            ],
            "x",
        )
    )
    listing = read_listing("x", "1.0-1", deb)
    assert listing.items["/usr/lib/"].kind == "dir"
    assert listing.items["/usr/share/data"].sha256 == hashlib.sha256(b"plain").hexdigest()
    assert listing.items["/usr/lib/libx.so.1"].sha256 == hashlib.sha256(library).hexdigest()
    assert listing.items["/usr/lib/libx-again.so.1"].sha256 == hashlib.sha256(library).hexdigest()
    assert listing.elves["/usr/lib/libx-again.so.1"].needed == ("libc.so.6",)
    assert listing.elves["/usr/lib/libx.so.1"].soname == "libx.so.1"
    assert listing.broken["/usr/lib/broken.so"].startswith('/usr/lib/broken.so of package "x" is not a valid ELF file')
    assert "/usr/share/data" not in listing.elves
    assert listing.matching("/usr/lib/libx*") == ["/usr/lib/libx.so.1", "/usr/lib/libx-again.so.1"]
    assert listing.matching("/usr/lib") == []


def test_the_cut_command_puts_base_slices_first_and_one_slice_per_line_when_long():
    libs = [SliceKey("libc6", "libs"), SliceKey("libssl3", "libs"), SliceKey("libstdc++6", "libs")]
    report = DepsReport(
        "debian-12",
        "bookworm",
        list(BASE_SLICES),
        [Need("app", "arm64", "needed", f"lib{number}.so", (key,)) for number, key in enumerate(libs)]
        + [Need("app", "arm64", "needed", "libnone.so.1", ())],
    )
    (words,) = report.cut_commands().values()
    assert words == [
        "slicer",
        "cut",
        "--release",
        "bookworm",
        "--arch",
        "arm64",
        "--root",
        "rootfs",
        *BASE_SLICES,
        "libc6_libs",
        "libssl3_libs",
        "libstdc++6_libs",
    ]
    assert shell_command(words, 80).splitlines() == [
        "slicer cut --release bookworm --arch arm64 --root rootfs \\",
        *[f"    {name} \\" for name in [*BASE_SLICES, "libc6_libs", "libssl3_libs"]],
        "    libstdc++6_libs",
    ]
    assert shell_command(words, 1000) == " ".join(words)


def unprovided_section(out: str) -> list[str]:
    return out[out.index("No slice provides:") :].splitlines()


def test_a_library_no_slice_provides_is_named_with_the_debian_packages_that_ship_it(
    release, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "1000")
    needed = ("libc.so.6", "libnope.so.9", "libjnihelper.so", "libside.so.2", "libabsent.so.1")
    app = program(tmp_path, "app", needed=needed, interpreter="")
    assert deps(release, str(app)) == 1
    captured = capsys.readouterr()
    assert unprovided_section(captured.out) == [
        "No slice provides:",
        "Library          Arch   Debian packages",
        "libnope.so.9     amd64  libnope9 (/usr/lib/x86_64-linux-gnu/libnope.so.9)",
        "                        nope-tools (/usr/lib/nope-tools/libnope.so.9)",
        "libjnihelper.so  amd64  libjni-all (/usr/lib/jni/libjnihelper.so)",
        "libside.so.2     amd64  libside2 (/usr/lib/x86_64-linux-gnu/libside.so.2)",
        "libabsent.so.1   amd64  none",
        "",
        # A package with a slice file already is drafted with --diff: what a draft would add to it.
        f"slicer draft --release {release}/ libnope9 libjni-all",
        "",
        f"slicer draft --diff --release {release}/ libside2",
    ]
    assert captured.err.strip() == (
        "warning: no slice of release release provides libnope.so.9, libjnihelper.so, libside.so.2, libabsent.so.1"
    )
    assert deps(release, "--json", str(app)) == 1
    report = json.loads(capsys.readouterr().out)
    assert {need["name"]: need["packages"] for need in report["needs"]} == {
        "libc.so.6": [],
        "libnope.so.9": [
            {"package": "libnope9", "path": "/usr/lib/x86_64-linux-gnu/libnope.so.9"},
            {"package": "nope-tools", "path": "/usr/lib/nope-tools/libnope.so.9"},
        ],
        "libjnihelper.so": [{"package": "libjni-all", "path": "/usr/lib/jni/libjnihelper.so"}],
        "libside.so.2": [{"package": "libside2", "path": "/usr/lib/x86_64-linux-gnu/libside.so.2"}],
        "libabsent.so.1": [],
    }
    assert report["draft"] == [
        f"slicer draft --release {release}/ libnope9 libjni-all",
        f"slicer draft --diff --release {release}/ libside2",
    ]


def test_on_a_narrow_terminal_the_packages_are_listed_without_cutting_names(release, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    app = program(tmp_path, "app", needed=("libnope.so.9",), interpreter="")
    assert deps(release, str(app)) == 1
    section = unprovided_section(capsys.readouterr().out)
    assert section[:8] == [
        "No slice provides:",
        "libnope.so.9",
        "  Arch:            amd64",
        "  Debian packages: libnope9",
        "                   (/usr/lib/x86_64-linux-gnu/libnope.so.9)",
        "                   nope-tools",
        "                   (/usr/lib/nope-tools/libnope.so.9)",
        "",
    ]
    # The draft line is continued where it would not fit (the release folder alone does not).
    assert len(section) == 10
    assert " ".join(line.strip(" \\") for line in section[8:]) == f"slicer draft --release {release}/ libnope9"


def test_past_three_packages_the_table_counts_the_others(test_archive, signing_key, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")
    many = [DebSpec(f"many{n}", entries=[file(f"./usr/lib/many{n}/libmany.so.1", b"lib")]) for n in range(5)]
    archive = test_archive({"bookworm": many}, name="many")
    release = write_release(tmp_path / "many-release", archive, signing_key)
    app = program(tmp_path, "app", needed=("libmany.so.1",), interpreter="")
    assert deps(release, str(app)) == 1
    assert unprovided_section(capsys.readouterr().out)[1:6] == [
        "Library       Arch   Debian packages",
        "libmany.so.1  amd64  many0 (/usr/lib/many0/libmany.so.1)",
        "                     many1 (/usr/lib/many1/libmany.so.1)",
        "                     many2 (/usr/lib/many2/libmany.so.1)",
        "                     and 2 others",
    ]
    assert deps(release, "--json", str(app)) == 1
    (need,) = json.loads(capsys.readouterr().out)["needs"]
    assert [shipper["package"] for shipper in need["packages"]] == [f"many{n}" for n in range(5)]


def test_reading_the_contents_index_shows_its_steps_the_first_time_only(archive, release, tmp_path, capsys):
    app = program(tmp_path, "app", needed=("libnope.so.9",), interpreter="")
    arguments = ["deps", "--release", f"{release}/", "--cache-dir", str(release / "cache"), str(app)]
    assert main(arguments) == 1
    steps = [line for line in capsys.readouterr().err.splitlines() if "Contents-" in line]
    size = (archive.root / "dists/bookworm/main/Contents-amd64.gz").stat().st_size
    # Off a terminal, one line per finished step, with its size and rate (a terminal shows bars).
    assert len(steps) == 2
    assert re.fullmatch(rf"Downloading Contents-amd64 indexes: {size} B in [\d.]+s \(.+/s\)", steps[0])
    assert re.fullmatch(rf"Reading Contents-amd64 indexes: {size} B in [\d.]+s \(.+/s\)", steps[1])
    assert main(arguments) == 1
    assert "Contents-" not in capsys.readouterr().err


def test_offline_without_the_contents_index_says_what_to_run(release, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")
    # An online run that needs no Contents index caches the Packages index and libc6 only.
    assert deps(release, str(program(tmp_path, "plain", needed=("libc.so.6",), interpreter=""))) == 0
    app = program(tmp_path, "app", needed=("libc.so.6", "libnope.so.9"), interpreter="")
    capsys.readouterr()
    assert deps(release, "--offline", str(app)) == 1
    captured = capsys.readouterr()
    assert "libnope.so.9  amd64  unknown" in unprovided_section(captured.out)
    assert "slicer draft" not in captured.out
    assert captured.err.splitlines()[1].startswith(
        'warning: offline, and the cache lacks main/Contents-amd64.gz of suite "bookworm" (http://127.0.0.1:'
    )
    assert captured.err.splitlines()[1].endswith(
        "; run this `slicer deps` once without --offline to fetch it and name the Debian packages that ship "
        "libnope.so.9"
    )
    assert deps(release, str(app)) == 1
    online = capsys.readouterr().out
    assert deps(release, "--offline", str(app)) == 1
    assert capsys.readouterr().out == online
    assert f"slicer draft --release {release}/ libnope9" in online


def test_a_tampered_contents_index_is_refused(archive, release, tmp_path, capsys):
    (listed,) = [entry for entry in archive.suites["bookworm"].files if entry[0] == "main/Contents-amd64.gz"]
    for path in (f"dists/bookworm/{listed[0]}", f"dists/bookworm/main/by-hash/SHA256/{listed[1]}"):
        archive.server.inject(archive.path(path), testarchive.flip(100))
    app = program(tmp_path, "app", needed=("libnope.so.9",), interpreter="")
    assert deps(release, str(app)) == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.fullmatch(
        rf"error: {archive.url}/dists/bookworm/main/Contents-amd64\.gz has SHA256 [0-9a-f]{{64}}, "
        rf"but its signed index says {listed[1]}",
        error,
    )


def test_archives_without_contents_indexes_leave_the_packages_unnamed(test_archive, signing_key, tmp_path, capsys):
    archive = test_archive({"bookworm": library_debs()}, name="bare", contents=None)
    release = write_release(tmp_path / "bare-release", archive, signing_key)
    assert deps(release, str(program(tmp_path, "app", needed=("libnope.so.9",), interpreter=""))) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        "warning: the archives of release bare-release publish no Contents-amd64 index, so the Debian packages "
        "that ship libnope.so.9 cannot be named"
    )


# Programs .ci/run installs on the host, each needing a library that no slice of the release
# provides today; the test takes the first one that still does.
UNPROVIDED = tuple(Path(path) for path in ("/usr/bin/skopeo", "/usr/bin/fish", "/usr/bin/apt-cache"))


def host_release() -> str | None:
    """The bundled release this Debian host runs (its programs are then that release's)."""
    try:
        fields = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
    except OSError:
        return None
    version = fields.get("VERSION_ID", "").strip('"')
    return f"debian-{version}" if fields.get("ID") == "debian" and version in ("12", "13") else None


def host_owner(library: str) -> str:
    """The installed package dpkg says owns `library` in the host's multiarch folder."""
    (path,) = [path for path in Path("/usr/lib").glob(f"*-linux-gnu/{library}") if path.exists()]
    found = subprocess.run(["dpkg-query", "-S", str(path)], capture_output=True, text=True, check=True)
    return found.stdout.split(":")[0]


@pytest.mark.network
@pytest.mark.skipif(
    host_release() is None or not any(program.is_file() for program in UNPROVIDED),
    reason="not a Debian 12 or 13 host with one of the programs installed",
)
def test_the_real_archive_names_the_package_of_a_library_no_slice_provides(host_mirrors, network_cache):
    """The real Contents index names the package dpkg installed the library from."""
    name = host_release()
    assert name is not None
    options = ArchiveOptions(mirrors=host_mirrors(load_release(name)), cache_dir=network_cache.directory)
    console = Console(io.StringIO())
    for program in (program for program in UNPROVIDED if program.is_file()):
        report = run_deps(DepsOptions(files=(program,), release=name, archives=options), console)
        if report.missing:
            break
    else:
        pytest.fail(f"slices now provide every library of {', '.join(map(str, UNPROVIDED))}; name another program")
    for need in report.missing:
        assert need.shippers, f"no package of {name} ships {need.name}"
        assert need.shippers[0].package == host_owner(need.name)
        assert posixpath.basename(need.shippers[0].path) == need.name
    assert report.draft_commands() == [
        ["slicer", "draft", "--release", name, *dict.fromkeys(need.shippers[0].package for need in report.missing)]
    ]
    # From the parsed cache: the same answer offline.
    offline = attrs.evolve(options, offline=True)
    assert run_deps(DepsOptions(files=(program,), release=name, archives=offline), console) == report
