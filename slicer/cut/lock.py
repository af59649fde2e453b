"""The lock file: the exact package versions and .deb hashes of a cut, to cut the same again.

`--lock FILE` writes one; `--locked FILE` cuts exactly what it names, or
fails saying which package the archive no longer offers as locked.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import cattrs
from attrs import frozen
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ..archive import ArchiveClient, PackageRecord
from ..atomic import write_bytes_atomic
from ..errors import ArchiveError, SlicerError, VerificationError
from ..release.model import Release
from ..release.selection import Selection

LOCK_FORMAT = 1


@frozen
class LockedPackage:
    version: str
    sha256: str
    archive: str
    suite: str
    filename: str
    size: int


@frozen(kw_only=True)
class LockFile:
    format: int = LOCK_FORMAT
    release: str
    arch: str
    slices: tuple[str, ...]
    packages: dict[str, LockedPackage]

    @classmethod
    def of(cls, release: Release, selection: Selection, records: dict[str, PackageRecord]) -> LockFile:
        """What a cut of `selection` used, as a lock file records it."""
        return cls(
            release=release.name,
            arch=selection.arch,
            slices=tuple(sorted(str(slice_.key) for slice_ in selection.slices)),
            packages={
                name: LockedPackage(r.version, r.sha256, r.archive, r.suite, r.filename, r.size)
                for name, r in sorted(records.items())
            },
        )


# The format number is the file's first key, `slicer-lock`.
_converter = cattrs.Converter()
_converter.register_structure_hook(
    LockFile, make_dict_structure_fn(LockFile, _converter, format=override(rename="slicer-lock"))
)
_converter.register_unstructure_hook(
    LockFile, make_dict_unstructure_fn(LockFile, _converter, format=override(rename="slicer-lock"))
)


def lock_bytes(lock: LockFile) -> bytes:
    return (json.dumps(_converter.unstructure(lock), indent=2) + "\n").encode()


def write_lock(path: Path, lock: LockFile) -> None:
    write_bytes_atomic(path, lock_bytes(lock), mode=0o644)


def read_lock(path: Path) -> LockFile:
    """The lock file at `path`, or one sentence saying why it is not one."""
    try:
        data = json.loads(path.read_text())
    except OSError as error:
        raise SlicerError(f"cannot read lock file {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise SlicerError(f"cannot read lock file {path}: it is not JSON ({error})") from None
    if not isinstance(data, dict):
        raise SlicerError(f"cannot read lock file {path}: it is not a JSON object")
    try:
        return _converter.structure(data, LockFile)
    except cattrs.BaseValidationError as error:
        reasons = "; ".join(cattrs.transform_error(error, path="lock"))
        raise SlicerError(f"cannot read lock file {path}: {reasons}") from None


def locked_records(
    path: Path, release: Release, selection: Selection, needed: Iterable[str], client: ArchiveClient
) -> dict[str, PackageRecord]:
    """Exactly the versions and .deb hashes a lock file names, or a clear error."""
    lock = read_lock(path)
    if lock.arch != selection.arch:
        raise SlicerError(f"lock file {path} is for {lock.arch}, not {selection.arch}")
    if lock.release != release.name:
        raise SlicerError(f"lock file {path} is for release {lock.release}, not {release.name}")
    absent = [name for name in needed if name not in lock.packages]
    if absent:
        raise SlicerError(f"lock file {path} has no entry for {', '.join(absent)}; cut with --lock to update it")
    records = {}
    for name in needed:
        entry = lock.packages[name]
        try:
            record = client.find(name, entry.version)
        except ArchiveError as error:
            raise ArchiveError(f"lock file {path} asks for {name} {entry.version}: {error}") from None
        if record.sha256 != entry.sha256:
            raise VerificationError(
                f"lock file {path} asks for {name} {entry.version} with SHA-256 {entry.sha256}, "
                f"but the archive offers {record.sha256}"
            )
        records[name] = record
    return records
