"""`slicer check`: what a slice pull request must pass, proven against the real archive.

The house style and hints are read from the files alone (`style.py`); the
other checks need the real packages, one architecture at a time
(`archive.py`). What they find is a `CheckReport` (`report.py`).
"""

from __future__ import annotations

from pathlib import Path

from attrs import field, frozen

from ..archive import ArchiveOptions
from ..cache import Cache
from ..console import Console
from ..errors import ReleaseError, SlicerError
from ..release.load import default_release_name, load_release
from ..release.model import KNOWN_ARCHES, Package
from ..suggest import did_you_mean
from .archive import ArchiveChecks
from .report import EVERY_ARCH, CheckReport
from .style import hint_issue, review_style

DEFAULT_ARCHES = ("amd64", "arm64")


@frozen
class CheckOptions:
    release: str | None = None
    overlays: tuple[Path, ...] = ()
    arches: tuple[str, ...] = DEFAULT_ARCHES
    packages: tuple[str, ...] = ()
    archives: ArchiveOptions = field(factory=ArchiveOptions)
    fix: bool = False
    workers: int = 4


def check(options: CheckOptions, console: Console) -> CheckReport:
    """Run every check on the chosen packages (default: all) of a release."""
    arches = tuple(dict.fromkeys(options.arches)) or DEFAULT_ARCHES
    for arch in arches:
        if arch not in KNOWN_ARCHES:
            raise SlicerError(f"invalid package architecture: {arch} (known: {', '.join(KNOWN_ARCHES)})")
    try:
        release = load_release(options.release, options.overlays, Cache(options.archives.cache_dir))
    except ReleaseError as error:
        report = CheckReport(options.release or default_release_name(), arches)
        report.add("", "definitions", EVERY_ARCH, str(error))
        return report
    unknown = [name for name in options.packages if name not in release.packages]
    if unknown:
        raise SlicerError(
            f"release {release.name} has no slice definitions for "
            + ", ".join(f'package "{name}"' + did_you_mean(name, release.packages) for name in unknown)
        )
    report = CheckReport(release.name, arches, list(dict.fromkeys(options.packages)) or sorted(release.packages))
    for name in report.packages:
        package = release.packages[name]
        report.files[name] = (package.display or str(package.path), package.text)
        _check_style(package, options.fix, report)
        _check_hints(release.packages[name], report)
        if "copyright" not in release.packages[name].slices:
            report.add(name, "copyright", EVERY_ARCH, f'package "{name}" has no copyright slice')
    for arch in arches:
        ArchiveChecks(release, arch, report, options.archives, options.workers, console).run()
    return report


def _check_style(package: Package, fix: bool, report: CheckReport) -> None:
    display = package.display or str(package.path)
    style = review_style(display, package.text)
    if fix and style.fixed is not None:
        package.path.write_text(style.fixed)
        report.fixed.append(str(package.path))
        style = review_style(display, style.fixed)
    for issue in style.issues:
        report.add(package.name, "style", EVERY_ARCH, issue)


def _check_hints(package: Package, report: CheckReport) -> None:
    for slice_ in package.slices.values():
        reason = hint_issue(slice_.hint)
        if reason:
            report.add(
                package.name, "hints", EVERY_ARCH, f'slice {slice_.key} hint "{slice_.hint}" {reason}', slice_.key
            )
