"""Glob matching and overlap, checked against brute force on small alphabets."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slicer import globs


@pytest.mark.parametrize(
    "pattern,path,expected",
    [
        ("/usr/lib/*/libc.so.*", "/usr/lib/x86_64-linux-gnu/libc.so.6", True),
        ("/a/*", "/a/b/c", False),
        ("/a/**", "/a/b/c", True),
        ("/a/**", "/a/", True),
        ("/a/?", "/a/bc", False),
        ("/a/?", "/a//", False),
        ("/a/b", "/a/b", True),
    ],
)
def test_match(pattern, path, expected):
    assert globs.match(pattern, path) is expected


@pytest.mark.parametrize(
    "first,second,expected",
    [
        ("/file/f*obar", "/file/foob*r", True),
        ("/dir/**", "/dir/file", True),
        ("/a/*.so", "/a/*.txt", False),
        ("/a/**", "/a/*/c", True),
        ("/a/*", "/a/**", True),
        ("/a/*b", "/a/**/c", False),
        ("/usr/lib/*-linux-gnu/liba*", "/usr/lib/*-linux-gnu/libb*", False),
        ("/usr/lib/*-linux-*/gawk/**", "/usr/lib/*-linux-*/libz.so.1", False),
        ("/usr/lib/*-linux-*/gawk/**", "/usr/lib/*/gawk/x.so", True),
        ("/a/*b/**", "/a/*c/d", False),
        ("/a/*b/**", "/a/**/d", True),
    ],
)
def test_overlap_examples(first, second, expected):
    assert globs.overlap(first, second) is expected
    assert globs.overlap(second, first) is expected


token = st.sampled_from(["a", "b", "/", "*", "**", "?"])
pattern = st.lists(token, min_size=1, max_size=4).map("".join)
WITNESSES = ["".join(chars) for length in range(7) for chars in itertools.product("ab/", repeat=length)]


@settings(max_examples=200, deadline=None)
@given(pattern, pattern)
def test_overlap_agrees_with_brute_force(first, second):
    brute = any(globs.match(first, w) and globs.match(second, w) for w in WITNESSES)
    assert globs.overlap(first, second) is brute


def test_literal_prefix():
    assert globs.literal_prefix("/usr/lib/*/x") == "/usr/lib/"
    assert globs.literal_prefix("/etc/passwd") == "/etc/passwd"
