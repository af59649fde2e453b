""" "Did you mean" and `find` on the repository's own releases: renames between releases and typos."""

from __future__ import annotations

import pytest

from slicer.cache import Cache
from slicer.cli import main
from slicer.errors import SelectionError
from slicer.find import find_slices
from slicer.release.load import load_release
from slicer.release.model import SliceKey
from slicer.release.selection import select
from slicer.suggest import did_you_mean, stem, suggest


@pytest.fixture(scope="module")
def bookworm():
    return load_release("debian-12", (), Cache())


@pytest.fixture(scope="module")
def trixie():
    return load_release("debian-13", (), Cache())


def test_stem_drops_versions_and_the_time64_suffix():
    assert stem("libssl3t64") == stem("libssl3") == "libssl"
    assert stem("python3.13") == stem("python3.11") == "python."


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("libssl3", "libssl3t64"),
        ("libcurl4", "libcurl4t64"),
        ("libicu72", "libicu76"),
        ("python3.11", "python3.13"),
        ("libreadline8", "libreadline8t64"),
    ],
)
def test_a_package_renamed_in_trixie_is_pointed_to(bookworm, trixie, old, new):
    assert old in bookworm.packages and old not in trixie.packages
    assert suggest(old, trixie.packages)[0] == new
    assert suggest(new, bookworm.packages)[0] == old


def test_typos_find_the_intended_name(trixie):
    assert suggest("opensll", trixie.packages) == ["openssl"]
    assert suggest("tzdat", trixie.packages)[0] == "tzdata"
    assert did_you_mean("qwertyuiop", trixie.packages) == ""


def test_find_matches_substrings_and_package_names(bookworm, trixie):
    # The package named like the term first, then those it is a prefix of.
    zlib = [str(s.key) for s in find_slices(bookworm, ["zlib"])]
    assert zlib[:2] == ["zlib1g_copyright", "zlib1g_libs"] and "zlib1g-dev_headers" in zlib[2:]
    ssl = [str(s.key) for s in find_slices(trixie, ["ssl"])]
    assert {"libssl3t64_libs", "libssl3t64_modules", "openssl_bins"} <= set(ssl[:10])
    # Several terms: any of them, best first.
    both = [str(s.key) for s in find_slices(bookworm, ["zlib1g", "libssl3"])]
    assert both[:2] == ["libssl3_copyright", "libssl3_libs"] and "zlib1g_libs" in both


def test_cut_names_the_renamed_package(trixie):
    with pytest.raises(
        SelectionError, match=r'^slices of package "libssl3" not found \(did you mean "libssl3t64"\?\)$'
    ):
        select(trixie, [SliceKey("libssl3", "libs")], "amd64")
    with pytest.raises(SelectionError, match=r'^slice libssl3t64_lib not found \(did you mean "libssl3t64_libs"\?\)$'):
        select(trixie, [SliceKey("libssl3t64", "lib")], "amd64")


def test_info_and_check_suggest_too(capsys):
    assert main(["info", "--release", "debian-13", "libssl3_libs"]) == 1
    assert capsys.readouterr().err == (
        'error: no slice definitions found for: "libssl3_libs" (did you mean "libssl3t64_libs"?)\n'
    )
    assert main(["-q", "check", "--release", "debian-13", "libcurl4"]) == 1
    assert capsys.readouterr().err == (
        'error: release debian-13 has no slice definitions for package "libcurl4" (did you mean "libcurl4t64"?)\n'
    )
