"""Read what an ELF file needs at run time: its libraries, loader and search paths.

`slicer deps` maps these names to the slices that provide them, and `slicer
check` uses them to spot libraries a slice forgot. Files come from packages
and users, so nothing here trusts an offset: every read is bounds-checked and
a malformed file gives one `ElfError` sentence naming it.

Only program headers are read (the dynamic loader's own view), so stripped
files without section headers work too.
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO

from attrs import frozen

from slicer.errors import ElfError

MAGIC = b"\x7fELF"

PT_LOAD = 1
PT_DYNAMIC = 2
PT_INTERP = 3

DT_NULL = 0
DT_NEEDED = 1
DT_STRTAB = 5
DT_STRSZ = 10
DT_SONAME = 14
DT_RPATH = 15
DT_RUNPATH = 29
# The tags whose values are strings slicer reports.
_STRING_TAGS = (DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH)

EM_ARM = 40
EF_ARM_ABI_FLOAT_HARD = 0x400

# (e_machine, bits, byteorder) -> Debian architecture; ARM is settled by its flags.
_ARCHES = {
    (62, 64, "little"): "amd64",
    (3, 32, "little"): "i386",
    (183, 64, "little"): "arm64",
    (21, 64, "little"): "ppc64el",
    (22, 64, "big"): "s390x",
    (243, 64, "little"): "riscv64",
    (8, 64, "little"): "mips64el",
}


@frozen
class _Layout:
    """Struct formats of one ELF class, without the byte-order prefix."""

    header: str
    program_header: str
    dynamic: str


# Header fields after e_ident: type, machine, version, entry, phoff, shoff,
# flags, ehsize, phentsize, phnum, shentsize, shnum, shstrndx.
_LAYOUTS = {
    32: _Layout(header="HHIIIIIHHHHHH", program_header="IIIIIIII", dynamic="iI"),
    64: _Layout(header="HHIQQQIHHHHHH", program_header="IIQQQQQQ", dynamic="qQ"),
}


@frozen
class ElfInfo:
    """The dynamic-linking facts of one ELF file."""

    elf_class: int  # 32 or 64
    endianness: str  # "little" or "big"
    machine: int  # e_machine
    flags: int  # e_flags, which tell armhf from armel
    needed: tuple[str, ...] = ()
    soname: str = ""
    interpreter: str = ""
    rpath: tuple[str, ...] = ()
    runpath: tuple[str, ...] = ()

    @property
    def arch(self) -> str:
        """The Debian architecture this file runs on, or "" when slicer does not know it."""
        if self.machine == EM_ARM and self.elf_class == 32 and self.endianness == "little":
            return "armhf" if self.flags & EF_ARM_ABI_FLOAT_HARD else "armel"
        return _ARCHES.get((self.machine, self.elf_class, self.endianness), "")


@frozen
class _Segment:
    type: int
    offset: int
    vaddr: int
    filesz: int


class _Reader:
    """Bounds-checked reads from bytes or a seekable binary file."""

    def __init__(self, source: bytes | BinaryIO, name: str) -> None:
        self.name = name
        self._source = source
        if isinstance(source, bytes):
            self.size = len(source)
        else:
            self.size = source.seek(0, os.SEEK_END)

    def fail(self, reason: str) -> ElfError:
        return ElfError(f"{self.name} is not a valid ELF file: {reason}")

    def read(self, offset: int, length: int, what: str) -> bytes:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise self.fail(f"{what} lies beyond the end of the file ({self.size} bytes)")
        if isinstance(self._source, bytes):
            return self._source[offset : offset + length]
        self._source.seek(offset)
        data = self._source.read(length)
        if len(data) != length:
            raise self.fail(f"{what} could not be read in full")
        return data


# What `read_elf` accepts: the file's bytes, its path, or the open file.
Source = bytes | bytearray | memoryview | str | os.PathLike[str] | BinaryIO


def read_elf(source: Source, name: str = "") -> ElfInfo | None:
    """The dynamic info of an ELF file given as bytes, a path or a seekable binary file; None if not ELF.

    `name` is what error messages call the file; it defaults to the path.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _Parser(_Reader(bytes(source), name or "ELF data")).parse()
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        try:
            with open(path, "rb") as file:
                return _Parser(_Reader(file, name or path)).parse()
        except OSError as error:
            raise ElfError(f"cannot read {name or path}: {error.strerror or error}") from None
    return _Parser(_Reader(source, name or str(getattr(source, "name", "") or "ELF file"))).parse()


class _Parser:
    """One pass over one file: identification, program headers, dynamic section."""

    def __init__(self, reader: _Reader) -> None:
        self.reader = reader
        self.bits = 0
        self.prefix = "<"

    def parse(self) -> ElfInfo | None:
        reader = self.reader
        if reader.size < 16 or reader.read(0, 4, "the ELF magic") != MAGIC:
            return None
        ident = reader.read(0, 16, "the ELF identification")
        bits = {1: 32, 2: 64}.get(ident[4])
        if bits is None:
            raise reader.fail(f"unknown ELF class {ident[4]}")
        byteorder = {1: "little", 2: "big"}.get(ident[5])
        if byteorder is None:
            raise reader.fail(f"unknown ELF data encoding {ident[5]}")
        self.bits, self.prefix = bits, "<" if byteorder == "little" else ">"
        layout = _LAYOUTS[bits]
        header_size = struct.calcsize("<" + layout.header)
        header = self.unpack(layout.header, reader.read(16, header_size, "the ELF header"))
        machine, phoff, flags, phentsize, phnum = header[1], header[4], header[6], header[8], header[9]
        segments = self.segments(phoff, phentsize, phnum)
        interpreters = (self.interpreter(segment) for segment in segments if segment.type == PT_INTERP)
        interpreter = next(interpreters, "")
        dynamic = next((segment for segment in segments if segment.type == PT_DYNAMIC), None)
        names = self.dynamic_strings(segments, dynamic) if dynamic else {}
        sonames = names.get(DT_SONAME, ())
        return ElfInfo(
            elf_class=bits,
            endianness=byteorder,
            machine=machine,
            flags=flags,
            interpreter=interpreter,
            needed=names.get(DT_NEEDED, ()),
            soname=sonames[0] if sonames else "",
            rpath=_split_paths(names.get(DT_RPATH, ())),
            runpath=_split_paths(names.get(DT_RUNPATH, ())),
        )

    def unpack(self, fields: str, data: bytes) -> tuple[int, ...]:
        return struct.unpack(self.prefix + fields, data)

    def segments(self, phoff: int, phentsize: int, phnum: int) -> list[_Segment]:
        fields = _LAYOUTS[self.bits].program_header
        size = struct.calcsize("<" + fields)
        if phnum and phentsize < size:
            raise self.reader.fail(f"program header entries of {phentsize} bytes are too small")
        table = self.reader.read(phoff, phnum * phentsize, "the program header table")
        segments = []
        for index in range(phnum):
            entry = self.unpack(fields, table[index * phentsize : index * phentsize + size])
            if self.bits == 32:
                # Elf32_Phdr: type, offset, vaddr, paddr, filesz, memsz, flags, align.
                segments.append(_Segment(type=entry[0], offset=entry[1], vaddr=entry[2], filesz=entry[4]))
            else:
                # Elf64_Phdr: type, flags, offset, vaddr, paddr, filesz, memsz, align.
                segments.append(_Segment(type=entry[0], offset=entry[2], vaddr=entry[3], filesz=entry[5]))
        return segments

    def interpreter(self, segment: _Segment) -> str:
        raw = self.reader.read(segment.offset, segment.filesz, "the interpreter name")
        return _decode(raw.split(b"\0")[0])

    def dynamic_strings(self, segments: list[_Segment], dynamic: _Segment) -> dict[int, tuple[str, ...]]:
        """DT_NEEDED, DT_SONAME, DT_RPATH and DT_RUNPATH strings by tag, in file order."""
        fields = _LAYOUTS[self.bits].dynamic
        size = struct.calcsize("<" + fields)
        data = self.reader.read(dynamic.offset, dynamic.filesz, "the dynamic section")
        entries: list[tuple[int, int]] = []
        whole = data[: len(data) - len(data) % size]
        for tag, value in struct.iter_unpack(self.prefix + fields, whole):
            if tag == DT_NULL:
                break
            entries.append((tag, value))
        wanted = [(tag, value) for tag, value in entries if tag in _STRING_TAGS]
        if not wanted:
            return {}
        strtab = self.string_table(segments, dict(entries))
        found: dict[int, tuple[str, ...]] = {}
        for tag, offset in wanted:
            end = strtab.find(b"\0", offset)
            if end < 0:
                raise self.reader.fail(f"dynamic string offset {offset} lies outside the string table")
            found[tag] = (*found.get(tag, ()), _decode(strtab[offset:end]))
        return found

    def string_table(self, segments: list[_Segment], tags: dict[int, int]) -> bytes:
        """The dynamic string table, found by mapping DT_STRTAB's address through the loaded segments."""
        if DT_STRTAB not in tags or DT_STRSZ not in tags:
            raise self.reader.fail("the dynamic section names libraries but has no string table")
        address, size = tags[DT_STRTAB], tags[DT_STRSZ]
        for segment in segments:
            if segment.type == PT_LOAD and segment.vaddr <= address < segment.vaddr + segment.filesz:
                offset = segment.offset + address - segment.vaddr
                return self.reader.read(offset, size, "the dynamic string table")
        raise self.reader.fail(f"the dynamic string table address {address:#x} is outside every loaded segment")


def _split_paths(values: tuple[str, ...]) -> tuple[str, ...]:
    """RPATH and RUNPATH hold colon-separated directory lists."""
    return tuple(path for value in values for path in value.split(":"))


def _decode(raw: bytes) -> str:
    """File names as the OS sees them: undecodable bytes survive a round trip."""
    return raw.decode("utf-8", "surrogateescape")
