"""dpkg version order, checked against dpkg itself."""

from __future__ import annotations

import random
import shutil
import subprocess

import pytest

from slicer.archive.versions import compare_versions, version_key

EDGE_CASES = [
    ("1.0", "1.0", 0),
    ("1.0", "1.0-0", 0),
    ("0:1.0", "1.0", 0),
    ("1:1.0", "2.0", 1),
    ("1.0~rc1", "1.0", -1),
    ("1.0~~", "1.0~", -1),
    ("1.0~", "1.0", -1),
    ("1.0", "1.0+", -1),
    ("1.0", "1.0.0", -1),
    ("1.0a", "1.0", 1),
    ("1.0a", "1.0.", -1),
    ("1.0.a", "1.0.1", 1),
    ("1.002", "1.2", 0),
    ("1.10", "1.9", 1),
    ("2.36-9+deb12u4", "2.36-9+deb12u10", -1),
    ("2.36-9+deb12u10", "2.36-9", 1),
    ("3.0.11-1~deb12u2", "3.0.11-1", -1),
    ("3.0.15-1~deb12u1", "3.0.11-1~deb12u2", 1),
    ("1.2-3-4", "1.2-3", 1),
    ("1.2-3-4", "1.2-3-4", 0),
    ("1.0-1", "1.0-a", -1),
    ("1:0", "0:9", 1),
    ("1.0+b1", "1.0", 1),
    ("2024a-0+deb12u1", "2025b-0+deb12u1", -1),
    ("20230311", "20230311.1", -1),
]


@pytest.mark.parametrize(("a", "b", "expected"), EDGE_CASES)
def test_edge_cases(a: str, b: str, expected: int) -> None:
    assert compare_versions(a, b) == expected
    assert compare_versions(b, a) == -expected


def test_sorting_uses_the_key() -> None:
    versions = ["1.0", "1.0~rc1", "1:0.1", "1.0-1", "0.9", "1.0+b1"]
    assert sorted(versions, key=version_key) == ["0.9", "1.0~rc1", "1.0", "1.0-1", "1.0+b1", "1:0.1"]


def _random_part(rng: random.Random, alphabet: str, length: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(length))


def _random_version(rng: random.Random) -> str:
    epoch = f"{rng.choice('0123')}:" if rng.random() < 0.2 else ""
    upstream = rng.choice("0123456789") + _random_part(rng, "0019aZz.+~-", rng.randint(0, 7))
    revision = "-" + _random_part(rng, "019az.+~", rng.randint(1, 5)) if rng.random() < 0.6 else ""
    if not revision:
        upstream = upstream.replace("-", ".")
    return epoch + upstream + revision


def _mutate(rng: random.Random, version: str) -> str:
    """A version close to `version`, so pairs share long prefixes."""
    position = rng.randint(0, len(version))
    insert = rng.choice(["~", "0", "1", "a", ".", "+", "~~", "00", "9"])
    candidate = version[:position] + insert + version[position:]
    head, _, _ = candidate.partition(":")
    if not candidate[0].isdigit() or (":" in candidate and not head.isdigit()):
        return version + insert.replace("~", "")
    return candidate


def _dpkg_compare(pairs: list[tuple[str, str]]) -> list[int]:
    script = (
        "while read -r a b; do "
        'if dpkg --compare-versions "$a" lt "$b"; then echo -1; '
        'elif dpkg --compare-versions "$a" eq "$b"; then echo 0; '
        "else echo 1; fi; done"
    )
    stdin = "".join(f"{a} {b}\n" for a, b in pairs)
    done = subprocess.run(["sh", "-c", script], input=stdin, capture_output=True, text=True, check=True, timeout=300)
    return [int(line) for line in done.stdout.split()]


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg is not installed")
def test_matches_dpkg_on_random_pairs() -> None:
    rng = random.Random(20240611)
    pairs = []
    for _ in range(250):
        pairs.append((_random_version(rng), _random_version(rng)))
        base = _random_version(rng)
        pairs.append((base, _mutate(rng, base)))
    pairs += [(a, b) for a, b, _ in EDGE_CASES]
    expected = _dpkg_compare(pairs)
    assert len(expected) == len(pairs)
    mismatches = [
        (a, b, want, compare_versions(a, b))
        for (a, b), want in zip(pairs, expected, strict=True)
        if compare_versions(a, b) != want
    ]
    assert mismatches == []
