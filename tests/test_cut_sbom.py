"""SPDX 2.3 SBOM: document structure, purls, file checksums, determinism, validation."""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from pathlib import Path

import pytest

from slicer.cut.sbom import SbomPackage, build_spdx, purl, spdx_bytes, write_spdx
from slicer.errors import SlicerError
from slicer.report import Entry, Report

LIBC6 = SbomPackage(
    "libc6", "2.36-9+deb12u7", "amd64", "a" * 64, "GNU Libc Maintainers <libc-team@example.org>", "glibc"
)
LIBSTDCXX = SbomPackage(
    "libstdc++6", "12.2.0-14", "amd64", "b" * 64, "Debian GCC Maintainers <gcc-team@example.org>", "gcc-12 (12.2.0-14)"
)
TZDATA = SbomPackage(
    "tzdata", "2024a-0+deb12u1", "all", "c" * 64, "GNU Libc Maintainers <libc-team@example.org>", "tzdata"
)
FIXED = datetime.datetime(2024, 5, 1, 12, 30, 0, tzinfo=datetime.UTC)


@pytest.fixture
def cut(tmp_path: Path) -> tuple[Path, Report]:
    """A root with two libc6 files, one libstdc++6 file, and a tzdata directory only."""
    report = Report()
    files = {
        "/usr/lib/x86_64-linux-gnu/libc.so.6": ("libc6", b"\x7fELF libc"),
        "/usr/share/doc/libc6/copyright": ("libc6", b"Format: copyright\n"),
        "/usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30": ("libstdc++6", b"\x7fELF libstdc++"),
    }
    for path, (package, data) in files.items():
        target = tmp_path / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        report.add(Entry(path, "file", 0o644, {f"{package}_libs"}, package, hashlib.sha256(data).hexdigest()))
    report.add(Entry("/usr/share/zoneinfo/", "dir", 0o755, {"tzdata_zoneinfo"}, "tzdata"))
    return tmp_path, report


def by_name(document: dict) -> dict[str, dict]:
    return {package["name"]: package for package in document["packages"]}


def test_document_has_the_required_spdx_fields(cut) -> None:
    root, report = cut
    document = build_spdx("my-image", [LIBC6, LIBSTDCXX, TZDATA], report, FIXED, distro="debian-12", root=root)
    assert document["spdxVersion"] == "SPDX-2.3"
    assert document["dataLicense"] == "CC0-1.0"
    assert document["SPDXID"] == "SPDXRef-DOCUMENT"
    assert document["name"] == "my-image"
    assert document["creationInfo"] == {"created": "2024-05-01T12:30:00Z", "creators": ["Tool: slicer-0.1.0"]}
    assert re.fullmatch(r"https://[^#]+/my-image-[0-9a-f-]{36}", document["documentNamespace"])
    for package in document["packages"]:
        assert package["downloadLocation"] == "NOASSERTION"
        assert re.fullmatch(r"SPDXRef-[A-Za-z0-9.-]+", package["SPDXID"])
    libc6 = by_name(document)["libc6"]
    assert libc6["versionInfo"] == "2.36-9+deb12u7"
    assert libc6["supplier"] == "Person: GNU Libc Maintainers (libc-team@example.org)"
    assert libc6["checksums"] == [{"algorithm": "SHA256", "checksumValue": "a" * 64}]
    assert libc6["externalRefs"] == [
        {
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": "pkg:deb/debian/libc6@2.36-9%2Bdeb12u7?arch=amd64&distro=debian-12&upstream=glibc",
        }
    ]
    describes = [r["relatedSpdxElement"] for r in document["relationships"] if r["relationshipType"] == "DESCRIBES"]
    assert sorted(describes) == sorted(package["SPDXID"] for package in document["packages"])


def test_purls() -> None:
    assert purl(TZDATA, "debian-13") == "pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=all&distro=debian-13"
    assert (
        purl(LIBSTDCXX, "debian-12")
        == "pkg:deb/debian/libstdc%2B%2B6@12.2.0-14?arch=amd64&distro=debian-12&upstream=gcc-12"
    )
    epoch = SbomPackage("python3-six", "1:1.16.0-4", "all", "d" * 64)
    assert purl(epoch, "debian-12") == "pkg:deb/debian/python3-six@1%3A1.16.0-4?arch=all&distro=debian-12"


def test_files_carry_final_checksums_and_containment(cut) -> None:
    root, report = cut
    (root / "usr/share/doc/libc6/copyright").write_bytes(b"changed after extraction\n")
    document = build_spdx("img", [LIBC6, LIBSTDCXX, TZDATA], report, FIXED, distro="debian-12", root=root)
    files = {file["fileName"]: file for file in document["files"]}
    assert sorted(files) == [
        "./usr/lib/x86_64-linux-gnu/libc.so.6",
        "./usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30",
        "./usr/share/doc/libc6/copyright",
    ]
    copyright_ = files["./usr/share/doc/libc6/copyright"]
    assert copyright_["checksums"] == [
        {"algorithm": "SHA1", "checksumValue": hashlib.sha1(b"changed after extraction\n").hexdigest()},
        {"algorithm": "SHA256", "checksumValue": hashlib.sha256(b"changed after extraction\n").hexdigest()},
    ]
    packages = by_name(document)
    contains = {
        (r["spdxElementId"], r["relatedSpdxElement"])
        for r in document["relationships"]
        if r["relationshipType"] == "CONTAINS"
    }
    libc_files = {files["./usr/lib/x86_64-linux-gnu/libc.so.6"]["SPDXID"], copyright_["SPDXID"]}
    assert {file for package, file in contains if package == packages["libc6"]["SPDXID"]} == libc_files
    # The verification code of SPDX 2.3 §7.9: SHA1 over the sorted file SHA1s.
    sha1s = sorted([hashlib.sha1(b"\x7fELF libc").hexdigest(), hashlib.sha1(b"changed after extraction\n").hexdigest()])
    assert packages["libc6"]["packageVerificationCode"] == {
        "packageVerificationCodeValue": hashlib.sha1("".join(sha1s).encode()).hexdigest()
    }
    assert packages["libc6"]["filesAnalyzed"] is True
    # tzdata shipped only a directory: described, but no files.
    assert packages["tzdata"]["filesAnalyzed"] is False
    assert "packageVerificationCode" not in packages["tzdata"]


def test_without_root_no_files_are_listed(cut) -> None:
    _, report = cut
    document = build_spdx("img", [LIBC6], report, FIXED, distro="debian-12")
    assert "files" not in document
    assert by_name(document)["libc6"]["filesAnalyzed"] is False
    assert [r["relationshipType"] for r in document["relationships"]] == ["DESCRIBES"]


def test_supplier_without_maintainer() -> None:
    document = build_spdx("img", [SbomPackage("hello", "1", "amd64", "e" * 64)], Report(), FIXED, distro="debian-12")
    assert document["packages"][0]["supplier"] == "NOASSERTION"


def test_deterministic_namespace(cut) -> None:
    root, report = cut
    first = build_spdx("img", [LIBC6, TZDATA], report, FIXED, distro="debian-12", root=root)
    again = build_spdx("img", [TZDATA, LIBC6], report, FIXED, distro="debian-12", root=root)
    assert spdx_bytes(first) == spdx_bytes(again)
    other = build_spdx("img", [LIBC6], report, FIXED, distro="debian-12", root=root)
    assert other["documentNamespace"] != first["documentNamespace"]


def test_created_from_source_date_epoch_or_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    first = build_spdx("img", [LIBC6], Report(), distro="debian-12")
    assert first["creationInfo"]["created"] == "2023-11-14T22:13:20Z"
    assert build_spdx("img", [LIBC6], Report(), distro="debian-12") == first
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(SlicerError, match="SOURCE_DATE_EPOCH"):
        build_spdx("img", [LIBC6], Report(), distro="debian-12")
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    created = build_spdx("img", [LIBC6], Report(), distro="debian-12")["creationInfo"]["created"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", created)


def test_write_spdx(cut, tmp_path: Path) -> None:
    root, report = cut
    document = build_spdx("img", [LIBC6], report, FIXED, distro="debian-12", root=root)
    target = tmp_path / "sbom.spdx.json"
    write_spdx(document, target)
    assert json.loads(target.read_text()) == document
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".sbom")] == []
    with pytest.raises(SlicerError, match=f"cannot write the SBOM {tmp_path}/missing/sbom.json"):
        write_spdx(document, tmp_path / "missing/sbom.json")


@pytest.mark.parametrize("with_files", [True, False])
def test_spdx_tools_accept_the_document(cut, with_files: bool) -> None:
    pytest.importorskip("spdx_tools", reason="spdx-tools (test extra) validates SPDX documents")
    from spdx_tools.spdx.parser.jsonlikedict.json_like_dict_parser import JsonLikeDictParser
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    root, report = cut
    document = build_spdx(
        "my-image", [LIBC6, LIBSTDCXX, TZDATA], report, FIXED, distro="debian-12", root=root if with_files else None
    )
    parsed = JsonLikeDictParser().parse(json.loads(spdx_bytes(document)))
    assert validate_full_spdx_document(parsed) == []
    assert {package.name for package in parsed.packages} == {"libc6", "libstdc++6", "tzdata"}
