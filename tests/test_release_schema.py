"""One test per rule a single slice definition or release file decides alone."""

from __future__ import annotations

import contextlib
import re
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slicer.errors import ReleaseError, SlicerError
from slicer.release import schema
from slicer.release.load import load_release
from slicer.release.model import PathKind


def load_one(make_release, text: str, fmt: str = "v3", name: str = "mypkg.yaml"):
    return load_release(str(make_release({name: text}, fmt=fmt)) + "/")


def error_of(make_release, text: str, fmt: str = "v3", name: str = "mypkg.yaml") -> str:
    with pytest.raises(ReleaseError) as caught:
        load_one(make_release, text, fmt, name)
    return str(caught.value)


SLICE_RULES = [
    # (summary, slice file body, expected message fragment, expected line)
    (
        "package field differs from the file name",
        "package: other\n",
        "filename and 'package' field (\"other\") disagree",
        1,
    ),
    (
        "slice name too short",
        "package: mypkg\nslices:\n  ab:\n    contents:\n      /a:\n",
        'invalid slice name "ab"',
        3,
    ),
    ("slice name with uppercase", "package: mypkg\nslices:\n  Bins:\n", 'invalid slice name "Bins"', 3),
    (
        "relative path",
        "package: mypkg\nslices:\n  bins:\n    contents:\n      a/b:\n",
        "slice mypkg_bins has invalid content path: a/b",
        5,
    ),
    (
        "unclean path",
        "package: mypkg\nslices:\n  bins:\n    contents:\n      /a/../b:\n",
        "slice mypkg_bins has invalid content path: /a/../b",
        5,
    ),
    ("double slash", "package: mypkg\nslices:\n  bins:\n    contents:\n      //a:\n", "invalid content path: //a", 5),
    (
        "two kinds",
        "package: mypkg\nslices:\n  bins:\n    contents:\n      /a: {text: x, symlink: /b}\n",
        "conflict in slice mypkg_bins definition for path /a: text, symlink",
        5,
    ),
    (
        "make without slash",
        "package: mypkg\nslices:\n  bins:\n    contents:\n      /a: {make: true}\n",
        "slice mypkg_bins path /a must end in / for 'make' to be valid",
        5,
    ),
    (
        "mutable directory",
        "package: mypkg\nslices:\n  bins:\n    contents:\n      /a/: {make: true, mutable: true}\n",
        "slice mypkg_bins mutable is not a regular file: /a/",
        5,
    ),
    (
        "mutable symlink",
        "package: mypkg\nslices:\n  bins:\n    contents:\n      /a: {symlink: /b, mutable: true}\n",
        "mutable is not a regular file: /a",
        5,
    ),
    (
        "until other than mutate",
        "package: mypkg\nslices:\n  bins:\n    contents:\n      /a: {until: later}\n",
        "slice mypkg_bins has invalid 'until' for path /a: \"later\"",
        5,
    ),
    (
        "unknown arch",
        "package: mypkg\nslices:\n  bins:\n    contents:\n      /a: {arch: [amd64, vax]}\n",
        "slice mypkg_bins has invalid 'arch' for path /a: \"vax\"",
        5,
    ),
    (
        "glob with text",
        "package: mypkg\nslices:\n  bins:\n    contents:\n      /a/*: {text: x}\n",
        "slice mypkg_bins path /a/* has invalid wildcard options",
        5,
    ),
    (
        "glob with mode",
        "package: mypkg\nslices:\n  bins:\n    contents:\n      /a/**: {mode: 0755}\n",
        "path /a/** has invalid wildcard options",
        5,
    ),
    (
        "glob with prefer",
        "package: mypkg\nslices:\n  bins:\n    contents:\n      /a/?: {prefer: other}\n",
        "path /a/? has invalid wildcard options",
        5,
    ),
    (
        "glob as copy source",
        "package: mypkg\nslices:\n  bins:\n    contents:\n      /a: {copy: /b/*}\n",
        "when using wildcards source and target paths must match: /a",
        5,
    ),
    (
        "generate not ending in /**",
        "package: mypkg\nslices:\n  bins:\n    contents:\n      /a/*: {generate: manifest}\n",
        "slice mypkg_bins has invalid generate path: /a/* does not end with /**",
        5,
    ),
    (
        "generate with another wildcard",
        "package: mypkg\nslices:\n  bins:\n    contents:\n      /a*/**: {generate: manifest}\n",
        "contains wildcard characters in addition to trailing **",
        5,
    ),
    (
        "generate with options",
        "package: mypkg\nslices:\n  bins:\n    contents:\n      /a/**: {generate: manifest, until: mutate}\n",
        "slice mypkg_bins path /a/** has invalid generate options",
        5,
    ),
    (
        "negative uid",
        "package: mypkg\nslices:\n  bins:\n    contents:\n      /a/: {make: true, uid: -1}\n",
        "slice mypkg_bins has invalid 'uid' for path /a/: -1",
        5,
    ),
    (
        "prefer own package",
        "package: mypkg\nslices:\n  bins:\n    contents:\n      /a: {prefer: mypkg}\n",
        "slice mypkg_bins cannot 'prefer' its own package for path /a",
        5,
    ),
    (
        "hint too long",
        "package: mypkg\nslices:\n  bins:\n    hint: " + "x" * 41 + "\n",
        "slice mypkg_bins has invalid hint",
        4,
    ),
    (
        "hint with a tab",
        'package: mypkg\nslices:\n  bins:\n    hint: "a\\tb"\n',
        'slice mypkg_bins has invalid hint "a\\tb" (must be len <= 40',
        4,
    ),
    (
        "hint over several lines",
        "package: mypkg\nslices:\n  bins:\n    hint: |\n      On\n      two lines\n",
        'slice mypkg_bins has invalid hint "On\\ntwo lines\\n" (must be len <= 40',
        4,
    ),
    (
        "essential self reference",
        "package: mypkg\nslices:\n  bins:\n    essential: {mypkg_bins: null}\n",
        "cannot add slice to itself as essential mypkg_bins",
        4,
    ),
    (
        "essential repeated through the package list",
        "package: mypkg\nessential: {mypkg_libs: null}\nslices:\n  libs:\n  bins:\n    essential: {mypkg_libs: null}\n",
        "slice mypkg_bins repeats mypkg_libs in essential fields",
        6,
    ),
    (
        "invalid essential reference",
        "package: mypkg\nslices:\n  bins:\n    essential: {libc6: null}\n",
        'package "mypkg" has invalid essential slice reference: "libc6"',
        4,
    ),
    (
        "v3 essential as a list",
        "package: mypkg\nslices:\n  bins:\n    essential: [a_bcd]\n",
        "cannot parse slice mypkg_bins: essential expects a map",
        4,
    ),
    (
        "v3-essential in format v3",
        "package: mypkg\nslices:\n  bins:\n    v3-essential: {a_bcd: null}\n",
        "v3-essential is obsolete since format v3",
        4,
    ),
    (
        "wrong field type",
        "package: mypkg\nslices:\n  bins:\n    contents:\n      /a/: {make: yes-please}\n",
        'cannot parse package "mypkg": slices.bins.contents./a/.make',
        5,
    ),
    ("yaml syntax error", "package: mypkg\nslices: [\n", 'cannot parse package "mypkg" slice definitions', 3),
]


@pytest.mark.parametrize("summary,text,message,line", SLICE_RULES, ids=[r[0] for r in SLICE_RULES])
def test_slice_rule(make_release, summary, text, message, line):
    error = error_of(make_release, text)
    assert message in error
    assert re.search(rf"slices/mypkg\.yaml:{line}: ", error), error


def test_v1_essential_must_be_a_list(make_release):
    error = error_of(make_release, "package: mypkg\nslices:\n  bins:\n    essential: {a_bcd: null}\n", fmt="v1")
    assert "cannot parse slice mypkg_bins: essential expects a list" in error


def test_v1_accepts_v3_essential_with_arch(make_release):
    release = load_release(
        str(
            make_release(
                {
                    "mypkg.yaml": "package: mypkg\nslices:\n  bins:\n    essential: [mypkg_libs]\n"
                    "    v3-essential: {mypkg_data: {arch: arm64}}\n  libs:\n  data:\n",
                },
                fmt="v1",
            )
        )
        + "/"
    )
    essentials = release.packages["mypkg"].slices["bins"].essential
    assert [(str(e.key), e.arch) for e in essentials] == [("mypkg_libs", ()), ("mypkg_data", ("arm64",))]


def test_invalid_file_name(make_release):
    error = error_of(make_release, "package: MyPkg\n", name="MyPkg.yaml")
    assert 'invalid slice definition filename: "MyPkg.yaml"' in error


def test_package_defined_twice(make_release):
    root = make_release({"a/mypkg.yaml": "package: mypkg\n", "b/mypkg.yaml": "package: mypkg\n"})
    with pytest.raises(
        ReleaseError, match='package "mypkg" slices defined more than once: .*a/mypkg.yaml and .*b/mypkg.yaml'
    ):
        load_release(str(root) + "/")


def test_path_kinds_and_options(make_release):
    release = load_one(
        make_release,
        """\
        package: mypkg
        slices:
          bins:
            contents:
              /a:
              /b: {copy: /c, mode: 0755}
              /d/: {make: true, mode: 01777, uid: 65532, gid: 65532}
              /e: {text: "", mutable: true}
              /f/: {symlink: ../g}
              /h/**: {until: mutate, arch: amd64}
              /m/**: {generate: dpkg-status}
        """,
    )
    contents = release.packages["mypkg"].slices["bins"].contents
    assert contents["/a"].kind is PathKind.COPY and contents["/a"].info == "/a"
    assert (contents["/b"].kind, contents["/b"].info, contents["/b"].mode) == (PathKind.COPY, "/c", 0o755)
    assert (contents["/d/"].kind, contents["/d/"].mode, contents["/d/"].uid) == (PathKind.MAKE, 0o1777, 65532)
    assert contents["/e"].kind is PathKind.TEXT and contents["/e"].mutable
    assert contents["/f/"].kind is PathKind.SYMLINK and contents["/f/"].info == "../g"
    assert contents["/h/**"].kind is PathKind.GLOB and contents["/h/**"].arch == ("amd64",)
    assert contents["/m/**"].kind is PathKind.GENERATE and contents["/m/**"].info == "dpkg-status"


def test_unknown_keys_are_ignored(make_release):
    release = load_one(
        make_release,
        """\
        package: mypkg
        future-key: 1
        slices:
          bins:
            future-slice-key: {a: b}
            contents:
              /a: {future-path-key: true}
        """,
    )
    assert list(release.packages["mypkg"].slices["bins"].contents) == ["/a"]


# -- release files --------------------------------------------------------------


def release_error(make_release, release_cert, body: str, fmt: str = "v3") -> str:
    from tests.helpers.releases import chisel_yaml

    text = chisel_yaml(release_cert, fmt=fmt, archives=body)
    with pytest.raises(ReleaseError) as caught:
        load_release(str(make_release({}, release_text=text)) + "/")
    return str(caught.value)


ARCHIVE_RULES = [
    (
        "missing version",
        "  a:\n    suites: [s]\n    components: [main]\n    public-keys: [test-key]\n",
        'archive "a" missing version field',
    ),
    (
        "missing suites",
        "  a:\n    version: '1'\n    components: [main]\n    public-keys: [test-key]\n",
        'archive "a" missing suites field',
    ),
    (
        "missing components",
        "  a:\n    version: '1'\n    suites: [s]\n    public-keys: [test-key]\n",
        'archive "a" missing components field',
    ),
    (
        "missing keys",
        "  a:\n    version: '1'\n    suites: [s]\n    components: [main]\n",
        'archive "a" missing public-keys field',
    ),
    (
        "undefined key",
        "  a:\n    version: '1'\n    suites: [s]\n    components: [main]\n    public-keys: [nope]\n",
        'archive "a" refers to undefined public key "nope"',
    ),
    (
        "suites as a string",
        "  a:\n    version: '1'\n    suites: bookworm\n    components: [main]\n    public-keys: [test-key]\n",
        "archives.a.suites: expected a list",
    ),
    (
        "priority out of range",
        "  a:\n    version: '1'\n    suites: [s]\n    components: [main]\n    public-keys: [test-key]\n    priority: 1001\n",
        'archive "a" has invalid priority value of 1001',
    ),
    (
        "zero priority",
        "  a:\n    version: '1'\n    suites: [s]\n    components: [main]\n    public-keys: [test-key]\n    priority: 0\n",
        'archive "a" has invalid priority value of 0',
    ),
    (
        "duplicate priority",
        "  a:\n    version: '1'\n    suites: [s]\n    components: [main]\n    public-keys: [test-key]\n    priority: 5\n"
        "  b:\n    version: '1'\n    suites: [t]\n    components: [main]\n    public-keys: [test-key]\n    priority: 5\n",
        'archives "a" and "b" have the same priority value of 5',
    ),
    (
        "priority on some only",
        "  a:\n    version: '1'\n    suites: [s]\n    components: [main]\n    public-keys: [test-key]\n    priority: 5\n"
        "  b:\n    version: '1'\n    suites: [t]\n    components: [main]\n    public-keys: [test-key]\n",
        'archive "b" is missing the priority setting',
    ),
    (
        "two archives without priority",
        "  a:\n    version: '1'\n    suites: [s]\n    components: [main]\n    public-keys: [test-key]\n"
        "  b:\n    version: '1'\n    suites: [t]\n    components: [main]\n    public-keys: [test-key]\n",
        "archives need a priority each",
    ),
    (
        "default in v3",
        "  a:\n    version: '1'\n    suites: [s]\n    components: [main]\n    public-keys: [test-key]\n    default: true\n",
        "archive \"a\" has 'default' field which is obsolete since format v2",
    ),
    ("url in a user release is fine but unknown format is not", None, None),
]


@pytest.mark.parametrize(
    "summary,body,message", [r for r in ARCHIVE_RULES if r[1]], ids=[r[0] for r in ARCHIVE_RULES if r[1]]
)
def test_archive_rule(make_release, release_cert, summary, body, message):
    error = release_error(make_release, release_cert, body)
    assert message in error
    assert re.search(r"chisel\.yaml:\d+: ", error), error


def test_unknown_format(make_release, release_cert):
    from tests.helpers.releases import chisel_yaml

    text = chisel_yaml(release_cert).replace("format: v3", "format: chisel-v1")
    with pytest.raises(ReleaseError, match=r'chisel\.yaml:1: unknown format "chisel-v1"'):
        load_release(str(make_release({}, release_text=text)) + "/")


def test_v1_default_archive_orders_priorities(make_release, release_cert):
    from tests.helpers.releases import chisel_yaml

    body = (
        "  a:\n    version: '1'\n    suites: [s]\n    components: [main]\n    public-keys: [test-key]\n"
        "  b:\n    version: '1'\n    suites: [t]\n    components: [main]\n    public-keys: [test-key]\n    default: true\n"
        "  c:\n    version: '1'\n    suites: [u]\n    components: [main]\n    public-keys: [test-key]\n"
    )
    release = load_release(str(make_release({}, release_text=chisel_yaml(release_cert, "v1", body))) + "/")
    # As chisel numbers them: the n-th archive by name gets -n, the default then 1.
    assert {name: a.priority for name, a in release.archives.items()} == {"a": -1, "b": 1, "c": -3}


def test_more_than_one_default(make_release, release_cert):
    body = (
        "  a:\n    version: '1'\n    suites: [s]\n    components: [main]\n    public-keys: [test-key]\n    default: true\n"
        "  b:\n    version: '1'\n    suites: [t]\n    components: [main]\n    public-keys: [test-key]\n    default: true\n"
    )
    assert "more than one default archive: a, b" in release_error(make_release, release_cert, body, fmt="v1")


def test_v2_archives_only_in_v1(make_release, release_cert):
    from tests.helpers.releases import chisel_yaml

    extra = (
        "v2-archives:\n  pro:\n    version: '1'\n    suites: [s]\n    components: [main]\n    public-keys: [test-key]\n"
    )
    text = chisel_yaml(release_cert, "v2", extra="\n" + extra)
    with pytest.raises(ReleaseError, match="v2-archives is obsolete since format v2"):
        load_release(str(make_release({}, release_text=text)) + "/")
    text = chisel_yaml(release_cert, "v1", extra="\n" + extra.replace("pro:", "debian:"))
    with pytest.raises(ReleaseError, match='archive "debian" defined twice'):
        load_release(str(make_release({}, release_text=text)) + "/")


def test_key_id_must_match_armor(make_release, release_cert):
    from tests.helpers.releases import chisel_yaml

    real = release_cert.fingerprint.upper()[-16:]
    text = chisel_yaml(release_cert).replace(f"id: {real}", "id: 0123456789ABCDEF")
    with pytest.raises(
        ReleaseError, match=f'public key "test-key" armor has incorrect ID: expected "0123456789ABCDEF", got "{real}"'
    ):
        load_release(str(make_release({}, release_text=text)) + "/")


def test_bad_armor(make_release, release_cert):
    from tests.helpers.releases import chisel_yaml

    text = chisel_yaml(release_cert)
    start = text.index("-----BEGIN")
    text = text[:start] + "not a key\n"
    error = ""
    with pytest.raises(ReleaseError) as caught:
        load_release(str(make_release({}, release_text=text)) + "/")
    error = str(caught.value)
    assert 'cannot decode public key "test-key": cannot decode armored data' in error
    assert "backtrace" not in error.lower()


def test_maintenance_dates(make_release, release_cert):
    from tests.helpers.releases import chisel_yaml

    text = chisel_yaml(release_cert).replace("end-of-life: 2099-06-30", "end-of-life: someday")
    with pytest.raises(ReleaseError, match='expected format for "end-of-life" is YYYY-MM-DD'):
        load_release(str(make_release({}, release_text=text)) + "/")
    text = chisel_yaml(release_cert).replace("  standard: 2023-06-10\n", "")
    with pytest.raises(ReleaseError, match='cannot parse maintenance: "standard" is unset'):
        load_release(str(make_release({}, release_text=text)) + "/")


# -- robustness -------------------------------------------------------------------

yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5000), st.text(string.printable, max_size=12))
yaml_values = st.recursive(
    yaml_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(string.ascii_lowercase + "/-_*", max_size=8), children, max_size=4),
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(yaml_values)
def test_arbitrary_documents_raise_only_slicer_errors(data):
    import yaml

    text = yaml.safe_dump({"package": "mypkg", "slices": data}) if not isinstance(data, dict) or data else "x"
    for candidate in (text, yaml.safe_dump(data)):
        with contextlib.suppress(SlicerError):
            schema.parse_package(__import__("pathlib").Path("mypkg.yaml"), "mypkg.yaml", candidate, "v3")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_arbitrary_text_raises_only_slicer_errors(text):
    for fmt in ("v1", "v3"):
        with contextlib.suppress(SlicerError):
            schema.parse_package(__import__("pathlib").Path("mypkg.yaml"), "mypkg.yaml", text, fmt)
    with contextlib.suppress(SlicerError):
        schema.parse_release("chisel.yaml", text)


def test_yaml_1_1_booleans_stay_strings(make_release):
    release = load_one(
        make_release,
        """\
        package: mypkg
        slices:
          off:
            hint: yes
            contents:
              /a: {text: no, mutable: true}
          "false":
          true:
        """,
    )
    slice_ = release.packages["mypkg"].slices["off"]
    assert slice_.hint == "yes" and slice_.contents["/a"].info == "no" and slice_.contents["/a"].mutable
    assert sorted(release.packages["mypkg"].slices) == ["false", "off", "true"]


PRO_BODY = (
    "  ubuntu:\n    version: '24.04'\n    suites: [noble]\n    components: [main]\n"
    "    public-keys: [test-key]\n    priority: 10\n"
    "  esm:\n    version: '24.04'\n    suites: [noble-infra-security]\n    components: [main]\n"
    "    public-keys: [test-key]\n    priority: 15\n    pro: esm-infra\n"
)


def test_pro_archives_stay_in_the_release(make_release, release_cert):
    from tests.helpers.releases import chisel_yaml

    release = load_release(str(make_release({}, release_text=chisel_yaml(release_cert, "v3", PRO_BODY))) + "/")
    assert {name: (a.pro, a.priority) for name, a in release.archives.items()} == {
        "ubuntu": ("", 10),
        "esm": ("esm-infra", 15),
    }


def test_an_archive_of_an_unknown_pro_kind_is_left_out(make_release, release_cert):
    from tests.helpers.releases import chisel_yaml

    body = PRO_BODY.replace("pro: esm-infra", "pro: unknown-value").replace("priority: 15", "priority: 10")
    release = load_release(str(make_release({}, release_text=chisel_yaml(release_cert, "v3", body))) + "/")
    assert list(release.archives) == ["ubuntu"]
    # Its only archive left out, a release still loads: finding packages fails later.
    lone = "  esm:\n" + body.split("  esm:\n")[1].replace("    priority: 10\n", "")
    release = load_release(str(make_release({}, release_text=chisel_yaml(release_cert, "v3", lone))) + "/")
    assert release.archives == {}
    # Left out or not, it must name its version, suites and components.
    broken = body.replace("    suites: [noble-infra-security]\n", "")
    assert 'archive "esm" missing suites field' in release_error(make_release, release_cert, broken)


# -- YAML reading -----------------------------------------------------------------


def test_an_alias_shares_the_node_it_names():
    from slicer.release.yamldoc import Document

    data = Document("f.yaml", "a: &list [x, {y: 1}]\nb: *list\nc: [*list, *list]\n").load("f")
    assert data["a"] == ["x", {"y": 1}]
    assert data["b"] is data["a"] and data["c"][0] is data["a"] and data["c"][1] is data["a"]


def test_nested_aliases_do_not_multiply():
    """Ten levels of ten aliases each name 10**10 leaves; each level is built once."""
    from slicer.release.yamldoc import Document

    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 10)}]" for n in range(1, 10)]
    data = Document("f.yaml", "\n".join(lines) + "\n").load("f")
    assert all(item is data["l8"] for item in data["l9"])


@pytest.mark.parametrize(
    "text, line",
    [
        ("package: mypkg\nslices: &s\n  bins:\n    contents: *s\n", 2),
        ("package: mypkg\nslices:\n  bins:\n    essential: &e [*e]\n", 4),
    ],
)
def test_a_recursive_alias_is_refused(make_release, text, line):
    assert error_of(make_release, text).endswith(
        f'mypkg.yaml:{line}: cannot parse package "mypkg" slice definitions: an alias refers to a node that contains it'
    )


def test_scalars_read_as_chisel_reads_them():
    from slicer.release.yamldoc import Document

    data = Document(
        "f.yaml",
        "a: 0755\nb: 10\nc: ~\nd: null\ne: on\nf: no\ng: True\nh: false\ni: '0755'\nj: !!str 10\n1: one\nnull: k\n",
    ).load("f")
    assert data == {
        "a": 0o755,
        "b": 10,
        "c": None,
        "d": None,
        "e": "on",
        "f": "no",
        "g": True,
        "h": False,
        "i": "0755",
        "j": "10",
        "1": "one",
        "null": "k",
    }


def test_other_tags_and_merge_keys_keep_their_meaning():
    from slicer.release.yamldoc import Document

    data = Document("f.yaml", "base: &b {x: 1}\nm: {<<: *b, y: 2}\nd: 2023-06-10\nf: 1.5\n").load("f")
    assert data["m"] == {"x": 1, "y": 2} and str(data["d"]) == "2023-06-10" and data["f"] == 1.5


def test_non_text_keys_and_unknown_tags_are_one_line_errors(make_release):
    error = error_of(make_release, "package: mypkg\nslices:\n  ? [a]\n  : 1\n")
    assert error.endswith(
        'mypkg.yaml:3: cannot parse package "mypkg" slice definitions: mapping keys must be plain text'
    )
    error = error_of(make_release, "package: mypkg\nslices: !!python/object:os.system x\n")
    assert "mypkg.yaml:2: cannot parse package" in error and "\n" not in error


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="/.a\n", max_size=10))
def test_a_content_path_is_accepted_exactly_when_cleaning_leaves_it_alone(path):
    import posixpath

    bare = path.rstrip("/") if path != "/" else path
    clean = path.startswith("/") and not bare.startswith("//") and posixpath.normpath(bare) == bare
    assert schema._is_clean_absolute(path) == clean
