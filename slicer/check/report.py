"""What `slicer check` found: problems and skipped checks, per package, check and architecture."""

from __future__ import annotations

import re
from typing import Any

from attrs import define, field, frozen

from ..release.model import SliceKey

CHECKS = ("style", "hints", "copyright", "paths", "libraries", "conflicts", "records", "cut")
ARCH_CHECKS = ("copyright", "paths", "libraries", "conflicts", "records", "cut")
EVERY_ARCH = "all"


@frozen
class Problem:
    package: str
    check: str
    arch: str
    message: str
    slice: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "package": self.package,
            "slice": self.slice,
            "check": self.check,
            "arch": self.arch,
            "message": self.message,
        }


@define
class CheckReport:
    release: str
    arches: tuple[str, ...]
    packages: list[str] = field(factory=list)
    problems: list[Problem] = field(factory=list)
    # (package, check, arch) -> why the check did not run.
    skipped: dict[tuple[str, str, str], str] = field(factory=dict)
    # Files --fix rewrote.
    fixed: list[str] = field(factory=list)
    # Package -> (its file as shown, its text): where problems are annotated.
    files: dict[str, tuple[str, str]] = field(factory=dict)

    def add(self, package: str, check: str, arch: str, message: str, slice_: SliceKey | None = None) -> None:
        self.problems.append(Problem(package, check, arch, message, str(slice_) if slice_ else ""))

    def rows(self, package: str) -> list[tuple[str, str, str, list[str]]]:
        """(check, arch, "ok" | "problems" | "skipped", messages) for one package."""
        rows = []
        for check in CHECKS:
            for arch in self.arches if check in ARCH_CHECKS else (EVERY_ARCH,):
                found = [p.message for p in self.problems if (p.package, p.check, p.arch) == (package, check, arch)]
                reason = self.skipped.get((package, check, arch))
                if found:
                    rows.append((check, arch, "problems", found))
                elif reason:
                    rows.append((check, arch, "skipped", [reason]))
                else:
                    rows.append((check, arch, "ok", []))
        return rows

    def location(self, problem: Problem) -> dict[str, Any]:
        """`file`, `line` and `severity` of a problem, for a CI system's annotations.

        The line is the one the message names (a style issue's `file:line:`), else the
        first path of the message that is a key of the file, else the slice's key, else 1.
        """
        display, text = self.files.get(problem.package, ("", ""))
        if not display:
            return {"file": "", "line": 0, "severity": "error"}
        lines = text.splitlines()
        named = re.match(rf"{re.escape(display)}:(\d+):", problem.message)
        line = int(named.group(1)) if named else 0
        for token in [] if line else re.findall(r"/[^\s,;:()\"]*", problem.message):
            line = next((number for number, row in enumerate(lines, 1) if row.strip().startswith(f"{token}:")), 0)
            if line:
                break
        if not line and problem.slice:
            name = problem.slice.split("_", 1)[1]
            line = next((number for number, row in enumerate(lines, 1) if row.startswith(f"  {name}:")), 0)
        return {"file": display, "line": line or 1, "severity": "error"}

    def to_json(self) -> dict[str, Any]:
        return {
            "release": self.release,
            "arches": list(self.arches),
            "problems": [{**problem.to_json(), **self.location(problem)} for problem in self.problems],
            "packages": {package: [_row_json(*row) for row in self.rows(package)] for package in self.packages},
            "fixed": self.fixed,
        }


def _row_json(check: str, arch: str, result: str, messages: list[str]) -> dict[str, Any]:
    row: dict[str, Any] = {"check": check, "arch": arch, "result": result}
    if result == "problems":
        row["problems"] = messages
    elif result == "skipped":
        row["reason"] = messages[0]
    return row
