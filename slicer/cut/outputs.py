"""Files a cut writes beside its root (`--lock`, `--sbom`): written before the commit, put in place after.

Each is written in full to a temporary file next to its target before the
root changes, so a missing folder or a full disk fails the cut while the
root still holds what it held; after the commit, a rename puts each in place.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..errors import SlicerError


class PendingOutputs:
    def __init__(self) -> None:
        self._written: list[tuple[Path, Path]] = []

    def prepare(self, option: str, path: Path, data: bytes) -> None:
        """Write `data` for `path` (given by `option`) to a temporary file beside it."""
        if path.is_dir():
            raise SlicerError(f"cannot write the {option} file {path}: it is a folder")
        try:
            fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp-")
        except OSError as error:
            raise SlicerError(f"cannot write the {option} file {path}: {error.strerror or error}") from None
        self._written.append((Path(temporary), path))
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            os.chmod(temporary, 0o644)
        except OSError as error:
            raise SlicerError(f"cannot write the {option} file {path}: {error.strerror or error}") from None

    def publish(self) -> None:
        """Put every prepared file in place."""
        for temporary, path in self._written:
            try:
                os.replace(temporary, path)
            except OSError as error:
                raise SlicerError(f"cannot write {path}: {error.strerror or error}") from None
        self._written.clear()

    def discard(self) -> None:
        for temporary, _ in self._written:
            temporary.unlink(missing_ok=True)
        self._written.clear()
