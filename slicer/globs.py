"""Chisel's path globs: `?` and `*` stay within one path component, `**` crosses `/`.

Two functions: `match` tests a concrete path against a pattern, and `overlap`
tells whether two patterns (either may be a glob) can match a common path,
which release validation uses to find conflicts.
"""

from __future__ import annotations

import functools
import re

GLOB_CHARS = frozenset("*?")


def is_glob(path: str) -> bool:
    return "*" in path or "?" in path


_LITERAL_HEAD = re.compile(r"[^*?]*")


def literal_prefix(path: str) -> str:
    """The part of `path` before its first wildcard."""
    return _LITERAL_HEAD.match(path).group()  # type: ignore[union-attr]


@functools.lru_cache(maxsize=8192)
def _compile(pattern: str) -> re.Pattern[str]:
    parts = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "*":
            if pattern.startswith("**", index):
                parts.append(".*")
                index += 2
                continue
            parts.append("[^/]*")
        elif char == "?":
            parts.append("[^/]")
        else:
            parts.append(re.escape(char))
        index += 1
    return re.compile("".join(parts), re.DOTALL)


def match(pattern: str, path: str) -> bool:
    """Whether the concrete `path` is matched by `pattern`."""
    if not is_glob(pattern):
        return pattern == path
    return _compile(pattern).fullmatch(path) is not None


@functools.lru_cache(maxsize=65536)
def _tokens(pattern: str) -> tuple[str, ...]:
    tokens: list[str] = []
    index = 0
    while index < len(pattern):
        if pattern.startswith("**", index):
            tokens.append("**")
            index += 2
        else:
            tokens.append(pattern[index])
            index += 1
    return tuple(tokens)


def _literal_suffix(pattern: str) -> str:
    for index in range(len(pattern) - 1, -1, -1):
        if pattern[index] in GLOB_CHARS:
            return pattern[index + 1 :]
    return pattern


@functools.lru_cache(maxsize=65536)
def _shape(pattern: str) -> tuple[str, str, tuple[str, ...]]:
    """A glob's literal prefix, literal suffix and components: asked of each glob many times."""
    return literal_prefix(pattern), _literal_suffix(pattern), tuple(pattern.split("/"))


@functools.lru_cache(maxsize=65536)
def overlap(first: str, second: str) -> bool:
    """Whether some concrete path is matched by both patterns.

    Cheap tests reject most pairs (literal prefixes and suffixes must agree,
    and so must the components before any `**`; without `**` both need the
    same number of components); the rest run a memoised walk over the two
    token lists, where a star facing anything either matches nothing or
    swallows the other side's next token.
    """
    if not is_glob(first):
        return match(second, first)
    if not is_glob(second):
        return match(first, second)
    (head_a, tail_a, parts_a), (head_b, tail_b, parts_b) = _shape(first), _shape(second)
    if not (head_a.startswith(head_b) or head_b.startswith(head_a)):
        return False
    if not (tail_a.endswith(tail_b) or tail_b.endswith(tail_a)):
        return False
    if "**" not in first and "**" not in second:
        # Component by component, last first: differences usually sit at the end.
        if len(parts_a) != len(parts_b):
            return False
        return all(_overlap_tokens(x, y) for x, y in zip(reversed(parts_a), reversed(parts_b), strict=False))
    # The components before the first that holds a "**" sit at the same depth in every path both
    # match, so each pair must overlap (`/usr/lib/*-linux-*/gawk/**` and `/usr/lib/*-linux-*/libz.so.1`
    # part at their fifth), which is quicker to learn than walking the whole patterns.
    for x, y in zip(parts_a, parts_b, strict=False):
        if "**" in x or "**" in y:
            break
        if x != y and not _overlap_tokens(x, y):
            return False
    return _overlap_tokens(first, second)


def _overlap_tokens(first: str, second: str) -> bool:
    if not is_glob(first) or not is_glob(second):
        return match(second, first) if not is_glob(first) else match(first, second)
    a, b = _tokens(first), _tokens(second)
    memo: dict[tuple[int, int], bool] = {}

    def walk(i: int, j: int) -> bool:
        key = (i, j)
        if key in memo:
            return memo[key]
        memo[key] = False  # cycles cannot occur, but be safe
        x = a[i] if i < len(a) else None
        y = b[j] if j < len(b) else None
        if x is None and y is None:
            result = True
        elif x in ("*", "**"):
            # Match nothing, or swallow y's next token (a star never swallows "/" unless it is **).
            result = walk(i + 1, j) or (
                y is not None and (y in ("*", "**", "?") or y != "/" or x == "**") and walk(i, j + 1)
            )
        elif y in ("*", "**"):
            result = walk(i, j + 1) or (x is not None and (x in ("?",) or x != "/" or y == "**") and walk(i + 1, j))
        elif x is None or y is None:
            result = False
        elif x == "?" or y == "?":
            result = x != "/" and y != "/" and walk(i + 1, j + 1)
        else:
            result = x == y and walk(i + 1, j + 1)
        memo[key] = result
        return result

    return walk(0, 0)
