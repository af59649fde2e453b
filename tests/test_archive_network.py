"""The real Debian archives, through the mirror the host's apt sources name."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable

import pytest

from slicer.archive import ArchiveClient
from slicer.cache import Cache
from slicer.console import Console
from slicer.release.load import load_release
from slicer.release.model import Release

pytestmark = pytest.mark.network

PACKAGES = {
    "debian-12": ["libc6", "ca-certificates", "tzdata", "libssl3"],
    "debian-13": ["libc6", "ca-certificates", "tzdata", "libssl3t64"],
}


def _client(release: Release, arch: str, mirrors: dict[str, str], cache: Cache, **options: object) -> ArchiveClient:
    return ArchiveClient(release, arch, mirrors=mirrors, cache=cache, console=Console(io.StringIO()), **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
@pytest.mark.parametrize("release_name", ["debian-12", "debian-13"])
def test_verify_resolve_and_download(
    release_name: str, arch: str, network_cache: Cache, host_mirrors: Callable[[Release], dict[str, str]]
) -> None:
    release = load_release(release_name)
    mirrors = host_mirrors(release)
    names = PACKAGES[release_name]
    client = _client(release, arch, mirrors, network_cache)
    records = client.resolve(names)
    assert list(records) == names
    assert records["libc6"].arch == arch
    assert records["tzdata"].arch == records["ca-certificates"].arch == "all"
    for name, record in records.items():
        assert record.archive in ("debian", "debian-security")
        assert record.suite in release.archives[record.archive].suites
        assert record.filename.startswith("pool/")
        assert record.stanza.startswith(f"Package: {name}\n")
        assert f"\nVersion: {record.version}\n" in record.stanza
    paths = client.fetch(records.values())
    for name, record in records.items():
        data = paths[name].read_bytes()
        assert data.startswith(b"!<arch>\ndebian-binary")
        assert len(data) == record.size
        assert hashlib.sha256(data).hexdigest() == record.sha256

    warm = _client(release, arch, mirrors, network_cache)
    assert warm.resolve(names) == records
    assert warm.stats.indexes_parsed == 0 and warm.stats.indexes_downloaded == 0
    assert warm.stats.indexes_loaded == sum(len(archive.suites) for archive in release.archives.values())

    offline = _client(release, arch, mirrors, network_cache, offline=True)
    assert offline.fetch(offline.resolve(names).values()) == paths
    assert offline.stats.releases_fetched == 0
