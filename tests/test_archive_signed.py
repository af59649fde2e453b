"""Signed suite indexes: pinned keys only, one-sentence refusals."""

from __future__ import annotations

import datetime
import email.utils
import hashlib
from pathlib import Path

import pysequoia
import pytest

from slicer.archive import signed
from slicer.errors import ArchiveError, ReleaseError, VerificationError
from slicer.release.model import Archive, PublicKey, Release

URL = "http://127.0.0.1:1/debian/dists/bookworm"
WHAT = f'InRelease of suite "bookworm" from {URL}'
NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)

RELEASE_TEXT = (
    b"""\
Origin: Debian
Suite: oldstable
Codename: bookworm
Date: Sat, 10 Jun 2023 08:53:33 UTC
Valid-Until: Sat, 17 Jan 2026 08:53:33 UTC
Acquire-By-Hash: yes
Architectures: all amd64 arm64
Components: updates/main updates/contrib
SHA256:
 """
    + b"a" * 64
    + b""" 10 main/binary-amd64/Packages
 """
    + b"B" * 64
    + b"""  5 main/binary-amd64/Packages.xz
"""
)


def _release(*armors: str, names: tuple[str, ...] = ("k1",)) -> Release:
    keys = {name: PublicKey(name, armor) for name, armor in zip(names, armors, strict=True)}
    archive = Archive("debian", "12", ("bookworm",), ("main",), tuple(keys))
    return Release(
        path=Path("r.yaml"), format="v3", archives={"debian": archive}, public_keys=keys, packages={}, name="debian-12"
    )


def _clearsign(key: pysequoia.Tsk, data: bytes = RELEASE_TEXT) -> bytes:
    return pysequoia.sign(key.signer(), data, mode=pysequoia.SignatureMode.CLEAR)


def _certs(key: pysequoia.Tsk) -> list[pysequoia.Cert]:
    return signed.load_certs(_release(str(key.extract_certificate())), "debian")


def test_verify_returns_the_signed_text(signing_key: pysequoia.Tsk) -> None:
    assert signed.verify(_clearsign(signing_key), None, _certs(signing_key), WHAT, "debian-12") == RELEASE_TEXT


def test_verify_detached(signing_key: pysequoia.Tsk) -> None:
    signature = pysequoia.sign(signing_key.signer(), RELEASE_TEXT, mode=pysequoia.SignatureMode.DETACHED)
    assert signed.verify(RELEASE_TEXT, signature, _certs(signing_key), WHAT, "debian-12") == RELEASE_TEXT
    with pytest.raises(VerificationError, match="no valid signature$"):
        signed.verify(RELEASE_TEXT + b" ", signature, _certs(signing_key), WHAT, "debian-12")


def test_armor_with_several_certificates(signing_key: pysequoia.Tsk, other_key: pysequoia.Tsk) -> None:
    armor = str(other_key.extract_certificate()) + "\n" + str(signing_key.extract_certificate())
    certs = signed.load_certs(_release(armor), "debian")
    assert len(certs) == 2
    assert signed.verify(_clearsign(signing_key), None, certs, WHAT, "debian-12") == RELEASE_TEXT


def test_any_one_pinned_key_suffices_and_others_refuse_alike(
    signing_key: pysequoia.Tsk, other_key: pysequoia.Tsk
) -> None:
    """Keys are tried alone first; what none of them signed is refused as with all keys at once."""
    both = signed.load_certs(
        _release(str(other_key.extract_certificate()), str(signing_key.extract_certificate()), names=("k1", "k2")),
        "debian",
    )
    for data in (_clearsign(signing_key), _clearsign(other_key)):
        assert signed.verify(data, None, both, WHAT, "debian-12") == RELEASE_TEXT
    detached = pysequoia.sign(signing_key.signer(), RELEASE_TEXT, mode=pysequoia.SignatureMode.DETACHED)
    assert signed.verify(RELEASE_TEXT, detached, both, WHAT, "debian-12") == RELEASE_TEXT
    third = pysequoia.Tsk.generate("a third key <third@example.invalid>")
    for data, reason in (
        (_clearsign(third), "no valid signature"),
        (_clearsign(signing_key).replace(b"bookworm", b"bookwork"), "no valid signature"),
        (RELEASE_TEXT, "it is not a readable OpenPGP signed message ("),
    ):
        with pytest.raises(VerificationError) as error:
            signed.verify(data, None, both, WHAT, "debian-12")
        assert str(error.value).startswith(f"{WHAT} is not signed by a key pinned in debian-12: {reason}")
    with pytest.raises(VerificationError, match="no valid signature$"):
        signed.verify(RELEASE_TEXT + b" ", detached, both, WHAT, "debian-12")


@pytest.mark.parametrize("case", ["other key", "tampered", "garbage", "unsigned"])
def test_refusals_are_one_sentence(signing_key: pysequoia.Tsk, other_key: pysequoia.Tsk, case: str) -> None:
    data = {
        "other key": _clearsign(other_key),
        "tampered": _clearsign(signing_key).replace(b"Codename: bookworm", b"Codename: bookwork"),
        "garbage": b"\x00\x01 not openpgp at all",
        "unsigned": RELEASE_TEXT,
    }[case]
    with pytest.raises(VerificationError) as error:
        signed.verify(data, None, _certs(signing_key), WHAT, "debian-12")
    message = str(error.value)
    assert message.startswith(f"{WHAT} is not signed by a key pinned in debian-12: ")
    assert "\n" not in message and "backtrace" not in message.lower()
    if case in ("other key", "tampered"):
        assert message.endswith(": no valid signature")
    else:
        assert ": it is not a readable OpenPGP signed message (" in message


def test_load_certs_errors_name_the_key() -> None:
    with pytest.raises(ReleaseError, match='public key "k1" cannot be read: '):
        signed.load_certs(_release("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nbroken\n"), "debian")
    release = _release("x")
    broken = Release(
        path=release.path, format="v3", archives=release.archives, public_keys={}, packages={}, name="debian-12"
    )
    with pytest.raises(ReleaseError, match='archive "debian" pins public key "k1", which release debian-12'):
        signed.load_certs(broken, "debian")


def _info(text: bytes = RELEASE_TEXT, suite: str = "bookworm") -> signed.InRelease:
    return signed.parse_inrelease(text, "debian", suite, URL, WHAT)


def test_parse_release_fields() -> None:
    info = _info()
    assert (info.codename, info.suite_field, info.by_hash) == ("bookworm", "oldstable", True)
    assert info.architectures == ("all", "amd64", "arm64")
    assert info.valid_until == datetime.datetime(2026, 1, 17, 8, 53, 33, tzinfo=datetime.UTC)
    assert info.files["main/binary-amd64/Packages.xz"] == signed.IndexFile("main/binary-amd64/Packages.xz", "b" * 64, 5)


def test_parse_release_refuses_malformed_hash_lines() -> None:
    with pytest.raises(VerificationError, match="malformed SHA256 line"):
        _info(RELEASE_TEXT.replace(b" 10 main", b" ten main"))
    with pytest.raises(VerificationError, match="unreadable Valid-Until"):
        _info(RELEASE_TEXT.replace(b"Sat, 17 Jan 2026 08:53:33 UTC", b"soon"))


@pytest.mark.parametrize(
    "value",
    [
        "Sat, 17 Jan 2026 08:53:33 UTC",
        "17 Jan 2026 08:53:33 GMT",
        "Sat, 7 Feb 2026 23:59:59 +0000",
        "Sat, 17 Jan 2026 09:53:33 +0100",
        "Sat, 17 Jan 2026 08:53:33",
        "Sat, 17 Jan 2026 08:53 UTC",
        "Sun, 29 Feb 2032 00:00:00 UTC",
    ],
)
def test_dates_read_as_email_utils_reads_them(value: str) -> None:
    expected = email.utils.parsedate_to_datetime(value)
    expected = expected if expected.tzinfo else expected.replace(tzinfo=datetime.UTC)
    assert _info(RELEASE_TEXT.replace(b"Sat, 17 Jan 2026 08:53:33 UTC", value.encode())).valid_until == expected


@pytest.mark.parametrize("value", ["Sat, 31 Feb 2026 08:53:33 UTC", "Sat, 17 Foo 2026 08:53:33 UTC", "2026-01-17"])
def test_impossible_dates_are_refused(value: str) -> None:
    with pytest.raises(VerificationError, match="unreadable Valid-Until"):
        _info(RELEASE_TEXT.replace(b"Sat, 17 Jan 2026 08:53:33 UTC", value.encode()))


@pytest.mark.parametrize("suite", ["bookworm", "oldstable"])
def test_suite_or_codename_may_match(suite: str) -> None:
    signed.check_suite(_info(suite=suite), WHAT, now=NOW, check_valid_until=True, cached=False)


def test_other_suite_is_refused() -> None:
    with pytest.raises(VerificationError) as error:
        signed.check_suite(_info(suite="trixie"), WHAT, now=NOW, check_valid_until=True, cached=False)
    assert str(error.value) == f'{WHAT} is for suite "oldstable" (codename "bookworm"), not "trixie"'


def test_expired_release_is_refused_unless_told_otherwise() -> None:
    later = datetime.datetime(2026, 2, 1, tzinfo=datetime.UTC)
    with pytest.raises(VerificationError) as error:
        signed.check_suite(_info(), WHAT, now=later, check_valid_until=True, cached=False)
    assert str(error.value) == (
        f"{WHAT} expired on 2026-01-17 08:53 UTC (Valid-Until): the mirror is stale; "
        "pass --ignore-valid-until only for a snapshot mirror"
    )
    with pytest.raises(VerificationError) as error:
        signed.check_suite(_info(), WHAT, now=later, check_valid_until=True, cached=True)
    assert str(error.value).startswith(f"the cached {WHAT} expired on 2026-01-17")
    assert "--ignore-valid-until" in str(error.value)
    signed.check_suite(_info(), WHAT, now=later, check_valid_until=False, cached=False)


def test_a_release_dated_later_than_the_clock_is_refused_unless_told_otherwise() -> None:
    dated = datetime.datetime(2023, 6, 10, 8, 53, 33, tzinfo=datetime.UTC)
    signed.check_suite(_info(), WHAT, now=dated - datetime.timedelta(minutes=9), check_valid_until=True, cached=False)
    early = dated - datetime.timedelta(hours=3)
    with pytest.raises(VerificationError) as error:
        signed.check_suite(_info(), WHAT, now=early, check_valid_until=True, cached=True)
    assert str(error.value) == (
        f"{WHAT} is dated 2023-06-10 08:53 UTC, later than this machine's clock "
        "(2023-06-10 05:53 UTC): set the clock right, since a clock running late also "
        "takes expired indexes for fresh ones; pass --ignore-valid-until to use it anyway"
    )
    signed.check_suite(_info(), WHAT, now=early, check_valid_until=False, cached=False)


def test_offers_architecture_and_components() -> None:
    info = _info()
    signed.check_offers(info, "arm64", ["main", "contrib"], "suite bookworm")
    with pytest.raises(ArchiveError, match=r'^suite bookworm offers no architecture "riscv64" \(it has all'):
        signed.check_offers(info, "riscv64", ["main"], "suite bookworm")
    with pytest.raises(ArchiveError, match=r'^suite bookworm has no component "non-free" \(it has updates/main'):
        signed.check_offers(info, "amd64", ["main", "non-free"], "suite bookworm")


def test_check_plain() -> None:
    data = b"Package: a\n"
    listed = signed.IndexFile("main/binary-amd64/Packages", hashlib.sha256(data).hexdigest(), len(data))
    signed.check_plain(data, listed, "http://m/Packages.xz")
    with pytest.raises(VerificationError, match="does not decompress to the main/binary-amd64/Packages"):
        signed.check_plain(data + b"x", listed, "http://m/Packages.xz")
