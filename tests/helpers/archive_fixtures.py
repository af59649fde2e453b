"""Fixtures for anything that needs a Debian archive: local signed ones, or the real one.

Local archives (no network beyond 127.0.0.1):

- `signing_key` / `other_key` (session): pysequoia keys; the first is the one
  test releases pin, the second signs forged InRelease files.
- `archive_server`: an `ArchiveServer` on 127.0.0.1 with fault injection
  (`server.inject("/debian/pool/...", testarchive.reset())`) and a request log.
- `test_archive`: factory `test_archive({suite: [DebSpec, ...]}, name="debian",
  **suite_options)` -> `LocalArchive`, built and served; `.url`, `.release()`
  (a `Release` pinning the test key), `.deb(name)`, `.path(relative)`,
  `.inrelease(suite, key=..., **fields)`. Several archives on one server
  combine with `testarchive.make_release([a, b], ...)`.
- `archive_client`: factory `archive_client(release, arch="amd64", **options)`
  -> `ArchiveClient` with a quiet console, a fast-retrying `Http` and a
  per-test cache (`cache_dir`).

Real archive (tests marked `network`):

- `host_mirrors`: factory `host_mirrors(release)` -> {archive: url} from the
  host's apt sources (and SLICER_MIRROR_*); skips the test with the reason
  when the host names no Debian mirror.
- `network_cache` (session): a `Cache` under $SLICER_TEST_CACHE, else a
  temporary directory shared by the whole run, so each index downloads once.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pysequoia
import pytest

from slicer.archive import ArchiveClient, Http, resolve_mirrors
from slicer.cache import Cache
from slicer.console import Console
from slicer.errors import MirrorError
from slicer.release.load import known_suites
from slicer.release.model import Release
from tests.helpers.debs import DebSpec
from tests.helpers.testarchive import ArchiveServer, LocalArchive


@pytest.fixture(scope="session")
def signing_key() -> pysequoia.Tsk:
    """The key that signs local test archives; test releases pin it."""
    return pysequoia.Tsk.generate("slicer test archive <archive@example.invalid>")


@pytest.fixture(scope="session")
def other_key() -> pysequoia.Tsk:
    """A key no test release pins, for forged InRelease files."""
    return pysequoia.Tsk.generate("someone else <forger@example.invalid>")


@pytest.fixture
def archive_server(tmp_path: Path) -> Iterator[ArchiveServer]:
    """A fresh HTTP server on 127.0.0.1 serving `tmp_path / "mirror"`."""
    server = ArchiveServer(tmp_path / "mirror")
    yield server
    server.close()


@pytest.fixture
def test_archive(archive_server: ArchiveServer, signing_key: pysequoia.Tsk) -> Callable[..., LocalArchive]:
    """Factory: test_archive({suite: [DebSpec, ...]}, name="debian", archs=(...), **suite_options)."""

    def make(
        suites: dict[str, list[DebSpec] | dict[str, list[DebSpec]]],
        *,
        name: str = "debian",
        archs: tuple[str, ...] = ("amd64", "arm64"),
        **options: object,
    ) -> LocalArchive:
        archive = LocalArchive(archive_server, name, signing_key, archs)
        for suite, packages in suites.items():
            archive.add_suite(suite, packages, **options)  # type: ignore[arg-type]
        return archive

    return make


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def archive_client(cache_dir: Path) -> Callable[..., ArchiveClient]:
    """Factory: archive_client(release, arch="amd64", mirrors=None, **options) -> ArchiveClient.

    Mirrors default to each archive's `url`; retries are fast (backoff 10 ms)
    and reads time out after 2 s so fault tests stay quick.
    """

    def make(
        release: Release,
        arch: str = "amd64",
        *,
        mirrors: dict[str, str] | None = None,
        http: Http | None = None,
        console: Console | None = None,
        **options: object,
    ) -> ArchiveClient:
        return ArchiveClient(
            release,
            arch,
            mirrors=mirrors if mirrors is not None else {name: a.url for name, a in release.archives.items()},
            cache=Cache(cache_dir),
            console=console or Console(io.StringIO()),
            http=http or Http(backoff=0.01, timeout=(2.0, 2.0)),
            **options,  # type: ignore[arg-type]
        )

    return make


@pytest.fixture(scope="session")
def host_mirrors() -> Callable[[Release], dict[str, str]]:
    """Factory: host_mirrors(release) -> mirrors from the host's apt sources, or skip."""
    known = known_suites()

    def resolve(release: Release) -> dict[str, str]:
        try:
            return resolve_mirrors(release, {}, known)
        except MirrorError as error:
            pytest.skip(f"the host's apt sources name no Debian mirror: {error}")

    return resolve


@pytest.fixture(scope="session")
def network_cache(tmp_path_factory: pytest.TempPathFactory) -> Cache:
    """The cache shared by network tests: $SLICER_TEST_CACHE, else one temporary directory per run."""
    configured = os.environ.get("SLICER_TEST_CACHE")
    return Cache(Path(configured) if configured else tmp_path_factory.mktemp("network-cache"))
