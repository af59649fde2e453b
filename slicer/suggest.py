""" "Did you mean": the known names closest to one a user typed.

Two kinds of near names: a package renamed between releases keeps its stem
and changes its version digits or gains the `t64` suffix of Debian's 64-bit
time transition (`libssl3` -> `libssl3t64`, `libicu72` -> `libicu76`), so
names with the same stem are the answer when there are any; else typos, by
similarity.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_VERSIONISH = re.compile(r"t64(?=_|$)|[0-9]+")


def stem(name: str) -> str:
    """`name` without its digits and `t64` suffix: what stays when a library's ABI version moves."""
    return _VERSIONISH.sub("", _VERSIONISH.sub("", name))


def renamed(name: str, known: Iterable[str]) -> list[str]:
    """Known names that are `name` under another version or with the `t64` suffix."""
    base = stem(name)
    if not base or base == name:
        return []
    return sorted(other for other in known if other != name and stem(other) == base)


def suggest(name: str, known: Iterable[str], limit: int = 3) -> list[str]:
    """Up to `limit` known names close to `name`: the renamed ones if any, else the most similar."""
    import difflib  # Only a failing run looks for suggestions.

    names = list(dict.fromkeys(known))
    found = renamed(name, names) or [
        other for other in difflib.get_close_matches(name, names, n=limit + 1, cutoff=0.8) if other != name
    ]
    return found[:limit]


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """` (did you mean "x" or "y"?)`, or "" when nothing is close."""
    close = suggest(name, known)
    if not close:
        return ""
    return " (did you mean " + " or ".join(f'"{other}"' for other in close) + "?)"
