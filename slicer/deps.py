"""Which slices provide the shared libraries an ELF file needs (`slicer deps`).

An ELF file names its libraries by soname (`DT_NEEDED`) and its loader by
path (`PT_INTERP`). A slice provides a name when it ships a path whose
basename is that name, for the architecture at hand. Literal paths say so by
themselves; a glob such as `/usr/lib/*-linux-gnu/libssl.so.3*` only provides
`libssl.so.3` if the real package has a file it matches, so packages with
candidate globs are downloaded and listed.

The listing of the packages is `contents.PackageContents`, shared with
`slicer check`.
"""

from __future__ import annotations

import os
import posixpath
import shlex
from pathlib import Path
from typing import Any

from attrs import define, field, frozen

from .archive import ArchiveOptions, open_archives
from .cache import Cache
from .console import Console
from .contents import PackageContents, find_providers
from .elf import ElfInfo, read_elf
from .errors import SlicerError
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
                }
                for need in self.needs
            ],
            "standalone": self.standalone,
            "missing": [need.name for need in self.missing],
            "slices": self.slices(),
            "cut": {arch: shlex.join(words) for arch, words in self.cut_commands().items()},
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
    report = DepsReport(release.name, options.release or release.name, base)
    for arch, paths in by_arch.items():
        client = open_archives(release, arch, console, options.archives)
        contents = PackageContents(release, arch, client, console)
        wanted = {path: _wanted(files[path]) for path in paths}
        providers = find_providers(release, contents, {name for pairs in wanted.values() for _, name in pairs})
        for path in paths:
            if not wanted[path]:
                report.standalone.append(os.fspath(path))
            for kind, name in wanted[path]:
                keys = tuple(dict.fromkeys(provision.slice for provision in providers[name]))
                report.needs.append(Need(os.fspath(path), arch, kind, name, keys))
    return report


def _wanted(info: ElfInfo) -> list[tuple[str, str]]:
    """(kind, basename) of the loader and each needed library, loader first."""
    pairs = [("interpreter", posixpath.basename(info.interpreter))] if info.interpreter else []
    return pairs + [("needed", name) for name in info.needed]
