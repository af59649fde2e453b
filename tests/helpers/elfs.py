"""Build minimal ELF files from the spec, for tests that need DT_NEEDED and SONAME."""

from __future__ import annotations

import struct


def build_elf(
    bits: int = 64,
    byteorder: str = "little",
    machine: int = 62,
    flags: int = 0,
    interpreter: str = "/lib/ld.so",
    needed: tuple[str, ...] = (),
    soname: str = "",
    rpath: str = "",
    runpath: str = "",
) -> bytes:
    """A minimal ELF file from the spec: PT_LOAD over the whole file, PT_INTERP, PT_DYNAMIC.

    Addresses sit at an offset from file positions so the string table must be
    found through the loaded segment, as in real files.
    """
    base = 0x10000
    prefix = "<" if byteorder == "little" else ">"
    ehsize, phentsize = (52, 32) if bits == 32 else (64, 56)
    phnum = 3
    strtab = bytearray(b"\0")

    def string(text: str) -> int:
        offset = len(strtab)
        strtab.extend(text.encode() + b"\0")
        return offset

    tags = [(1, string(name)) for name in needed]
    for tag, value in ((14, soname), (15, rpath), (29, runpath)):
        if value:
            tags.append((tag, string(value)))
    interp = interpreter.encode() + b"\0"
    interp_offset = ehsize + phnum * phentsize
    strtab_offset = interp_offset + len(interp)
    dynamic_offset = strtab_offset + len(strtab)
    tags += [(5, base + strtab_offset), (10, len(strtab)), (0, 0)]
    entry = prefix + ("iI" if bits == 32 else "qQ")
    dynamic = b"".join(struct.pack(entry, tag, value) for tag, value in tags)
    total = dynamic_offset + len(dynamic)

    def program_header(kind: int, offset: int, size: int) -> bytes:
        address = base + offset
        if bits == 32:
            return struct.pack(prefix + "IIIIIIII", kind, offset, address, address, size, size, 4, 4)
        return struct.pack(prefix + "IIQQQQQQ", kind, 4, offset, address, address, size, size, 8)

    ident = b"\x7fELF" + bytes([bits // 32, 1 if byteorder == "little" else 2, 1]) + bytes(9)
    layout = "HHIIIIIHHHHHH" if bits == 32 else "HHIQQQIHHHHHH"
    # ET_DYN, no entry point, program headers right after the header, no sections.
    header = struct.pack(prefix + layout, 3, machine, 1, 0, ehsize, 0, flags, ehsize, phentsize, phnum, 0, 0, 0)
    headers = program_header(1, 0, total) + program_header(3, interp_offset, len(interp))
    headers += program_header(2, dynamic_offset, len(dynamic))
    return ident + header + headers + interp + bytes(strtab) + dynamic
