"""The prefix index finds exactly what comparing every pair would find."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from slicer import globs
from slicer.release.pathindex import PathIndex

component = st.sampled_from(
    ["usr", "lib", "x86_64-linux-gnu", "libc.so.6", "lib*", "*", "**", "li?", "a", "b*", "*-linux-*", "a**", "**.so"]
)
path = st.lists(component, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts))


@settings(max_examples=150, deadline=None)
@given(st.lists(path, min_size=1, max_size=25), path)
def test_matches_equals_brute_force(paths, query):
    index: PathIndex[int] = PathIndex()
    for number, indexed in enumerate(paths):
        index.add(indexed, number)
    expected = {indexed for indexed in set(paths) if globs.overlap(indexed, query)}
    assert set(index.matches(query)) == expected


def test_items_are_kept_per_path():
    index: PathIndex[str] = PathIndex()
    index.add("/etc/passwd", "a")
    index.add("/etc/passwd", "b")
    index.add("/etc/*", "c")
    assert index.literals["/etc/passwd"] == ["a", "b"]
    assert index.patterns["/etc/*"] == ["c"]
    assert sorted(index.matches("/etc/*")) == ["/etc/*", "/etc/passwd"]
