"""status.d entries: control paragraphs for scanners and md5sums of the shipped files only."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from slicer.archive import deb822
from slicer.cut.dpkgstatus import StatusPackage, status_files, status_stanza
from slicer.errors import ArchiveError, RootError
from slicer.report import Entry, Report

STATUS_D = "/var/lib/dpkg/status.d"

# A Packages index paragraph as bookworm publishes it (maintainer address made up).
LIBSSL3_INDEX = """\
Package: libssl3
Source: openssl
Version: 3.0.15-1~deb12u1
Installed-Size: 6380
Maintainer: Debian OpenSSL Team <openssl-team@example.org>
Architecture: amd64
Multi-Arch: same
Depends: libc6 (>= 2.34)
Breaks: nodejs (<< 12.18.4~dfsg-3)
Description: Secure Sockets Layer toolkit - shared libraries
Description-md5: 88547c6206c7fbc4fcc7d09ce100d210
Section: libs
Priority: optional
Filename: pool/main/o/openssl/libssl3_3.0.15-1~deb12u1_amd64.deb
Size: 2025392
MD5sum: 0123456789abcdef0123456789abcdef
SHA256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
"""

LIBSSL3_STATUS = """\
Package: libssl3
Status: install ok installed
Source: openssl
Version: 3.0.15-1~deb12u1
Installed-Size: 6380
Maintainer: Debian OpenSSL Team <openssl-team@example.org>
Architecture: amd64
Multi-Arch: same
Depends: libc6 (>= 2.34)
Breaks: nodejs (<< 12.18.4~dfsg-3)
Description: Secure Sockets Layer toolkit - shared libraries
Section: libs
Priority: optional
"""

# A .deb control file: long description with continuation and paragraph lines.
BASE_FILES_CONTROL = """\
Package: base-files
Version: 12.4+deb12u7
Architecture: amd64
Maintainer: Santiago Vila <sanvila@example.org>
Installed-Size: 340
Pre-Depends: awk
Essential: yes
Section: admin
Priority: required
Description: Debian base system miscellaneous files
 This package contains the basic filesystem hierarchy of a Debian system, and
 several important miscellaneous files.
 .
   An indented line.
"""


def put(root: Path, path: str, data: bytes) -> str:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return hashlib.md5(data).hexdigest()


def test_index_paragraph_becomes_a_status_paragraph() -> None:
    assert status_stanza(StatusPackage("libssl3", LIBSSL3_INDEX)) == LIBSSL3_STATUS


def test_control_file_is_kept_verbatim_with_status() -> None:
    stanza = status_stanza(StatusPackage("base-files", BASE_FILES_CONTROL))
    lines = BASE_FILES_CONTROL.splitlines(keepends=True)
    assert stanza == lines[0] + "Status: install ok installed\n" + "".join(lines[1:])
    (paragraph,) = deb822.parse(stanza)
    assert paragraph["Status"] == "install ok installed"
    assert paragraph["Pre-Depends"] == "awk"


def test_status_files_list_only_shipped_files(tmp_path: Path) -> None:
    report = Report()
    ssl = put(tmp_path, "/usr/lib/x86_64-linux-gnu/libssl.so.3", b"\x7fELF ssl")
    crypto = put(tmp_path, "/usr/lib/x86_64-linux-gnu/libcrypto.so.3", b"\x7fELF crypto")
    copyright_ = put(tmp_path, "/usr/share/doc/libssl3/copyright", b"Format: ...\n")
    for path in (
        "/usr/lib/x86_64-linux-gnu/libssl.so.3",
        "/usr/share/doc/libssl3/copyright",
        "/usr/lib/x86_64-linux-gnu/libcrypto.so.3",
    ):
        report.add(Entry(path, "file", 0o644, {"libssl3_libs"}, "libssl3", "f" * 64))
    report.add(Entry("/usr/lib/x86_64-linux-gnu/", "dir", 0o755, {"libssl3_libs"}, "libssl3"))
    # base-files shipped a directory and a symlink only: no entry for it.
    report.add(Entry("/tmp/", "dir", 0o1777, {"base-files_tmp"}, "base-files"))
    report.add(Entry("/lib", "symlink", 0o777, {"base-files_base"}, "base-files", link="usr/lib"))
    packages = [StatusPackage("libssl3", LIBSSL3_INDEX), StatusPackage("base-files", BASE_FILES_CONTROL)]

    files = status_files(packages, report, tmp_path, STATUS_D + "/")

    assert list(files) == [f"{STATUS_D}/libssl3", f"{STATUS_D}/libssl3.md5sums"]
    assert files[f"{STATUS_D}/libssl3"] == LIBSSL3_STATUS.encode()
    assert files[f"{STATUS_D}/libssl3.md5sums"].decode() == (
        f"{crypto}  usr/lib/x86_64-linux-gnu/libcrypto.so.3\n"
        f"{ssl}  usr/lib/x86_64-linux-gnu/libssl.so.3\n"
        f"{copyright_}  usr/share/doc/libssl3/copyright\n"
    )


def test_md5sums_hash_the_final_content_and_pass_md5sum_check(tmp_path: Path) -> None:
    report = Report()
    put(tmp_path, "/usr/share/base-passwd/passwd.master", b"master")
    passwd = b"root:x:0:0:root:/root:/bin/sh\n"
    put(tmp_path, "/etc/passwd", passwd)  # as a mutate script left it
    report.add(
        Entry(
            "/etc/passwd",
            "file",
            0o644,
            {"base-passwd_data"},
            "base-passwd",
            sha256=hashlib.sha256(b"FIXME").hexdigest(),
            final_sha256=hashlib.sha256(passwd).hexdigest(),
        )
    )
    # A path reached through the merged-/usr link.
    (tmp_path / "usr/lib").mkdir(parents=True)
    (tmp_path / "lib").symlink_to("usr/lib")
    put(tmp_path, "/usr/lib/os-release", b"ID=debian\n")
    report.add(Entry("/lib/os-release", "file", 0o644, {"base-passwd_data"}, "base-passwd"))
    files = status_files(
        [StatusPackage("base-passwd", "Package: base-passwd\nVersion: 3.6.1\n")], report, tmp_path, STATUS_D
    )
    sums = files[f"{STATUS_D}/base-passwd.md5sums"]
    assert sums.decode().splitlines()[0] == f"{hashlib.md5(passwd).hexdigest()}  etc/passwd"
    if shutil.which("md5sum") is None:
        pytest.skip("md5sum is not installed")
    (tmp_path / "sums").write_bytes(sums)
    checked = subprocess.run(["md5sum", "--check", "--strict", "sums"], cwd=tmp_path, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_absolute_links_in_the_root_resolve_inside_it(tmp_path: Path) -> None:
    (tmp_path / "usr/lib").mkdir(parents=True)
    (tmp_path / "lib").symlink_to("/usr/lib")
    inside = put(tmp_path, "/usr/lib/os-release", b"ID=debian\nslicer test root\n")
    report = Report()
    report.add(Entry("/lib/os-release", "file", 0o644, {"base-files_release-info"}, "base-files"))
    files = status_files([StatusPackage("base-files", "Package: base-files\n")], report, tmp_path, STATUS_D)
    assert files[f"{STATUS_D}/base-files.md5sums"] == f"{inside}  lib/os-release\n".encode()


def test_output_is_deterministic(tmp_path: Path) -> None:
    report = Report()
    for name in ("zlib1g", "libc6", "libssl3"):
        put(tmp_path, f"/usr/share/doc/{name}/copyright", name.encode())
        report.add(Entry(f"/usr/share/doc/{name}/copyright", "file", 0o644, {f"{name}_copyright"}, name))
    packages = [StatusPackage(name, f"Package: {name}\nVersion: 1\n") for name in ("zlib1g", "libc6", "libssl3")]
    first = status_files(packages, report, tmp_path, STATUS_D)
    second = status_files(list(reversed(packages)), report, tmp_path, STATUS_D)
    assert list(first.items()) == list(second.items())
    assert list(first)[::2] == [f"{STATUS_D}/libc6", f"{STATUS_D}/libssl3", f"{STATUS_D}/zlib1g"]


def test_errors_name_the_package_or_path(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="the control data of package libssl3 names another package: Package: libc6"):
        status_stanza(StatusPackage("libssl3", "Package: libc6\nVersion: 1\n"))
    with pytest.raises(ArchiveError, match="the control data of package libssl3 has no Package field"):
        status_stanza(StatusPackage("libssl3", "Version: 1\n"))
    with pytest.raises(ArchiveError, match='"../evil" is not a valid Debian package name'):
        status_stanza(StatusPackage("../evil", "Package: ../evil\n"))
    report = Report()
    report.add(Entry("/usr/lib/gone.so", "file", 0o644, {"libx_libs"}, "libx"))
    with pytest.raises(RootError, match=f"cannot read /usr/lib/gone.so in {tmp_path} to hash it"):
        status_files([StatusPackage("libx", "Package: libx\n")], report, tmp_path, STATUS_D)
