"""Which slices provide the shared libraries an ELF file needs (`slicer deps`).

An ELF file names its libraries by soname (`DT_NEEDED`) and its loader by
path (`PT_INTERP`). A slice provides a name when it ships a path whose
basename is that name, for the architecture at hand. Literal paths say so by
themselves; a glob such as `/usr/lib/*-linux-gnu/libssl.so.3*` only provides
`libssl.so.3` if the real package has a file it matches, so packages with
candidate globs are downloaded and listed.

The listing of the packages is `contents.PackageContents`, shared with
`slicer check`. For a library no slice provides, the archives' signed
Contents indexes name the Debian packages that ship it
(`archive.libraries`), so the report can suggest `slicer draft` for them.
"""

from __future__ import annotations

import os
import posixpath
import shlex
from pathlib import Path
from typing import Any

from attrs import define, field, frozen

from .archive import ArchiveOptions, open_archives
from .archive.libraries import LibraryFinder, Shipper
from .cache import Cache
from .console import Console
from .contents import PackageContents, find_providers
from .elf import ElfInfo, read_elf
from .errors import OfflineError, SlicerError
from .release.load import load_release
from .release.model import SliceKey

# -- slicer deps ------------------------------------------------------------------


@frozen
class DepsOptions:
    files: tuple[Path, ...]
    arch: str | None = None
    release: str | None = None
    overlays: tuple[Path, ...] = ()
    archives: ArchiveOptions = field(factory=ArchiveOptions)


@frozen
class Need:
    """One library (or the loader) a file needs, and the slices that provide it."""

    file: str
    arch: str
    kind: str  # "needed" or "interpreter"
    name: str
    providers: tuple[SliceKey, ...]
    # For a need no slice provides: the Debian packages that ship a file of that name, best first.
    shippers: tuple[Shipper, ...] = ()


# What every root for a program holds besides its libraries: directories and /tmp, a
# non-root user, CA certificates and time zones (each only if the release has it).
BASE_SLICES = ("base-files_base", "base-passwd_nonroot", "ca-certificates_data", "tzdata_zoneinfo")


@define
class DepsReport:
    release: str
    # How `--release` names it again in a command line: a bundled name or the directory.
    release_argument: str = ""
    base: list[str] = field(factory=list)
    needs: list[Need] = field(factory=list)
    # Files that need nothing (static programs, plain data).
    standalone: list[str] = field(factory=list)
    # Why the Debian packages of unprovided libraries could not be named (offline, no Contents index).
    unnamed: list[str] = field(factory=list)
    # Packages that have a slice file already: a draft of them is compared (`--diff`), not written.
    sliced: frozenset[str] = frozenset()

    @property
    def missing(self) -> list[Need]:
        return [need for need in self.needs if not need.providers]

    def slices(self) -> list[str]:
        """What to cut: the first provider of every need, once each, in order of appearance."""
        return list(dict.fromkeys(str(need.providers[0]) for need in self.needs if need.providers))

    def cut_commands(self) -> dict[str, list[str]]:
        """arch -> the words of a `slicer cut` that gives the files of that architecture their libraries."""
        commands = {}
        arches: list[str | None] = [*dict.fromkeys(need.arch for need in self.needs)] or [None]
        for arch in arches:
            slices = dict.fromkeys(
                str(need.providers[0]) for need in self.needs if need.providers and need.arch == arch
            )
            words = ["slicer", "cut", "--release", self.release_argument or self.release]
            words += ["--arch", arch] if arch else []
            commands[arch or ""] = [*words, "--root", "rootfs", *dict.fromkeys([*self.base, *slices])]
        return commands

    def draft_commands(self) -> list[list[str]]:
        """The words of the `slicer draft` lines that propose slices for the best package of each unprovided need."""
        packages = list(dict.fromkeys(need.shippers[0].package for need in self.missing if need.shippers))
        release = ["--release", self.release_argument or self.release]
        new = [package for package in packages if package not in self.sliced]
        known = [package for package in packages if package in self.sliced]
        commands = [["slicer", "draft", *release, *new]] if new else []
        # `--diff` leads: `shell_command` takes the word after the last option for its value.
        return commands + ([["slicer", "draft", "--diff", *release, *known]] if known else [])

    def to_json(self) -> dict[str, Any]:
        return {
            "release": self.release,
            "needs": [
                {
                    "file": need.file,
                    "arch": need.arch,
                    "kind": need.kind,
                    "name": need.name,
                    "slices": [str(key) for key in need.providers],
                    "packages": [{"package": shipper.package, "path": shipper.path} for shipper in need.shippers],
                }
                for need in self.needs
            ],
            "standalone": self.standalone,
            "missing": [need.name for need in self.missing],
            "slices": self.slices(),
            "cut": {arch: shlex.join(words) for arch, words in self.cut_commands().items()},
            "draft": [shlex.join(words) for words in self.draft_commands()],
            "unnamed": self.unnamed,
        }


def _elf_of(path: Path) -> ElfInfo:
    if not path.is_file():
        raise SlicerError(f"{path} is not a file")
    info = read_elf(path)
    if info is None:
        raise SlicerError(f"{path} is not an ELF file")
    return info


def deps(options: DepsOptions, console: Console) -> DepsReport:
    """Map each file's DT_NEEDED sonames and its loader to the release's slices that ship them."""
    release = load_release(options.release, options.overlays, Cache(options.archives.cache_dir))
    files = {path: _elf_of(path) for path in options.files}
    by_arch: dict[str, list[Path]] = {}
    for path, info in files.items():
        arch = options.arch or info.arch
        if not arch:
            raise SlicerError(f"{path} is an ELF file for a machine slicer does not know; pass --arch")
        if options.arch and info.arch and info.arch != options.arch:
            raise SlicerError(f"{path} is an ELF file for {info.arch}, not {options.arch}")
        by_arch.setdefault(arch, []).append(path)
    base = [name for name in BASE_SLICES if (key := SliceKey.parse(name)) and release.slice(key) is not None]
    report = DepsReport(release.name, options.release or release.name, base, sliced=frozenset(release.packages))
    for arch, paths in by_arch.items():
        client = open_archives(release, arch, console, options.archives)
        contents = PackageContents(release, arch, client, console)
        wanted = {path: _wanted(files[path]) for path in paths}
        providers = find_providers(release, contents, {name for pairs in wanted.values() for _, name in pairs})
        shippers = _shippers(LibraryFinder(client), [name for name, found in providers.items() if not found], report)
        for path in paths:
            if not wanted[path]:
                report.standalone.append(os.fspath(path))
            for kind, name in wanted[path]:
                keys = tuple(dict.fromkeys(provision.slice for provision in providers[name]))
                report.needs.append(Need(os.fspath(path), arch, kind, name, keys, tuple(shippers.get(name, ()))))
    return report


def _shippers(finder: LibraryFinder, names: list[str], report: DepsReport) -> dict[str, list[Shipper]]:
    """name -> the Debian packages that ship it; why they cannot be named goes to `report.unnamed`."""
    if not names:
        return {}
    arch = finder.client.arch
    try:
        search = finder.search(names)
    except OfflineError as error:
        report.unnamed.append(
            f"{error}; run this `slicer deps` once without --offline to fetch it and name the Debian "
            f"packages that ship {', '.join(names)}"
        )
        return {}
    if not search.indexes:
        report.unnamed.append(
            f"the archives of release {report.release} publish no Contents-{arch} index, so the Debian "
            f"packages that ship {', '.join(names)} cannot be named"
        )
    return search.shippers


def _wanted(info: ElfInfo) -> list[tuple[str, str]]:
    """(kind, basename) of the loader and each needed library, loader first."""
    pairs = [("interpreter", posixpath.basename(info.interpreter))] if info.interpreter else []
    return pairs + [("needed", name) for name in info.needed]
