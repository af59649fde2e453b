"""The mirror rule: flags, environment, url:, then the host's apt sources."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from slicer.archive import resolve_mirrors
from slicer.archive.mirrors import env_name, read_apt_sources
from slicer.errors import MirrorError
from slicer.release.model import Archive, Release

KNOWN = {
    "debian": {"bookworm", "bookworm-updates", "trixie", "trixie-updates"},
    "debian-security": {"bookworm-security", "trixie-security"},
}


def _release(codename: str = "trixie", url: str = "") -> Release:
    archives = {
        "debian": Archive("debian", "13", (codename, f"{codename}-updates"), ("main",), ("k",), 10, url=url),
        "debian-security": Archive("debian-security", "13", (f"{codename}-security",), ("main",), ("k",), 10),
    }
    return Release(
        path=Path("debian-13.yaml"), format="v3", archives=archives, public_keys={}, packages={}, name="debian-13"
    )


def _apt(tmp_path: Path, sources_list: str = "", **files: str) -> Path:
    root = tmp_path / "apt"
    (root / "sources.list.d").mkdir(parents=True)
    if sources_list:
        (root / "sources.list").write_text(textwrap.dedent(sources_list))
    for name, text in files.items():
        (root / "sources.list.d" / name.replace("_", ".")).write_text(textwrap.dedent(text))
    return root


BOOKWORM_DEB822 = """\
    Types: deb
    URIs: http://mirror.example.invalid/debian
    Suites: bookworm bookworm-updates
    Components: main
    Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

    Types: deb
    URIs: http://mirror.example.invalid/debian-security
    Suites: bookworm-security
    Components: main
"""


def test_env_name() -> None:
    assert env_name("debian-security") == "SLICER_MIRROR_DEBIAN_SECURITY"
    assert env_name("ubuntu.esm") == "SLICER_MIRROR_UBUNTU_ESM"


def test_overrides_win_over_everything(tmp_path: Path) -> None:
    apt = _apt(tmp_path, debian_sources=BOOKWORM_DEB822)
    environ = {"SLICER_MIRROR_DEBIAN": "http://env.invalid/debian"}
    mirrors = resolve_mirrors(
        _release(url="http://url.invalid/d"), {"debian": "https://flag.invalid/debian/"}, KNOWN, apt, environ
    )
    assert mirrors["debian"] == "https://flag.invalid/debian"
    assert mirrors["debian-security"] == "http://mirror.example.invalid/debian-security"


def test_environment_then_url(tmp_path: Path) -> None:
    apt = _apt(tmp_path)
    environ = {"SLICER_MIRROR_DEBIAN_SECURITY": "file:///srv/security"}
    mirrors = resolve_mirrors(_release(url="http://url.invalid/d/"), {}, KNOWN, apt, environ)
    assert mirrors == {"debian": "http://url.invalid/d", "debian-security": "file:///srv/security"}


def test_deb822_sources_match_other_releases_of_the_same_archive(tmp_path: Path) -> None:
    apt = _apt(tmp_path, debian_sources=BOOKWORM_DEB822)
    assert resolve_mirrors(_release("trixie"), {}, KNOWN, apt, {}) == {
        "debian": "http://mirror.example.invalid/debian",
        "debian-security": "http://mirror.example.invalid/debian-security",
    }


def test_exact_suite_beats_a_same_archive_match(tmp_path: Path) -> None:
    apt = _apt(tmp_path, a_sources=BOOKWORM_DEB822, b_list="deb http://trixie.invalid/debian trixie main\n")
    assert resolve_mirrors(_release("trixie"), {}, KNOWN, apt, {})["debian"] == "http://trixie.invalid/debian"
    assert resolve_mirrors(_release("bookworm"), {}, KNOWN, apt, {})["debian"] == (
        "http://mirror.example.invalid/debian"
    )


class _Unread(dict):
    """Known suites that must not be consulted: reading them would parse every bundled release."""

    def get(self, *_args: object) -> None:  # type: ignore[override]
        raise AssertionError("known suites were read although the host lists the archive's own suites")


def test_known_suites_are_read_only_when_no_source_lists_the_own_suites(tmp_path: Path) -> None:
    apt = _apt(tmp_path, debian_sources=BOOKWORM_DEB822)
    assert resolve_mirrors(_release("bookworm"), {}, _Unread(), apt, {}) == {
        "debian": "http://mirror.example.invalid/debian",
        "debian-security": "http://mirror.example.invalid/debian-security",
    }
    with pytest.raises(AssertionError, match="known suites were read"):
        resolve_mirrors(_release("trixie"), {}, _Unread(), apt, {})


def test_one_line_sources_with_options_comments_and_deb_src(tmp_path: Path) -> None:
    apt = _apt(
        tmp_path,
        """\
        # deb http://commented.invalid/debian trixie main
        deb-src http://source.invalid/debian trixie main
        deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] http://one.invalid/debian trixie main # note
        deb\thttp://sec.invalid/debian-security trixie-security main
        deb [ trusted=yes ] cdrom://disc trixie main
    """,
    )
    sources = read_apt_sources(apt)
    assert [(source.uri, source.suites) for source in sources] == [
        ("http://one.invalid/debian", ("trixie",)),
        ("http://sec.invalid/debian-security", ("trixie-security",)),
    ]
    assert resolve_mirrors(_release(), {}, KNOWN, apt, {}) == {
        "debian": "http://one.invalid/debian",
        "debian-security": "http://sec.invalid/debian-security",
    }


def test_deb822_several_uris_disabled_and_source_only_stanzas(tmp_path: Path) -> None:
    apt = _apt(
        tmp_path,
        main_sources="""\
        Types: deb
        URIs: http://disabled.invalid/debian
        Suites: trixie
        Enabled: no

        Types: deb-src
        URIs: http://source.invalid/debian
        Suites: trixie

        # the one that counts
        Types: deb deb-src
        URIs: mirror+http://unsupported.invalid/list http://first.invalid/debian http://second.invalid/debian
        Suites: trixie trixie-security
    """,
    )
    sources = read_apt_sources(apt)
    assert [source.uri for source in sources] == ["http://first.invalid/debian", "http://second.invalid/debian"]
    assert resolve_mirrors(_release(), {}, KNOWN, apt, {})["debian"] == "http://first.invalid/debian"


def test_sources_list_is_read_before_the_directory(tmp_path: Path) -> None:
    apt = _apt(
        tmp_path,
        "deb http://main-file.invalid/debian trixie main\n",
        a_list="deb http://dir.invalid/debian trixie main\n",
    )
    assert resolve_mirrors(_release(), {"debian-security": "http://s.invalid"}, KNOWN, apt, {})["debian"] == (
        "http://main-file.invalid/debian"
    )


def test_missing_mirror_names_archive_suite_and_remedy(tmp_path: Path) -> None:
    apt = _apt(tmp_path, "deb http://only.invalid/debian bookworm main\n")
    with pytest.raises(MirrorError) as error:
        resolve_mirrors(_release(), {}, KNOWN, apt, {})
    assert str(error.value) == (
        'no mirror for archive "debian-security" (suite trixie-security): '
        "pass --mirror debian-security=URL or set SLICER_MIRROR_DEBIAN_SECURITY"
    )


def test_several_missing_mirrors_are_named_together(tmp_path: Path) -> None:
    with pytest.raises(MirrorError) as error:
        resolve_mirrors(_release(), {}, KNOWN, tmp_path / "no-apt", {})
    message = str(error.value)
    assert '"debian" (suite trixie)' in message and '"debian-security" (suite trixie-security)' in message
    assert "SLICER_MIRROR_DEBIAN, SLICER_MIRROR_DEBIAN_SECURITY" in message


def test_unknown_override_and_bad_scheme_are_refused(tmp_path: Path) -> None:
    with pytest.raises(MirrorError, match='--mirror names archive "ubuntu", which release debian-13'):
        resolve_mirrors(_release(), {"ubuntu": "http://x.invalid"}, KNOWN, tmp_path, {})
    with pytest.raises(MirrorError, match="SLICER_MIRROR_DEBIAN gives 'ftp://x.invalid'"):
        resolve_mirrors(_release(), {}, KNOWN, tmp_path, {"SLICER_MIRROR_DEBIAN": "ftp://x.invalid"})


def test_malformed_deb822_file_is_named(tmp_path: Path) -> None:
    apt = _apt(tmp_path, bad_sources="Types: deb\nnot a field\n")
    with pytest.raises(MirrorError, match=r"bad\.sources line 2"):
        resolve_mirrors(_release(), {}, KNOWN, apt, {})
