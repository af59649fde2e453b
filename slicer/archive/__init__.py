"""Debian archives: mirrors, signed suites, package choice, downloads and the cache.

Only this package touches the network (through `http.py`).
"""

from .cache import Cache, CacheInfo, PruneResult
from .http import Http
from .index import ArchiveClient, PackageRecord
from .mirrors import resolve_mirrors
from .versions import compare_versions

__all__ = [
    "ArchiveClient",
    "Cache",
    "CacheInfo",
    "Http",
    "PackageRecord",
    "PruneResult",
    "compare_versions",
    "resolve_mirrors",
]
