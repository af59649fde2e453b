"""Distroless-style `/var/lib/dpkg/status.d/` entries, so scanners see the packages.

Trivy reads every file in `status.d/` (except `*.md5sums`) as a dpkg status
paragraph and each `<pkg>.md5sums` as that package's installed files; Syft and
Grype read the same layout. So for each package that put at least one regular
file in the image, slicer writes:

- `status.d/<pkg>`: the package's control paragraph (index-only fields such
  as Filename, Size and the checksums dropped) with `Status: install ok
  installed` after `Package`, as in a real dpkg database. `Source:` stays, so
  scanners match vulnerabilities on the source package (libssl3 -> openssl);
- `status.d/<pkg>.md5sums`: dpkg's format, `<md5>  <path>` with the path
  relative to `/`, sorted, listing **only the files actually shipped**, with
  the md5 of their final content (after mutate scripts).

What a partial package means for scanners: they match vulnerabilities by
package name and version, not by file, so a package appears as installed
(and gets every advisory of its source package) even when a slice shipped
only one of its libraries; packages that shipped only directories or
symlinks get no entry, which keeps them from being reported at all. The file
lists never claim files that are absent, so file-based matching (Syft's
binary cataloger, Trivy's ownership checks) stays correct. Dependency fields
are kept as the archive states them even though the image may not satisfy
them. No `/var/lib/dpkg/status` is written alongside, so no package is
counted twice.

Records stay true when a root grows: a later cut into a root that holds
records in a directory the release's slices generate adds its own packages
there, whether or not it selects the records' slice again.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from attrs import frozen

from ..errors import ArchiveError, RootError
from ..release.model import PACKAGE_NAME
from ..report import Report
from ..rootfs import resolve

STATUS = "Status: install ok installed"

# Fields a Packages index adds to the control paragraph; they describe the
# archive's copy of the .deb, not the installed package.
_INDEX_FIELDS = frozenset(
    {
        "filename",
        "size",
        "md5sum",
        "sha1",
        "sha256",
        "sha512",
        "description-md5",
        "tag",
        "phased-update-percentage",
        "status",
    }
)


@frozen
class StatusPackage:
    name: str
    stanza: str  # the control paragraph, from the Packages index or the .deb


def _field_name(line: str) -> str:
    return line.partition(":")[0].strip().lower()


def status_stanza(package: StatusPackage) -> str:
    """The status.d paragraph: control fields kept verbatim, Status added after Package."""
    if not PACKAGE_NAME.match(package.name):
        raise ArchiveError(f'"{package.name}" is not a valid Debian package name')
    lines: list[str] = []
    keep = True
    named = False
    for line in package.stanza.strip("\n").split("\n"):
        if line[:1] in (" ", "\t"):
            if keep:
                lines.append(line)
            continue
        name = _field_name(line)
        keep = name not in _INDEX_FIELDS
        if not keep:
            continue
        lines.append(line)
        if name == "package":
            if line.partition(":")[2].strip() != package.name:
                raise ArchiveError(f"the control data of package {package.name} names another package: {line}")
            lines.append(STATUS)
            named = True
    if not named:
        raise ArchiveError(f"the control data of package {package.name} has no Package field")
    return "\n".join(lines) + "\n"


def file_digests(root: Path, path: str, algorithms: tuple[str, ...]) -> list[str]:
    """Hex digests of the file at image path `path` under `root`, one per hashlib algorithm."""
    digests = [hashlib.new(name) for name in algorithms]
    try:
        with resolve(root, path, follow_last=False).open("rb") as stream:
            while chunk := stream.read(1 << 20):
                for digest in digests:
                    digest.update(chunk)
    except OSError as error:
        raise RootError(f"cannot read {path} in {root} to hash it: {error.strerror}") from None
    return [digest.hexdigest() for digest in digests]


def md5sums(root: Path, report: Report, package: str) -> str:
    """dpkg's md5sums of the regular files `package` shipped, read from `root`."""
    return "".join(
        f"{file_digests(root, entry.path, ('md5',))[0]}  {entry.path.lstrip('/')}\n" for entry in report.files(package)
    )


def status_files(packages: list[StatusPackage], report: Report, root: Path, directory: str) -> dict[str, bytes]:
    """Image path -> content of the status.d files for every package that shipped a file."""
    directory = directory.rstrip("/")
    files: dict[str, bytes] = {}
    for package in sorted(packages, key=lambda package: package.name):
        sums = md5sums(root, report, package.name)
        if not sums:
            continue
        files[f"{directory}/{package.name}"] = status_stanza(package).encode("utf-8")
        files[f"{directory}/{package.name}.md5sums"] = sums.encode("utf-8")
    return files
