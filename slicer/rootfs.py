"""The only writer under a root: every path is resolved inside it.

`resolve` walks a root-relative path one component at a time, following
symlinks as if the root were `/`: an absolute target restarts at the root and
`..` never climbs above it. So a `/var/run -> /run` link placed by a package
can never make a write land on the host.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import RootError

# Bound on symlinks followed while resolving one path, as the kernel's ELOOP.
MAX_SYMLINKS = 40


def resolve(root: Path, path: str, follow_last: bool = True) -> Path:
    """The host path that `path` (absolute, inside the image) names under `root`.

    Missing components are allowed (the result names where they would be
    created); symlinks met on the way are resolved inside `root`. With
    `follow_last` false a final symlink is returned itself, not its target.
    """
    pending = [part for part in path.split("/") if part not in ("", ".")]
    pending.reverse()
    resolved: list[str] = []
    followed = 0
    while pending:
        part = pending.pop()
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = root.joinpath(*resolved, part)
        is_last = not pending
        if (follow_last or not is_last) and candidate.is_symlink():
            followed += 1
            if followed > MAX_SYMLINKS:
                raise RootError(f"too many levels of symbolic links resolving {path} in {root}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            pending.extend(reversed([p for p in target.split("/") if p not in ("", ".")]))
            continue
        resolved.append(part)
    return root.joinpath(*resolved)
