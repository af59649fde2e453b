"""`slicer inspect ROOT`: what a cut root holds, read from the records the cut left in it.

The records are chisel's `manifest.wall` (slice `base-files_chisel`): every
package with its version and .deb hash, every slice, and every listed path
with its mode, size and hash; and the `status.d` entries (slice
`base-files_dpkg-status`): each package's control paragraph and the md5 of
each file it shipped. The release comes from the root's `/etc/os-release`
when present, else from base-files' version. `--verify` compares every
recorded path with the disk, and lists what changed, was added or removed.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Any

from attrs import define, field, frozen

from .cut import manifest as manifest_module
from .errors import SlicerError
from .rootfs import image_path, resolve

MANIFEST_PATH = "/var/lib/chisel/manifest.wall"
STATUS_DIRECTORY = "/var/lib/dpkg/status.d/"


class NoRecordsError(SlicerError):
    """The root holds neither a manifest nor status entries."""


@frozen
class Package:
    name: str
    version: str
    arch: str


@frozen
class RecordedPath:
    path: str
    kind: str  # "file", "dir" or "symlink"
    mode: int | None = None  # permission and sticky bits, as the manifest records them
    size: int = 0
    sha256: str = ""
    md5: str = ""
    link: str = ""
    slices: tuple[str, ...] = ()


@define
class Inspection:
    root: Path
    release: str
    arch: str
    sources: list[str]
    packages: list[Package]
    slices: list[str]
    paths: dict[str, RecordedPath]
    changed: list[str] = field(factory=list)
    added: list[str] = field(factory=list)
    removed: list[str] = field(factory=list)
    verified: bool = False

    @property
    def differs(self) -> bool:
        return bool(self.changed or self.added or self.removed)

    def to_json(self) -> dict[str, Any]:
        document = {
            "root": str(self.root),
            "release": self.release,
            "arch": self.arch,
            "records": self.sources,
            "packages": [{"name": p.name, "version": p.version, "arch": p.arch} for p in self.packages],
            "slices": self.slices,
            "paths": len(self.paths),
            "files": sum(1 for entry in self.paths.values() if entry.kind == "file"),
            "bytes": sum(entry.size for entry in self.paths.values() if entry.kind == "file"),
        }
        if self.verified:
            document |= {"changed": self.changed, "added": self.added, "removed": self.removed}
        return document


def _read(root: Path, path: str) -> bytes | None:
    try:
        host = resolve(root, path)
        return host.read_bytes() if host.is_file() else None
    except OSError:
        return None


def _from_manifest(data: bytes) -> tuple[list[Package], list[str], dict[str, RecordedPath]]:
    manifest = manifest_module.read_manifest(data, MANIFEST_PATH)
    packages = [Package(p.name, p.version, p.arch) for p in sorted(manifest.packages.values(), key=lambda p: p.name)]
    paths = {}
    for entry in manifest.paths.values():
        kind = "dir" if entry.path.endswith("/") else "symlink" if entry.link else "file"
        # The manifest cannot hash itself: its record has neither hash nor size.
        unhashed = entry.path == MANIFEST_PATH
        paths[entry.path] = RecordedPath(
            entry.path,
            kind,
            entry.mode,
            entry.size,
            "" if unhashed else entry.final_sha256 or entry.sha256,
            link=entry.link,
            slices=entry.slices,
        )
    return packages, sorted(manifest.slices), paths


def _field(stanza: str, name: str) -> str:
    for line in stanza.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == name:
            return value.strip()
    return ""


def _from_status(root: Path) -> tuple[list[Package], dict[str, RecordedPath]] | None:
    directory = resolve(root, STATUS_DIRECTORY)
    if not directory.is_dir():
        return None
    packages, paths = [], {}
    for entry in sorted(directory.iterdir()):
        text = entry.read_text(errors="replace")
        if entry.name.endswith(".md5sums"):
            for line in text.splitlines():
                digest, _, relative = line.partition("  ")
                if relative:
                    paths["/" + relative] = RecordedPath("/" + relative, "file", md5=digest)
        elif _field(text, "package"):
            packages.append(Package(_field(text, "package"), _field(text, "version"), _field(text, "architecture")))
    return packages, paths


def _release(root: Path, packages: list[Package]) -> str:
    """`debian-N` from the root's os-release, else from base-files' version (12.4+deb12u5 -> 12)."""
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        data = _read(root, path)
        if data:
            fields = dict(line.split("=", 1) for line in data.decode(errors="replace").splitlines() if "=" in line)
            if fields.get("ID", "").strip('"') == "debian" and "VERSION_ID" in fields:
                return f"debian-{fields['VERSION_ID'].strip(chr(34))}"
    base_files = next((p for p in packages if p.name == "base-files"), None)
    if base_files and base_files.version.split(".")[0].isdigit():
        return f"debian-{base_files.version.split('.')[0]}"
    return "unknown"


def inspect(root: Path, verify: bool = False) -> Inspection:
    """Read the root's records; with `verify`, compare every recorded path with the disk."""
    if not root.is_dir():
        raise SlicerError(f"{root} is not a directory")
    sources: list[str] = []
    packages: list[Package] = []
    slices: list[str] = []
    paths: dict[str, RecordedPath] = {}
    status = _from_status(root)
    if status is not None:
        sources.append(STATUS_DIRECTORY)
        packages, paths = status
    data = _read(root, MANIFEST_PATH)
    if data is not None:
        sources.insert(0, MANIFEST_PATH)
        packages, slices, recorded = _from_manifest(data)
        # The manifest knows more of each path; status.d adds the md5 of files it lists.
        paths = {path: recorded[path] for path in sorted(set(recorded) | set(paths)) if path in recorded} | {
            path: entry for path, entry in paths.items() if path not in recorded
        }
    if not sources:
        raise NoRecordsError(
            f"{root} holds no records of a cut (neither {MANIFEST_PATH} nor {STATUS_DIRECTORY}); cut the slice "
            "base-files_chisel (or base-files_dpkg-status) into it to record what it holds"
        )
    arches = sorted({p.arch for p in packages if p.arch and p.arch != "all"})
    result = Inspection(
        root,
        _release(root, packages),
        ",".join(arches) or "all",
        sources,
        packages,
        slices,
        dict(sorted(paths.items())),
    )
    if verify:
        _verify(result)
    return result


def _digest(host: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with host.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _differs(root: Path, entry: RecordedPath) -> str | None:
    """Why the disk does not match `entry`, or None when it does."""
    try:
        host = resolve(root, entry.path.rstrip("/") or "/", follow_last=False)
        found = os.lstat(host)
    except (OSError, SlicerError):
        return "removed"
    kinds = {"file": stat.S_ISREG, "dir": stat.S_ISDIR, "symlink": stat.S_ISLNK}
    if not kinds[entry.kind](found.st_mode):
        return "type"
    if entry.mode is not None and entry.kind != "symlink" and stat.S_IMODE(found.st_mode) & 0o1777 != entry.mode:
        return "mode"
    if entry.kind == "symlink":
        return None if os.readlink(host) == entry.link else "link"
    if entry.kind == "file":
        if entry.sha256 and (found.st_size != entry.size or _digest(host, "sha256") != entry.sha256):
            return "content"
        if entry.md5 and not entry.sha256 and _digest(host, "md5") != entry.md5:
            return "content"
    return None


def _verify(result: Inspection) -> None:
    for entry in result.paths.values():
        reason = _differs(result.root, entry)
        if reason == "removed":
            result.removed.append(entry.path)
        elif reason is not None:
            result.changed.append(f"{entry.path} ({reason})")
    # Added: anything on disk that is neither recorded nor a parent of something recorded, compared
    # where the recorded paths lead: one recorded through a linked folder (/lib -> usr/lib) lies in its target.
    recorded: set[Path] = set()
    for path in result.paths:
        try:
            recorded.add(resolve(result.root, path.rstrip("/") or "/", follow_last=False))
        except (OSError, SlicerError):
            continue  # removed, as reported above
    parents = {parent for host in recorded for parent in host.parents}
    for folder, dirs, files in os.walk(result.root):
        descend = []
        for name in sorted(dirs) + sorted(files):
            host = Path(folder) / name
            is_dir = name in dirs and not host.is_symlink()
            if host not in recorded and host not in parents:
                # A new directory is listed, not its contents.
                result.added.append(image_path(result.root, host) + ("/" if is_dir else ""))
            elif is_dir:
                descend.append(name)
        dirs[:] = descend
    result.added.sort()
    result.verified = True
