"""Image spec files (`image.yaml`): what `slicer image -f` builds.

Read with the slice files' YAML loader, so errors name `file:line`. Every
field is optional; command-line flags override scalars and extend lists and
maps. Relative `add` sources are relative to the spec file's folder.

    release: debian-12
    archs: [amd64, arm64]
    slices: [base-files_base, base-passwd_nonroot, libc6_libs]
    user: "65532"
    workdir: /home/nonroot
    entrypoint: [/app/server]
    env: {LANG: C.UTF-8}
    labels: {org.opencontainers.image.source: https://example.org/app}
    add:
      - {source: build/server, dest: /app/server, mode: 0755}
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from attrs import define, field, frozen

from ..errors import ImageError, ReleaseError
from ..release.yamldoc import Arches, Document, StrList

COMPRESSIONS = ("gzip", "zstd")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@define
class AddDoc:
    source: str
    dest: str
    mode: int | None = None
    uid: int = 0
    gid: int = 0


@define
class SpecDoc:
    release: str | None = None
    archs: Arches | None = None
    slices: StrList | None = None
    user: str | None = None
    entrypoint: StrList | None = None
    cmd: StrList | None = None
    env: dict[str, str] = field(factory=dict)
    workdir: str | None = None
    labels: dict[str, str] = field(factory=dict)
    annotations: dict[str, str] = field(factory=dict)
    add: list[AddDoc] = field(factory=list)
    compression: str | None = None
    tag: str | None = None


@frozen
class AddFile:
    """`--add SRC:DEST[:MODE[:UID:GID]]`: host files put in a layer of their own.

    `{arch}` in the source is replaced by each architecture's name, for
    programs (or Python packages with compiled parts) built per architecture.
    """

    source: Path
    dest: str
    mode: int | None = None
    uid: int = 0
    gid: int = 0

    def for_arch(self, arch: str) -> AddFile:
        return AddFile(Path(str(self.source).replace("{arch}", arch)), self.dest, self.mode, self.uid, self.gid)


def check_add(item: AddFile, where: str, archs: tuple[str, ...] = ()) -> AddFile:
    """`item`, checked (for each of `archs` when its source names `{arch}`)."""
    if "{arch}" in str(item.source):
        for arch in archs:
            check_add(item.for_arch(arch), where)
        return item
    if not item.dest.startswith("/"):
        raise ImageError(f"{where}: the destination {item.dest!r} must be an absolute path in the image")
    if any(part == ".." for part in item.dest.split("/")):
        raise ImageError(f"{where}: the destination {item.dest!r} must not contain '..'")
    if item.mode is not None and not 0 <= item.mode <= 0o7777:
        raise ImageError(f"{where}: mode {item.mode:o} is not a file mode")
    if not (0 <= item.uid < 1 << 31 and 0 <= item.gid < 1 << 31):
        raise ImageError(f"{where}: uid and gid must be numbers from 0 to 2147483647")
    if not item.source.exists() and not item.source.is_symlink():
        raise ImageError(f"{where}: {item.source} does not exist")
    return item


def parse_add(value: str) -> AddFile:
    """`SRC:DEST[:MODE[:UID:GID]]`, MODE in octal."""
    parts = value.split(":")
    if len(parts) not in (2, 3, 5) or not parts[0] or not parts[1]:
        raise ImageError(f"--add expects SRC:DEST[:MODE[:UID:GID]], got {value!r}")
    try:
        mode = int(parts[2], 8) if len(parts) > 2 and parts[2] else None
        uid, gid = (int(parts[3]), int(parts[4])) if len(parts) == 5 else (0, 0)
    except ValueError:
        raise ImageError(f"--add {value!r}: MODE is octal (0755) and UID:GID are numbers") from None
    dest = posixpath.normpath(parts[1]) + ("/" if parts[1].endswith("/") and parts[1] != "/" else "")
    return check_add(AddFile(Path(parts[0]), dest, mode, uid, gid), f"--add {value}")


def parse_pairs(values: list[str], flag: str) -> dict[str, str]:
    """`K=V` flags (`--env`, `--label`, `--annotation`) into a map, later ones winning."""
    pairs = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise ImageError(f"{flag} expects KEY=VALUE, got {value!r}")
        pairs[key] = rest
    return pairs


@frozen
class ImageSpec:
    """A spec file, checked: every field the command line may also give."""

    path: Path | None = None
    release: str | None = None
    archs: tuple[str, ...] = ()
    slices: tuple[str, ...] = ()
    user: str | None = None
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    env: dict[str, str] = field(factory=dict)
    workdir: str | None = None
    labels: dict[str, str] = field(factory=dict)
    annotations: dict[str, str] = field(factory=dict)
    add: tuple[AddFile, ...] = ()
    compression: str | None = None
    tag: str | None = None


def load_spec(path: Path) -> ImageSpec:
    try:
        text = path.read_text()
    except OSError as error:
        raise ImageError(f"cannot read image spec {path}: {error.strerror or error}") from None
    document = Document(str(path), text)
    try:
        data = document.load("image spec")
        if not isinstance(data, dict):
            raise document.error("an image spec is a map of fields (release, archs, slices, ...)")
        doc: SpecDoc = document.structure(data, SpecDoc, "image spec")
    except ReleaseError as error:
        raise ImageError(str(error)) from None
    for key in doc.env:
        if not _KEY.match(key):
            raise ImageError(str(document.error(f"env: {key!r} is not a variable name", "env", key)))
    if doc.compression is not None and doc.compression not in COMPRESSIONS:
        raise ImageError(str(document.error(f"compression must be one of {', '.join(COMPRESSIONS)}", "compression")))
    added = []
    for number, item in enumerate(doc.add):
        source = Path(item.source)
        if not source.is_absolute():
            source = path.parent / source
        where = str(document.error("", "add")).rstrip(": ") + f" (item {number + 1})"
        added.append(check_add(AddFile(source, item.dest, item.mode, item.uid, item.gid), where))
    return ImageSpec(
        path=path,
        release=doc.release,
        archs=tuple(doc.archs or ()),
        slices=tuple(doc.slices or ()),
        user=doc.user,
        entrypoint=tuple(doc.entrypoint) if doc.entrypoint is not None else None,
        cmd=tuple(doc.cmd) if doc.cmd is not None else None,
        env=dict(doc.env),
        workdir=doc.workdir,
        labels=dict(doc.labels),
        annotations=dict(doc.annotations),
        add=tuple(added),
        compression=doc.compression,
        tag=doc.tag,
    )
