"""Debian archives: mirrors, signed suites, package choice and downloads.

Only this package touches the network (through `http.py`). Its modules load
on first use, so that a command needing only dpkg versions or mirrors does not
import the HTTP and OpenPGP libraries.

May import `release` (the model), `cache` and the primitives (`errors`,
`console`); never the cut or a command.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .client import ArchiveClient as ArchiveClient
    from .client import FetchedPackage as FetchedPackage
    from .client import PackageRecord as PackageRecord
    from .http import Http as Http
    from .mirrors import resolve_mirrors as resolve_mirrors
    from .options import ArchiveOptions as ArchiveOptions
    from .options import open_archives as open_archives
    from .versions import compare_versions as compare_versions

_HOMES = {
    "ArchiveClient": "client",
    "ArchiveOptions": "options",
    "FetchedPackage": "client",
    "Http": "http",
    "PackageRecord": "client",
    "compare_versions": "versions",
    "open_archives": "options",
    "resolve_mirrors": "mirrors",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{home}", __name__), name)
