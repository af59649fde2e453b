"""Write a file whole or not at all: into a temporary file beside it, then renamed over it.

Readers see the old file or the complete new one, never a part, and a
failure leaves no temporary file behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def write_atomic(directory: Path, prefix: str, write: Callable[[BinaryIO], Path], mode: int | None = None) -> Path:
    """Run `write` on a new temporary file in `directory`, then rename the file to the path `write` returns.

    `write` may raise to refuse what it wrote (a hash that does not match);
    the temporary file is then removed. `mode` replaces the private 0600 of
    the temporary file.
    """
    fd, name = tempfile.mkstemp(dir=directory, prefix=prefix)
    temporary = Path(name)
    try:
        with os.fdopen(fd, "wb") as file:
            target = write(file)
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return target


def write_bytes_atomic(path: Path, data: bytes, mode: int | None = None) -> None:
    """Replace `path` with `data` in one step."""

    def write(file: BinaryIO) -> Path:
        file.write(data)
        return path

    write_atomic(path.parent, f".{path.name}.", write, mode)
