"""YAML documents into the model: one release file, one slice definition file.

`yamldoc.py` reads each document into typed document classes (the YAML's
shape), then the functions here turn those into model objects while
enforcing every rule that a single document decides alone. Rules across
documents live in `validate.py`. Every error is a `ReleaseError` that names
the file and line.

`yamldoc` (PyYAML, cattrs) is imported only when a document is parsed: a
release loaded from the cache needs neither library, and importing them
costs a warm cut's start-up.
"""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import globs
from ..errors import ReleaseError
from .model import (
    KNOWN_ARCHES,
    SLICE_NAME,
    Archive,
    Essential,
    Generate,
    Maintenance,
    Package,
    PathInfo,
    PathKind,
    PublicKey,
    Slice,
    SliceKey,
)

if TYPE_CHECKING:
    from .yamldoc import Document, PackageDoc, PathDoc, ReleaseDoc, SliceDoc

FORMATS = ("v1", "v2", "v3")
HINT_MAX_BYTES = 40
_OTHER_SPACE = re.compile(r"[^\S ]")  # whitespace other than the ASCII space
FILENAME = re.compile(r"^([a-z0-9](?:-?[.a-z0-9+]){1,})\.yaml$")

# -- release files ------------------------------------------------------------


def parse_release(display: str, text: str) -> tuple[ReleaseDoc, Document]:
    from .yamldoc import Document, ReleaseDoc  # late: see the module docstring

    document = Document(display, text)
    data = document.load("release")
    if not isinstance(data, dict):
        raise document.error("release file must be a YAML mapping")
    release = document.structure(data, ReleaseDoc, "release")
    if release.format not in FORMATS:
        raise document.error(f'unknown format "{release.format}"', "format")
    return release, document


# The Ubuntu Pro archive kinds chisel knows; they need credentials (see `Archive.pro`).
PRO_ARCHIVES = ("fips", "fips-updates", "esm-apps", "esm-infra")


def build_archives(doc: ReleaseDoc, document: Document, user_release: bool) -> dict[str, Archive]:
    """The archives of a release file with their effective priorities."""
    archives = dict(doc.archives or {})
    if doc.v2_archives:
        if doc.format != "v1":
            raise document.error("v2-archives is obsolete since format v2", "v2-archives")
        for name, archive in doc.v2_archives.items():
            if name in archives:
                raise document.error(f'archive "{name}" defined twice', "v2-archives", name)
            archives[name] = archive
    if not archives:
        raise document.error("no archives defined", "archives")

    def section(name: str) -> str:
        return "v2-archives" if doc.v2_archives and name in doc.v2_archives else "archives"

    result: dict[str, Archive] = {}
    for name, archive in archives.items():
        where = (section(name), name)
        if archive.default and doc.format != "v1":
            raise document.error(f"archive \"{name}\" has 'default' field which is obsolete since format v2", *where)
        ignored = bool(archive.pro) and archive.pro not in PRO_ARCHIVES
        for required in ("version", "suites", "components") + (() if ignored else ("public_keys",)):
            if getattr(archive, required) is None:
                raise document.error(f'archive "{name}" missing {required.replace("_", "-")} field', *where)
        if ignored:
            continue  # As chisel does: an archive of an unknown Pro kind is left out of the release.
        if archive.url and not user_release:
            raise document.error(f'archive "{name}" names a url, which only user releases may do', *where, "url")
        for key in archive.public_keys or ():
            if key not in (doc.public_keys or {}):
                raise document.error(f'archive "{name}" refers to undefined public key "{key}"', *where, "public-keys")
        if archive.priority is not None and (archive.priority == 0 or not -1000 <= archive.priority <= 1000):
            raise document.error(
                f'archive "{name}" has invalid priority value of {archive.priority}', *where, "priority"
            )
        result[name] = Archive(
            name=name,
            version=archive.version or "",
            suites=tuple(archive.suites or ()),
            components=tuple(archive.components or ()),
            public_keys=tuple(archive.public_keys or ()),
            priority=archive.priority or 0,
            pro=archive.pro,
            default=archive.default,
            url=archive.url.rstrip("/"),
        )
    return result


def build_keys(doc: ReleaseDoc) -> dict[str, PublicKey]:
    return {name: PublicKey(name=name, armor=key.armor, id=key.id) for name, key in (doc.public_keys or {}).items()}


def _date(value: Any, field: str, document: Document) -> datetime.date | None:
    if value is None:
        return None
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value))
    except ValueError:
        raise document.error(
            f'cannot parse maintenance: expected format for "{field}" is YYYY-MM-DD', "maintenance", field
        ) from None


def build_maintenance(doc: ReleaseDoc, document: Document) -> Maintenance | None:
    block = doc.maintenance
    if block is None:
        return None
    dates = {
        field: _date(getattr(block, field.replace("-", "_")), field, document)
        for field in ("standard", "expanded", "legacy", "end-of-life")
    }
    for required in ("standard", "end-of-life"):
        if dates[required] is None:
            raise document.error(f'cannot parse maintenance: "{required}" is unset', "maintenance")
    standard, end_of_life = dates["standard"], dates["end-of-life"]
    assert standard is not None and end_of_life is not None  # both checked above
    return Maintenance(
        standard=standard,
        end_of_life=end_of_life,
        expanded=dates["expanded"],
        legacy=dates["legacy"],
    )


# -- slice definition files ---------------------------------------------------


def package_name_from_file(path: Path, display: str) -> str:
    found = FILENAME.match(path.name)
    if not found:
        raise ReleaseError(f'{display}: invalid slice definition filename: "{path.name}"')
    return found.group(1)


def parse_package(path: Path, display: str, text: str, release_format: str) -> Package:
    """One slice definition file into a `Package`, checking its own rules."""
    from .yamldoc import Document, PackageDoc, SliceDoc  # late: see the module docstring

    name = package_name_from_file(path, display)
    document = Document(display, text)
    data = document.load(f'package "{name}" slice definitions')
    if not isinstance(data, dict):
        raise document.error(f'cannot parse package "{name}" slice definitions: expected a mapping')
    doc: PackageDoc = document.structure(data, PackageDoc, f'package "{name}"')
    if doc.package != name:
        raise document.error(f"filename and 'package' field (\"{doc.package}\") disagree", "package")
    package_essential = _essentials(doc.essential, doc.v3_essential, release_format, document, name, None)
    slices: dict[str, Slice] = {}
    for slice_name, slice_doc in (doc.slices or {}).items():
        if not SLICE_NAME.match(slice_name):
            raise document.error(
                f'invalid slice name "{slice_name}" in {display} (must start with a-z, len >= 3, only a-z / 0-9 / -)',
                "slices",
                slice_name,
            )
        slices[slice_name] = _build_slice(
            name, slice_name, slice_doc or SliceDoc(), package_essential, release_format, document
        )
    return Package(
        name=name,
        path=path,
        slices=slices,
        archive=doc.archive,
        display=display,
        essential=package_essential,
        text=text,
    )


def _essentials(
    value: Any,
    v3_value: Any,
    release_format: str,
    document: Document,
    package: str,
    slice_name: str | None,
) -> tuple[Essential, ...]:
    """Read the list (v1/v2) or map (v3) form, plus the v1/v2 `v3-essential` map."""
    owner = f'package "{package}"' if slice_name is None else f"slice {package}_{slice_name}"
    keys: tuple[str, ...] = () if slice_name is None else ("slices", slice_name)
    entries: list[tuple[str, Any]] = []
    if value is not None:
        if release_format == "v3":
            if not isinstance(value, dict):
                raise document.error(f"cannot parse {owner}: essential expects a map", *keys, "essential")
            entries += list(value.items())
        else:
            if not isinstance(value, list):
                raise document.error(f"cannot parse {owner}: essential expects a list", *keys, "essential")
            entries += [(item, None) for item in value]
    if v3_value is not None:
        if release_format == "v3":
            raise document.error("v3-essential is obsolete since format v3", *keys, "v3-essential")
        if not isinstance(v3_value, dict):
            raise document.error(f"cannot parse {owner}: essential expects a map", *keys, "v3-essential")
        entries += list(v3_value.items())
    result: list[Essential] = []
    for reference, options in entries:
        key = SliceKey.parse(str(reference))
        if key is None:
            raise document.error(
                f'package "{package}" has invalid essential slice reference: "{reference}"', *keys, "essential"
            )
        arch: tuple[str, ...] = ()
        if options is not None:
            if not isinstance(options, dict):
                raise document.error(f"cannot parse {owner}: essential {reference} expects a map", *keys, "essential")
            raw_arch = options.get("arch")
            if raw_arch is not None:
                arch = (raw_arch,) if isinstance(raw_arch, str) else tuple(str(a) for a in raw_arch)
        if any(existing.key == key for existing in result):
            raise document.error(f"{owner} repeats {key} in essential fields", *keys, "essential")
        result.append(Essential(key, arch))
    return tuple(result)


def _build_slice(
    package: str,
    name: str,
    doc: SliceDoc,
    package_essential: tuple[Essential, ...],
    release_format: str,
    document: Document,
) -> Slice:
    full = f"{package}_{name}"
    own_key = SliceKey(package, name)
    own = _essentials(doc.essential, doc.v3_essential, release_format, document, package, name)
    essential = list(own)
    for inherited in package_essential:
        if inherited.key == own_key:
            continue  # a package's essentials never make a slice need itself
        if any(existing.key == inherited.key for existing in own):
            raise document.error(
                f"slice {full} repeats {inherited.key} in essential fields", "slices", name, "essential"
            )
        essential.append(inherited)
    for entry in own:
        if entry.key == own_key:
            raise document.error(
                f"cannot add slice to itself as essential {full} in {document.display}",
                "slices",
                name,
                "essential",
            )
    hint = doc.hint
    if len(hint.encode()) > HINT_MAX_BYTES or not hint.isprintable() or _OTHER_SPACE.search(hint):
        raise document.error(
            # Quoted and escaped, as chisel does, so a newline or tab in it shows.
            f"slice {full} has invalid hint {json.dumps(hint, ensure_ascii=False)} (must be len <= 40, "
            'only contain letters, numbers, symbols and " ")',
            "slices",
            name,
            "hint",
        )
    contents = {path: _build_path(full, name, path, info, document) for path, info in (doc.contents or {}).items()}
    return Slice(
        package=package, name=name, essential=tuple(essential), contents=contents, mutate=doc.mutate, hint=hint
    )


# Absolute, with no empty, `.` or `..` component; trailing slashes allowed:
# a path that cleaning (chisel's path.Clean, posixpath.normpath) leaves alone.
_CLEAN_ABSOLUTE = re.compile(r"/|(?:/(?!\.\.?(?:/|\Z))[^/]+)+/*")


# NUL, newline and the other C0 controls and DEL: no file system path or record line may hold them.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _is_clean_absolute(path: str) -> bool:
    return _CLEAN_ABSOLUTE.fullmatch(path) is not None


def _build_path(full: str, slice_name: str, path: str, doc: PathDoc | None, document: Document) -> PathInfo:
    keys = ("slices", slice_name, "contents", path)
    if _CONTROL.search(path):
        raise document.error(f"slice {full} has invalid content path: {path!r} holds a control character", *keys)
    if not _is_clean_absolute(path):
        raise document.error(f"slice {full} has invalid content path: {path}", *keys)
    if doc is None:
        # Most entries (`/path:`) name no options: a glob, or a copy of the path itself.
        return PathInfo(PathKind.GLOB) if globs.is_glob(path) else PathInfo(PathKind.COPY, info=path)
    kinds = []
    if doc.copy is not None:
        kinds.append("copy")
    if doc.make:
        kinds.append("make")
    if doc.text is not None:
        kinds.append("text")
    if doc.symlink is not None:
        kinds.append("symlink")
    if doc.generate is not None:
        kinds.append("generate")
    if len(kinds) > 1:
        raise document.error(f"conflict in slice {full} definition for path {path}: {', '.join(kinds)}", *keys)
    arch = tuple(doc.arch or ())
    for value in arch:
        if value not in KNOWN_ARCHES:
            raise document.error(f"slice {full} has invalid 'arch' for path {path}: \"{value}\"", *keys, "arch")
    if doc.until not in (None, "", "mutate"):
        raise document.error(f"slice {full} has invalid 'until' for path {path}: \"{doc.until}\"", *keys, "until")
    until = doc.until or ""

    if doc.generate is not None:
        if (
            doc.copy
            or doc.mode is not None
            or doc.mutable
            or until
            or doc.prefer
            or doc.uid is not None
            or doc.gid is not None
        ):
            raise document.error(f"slice {full} path {path} has invalid generate options", *keys)
        if not path.endswith("/**"):
            raise document.error(f"slice {full} has invalid generate path: {path} does not end with /**", *keys)
        if globs.is_glob(path[:-3]):
            raise document.error(
                f"slice {full} has invalid generate path: {path} contains wildcard characters in addition "
                "to trailing **",
                *keys,
            )
        return PathInfo(PathKind.GENERATE, info=str(doc.generate), arch=arch)

    if globs.is_glob(path):
        if kinds or doc.mode is not None or doc.mutable or doc.prefer or doc.uid is not None or doc.gid is not None:
            raise document.error(f"slice {full} path {path} has invalid wildcard options", *keys)
        return PathInfo(PathKind.GLOB, arch=arch, until=until)

    if doc.prefer is not None and doc.prefer == full.split("_")[0]:
        raise document.error(f"slice {full} cannot 'prefer' its own package for path {path}", *keys, "prefer")
    if doc.make is not None and doc.make and not path.endswith("/"):
        raise document.error(f"slice {full} path {path} must end in / for 'make' to be valid", *keys)
    for owner in ("uid", "gid"):
        value = getattr(doc, owner)
        if value is not None and not 0 <= value < 2**32 - 1:
            raise document.error(f"slice {full} has invalid '{owner}' for path {path}: {value}", *keys, owner)
    if doc.mode is not None and not 0 <= doc.mode <= 0o7777:
        raise document.error(f"slice {full} has invalid mode for path {path}: {doc.mode:o}", *keys, "mode")

    for option, named in (("symlink", doc.symlink), ("copy", doc.copy)):
        if named is not None and _CONTROL.search(named):
            raise document.error(
                f"slice {full} has invalid '{option}' for path {path}: {named!r} holds a control character",
                *keys,
                option,
            )
    if path.endswith("/") and doc.text is not None:
        raise document.error(f"slice {full} path {path} ends in / (a directory) but has text content", *keys, "text")
    if doc.make:
        kind, info = PathKind.MAKE, ""
    elif doc.text is not None:
        kind, info = PathKind.TEXT, doc.text
    elif doc.symlink is not None:
        kind, info = PathKind.SYMLINK, doc.symlink
    else:
        kind, info = PathKind.COPY, doc.copy if doc.copy is not None else path
        if globs.is_glob(info):
            raise document.error(f"when using wildcards source and target paths must match: {path}", *keys, "copy")
        if doc.copy is not None and not _is_clean_absolute(info):
            raise document.error(f"slice {full} has invalid copy source for path {path}: {info}", *keys, "copy")
    if doc.mutable and not (kind == PathKind.TEXT or (kind == PathKind.COPY and not path.endswith("/"))):
        raise document.error(f"slice {full} mutable is not a regular file: {path}", *keys, "mutable")
    return PathInfo(
        kind,
        info=info,
        mode=doc.mode,
        mutable=bool(doc.mutable),
        until=until,
        arch=arch,
        prefer=doc.prefer or "",
        uid=doc.uid,
        gid=doc.gid,
    )


def generate_kind(value: str) -> Generate | None:
    try:
        return Generate(value)
    except ValueError:
        return None
