"""One test per rule that spans several slice definition files."""

from __future__ import annotations

import pytest

from slicer.errors import ReleaseError
from slicer.release.load import load_release


def load(make_release, files: dict[str, str], fmt: str = "v3"):
    return load_release(str(make_release(files, fmt=fmt)) + "/")


def fails(make_release, files: dict[str, str], message: str, fmt: str = "v3") -> str:
    with pytest.raises(ReleaseError) as caught:
        load(make_release, files, fmt)
    assert message in str(caught.value), str(caught.value)
    return str(caught.value)


def pkg(name: str, body: str) -> dict[str, str]:
    return {f"{name}.yaml": f"package: {name}\nslices:\n{body}"}


def test_missing_essential(make_release):
    error = fails(
        make_release,
        pkg("mypkg", "  bins:\n    essential: {other_libs: null}\n"),
        "mypkg_bins requires other_libs, but slice is missing",
    )
    assert "slices/mypkg.yaml:3:" in error


def test_essential_loop_names_the_loop(make_release):
    files = {
        **pkg("aa", "  one:\n    essential: {bb_two: null}\n"),
        **pkg("bb", "  two:\n    essential: {cc_three: null}\n"),
        **pkg("cc", "  three:\n    essential: {aa_one: {arch: arm64}}\n"),
    }
    fails(make_release, files, "essential loop detected: aa_one, bb_two, cc_three")


def test_undefined_archive_pin(make_release):
    fails(
        make_release,
        {"mypkg.yaml": "package: mypkg\narchive: elsewhere\n"},
        'package refers to undefined archive "elsewhere"',
    )


def test_same_path_extracted_by_two_packages(make_release):
    files = {
        **pkg("aa", "  bins:\n    contents:\n      /usr/bin/x:\n"),
        **pkg("bb", "  bins:\n    contents:\n      /usr/bin/x:\n"),
    }
    error = fails(make_release, files, "slices aa_bins and bb_bins conflict on /usr/bin/x")
    assert "slices/bb.yaml:5:" in error


def test_same_path_in_two_slices_of_one_package_is_fine(make_release):
    load(
        make_release,
        pkg("aa", "  bins:\n    contents:\n      /usr/bin/x:\n  more:\n    contents:\n      /usr/bin/x:\n"),
    )


def test_identical_inline_content_across_packages_is_fine(make_release):
    files = {
        **pkg("aa", "  base:\n    contents:\n      /tmp/: {make: true, mode: 01777}\n      /l: {symlink: /x}\n"),
        **pkg("bb", "  base:\n    contents:\n      /tmp/: {make: true, mode: 01777}\n      /l: {symlink: /x}\n"),
    }
    load(make_release, files)


def test_different_inline_content_conflicts(make_release):
    files = {
        **pkg("aa", "  base:\n    contents:\n      /tmp/: {make: true, mode: 01777}\n"),
        **pkg("bb", "  base:\n    contents:\n      /tmp/: {make: true, mode: 0755}\n"),
    }
    fails(make_release, files, "slices aa_base and bb_base conflict on /tmp/")


def test_glob_against_path_of_another_package(make_release):
    files = {
        **pkg("aa", "  libs:\n    contents:\n      /usr/lib/*/libx.so*:\n"),
        **pkg("bb", "  libs:\n    contents:\n      /usr/lib/x86_64-linux-gnu/libx.so.1:\n"),
    }
    fails(
        make_release,
        files,
        "slices aa_libs and bb_libs conflict on /usr/lib/*/libx.so* and /usr/lib/x86_64-linux-gnu/libx.so.1",
    )


def test_glob_against_glob(make_release):
    files = {
        **pkg("aa", "  data:\n    contents:\n      /file/f*obar:\n"),
        **pkg("bb", "  data:\n    contents:\n      /file/foob*r:\n"),
    }
    fails(make_release, files, "slices aa_data and bb_data conflict on /file/f*obar and /file/foob*r")


def test_non_overlapping_globs_are_fine(make_release):
    files = {
        **pkg("aa", "  data:\n    contents:\n      /usr/lib/*/liba.so*:\n      /dir/*.txt:\n"),
        **pkg("bb", "  data:\n    contents:\n      /usr/lib/*/libb.so*:\n      /dir/*.conf:\n      /dir/sub/x.txt:\n"),
    }
    load(make_release, files)


def test_glob_and_copy_in_one_package_are_fine(make_release):
    load(make_release, pkg("aa", "  data:\n    contents:\n      /dir/**:\n  more:\n    contents:\n      /dir/file:\n"))


def test_the_same_glob_in_two_packages_conflicts(make_release):
    files = {
        **pkg("aa", "  data:\n    contents:\n      /file/foob*r:\n"),
        **pkg("bb", "  data:\n    contents:\n      /file/foob*r:\n"),
    }
    error = fails(make_release, files, "slices aa_data and bb_data conflict on /file/foob*r")
    assert "slices/bb.yaml:5:" in error and " and /file" not in error


def test_the_same_glob_in_two_slices_of_one_package_is_fine(make_release):
    load(
        make_release,
        pkg(
            "aa",
            "  one:\n    contents:\n      /file/foob*r:\n      /file/f*r:\n"
            "  two:\n    contents:\n      /file/foob*r:\n      /file/f*obar:\n",
        ),
    )


def test_glob_against_inline_text_of_the_same_package_conflicts(make_release):
    fails(
        make_release,
        pkg("aa", "  data:\n    contents:\n      /dir/**:\n  more:\n    contents:\n      /dir/file: {text: x}\n"),
        "slices aa_data and aa_more conflict on /dir/** and /dir/file",
    )


def test_generate_conflicts_even_within_a_slice(make_release):
    fails(
        make_release,
        pkg(
            "aa",
            "  base:\n    contents:\n      /var/lib/chisel/**: {generate: manifest}\n"
            "      /var/lib/chisel/extra: {text: x}\n",
        ),
        "conflict on /var/lib/chisel/** and /var/lib/chisel/extra",
    )


def test_prefer_resolves_a_conflict(make_release):
    files = {
        **pkg("aa", "  bins:\n    contents:\n      /usr/bin/x: {prefer: bb}\n"),
        **pkg("bb", "  bins:\n    contents:\n      /usr/bin/x: {prefer: cc}\n"),
        **pkg("cc", "  bins:\n    contents:\n      /usr/bin/x:\n"),
    }
    release = load(make_release, files)
    assert release.prefers["/usr/bin/x"] == {"aa": "bb", "bb": "cc"}


def test_prefer_unknown_package(make_release):
    fails(
        make_release,
        pkg("aa", "  bins:\n    contents:\n      /x: {prefer: nope}\n"),
        "slice aa_bins path /x 'prefer' refers to undefined package \"nope\"",
    )


def test_prefer_package_without_the_path(make_release):
    files = {
        **pkg("aa", "  bins:\n    contents:\n      /x: {prefer: bb}\n"),
        **pkg("bb", "  bins:\n    contents:\n      /y:\n"),
    }
    fails(make_release, files, 'package aa prefers package "bb" which does not contain path /x')


def test_conflicting_prefers(make_release):
    files = {
        **pkg("aa", "  bins:\n    contents:\n      /x: {prefer: bb}\n  more:\n    contents:\n      /x: {prefer: cc}\n"),
        **pkg("bb", "  bins:\n    contents:\n      /x:\n"),
        **pkg("cc", "  bins:\n    contents:\n      /x:\n"),
    }
    fails(make_release, files, 'package "aa" has conflicting prefers for /x: bb != cc')


def test_two_packages_prefer_the_same(make_release):
    files = {
        **pkg("aa", "  bins:\n    contents:\n      /x: {prefer: cc}\n"),
        **pkg("bb", "  bins:\n    contents:\n      /x: {prefer: cc}\n"),
        **pkg("cc", "  bins:\n    contents:\n      /x:\n"),
    }
    fails(make_release, files, 'packages "aa" and "bb" cannot both prefer "cc" for /x')


def test_prefer_loop(make_release):
    files = {
        **pkg("aa", "  bins:\n    contents:\n      /x: {prefer: bb}\n"),
        **pkg("bb", "  bins:\n    contents:\n      /x: {prefer: aa}\n"),
    }
    fails(make_release, files, 'package "aa" is part of a prefer loop on /x')


def test_unconnected_provider(make_release):
    files = {
        **pkg("aa", "  bins:\n    contents:\n      /x: {prefer: bb}\n"),
        **pkg("bb", "  bins:\n    contents:\n      /x:\n"),
        **pkg("dd", "  bins:\n    contents:\n      /x:\n"),
    }
    fails(make_release, files, 'package "aa" and "dd" conflict on /x without prefer relationship')


def test_glob_of_another_package_still_conflicts_with_a_preferred_path(make_release):
    files = {
        **pkg("aa", "  bins:\n    contents:\n      /x/y: {prefer: bb}\n"),
        **pkg("bb", "  bins:\n    contents:\n      /x/y:\n"),
        **pkg("cc", "  bins:\n    contents:\n      /x/*:\n"),
    }
    fails(make_release, files, "slices aa_bins and cc_bins conflict on /x/y and /x/*")


# -- random slice trees -------------------------------------------------------------

from pathlib import Path  # noqa: E402

import yaml  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from slicer.errors import SlicerError  # noqa: E402
from slicer.release import schema, validate  # noqa: E402
from slicer.release.model import Release  # noqa: E402

PACKAGES = ["aa", "bb", "cc"]
SLICES = ["bins", "libs", "data"]
part = st.sampled_from(["usr", "lib", "bin", "x", "*", "**", "a?", "f*o"])
content_path = st.lists(part, min_size=1, max_size=3).map(lambda parts: "/" + "/".join(parts)) | st.just("/etc/")
path_info = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "text": st.sampled_from(["x", "y"]),
            "mode": st.sampled_from([0o644, 0o755]),
            "prefer": st.sampled_from(PACKAGES),
            "until": st.just("mutate"),
            "mutable": st.booleans(),
            "arch": st.sampled_from(["amd64", ["arm64", "amd64"]]),
            "make": st.booleans(),
            "generate": st.sampled_from(["manifest", "dpkg-status"]),
            "symlink": st.just("/x"),
        },
    ),
)
essential = st.sampled_from([f"{p}_{s}" for p in PACKAGES for s in SLICES])
slice_doc = st.fixed_dictionaries(
    {},
    optional={
        "contents": st.dictionaries(content_path, path_info, max_size=4),
        "essential": st.dictionaries(essential, st.none(), max_size=2),
    },
)
package_doc = st.dictionaries(st.sampled_from(SLICES), slice_doc, max_size=3)


@settings(max_examples=200, deadline=None)
@given(st.fixed_dictionaries(dict.fromkeys(PACKAGES, package_doc)))
def test_random_slice_trees_raise_only_slicer_errors(tree):
    try:
        packages = {
            name: schema.parse_package(
                Path(f"{name}.yaml"), f"{name}.yaml", yaml.safe_dump({"package": name, "slices": slices}), "v3"
            )
            for name, slices in tree.items()
        }
        validate.release(Release(path=Path("chisel.yaml"), format="v3", archives={}, public_keys={}, packages=packages))
    except SlicerError:
        pass
