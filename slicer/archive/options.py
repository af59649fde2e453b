"""How a command reaches the archives: mirrors, cache, offline; and the client it opens."""

from __future__ import annotations

from pathlib import Path

from attrs import field, frozen

from ..cache import Cache
from ..console import Console
from ..release.load import known_suites
from ..release.model import Release
from .client import ArchiveClient
from .mirrors import resolve_mirrors


@frozen
class ArchiveOptions:
    """How a command reaches the archives; `cut`, `check` and `deps` share it."""

    mirrors: dict[str, str] = field(factory=dict)
    cache_dir: Path | None = None
    offline: bool = False
    check_valid_until: bool = True
    allow_older_index: bool = False


def open_archives(release: Release, arch: str, console: Console, options: ArchiveOptions) -> ArchiveClient:
    """A client for the release's archives, mirrors found by the mirror rule."""
    return ArchiveClient(
        release,
        arch,
        mirrors=resolve_mirrors(release, options.mirrors, known_suites()),
        cache=Cache(options.cache_dir),
        console=console,
        offline=options.offline,
        check_valid_until=options.check_valid_until,
        allow_older_index=options.allow_older_index,
    )
