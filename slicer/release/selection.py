"""Which slices a cut installs, in which order, and who wins a `prefer`d path.

Pure functions over a validated `Release`: the transitive closure of the
requested slices through `essential` (skipping essentials for other
architectures), ordered dependencies first and deterministically, and the
per-path winner among the selected packages.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from attrs import field, frozen

from ..errors import SelectionError
from ..suggest import did_you_mean
from .model import KNOWN_ARCHES, PathKind, Release, Slice, SliceKey
from .schema import generate_kind


@frozen
class Selection:
    release: Release
    arch: str
    slices: tuple[Slice, ...]
    packages: tuple[str, ...] = field(init=False)

    @packages.default
    def _packages(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(slice_.package for slice_ in self.slices))

    def fetched(self) -> list[str]:
        """The packages a cut resolves and records: every selected one (as chisel records a package
        whose slices only create content), except one whose selected slices all list paths and
        none for this architecture, so a package Debian builds for some architectures only is
        not looked for on the others."""
        wanted = dict.fromkeys(
            slice_.package
            for slice_ in self.slices
            if not slice_.contents or any(info.applies_to(self.arch) for info in slice_.contents.values())
        )
        return list(wanted)

    def winner(self, path: str) -> str | None:
        """The selected package that provides `path` under `prefer`, if the path has any prefer.

        Along a prefer chain A -> B -> C the last selected package wins.
        """
        edges = self.release.prefers.get(path)
        if not edges:
            return None
        selected = set(self.packages)
        targets = set(edges.values())
        heads = [p for p in edges if p not in targets]
        current = heads[0] if heads else next(iter(edges))
        best = current if current in selected else None
        while current in edges:
            current = edges[current]
            if current in selected:
                best = current
        return best


def parse_keys(names: Iterable[str]) -> list[SliceKey]:
    keys = []
    for name in names:
        key = SliceKey.parse(name)
        if key is None:
            raise SelectionError(f'invalid slice reference: "{name}" (expected package_slice, e.g. libc6_libs)')
        keys.append(key)
    return keys


def select(release: Release, requested: Iterable[SliceKey], arch: str) -> Selection:
    """The essential closure of `requested` for `arch`, dependencies first."""
    if arch not in KNOWN_ARCHES:
        raise SelectionError(f"invalid package architecture: {arch} (known: {', '.join(KNOWN_ARCHES)})")
    order: list[Slice] = []
    state: dict[SliceKey, str] = {}  # "visiting" or "done"
    missing: list[str] = []

    def found(key: SliceKey, required_by: SliceKey | None) -> Slice | None:
        """The slice of `key`; a missing one is noted in `missing`."""
        slice_ = release.slice(key)
        if slice_ is None:
            state[key] = "done"
            if required_by is not None:
                missing.append(f"{required_by} requires {key}, but slice is missing")
            elif key.package not in release.packages:
                missing.append(
                    f'slices of package "{key.package}" not found' + did_you_mean(key.package, release.packages)
                )
            else:
                missing.append(
                    f"slice {key} not found"
                    + did_you_mean(
                        str(key), [str(other.key) for other in release.packages[key.package].slices.values()]
                    )
                )
        return slice_

    def essentials(slice_: Slice) -> Iterator[SliceKey]:
        return iter(
            [essential.key for essential in sorted(slice_.essential, key=lambda e: e.key) if essential.applies_to(arch)]
        )

    # Depth first with an explicit stack, so a chain of essentials of any length is fine.
    for start in sorted(set(requested)):
        if state.get(start) == "done":
            continue
        first = found(start, None)
        if first is None:
            continue
        state[start] = "visiting"
        work = [(first, essentials(first))]
        while work:
            slice_, pending = work[-1]
            key = next(pending, None)
            if key is None:
                work.pop()
                state[slice_.key] = "done"
                order.append(slice_)
            elif state.get(key) == "visiting":
                raise SelectionError(f"essential loop detected through {key}")
            elif state.get(key) is None:
                needed = found(key, slice_.key)
                if needed is not None:
                    state[key] = "visiting"
                    work.append((needed, essentials(needed)))
    if len(missing) == 1:
        raise SelectionError(missing[0])
    if missing:
        raise SelectionError(f"{len(missing)} slices are missing: " + "; ".join(missing))
    _check_generate(order)
    return Selection(release, arch, tuple(order))


def _check_generate(slices: list[Slice]) -> None:
    for slice_ in slices:
        for path, info in slice_.contents.items():
            if info.kind == PathKind.GENERATE and generate_kind(info.info) is None:
                raise SelectionError(f"slice {slice_.key} has invalid 'generate' for path {path}: \"{info.info}\"")
