"""Chisel's `manifest.wall`: what a cut installed, for scanners and later cuts.

The file is zstd-compressed "jsonwall": a header line
`{"jsonwall":"1.0","schema":"1.0","count":N}` (N counts the header too), then
one compact JSON object per line, sorted bytewise so readers can binary-search
on a JSON prefix. Fields appear in chisel's order and empty ones are left out,
exactly as Go's `encoding/json` writes them, so the text is byte-identical to
what chisel would write for the same cut:

- `package`: name, version, sha256 (of the .deb), arch;
- `slice`: every selected slice;
- `path`: path (directories end in `/`), mode as `"0%o"` without setuid and
  setgid (chisel drops them), owning slices, sha256 and size for files,
  final_sha256 when a script changed the content, link, hard-link group;
- `content`: one per (slice, path) ownership pair.

Only paths a slice listed are recorded, never implicit parents; the manifest
files themselves are recorded without hash or size, as they cannot hash
themselves.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import zstandard
from attrs import evolve, field, frozen

from ..errors import ManifestError
from ..release.model import SliceKey
from ..report import Entry, Report

SCHEMA = "1.0"
JSONWALL_VERSION = "1.0"

# Mode bits a manifest records: permissions and sticky, not setuid/setgid.
_RECORDED_MODE = 0o1777

# Go's encoding/json escapes these even with the rest of the text left as UTF-8.
_GO_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"})


@frozen
class ManifestPackage:
    name: str
    version: str
    sha256: str
    arch: str


@frozen
class ManifestPath:
    path: str
    mode: int
    slices: tuple[str, ...]
    sha256: str = ""
    final_sha256: str = ""
    size: int = 0
    link: str = ""
    inode: int = 0


@frozen
class Manifest:
    packages: dict[str, ManifestPackage] = field(factory=dict)
    slices: frozenset[str] = frozenset()
    paths: dict[str, ManifestPath] = field(factory=dict)


def _go_json(record: dict[str, object]) -> bytes:
    """`record` as Go's json.Marshal writes a struct whose empty fields are omitempty."""
    kept = {key: value for key, value in record.items() if key == "kind" or value}
    text = json.dumps(kept, ensure_ascii=False, separators=(",", ":"))
    return text.translate(_GO_ESCAPES).encode("utf-8")


def _records(manifest: Manifest) -> list[bytes]:
    records = []
    for package in manifest.packages.values():
        records.append(
            _go_json(
                {
                    "kind": "package",
                    "name": package.name,
                    "version": package.version,
                    "sha256": package.sha256,
                    "arch": package.arch,
                }
            )
        )
    for name in manifest.slices:
        records.append(_go_json({"kind": "slice", "name": name}))
    for entry in manifest.paths.values():
        records.append(
            _go_json(
                {
                    "kind": "path",
                    "path": entry.path,
                    "mode": f"0{entry.mode:o}",
                    "slices": list(entry.slices),
                    "sha256": entry.sha256,
                    "final_sha256": entry.final_sha256,
                    "size": entry.size,
                    "link": entry.link,
                    "inode": entry.inode,
                }
            )
        )
        for name in entry.slices:
            records.append(_go_json({"kind": "content", "slice": name, "path": entry.path}))
    return records


def encode(manifest: Manifest) -> bytes:
    """The compressed manifest.wall bytes; deterministic for a given manifest."""
    records = sorted(_records(manifest))
    header = json.dumps(
        {"jsonwall": JSONWALL_VERSION, "schema": SCHEMA, "count": len(records) + 1}, separators=(",", ":")
    ).encode()
    text = b"".join(line + b"\n" for line in [header, *records])
    return zstandard.ZstdCompressor(level=3).compress(text)


def _renumber(paths: Iterable[ManifestPath]) -> dict[str, ManifestPath]:
    """Hard-link groups numbered 1..N in their existing order, groups of one dropped."""
    entries = sorted(paths, key=lambda entry: entry.path)
    sizes: dict[int, int] = {}
    for entry in entries:
        if entry.inode:
            sizes[entry.inode] = sizes.get(entry.inode, 0) + 1
    numbers = {old: new for new, old in enumerate(sorted(k for k, n in sizes.items() if n > 1), start=1)}
    return {entry.path: evolve(entry, inode=numbers.get(entry.inode, 0)) for entry in entries}


def _check_package(package: ManifestPackage) -> None:
    if not package.name:
        raise ValueError("package name not set")
    for field_name in ("arch", "sha256", "version"):
        if not getattr(package, field_name):
            raise ValueError(f'package "{package.name}" missing {field_name}')


def _check_slices(manifest: Manifest) -> None:
    for name in sorted(manifest.slices):
        key = SliceKey.parse(name)
        if key is None:
            raise ValueError(f'invalid slice name "{name}"')
        if key.package not in manifest.packages:
            raise ValueError(f'slice {name} refers to missing package "{key.package}"')


def _path_entry(entry: Entry, is_manifest: bool) -> ManifestPath:
    """The record of one report entry, refusing fields its kind cannot have."""
    if entry.kind not in ("file", "dir", "symlink"):
        raise ValueError(f"unsupported file type: {entry.path}")
    if not entry.slices:
        raise ValueError(f'path "{entry.path}" has no slices')
    if (entry.kind == "dir") != entry.path.endswith("/"):
        raise ValueError(f'path "{entry.path}" is a {entry.kind} but only directories end in /')
    final = entry.final_sha256 if entry.final_sha256 != entry.sha256 else ""
    # Reads "<name> set for <kind>" in the error.
    invalid: dict[str, object] = {
        "link": entry.kind == "dir" and entry.link,
        "link not": entry.kind == "symlink" and not entry.link,
    }
    if entry.kind != "file":
        invalid |= {"sha256": entry.sha256, "final_sha256": final, "size": entry.size}
    for name, value in invalid.items():
        if value:
            raise ValueError(f'path "{entry.path}" has invalid options: {name} set for {entry.kind}')
    if is_manifest:
        return ManifestPath(entry.path, entry.mode & _RECORDED_MODE, tuple(sorted(entry.slices)))
    return ManifestPath(
        entry.path,
        entry.mode & _RECORDED_MODE,
        tuple(sorted(entry.slices)),
        entry.sha256,
        final,
        entry.size,
        entry.link,
        entry.inode,
    )


def _check_hard_links(paths: dict[str, ManifestPath]) -> None:
    groups: dict[int, list[ManifestPath]] = {}
    for entry in paths.values():
        if entry.inode:
            groups.setdefault(entry.inode, []).append(entry)
    for members in groups.values():
        first = members[0]
        for other in members[1:]:
            if (other.mode, other.sha256, other.final_sha256, other.size, other.link) != (
                first.mode,
                first.sha256,
                first.final_sha256,
                first.size,
                first.link,
            ):
                raise ValueError(f'hard linked paths "{first.path}" and "{other.path}" have diverging contents')


def collect(packages: list[ManifestPackage], slices: list[str], report: Report, manifest_paths: list[str]) -> Manifest:
    """The manifest of a cut, checked as chisel checks it before writing.

    `manifest_paths` must be in `report` (owned by the slices that generate
    them); paths removed by `until` must already be gone from it.
    """
    try:
        for package in packages:
            _check_package(package)
        manifest = Manifest({package.name: package for package in packages}, frozenset(slices))
        _check_slices(manifest)
        missing = sorted(set(manifest_paths) - set(report.entries))
        if missing:
            raise ValueError(f"manifest path {missing[0]} is not in the report")
        generated = set(manifest_paths)
        paths = [
            _path_entry(entry, entry.path in generated)
            for entry in report.entries.values()
            if entry.listed or entry.path in generated
        ]
        for entry in paths:
            unknown = sorted(set(entry.slices) - manifest.slices)
            if unknown:
                raise ValueError(f'path "{entry.path}" refers to missing slice {unknown[0]}')
        numbered = _renumber(paths)
        _check_hard_links(numbered)
    except ValueError as error:
        raise ManifestError(f"internal error: invalid manifest: {error}") from None
    return evolve(manifest, paths=numbered)


def build_manifest(
    packages: list[ManifestPackage], slices: list[str], report: Report, manifest_paths: list[str]
) -> bytes:
    """The manifest.wall bytes for a cut; see `collect` for what it expects."""
    return encode(collect(packages, slices, report, manifest_paths))


# -- reading --------------------------------------------------------------------------


def _decompress(data: bytes) -> bytes:
    """Every zstd frame of `data`; a truncated frame is an error, not short data."""
    output = []
    while data:
        decompressor = zstandard.ZstdDecompressor().decompressobj()
        try:
            output.append(decompressor.decompress(data))
        except zstandard.ZstdError:
            raise ValueError("the data is not zstd-compressed") from None
        if not decompressor.eof:
            raise ValueError("the zstd data is truncated")
        data = decompressor.unused_data
    return b"".join(output)


def _text(record: dict[str, Any], key: str) -> str:
    value = record.get(key, "")
    if not isinstance(value, str):
        raise ValueError(f"a {record.get('kind')} record has a non-string {key}")
    return value


def _number(record: dict[str, Any], key: str) -> int:
    value = record.get(key, 0)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"a {record.get('kind')} record has an invalid {key}")
    return value


def _read_path(record: dict[str, Any]) -> ManifestPath:
    path = _text(record, "path")
    slices = record.get("slices", [])
    if not isinstance(slices, list) or not all(isinstance(name, str) for name in slices):
        raise ValueError(f"path {path} has invalid slices")
    try:
        mode = int(_text(record, "mode"), 8)
    except ValueError:
        raise ValueError(f'path {path} has invalid mode "{record.get("mode")}"') from None
    return ManifestPath(
        path,
        mode,
        tuple(sorted(slices)),
        _text(record, "sha256"),
        _text(record, "final_sha256"),
        _number(record, "size"),
        _text(record, "link"),
        _number(record, "inode"),
    )


def _parse(text: bytes) -> tuple[Manifest, dict[str, set[str]]]:
    """The manifest and its content records, from jsonwall text."""
    lines = text.split(b"\n")
    try:
        header = json.loads(lines[0])
    except ValueError:
        header = None
    if not isinstance(header, dict):
        raise ValueError("invalid database content")
    version = header.get("jsonwall")
    if not isinstance(version, str) or not version.startswith("1."):
        raise ValueError(f'unsupported database format: "{version or ""}"')
    if header.get("schema") != SCHEMA:
        raise ValueError(f'unknown schema version "{header.get("schema", "")}"')
    packages: dict[str, ManifestPackage] = {}
    slices: set[str] = set()
    paths: dict[str, ManifestPath] = {}
    contents: dict[str, set[str]] = {}
    for number, line in enumerate(lines[1:], start=2):
        if not line.startswith(b"{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise ValueError(f"line {number} is not valid JSON") from None
        kind = record.get("kind")
        if kind == "package":
            package = ManifestPackage(
                _text(record, "name"), _text(record, "version"), _text(record, "sha256"), _text(record, "arch")
            )
            packages[package.name] = package
        elif kind == "slice":
            slices.add(_text(record, "name"))
        elif kind == "path":
            entry = _read_path(record)
            paths[entry.path] = entry
        elif kind == "content":
            contents.setdefault(_text(record, "path"), set()).add(_text(record, "slice"))
    return Manifest(packages, frozenset(slices), paths), contents


def _validate(manifest: Manifest, contents: dict[str, set[str]]) -> None:
    """Chisel's rules for a manifest read back: packages complete, ownership consistent."""
    for package in manifest.packages.values():
        _check_package(package)
    _check_slices(manifest)
    for path, owners in sorted(contents.items()):
        for name in sorted(owners - manifest.slices):
            raise ValueError(f'content path "{path}" refers to missing slice {name}')
        if path not in manifest.paths:
            raise ValueError(f"content path {path} has no matching entry in paths")
    for path, entry in sorted(manifest.paths.items()):
        listed = sorted(contents.get(path, ()))
        if not listed:
            raise ValueError(f"path {path} has no matching entry in contents")
        if list(entry.slices) != listed:
            raise ValueError(f"path {path} and content have diverging slices: {list(entry.slices)} != {listed}")


def read_manifest(data: bytes, name: str = "manifest.wall") -> Manifest:
    """Decode and validate a manifest.wall; `name` says which file in errors."""
    try:
        manifest, contents = _parse(_decompress(data))
    except ValueError as error:
        raise ManifestError(f"cannot read manifest {name}: {error}") from None
    try:
        _validate(manifest, contents)
    except ValueError as error:
        raise ManifestError(f"invalid manifest {name}: {error}") from None
    return manifest


# -- extending ------------------------------------------------------------------------


_COMPARED = (
    ("mode", lambda e: f"0{e.mode:o}"),
    ("link", lambda e: e.link),
    ("size", lambda e: str(e.size)),
    ("hash", lambda e: e.final_sha256 or e.sha256),
)


def _differs(old: ManifestPath, new: ManifestPath) -> bool:
    return any(shown(old) != shown(new) for _, shown in _COMPARED)


def _same(old: ManifestPath, new: ManifestPath) -> None:
    for name, shown in _COMPARED:
        if shown(old) != shown(new):
            raise ManifestError(f"path {old.path} reported twice with diverging {name}: {shown(old)} != {shown(new)}")


def merge(existing: Manifest, cut: Manifest, replace: bool = False) -> Manifest:
    """The manifest of a root that held `existing` and received `cut` on top.

    With `replace` (a cut with --overwrite) the cut's packages and paths win
    where they differ; otherwise a difference is an error.
    """
    packages = dict(existing.packages)
    for package in cut.packages.values():
        known = packages.setdefault(package.name, package)
        if known != package and replace:
            packages[package.name] = package
        elif known != package:
            raise ManifestError(
                f"package {package.name} is {known.version} ({known.arch}) in the existing "
                f"manifest but {package.version} ({package.arch}) in this cut"
            )
    offset = max((entry.inode for entry in existing.paths.values()), default=0)
    paths = dict(existing.paths)
    for entry in cut.paths.values():
        moved = evolve(entry, inode=entry.inode + offset if entry.inode else 0)
        old = paths.get(entry.path)
        if old is None or (replace and _differs(old, entry)):
            paths[entry.path] = moved
            continue
        _same(old, entry)
        paths[entry.path] = evolve(
            old, slices=tuple(sorted(set(old.slices) | set(entry.slices))), inode=old.inode or moved.inode
        )
    return Manifest(packages, existing.slices | cut.slices, _renumber(paths.values()))
