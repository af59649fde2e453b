"""What `slicer check` found: problems and skipped checks, per package, check and architecture."""

from __future__ import annotations

from typing import Any

from attrs import define, field, frozen

from ..release.model import SliceKey

CHECKS = ("style", "hints", "copyright", "paths", "libraries", "conflicts", "cut")
ARCH_CHECKS = ("copyright", "paths", "libraries", "conflicts", "cut")
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

    def to_json(self) -> dict[str, Any]:
        return {
            "release": self.release,
            "arches": list(self.arches),
            "problems": [problem.to_json() for problem in self.problems],
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
