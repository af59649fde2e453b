"""Signed suite indexes: InRelease (or Release + Release.gpg) checked against pinned keys.

Only the keys a release pins for an archive are ever consulted, never the
host keyring. Only the bytes the signature covers are parsed, and the suite
must be the one asked for (by `Suite` or `Codename`), still valid, and offer
the wanted architecture and components.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from attrs import frozen

from ..errors import ArchiveError, ReleaseError, VerificationError
from ..release.model import Release
from . import deb822

if TYPE_CHECKING:
    import pysequoia


@frozen
class IndexFile:
    """One line of the signed SHA256 list."""

    path: str
    sha256: str
    size: int


@frozen
class InRelease:
    """What a verified InRelease says about one suite of one archive."""

    archive: str
    suite: str
    url: str  # the dists/<suite> directory
    codename: str
    suite_field: str
    date: datetime.datetime | None
    # The fields that name the suite inside the signed text, whatever the URL it came from.
    identity: str
    valid_until: datetime.datetime | None
    architectures: tuple[str, ...]
    components: tuple[str, ...]
    by_hash: bool
    files: dict[str, IndexFile]


# How far the signed Date of a Release may lie ahead of this machine's clock (skew).
MAX_FUTURE = datetime.timedelta(minutes=10)


def _first_line(error: BaseException) -> str:
    """pysequoia's message without the Rust backtrace that follows it."""
    text = str(error).split("Stack backtrace:")[0].strip()
    line = text.splitlines()[0] if text else type(error).__name__
    if "no valid signature" in line.lower():
        return "no valid signature"
    return line.removeprefix("Signature verification failed: ").rstrip(".")


def load_certs(release: Release, archive: str) -> list[pysequoia.Cert]:
    """The certificates pinned for `archive`; an armor may hold several."""
    import pysequoia  # Only runs that check a signature load OpenPGP (see `reusable_text`).

    certs: list[pysequoia.Cert] = []
    for name in release.archives[archive].public_keys:
        key = release.public_keys.get(name)
        if key is None:
            raise ReleaseError(
                f'archive "{archive}" pins public key "{name}", which release '
                f"{release.name or release.path} does not define"
            )
        try:
            found = pysequoia.Cert.split_bytes(key.armor.encode())
        except Exception as error:  # pysequoia raises plain exceptions with Rust detail
            raise ReleaseError(f'public key "{name}" cannot be read: {_first_line(error)}') from None
        if not found:
            raise ReleaseError(f'public key "{name}" holds no certificate')
        certs += found
    return certs


def _verified(data: bytes, signature: bytes | None, certs: list[pysequoia.Cert]) -> pysequoia.Decrypted:
    """pysequoia's verdict on `data` (clearsigned, or under a detached `signature`) with `certs`."""
    import pysequoia

    if signature is None:
        return pysequoia.verify(bytes=data, store=lambda _ids: certs)
    return pysequoia.verify(bytes=data, store=lambda _ids: certs, signature=pysequoia.Sig.from_bytes(signature))


def verify(data: bytes, signature: bytes | None, certs: list[pysequoia.Cert], what: str, pinned_by: str) -> bytes:
    """The signed bytes of a clearsigned `data`, or of `data` under a detached `signature`.

    One good signature by a pinned key is enough, and checking a key's own
    signatures costs milliseconds per key, so each key is first tried alone;
    only when none succeeds alone does the check with all keys run, to tell why.
    """
    for cert in certs if len(certs) > 1 else ():
        try:
            result = _verified(data, signature, [cert])
        except Exception:  # pysequoia raises plain exceptions; the full check below explains
            continue
        if any(sig.certificate == cert.fingerprint for sig in result.valid_sigs):
            return data if signature is not None else (result.bytes or b"")
    fingerprints = {cert.fingerprint for cert in certs}
    try:
        result = _verified(data, signature, certs)
    except Exception as error:  # pysequoia raises plain exceptions with Rust detail
        reason = _first_line(error)
        if reason != "no valid signature":
            reason = f"it is not a readable OpenPGP signed message ({reason})"
        raise VerificationError(f"{what} is not signed by a key pinned in {pinned_by}: {reason}") from None
    if not any(sig.certificate in fingerprints for sig in result.valid_sigs):
        raise VerificationError(f"{what} is not signed by a key pinned in {pinned_by}: no valid signature")
    return data if signature is not None else (result.bytes or b"")


# How long a sealed verdict on an InRelease is reused for the very same bytes and keys. A day bounds
# how long a change of what verification accepts (a policy that stops accepting an algorithm, a clock
# that passes a key's expiry) takes to reach a cut; an archive signs a new InRelease about daily anyway.
VERDICT_LIFETIME = datetime.timedelta(days=1)


def verdict_key(data: bytes, signature: bytes | None, release: Release, archive: str) -> str:
    """The name of the verdict on exactly `data` (and `signature`) under exactly the keys `release` pins
    for `archive`: a change to any of them, a key's armor included, names another verdict."""
    digest = hashlib.sha256(b"slicer InRelease verdict 1")
    parts = [data, signature or b""]
    for name in release.archives[archive].public_keys:
        key = release.public_keys.get(name)
        parts += [name.encode(), key.armor.encode() if key is not None else b""]
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return f"inrelease-verdict-{digest.hexdigest()}"


def verdict_bytes(text: bytes, now: datetime.datetime) -> bytes:
    """A verdict to store under `verdict_key`: when it was reached, and the signed text it proved."""
    return f"{int(now.timestamp())}\n".encode() + text


def reusable_text(verdict: bytes | None, now: datetime.datetime) -> bytes | None:
    """The signed text of a stored verdict reached less than `VERDICT_LIFETIME` ago, else None."""
    if verdict is None:
        return None
    stamp, _, text = verdict.partition(b"\n")
    try:
        reached = datetime.datetime.fromtimestamp(int(stamp), datetime.UTC)
    except (ValueError, OverflowError):
        return None
    return text if text and datetime.timedelta(0) <= now - reached < VERDICT_LIFETIME else None


# The spelling archives write (`Sat, 10 Jun 2023 08:53:33 UTC`), read without email.utils,
# whose import costs a warm cut about 15 ms.
_USUAL_DATE = re.compile(
    r"(?:[A-Z][a-z]{2}, )?(\d{1,2}) ([A-Z][a-z]{2}) (\d{4}) (\d\d):(\d\d):(\d\d) (?:UTC|GMT|\+0000)"
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _usual_date(value: str) -> datetime.datetime | None:
    found = _USUAL_DATE.fullmatch(value.strip())
    if found is None or found[2] not in _MONTHS:
        return None
    day, year, hour, minute, second = (int(found[index]) for index in (1, 3, 4, 5, 6))
    try:
        return datetime.datetime(year, _MONTHS.index(found[2]) + 1, day, hour, minute, second, tzinfo=datetime.UTC)
    except ValueError:
        return None


def _date(paragraph: deb822.Paragraph, field: str, what: str) -> datetime.datetime | None:
    value = paragraph.get(field)
    if not value:
        return None
    parsed = _usual_date(value)
    if parsed is not None:
        return parsed
    from email.utils import parsedate_to_datetime  # late: every other RFC 2822 spelling, rare

    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        raise VerificationError(f"{what} has an unreadable {field} field: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def _files(paragraph: deb822.Paragraph, what: str) -> dict[str, IndexFile]:
    files = {}
    for line in (paragraph.get("SHA256") or "").splitlines():
        words = line.split()
        if not words:
            continue
        if len(words) != 3 or not words[1].isdigit():
            raise VerificationError(f"{what} has a malformed SHA256 line: {line!r}")
        files[words[2]] = IndexFile(words[2], words[0].lower(), int(words[1]))
    return files


def parse_inrelease(signed: bytes, archive: str, suite: str, url: str, what: str) -> InRelease:
    """Read the signed text of a Release file."""
    try:
        paragraphs = deb822.parse(signed.decode("utf-8", "replace"), what)
    except ArchiveError as error:
        raise VerificationError(str(error)) from None
    if not paragraphs:
        raise VerificationError(f"{what} is empty")
    paragraph = paragraphs[0]
    return InRelease(
        archive=archive,
        suite=suite,
        url=url,
        codename=paragraph.get("Codename") or "",
        suite_field=paragraph.get("Suite") or "",
        date=_date(paragraph, "Date", what),
        identity="\0".join(paragraph.get(field) or "" for field in ("Origin", "Label", "Suite", "Codename")),
        valid_until=_date(paragraph, "Valid-Until", what),
        architectures=tuple((paragraph.get("Architectures") or "").split()),
        components=tuple((paragraph.get("Components") or "").split()),
        by_hash=(paragraph.get("Acquire-By-Hash") or "").strip().lower() == "yes",
        files=_files(paragraph, what),
    )


def check_suite(
    info: InRelease,
    what: str,
    *,
    now: datetime.datetime,
    check_valid_until: bool,
    cached: bool,
) -> None:
    """Refuse a Release that names another suite, has expired, or is dated later than the clock."""
    if info.suite not in (info.suite_field, info.codename):
        raise VerificationError(
            f'{what} is for suite "{info.suite_field}" (codename "{info.codename}"), not "{info.suite}"'
        )
    if check_valid_until and info.date is not None and info.date > now + MAX_FUTURE:
        raise VerificationError(
            f"{what} is dated {info.date.strftime('%Y-%m-%d %H:%M UTC')}, later than this machine's clock "
            f"({now.strftime('%Y-%m-%d %H:%M UTC')}): set the clock right, since a clock running late also "
            "takes expired indexes for fresh ones; pass --ignore-valid-until to use it anyway"
        )
    if check_valid_until and info.valid_until is not None and info.valid_until < now:
        expired = info.valid_until.strftime("%Y-%m-%d %H:%M UTC")
        if cached:
            raise VerificationError(
                f"the cached {what} expired on {expired} (Valid-Until); go online to refresh it, "
                "or pass --ignore-valid-until to use it anyway"
            )
        raise VerificationError(
            f"{what} expired on {expired} (Valid-Until): the mirror is stale; "
            "pass --ignore-valid-until only for a snapshot mirror"
        )


def check_not_older(info: InRelease, newest: datetime.datetime | None, what: str) -> None:
    """Refuse a Release signed earlier than the newest one accepted for the same suite (a replay)."""
    if info.date is not None and newest is not None and info.date < newest:
        raise VerificationError(
            f"{what} is dated {info.date.strftime('%Y-%m-%d %H:%M:%S UTC')}, older than the "
            f"{newest.strftime('%Y-%m-%d %H:%M:%S UTC')} one already accepted for this suite: the mirror is "
            "stale or replays an old index to hold back updates; pass --allow-older-index to roll back on "
            "purpose (a snapshot mirror)"
        )


def check_offers(info: InRelease, arch: str, components: Iterable[str], what: str) -> None:
    """Refuse a suite without the wanted architecture or components."""
    if arch not in info.architectures:
        raise ArchiveError(f'{what} offers no architecture "{arch}" (it has {", ".join(info.architectures) or "none"})')
    # Security suites list their components as "updates/main" and so on.
    offered = set(info.components) | {component.rsplit("/", 1)[-1] for component in info.components}
    for component in components:
        if component not in offered:
            raise ArchiveError(f'{what} has no component "{component}" (it has {", ".join(info.components) or "none"})')


def check_plain(data: bytes, listed: IndexFile, url: str) -> None:
    """Refuse a decompressed index that differs from the signed uncompressed one."""
    if len(data) != listed.size or hashlib.sha256(data).hexdigest() != listed.sha256:
        raise VerificationError(f"{url} does not decompress to the {listed.path} its signed index lists")
