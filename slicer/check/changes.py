"""Which packages a change to slice definition files touches (`slicer check --changed`).

A pull request changes some `<package>.yaml` files; the packages to check
are those, and every package with a slice that needs one of their slices
(through essentials, transitively), since a changed slice can break the
cut of a slice that depends on it.

The change is what git sees between a base commit and the working tree,
untracked files included. The default base is where the current branch left
the main line: the merge base of HEAD with the first of `origin/main`,
`main`, `origin/master` and `master` that exists, else HEAD itself (only
uncommitted changes).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from ..errors import SlicerError
from ..release.model import Release

MAIN_LINES = ("origin/main", "main", "origin/master", "master")


def _git(folder: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise SlicerError("--changed needs git, which is not installed") from None
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise SlicerError(f"git {' '.join(args)} in {folder}: {reason}")
    return done.stdout


def default_base(folder: Path) -> str:
    """The merge base of HEAD with the main line, or HEAD when there is no main line."""
    _git(folder, "rev-parse", "--show-toplevel")
    for line in MAIN_LINES:
        try:
            _git(folder, "rev-parse", "--verify", "--quiet", f"{line}^{{commit}}")
        except SlicerError:
            continue
        return _git(folder, "merge-base", "HEAD", line).strip()
    return "HEAD"


def changed_packages(folder: Path, base: str | None = None) -> list[str]:
    """Packages whose `<package>.yaml` under `folder` differs from `base` (or is new and untracked)."""
    base = base or default_base(folder)
    names = _git(folder, "diff", "--name-only", "--relative", base, "--", ".").splitlines()
    names += _git(folder, "ls-files", "--others", "--exclude-standard", "--", ".").splitlines()
    return sorted({Path(name).stem for name in names if name.endswith(".yaml")})


def with_dependents(release: Release, packages: list[str]) -> list[str]:
    """`packages` of the release, and every package with a slice needing one of theirs, transitively."""
    needs: dict[str, set[str]] = {}
    for package in release.packages.values():
        for slice_ in package.slices.values():
            for essential in slice_.essential:
                if essential.key.package != package.name:
                    needs.setdefault(essential.key.package, set()).add(package.name)
    found = [name for name in packages if name in release.packages]
    seen = set(found)
    for name in found:
        for dependent in sorted(needs.get(name, ())):
            if dependent not in seen:
                seen.add(dependent)
                found.append(dependent)
    return found
