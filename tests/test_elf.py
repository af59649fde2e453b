"""ELF dynamic info, checked against binutils' readelf on real and built files."""

from __future__ import annotations

import glob
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slicer.elf import ElfInfo, read_elf
from slicer.errors import ElfError
from tests.helpers.elfs import build_elf

READELF = shutil.which("readelf")
needs_readelf = pytest.mark.skipif(READELF is None, reason="readelf (binutils) is not installed")

LS = Path("/bin/ls")
LIBC = next((Path(name) for name in glob.glob("/lib/*-linux-gnu/libc.so.6")), None)


def readelf(path: Path) -> ElfInfo:
    """What binutils says about the same facts, parsed from `readelf -h -l -d`."""
    assert READELF is not None
    output = subprocess.run(
        [READELF, "-W", "-h", "-l", "-d", str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, "LC_ALL": "C"},
        check=True,
        timeout=60,
    ).stdout

    def values(label: str) -> list[str]:
        return re.findall(rf"\({label}\)\s+[^\[]*\[(.*)\]", output)

    def paths(label: str) -> tuple[str, ...]:
        return tuple(part for value in values(label) for part in value.split(":"))

    interpreter = re.search(r"\[Requesting program interpreter: (.*)\]", output)
    machine = re.search(r"Machine:\s+(.*)", output)
    assert machine is not None
    return ElfInfo(
        elf_class=int(re.search(r"Class:\s+ELF(\d+)", output).group(1)),
        endianness=re.search(r"Data:\s+.*, (little|big) endian", output).group(1),
        # readelf names the machine; the tests only meet these two.
        machine={"Advanced Micro Devices X86-64": 62, "IBM S/390": 22}[machine.group(1).strip()],
        flags=0,
        needed=tuple(values("NEEDED")),
        soname=(values("SONAME") or [""])[0],
        interpreter=interpreter.group(1) if interpreter else "",
        rpath=paths("RPATH"),
        runpath=paths("RUNPATH"),
    )


def system_elf_files(per_pattern: int) -> list[Path]:
    """Some ELF programs and libraries of this machine, in a stable order."""
    found = []
    for pattern in ("/usr/bin/*", "/usr/lib/*-linux-gnu/*.so*"):
        taken = 0
        for name in sorted(glob.glob(pattern)):
            path = Path(name)
            if taken < per_pattern and path.is_file() and not path.is_symlink():
                with open(path, "rb") as file:
                    if file.read(4) == b"\x7fELF":
                        found.append(path)
                        taken += 1
    return found


@needs_readelf
def test_ls_needs_libc_and_the_loader():
    info = read_elf(LS)
    assert info == readelf(LS)
    assert "libc.so.6" in info.needed
    assert info.interpreter.startswith("/lib")
    assert info.soname == ""


@needs_readelf
@pytest.mark.skipif(LIBC is None, reason="no multiarch libc.so.6 on this machine")
def test_libc_has_its_soname():
    info = read_elf(LIBC)
    assert info == readelf(LIBC)
    assert info.soname == "libc.so.6"


@needs_readelf
def test_system_binaries_and_libraries_agree_with_readelf():
    paths = system_elf_files(per_pattern=40)
    assert len(paths) >= 20
    for path in paths:
        assert read_elf(path) == readelf(path), path


@needs_readelf
@pytest.mark.parametrize("bits", [32, 64])
@pytest.mark.parametrize(("byteorder", "machine"), [("little", 62), ("big", 22)])
def test_built_files_of_every_class_and_byte_order(tmp_path, bits, byteorder, machine):
    path = tmp_path / "built"
    path.write_bytes(
        build_elf(
            bits,
            byteorder,
            machine,
            interpreter="/lib/ld-test.so.1",
            needed=("libc.so.6", "libm.so.6"),
            soname="libbuilt.so.1",
            rpath="/opt/a:/opt/b",
            runpath="$ORIGIN/../lib",
        )
    )
    info = read_elf(path)
    assert info == readelf(path)
    assert info == ElfInfo(
        elf_class=bits,
        endianness=byteorder,
        machine=machine,
        flags=0,
        needed=("libc.so.6", "libm.so.6"),
        soname="libbuilt.so.1",
        interpreter="/lib/ld-test.so.1",
        rpath=("/opt/a", "/opt/b"),
        runpath=("$ORIGIN/../lib",),
    )


def test_bytes_path_and_file_object_give_the_same_answer():
    data = LS.read_bytes()
    with open(LS, "rb") as file:
        assert read_elf(data) == read_elf(LS) == read_elf(file) == read_elf(str(LS))


@pytest.mark.parametrize(
    ("bits", "byteorder", "machine", "flags", "arch"),
    [
        (64, "little", 62, 0, "amd64"),
        (32, "little", 3, 0, "i386"),
        (64, "little", 183, 0, "arm64"),
        (32, "little", 40, 0x05000400, "armhf"),
        (32, "little", 40, 0x05000200, "armel"),
        (64, "little", 21, 0, "ppc64el"),
        (64, "big", 22, 0, "s390x"),
        (64, "little", 243, 0, "riscv64"),
        (64, "big", 21, 0, ""),
        (32, "little", 9999, 0, ""),
    ],
)
def test_debian_architecture(bits, byteorder, machine, flags, arch):
    info = read_elf(build_elf(bits, byteorder, machine, flags))
    assert info.arch == arch


def test_static_files_have_no_dynamic_facts():
    data = bytearray(build_elf(needed=("libc.so.6",)))
    # Turn PT_DYNAMIC (the third program header) into PT_NULL.
    struct.pack_into("<I", data, 64 + 2 * 56, 0)
    info = read_elf(bytes(data))
    assert (info.needed, info.soname, info.rpath, info.runpath) == ((), "", (), ())
    assert info.interpreter == "/lib/ld.so"


@pytest.mark.parametrize("data", [b"", b"\x7fEL", b"#!/bin/sh\necho hi\n", b"\x7fELF", bytes(64)])
def test_non_elf_data_is_none(data):
    assert read_elf(data) is None


def test_non_elf_file_is_none(tmp_path):
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\nexit 0\n")
    assert read_elf(script) is None


@pytest.mark.parametrize("size", [17, 64, 100, 1000, 30000])
def test_truncated_file_names_itself(tmp_path, size):
    path = tmp_path / "ls-truncated"
    path.write_bytes(LS.read_bytes()[:size])
    expected = rf"^{re.escape(str(path))} is not a valid ELF file: .* beyond the end"
    with pytest.raises(ElfError, match=expected):
        read_elf(path)


def test_bytes_carry_the_given_name_into_errors():
    with pytest.raises(ElfError, match="^usr/bin/tool is not a valid ELF file"):
        read_elf(LS.read_bytes()[:100], name="usr/bin/tool")


def test_unknown_class_and_encoding():
    data = bytearray(build_elf())
    data[4] = 7
    with pytest.raises(ElfError, match="unknown ELF class 7"):
        read_elf(bytes(data))
    data[4], data[5] = 2, 9
    with pytest.raises(ElfError, match="unknown ELF data encoding 9"):
        read_elf(bytes(data))


def test_program_header_entries_too_small():
    data = bytearray(build_elf())
    struct.pack_into("<H", data, 54, 20)  # e_phentsize
    with pytest.raises(ElfError, match="program header entries of 20 bytes are too small"):
        read_elf(bytes(data))


def test_string_outside_the_table():
    data = bytearray(build_elf(needed=("libc.so.6",)))
    dynamic_offset = len(data) - 4 * 16  # NEEDED, STRTAB, STRSZ, NULL
    struct.pack_into("<qQ", data, dynamic_offset, 1, 5000)
    with pytest.raises(ElfError, match="dynamic string offset 5000 lies outside the string table"):
        read_elf(bytes(data))


def test_string_table_outside_every_segment():
    data = bytearray(build_elf(needed=("libc.so.6",)))
    strtab_entry = len(data) - 3 * 16
    struct.pack_into("<qQ", data, strtab_entry, 5, 0x900000)
    with pytest.raises(ElfError, match="string table address 0x900000 is outside every loaded segment"):
        read_elf(bytes(data))


def test_missing_file():
    with pytest.raises(ElfError, match="^cannot read /nonexistent/tool: No such file or directory$"):
        read_elf("/nonexistent/tool")


def _parse_or_refuse(data: bytes) -> None:
    try:
        info = read_elf(data)
    except ElfError as error:
        assert str(error).startswith("ELF data is not a valid ELF file: ")
    else:
        assert info is None or isinstance(info, ElfInfo)


@settings(deadline=None)
@given(st.sampled_from([1, 2, 3]), st.sampled_from([1, 2, 0]), st.binary(max_size=600))
def test_random_bytes_only_ever_raise_our_error(elf_class, encoding, tail):
    _parse_or_refuse(b"\x7fELF" + bytes([elf_class, encoding]) + tail)


SAMPLE = build_elf(needed=("libc.so.6", "libm.so.6"), soname="libx.so.1", rpath="/a", runpath="/b")


@settings(deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(SAMPLE) - 1), st.integers(0, 255)), min_size=1, max_size=8))
def test_corrupted_files_only_ever_raise_our_error(changes):
    data = bytearray(SAMPLE)
    for position, value in changes:
        data[position] = value
    _parse_or_refuse(bytes(data))


@settings(deadline=None, max_examples=50)
@given(st.lists(st.tuples(st.integers(0, 4095), st.integers(0, 255)), min_size=1, max_size=4))
def test_corrupted_headers_of_a_real_binary_only_ever_raise_our_error(changes):
    data = bytearray(LS.read_bytes())
    for position, value in changes:
        data[position] = value
    _parse_or_refuse(bytes(data))
