"""Debian archives: mirrors, signed suites, package choice, downloads and the cache.

Only this package touches the network (through `http.py`). Its modules load
on first use, so that reading the cache alone does not import the HTTP and
OpenPGP libraries.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .cache import Cache, CacheInfo, PruneResult
    from .http import Http
    from .index import ArchiveClient, PackageRecord
    from .mirrors import resolve_mirrors
    from .versions import compare_versions

_HOMES = {
    "ArchiveClient": "index",
    "Cache": "cache",
    "CacheInfo": "cache",
    "Http": "http",
    "PackageRecord": "index",
    "PruneResult": "cache",
    "compare_versions": "versions",
    "resolve_mirrors": "mirrors",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{home}", __name__), name)
