"""The intent journal that makes moving a staged cut into its root atomic to a crash or kill.

`rootfs.commit` decides every change first (which staged paths move where,
which root paths they replace, which folders to create, which modes and
times to set), writes that plan next to the staging tree, and only then
changes the root. Every step of the plan can be repeated: a move whose source
is gone already happened. So a run that dies before the journal is in place
leaves the root as it was (the next run removes the staging tree), and one
that dies after leaves a journal the next run finishes: the root ends with
the old cut or the new one, never a mix.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from attrs import asdict, field, frozen

SUFFIX = ".journal"
FORMAT = 1


@frozen
class Move:
    source: str  # relative to the root, inside the staging tree
    target: str  # relative to the root
    replace: bool  # what the target holds goes first


@frozen
class Metadata:
    target: str  # relative to the root; "." is the root itself
    mode: int
    uid: int
    gid: int


@frozen
class Plan:
    moves: list[Move] = field(factory=list)
    new_dirs: list[str] = field(factory=list)
    modes: list[Metadata] = field(factory=list)
    mtimes: list[tuple[str, int]] = field(factory=list)


def path_of(staging: Path) -> Path:
    return staging.with_name(staging.name + SUFFIX)


def write(staging: Path, plan: Plan) -> Path:
    """Write the plan of committing `staging`; once the rename lands, the commit will happen."""
    path = path_of(staging)
    temporary = path.with_name(path.name + ".tmp")
    data = json.dumps({"slicer-journal": FORMAT, **asdict(plan)}, separators=(",", ":")).encode()
    with open(temporary, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    return path


def read(path: Path) -> Plan | None:
    """The plan in a journal, or None when it is unreadable (then it was never complete)."""
    try:
        data = json.loads(path.read_bytes())
        if data.get("slicer-journal") != FORMAT:
            return None
        return Plan(
            moves=[Move(**move) for move in data["moves"]],
            new_dirs=list(data["new_dirs"]),
            modes=[Metadata(**entry) for entry in data["modes"]],
            mtimes=[(target, mtime) for target, mtime in data["mtimes"]],
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def replay(root: Path, plan: Plan) -> None:
    """Carry out `plan` in `root`; what an earlier, interrupted run did already is skipped."""
    base = os.fspath(root)

    def host(relative: str) -> str:
        return os.path.normpath(os.path.join(base, relative))

    for move in plan.moves:
        if move.replace and os.path.lexists(host(move.source)) and os.path.lexists(host(move.target)):
            _remove(host(move.target))
    for target in plan.new_dirs:
        os.makedirs(host(target), exist_ok=True)
    for move in plan.moves:
        if os.path.lexists(host(move.source)):
            os.makedirs(os.path.dirname(host(move.target)), exist_ok=True)
            os.rename(host(move.source), host(move.target))
    as_root = os.geteuid() == 0
    for entry in plan.modes:
        if as_root:
            os.chown(host(entry.target), entry.uid, entry.gid)
        os.chmod(host(entry.target), entry.mode)
    for target, mtime in plan.mtimes:
        os.utime(host(target), ns=(mtime, mtime))
