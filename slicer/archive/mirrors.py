"""The mirror rule: which base URL serves each archive of a release.

In order: `--mirror ARCHIVE=URL`, `SLICER_MIRROR_<ARCHIVE>`, the archive's own
`url:` (user releases), then the host's apt sources matched by suite. A host
that lists only one Debian release still serves the others: a source matches
an archive when it lists one of the archive's suites, or failing that, a suite
of an archive of the same name in any known release. What a mirror serves is
proven later by the pinned signatures, never by where it was found.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import urlparse

from attrs import frozen

from ..errors import ArchiveError, MirrorError
from ..release.model import Release
from . import deb822

SCHEMES = ("http", "https", "file")

# The spellings apt reads as "no" in an `Enabled:` field.
_FALSE = ("no", "false", "off", "0", "disable", "without")


@frozen
class AptSource:
    """One `deb` entry of the host's apt configuration."""

    uri: str
    suites: tuple[str, ...]
    origin: str


def env_name(archive: str) -> str:
    """`SLICER_MIRROR_DEBIAN_SECURITY` for `debian-security`."""
    return "SLICER_MIRROR_" + re.sub(r"[^A-Z0-9]", "_", archive.upper())


def _usable(uri: str) -> bool:
    return urlparse(uri).scheme in SCHEMES


def _one_line_sources(path: Path) -> list[AptSource]:
    """`deb [options] URI suite [component...]` lines; comments and deb-src skipped."""
    found = []
    for line in path.read_text(errors="replace").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        kind, _, rest = line.replace("\t", " ").partition(" ")
        if kind != "deb":
            continue
        rest = rest.strip()
        if rest.startswith("["):
            closing = rest.find("]")
            if closing < 0:
                continue
            rest = rest[closing + 1 :]
        words = rest.split()
        if len(words) >= 2 and _usable(words[0]):
            found.append(AptSource(words[0], (words[1],), str(path)))
    return found


def _deb822_sources(path: Path) -> list[AptSource]:
    """deb822 stanzas: several URIs and suites each, `Enabled: no` skipped."""
    found = []
    try:
        paragraphs = deb822.parse(path.read_text(errors="replace"), str(path))
    except ArchiveError as error:
        raise MirrorError(f"cannot read apt sources: {error}") from None
    for paragraph in paragraphs:
        if (paragraph.get("Enabled") or "yes").strip().lower() in _FALSE:
            continue
        if "deb" not in (paragraph.get("Types") or "").split():
            continue
        suites = tuple((paragraph.get("Suites") or "").split())
        for uri in (paragraph.get("URIs") or "").split():
            if _usable(uri) and suites:
                found.append(AptSource(uri, suites, str(path)))
    return found


def read_apt_sources(apt_root: Path = Path("/etc/apt")) -> list[AptSource]:
    """Every `deb` source of the host, in apt's reading order."""
    found: list[AptSource] = []
    main = apt_root / "sources.list"
    if main.is_file():
        found += _one_line_sources(main)
    directory = apt_root / "sources.list.d"
    if directory.is_dir():
        for path in sorted(directory.iterdir()):
            if path.suffix == ".list" and path.is_file():
                found += _one_line_sources(path)
            elif path.suffix == ".sources" and path.is_file():
                found += _deb822_sources(path)
    return found


def _from_apt(suites: Iterable[str], sources: list[AptSource]) -> str | None:
    """The first source listing one of `suites`."""
    wanted = set(suites)
    return next((source.uri for source in sources if wanted.intersection(source.suites)), None)


def _check_url(url: str, where: str) -> str:
    if urlparse(url).scheme not in SCHEMES:
        raise MirrorError(f"{where} gives {url!r}, which is not an http://, https:// or file:// URL")
    return url.rstrip("/")


def resolve_mirrors(
    release: Release,
    overrides: Mapping[str, str],
    known_suites: Mapping[str, Iterable[str]],
    apt_root: Path = Path("/etc/apt"),
    environ: Mapping[str, str] = os.environ,
) -> dict[str, str]:
    """archive name -> base URL for every archive of `release`.

    `known_suites` maps archive names to the suites they have in every
    bundled or given release, so a host listing bookworm serves trixie too.
    """
    unknown = sorted(set(overrides) - set(release.archives))
    if unknown:
        raise MirrorError(
            f'--mirror names archive "{unknown[0]}", which release {release.name or release.path} '
            f"does not define (archives: {', '.join(sorted(release.archives))})"
        )
    mirrors: dict[str, str] = {}
    sources: list[AptSource] | None = None
    missing = []
    for name, archive in release.archives.items():
        if archive.pro:
            continue  # never fetched from (see ArchiveClient)
        variable = env_name(name)
        if name in overrides:
            mirrors[name] = _check_url(overrides[name], f"--mirror {name}")
        elif environ.get(variable):
            mirrors[name] = _check_url(environ[variable], variable)
        elif archive.url:
            mirrors[name] = _check_url(archive.url, f'the url of archive "{name}"')
        else:
            if sources is None:
                sources = read_apt_sources(apt_root)
            # The archive's own suites first; its other releases' suites only when none is listed,
            # so `known_suites` (which may read every bundled release) is consulted rarely.
            found = _from_apt(archive.suites, sources) or _from_apt(known_suites.get(name, ()), sources)
            if found is None:
                missing.append(name)
            else:
                mirrors[name] = found.rstrip("/")
    if missing:
        raise MirrorError(missing_mirror_message(release, missing))
    return mirrors


def missing_mirror_message(release: Release, missing: list[str]) -> str:
    """Which archives lack a mirror and how to give one."""

    def label(name: str) -> str:
        suites = release.archives[name].suites
        return f'"{name}" (suite {suites[0] if suites else "none"})'

    if len(missing) == 1:
        name = missing[0]
        return f"no mirror for archive {label(name)}: pass --mirror {name}=URL or set {env_name(name)}"
    return (
        f"no mirror for archives {', '.join(label(name) for name in missing)}: pass "
        f"--mirror ARCHIVE=URL or set {', '.join(env_name(name) for name in missing)}"
    )
