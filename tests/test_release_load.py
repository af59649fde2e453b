"""Finding and loading releases: bundled names, chisel directories, overlays, the cache."""

from __future__ import annotations

import datetime
import pickle
import subprocess
import sys
import textwrap

import pytest

from slicer.cache import Cache
from slicer.errors import ReleaseError
from slicer.release import load as release_module
from slicer.release.load import bundled_names, host_release_name, known_suites, load_release
from slicer.release.model import SliceKey


def test_bundled_releases_load():
    assert {"debian-12", "debian-13"} <= set(bundled_names())
    for name, codename in (("debian-12", "bookworm"), ("debian-13", "trixie")):
        release = load_release(name)
        assert release.name == name and release.codename == codename
        assert release.equal_priority_by_version
        assert set(release.archives) == {"debian", "debian-security"}
        assert release.archives["debian-security"].suites == (f"{codename}-security",)
        assert release.maintenance.standard < release.maintenance.end_of_life


def test_known_suites_cover_every_bundled_release():
    suites = known_suites()
    assert {"bookworm", "bookworm-updates", "trixie", "trixie-updates"} <= suites["debian"]
    assert {"bookworm-security", "trixie-security"} <= suites["debian-security"]


def test_a_cached_release_loads_without_the_yaml_and_cattrs_libraries(tmp_path):
    """Parsing needs PyYAML and cattrs; a release read back from the cache needs neither."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from slicer.release.load import known_suites, load_release\n"
        "from slicer.cache import Cache\n"
        f"release = load_release('debian-12', cache=Cache(Path({str(tmp_path)!r})))\n"
        "loaded = sorted(m for m in ('yaml', 'cattrs') if m in sys.modules)\n"
        "suites = known_suites()\n"
        "made = 'yaml' in sys.modules\n"
        "print(len(release.packages), loaded, made, 'trixie' in suites['debian'], 'yaml' in sys.modules)\n"
    )
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120) for _ in range(2)]
    assert [run.returncode for run in runs] == [0, 0], runs[-1].stderr
    count = str(len(load_release("debian-12").packages))
    # The first run parses; the second reads the cache, and only the lookup of known suites parses.
    assert runs[0].stdout == f"{count} ['cattrs', 'yaml'] True True True\n"
    assert runs[1].stdout == f"{count} [] False True True\n"


def test_unknown_release_lists_the_bundled_ones():
    with pytest.raises(ReleaseError, match=r'unknown release "debian-99" \(bundled releases: .*debian-12'):
        load_release("debian-99")


def test_directory_needs_chisel_yaml(tmp_path):
    with pytest.raises(ReleaseError, match="has no chisel.yaml"):
        load_release(str(tmp_path) + "/")


def test_overlay_adds_and_replaces_package_files(make_release, tmp_path):
    root = make_release(
        {
            "aa.yaml": "package: aa\nslices:\n  bins:\n    contents:\n      /usr/bin/aa:\n",
            "bb.yaml": "package: bb\nslices:\n  bins:\n    contents:\n      /usr/bin/bb:\n",
        }
    )
    overlay = tmp_path / "overlay"
    (overlay / "nested").mkdir(parents=True)
    (overlay / "nested" / "aa.yaml").write_text("package: aa\nslices:\n  mine:\n    contents:\n      /usr/bin/mine:\n")
    (overlay / "cc.yaml").write_text("package: cc\nslices:\n  libs:\n    contents:\n      /usr/lib/cc.so:\n")
    release = load_release(str(root) + "/", [overlay])
    assert sorted(release.packages) == ["aa", "bb", "cc"]
    assert list(release.packages["aa"].slices) == ["mine"]


def test_overlay_must_be_a_directory(make_release, tmp_path):
    with pytest.raises(ReleaseError, match="is not a directory"):
        load_release(str(make_release({})) + "/", [tmp_path / "missing"])


def test_validated_release_is_cached_and_invalidated_by_edits(make_release, tmp_path):
    root = make_release({"aa.yaml": "package: aa\nslices:\n  bins:\n    contents:\n      /usr/bin/aa:\n"})
    cache = tmp_path / "cache"
    first = load_release(str(root) + "/", cache=Cache(cache))
    assert list((cache / "parsed").glob("release-*"))
    assert load_release(str(root) + "/", cache=Cache(cache)) == first
    (root / "slices" / "aa.yaml").write_text("package: aa\nslices:\n  bins:\n    contents:\n      /usr/bin/other:\n")
    assert list(load_release(str(root) + "/", cache=Cache(cache)).packages["aa"].slices["bins"].contents) == [
        "/usr/bin/other"
    ]


def test_tampered_cache_is_ignored(make_release, tmp_path):
    import pickle

    root = make_release({"aa.yaml": "package: aa\nslices:\n  bins:\n    contents:\n      /usr/bin/aa:\n"})
    cache = tmp_path / "cache"
    load_release(str(root) + "/", cache=Cache(cache))
    [entry] = (cache / "parsed").glob("release-*")
    entry.write_bytes(pickle.dumps(ValueError("not a release")))
    assert "aa" in load_release(str(root) + "/", cache=Cache(cache)).packages


def test_host_release_name(tmp_path):
    os_release = tmp_path / "os-release"
    os_release.write_text(
        textwrap.dedent("""\
        PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
        VERSION_ID="12"
        ID=debian
        """)
    )
    assert host_release_name(os_release) == "debian-12"
    os_release.write_text('ID=ubuntu\nVERSION_ID="24.04"\n')
    assert host_release_name(os_release) is None
    assert host_release_name(tmp_path / "missing") is None


def test_default_release_falls_back_to_the_newest_released(monkeypatch):
    monkeypatch.setattr(release_module, "host_release_name", lambda: None)
    assert release_module.default_release_name(datetime.date(2026, 1, 1)) == "debian-13"
    assert release_module.default_release_name(datetime.date(2024, 1, 1)) == "debian-12"


def test_a_release_read_from_the_cache_equals_the_one_built(tmp_path):
    import attrs

    built = load_release("debian-12", cache=Cache(tmp_path))
    cached = load_release("debian-12", cache=Cache(tmp_path))
    assert cached is not built and cached == built
    assert [package.text for package in cached.packages.values()] == [
        package.text for package in built.packages.values()
    ]
    every = [
        attrs.astuple(item, recurse=False)
        for item in (cached.maintenance, *cached.archives.values(), *cached.public_keys.values())
    ]
    assert every == [
        attrs.astuple(item, recurse=False)
        for item in (built.maintenance, *built.archives.values(), *built.public_keys.values())
    ]


def test_a_release_read_from_the_cache_reads_back_only_the_packages_asked_for(tmp_path):
    load_release("debian-12", cache=Cache(tmp_path))
    cached = load_release("debian-12", cache=Cache(tmp_path))
    assert "libc6" in cached.packages and "no-such-package" not in cached.packages
    assert cached.packages["libc6"].slices["libs"].key == SliceKey("libc6", "libs")
    assert list(cached.packages._loaded) == ["libc6"]  # type: ignore[attr-defined]
    # Pickled again, its packages become a plain mapping of every package.
    again = pickle.loads(pickle.dumps(cached))
    assert type(again.packages) is dict and again == cached


@pytest.mark.parametrize("how", ["call", "state"])
def test_a_cache_entry_with_a_field_missing_is_ignored(make_release, tmp_path, how):
    import copyreg
    import pickle

    import attrs

    from slicer.release.model import SliceKey

    class Short:
        """Unpickles as a SliceKey given one field of two: as a call, or as state set field by field."""

        __class__ = property(lambda self: SliceKey)  # what pickle checks a __newobj__ against

        def __reduce__(self):
            if how == "call":
                return (SliceKey, ("aa",))
            return (copyreg.__newobj__, (SliceKey,), (None, {"package": "aa"}))

    root = make_release({"aa.yaml": "package: aa\nslices:\n  bins:\n    contents:\n      /usr/bin/aa:\n"})
    cache = tmp_path / "cache"
    built = load_release(str(root) + "/", cache=Cache(cache))
    [entry] = (cache / "parsed").glob("release-*")
    damaged = attrs.evolve(built, packages={"aa": attrs.evolve(built.packages["aa"], essential=(Short(),))})
    entry.write_bytes(pickle.dumps(damaged, protocol=pickle.HIGHEST_PROTOCOL))
    assert load_release(str(root) + "/", cache=Cache(cache)).packages["aa"].essential == ()
