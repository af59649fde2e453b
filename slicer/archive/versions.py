"""Debian version order, exactly as `dpkg --compare-versions` sees it.

Versions are turned into sort keys once (cached), so choosing the newest of
many candidates is a plain `max(key=...)` rather than repeated string walks.
"""

from __future__ import annotations

import functools
import re
from typing import Any

# A version part is a run of non-digits followed by a run of digits.
_PARTS = re.compile(r"([^0-9]*)([0-9]*)")

# The key of an exhausted string: an empty non-digit run and the number zero.
_END = ((0,), 0)


def _order(char: str) -> int:
    """dpkg's character weight: `~` first, then end of part, letters, the rest."""
    if char == "~":
        return -1
    if char.isascii() and char.isalpha():
        return ord(char)
    return ord(char) + 256


def _part_key(text: str) -> tuple[Any, ...]:
    """A key for one upstream or revision string, ordered like dpkg's verrevcmp."""
    parts = []
    for letters, digits in _PARTS.findall(text):
        if not letters and not digits:
            continue
        # A trailing 0 weight stands for "the non-digit run ended here".
        parts.append(((*(_order(char) for char in letters), 0), int(digits or 0)))
    while parts and parts[-1] == _END:
        parts.pop()
    parts.append(_END)
    return tuple(parts)


@functools.lru_cache(maxsize=65536)
def version_key(version: str) -> tuple[Any, ...]:
    """A sort key: (epoch, upstream key, revision key)."""
    epoch = 0
    rest = version.strip()
    head, colon, tail = rest.partition(":")
    if colon and head.isascii() and head.isdigit():
        epoch, rest = int(head), tail
    upstream, hyphen, revision = rest.rpartition("-")
    if not hyphen:
        upstream, revision = rest, ""
    return (epoch, _part_key(upstream), _part_key(revision))


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 as `a` sorts before, equal to or after `b`."""
    key_a, key_b = version_key(a), version_key(b)
    return (key_a > key_b) - (key_a < key_b)
