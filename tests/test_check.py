"""`slicer check`: house style and hints on their own, then every check against a local signed archive."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from slicer.check.style import hint_issue, review_style
from slicer.cli import main
from slicer.errors import ReleaseError
from slicer.release.load import load_release
from tests.helpers.check_record import Files, current_digests, unproven
from tests.helpers.debs import DebSpec, directory, file, symlink
from tests.helpers.elfs import build_elf
from tests.helpers.releases import key_block

TRIPLETS = {"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}
MACHINES = {"amd64": 62, "arm64": 183}

LIBFOO = textwrap.dedent("""\
    package: libfoo1
    essential:
      libfoo1_copyright:
    slices:
      libs:
        hint: Foo runtime library
        contents:
          /usr/lib/*-linux-gnu/libfoo.so.1*:
      copyright:
        hint: Copyright and license notice
        contents:
          /usr/share/doc/libfoo1/copyright:
    """)

HELLO = textwrap.dedent("""\
    package: hello
    essential:
      hello_copyright:
    slices:
      bins:
        hint: Hello program
        essential:
          libfoo1_libs:
        contents:
          /usr/bin/hello:
          /usr/share/hello/data:
      copyright:
        hint: Copyright and license notice
        contents:
          /usr/share/doc/hello/copyright:
    """)


# -- house style ----------------------------------------------------------------------


def style(text: str) -> list[str]:
    return review_style("x.yaml", textwrap.dedent(text)).issues


def test_sorted_file_in_house_order_has_no_issues():
    assert style(HELLO) == []
    assert style(LIBFOO) == []


def test_key_order_indentation_and_unsorted_lists_are_reported():
    assert style("""\
        slices:
          bins:
            contents:
              /b:
            hint: Bins
        package: hello
        """) == [
        'x.yaml:6: top-level keys are out of order: "package" comes after "slices" '
        "(house order: package, archive, essential, slices)",
        'x.yaml:5: keys of slice hello_bins are out of order: "hint" comes after "contents" '
        "(house order: hint, essential, contents, mutate)",
    ]
    assert style("""\
        package: hello
        slices:
          bins:
             contents:
               /a:
        """) == ["x.yaml:4: indented by 3 spaces under its parent; the house style is 2"]
    assert style("""\
        package: hello
        essential:
        - hello_b
        - hello_a
        """) == [
        "x.yaml:3: indented by 0 spaces under its parent; the house style is 2",
        'x.yaml:4: essentials of package "hello" are not sorted: hello_a should come before hello_b',
    ]


def test_sorting_is_bytewise():
    # C collation: "/usr/lib/X" < "/usr/lib/a" and "libfoo-2" < "libfoo.so" < "libfoo_x".
    assert (
        style("""\
        package: hello
        slices:
          bins:
            contents:
              /usr/lib/X:
              /usr/lib/a:
              /usr/lib/libfoo-2:
              /usr/lib/libfoo.so:
              /usr/lib/libfoo_x:
        """)
        == []
    )
    assert style("""\
        package: hello
        slices:
          bins:
            contents:
              /usr/lib/a:
              /usr/lib/X:
        """) == ["x.yaml:6: contents of slice hello_bins are not sorted: /usr/lib/X should come before /usr/lib/a"]


def test_fix_moves_comments_with_the_entry_below_them():
    text = textwrap.dedent("""\
        package: hello
        slices:
          bins:
            essential:
              libfoo1_libs:
              base-files_base:
            contents:
              # The program.
              /usr/bin/hello: {mode: 0755}  # kept with its line
              /etc/hello.conf:

              # Data, after a blank line.
              /usr/share/hello/data:
              /etc/a:
            mutate: |
              x = 1
        """)
    result = review_style("x.yaml", text)
    assert len(result.issues) == 2
    assert result.fixed == textwrap.dedent("""\
        package: hello
        slices:
          bins:
            essential:
              base-files_base:
              libfoo1_libs:
            contents:
              /etc/a:
              /etc/hello.conf:
              # The program.
              /usr/bin/hello: {mode: 0755}  # kept with its line

              # Data, after a blank line.
              /usr/share/hello/data:
            mutate: |
              x = 1
        """)
    assert review_style("x.yaml", result.fixed).issues == []


def test_entries_over_several_lines_or_in_flow_style_cannot_be_fixed():
    result = review_style(
        "x.yaml",
        textwrap.dedent("""\
        package: hello
        slices:
          bins:
            contents:
              /etc/b:
                text: |
                  hi
              /etc/a:
        """),
    )
    assert result.fixed is None
    assert result.issues == [
        "x.yaml:8: contents of slice hello_bins are not sorted: /etc/a should come before "
        "/etc/b; cannot fix automatically, as an entry spans several lines"
    ]
    result = review_style("x.yaml", "package: hello\nessential: {hello_b: null, hello_a: null}\n")
    assert result.fixed is None
    assert result.issues[0].endswith("; cannot fix automatically, as the block is in flow style")


@pytest.mark.parametrize(
    ("hint", "reason"),
    [
        ("Hello program", None),
        ("ld.so cache and x86-64 libraries", None),
        ("OpenSSL configuration; FIPS (off)", None),
        ("hello program", "is not in sentence case"),
        ("The hello program", 'starts with the article "The"'),
        ("Hello program.", "ends with punctuation"),
        ("Hello  program", "has leading, trailing or double spaces"),
        ("Hello program!", "has characters other than letters, digits, spaces and .,;()/+-_"),
    ],
)
def test_hint_rules(hint, reason):
    assert hint_issue(hint) == reason


# -- against a local archive ----------------------------------------------------------


def packages(arch: str, needs: tuple[str, ...] = ("libfoo.so.1",), extra: tuple = ()) -> list[DebSpec]:
    """libfoo1 (a versioned library and its soname link) and hello (a program needing it), for one arch."""
    triplet, machine = TRIPLETS[arch], MACHINES[arch]
    library = build_elf(machine=machine, soname="libfoo.so.1", interpreter="")
    program = build_elf(machine=machine, needed=needs, interpreter="")
    return [
        DebSpec(
            "libfoo1",
            "1.2-1",
            arch,
            [
                directory("./usr/"),
                directory("./usr/lib/"),
                directory(f"./usr/lib/{triplet}/"),
                file(f"./usr/lib/{triplet}/libfoo.so.1.2", library, 0o644),
                symlink(f"./usr/lib/{triplet}/libfoo.so.1", "libfoo.so.1.2"),
                file("./usr/share/doc/libfoo1/copyright", "MIT\n"),
            ],
        ),
        DebSpec(
            "hello",
            "1.0-1",
            arch,
            [
                directory("./usr/"),
                directory("./usr/bin/"),
                file("./usr/bin/hello", program, 0o755),
                directory("./usr/share/"),
                directory("./usr/share/hello/"),
                file("./usr/share/hello/data", "d\n"),
                file("./usr/share/doc/hello/copyright", "GPL\n"),
                *extra,
            ],
        ),
    ]


@pytest.fixture
def local(test_archive, signing_key, tmp_path) -> Callable[..., Path]:
    """Factory: local({file: text}, debs={arch: [DebSpec]}) -> a release directory on a local archive.

    The default archive holds `packages(arch)` for amd64 and arm64; given
    slice files are added to (or replace) libfoo1.yaml and hello.yaml.
    """
    cert = signing_key.extract_certificate()
    count = iter(range(100))

    def make(slices: dict[str, str] | None = None, debs: list[DebSpec] | None = None) -> Path:
        archive = test_archive({"bookworm": debs or packages("amd64") + packages("arm64")})
        root = tmp_path / f"release{next(count)}"
        (root / "slices").mkdir(parents=True)
        (root / "chisel.yaml").write_text(
            "format: v3\nmaintenance:\n  standard: 2023-06-10\n  end-of-life: 2099-01-01\n"
            "archives:\n  debian:\n    version: '12'\n    suites: [bookworm]\n    components: [main]\n"
            f"    public-keys: [test-key]\n    url: {archive.url}\npublic-keys:\n" + key_block("test-key", cert)
        )
        for name, text in {"libfoo1.yaml": LIBFOO, "hello.yaml": HELLO, **(slices or {})}.items():
            (root / "slices" / name).write_text(textwrap.dedent(text))
        return root

    return make


def run(release: Path, *args: str, capsys) -> tuple[int, dict]:
    code = main(["-q", "check", "--release", f"{release}/", "--cache-dir", str(release / "cache"), "--json", *args])
    return code, json.loads(capsys.readouterr().out)


def messages(report: dict, check: str | None = None) -> list[str]:
    return [p["message"] for p in report["problems"] if check is None or p["check"] == check]


def test_clean_packages_pass_every_check_on_both_architectures(local, capsys):
    release = local()
    code, report = run(release, capsys=capsys)
    assert (code, report["problems"]) == (0, [])
    assert report["arches"] == ["amd64", "arm64"]
    rows = report["packages"]["hello"]
    assert {(row["check"], row["arch"]) for row in rows} == {
        ("style", "all"),
        ("hints", "all"),
        *(
            (check, arch)
            for check in ("copyright", "paths", "libraries", "conflicts", "records", "cut")
            for arch in ("amd64", "arm64")
        ),
    }
    assert {row["result"] for row in rows} == {"ok"}
    assert sorted(report["packages"]) == ["hello", "libfoo1"]


def test_each_package_is_downloaded_once_per_architecture(local, archive_server, capsys):
    # Listing, library providers, conflicts and every lone cut share one download of each .deb.
    code, _ = run(local(), capsys=capsys)
    assert code == 0
    downloads = sorted(
        request.path.rsplit("/", 1)[1] for request in archive_server.requests() if request.path.endswith(".deb")
    )
    assert downloads == [
        "hello_1.0-1_amd64.deb",
        "hello_1.0-1_arm64.deb",
        "libfoo1_1.2-1_amd64.deb",
        "libfoo1_1.2-1_arm64.deb",
    ]


def test_table_output_and_exit_code(local, capsys):
    release = local({"hello.yaml": HELLO.replace("/usr/share/hello/data:", "/usr/share/hello/gone:")})
    code = main(
        ["-q", "check", "--release", f"{release}/", "--cache-dir", str(release / "cache"), "--arch", "amd64", "hello"]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert out.startswith("hello\nCheck      Arch   Result\n")
    assert 'slice hello_bins lists /usr/share/hello/gone, which package "hello" 1.0-1 does not ship on amd64' in out
    assert "arm64" not in out


def test_missing_paths_and_globs_matching_nothing(local, capsys):
    release = local(
        {
            "hello.yaml": HELLO.replace(
                "/usr/bin/hello:",
                "/usr/bin/hello:\n      /usr/bin/nope:\n      /usr/share/*/*.txt:\n      /usr/share/hello:",
            )
        }
    )
    code, report = run(release, "hello", capsys=capsys)
    assert code == 1
    assert messages(report, "paths") == [
        message
        for arch in ("amd64", "arm64")
        for message in (
            f'slice hello_bins lists /usr/bin/nope, which package "hello" 1.0-1 does not ship on {arch}',
            f'slice hello_bins glob /usr/share/*/*.txt matches nothing in package "hello" 1.0-1 on {arch}',
            f'slice hello_bins lists /usr/share/hello, but package "hello" 1.0-1 has a directory with mode 0755 '
            f"at /usr/share/hello/ on {arch}; write /usr/share/hello/",
        )
    ]
    assert {p["slice"] for p in report["problems"]} == {"hello_bins"}
    # Where a CI system annotates them: the file, and the line of the path each names.
    assert {(p["file"], p["line"], p["severity"]) for p in report["problems"]} == {
        (f"{release}/slices/hello.yaml", line, "error") for line in (11, 12, 13)
    }


def test_arch_specific_paths_need_an_arch_restriction(local, capsys):
    debs = packages("amd64", extra=(file("./usr/share/hello/x86.dat", "x"),)) + packages("arm64")
    unrestricted = HELLO.replace("/usr/share/hello/data:", "/usr/share/hello/data:\n      /usr/share/hello/x86.dat:")
    code, report = run(local({"hello.yaml": unrestricted}, debs), "hello", capsys=capsys)
    assert code == 1
    assert messages(report, "paths") == [
        'slice hello_bins lists /usr/share/hello/x86.dat, which package "hello" 1.0-1 does not ship on arm64'
    ]
    restricted = unrestricted.replace("/usr/share/hello/x86.dat:", "/usr/share/hello/x86.dat: {arch: [amd64]}")
    code, report = run(local({"hello.yaml": restricted}, debs), "hello", capsys=capsys)
    assert (code, report["problems"]) == (0, [])


def test_copyright_slice_rules(local, capsys):
    without_essential = HELLO.replace("essential:\n  hello_copyright:\n", "")
    code, report = run(local({"hello.yaml": without_essential}), "hello", "--arch", "amd64", capsys=capsys)
    assert code == 1
    assert messages(report) == [
        'slice hello_bins does not need hello_copyright on amd64; add "hello_copyright:" '
        'to the essentials of package "hello"'
    ]

    no_notice = HELLO.replace("/usr/share/doc/hello/copyright:", "/usr/share/hello/data:")
    code, report = run(local({"hello.yaml": no_notice}), "hello", "--arch", "amd64", capsys=capsys)
    assert messages(report) == [
        'slice hello_copyright does not ship /usr/share/doc/hello/copyright, which package "hello" has on amd64'
    ]

    no_slice = HELLO.replace("essential:\n  hello_copyright:\n", "").split("  copyright:")[0]
    code, report = run(local({"hello.yaml": no_slice}), "hello", "--arch", "amd64", capsys=capsys)
    assert messages(report) == ['package "hello" has no copyright slice']
    assert report["problems"][0]["arch"] == "all"


def test_unsorted_contents_are_reported_then_fixed(local, capsys):
    unsorted = HELLO.replace(
        "/usr/bin/hello:\n      /usr/share/hello/data:",
        "/usr/share/hello/data:\n      # The program.\n      /usr/bin/hello:",
    )
    release = local({"hello.yaml": unsorted})
    slice_file = release / "slices" / "hello.yaml"
    code, report = run(release, "hello", "--arch", "amd64", capsys=capsys)
    assert code == 1
    assert messages(report, "style") == [
        f"{release}/slices/hello.yaml:12: contents of slice hello_bins are not "
        "sorted: /usr/bin/hello should come before /usr/share/hello/data"
    ]
    assert slice_file.read_text() == unsorted

    code, report = run(release, "hello", "--arch", "amd64", "--fix", capsys=capsys)
    assert (code, report["problems"], report["fixed"]) == (0, [], [f"{release}/slices/hello.yaml"])
    assert slice_file.read_text() == HELLO.replace(
        "      /usr/bin/hello:", "      # The program.\n      /usr/bin/hello:"
    )
    code, report = run(release, "hello", "--arch", "amd64", capsys=capsys)
    assert (code, report["fixed"]) == (0, [])


def test_library_needs_must_be_covered_by_essentials(local, capsys):
    release = local({"hello.yaml": HELLO.replace("    essential:\n      libfoo1_libs:\n", "")})
    code, report = run(release, "hello", capsys=capsys)
    assert code == 1
    assert (
        messages(report)
        == [
            "slice hello_bins ships /usr/bin/hello needing libfoo.so.1, provided by libfoo1_libs, which is not among "
            "its essentials"
        ]
        * 2
    )
    assert [p["arch"] for p in report["problems"]] == ["amd64", "arm64"]


def test_library_no_slice_provides(local, capsys):
    debs = [spec for arch in ("amd64", "arm64") for spec in packages(arch, needs=("libfoo.so.1", "libbar.so.2"))]
    release = local(debs=debs)
    code, report = run(release, "hello", "--arch", "arm64", capsys=capsys)
    assert code == 1
    assert messages(report) == [
        f"slice hello_bins ships /usr/bin/hello needing libbar.so.2, which no slice of {release.name} provides on arm64"
    ]


def test_a_glob_that_matches_no_real_library_provides_nothing(local, capsys):
    # The glob's last component could match libfoo.so.1, but on arm64 the package ships it elsewhere.
    debs = packages("amd64") + [
        spec
        if spec.name != "libfoo1"
        else DebSpec(
            "libfoo1",
            "1.2-1",
            "arm64",
            [
                file("./usr/lib/libfoo.so.1", build_elf(machine=183, soname="libfoo.so.1", interpreter="")),
                file("./usr/share/doc/libfoo1/copyright", "MIT\n"),
                file("./usr/lib/aarch64-linux-gnu/libfoo.so.1.conf", ""),
            ],
        )
        for spec in packages("arm64")
    ]
    release = local(debs=debs)
    code, report = run(release, capsys=capsys)
    assert code == 1
    assert messages(report, "libraries") == [
        f"slice hello_bins ships /usr/bin/hello needing libfoo.so.1, which no slice of {release.name} provides on arm64"
    ]


def test_a_failing_mutate_script_fails_the_cut(local, capsys):
    failing = HELLO.replace(
        "/usr/share/hello/data:", '/usr/share/hello/data:\n    mutate: |\n      content.read("/etc/missing")'
    )
    code, report = run(local({"hello.yaml": failing}), "hello", "--arch", "amd64", capsys=capsys)
    assert code == 1
    assert messages(report) == [
        "slice hello_bins does not cut on its own on amd64: slice hello_bins: cannot read "
        "file which is not selected: /etc/missing (line 1)"
    ]
    assert report["problems"][0]["check"] == "cut"


def test_implicit_parents_shipped_differently_are_conflicts(local, capsys):
    # /usr/share/common/ is no slice's path, but hello_bins extracts below it and its essential's
    # package ships it with another mode; /usr/share/same/ agrees in both and is fine.
    modes = {"hello": 0o755, "libfoo1": 0o700}
    debs = [
        DebSpec(
            spec.name,
            spec.version,
            spec.arch,
            [
                *spec.entries,
                directory("./usr/share/common/", modes[spec.name]),
                directory("./usr/share/same/"),
                file(f"./usr/share/common/{spec.name}.txt", spec.name),
                file(f"./usr/share/same/{spec.name}", ""),
            ],
        )
        for arch in ("amd64", "arm64")
        for spec in packages(arch)
    ]
    hello = HELLO.replace(
        "/usr/share/hello/data:",
        "/usr/share/common/hello.txt:\n      /usr/share/hello/data:\n      /usr/share/same/hello:",
    )
    code, report = run(local({"hello.yaml": hello}, debs), "hello", "--arch", "amd64", capsys=capsys)
    assert code == 1
    assert messages(report) == [
        "path /usr/share/common, which slices extract below, is a directory with mode 0755 "
        'in package "hello" but a directory with mode 0700 in package "libfoo1" on amd64'
    ]
    assert report["problems"][0]["check"] == "conflicts"


RECORDS = HELLO.replace(
    """  copyright:
""",
    """  identity:
    hint: OS identification files
    contents:
      /etc/debian_version:
      /etc/os-release:
  records:
    hint: Package status entries for scanners
    contents:
      /var/lib/dpkg/status.d/**: {generate: dpkg-status}
  copyright:
""",
)
WITH_IDENTITY = RECORDS.replace(
    """    hint: Package status entries for scanners
""",
    """    hint: Package status entries for scanners
    essential:
      hello_identity:
""",
)
IDENTITY = (
    directory("./etc/"),
    file("./etc/debian_version", "12.15\n"),
    file("./etc/os-release", 'ID=debian\nVERSION_ID="12"\n'),
)


def test_records_without_the_os_identity_are_refused(local, capsys):
    debs = [spec for arch in ("amd64", "arm64") for spec in packages(arch, extra=IDENTITY)]
    code, report = run(local({"hello.yaml": RECORDS}, debs), "hello", capsys=capsys)
    assert code == 1
    assert messages(report) == [
        f"slice hello_records writes dpkg records without /etc/debian_version and /etc/os-release on {arch}, so "
        "scanners cannot tell which distribution the packages belong to; add hello_identity to its essentials"
        for arch in ("amd64", "arm64")
    ]
    assert {p["check"] for p in report["problems"]} == {"records"}


def test_records_that_bring_the_os_identity_pass(local, capsys):
    debs = [spec for arch in ("amd64", "arm64") for spec in packages(arch, extra=IDENTITY)]
    code, report = run(local({"hello.yaml": WITH_IDENTITY}, debs), "hello", capsys=capsys)
    assert (code, report["problems"]) == (0, [])
    assert {row["result"] for row in report["packages"]["hello"] if row["check"] == "records"} == {"ok"}


def test_an_identity_file_removed_by_mutate_does_not_count(local, capsys):
    debs = [spec for arch in ("amd64", "arm64") for spec in packages(arch, extra=IDENTITY)]
    records = WITH_IDENTITY.replace("      /etc/os-release:\n", "      /etc/os-release: {until: mutate}\n")
    code, report = run(local({"hello.yaml": records}, debs), "hello", "--arch", "amd64", capsys=capsys)
    assert code == 1
    assert messages(report, "records") == [
        "slice hello_records writes dpkg records without /etc/os-release on amd64, so scanners cannot tell which "
        "distribution the packages belong to; add a slice that ships them to its essentials"
    ]


def test_a_package_missing_on_an_architecture(local, capsys):
    debs = packages("amd64") + [spec for spec in packages("arm64") if spec.name != "hello"]
    code, report = run(local(debs=debs), "hello", capsys=capsys)
    assert code == 1
    assert messages(report, "paths") == ['cannot find package "hello" in archive debian for arm64']
    assert messages(report, "cut") == [
        'slice hello_bins cannot be cut on arm64: cannot find package "hello" in archive debian for arm64',
        'slice hello_copyright cannot be cut on arm64: cannot find package "hello" in archive debian for arm64',
    ]
    rows = {(row["check"], row["arch"]): row for row in report["packages"]["hello"]}
    assert rows[("libraries", "arm64")] == {
        "check": "libraries",
        "arch": "arm64",
        "result": "skipped",
        "reason": "package not in the archive for arm64",
    }
    assert rows[("paths", "amd64")]["result"] == "ok"


def test_a_package_built_for_some_architectures_only_is_not_looked_for_on_the_others(local, capsys):
    """Every path for amd64 only: on arm64 nothing of the package is selected, so it is not fetched."""
    debs = packages("amd64") + [spec for spec in packages("arm64") if spec.name != "hello"]
    amd64_only = HELLO.replace("/usr/bin/hello:", "/usr/bin/hello: {arch: [amd64]}")
    amd64_only = amd64_only.replace("/usr/share/hello/data:", "/usr/share/hello/data: {arch: [amd64]}")
    amd64_only = amd64_only.replace(
        "/usr/share/doc/hello/copyright:", "/usr/share/doc/hello/copyright: {arch: [amd64]}"
    )
    amd64_only = amd64_only.replace("      libfoo1_libs:", "      libfoo1_libs: {arch: [amd64]}")
    code, report = run(local({"hello.yaml": amd64_only}, debs=debs), "hello", capsys=capsys)
    assert (code, report["problems"]) == (0, [])
    rows = {(row["check"], row["arch"]): row["result"] for row in report["packages"]["hello"]}
    assert rows[("cut", "arm64")] == rows[("cut", "amd64")] == "ok"


def test_a_release_that_does_not_load_is_one_problem(local, capsys):
    release = local({"hello.yaml": HELLO.replace("hint: Hello program", "hint: " + "x" * 41)})
    code, report = run(release, capsys=capsys)
    assert code == 1
    assert [(p["package"], p["check"]) for p in report["problems"]] == [("", "definitions")]
    assert "has invalid hint" in messages(report)[0]
    assert report["packages"] == {}


def test_unknown_packages_and_architectures_are_errors(local, capsys):
    release = local()
    assert main(["-q", "check", "--release", f"{release}/", "nosuch"]) == 1
    assert (
        capsys.readouterr().err.strip()
        == f'error: release {release.name} has no slice definitions for package "nosuch"'
    )
    with pytest.raises(SystemExit) as exited:
        main(["-q", "check", "--release", f"{release}/", "--arch", "vax", "hello"])
    assert exited.value.code == 2
    assert 'unknown architecture "vax"; Debian names: amd64, arm64' in capsys.readouterr().err


# -- the bundled releases against the real archive ----------------------------------


@pytest.mark.network
@pytest.mark.parametrize("arch", ["amd64", "arm64"])
@pytest.mark.parametrize("name", ["debian-12", "debian-13"])
def test_every_bundled_package_passes_every_check(name, arch, host_mirrors, network_cache, capsys):
    """What a slice pull request must pass: every package on amd64; on arm64, what changed since the
    last full run (`tests/helpers/check_record.py`), or everything with SLICER_CHECK_ALL=1."""
    try:
        release = load_release(name)
    except ReleaseError as error:
        pytest.fail(f"bundled release {name} does not load: {error}")
    host_mirrors(release)  # skips when the host names no Debian mirror
    everything = arch == "amd64" or os.environ.get("SLICER_CHECK_ALL") == "1"
    packages = sorted(release.packages) if everything else unproven(release, Files.bundled(name))
    if not packages:
        return  # the recorded full run proves every file as it is now
    args = ["-q", "check", "--release", name, "--arch", arch, "--cache-dir", str(network_cache.directory)]
    code = main([*args, "--json", *([] if everything else packages)])
    report = json.loads(capsys.readouterr().out)
    assert report["problems"] == []
    assert code == 0
    assert sorted(report["packages"]) == packages


def test_unproven_packages_are_the_changed_ones_and_those_needing_them(local):
    """The record proves files by digest: a changed file, and every package needing it, is unproven."""
    folder = local()
    files = Files(folder / "chisel.yaml", folder / "slices")

    def now() -> list[str]:
        return unproven(load_release(f"{folder}/"), files)

    assert now() == ["hello", "libfoo1"]  # no record yet
    release_digest, digests = current_digests(files)
    files.record.write_text(json.dumps({"release": release_digest, "packages": digests}))
    assert now() == []
    (files.slices / "libfoo1.yaml").write_text(LIBFOO.replace("Foo runtime library", "Foo library"))
    assert now() == ["libfoo1", "hello"]
    (files.slices / "libfoo1.yaml").write_text(LIBFOO)
    (files.slices / "hello.yaml").write_text(HELLO.replace("Hello program", "Hello world program"))
    assert now() == ["hello"]
    (files.slices / "hello.yaml").write_text(HELLO)
    assert now() == []
    with files.release_file.open("a") as release_file:
        release_file.write("# changed\n")
    assert now() == ["hello", "libfoo1"]


def git(folder: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        check=True,
        capture_output=True,
    )


def test_changed_checks_changed_packages_and_those_needing_them(local, capsys):
    release = local()
    git(release, "init", "-q", "-b", "main")
    git(release, "add", "chisel.yaml", "slices")
    git(release, "commit", "-qm", "base")
    git(release, "checkout", "-qb", "topic")
    code, report = run(release, "--changed", capsys=capsys)
    assert (code, report["packages"]) == (0, {})
    (release / "slices" / "hello.yaml").write_text(HELLO.replace("Hello program", "Hello world program"))
    code, report = run(release, "--changed", capsys=capsys)
    assert (code, sorted(report["packages"])) == (0, ["hello"])
    # hello needs libfoo1_libs: a change to libfoo1 checks both, committed or not.
    (release / "slices" / "libfoo1.yaml").write_text(LIBFOO.replace("Foo runtime library", "Foo library"))
    git(release, "commit", "-qam", "change")
    code, report = run(release, "--changed", capsys=capsys)
    assert (code, sorted(report["packages"])) == (0, ["hello", "libfoo1"])
    code, report = run(release, "--changed=HEAD", capsys=capsys)
    assert (code, report["packages"]) == (0, {})
    assert main(["-q", "check", "--release", f"{release}/", "--changed=nope"]) == 1
    assert "git diff --name-only --relative nope -- . in" in capsys.readouterr().err
