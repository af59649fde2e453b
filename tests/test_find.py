"""Fuzzy slice search: chisel's `find` examples and the glob edit distance."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slicer.find import distance, find_slices
from slicer.release.model import Package, Release, Slice

SLICES = {
    "python3.10": ["bins", "config", "core", "libs"],
    "python3.11": ["bins", "core", "libs"],
    "python3-pkg": ["data"],
    "libc6": ["config", "libs"],
    "base-files": ["base", "release-info"],
    "openssl": ["bins", "config"],
    "openssl-provider-legacy": ["libs"],
}


@pytest.fixture(scope="module")
def release() -> Release:
    packages = {
        name: Package(
            name=name,
            path=Path(f"slices/{name}.yaml"),
            slices={slice_name: Slice(package=name, name=slice_name) for slice_name in slice_names},
        )
        for name, slice_names in SLICES.items()
    }
    return Release(path=Path("release"), format="v3", archives={}, public_keys={}, packages=packages)


def found(release: Release, *terms: str) -> list[str]:
    return [str(slice_.key) for slice_ in find_slices(release, list(terms))]


def test_exact_package_name_matches_its_slices_and_near_names(release):
    assert found(release, "python3.10") == [
        "python3.10_bins",
        "python3.10_config",
        "python3.10_core",
        "python3.10_libs",
        "python3.11_bins",
        "python3.11_core",
        "python3.11_libs",
    ]


def test_two_edits_away_is_no_match(release):
    assert found(release, "pythn3.") == []


def test_prefix_and_substring_match_exact_and_prefix_first(release):
    assert found(release, "python3.") == [
        "python3.10_bins",
        "python3.10_config",
        "python3.10_core",
        "python3.10_libs",
        "python3.11_bins",
        "python3.11_core",
        "python3.11_libs",
    ]
    # Exact, then prefix, then substring; among prefixes the closer name first.
    assert found(release, "openssl") == [
        "openssl_bins",
        "openssl_config",
        "openssl-provider-legacy_libs",
    ]
    assert found(release, "ssl") == ["openssl_bins", "openssl_config", "openssl-provider-legacy_libs"]


def test_underscore_term_compares_with_the_slice_name(release):
    assert found(release, "_config") == ["libc6_config", "openssl_config", "python3.10_config"]


def test_bare_slice_name_is_compared_with_package_names(release):
    assert found(release, "config") == []


def test_star_in_a_full_name(release):
    assert found(release, "python3.*_bins") == ["python3.10_bins", "python3.11_bins"]


def test_question_mark_and_trailing_star(release):
    assert found(release, "python3.1?_co*") == [
        "python3.10_config",
        "python3.10_core",
        "python3.11_core",
    ]


def test_several_terms_match_any_and_slices_matching_more_come_first(release):
    assert found(release, "python3.1", "_lib")[:2] == ["python3.10_libs", "python3.11_libs"]
    assert found(release, "base-files", "libc6") == [
        "base-files_base",
        "base-files_release-info",
        "libc6_config",
        "libc6_libs",
    ]
    assert found(release, "python3.1", "_data") == [
        "python3-pkg_data",
        "python3.10_bins",
        "python3.10_config",
        "python3.10_core",
        "python3.10_libs",
        "python3.11_bins",
        "python3.11_core",
        "python3.11_libs",
    ]


def test_results_sort_by_the_full_name_not_by_package_first(release):
    # "-" sorts before "_", so the longer package name comes first.
    assert found(release, "openssl*") == [
        "openssl-provider-legacy_libs",
        "openssl_bins",
        "openssl_config",
    ]


def test_no_terms_matches_everything(release):
    assert len(found(release)) == sum(len(names) for names in SLICES.values())


@pytest.mark.parametrize(
    ("text", "pattern", "expected"),
    [
        ("python3.10", "python3.10", 0),
        ("python3.10", "python3.1", 1),
        ("python3.10", "python3.", 2),
        ("kitten", "sitting", 3),
        ("libs", "l?bs", 0),
        ("libs", "l?s", 1),
        ("abc", "*", 0),
        ("", "*", 0),
        ("", "**", 0),
        ("", "?", 1),
        ("libc6_config", "*_c?nfig", 0),
        ("libc6_config", "*_cnfig", 1),
        ("ab", "a**b", 0),
        ("héllo", "hello", 1),
    ],
)
def test_distance_examples(text, pattern, expected):
    assert distance(text, pattern, limit=10) == expected


def test_distance_is_capped_one_above_the_limit():
    assert distance("abcdef", "uvwxyz", limit=1) == 2
    assert distance("abcdef", "uvwxyz", limit=3) == 4
    assert distance("abc", "abcdefgh", limit=2) == 3


@functools.cache
def reference(text: str, pattern: str) -> int:
    """The definition, recursively: edits on plain characters, free star runs."""
    if not pattern:
        return len(text)
    head, rest = pattern[0], pattern[1:]
    if head == "*":
        options = [reference(text, rest)]
        if text:
            options.append(reference(text[1:], pattern))
        return min(options)
    options = [1 + reference(text, rest)]
    if text:
        options.append(1 + reference(text[1:], pattern))
        options.append((head not in ("?", text[0])) + reference(text[1:], rest))
    return min(options)


TEXT = st.text(alphabet="ab.-_é", max_size=8)
PATTERN = st.text(alphabet="ab.-_é*?", max_size=8)


@given(TEXT, PATTERN, st.integers(min_value=0, max_value=4))
def test_distance_agrees_with_the_recursive_definition(text, pattern, limit):
    assert distance(text, pattern, limit) == min(reference(text, pattern), limit + 1)


@given(TEXT, PATTERN)
def test_zero_distance_is_a_glob_match(text, pattern):
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    assert (distance(text, pattern, 0) == 0) == (re.fullmatch(regex, text, re.DOTALL) is not None)
