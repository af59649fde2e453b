"""The release and slice model: plain attrs classes, no I/O.

A `Release` holds archives, pinned keys, maintenance dates and the slice
definition files (`Package`) with their `Slice`s and `PathInfo`s. Instances
are built by `schema.py` from YAML and checked by `validate.py`.
"""

from __future__ import annotations

import datetime
import enum
import operator
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

import attrs
from attrs import field, frozen

from ..names import KNOWN_ARCHES as KNOWN_ARCHES  # the model's vocabulary, defined with the other names

PACKAGE_NAME = re.compile(r"^([a-z0-9](?:-?[.a-z0-9+]){1,})$")
SLICE_NAME = re.compile(r"^[a-z](?:-?[a-z0-9]){2,}$")
SLICE_REF = re.compile(r"^([a-z0-9](?:-?[.a-z0-9+]){1,})_([a-z](?:-?[a-z0-9]){2,})$")


_T = TypeVar("_T", bound=attrs.AttrsInstance)


def _pickled_as_calls(cls: type[_T]) -> type[_T]:
    """Pickle an instance as a call of its class with its field values.

    A cached release holds tens of thousands of model objects. attrs' default
    state, a dict per object applied field by field, stores a release and reads
    it back markedly slower than a tuple of values handed to the class. Reading
    one back calls only model classes, as the cache's restricted unpickler
    allows; attrs' __setstate__ goes, so a pickle that would set fields one by
    one (and could leave some unset) meets the frozen class's refusal instead.
    """
    names = [attribute.name for attribute in attrs.fields(cls)]
    # attrgetter of one name gives the value itself, not a 1-tuple.
    values = operator.attrgetter(*names) if len(names) > 1 else lambda self: (getattr(self, names[0]),)

    def __reduce__(self: _T) -> tuple[type[_T], tuple[object, ...]]:
        return cls, values(self)

    cls.__reduce__ = __reduce__  # type: ignore[method-assign, assignment]
    del cls.__getstate__, cls.__setstate__  # type: ignore[attr-defined]
    return cls


class _PickledByValue(enum.Enum):
    """Pickle a member as a call of its class with its value, as every Python version reads it
    (some 3.11 releases pickle members through `getattr`, which the cache's unpickler refuses)."""

    def __reduce_ex__(self, protocol: object) -> tuple[type[enum.Enum], tuple[object]]:
        return type(self), (self.value,)


class PathKind(_PickledByValue):
    COPY = "copy"
    GLOB = "glob"
    MAKE = "make"
    TEXT = "text"
    SYMLINK = "symlink"
    GENERATE = "generate"


class Generate(_PickledByValue):
    MANIFEST = "manifest"
    DPKG_STATUS = "dpkg-status"
    JAVA_KEYSTORE = "java-keystore"


@_pickled_as_calls
@frozen(order=True)
class SliceKey:
    """`package_slice`, the name users type."""

    package: str
    slice: str

    @classmethod
    def parse(cls, text: str) -> SliceKey | None:
        found = SLICE_REF.match(text)
        return cls(found.group(1), found.group(2)) if found else None

    def __str__(self) -> str:
        return f"{self.package}_{self.slice}"


@_pickled_as_calls
@frozen
class Essential:
    """A dependency on another slice, optionally only on some architectures."""

    key: SliceKey
    arch: tuple[str, ...] = ()

    def applies_to(self, arch: str) -> bool:
        return not self.arch or arch in self.arch


@_pickled_as_calls
@frozen
class PathInfo:
    """What a slice says about one path of its `contents`."""

    kind: PathKind
    # The copy source, the text, the symlink target or the generate value.
    info: str = ""
    mode: int | None = None
    mutable: bool = False
    until: str = ""
    arch: tuple[str, ...] = ()
    prefer: str = ""
    uid: int | None = None
    gid: int | None = None

    def applies_to(self, arch: str) -> bool:
        return not self.arch or arch in self.arch

    def same_content(self, other: PathInfo) -> bool:
        """Chisel's notion of two definitions agreeing on a path."""
        return (
            self.kind == other.kind
            and self.info == other.info
            and self.mode == other.mode
            and self.mutable == other.mutable
            and self.uid == other.uid
            and self.gid == other.gid
        )


@_pickled_as_calls
@frozen
class Slice:
    package: str
    name: str
    essential: tuple[Essential, ...] = ()
    contents: dict[str, PathInfo] = field(factory=dict)
    mutate: str = ""
    hint: str = ""

    @property
    def key(self) -> SliceKey:
        return SliceKey(self.package, self.name)


@_pickled_as_calls
@frozen
class Package:
    """One slice definition file."""

    name: str
    # The file it was read from, and how messages name it (relative to its release).
    path: Path
    slices: dict[str, Slice] = field(factory=dict)
    archive: str = ""
    display: str = ""
    # The package-level essentials, already merged into every slice.
    essential: tuple[Essential, ...] = ()
    # The raw text, kept so errors can point at a line lazily.
    text: str = field(default="", repr=False, eq=False)


@_pickled_as_calls
@frozen
class PublicKey:
    name: str
    armor: str = field(repr=False)
    id: str = ""


@_pickled_as_calls
@frozen
class Archive:
    name: str
    version: str = ""
    suites: tuple[str, ...] = ()
    components: tuple[str, ...] = ()
    public_keys: tuple[str, ...] = ()
    priority: int = 0
    pro: str = ""
    default: bool = False
    # Only user releases may name a URL; bundled ones follow the mirror rule.
    url: str = ""


@_pickled_as_calls
@frozen
class Maintenance:
    standard: datetime.date
    end_of_life: datetime.date
    expanded: datetime.date | None = None
    legacy: datetime.date | None = None

    def state(self, today: datetime.date) -> str:
        """Where the release stands on `today`.

        `supported` until regular security support ends (`expanded`, or
        `end-of-life` when unset), then `lts` until `end-of-life`, then
        `legacy` while `legacy` allows, else `end-of-life`.
        """
        if today < self.standard:
            return "unstable"
        if today < (self.expanded or self.end_of_life):
            return "supported"
        if today < self.end_of_life:
            return "lts"
        if self.legacy and today < self.legacy:
            return "legacy"
        return "end-of-life"


@_pickled_as_calls
@frozen
class Release:
    """A validated set of archives and slice definitions."""

    path: Path
    format: str
    archives: dict[str, Archive]
    public_keys: dict[str, PublicKey]
    packages: Mapping[str, Package]
    maintenance: Maintenance | None = None
    name: str = ""
    codename: str = ""
    # Whether archives share priorities and compete by version (Debian's
    # releases), rather than chisel's unique-priority rule.
    equal_priority_by_version: bool = False
    # path -> {package: preferred package} for every path in a prefer relation.
    prefers: dict[str, dict[str, str]] = field(factory=dict)
    # The digest of the files the release was read from and of the code that built it: names it in caches.
    digest: str = ""

    @property
    def file(self) -> Path:
        return self.path if self.path.is_file() else self.path / "chisel.yaml"

    def slice(self, key: SliceKey) -> Slice | None:
        package = self.packages.get(key.package)
        return package.slices.get(key.slice) if package else None
