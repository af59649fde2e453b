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


def literal_prefix(path: str) -> str:
    """The part of `path` before its first wildcard."""
    for index, char in enumerate(path):
        if char in GLOB_CHARS:
            return path[:index]
    return path


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


def _closure(tokens: tuple[str, ...], state: int) -> set[int]:
    """States reachable without consuming a character (stars may match nothing)."""
    states = {state}
    while state < len(tokens) and tokens[state] in ("*", "**"):
        state += 1
        states.add(state)
    return states


def _advance(tokens: tuple[str, ...], state: int, char: str) -> set[int]:
    if state == len(tokens):
        return set()
    token = tokens[state]
    if token == "**":
        return _closure(tokens, state)
    if token == "*":
        return _closure(tokens, state) if char != "/" else set()
    if token == "?":
        return _closure(tokens, state + 1) if char != "/" else set()
    return _closure(tokens, state + 1) if char == token else set()


@functools.lru_cache(maxsize=65536)
def overlap(first: str, second: str) -> bool:
    """Whether some concrete path is matched by both patterns.

    Runs the two patterns as automata in lock step over an alphabet of the
    literal characters they name plus `/` and one character neither names.
    """
    if not is_glob(first):
        return match(second, first)
    if not is_glob(second):
        return match(first, second)
    a, b = _tokens(first), _tokens(second)
    alphabet = (set(first) | set(second) | {"/", "\0"}) - GLOB_CHARS
    frontier = {(i, j) for i in _closure(a, 0) for j in _closure(b, 0)}
    seen = set(frontier)
    while frontier:
        if any(i == len(a) and j == len(b) for i, j in frontier):
            return True
        following = set()
        for i, j in frontier:
            for char in alphabet:
                for ni in _advance(a, i, char):
                    for nj in _advance(b, j, char):
                        if (ni, nj) not in seen:
                            seen.add((ni, nj))
                            following.add((ni, nj))
        frontier = following
    return False
