"""What a cut takes from each package: literal paths (and where they land), globs, and the
directories wanted only as parents of inline content; per package, in selection order."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from attrs import define, field

from ..globs import is_glob
from ..release.model import PathInfo, PathKind, Slice
from ..release.selection import Selection


@define
class Target:
    """Where one package path lands, for which slices."""

    path: str
    slices: set[str]
    uid: int | None = None
    gid: int | None = None
    # False for a directory wanted only as the parent of inline content.
    listed: bool = True


@define
class PackagePlan:
    package: str
    # Path in the package -> where it goes (several targets with `copy:`).
    literals: dict[str, list[Target]] = field(factory=dict)
    # Directories taken only if the package ships them: parents of inline content.
    optional: set[str] = field(factory=set)
    # Glob -> the slices listing it.
    globs: dict[str, set[str]] = field(factory=dict)
    # Paths another selected package provides under `prefer`.
    excluded: frozenset[str] = frozenset()

    def add(self, source: str, target: Target) -> None:
        for known in self.literals.setdefault(source, []):
            if known.path == target.path:
                known.slices |= target.slices
                return
        self.literals[source].append(target)

    def wants(self) -> bool:
        return bool(self.literals or self.optional or self.globs)


def parent_dir(path: str) -> str:
    parent = posixpath.dirname(path.rstrip("/"))
    return parent if parent == "/" else parent + "/"


def _loses(selection: Selection, path: str, package: str) -> bool:
    winner = selection.winner(path)
    return winner is not None and winner != package


def applicable(selection: Selection) -> Iterator[tuple[Slice, str, PathInfo]]:
    """Each path of each selected slice that this arch and `prefer` leave to its package."""
    for slice_ in selection.slices:
        for path, info in slice_.contents.items():
            if info.applies_to(selection.arch) and not _loses(selection, path, slice_.package):
                yield slice_, path, info


def plan(selection: Selection) -> dict[str, PackagePlan]:
    """What to take from each selected package, in selection order."""
    plans = {name: PackagePlan(name) for name in selection.packages}
    for slice_, path, info in applicable(selection):
        current = plans[slice_.package]
        name = str(slice_.key)
        if info.kind is PathKind.GLOB or (info.kind is PathKind.COPY and is_glob(path)):
            current.globs.setdefault(path, set()).add(name)
        elif info.kind is PathKind.COPY:
            current.add(info.info or path, Target(path, {name}, info.uid, info.gid))
        else:
            wanted = path.removesuffix("**") if info.kind is PathKind.GENERATE else parent_dir(path)
            if wanted != "/":
                current.optional.add(wanted)
    for current in plans.values():
        current.optional -= current.literals.keys()
        current.excluded = frozenset(
            path for path in selection.release.prefers if _loses(selection, path, current.package)
        )
    return plans
