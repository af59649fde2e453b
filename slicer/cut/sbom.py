"""An SPDX 2.3 JSON SBOM of a cut, for scanners that read SBOMs instead of images.

One SPDX package per Debian package, identified the way Syft and Grype
identify Debian packages: a `pkg:deb/debian/<name>@<version>` purl with the
architecture, the distro (`debian-12`) and, when the source package has
another name, `upstream=<source>`, which Grype matches advisories on. The
package checksum is the .deb's SHA256 that the archive signed. With a root,
every regular file a package shipped is listed with SHA1 (SPDX requires it)
and SHA256 of its final content, linked by CONTAINS.

The document is deterministic: `created` comes from the caller, else
`SOURCE_DATE_EPOCH`, else now, and `documentNamespace` is derived from a hash
of the rest of the document.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

from attrs import frozen

from .. import __version__
from ..atomic import write_bytes_atomic
from ..errors import SlicerError
from ..report import Report
from .dpkgstatus import file_digests
from .epoch import source_date_epoch

NAMESPACE_BASE = "https://spdx.org/spdxdocs/slicer"
NOASSERTION = "NOASSERTION"

_MAINTAINER = re.compile(r"^\s*(?P<name>[^<]*?)\s*(?:<(?P<email>[^>]*)>)?\s*$")
_SPDX_ID_UNSAFE = re.compile(r"[^A-Za-z0-9.-]")


@frozen
class SbomPackage:
    name: str
    version: str
    arch: str
    sha256: str  # of the .deb
    maintainer: str = ""  # the Maintainer field
    source: str = ""  # the Source field: "openssl" or "openssl (3.0.11-1)"


def _created(created: datetime.datetime | None) -> str:
    if created is None:
        if os.environ.get("SOURCE_DATE_EPOCH", "").strip():
            created = datetime.datetime.fromtimestamp(source_date_epoch(), datetime.UTC)
        else:
            created = datetime.datetime.now(datetime.UTC)
    if created.tzinfo is None:
        created = created.replace(tzinfo=datetime.UTC)
    return created.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _supplier(maintainer: str) -> str:
    """SPDX's `Person: name (email)` from a Debian `Name <email>` field."""
    found = _MAINTAINER.match(maintainer)
    if not maintainer.strip() or found is None or not found.group("name"):
        return NOASSERTION
    email = found.group("email")
    return f"Person: {found.group('name')} ({email})" if email else f"Person: {found.group('name')}"


def purl(package: SbomPackage, distro: str) -> str:
    """The package URL scanners match Debian packages by; qualifiers sorted as the spec asks."""
    qualifiers = {"arch": package.arch, "distro": distro}
    source = package.source.split("(")[0].strip()
    if source and source != package.name:
        qualifiers["upstream"] = source
    text = "&".join(f"{key}={quote(value, safe='')}" for key, value in sorted(qualifiers.items()))
    return f"pkg:deb/debian/{quote(package.name, safe='')}@{quote(package.version, safe='')}?{text}"


def _spdx_id(kind: str, text: str) -> str:
    """A valid SPDX identifier; the hash keeps names apart that differ only in unsafe characters."""
    safe = _SPDX_ID_UNSAFE.sub("-", text)
    if safe != text:
        safe += "-" + hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"SPDXRef-{kind}-{safe}"


def _files(package: SbomPackage, report: Report, root: Path) -> list[dict[str, Any]]:
    files = []
    for entry in report.files(package.name):
        sha1, sha256 = file_digests(root, entry.path, ("sha1", "sha256"))
        files.append(
            {
                "fileName": "." + entry.path,
                "SPDXID": _spdx_id("File", hashlib.sha256(entry.path.encode()).hexdigest()[:16]),
                "checksums": [
                    {"algorithm": "SHA1", "checksumValue": sha1},
                    {"algorithm": "SHA256", "checksumValue": sha256},
                ],
                "licenseConcluded": NOASSERTION,
                "copyrightText": NOASSERTION,
            }
        )
    return files


def _package(package: SbomPackage, distro: str, files: list[dict[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": package.name,
        "SPDXID": _spdx_id("Package-deb", package.name),
        "versionInfo": package.version,
        "supplier": _supplier(package.maintainer),
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": bool(files),
    }
    if files:
        sha1s = sorted(file["checksums"][0]["checksumValue"] for file in files)
        code = hashlib.sha1("".join(sha1s).encode()).hexdigest()
        document["packageVerificationCode"] = {"packageVerificationCodeValue": code}
    document.update(
        {
            "checksums": [{"algorithm": "SHA256", "checksumValue": package.sha256}],
            "licenseConcluded": NOASSERTION,
            "licenseDeclared": NOASSERTION,
            "copyrightText": NOASSERTION,
            "externalRefs": [
                {
                    "referenceCategory": "PACKAGE-MANAGER",
                    "referenceType": "purl",
                    "referenceLocator": purl(package, distro),
                }
            ],
        }
    )
    return document


def build_spdx(
    name: str,
    packages: list[SbomPackage],
    report: Report,
    created: datetime.datetime | None = None,
    *,
    distro: str,
    root: Path | None = None,
) -> dict[str, Any]:
    """The SPDX 2.3 document of a cut named `name`.

    `distro` is the purl distro qualifier (`debian-12`); with `root`, the
    files each package shipped (per `report`) are listed and hashed.
    """
    spdx_packages, spdx_files, relationships = [], [], []
    for package in sorted(packages, key=lambda package: package.name):
        files = _files(package, report, root) if root is not None else []
        spdx_package = _package(package, distro, files)
        spdx_packages.append(spdx_package)
        spdx_files.extend(files)
        relationships.append(
            {
                "spdxElementId": "SPDXRef-DOCUMENT",
                "relationshipType": "DESCRIBES",
                "relatedSpdxElement": spdx_package["SPDXID"],
            }
        )
        relationships.extend(
            {
                "spdxElementId": spdx_package["SPDXID"],
                "relationshipType": "CONTAINS",
                "relatedSpdxElement": file["SPDXID"],
            }
            for file in files
        )
    document = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": name,
        "documentNamespace": "",
        "creationInfo": {"created": _created(created), "creators": [f"Tool: slicer-{__version__}"]},
        "packages": spdx_packages,
        **({"files": spdx_files} if spdx_files else {}),
        "relationships": relationships,
    }
    digest = hashlib.sha256(spdx_bytes(document)).hexdigest()
    document["documentNamespace"] = f"{NAMESPACE_BASE}/{quote(name, safe='')}-{uuid.UUID(hex=digest[:32])}"
    return document


def spdx_bytes(document: dict[str, Any]) -> bytes:
    """The JSON text of `document`, stable for equal documents."""
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def write_spdx(document: dict[str, Any], path: Path) -> None:
    """Write `document` to `path` atomically, so a failed run leaves no half SBOM."""
    path = Path(path)
    try:
        write_bytes_atomic(path, spdx_bytes(document), mode=0o644)
    except OSError as error:
        raise SlicerError(f"cannot write the SBOM {path}: {error.strerror}") from None
