"""`slicer draft` against a local signed archive: each kind of decision, then the errors."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from slicer.cli import main
from slicer.draft import _hint
from tests.helpers.debs import DebSpec, directory, file, symlink
from tests.helpers.elfs import build_elf
from tests.helpers.releases import chisel_yaml

TRIPLETS = {"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}
MACHINES = {"amd64": 62, "arm64": 183}
LOADERS = {"amd64": "/lib64/ld-linux-x86-64.so.2", "arm64": "/lib/ld-linux-aarch64.so.1"}

# What the test release already has: the C library and a shell.
LIBC6 = """\
    package: libc6
    essential:
      libc6_copyright:
    slices:
      libs:
        hint: C library
        contents:
          /lib/*-linux-*/libc.so.6:
          /lib/ld-linux-aarch64.so.1: {arch: [arm64]}
          /lib64/ld-linux-x86-64.so.2: {arch: [amd64]}
      copyright:
        hint: Copyright and license notice
        contents:
          /usr/share/doc/libc6/copyright:
    """
DASH = """\
    package: dash
    essential:
      dash_copyright:
    slices:
      bins:
        hint: POSIX shell
        essential:
          libc6_libs:
        contents:
          /bin/sh:
          /usr/bin/dash:
      copyright:
        hint: Copyright and license notice
        contents:
          /usr/share/doc/dash/copyright:
    """


def base(arch: str) -> list[DebSpec]:
    triplet, machine = TRIPLETS[arch], MACHINES[arch]
    libc = build_elf(machine=machine, soname="libc.so.6", interpreter="")
    shell = build_elf(machine=machine, needed=("libc.so.6",), interpreter=LOADERS[arch])
    return [
        DebSpec(
            "libc6",
            "2.36-9",
            arch,
            [
                file(f"./lib/{triplet}/libc.so.6", libc),
                file(f".{LOADERS[arch]}", libc),
                file("./usr/share/doc/libc6/copyright", "LGPL\n"),
            ],
            fields={},
        ),
        DebSpec(
            "dash",
            "0.5-1",
            arch,
            [
                file("./usr/bin/dash", shell, 0o755),
                symlink("./bin/sh", "/usr/bin/dash"),
                file("./usr/share/doc/dash/copyright", "BSD\n"),
            ],
        ),
    ]


def library(arch: str, needs: tuple[str, ...] = ("libc.so.6",), extra: tuple = ()) -> DebSpec:
    """libbar1: a library, its soname link, a dev link, a plugin folder, docs and lintian overrides."""
    triplet, machine = TRIPLETS[arch], MACHINES[arch]
    lib = build_elf(machine=machine, soname="libbar.so.1", needed=needs, interpreter="")
    plugin = build_elf(machine=machine, needed=("libbar.so.1", "libc.so.6"), interpreter="")
    return DebSpec(
        "libbar1",
        "1.4-2",
        arch,
        [
            directory("./usr/"),
            directory(f"./usr/lib/{triplet}/"),
            file(f"./usr/lib/{triplet}/libbar.so.1.4.0", lib),
            symlink(f"./usr/lib/{triplet}/libbar.so.1", "libbar.so.1.4.0"),
            symlink(f"./usr/lib/{triplet}/libbar.so", "libbar.so.1"),
            file(f"./usr/lib/{triplet}/bar/plugin.so", plugin),
            file("./usr/share/doc/libbar1/copyright", "MIT\n"),
            file("./usr/share/doc/libbar1/changelog.gz", "x"),
            file("./usr/share/lintian/overrides/libbar1", "x"),
            *extra,
        ],
        fields={"Description": "Bar library: runtime files", "Depends": "libc6 (>= 2.36)"},
    )


def program(arch: str) -> DebSpec:
    """bar: a program, a script, a conffile, many data files, a manual page and install-time alternatives."""
    machine = MACHINES[arch]
    binary = build_elf(machine=machine, needed=("libbar.so.1", "libc.so.6"), interpreter=LOADERS[arch])
    data = [file(f"./usr/share/bar/table{n}.txt", f"{n}\n") for n in range(12)]
    return DebSpec(
        "bar",
        "1.4-2",
        arch,
        [
            file("./usr/bin/bar", binary, 0o755),
            file("./usr/bin/bar-report", "#!/bin/sh\necho\n", 0o755),
            symlink("./usr/bin/bar-summary", "bar-report"),
            symlink("./usr/bin/bar-again", "/usr/bin/bar"),
            file("./usr/lib/bar/method", binary, 0o755),
            symlink("./usr/lib/bar/method+s", "method"),
            file("./etc/bar.conf", "x=1\n"),
            *data,
            file("./usr/share/man/man1/bar.1.gz", "x"),
            file("./usr/share/doc/bar/copyright", "MIT\n"),
        ],
        fields={"Description": "The bar tool - reads and writes bars", "Depends": "libbar1, debconf, bar-data"},
        control_files={
            "conffiles": b"/etc/bar.conf\n",
            "postinst": b"#!/bin/sh\nset -e\nupdate-alternatives --install /usr/bin/pub pub "
            b"/usr/bin/bar 10\nmkdir -p /var/cache/bar\n",
        },
    )


def everywhere(name: str, version: str, entries: list, **kw) -> list[DebSpec]:
    """One package with the same files on every test architecture."""
    return [DebSpec(name, version, arch, list(entries), **kw) for arch in TRIPLETS]


@pytest.fixture
def local(test_archive, signing_key, tmp_path) -> Callable[..., Path]:
    """Factory: a release directory (libc6, dash) on a local archive of the given packages."""
    cert = signing_key.extract_certificate()

    def make(debs: list[DebSpec], slices: dict[str, str] | None = None) -> Path:
        archive = test_archive({"bookworm": debs})
        root = tmp_path / "release"
        (root / "slices").mkdir(parents=True)
        archives = (
            "  debian:\n    version: '12'\n    suites: [bookworm]\n    components: [main]\n"
            f"    public-keys: [test-key]\n    url: {archive.url}\n"
        )
        (root / "chisel.yaml").write_text(chisel_yaml(cert, archives=archives))
        for name, text in {"libc6.yaml": LIBC6, "dash.yaml": DASH, **(slices or {})}.items():
            (root / "slices" / name).write_text(textwrap.dedent(text))
        return root

    return make


def draft(release: Path, capsys, *args: str) -> tuple[int, str, str]:
    code = main(["-q", "draft", "--release", f"{release}/", "--cache-dir", str(release.parent / "cache"), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_library_and_its_program_drafted_together_pass_every_check(local, capsys):
    release = local([spec for arch in TRIPLETS for spec in (*base(arch), library(arch), program(arch))])
    code, out, err = draft(release, capsys, "libbar1", "bar")
    assert code == 0, out + err
    text = (release / "slices" / "libbar1.yaml").read_text()
    assert text == textwrap.dedent("""\
        # Left out: development files, documentation, lintian overrides.
        package: libbar1
        essential:
          libbar1_copyright:
        slices:
          libs:
            hint: Runtime files
            essential:
              libc6_libs:
            contents:
              /usr/lib/*-linux-*/libbar.so.1:
              /usr/lib/*-linux-*/libbar.so.1.*:
          modules:
            hint: Plugins and modules of libbar1
            essential:
              libbar1_libs:
              libc6_libs:
            contents:
              /usr/lib/*-linux-*/bar/plugin.so:
          copyright:
            hint: Copyright and license notice
            contents:
              /usr/share/doc/libbar1/copyright:
        """)
    bar = (release / "slices" / "bar.yaml").read_text()
    document = yaml.safe_load(bar)
    slices = document["slices"]
    assert list(slices) == ["modules", "bins", "scripts", "config", "data", "copyright"]
    assert slices["bins"]["essential"] == {
        "bar_config": None,
        "bar_data": None,
        "bar_modules": None,
        "libbar1_libs": None,
        "libc6_libs": None,
    }
    assert list(slices["modules"]["contents"]) == ["/usr/lib/bar/method", "/usr/lib/bar/method+s"]
    # A link goes with its target: to the program in bins, to the script in scripts, to the method in modules.
    assert list(slices["bins"]["contents"]) == ["/usr/bin/bar", "/usr/bin/bar-again"]
    assert list(slices["scripts"]["contents"]) == ["/usr/bin/bar-report", "/usr/bin/bar-summary"]
    # The script's #! interpreter maps to the slice shipping /bin/sh; it runs the package's programs.
    assert slices["scripts"]["essential"] == {
        "bar_bins": None,
        "bar_config": None,
        "bar_data": None,
        "bar_modules": None,
        "dash_bins": None,
    }
    assert list(slices["config"]["contents"]) == ["/etc/bar.conf"]
    # Twelve files in the package's own folder: one glob.
    assert list(slices["data"]["contents"]) == ["/usr/share/bar/**"]
    assert slices["bins"]["hint"] == "Bar tool - reads and writes bars"
    # What a person must decide is asked where it applies; install-time-only Depends are not.
    reviews = [line.strip() for line in bar.splitlines() if "# review:" in line]
    assert reviews == [
        "# review: postinst makes /usr/bin/pub an alternative (pub) pointing to /usr/bin/bar; add",
        "# review: postinst changes the system at install time (mkdir -p /var/cache/bar); recreate with",
        "# review: Depends also names bar-data, which no file here shows a need for; add their slices to the",
    ]
    assert "/usr/share/man" not in bar and bar.startswith("# Left out: manual pages.\n")


def test_a_file_named_like_an_interpreter_outside_the_bin_folders_does_not_provide_it(local, capsys):
    profile = (file("./etc/bararmor.d/sh", "profile\n"),)
    release = local([spec for arch in TRIPLETS for spec in (*base(arch), library(arch, extra=profile), program(arch))])
    code, out, err = draft(release, capsys, "libbar1", "bar")
    assert code == 0, out + err
    document = yaml.safe_load((release / "slices" / "bar.yaml").read_text())
    # bar depends on libbar1, whose config slice ships a file named sh: the shell still comes from dash.
    assert "dash_bins" in document["slices"]["scripts"]["essential"]
    assert "libbar1_config" not in document["slices"]["scripts"]["essential"]


def test_a_doc_folder_linking_to_a_package_drafted_in_the_same_run_needs_its_copyright(local, capsys):
    extra = everywhere(
        "bar-extra",
        "1.4-2",
        [file("./usr/share/bar-extra/table", "t"), symlink("./usr/share/doc/bar-extra", "bar")],
        fields={},
    )
    release = local([spec for arch in TRIPLETS for spec in (*base(arch), library(arch), program(arch))] + extra)
    code, out, err = draft(release, capsys, "libbar1", "bar", "bar-extra")
    assert code == 0, out + err
    text = (release / "slices" / "bar-extra.yaml").read_text()
    assert "# review:" not in text
    assert yaml.safe_load(text)["slices"]["copyright"] == {
        "hint": "Copyright and license notice",
        "essential": {"bar_copyright": None},
        "contents": {"/usr/share/doc/bar-extra": None},
    }


def test_a_description_too_long_for_a_hint_does_not_end_on_a_joining_word(local, capsys):
    described = [
        DebSpec(
            "barsed",
            "1-1",
            arch,
            [
                file("./usr/bin/barsed", build_elf(machine=MACHINES[arch], interpreter=LOADERS[arch]), 0o755),
                file("./usr/share/doc/barsed/copyright", "MIT\n"),
            ],
            fields={"Description": "Stream editor of bars for non-interactive text editing"},
        )
        for arch in TRIPLETS
    ]
    release = local([*base("amd64"), *base("arm64"), *described])
    code, out, err = draft(release, capsys, "barsed")
    assert code == 0, out + err
    document = yaml.safe_load((release / "slices" / "barsed.yaml").read_text())
    # Cut at 40 bytes the description reads "Stream editor of bars for".
    assert document["slices"]["bins"]["hint"] == "Stream editor of bars"


def test_a_path_on_one_architecture_carries_arch(local, capsys):
    amd64_only = (file("./usr/share/libbar1/amd64-tuning", "t"),)
    # A folder named for its architecture, as Java runtimes name theirs, is one glob on every architecture.
    release = local(
        [*base("amd64"), *base("arm64")]
        + [
            library(arch, extra=(*(amd64_only if arch == "amd64" else ()), file(f"./usr/lib/bar-{arch}/bar.cfg", "")))
            for arch in TRIPLETS
        ]
    )
    code, out, err = draft(release, capsys, "libbar1")
    assert code == 0, out + err
    document = yaml.safe_load((release / "slices" / "libbar1.yaml").read_text())
    assert document["slices"]["data"]["contents"] == {
        "/usr/lib/bar-*/bar.cfg": None,
        "/usr/share/libbar1/amd64-tuning": {"arch": ["amd64"]},
    }


def development(arch: str) -> DebSpec:
    """libbar-dev: headers, a triplet header folder, the dev link, a static library, pkg-config and gdb files."""
    triplet = TRIPLETS[arch]
    start = build_elf(machine=MACHINES[arch], interpreter="")
    return DebSpec(
        "libbar-dev",
        "1.4-2",
        arch,
        [
            file("./usr/include/bar.h", "int bar(void);\n"),
            *(file(f"./usr/include/bar/part{n}.h", f"#define PART{n}\n") for n in range(10)),
            file(f"./usr/include/{triplet}/bar/config.h", "#define BAR_ARCH 1\n"),
            symlink(f"./usr/lib/{triplet}/libbar.so", "libbar.so.1"),
            file(f"./usr/lib/{triplet}/libbar.a", "!<arch>\n"),
            file(f"./usr/lib/{triplet}/barcrt1.o", start),
            file(f"./usr/lib/{triplet}/pkgconfig/bar.pc", "Name: bar\n"),
            file(f"./usr/share/gdb/auto-load/usr/lib/{triplet}/libbar.so.1-gdb.py", "x"),
            file("./usr/share/doc/libbar-dev/copyright", "MIT\n"),
        ],
        fields={"Description": "Bar library: development files", "Depends": "libbar1 (= 1.4-2)"},
    )


def test_a_development_package_keeps_headers_and_link_time_files(local, capsys):
    release = local([spec for arch in TRIPLETS for spec in (*base(arch), library(arch), development(arch))])
    code, out, err = draft(release, capsys, "libbar1", "libbar-dev")
    assert code == 0, out + err
    assert (release / "slices" / "libbar-dev.yaml").read_text() == textwrap.dedent("""\
        # Left out: debugger scripts.
        package: libbar-dev
        essential:
          libbar-dev_copyright:
        slices:
          headers:
            hint: C headers of libbar-dev
            contents:
              /usr/include/*-linux-*/bar/config.h:
              /usr/include/bar.h:
              /usr/include/bar/**:
          dev:
            hint: Link-time files of libbar-dev
            essential:
              libbar1_libs:
            contents:
              /usr/lib/*-linux-*/barcrt1.o:
              /usr/lib/*-linux-*/libbar.a:
              /usr/lib/*-linux-*/libbar.so:
              /usr/lib/*-linux-*/pkgconfig/bar.pc:
          copyright:
            hint: Copyright and license notice
            contents:
              /usr/share/doc/libbar-dev/copyright:
        """)
    # The library package itself still leaves its dev link out.
    assert "libbar.so:" not in (release / "slices" / "libbar1.yaml").read_text()


def test_the_target_triplet_a_package_is_named_after_stays_literal(local, capsys):
    def cross(arch: str) -> DebSpec:
        """Tools for x86_64 targets: native on amd64, a cross tool with its own library on arm64."""
        tool = build_elf(machine=MACHINES[arch], needed=("libc.so.6",), interpreter=LOADERS[arch])
        scripts = [file(f"./usr/lib/x86_64-linux-gnu/ldscripts/elf{n}.x", f"{n}\n") for n in range(10)]
        library = build_elf(machine=MACHINES[arch], interpreter="")
        own = [file(f"./usr/lib/{TRIPLETS[arch]}/libbar-amd64.so", library)] if arch == "arm64" else []
        return DebSpec(
            "bartools-x86-64-linux-gnu",
            "1-1",
            arch,
            [
                file("./usr/bin/x86_64-linux-gnu-bar", tool, 0o755),
                *scripts,
                *own,
                file("./usr/share/doc/bartools-x86-64-linux-gnu/copyright", "MIT\n"),
            ],
        )

    release = local([spec for arch in TRIPLETS for spec in (*base(arch), cross(arch))])
    code, out, err = draft(release, capsys, "bartools-x86-64-linux-gnu")
    assert code == 0, out + err
    slices = yaml.safe_load((release / "slices" / "bartools-x86-64-linux-gnu.yaml").read_text())["slices"]
    # The target's folder is the same on every architecture; the host's library folder is not.
    assert list(slices["modules"]["contents"]) == ["/usr/lib/x86_64-linux-gnu/ldscripts/**"]
    assert slices["libs"]["contents"] == {"/usr/lib/*-linux-*/libbar-amd64.so": {"arch": ["arm64"]}}


def test_links_into_another_package_of_the_run_need_its_slices(local, capsys):
    wrapper = everywhere(
        "bar-default", "1.4-2", [symlink("./usr/bin/pub", "bar"), symlink("./usr/share/doc/bar-default", "bar")]
    )
    everything = [spec for arch in TRIPLETS for spec in (*base(arch), library(arch), program(arch))]
    release = local(everything + wrapper)
    code, out, err = draft(release, capsys, "libbar1", "bar", "bar-default")
    assert code == 0, out + err
    slices = yaml.safe_load((release / "slices" / "bar-default.yaml").read_text())["slices"]
    assert slices["bins"] == {
        "hint": "Test package bar-default",
        "essential": {"bar_bins": None},
        "contents": {"/usr/bin/pub": None},
    }
    assert slices["copyright"]["essential"] == {"bar_copyright": None}


def fonts(name: str, family: str, arch: str, count: int = 12) -> DebSpec:
    """A font package: `count` font files in its family's folder below the shared truetype folder."""
    faces = [file(f"./usr/share/fonts/truetype/{family}/{name}-{n}.ttf", f"{n}\n") for n in range(count)]
    return DebSpec(name, "1.0-1", arch, [*faces, file(f"./usr/share/doc/{name}/copyright", "OFL\n")])


def test_a_folder_many_packages_share_is_never_collapsed(local, capsys):
    specs = [
        spec
        for arch in TRIPLETS
        for spec in (*base(arch), fonts("fonts-a", "a", arch), fonts("fonts-b", "b", arch), fonts("fonts-c", "b", arch))
    ]
    release = local(specs)
    code, out, err = draft(release, capsys, "fonts-a", "fonts-b", "fonts-c")
    assert code == 0, out + err
    data = {
        name: list(yaml.safe_load((release / "slices" / f"{name}.yaml").read_text())["slices"]["data"]["contents"])
        for name in ("fonts-a", "fonts-b", "fonts-c")
    }
    # Below /usr/share/fonts/truetype/ (shared by every font package) the family's folder is private...
    assert data["fonts-a"] == ["/usr/share/fonts/truetype/a/**"]
    # ...unless another package drafted in the same run installs into it too.
    assert data["fonts-b"] == sorted(f"/usr/share/fonts/truetype/b/fonts-b-{n}.ttf" for n in range(12))
    assert len(data["fonts-c"]) == 12


def test_a_library_no_slice_provides_is_a_review_question_and_check_fails(local, capsys):
    release = local([spec for arch in TRIPLETS for spec in (*base(arch), library(arch, ("libqux.so.3",)))])
    code, out, _err = draft(release, capsys, "libbar1")
    text = (release / "slices" / "libbar1.yaml").read_text()
    assert "# review: its files need libqux.so.3 (amd64, arm64), which no slice of" in text
    assert code == 1
    assert "needing libqux.so.3, which no slice of" in out


def test_a_path_another_package_lists_is_left_out_with_a_question(local, capsys):
    other = textwrap.dedent("""\
        package: bar-common
        essential:
          bar-common_copyright:
        slices:
          config:
            hint: Shared configuration
            contents:
              /etc/bar.conf:
          copyright:
            hint: Copyright and license notice
            contents:
              /usr/share/doc/bar-common/copyright:
        """)
    common = everywhere(
        "bar-common", "1-1", [file("./etc/bar.conf", "x=1\n"), file("./usr/share/doc/bar-common/copyright", "MIT\n")]
    )
    release = local(
        [spec for arch in TRIPLETS for spec in (*base(arch), library(arch), program(arch))] + common,
        {"bar-common.yaml": other},
    )
    code, out, err = draft(release, capsys, "libbar1", "bar")
    text = (release / "slices" / "bar.yaml").read_text()
    assert "# review: /etc/bar.conf is listed by slice bar-common_config too, so it is left out here" in text
    assert "config:" not in text
    assert code == 0, out + err


def python_module(name: str, arch: str, files: int) -> DebSpec:
    """python3-<name>: many files in its own folder below the dist-packages folder all such packages share."""
    folder = f"./usr/lib/python3/dist-packages/{name}"
    return DebSpec(
        f"python3-{name}",
        "1.0-1",
        arch,
        [
            *(file(f"{folder}/part{n}.py", f"# {n}\n") for n in range(files)),
            file(f"./usr/lib/python3/dist-packages/{name}-1.0.dist-info/METADATA", "Name: x\n"),
            file(f"./usr/share/doc/python3-{name}/copyright", "MIT\n"),
        ],
        fields={"Description": f"{name} module for Python 3"},
    )


def test_modules_in_a_shared_language_folder_collapse_below_it_and_coexist(local, capsys):
    release = local(
        [
            spec
            for arch in TRIPLETS
            for spec in (*base(arch), python_module("foo", arch, 12), python_module("qux", arch, 3))
        ]
    )
    code, out, err = draft(release, capsys, "python3-foo", "python3-qux")
    assert code == 0, out + err
    foo = yaml.safe_load((release / "slices" / "python3-foo.yaml").read_text())["slices"]["data"]["contents"]
    qux = yaml.safe_load((release / "slices" / "python3-qux.yaml").read_text())["slices"]["data"]["contents"]
    # The module's own folder becomes one glob; dist-packages itself, which every module shares, never does.
    assert list(foo) == [
        "/usr/lib/python3/dist-packages/foo-1.0.dist-info/METADATA",
        "/usr/lib/python3/dist-packages/foo/**",
    ]
    assert list(qux) == [
        "/usr/lib/python3/dist-packages/qux-1.0.dist-info/METADATA",
        *(f"/usr/lib/python3/dist-packages/qux/part{n}.py" for n in range(3)),
    ]


def test_a_folder_another_drafted_package_ships_into_is_not_collapsed(local, capsys):
    # python3-bar ships a module into foo/ too, as python3-pkg-resources does into setuptools/.
    intruder = [
        DebSpec(
            "python3-bar",
            "1.0-1",
            arch,
            [
                file("./usr/lib/python3/dist-packages/foo/extra.py", "# x\n"),
                file("./usr/share/doc/python3-bar/copyright", "MIT\n"),
            ],
        )
        for arch in TRIPLETS
    ]
    foo = [python_module("foo", arch, 12) for arch in TRIPLETS]
    for spec in foo:
        spec.entries.extend(file(f"./usr/lib/python3/dist-packages/foo/sub/p{n}.py", "# x\n") for n in range(9))
    release = local([spec for arch in TRIPLETS for spec in base(arch)] + foo + intruder)
    code, out, err = draft(release, capsys, "python3-foo", "python3-bar")
    assert code == 0, out + err
    foo = yaml.safe_load((release / "slices" / "python3-foo.yaml").read_text())["slices"]["data"]["contents"]
    assert "/usr/lib/python3/dist-packages/foo/**" not in foo
    assert "/usr/lib/python3/dist-packages/foo/part11.py" in foo
    # Its subfolders that are its own alone still collapse.
    assert "/usr/lib/python3/dist-packages/foo/sub/**" in foo
    assert not any(path.startswith("/usr/lib/python3/dist-packages/foo/sub/p") for path in foo)


def test_an_existing_file_is_kept_and_diff_shows_what_a_new_version_adds(local, capsys):
    release = local([spec for arch in TRIPLETS for spec in (*base(arch), library(arch))])
    assert draft(release, capsys, "libbar1")[0] == 0
    written = release / "slices" / "libbar1.yaml"
    old = written.read_text().replace(
        "      /usr/lib/*-linux-*/bar/plugin.so:\n", "      /usr/lib/*-linux-*/bar/x.so:\n"
    )
    written.write_text(old)
    code, out, err = draft(release, capsys, "libbar1")
    assert (code, out) == (1, "")
    assert err == f"error: {written} exists; pass --force to replace it, or --diff to see what a draft adds\n"
    code, out, err = draft(release, capsys, "--diff", "--arch", "amd64", "libbar1")
    assert code == 0
    assert out == (
        f"# {written}: 1 paths of libbar1 1.4-2 no slice selects\n"
        "+ libbar1_modules /usr/lib/x86_64-linux-gnu/bar/plugin.so\n"
    )
    assert written.read_text() == old
    assert draft(release, capsys, "--force", "libbar1")[0] == 0
    assert "bar/plugin.so" in written.read_text()


FOLDERS = """\
    package: base-files
    essential:
      base-files_copyright:
    slices:
      folders:
        hint: Standard folders
        contents:
          /usr/sbin/:
      copyright:
        hint: Copyright and license notice
        contents:
          /usr/share/doc/base-files/copyright:
    """


def tools(arch: str) -> DebSpec:
    """A tool with a long name: helpers, a private library and a plugin in /usr/libexec, an empty /usr/sbin."""
    machine, loader = MACHINES[arch], LOADERS[arch]
    name = "quux-long-package-name-utils"
    return DebSpec(
        name,
        "2.0-1",
        arch,
        [
            file("./usr/bin/quux", build_elf(machine=machine, needed=("libc.so.6",), interpreter=loader), 0o755),
            directory("./usr/sbin/"),
            file(
                "./usr/libexec/quux/helper",
                build_elf(machine=machine, needed=("libquux_util.so.0", "libc.so.6"), interpreter=loader),
                0o755,
            ),
            symlink("./usr/libexec/quux/libquux_util.so.0", "libquux_util.so.0.0.0"),
            file(
                "./usr/libexec/quux/libquux_util.so.0.0.0",
                build_elf(machine=machine, soname="libquux_util.so.0", needed=("libc.so.6",), interpreter=""),
            ),
            file(
                "./usr/libexec/quux/plugin.so",
                build_elf(machine=machine, needed=("libquux_util.so.0", "libc.so.6"), interpreter=""),
            ),
            file(f"./usr/share/doc/{name}/copyright", "MIT\n"),
            # Six kinds of files left out: their names make a comment line longer than 100 columns.
            file("./usr/include/quux.h", "x"),
            file(f"./usr/share/lintian/overrides/{name}", "x"),
            file("./usr/share/man/man1/quux.1.gz", "x"),
            file("./usr/lib/systemd/system/quux.service", "x"),
            file("./usr/share/bash-completion/completions/quux", "x"),
            file("./usr/share/locale/de/LC_MESSAGES/quux.mo", "x"),
        ],
        fields={"Description": "Quux tools for reading and writing the quux format of files"},
    )


def test_helpers_plugins_and_long_names_in_a_tool_are_placed_without_questions(local, capsys):
    folders = [
        DebSpec(
            "base-files", "13", arch, [directory("./usr/sbin/"), file("./usr/share/doc/base-files/copyright", "GPL\n")]
        )
        for arch in TRIPLETS
    ]
    release = local(
        [spec for arch in TRIPLETS for spec in (*base(arch), tools(arch))] + folders, {"base-files.yaml": FOLDERS}
    )
    code, out, err = draft(release, capsys, "quux-long-package-name-utils")
    assert code == 0, out + err
    text = (release / "slices" / "quux-long-package-name-utils.yaml").read_text()
    # A program in /usr/libexec is a helper, not a question; an empty folder another slice lists is
    # left to that slice; ELF libraries and plugins in the package's own folder are its modules.
    assert "# review:" not in text
    assert text.startswith(
        "# Left out: development files, lintian overrides, manual pages, service-manager files, shell\n"
        "#   completions, translations.\n"
    )
    slices = yaml.safe_load(text)["slices"]
    assert slices["bins"] == {
        # A summary cut to 40 bytes does not end on "the".
        "hint": "Quux tools for reading and writing",
        "essential": {"libc6_libs": None, "quux-long-package-name-utils_modules": None},
        "contents": {"/usr/bin/quux": None, "/usr/libexec/quux/helper": None},
    }
    assert slices["modules"] == {
        # "Plugins and modules of quux-long-package-name-utils" is over 40 bytes.
        "hint": "Plugins and modules",
        "essential": {"libc6_libs": None},
        "contents": {
            "/usr/libexec/quux/libquux_util.so.0": None,
            "/usr/libexec/quux/libquux_util.so.0.0.0": None,
            "/usr/libexec/quux/plugin.so": None,
        },
    }
    assert list(slices) == ["modules", "bins", "copyright"]


@pytest.mark.parametrize(
    ("description", "hint"),
    [
        ("Lightweight messaging kernel (shared library)", "Lightweight messaging kernel"),
        ("provide limited super user privileges to specific users", "Provide limited super user privileges"),
        ("The bar tool - reads and writes bars", "Bar tool - reads and writes bars"),
        ("libfoo: a library (for foo) with long descriptions", "Library (for foo) with long descriptions"),
    ],
)
def test_a_hint_is_the_summary_cut_on_a_phrase_end(description, hint):
    assert _hint(description) == hint


def test_unknown_virtual_and_other_architecture_packages_are_refused_clearly(local, capsys):
    provider = [
        DebSpec(
            "bar-mta",
            "1-1",
            arch,
            [file("./usr/share/doc/bar-mta/copyright", "MIT\n")],
            fields={"Provides": "mail-transport-agent"},
        )
        for arch in TRIPLETS
    ]
    release = local([*base("amd64"), *base("arm64"), library("amd64"), *provider])
    code, _, err = draft(release, capsys, "libbar2")
    assert (code, err) == (
        1,
        f'error: release {release.name} has no package "libbar2" for amd64 (did you mean "libbar1"?)\n',
    )
    code, _, err = draft(release, capsys, "mail-transport-agent")
    assert (code, err) == (
        1,
        f'error: "mail-transport-agent" is a virtual package in release {release.name}, '
        "provided by bar-mta; draft one of those\n",
    )
    code, _, err = draft(release, capsys, "libbar1")
    assert (code, err) == (
        1,
        'error: package "libbar1" is not built for arm64 (it is for amd64); draft it with --arch amd64\n',
    )
    # Every name that cannot be drafted is reported at once, in the order given.
    code, _, err = draft(release, capsys, "libbar2", "dash", "mail-transport-agent", "libbar1")
    assert (code, err) == (
        1,
        "error: 3 packages cannot be drafted:\n"
        f'  release {release.name} has no package "libbar2" for amd64 (did you mean "libbar1"?)\n'
        f'  "mail-transport-agent" is a virtual package in release {release.name}, provided by bar-mta; '
        "draft one of those\n"
        '  package "libbar1" is not built for arm64 (it is for amd64); draft it with --arch amd64\n',
    )
    assert not (release / "slices" / "dash.yaml").read_text().startswith("# Left out")
    assert draft(release, capsys, "--arch", "amd64", "libbar1")[0] == 0


# Real packages not in the repository, drafted together where one needs another's library: a plain C
# library, a tool with its libraries, a runtime with private modules. Each set passes every check on
# amd64 and arm64 with no hand edits.
REAL = {
    "debian-12": [("libyaml-0-2",), ("jq", "libjq1", "libonig5"), ("perl-base",)],
    "debian-13": [("libyaml-0-2",), ("jq", "libjq1", "libonig5")],
}


@pytest.mark.network
@pytest.mark.parametrize(("name", "packages"), [(name, sets) for name, all_sets in REAL.items() for sets in all_sets])
def test_real_packages_draft_into_files_that_pass_every_check(
    name, packages, host_mirrors, network_cache, tmp_path, capsys
):
    from slicer.cache import Cache
    from slicer.release.load import load_release

    host_mirrors(load_release(name, (), Cache(network_cache.directory)))  # skips when the host names no mirror
    code = main(
        [
            "-q",
            "draft",
            "--release",
            name,
            "--output",
            str(tmp_path),
            "--cache-dir",
            str(network_cache.directory),
            *packages,
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, out + err
    for package in packages:
        document = yaml.safe_load((tmp_path / f"{package}.yaml").read_text())
        assert document["package"] == package
        assert list(document["slices"])[-1] == "copyright"
        assert not any(
            "/usr/share/man/" in path or ("/usr/share/doc/" in path and not path.endswith("/copyright"))
            for slice_ in document["slices"].values()
            for path in slice_["contents"]
        )
