"""Rules that span several documents of a release.

Each function enforces one family of chisel's rules (reference/chisel.md
§2-4) and raises a `ReleaseError` naming the file and line at fault:
archive priorities and pins, pinned key ids, essentials (missing slices and
loops), `prefer` relationships, and path conflicts between slices.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs
from attrs import frozen

from ..errors import ReleaseError
from .model import Archive, Package, PathInfo, PathKind, PublicKey, Release, Slice
from .pathindex import PathIndex
from .yamldoc import Document, locate


def _where(package: Package, *keys: str) -> str:
    line = locate(package.text, keys) if package.text else None
    display = package.display or package.path.as_posix()
    return f"{display}:{line}" if line else display


def slice_error(package: Package, slice_name: str, path: str | None, message: str) -> ReleaseError:
    keys = ("slices", slice_name, "contents", path) if path else ("slices", slice_name)
    return ReleaseError(f"{_where(package, *keys)}: {message}")


# -- archives and keys ----------------------------------------------------------


def archive_priorities(
    archives: dict[str, Archive], declared: int, document: Document, by_version: bool
) -> dict[str, Archive]:
    """Effective priorities by chisel's rules (explicit, v1 `default`, or a lone archive).

    `declared` counts the archives the file names, those left out of `archives` (an unknown
    Pro kind) included: several need priorities even when only one is kept.
    """
    with_priority = [a for a in archives.values() if a.priority != 0]
    if with_priority:
        for archive in archives.values():
            if archive.priority == 0:
                raise document.error(
                    f'archive "{archive.name}" is missing the priority setting', "archives", archive.name
                )
        if not by_version:
            seen: dict[int, str] = {}
            for name in sorted(archives):
                priority = archives[name].priority
                if priority in seen:
                    raise document.error(
                        f'archives "{seen[priority]}" and "{name}" have the same priority value of {priority}',
                        "archives",
                        name,
                        "priority",
                    )
                seen[priority] = name
        return archives
    defaults = sorted(name for name, archive in archives.items() if archive.default)
    if len(defaults) > 1:
        raise document.error(f"more than one default archive: {', '.join(defaults)}", "archives")
    if declared <= 1:
        return archives
    if not defaults:
        raise document.error(
            "archives need a priority each (or, in format v1, one default archive) to choose between them",
            "archives",
        )
    # Chisel's numbers: the n-th archive by name gets -n, then the default 1.
    return {
        name: attrs.evolve(archives[name], priority=1 if name == defaults[0] else -position)
        for position, name in enumerate(sorted(archives), start=1)
    }


def key_ids(keys: dict[str, PublicKey], document: Document) -> None:
    """Each pinned key's armor must decode and carry the id it claims."""
    from pysequoia import Cert

    for name, key in keys.items():
        try:
            certs = Cert.split_bytes(key.armor.encode())
        except Exception:  # pysequoia raises RuntimeError with a Rust backtrace
            certs = []
        if not certs:
            raise document.error(f'cannot decode public key "{name}": cannot decode armored data', "public-keys", name)
        actual = certs[0].fingerprint.upper()[-16:]
        if key.id and key.id.upper() != actual:
            raise document.error(
                f'public key "{name}" armor has incorrect ID: expected "{key.id}", got "{actual}"',
                "public-keys",
                name,
                "id",
            )


def archive_pins(release: Release) -> None:
    for package in release.packages.values():
        if package.archive and package.archive not in release.archives:
            raise ReleaseError(f'{_where(package, "archive")}: package refers to undefined archive "{package.archive}"')


# -- essentials -----------------------------------------------------------------


def essentials(release: Release) -> None:
    """Every essential names an existing slice, and no slice depends on itself through others."""
    for package in release.packages.values():
        for slice_ in package.slices.values():
            for essential in slice_.essential:
                if release.slice(essential.key) is None:
                    raise slice_error(
                        package, slice_.name, None, f"{slice_.key} requires {essential.key}, but slice is missing"
                    )
    # Plain strings sort and hash far faster than SliceKey objects.
    loop = find_loop(
        {
            str(slice_.key): [str(e.key) for e in slice_.essential]
            for package in release.packages.values()
            for slice_ in package.slices.values()
        }
    )
    if loop:
        raise ReleaseError(f"essential loop detected: {', '.join(loop)}")


def find_loop(graph: dict[str, list[str]]) -> list[str]:
    """The first strongly connected component with more than one node (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        # Iterative Tarjan: (node, iterator over its successors).
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            advanced = False
            for successor in successors:
                if successor not in graph:
                    continue
                if successor not in index:
                    index[successor] = low[successor] = counter
                    counter += 1
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph.get(successor, ())))))
                    advanced = True
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    return sorted(component)
    return []


# -- prefer and conflicts -------------------------------------------------------


@frozen
class _Item:
    package: Package
    slice: Slice
    path: str
    info: PathInfo

    @property
    def name(self) -> str:
        return f"{self.package.name}_{self.slice.name}"


def _items(release: Release) -> Iterable[_Item]:
    for name in sorted(release.packages):
        package = release.packages[name]
        for slice_name in sorted(package.slices):
            slice_ = package.slices[slice_name]
            for path, info in slice_.contents.items():
                yield _Item(package, slice_, path, info)


def prefers(release: Release, index: PathIndex[_Item]) -> dict[str, dict[str, str]]:
    """Check every `prefer` relationship and return path -> {package: preferred package}."""
    result: dict[str, dict[str, str]] = {}
    for path, items in index.literals.items():
        edges: dict[str, str] = {}
        for item in items:
            target = item.info.prefer
            if not target:
                continue
            if target not in release.packages:
                raise slice_error(
                    item.package,
                    item.slice.name,
                    path,
                    f"slice {item.name} path {path} 'prefer' refers to undefined package \"{target}\"",
                )
            previous = edges.get(item.package.name)
            if previous and previous != target:
                raise slice_error(
                    item.package,
                    item.slice.name,
                    path,
                    f'package "{item.package.name}" has conflicting prefers for {path}: {previous} != {target}',
                )
            edges[item.package.name] = target
        if not edges:
            continue
        providers = {item.package.name for item in items}
        for source, target in sorted(edges.items()):
            if target not in providers:
                item = next(i for i in items if i.package.name == source and i.info.prefer)
                raise slice_error(
                    item.package,
                    item.slice.name,
                    path,
                    f'package {source} prefers package "{target}" which does not contain path {path}',
                )
        targets: dict[str, str] = {}
        for source, target in sorted(edges.items()):
            if target in targets:
                item = next(i for i in items if i.package.name == source and i.info.prefer)
                raise slice_error(
                    item.package,
                    item.slice.name,
                    path,
                    f'packages "{targets[target]}" and "{source}" cannot both prefer "{target}" for {path}',
                )
            targets[target] = source
        for source in sorted(edges):
            seen = {source}
            current = source
            while current in edges:
                current = edges[current]
                if current in seen:
                    item = next(i for i in items if i.package.name == source and i.info.prefer)
                    raise slice_error(
                        item.package, item.slice.name, path, f'package "{source}" is part of a prefer loop on {path}'
                    )
                seen.add(current)
        # Every provider must sit on the one chain the edges make.
        heads = sorted(p for p in providers if p not in targets)
        if len(heads) > 1:
            first, second = heads[0], heads[1]
            item = next(i for i in items if i.package.name == second)
            raise slice_error(
                item.package,
                item.slice.name,
                path,
                f'package "{first}" and "{second}" conflict on {path} without prefer relationship',
            )
        result[path] = edges
    return result


def _same_chain(path: str, first: str, second: str, prefer_map: dict[str, dict[str, str]]) -> bool:
    edges = prefer_map.get(path)
    if not edges:
        return False
    members = set(edges) | set(edges.values())
    return first in members and second in members


def _conflict(first: _Item, second: _Item, message_paths: str) -> ReleaseError:
    low, high = sorted((first, second), key=lambda item: (item.package.name, item.slice.name))
    return slice_error(
        high.package, high.slice.name, high.path, f"slices {low.name} and {high.name} conflict on {message_paths}"
    )


def conflicts(index: PathIndex[_Item], prefer_map: dict[str, dict[str, str]]) -> None:
    """Chisel's release-wide conflict rules, comparing only candidates that share a prefix."""
    for path, items in index.literals.items():
        for position, first in enumerate(items):
            for second in items[position + 1 :]:
                if first.info.kind == PathKind.GENERATE or second.info.kind == PathKind.GENERATE:
                    continue  # handled with globs below
                same = first.info.same_content(second.info)
                extracted = first.info.kind == PathKind.COPY
                if same and not (extracted and first.package.name != second.package.name):
                    continue
                if _same_chain(path, first.package.name, second.package.name, prefer_map):
                    continue
                raise _conflict(first, second, path)
    for pattern, pattern_items in index.patterns.items():

        def clashing(other_path: str, pattern: str = pattern, pattern_items: list[_Item] = pattern_items) -> bool:
            """Whether `other_path` would conflict with `pattern` if they overlap: asked first, as
            most candidates belong to the glob's own package and testing an overlap costs more."""
            return other_path != pattern and any(
                not _may_overlap(glob_item, other)
                for glob_item in pattern_items
                for other in index.items_at(other_path)
            )

        for other_path in index.matches(pattern, clashing):
            for glob_item in pattern_items:
                for other in index.items_at(other_path):
                    if not _may_overlap(glob_item, other):
                        raise _overlap_conflict(glob_item, other)
    # Slices naming the very same pattern never meet above. A generate path (they end
    # in /** and are patterns too) must agree with every other slice naming it; a glob
    # belongs to one package, since what two packages ship under it may differ.
    for pattern, pattern_items in index.patterns.items():
        for position, first in enumerate(pattern_items):
            for second in pattern_items[position + 1 :]:
                if PathKind.GENERATE in (first.info.kind, second.info.kind):
                    if first.info.kind == second.info.kind and first.info.same_content(second.info):
                        continue
                elif first.package.name == second.package.name:
                    continue
                raise _conflict(first, second, pattern)


def _may_overlap(glob_item: _Item, other: _Item) -> bool:
    """Paths a glob of a package may share: the package's own extracted ones."""
    kinds = (glob_item.info.kind, other.info.kind)
    return (
        PathKind.GENERATE not in kinds
        and glob_item.package.name == other.package.name
        and all(kind in (PathKind.GLOB, PathKind.COPY) for kind in kinds)
    )


def _overlap_conflict(glob_item: _Item, other: _Item) -> ReleaseError:
    low, high = sorted((glob_item, other), key=lambda item: (item.package.name, item.slice.name, item.path))
    return slice_error(
        high.package,
        high.slice.name,
        high.path,
        f"slices {low.name} and {high.name} conflict on {low.path} and {high.path}",
    )


def paths(release: Release) -> dict[str, dict[str, str]]:
    """Index every path, check prefers and conflicts, return the prefer map."""
    index: PathIndex[_Item] = PathIndex()
    for item in _items(release):
        index.add(item.path, item)
    prefer_map = prefers(release, index)
    conflicts(index, prefer_map)
    return prefer_map


def release(release_: Release) -> Release:
    """All cross-document rules; returns the release with its prefer map filled in."""
    archive_pins(release_)
    essentials(release_)
    return attrs.evolve(release_, prefers=paths(release_))
