"""Package records belong with the OS identity that tells scanners whose packages they are.

A root whose `generate: dpkg-status` records list Debian packages is read by
vulnerability scanners, which take the distribution and its version from
`/etc/os-release` and `/etc/debian_version`. Without those files trivy finds
no operating system and reports every package as `pkg:none/...`, so nothing
is matched against Debian's advisories, while the root looks scanned.
Distroless images always carry both. A selection that writes records must
therefore also list both identity files; `slicer check` applies this to the
essential closure of every slice.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..globs import match
from ..release.model import Generate, PathKind, Release, Slice
from ..release.schema import generate_kind

IDENTITY_PATHS = ("/etc/debian_version", "/etc/os-release")


def writes_records(slice_: Slice, arch: str) -> bool:
    """Whether the slice generates dpkg records on `arch`."""
    return any(
        info.kind is PathKind.GENERATE and generate_kind(info.info) is Generate.DPKG_STATUS and info.applies_to(arch)
        for info in slice_.contents.values()
    )


def _ships(slice_: Slice, path: str, arch: str) -> bool:
    """Whether the slice leaves `path` in the root on `arch` (listed or matched by a glob, and kept)."""
    return any(
        info.kind is not PathKind.GENERATE and info.applies_to(arch) and info.until != "mutate" and match(listed, path)
        for listed, info in slice_.contents.items()
    )


def missing_identity(slices: Iterable[Slice], arch: str) -> list[str]:
    """The identity files a selection that writes records leaves out; empty when it writes none."""
    chosen = list(slices)
    if not any(writes_records(slice_, arch) for slice_ in chosen):
        return []
    return [path for path in IDENTITY_PATHS if not any(_ships(slice_, path, arch) for slice_ in chosen)]


def identity_slices(release: Release, arch: str) -> list[str]:
    """The release's slices that ship every identity file themselves, to suggest as an essential."""
    return [
        str(slice_.key)
        for package in release.packages.values()
        for slice_ in package.slices.values()
        if all(_ships(slice_, path, arch) for path in IDENTITY_PATHS)
    ]
