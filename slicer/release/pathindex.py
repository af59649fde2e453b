"""Paths and globs indexed so that conflict checks compare only real candidates.

Comparing every glob with every path is what makes chisel's release checks
slow. Here literal paths sit in a sorted list, and globs are found through
two structures a matching path must agree with:

- every glob in a tree of its components: a component without wildcards is
  an edge only the same name follows, one with `*` or `?` an edge any name it
  matches follows, and one holding `**` ends the glob's walk, as it can match
  anything below. So the many `/usr/lib/*-linux-*/<name>/**` globs of a
  release meet only those of the same `<name>`, although they all share the
  literal prefix `/usr/lib/`;
- globs without `**` also by (number of components, literal prefix of the
  last component): such a glob only matches paths of the same depth whose
  last component starts with that prefix — which separates the many
  `/usr/lib/*-linux-gnu/libX*` globs from each other. A path without `**`
  meets these, and the globs with `**` along its walk of the tree.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import Generic, TypeVar

from .. import globs

T = TypeVar("T")


def _starting_with(order: list[str], prefix: str) -> list[str]:
    """The strings of the sorted `order` that start with `prefix`."""
    start = index = bisect.bisect_left(order, prefix)
    while index < len(order) and order[index].startswith(prefix):
        index += 1
    return order[start:index]


def _depth_key(path: str) -> tuple[int, str]:
    """(components, literal prefix of the last component) of a path without `**`."""
    return path.count("/"), globs.literal_prefix(path.rsplit("/", 1)[-1])


class _PrefixTable:
    """Patterns grouped by a string key; finds keys compatible with a query key
    (one a prefix of the other) without scanning unrelated ones."""

    def __init__(self) -> None:
        self.by_key: dict[str, list[str]] = {}
        self._order: list[str] | None = None
        # The lengths keys come in: a query tries only these as its proper prefixes.
        self._lengths: list[int] | None = None

    def add(self, key: str, pattern: str) -> None:
        patterns = self.by_key.get(key)
        if patterns is None:
            self.by_key[key] = [pattern]
            self._order = self._lengths = None
        else:
            patterns.append(pattern)

    def extensions(self, key: str) -> list[str]:
        """Entries whose key starts with `key`."""
        if self._order is None:
            self._order = sorted(self.by_key)
        return [entry for found in _starting_with(self._order, key) for entry in self.by_key[found]]

    def compatible(self, key: str) -> list[str]:
        """Entries whose key starts with `key` or is a proper prefix of it."""
        entries = self.extensions(key)
        if self._lengths is None:
            self._lengths = sorted({len(found) for found in self.by_key})
        for length in self._lengths:
            if length >= len(key):
                break
            entries += self.by_key.get(key[:length], ())
        return entries


class _GlobTree:
    """Globs by their components (see the module docstring)."""

    def __init__(self) -> None:
        self.children: dict[str, _GlobTree] = {}  # by component
        self.names = _PrefixTable()  # components without wildcards, by themselves
        self.wild = _PrefixTable()  # components with `*` or `?` (no `**`), by their literal prefix
        self.deep: list[str] = []  # globs whose next component holds `**`
        self.ends: list[str] = []  # globs that end here
        self.deep_below = 0  # globs with `**` here and further down

    def add(self, pattern: str) -> None:
        node, deep = self, "**" in pattern
        for part in pattern.split("/"):
            node.deep_below += deep
            if "**" in part:
                node.deep.append(pattern)
                return
            child = node.children.get(part)
            if child is None:
                child = node.children[part] = _GlobTree()
                if globs.is_glob(part):
                    node.wild.add(globs.literal_prefix(part), part)
                else:
                    node.names.add(part, part)
            node = child
        node.ends.append(pattern)

    def everything(self) -> list[str]:
        found = [*self.deep, *self.ends]
        for child in self.children.values():
            found += child.everything()
        return found

    def candidates(self, parts: list[str], position: int = 0, deep_only: bool = False) -> list[str]:
        """Globs that may overlap the path or glob split into `parts`, from `parts[position]` on;
        only those with `**` when `deep_only`."""
        if deep_only and not self.deep_below:
            return []
        found = list(self.deep)
        if position == len(parts):
            return found if deep_only else found + self.ends
        part = parts[position]
        if "**" in part:
            return found + self.ends + [pattern for child in self.children.values() for pattern in child.everything()]
        if globs.is_glob(part):
            head = globs.literal_prefix(part)
            keys = self.names.extensions(head) + self.wild.compatible(head)
        else:
            keys = [part] if part in self.children else []
            keys += [key for key in self.wild.compatible(part) if globs.match(key, part)]
        for key in keys:
            found += self.children[key].candidates(parts, position + 1, deep_only)
        return found


class PathIndex(Generic[T]):
    def __init__(self) -> None:
        self.literals: dict[str, list[T]] = {}
        self.patterns: dict[str, list[T]] = {}
        self._sorted_literals: list[str] | None = None
        # Literals by depth and last component, tabled when a glob first asks.
        self._literal_depths: dict[int, _PrefixTable] | None = None
        self._globs = _GlobTree()  # every glob
        self._flat: dict[int, _PrefixTable] = {}  # globs without **, per depth

    def add(self, path: str, item: T) -> None:
        if not globs.is_glob(path):
            items = self.literals.get(path)
            if items is None:
                self.literals[path] = [item]
                self._sorted_literals = self._literal_depths = None
            else:
                items.append(item)
            return
        items = self.patterns.get(path)
        if items is not None:
            items.append(item)
            return
        self.patterns[path] = [item]
        self._globs.add(path)
        if "**" not in path:
            depth, last = _depth_key(path)
            _table(self._flat, depth).add(last, path)

    def _literals_at(self, depth: int) -> _PrefixTable | None:
        if self._literal_depths is None:
            self._literal_depths = {}
            for path in self.literals:
                _table(self._literal_depths, path.count("/")).add(path[path.rfind("/") + 1 :], path)
        return self._literal_depths.get(depth)

    def literals_under(self, prefix: str) -> list[str]:
        """Literal paths that start with `prefix`, in sorted order."""
        if self._sorted_literals is None:
            self._sorted_literals = sorted(self.literals)
        return _starting_with(self._sorted_literals, prefix)

    def patterns_overlapping(self, path: str, worth: Callable[[str], bool] | None = None) -> list[str]:
        """Globs that can match some path `path` (a literal or a glob) also matches; see `matches` for `worth`."""
        if "**" in path:
            candidates = self._globs.candidates(path.split("/"))
        else:
            # Globs without ** only match paths as deep as they are: their table by depth and
            # last component is the sharper key.
            depth, last = _depth_key(path)
            candidates = self._globs.candidates(path.split("/"), deep_only=True)
            flat = self._flat.get(depth)
            if flat is not None:
                candidates += flat.compatible(last)
        # A glob always overlaps itself: no need to walk its tokens to learn it.
        return [
            pattern
            for pattern in candidates
            if (worth is None or worth(pattern)) and (pattern == path or globs.overlap(pattern, path))
        ]

    def items_at(self, path: str) -> list[T]:
        """The items indexed at `path`, a literal path or a glob."""
        return self.literals.get(path) or self.patterns.get(path, [])

    def matches(self, path: str, worth: Callable[[str], bool] | None = None) -> list[str]:
        """Every indexed path or glob that overlaps `path`.

        With `worth`, only those it accepts: it is asked before the overlap is
        tested, which costs more than most questions about the candidate.
        """
        if globs.is_glob(path):
            if "**" in path:
                literals = self.literals_under(globs.literal_prefix(path))
            else:
                depth, last = _depth_key(path)
                table = self._literals_at(depth)
                literals = table.extensions(last) if table else []
            found = [
                literal for literal in literals if (worth is None or worth(literal)) and globs.match(path, literal)
            ]
        else:
            found = [path] if path in self.literals and (worth is None or worth(path)) else []
        return found + self.patterns_overlapping(path, worth)


def _table(tables: dict[int, _PrefixTable], depth: int) -> _PrefixTable:
    table = tables.get(depth)
    if table is None:
        table = tables[depth] = _PrefixTable()
    return table
