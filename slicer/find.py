"""Fuzzy slice search for `slicer find`, with chisel's matching rules.

Users half-remember names (`python3.1`, `libs` or `lib`), so a term matches
when its edit distance to the name is at most one. `*` in a term matches any
run of characters at no cost (`**` is just two stars), `?` exactly one.
"""

from __future__ import annotations

from collections.abc import Iterable

from slicer.release.model import Release, Slice

# The largest edit distance at which a term still matches.
MAX_DISTANCE = 1


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


def matches(slice_: Slice, term: str) -> bool:
    """Whether one search term matches a slice, by chisel's rules.

    `_name` compares with the slice name, a term holding `_` with the whole
    `package_slice`, any other term with the package name.
    """
    if term.startswith("_"):
        text, pattern = slice_.name, term[1:]
    elif "_" in term:
        text, pattern = f"{slice_.package}_{slice_.name}", term
    else:
        text, pattern = slice_.package, term
    return distance(text, pattern) <= MAX_DISTANCE


def find_slices(release: Release, terms: Iterable[str]) -> list[Slice]:
    """The slices every term matches, sorted by `package_slice`."""
    terms = list(terms)
    found = [
        slice_
        for package in release.packages.values()
        for slice_ in package.slices.values()
        if all(matches(slice_, term) for term in terms)
    ]
    return sorted(found, key=lambda slice_: str(slice_.key))
