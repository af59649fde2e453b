"""Paths and globs indexed by literal prefix.

Comparing every glob with every path is what makes chisel's release checks
slow. Here literal paths sit in a sorted list and globs are grouped by the
literal text before their first wildcard: a glob can only match a path that
starts with its prefix, and two globs can only overlap when one prefix starts
the other. Each query touches only those candidates.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from typing import Generic, TypeVar

from . import globs

T = TypeVar("T")


class PathIndex(Generic[T]):
    def __init__(self) -> None:
        self.literals: dict[str, list[T]] = {}
        self.patterns: dict[str, list[T]] = {}
        self._sorted_literals: list[str] | None = None
        self._by_prefix: dict[str, list[str]] | None = None
        self._sorted_prefixes: list[str] | None = None

    def add(self, path: str, item: T) -> None:
        table = self.patterns if globs.is_glob(path) else self.literals
        table.setdefault(path, []).append(item)
        self._sorted_literals = None
        self._by_prefix = self._sorted_prefixes = None

    def _literal_order(self) -> list[str]:
        if self._sorted_literals is None:
            self._sorted_literals = sorted(self.literals)
        return self._sorted_literals

    def _prefixes(self) -> tuple[dict[str, list[str]], list[str]]:
        if self._by_prefix is None or self._sorted_prefixes is None:
            self._by_prefix = {}
            for pattern in self.patterns:
                self._by_prefix.setdefault(globs.literal_prefix(pattern), []).append(pattern)
            self._sorted_prefixes = sorted(self._by_prefix)
        return self._by_prefix, self._sorted_prefixes

    def literals_under(self, prefix: str) -> Iterator[str]:
        """Literal paths that start with `prefix`, in sorted order."""
        order = self._literal_order()
        index = bisect.bisect_left(order, prefix)
        while index < len(order) and order[index].startswith(prefix):
            yield order[index]
            index += 1

    def patterns_overlapping(self, path: str) -> Iterator[str]:
        """Globs that match some path `path` (a literal or a glob) could match too."""
        prefix = globs.literal_prefix(path)
        by_prefix, order = self._prefixes()
        # Globs whose prefix starts with ours: a contiguous run in sorted order.
        index = bisect.bisect_left(order, prefix)
        while index < len(order) and order[index].startswith(prefix):
            yield from (p for p in by_prefix[order[index]] if globs.overlap(p, path))
            index += 1
        # Globs whose prefix is a proper prefix of ours.
        for length in range(len(prefix)):
            for pattern in by_prefix.get(prefix[:length], ()):
                if globs.overlap(pattern, path):
                    yield pattern

    def matches(self, path: str) -> Iterator[str]:
        """Every indexed path or glob that overlaps `path`."""
        if globs.is_glob(path):
            for literal in self.literals_under(globs.literal_prefix(path)):
                if globs.match(path, literal):
                    yield literal
        elif path in self.literals:
            yield path
        yield from self.patterns_overlapping(path)
