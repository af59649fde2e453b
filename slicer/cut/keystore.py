"""Build a Java trust store (JKS) from PEM certificates, byte for byte reproducibly.

Debian's JREs read `/etc/ssl/certs/java/cacerts`, which ca-certificates-java
writes at install time by running Java. A cut runs no maintainer scripts, so
`generate: java-keystore` writes the same kind of file here, in pure Python:

- the JKS layout: magic 0xFEEDFEED, version 2, the entry count, then one
  trusted-certificate entry (tag 2, alias, creation time in milliseconds,
  type `X.509`, DER bytes) per certificate, and a SHA-1 trailer over the
  password as UTF-16BE, the phrase "Mighty Aphrodite" and everything before;
- the password is Java's default, `changeit`, which is what a JRE tries;
- it trusts the CA bundle, `/etc/ssl/certs/ca-certificates.crt`, and every
  `.crt` file under `/usr/local/share/ca-certificates/` (where Debian keeps
  local CAs), so a user adds a CA by placing its PEM there in the root before
  the cut;
- aliases are the certificates' subject common names (lowercased, as keytool
  shows them), entries are sorted by alias and every entry carries the same
  creation time, so equal certificates always give equal bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import struct
from pathlib import Path

from .. import rootfs
from ..errors import KeystoreError

PASSWORD = "changeit"
BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
LOCAL_CERTIFICATES = "/usr/local/share/ca-certificates/"
_MAGIC = 0xFEEDFEED
_VERSION = 2
_TRUSTED_CERT = 2
_WHITENER = b"Mighty Aphrodite"
_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n(.*?)-----END CERTIFICATE-----", re.DOTALL)

# ASN.1 tags and the attribute types an alias is taken from, best first.
_SEQUENCE, _SET, _CONTEXT_0 = 0x30, 0x31, 0xA0
_COMMON_NAME = bytes.fromhex("550403")
_ORGANIZATIONAL_UNIT = bytes.fromhex("55040b")
_ORGANIZATION = bytes.fromhex("55040a")
_STRING_TAGS = {0x0C: "utf-8", 0x13: "ascii", 0x14: "latin-1", 0x16: "ascii", 0x1E: "utf-16-be"}


def pem_certificates(text: bytes, source: str) -> list[bytes]:
    """The DER bytes of every `BEGIN CERTIFICATE` block in `text` (from `source`, for errors)."""
    found = []
    for number, match in enumerate(_PEM.finditer(text), 1):
        try:
            found.append(base64.b64decode(b"".join(match.group(1).split()), validate=True))
        except binascii.Error:
            raise KeystoreError(f"{source}: certificate {number} is not valid base64") from None
    return found


def trusted_certificates(staging: Path, root: Path) -> list[bytes]:
    """The bundle's certificates (this cut's, else the root's) and the root's local CA files."""
    for base in (staging, root):
        bundle = rootfs.resolve(base, BUNDLE)
        if bundle.is_file():
            break
    else:
        raise KeystoreError(
            f"a Java trust store is built from {BUNDLE}, which the root does not have: select ca-certificates_data"
        )
    found = pem_certificates(bundle.read_bytes(), BUNDLE)
    for base in (root, staging):
        local = rootfs.resolve(base, LOCAL_CERTIFICATES)
        for directory, folders, files in os.walk(local):
            folders.sort()
            for name in sorted(files):
                path = Path(directory, name)
                if name.endswith(".crt") and path.is_file() and not path.is_symlink():
                    found += pem_certificates(path.read_bytes(), "/" + str(path.relative_to(base)))
    return found


def jks(certificates: list[bytes], created_ms: int, password: str = PASSWORD) -> bytes:
    """A JKS store trusting each DER certificate once, in alias order."""
    unique = sorted(set(certificates))
    entries = sorted((_alias(der), der) for der in unique)
    out = bytearray(struct.pack(">III", _MAGIC, _VERSION, len(entries)))
    taken: dict[str, int] = {}
    for alias, der in entries:
        taken[alias] = taken.get(alias, 0) + 1
        name = alias if taken[alias] == 1 else f"{alias} ({taken[alias]})"
        out += struct.pack(">I", _TRUSTED_CERT) + _utf(name) + struct.pack(">q", created_ms)
        out += _utf("X.509") + struct.pack(">I", len(der)) + der
    out += hashlib.sha1(password.encode("utf-16-be") + _WHITENER + bytes(out)).digest()
    return bytes(out)


def _utf(text: str) -> bytes:
    """Java's DataOutput.writeUTF for the characters aliases use (no NUL, no supplementary)."""
    data = text.encode("utf-8")
    return struct.pack(">H", len(data)) + data


def _alias(der: bytes) -> str:
    """The subject's common name (else unit, else organization), else the SHA-256 fingerprint."""
    try:
        attributes = _subject(der)
    except (IndexError, ValueError, UnicodeDecodeError):
        raise KeystoreError(f"certificate {hashlib.sha256(der).hexdigest()} is not valid DER") from None
    for kind in (_COMMON_NAME, _ORGANIZATIONAL_UNIT, _ORGANIZATION):
        if kind in attributes:
            return attributes[kind].lower()
    return hashlib.sha256(der).hexdigest()


def _subject(der: bytes) -> dict[bytes, str]:
    """The subject's string attributes, by type OID (the first of each type)."""
    certificate = _children(_value(der, 0, _SEQUENCE))
    fields = _children(_value(certificate[0], 0, _SEQUENCE))
    if fields and fields[0][0] == _CONTEXT_0:
        fields = fields[1:]  # the explicit version
    # serial, signature algorithm, issuer, validity, subject
    attributes: dict[bytes, str] = {}
    for relative in _children(_value(fields[4], 0, _SEQUENCE)):
        for pair in _children(_value(relative, 0, _SET)):
            kind, value = _children(_value(pair, 0, _SEQUENCE))[:2]
            encoding = _STRING_TAGS.get(value[0])
            if encoding is not None:
                attributes.setdefault(_value(kind, 0, 0x06), _value(value, 0, value[0]).decode(encoding))
    return attributes


def _header(data: bytes, offset: int) -> tuple[int, int]:
    """(start of the content, content length) of the DER element at `offset`."""
    length = data[offset + 1]
    if length < 0x80:
        return offset + 2, length
    count = length & 0x7F
    if not 1 <= count <= 4:
        raise ValueError("unsupported DER length")
    return offset + 2 + count, int.from_bytes(data[offset + 2 : offset + 2 + count], "big")


def _value(data: bytes, offset: int, tag: int) -> bytes:
    if data[offset] != tag:
        raise ValueError(f"expected DER tag {tag:#x}, found {data[offset]:#x}")
    start, length = _header(data, offset)
    if start + length > len(data):
        raise ValueError("truncated DER element")
    return data[start : start + length]


def _children(data: bytes) -> list[bytes]:
    """The whole encodings (tag included) of the elements `data` holds."""
    children, offset = [], 0
    while offset < len(data):
        start, length = _header(data, offset)
        if start + length > len(data):
            raise ValueError("truncated DER element")
        children.append(data[offset : start + length])
        offset = start + length
    return children
