"""Slice search for `slicer find`: chisel's matching rules, plus substrings, ranked.

Users half-remember names (`python3.1`, `libs` or `lib`, `zlib` for
`zlib1g`, `ssl` for `libssl3`), so a term matches a name it equals, starts,
is part of, or is within one edit of, ranked in that order. `*` in a term
matches any run of characters at no cost (`**` is just two stars), `?`
exactly one. Several terms widen the search: a slice matches when any term
does, and slices more terms match come first among equals.
"""

from __future__ import annotations

from collections.abc import Iterable

from slicer.release.model import Release, Slice

# The largest edit distance at which a term still matches.
MAX_DISTANCE = 1
# Ranks of a match, best first.
EXACT, PREFIX, SUBSTRING, NEAR = range(4)


def distance(text: str, pattern: str, limit: int = MAX_DISTANCE) -> int:
    """Levenshtein distance from `text` to the glob `pattern`, capped at `limit + 1`.

    A row-by-row dynamic programme over code points; it stops as soon as
    every cell of a row exceeds `limit`, since later rows can only grow.
    """
    cap = limit + 1
    if "*" not in pattern and abs(len(text) - len(pattern)) > limit:
        return cap
    # row[j]: distance from the text read so far to pattern[:j].
    row = [0] * (len(pattern) + 1)
    for j, token in enumerate(pattern, 1):
        row[j] = row[j - 1] + (token != "*")
    for char in text:
        previous = row
        row = [previous[0] + 1]
        for j, token in enumerate(pattern, 1):
            if token == "*":
                # The star absorbs this character, or matches nothing here.
                best = min(previous[j], row[j - 1])
            else:
                cost = 0 if token in ("?", char) else 1
                best = min(previous[j - 1] + cost, previous[j] + 1, row[j - 1] + 1)
            row.append(best)
        if min(row) > limit:
            return cap
    return min(row[-1], cap)


def _text_and_pattern(slice_: Slice, term: str) -> tuple[str, str]:
    """What a term compares with, by chisel's rules: `_name` the slice name, `a_b` the whole
    `package_slice`, any other term the package name."""
    if term.startswith("_"):
        return slice_.name, term[1:]
    if "_" in term:
        return f"{slice_.package}_{slice_.name}", term
    return slice_.package, term


def rank(slice_: Slice, term: str) -> tuple[int, int] | None:
    """How well one term matches a slice, best 0: exact, prefix, substring, then within one edit.

    A term with `*` or `?` is a glob: 0 when it matches, else its distance counts.
    Second comes how many characters the name has beyond the term, so `libc`
    finds `libc6` before `libcap2`. None when it does not match at all.
    """
    text, pattern = _text_and_pattern(slice_, term)
    if "*" in pattern or "?" in pattern:
        far = distance(text, pattern)
        return None if far > MAX_DISTANCE else (EXACT if far == 0 else NEAR, 0)
    extra = abs(len(text) - len(pattern))
    if text == pattern:
        return EXACT, 0
    if text.startswith(pattern):
        return PREFIX, extra
    if pattern in text:
        return SUBSTRING, extra
    return (NEAR, extra) if distance(text, pattern) <= MAX_DISTANCE else None


def matches(slice_: Slice, term: str) -> bool:
    """Whether one search term matches a slice."""
    return rank(slice_, term) is not None


def find_slices(release: Release, terms: Iterable[str]) -> list[Slice]:
    """The slices any term matches, best first: by their best rank, then by how many terms match
    them, then by `package_slice`. No terms: every slice."""
    terms = list(terms)
    scored = []
    for package in release.packages.values():
        for slice_ in package.slices.values():
            ranks = [found for found in (rank(slice_, term) for term in terms) if found is not None]
            if ranks or not terms:
                scored.append(((min(ranks, default=(EXACT, 0)), -len(ranks), str(slice_.key)), slice_))
    return [slice_ for _, slice_ in sorted(scored, key=lambda pair: pair[0])]
