"""Control-file paragraphs (Release, Packages, apt `.sources`).

`parse` is the general reader: continuation lines, comments, field names kept
as written and looked up case-insensitively. `scan_packages` is the fast path
for Packages indexes (bookworm's main is 50 MB and 63k paragraphs): it pulls
out only the fields needed to choose and download a package, plus where the
paragraph lies, and falls back to `parse` for any paragraph it cannot read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..errors import ArchiveError

PACKAGE_FIELDS = ("Package", "Version", "Architecture", "Filename", "Size", "SHA256")

# A wanted field at the start of a line, in the case Debian's tools write.
_FAST_FIELD = re.compile(rb"\n(Package|Version|Architecture|Filename|Size|SHA256):[ \t]*([^\n]*)")


class Paragraph:
    """One paragraph: `fields` as written, lookups ignore case."""

    __slots__ = ("_folded", "fields")

    def __init__(self, fields: dict[str, str]) -> None:
        self.fields = fields
        self._folded = {name.lower(): value for name, value in fields.items()}

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._folded.get(name.lower(), default)

    def __getitem__(self, name: str) -> str:
        return self._folded[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._folded

    def __repr__(self) -> str:
        return f"Paragraph({self.fields!r})"


def parse(text: str, source: str = "control data") -> list[Paragraph]:
    """All paragraphs of `text`; a malformed line raises naming `source` and the line."""
    paragraphs: list[Paragraph] = []
    # Each field's lines, joined when its paragraph ends: a Release's SHA256
    # field has hundreds of continuation lines, and growing a string per line
    # would copy it each time.
    fields: dict[str, list[str]] = {}
    lines: list[str] | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("#"):
            continue
        if not line.strip():
            if fields:
                paragraphs.append(_paragraph(fields))
                fields, lines = {}, None
            continue
        if line[0] in " \t":
            if lines is None:
                raise ArchiveError(f"{source} line {number} continues a field that was never started")
            lines.append(line.strip())
            continue
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not name:
            raise ArchiveError(f'{source} line {number} is not a "Field: value" line: {line[:60]!r}')
        lines = fields[name] = [value.strip()]
    if fields:
        paragraphs.append(_paragraph(fields))
    return paragraphs


def _paragraph(fields: dict[str, list[str]]) -> Paragraph:
    return Paragraph({name: "\n".join(lines) for name, lines in fields.items()})


# name, version, architecture, filename, size, sha256, start, end
PackageTuple = tuple[str, str, str, str, int, str, int, int]


def _slow_fields(text: bytes) -> dict[str, str] | None:
    """The wanted fields of one paragraph through the general reader, or None."""
    try:
        found = parse(text.decode("utf-8", "surrogateescape"))
    except ArchiveError:
        return None
    if len(found) != 1 or any(field not in found[0] for field in PACKAGE_FIELDS):
        return None
    if not found[0]["Size"].isdigit():
        return None
    return {field: found[0][field] for field in PACKAGE_FIELDS}


def scan_packages(data: bytes) -> Iterator[PackageTuple]:
    """Every usable package paragraph of a Packages index, with its byte span.

    Paragraphs without a name, a pool file or its SHA256 cannot be fetched
    safely and are left out.
    """
    find = data.find
    findall = _FAST_FIELD.findall
    size = len(data)
    pos = 0
    while pos < size:
        if data[pos] == 10:  # extra blank lines between paragraphs
            pos += 1
            continue
        end = find(b"\n\n", pos)
        if end < 0:
            end = size - 1 if data.endswith(b"\n") else size
        # The regex wants the newline in front of a field; the first paragraph has none.
        raw = dict(findall(data, pos - 1, end)) if pos else dict(findall(b"\n" + data[:end]))
        if len(raw) == len(PACKAGE_FIELDS) and raw[b"Size"].strip().isdigit():
            yield (
                raw[b"Package"].strip().decode(),
                raw[b"Version"].strip().decode(),
                raw[b"Architecture"].strip().decode(),
                raw[b"Filename"].strip().decode("utf-8", "surrogateescape"),
                int(raw[b"Size"]),
                raw[b"SHA256"].strip().decode().lower(),
                pos,
                end,
            )
        else:
            fields = _slow_fields(data[pos:end])
            if fields is not None:
                yield (
                    fields["Package"],
                    fields["Version"],
                    fields["Architecture"],
                    fields["Filename"],
                    int(fields["Size"]),
                    fields["SHA256"].lower(),
                    pos,
                    end,
                )
        pos = end + 1
