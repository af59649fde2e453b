"""Paths and globs indexed so that conflict checks compare only real candidates.

Comparing every glob with every path is what makes chisel's release checks
slow. Here literal paths sit in a sorted list, and globs are found through
two keys a matching path must agree with:

- every glob by its literal prefix (the text before its first wildcard): a
  path can only match a glob whose prefix starts the path;
- globs without `**` also by (number of components, literal prefix of the
  last component): such a glob only matches paths of the same depth whose
  last component starts with that prefix — which separates the many
  `/usr/lib/*-linux-gnu/libX*` globs from each other.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from typing import Generic, TypeVar

from . import globs

T = TypeVar("T")


def _starting_with(order: list[str], prefix: str) -> Iterator[str]:
    """The strings of the sorted `order` that start with `prefix`."""
    index = bisect.bisect_left(order, prefix)
    while index < len(order) and order[index].startswith(prefix):
        yield order[index]
        index += 1


def _depth_key(path: str) -> tuple[int, str]:
    """(components, literal prefix of the last component) of a path without `**`."""
    return path.count("/"), globs.literal_prefix(path.rsplit("/", 1)[-1])


class _PrefixTable:
    """Patterns grouped by a string key; finds keys compatible with a query key
    (one a prefix of the other) without scanning unrelated ones."""

    def __init__(self) -> None:
        self.by_key: dict[str, list[str]] = {}
        self._order: list[str] | None = None

    def add(self, key: str, pattern: str) -> None:
        self.by_key.setdefault(key, []).append(pattern)
        self._order = None

    def extensions(self, key: str) -> Iterator[str]:
        """Entries whose key starts with `key`."""
        if self._order is None:
            self._order = sorted(self.by_key)
        for found in _starting_with(self._order, key):
            yield from self.by_key[found]

    def compatible(self, key: str) -> Iterator[str]:
        """Entries whose key starts with `key` or is a proper prefix of it."""
        yield from self.extensions(key)
        for length in range(len(key)):
            yield from self.by_key.get(key[:length], ())


class PathIndex(Generic[T]):
    def __init__(self) -> None:
        self.literals: dict[str, list[T]] = {}
        self.patterns: dict[str, list[T]] = {}
        self._sorted_literals: list[str] | None = None
        self._literal_depths: dict[int, _PrefixTable] = {}  # literals by depth and last component
        self._by_prefix = _PrefixTable()  # every glob
        self._deep = _PrefixTable()  # globs with **
        self._flat: dict[int, _PrefixTable] = {}  # globs without **, per depth

    def add(self, path: str, item: T) -> None:
        if not globs.is_glob(path):
            if path not in self.literals:
                depth, last = _depth_key(path)
                self._literal_depths.setdefault(depth, _PrefixTable()).add(last, path)
                self._sorted_literals = None
            self.literals.setdefault(path, []).append(item)
            return
        if path not in self.patterns:
            self._by_prefix.add(globs.literal_prefix(path), path)
            if "**" in path:
                self._deep.add(globs.literal_prefix(path), path)
            else:
                depth, last = _depth_key(path)
                self._flat.setdefault(depth, _PrefixTable()).add(last, path)
        self.patterns.setdefault(path, []).append(item)

    def literals_under(self, prefix: str) -> Iterator[str]:
        """Literal paths that start with `prefix`, in sorted order."""
        if self._sorted_literals is None:
            self._sorted_literals = sorted(self.literals)
        return _starting_with(self._sorted_literals, prefix)

    def patterns_overlapping(self, path: str) -> Iterator[str]:
        """Globs that can match some path `path` (a literal or a glob) also matches."""
        if "**" in path:
            candidates = self._by_prefix.compatible(globs.literal_prefix(path))
        else:
            depth, last = _depth_key(path)
            flat = self._flat.get(depth)
            candidates = self._deep.compatible(globs.literal_prefix(path))
            if flat is not None:
                candidates = _chain(candidates, flat.compatible(last))
        for pattern in candidates:
            if globs.overlap(pattern, path):
                yield pattern

    def matches(self, path: str) -> Iterator[str]:
        """Every indexed path or glob that overlaps `path`."""
        if globs.is_glob(path):
            if "**" in path:
                literals: Iterator[str] = self.literals_under(globs.literal_prefix(path))
            else:
                depth, last = _depth_key(path)
                table = self._literal_depths.get(depth)
                literals = table.extensions(last) if table else iter(())
            for literal in literals:
                if globs.match(path, literal):
                    yield literal
        elif path in self.literals:
            yield path
        yield from self.patterns_overlapping(path)


def _chain(*iterators: Iterator[str]) -> Iterator[str]:
    for iterator in iterators:
        yield from iterator
