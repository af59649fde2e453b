"""Find and load a release: a bundled name, a chisel directory, plus overlays.

`--release debian-12` loads the bundled `release/debian-12.yaml` with
`slices/debian-12/`; a value containing `/` is a chisel-layout directory
(`chisel.yaml` + `slices/**`); `--slices DIR` overlays add or replace whole
package files. The result is validated before anyone sees it.
"""

from __future__ import annotations

import contextlib
import datetime
import enum
import functools
import gc
import hashlib
import io
import os
import pickle
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import attrs

from .. import __version__
from ..errors import CacheError, ReleaseError
from . import model, schema
from .model import Package, Release

# Classes a cached release may contain: the model's and these; anything else in the file is refused.
_CACHE_CLASSES = {
    ("pathlib", "PosixPath"),
    ("pathlib", "Path"),
    ("datetime", "date"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
} | {
    (model.__name__, name)
    for name, value in vars(model).items()
    if isinstance(value, type)
    and value.__module__ == model.__name__
    and (attrs.has(value) or issubclass(value, enum.Enum))
}


class ParsedStore(Protocol):
    """Where validated releases are kept between runs (a `cache.Cache`)."""

    def read_parsed(self, key: str) -> bytes | None: ...

    def write_parsed(self, key: str, data: bytes) -> None: ...


class _ReleaseUnpickler(pickle.Unpickler):
    """Loads only model classes, so a damaged cache file cannot run code.

    The cache reads back only entries sealed with its own key (`Cache.read_parsed`),
    so a release planted by someone else is never unpickled at all.
    """

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _CACHE_CLASSES:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a cached release")
        return super().find_class(module, name)


def data_root() -> Path:
    """Where `release/` and `slices/` live: inside the wheel, or the source tree."""
    package = Path(__file__).resolve().parent.parent
    packaged = package / "_data"
    return packaged if (packaged / "release").is_dir() else package.parent


def bundled_names() -> list[str]:
    return sorted(path.stem for path in (data_root() / "release").glob("*.yaml"))


def bundled_codenames() -> dict[str, str]:
    """codename -> bundled release name, read from the `codename:` line of each release file."""
    found = {}
    for name in bundled_names():
        text = (data_root() / "release" / f"{name}.yaml").read_text()
        match = re.search(r"^codename:\s*([a-z]+)\s*$", text, re.MULTILINE)
        if match:
            found[match.group(1)] = name
    return found


def bundled_name(reference: str) -> str:
    """The bundled release `reference` names: `debian-12`, `bookworm`, `12` or `debian12`."""
    names = bundled_names()
    if reference in names:
        return reference
    aliases = (
        bundled_codenames()
        | {name.removeprefix("debian-"): name for name in names}
        | {name.replace("-", ""): name for name in names}
    )
    if reference.lower() in aliases:
        return aliases[reference.lower()]
    known = ", ".join(
        f"{name} ({codename})" for codename, name in sorted(bundled_codenames().items(), key=lambda item: item[1])
    )
    raise ReleaseError(
        f'unknown release "{reference}" (bundled releases: {known or "none"}; '
        "a path containing / names a release directory)"
    )


def _release_number(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name))


def host_release_name(os_release: Path = Path("/etc/os-release")) -> str | None:
    """`debian-<VERSION_ID>` when the host is a Debian release, else None."""
    try:
        fields = dict(line.split("=", 1) for line in os_release.read_text().splitlines() if "=" in line)
    except OSError:
        return None
    if fields.get("ID", "").strip('"') != "debian" or "VERSION_ID" not in fields:
        return None
    return f"debian-{fields['VERSION_ID'].strip(chr(34))}"


def default_release_name(today: datetime.date | None = None) -> str:
    """The host's Debian release when bundled, else the newest bundled stable one."""
    names = bundled_names()
    host = host_release_name()
    if host in names:
        return host
    today = today or datetime.date.today()
    released = [name for name in names if _is_released(name, today)]
    return max(released or names, key=_release_number)


def _is_released(name: str, today: datetime.date) -> bool:
    """Whether a bundled release's regular support has started (reads only its release file)."""
    path = data_root() / "release" / f"{name}.yaml"
    try:
        doc, document = schema.parse_release(path.name, path.read_text())
        maintenance = schema.build_maintenance(doc, document)
    except (OSError, ReleaseError):
        return False
    return maintenance is None or maintenance.standard <= today


def _locate(reference: str) -> tuple[Path, list[Path], bool, str]:
    """(release file, slice directories, user release, display base) for a reference."""
    if "/" in reference:
        directory = Path(reference)
        release_file = directory / "chisel.yaml"
        if not release_file.is_file():
            raise ReleaseError(f"release directory {reference} has no chisel.yaml")
        slices = directory / "slices"
        if not slices.is_dir():
            raise ReleaseError(f"release directory {reference} has no slices/ directory")
        return release_file, [slices], True, reference.rstrip("/")
    root = data_root()
    release_file = root / "release" / f"{reference}.yaml"
    return release_file, [root / "slices" / reference], False, ""


def _read_text(path: Path, display: str) -> str:
    """A definition file's text; one that is not UTF-8 is refused naming the line of the first bad byte."""
    try:
        # os-level reads: a release is hundreds of small files, read on every command.
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            chunks = []
            while chunk := os.read(fd, 1 << 16):
                chunks.append(chunk)
        finally:
            os.close(fd)
        data = b"".join(chunks)
    except OSError as error:
        raise ReleaseError(f"cannot read {display}: {error.strerror or error}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ReleaseError(f"{display}:{line}: byte 0x{data[error.start]:02x} is not UTF-8 text") from None


def slice_folder(reference: str | None = None) -> Path:
    """Where a release's own slice definition files live (the repository's, in an editable install)."""
    return _locate(reference or default_release_name())[1][0]


def _display(path: Path, base: Path, prefix: str) -> str:
    text, folder = str(path), str(base)
    # Plain string work when `path` lies under `base` as written (always, for files found in it).
    relative = text[len(folder) + 1 :] if text.startswith(f"{folder}/") else path.relative_to(base).as_posix()
    return f"{prefix}/{relative}" if prefix else relative


def _yaml_files(directory: Path) -> list[Path]:
    """Every `*.yaml` under `directory`, ordered by path components (walked as strings: pathlib's
    glob costs more than the rest of finding a release's files)."""
    found: list[tuple[list[str], str]] = []
    for folder, _, names in os.walk(directory):
        parts = folder.split(os.sep)
        found += [([*parts, name], os.path.join(folder, name)) for name in names if name.endswith(".yaml")]
    return [Path(path) for _, path in sorted(found)]


def _slice_files(directory: Path, display_base: Path, prefix: str) -> dict[str, tuple[Path, str]]:
    """package name -> (file, display name) for every `*.yaml` under `directory`."""
    found: dict[str, tuple[Path, str]] = {}
    for path in _yaml_files(directory):
        display = _display(path, display_base, prefix)
        name = schema.package_name_from_file(path, display)
        if name in found:
            raise ReleaseError(f'package "{name}" slices defined more than once: {found[name][1]} and {display}')
        found[name] = (path, display)
    return found


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Reading a release makes some hundred thousand lasting objects and no
    reference cycles; the cycle collector would rescan them as they pile up."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@_collector_paused()
def load_release(
    reference: str | None = None, overlays: Sequence[Path | str] = (), cache: ParsedStore | None = None
) -> Release:
    """Load, parse and validate a release; overlay directories win per package file.

    A validated release is kept in `cache` keyed by the digest of every file
    it was read from, so later commands skip parsing and validation.
    """
    reference = reference or default_release_name()
    if "/" not in reference:
        reference = bundled_name(reference)
    release_file, slice_dirs, user_release, prefix = _locate(reference)
    files = _gather_files(slice_dirs, overlays, release_file.parent if user_release else data_root(), prefix)
    texts = {name: _read_text(path, display) for name, (path, display) in files.items()}
    release_text = _read_text(
        release_file, _display(release_file, release_file.parent if user_release else data_root(), prefix)
    )
    # The Python version too: how objects pickle changes between versions.
    identity = f"{__version__}\0{sys.version}\0{_code_digest()}\0{reference}\0{release_text}"
    digest = hashlib.sha256(identity.encode())
    for name in sorted(files):
        # The real location too: `check --fix` writes back to the file a package came from.
        digest.update(f"\0{files[name][0]}\0{files[name][1]}\0{texts[name]}".encode())
    key = f"release-{digest.hexdigest()}"
    cached = _cached(key, cache) if cache is not None else None
    if cached is not None:
        return cached
    release = attrs.evolve(
        _load_uncached(reference, release_file, user_release, prefix, release_text, files, texts), digest=key
    )
    if cache is not None:
        _store(key, release, cache)
    return release


# The modules that build a release: this package and the globs it matches with.
_BUILDERS = [*sorted(Path(__file__).parent.glob("*.py")), Path(__file__).parent.parent / "globs.py"]


def _code_digest() -> str:
    """Changes to the modules that build a release invalidate cached ones."""
    digest = hashlib.sha256()
    for module in _BUILDERS:  # read as files: a release read from the cache must not import them
        digest.update(module.read_bytes())
    return digest.hexdigest()


def _unpickle(data: bytes) -> Any:
    return _ReleaseUnpickler(io.BytesIO(data)).load()


class _LazyPackages(Mapping[str, Package]):
    """A cached release's packages, each read back from its own pickle when first asked for.

    A cut reads a handful of a release's hundreds of packages; reading back all of them
    would cost more than the rest of loading the release.
    """

    def __init__(self, pickled: dict[str, bytes]) -> None:
        self._pickled = pickled
        self._loaded: dict[str, Package] = {}

    def __getitem__(self, name: str) -> Package:
        package = self._loaded.get(name)
        if package is None:
            package = _unpickle(self._pickled[name])
            if not isinstance(package, Package):
                raise TypeError(f"the cached release holds no package at {name}")
            self._loaded[name] = package
        return package

    def __contains__(self, name: object) -> bool:
        return name in self._pickled

    def __iter__(self) -> Iterator[str]:
        return iter(self._pickled)

    def __len__(self) -> int:
        return len(self._pickled)

    def __reduce__(self) -> tuple[type[dict[str, Package]], tuple[dict[str, Package]]]:
        return dict, (dict(self.items()),)


def _cached(key: str, cache: ParsedStore) -> Release | None:
    try:
        data = cache.read_parsed(key)
        if data is None:
            return None
        release, packages = _unpickle(data)
    except (OSError, CacheError, pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError):
        return None
    if not isinstance(release, model.Release) or not isinstance(packages, dict):
        return None
    return attrs.evolve(release, packages=_LazyPackages(packages))


def _store(key: str, release: Release, cache: ParsedStore) -> None:
    """Keep `release` with each package pickled on its own, for `_LazyPackages`."""
    packages = {
        name: pickle.dumps(package, protocol=pickle.HIGHEST_PROTOCOL) for name, package in release.packages.items()
    }
    data = pickle.dumps((attrs.evolve(release, packages={}), packages), protocol=pickle.HIGHEST_PROTOCOL)
    # A read-only, full or refused cache only costs speed (a cut then explains the refusal).
    with contextlib.suppress(OSError, CacheError):
        cache.write_parsed(key, data)


def _gather_files(
    slice_dirs: list[Path], overlays: Sequence[Path | str], base: Path, prefix: str
) -> dict[str, tuple[Path, str]]:
    files: dict[str, tuple[Path, str]] = {}
    for directory in slice_dirs:
        if directory.is_dir():
            files.update(_slice_files(directory, base, prefix))
    for overlay in overlays:
        overlay_dir = Path(overlay)
        if not overlay_dir.is_dir():
            raise ReleaseError(f"slice overlay {overlay} is not a directory")
        files.update(_slice_files(overlay_dir, overlay_dir, str(overlay).rstrip("/")))
    return files


def _load_uncached(
    reference: str,
    release_file: Path,
    user_release: bool,
    prefix: str,
    text: str,
    files: dict[str, tuple[Path, str]],
    texts: dict[str, str],
) -> Release:
    from . import validate  # late: a release read from the cache is validated already

    base = release_file.parent if user_release else data_root()
    doc, document = schema.parse_release(_display(release_file, base, prefix), text)
    archives = schema.build_archives(doc, document, user_release)
    by_version = doc.version_choice == "newest"
    if doc.version_choice not in ("", "newest", "priority"):
        raise document.error(
            f'unknown version-choice "{doc.version_choice}" (use newest or priority)', "version-choice"
        )
    declared = len(doc.archives or {}) + len(doc.v2_archives or {})
    archives = validate.archive_priorities(archives, declared, document, by_version)
    keys = schema.build_keys(doc)
    validate.key_ids(keys, document)
    if doc.format != "v1" and doc.maintenance is None and not user_release:
        raise document.error("maintenance field is required since format v2")
    maintenance = schema.build_maintenance(doc, document)

    packages: dict[str, Package] = {}
    for name in sorted(files):
        path, display = files[name]
        packages[name] = schema.parse_package(path, display, texts[name], doc.format)
    release = Release(
        path=release_file if not user_release else release_file.parent,
        format=doc.format,
        archives=archives,
        public_keys=keys,
        packages=packages,
        maintenance=maintenance,
        name=doc.name or (reference if not user_release else Path(reference).name),
        codename=doc.codename,
        equal_priority_by_version=by_version,
    )
    return validate.release(release)


class KnownSuites(Mapping[str, set[str]]):
    """archive name -> every suite it has in a bundled release.

    A host whose apt sources name a mirror of `debian` for bookworm serves
    trixie too; mirror discovery uses this to match by archive, not only
    suite. The bundled release files are read on the first lookup, which
    mirror discovery makes only when no apt source lists an archive's own suites.
    """

    @functools.cached_property
    def _suites(self) -> dict[str, set[str]]:
        suites: dict[str, set[str]] = {}
        for name in bundled_names():
            path = data_root() / "release" / f"{name}.yaml"
            try:
                doc, _document = schema.parse_release(path.name, path.read_text())
            except (OSError, ReleaseError):
                continue
            for archive_name, archive in (doc.archives or {}).items():
                suites.setdefault(archive_name, set()).update(archive.suites or ())
        return suites

    def __getitem__(self, archive: str) -> set[str]:
        return self._suites[archive]

    def __iter__(self) -> Iterator[str]:
        return iter(self._suites)

    def __len__(self) -> int:
        return len(self._suites)


def known_suites() -> KnownSuites:
    """The suites of every bundled release by archive, read when first looked up."""
    return KnownSuites()
