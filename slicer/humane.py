"""Counts, sizes and durations worded for people: "1 package", "5.4 MB", "2.1s"."""

from __future__ import annotations


def plural(count: int, word: str, words: str | None = None) -> str:
    """`count` and the noun in the right number: 1 package, 2 packages, 0 libraries (words="libraries")."""
    return f"{count} {word if count == 1 else words or word + 's'}"


def size(count: int) -> str:
    """Bytes in decimal units, as download sizes are usually given."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} B"


def duration(seconds: float) -> str:
    """A step's duration: tenths of seconds under a minute, then minutes and seconds."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s"
