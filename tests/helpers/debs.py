"""Build real .deb files for tests: an ar archive with debian-binary,
control.tar.* and data.tar.* members, entries described one by one.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile

import zstandard
from attrs import define, field


@define
class Entry:
    """One data.tar entry. `path` is as it appears in the tar ("./usr/bin/x")."""

    path: str
    kind: str = "file"  # file, dir, symlink, hardlink, fifo, chardev, blockdev
    content: bytes = b""
    mode: int = 0o644
    link: str = ""
    uid: int = 0
    gid: int = 0
    mtime: int = 1_700_000_000
    uname: str = "root"
    gname: str = "root"


def file(path: str, content: bytes | str = b"", mode: int = 0o644, **kw) -> Entry:
    data = content.encode() if isinstance(content, str) else content
    return Entry(path, "file", data, mode, **kw)


def directory(path: str, mode: int = 0o755, **kw) -> Entry:
    return Entry(path if path.endswith("/") else path + "/", "dir", b"", mode, **kw)


def symlink(path: str, target: str, **kw) -> Entry:
    return Entry(path, "symlink", b"", 0o777, target, **kw)


def hardlink(path: str, target: str, **kw) -> Entry:
    return Entry(path, "hardlink", b"", 0o644, target, **kw)


_TYPES = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "fifo": tarfile.FIFOTYPE,
    "chardev": tarfile.CHRTYPE,
    "blockdev": tarfile.BLKTYPE,
}


def make_tar(entries: list[Entry]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.path)
            info.type = _TYPES[entry.kind]
            info.mode = entry.mode
            info.uid, info.gid = entry.uid, entry.gid
            info.uname, info.gname = entry.uname, entry.gname
            info.mtime = entry.mtime
            info.linkname = entry.link
            if entry.kind == "file":
                info.size = len(entry.content)
                tar.addfile(info, io.BytesIO(entry.content))
            else:
                tar.addfile(info)
    return buffer.getvalue()


def compress(data: bytes, compression: str) -> tuple[str, bytes]:
    """Return the member suffix and the compressed bytes."""
    if compression == "xz":
        return ".xz", lzma.compress(data)
    if compression == "zst":
        return ".zst", zstandard.ZstdCompressor().compress(data)
    if compression == "gz":
        return ".gz", gzip.compress(data, mtime=0)
    if compression == "bz2":
        return ".bz2", bz2.compress(data)
    if compression == "none":
        return "", data
    raise ValueError(compression)


def _ar_member(name: str, data: bytes) -> bytes:
    header = f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n".encode()
    return header + data + (b"\n" if len(data) % 2 else b"")


def control_text(package: str, version: str, arch: str, **extra: str) -> str:
    fields = {
        "Package": package,
        "Version": version,
        "Architecture": arch,
        "Maintainer": "Test <test@example.invalid>",
        "Description": f"test package {package}",
    }
    fields.update({key.replace("_", "-"): value for key, value in extra.items()})
    return "".join(f"{key}: {value}\n" for key, value in fields.items())


def make_deb(
    entries: list[Entry],
    package: str = "test",
    version: str = "1.0-1",
    arch: str = "amd64",
    compression: str = "xz",
    leading_dot: bool = True,
    control: str | None = None,
    control_files: dict[str, bytes] | None = None,
) -> bytes:
    """A complete .deb holding `entries` in its data.tar; `control_files` (conffiles, postinst ...) join control."""
    if not leading_dot:
        for entry in entries:
            entry.path = entry.path.removeprefix("./")
    extra = [
        file(f"./{name}", data, 0o755 if name.endswith(("inst", "rm")) else 0o644)
        for name, data in (control_files or {}).items()
    ]
    control_tar = make_tar([file("./control", control or control_text(package, version, arch)), *extra])
    control_suffix, control_data = compress(control_tar, "xz")
    data_suffix, data = compress(make_tar(entries), compression)
    return (
        b"!<arch>\n"
        + _ar_member("debian-binary", b"2.0\n")
        + _ar_member("control.tar" + control_suffix, control_data)
        + _ar_member("data.tar" + data_suffix, data)
    )


@define
class DebSpec:
    """A package for a test archive: name, version, arch and data entries."""

    name: str
    version: str = "1.0-1"
    arch: str = "amd64"
    entries: list[Entry] = field(factory=list)
    compression: str = "xz"
    # Control fields for the .deb and the index (Depends, Provides ...), and control.tar files.
    fields: dict[str, str] = field(factory=lambda: {"Depends": "libc6 (>= 2.36)"})
    control_files: dict[str, bytes] = field(factory=dict)

    def control(self) -> str:
        return control_text(self.name, self.version, self.arch, **self.fields)

    def build(self) -> bytes:
        return make_deb(
            self.entries,
            self.name,
            self.version,
            self.arch,
            self.compression,
            control=self.control(),
            control_files=self.control_files,
        )


def library_debs() -> list[DebSpec]:
    """Packages shipping libraries no test slice provides, as a Contents index lists them:
    `libnope.so.9` in two packages (the multiarch one first), `libjnihelper.so` only for all
    architectures, `libside.so.2` in a package that has a slice file of its own in some tests."""
    return [
        DebSpec(
            "libnope9",
            entries=[
                directory("./usr/lib/x86_64-linux-gnu/"),
                file("./usr/lib/x86_64-linux-gnu/libnope.so.9.1", b"lib"),
                symlink("./usr/lib/x86_64-linux-gnu/libnope.so.9", "libnope.so.9.1"),
            ],
        ),
        DebSpec("nope-tools", entries=[file("./usr/lib/nope-tools/libnope.so.9", b"private copy")]),
        DebSpec("libnope9", arch="arm64", entries=[file("./usr/lib/aarch64-linux-gnu/libnope.so.9", b"lib")]),
        DebSpec("libjni-all", arch="all", entries=[file("./usr/lib/jni/libjnihelper.so", b"lib")]),
        DebSpec(
            "libside2",
            entries=[
                file("./usr/lib/x86_64-linux-gnu/libside.so.2", b"lib"),
                file("./usr/share/doc/libside2/copyright", b"MIT\n"),
            ],
        ),
    ]
