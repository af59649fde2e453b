"""Shared fixtures: each helper module under tests/helpers/ contributes its own."""

import pytest

from tests.helpers.releases import test_cert, write_release

pytest_plugins = [
    "tests.helpers.archive_fixtures",
    "tests.helpers.tree_fixtures",
    "tests.helpers.image_fixtures",
]


@pytest.fixture(scope="session")
def release_cert():
    """An OpenPGP certificate to pin in test release files."""
    return test_cert()


@pytest.fixture
def make_release(tmp_path, release_cert):
    """Factory: make_release({"pkg.yaml": "..."}, fmt="v3") -> path of a chisel release directory."""
    counter = iter(range(1000))

    def make(slices: dict[str, str], fmt: str = "v3", release_text: str | None = None):
        return write_release(tmp_path / f"release{next(counter)}", release_cert, slices, fmt, release_text)

    return make


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Keep tests out of the user's cache: validated releases and downloads go to a temp dir."""
    import os

    previous = os.environ.get("SLICER_CACHE_DIR")
    os.environ["SLICER_CACHE_DIR"] = str(tmp_path_factory.mktemp("slicer-cache"))
    yield
    if previous is None:
        os.environ.pop("SLICER_CACHE_DIR", None)
    else:
        os.environ["SLICER_CACHE_DIR"] = previous


@pytest.fixture(autouse=True)
def _no_inherited_width(monkeypatch):
    """Tables fit COLUMNS when it is set; GNU readline, once loaded in the test process, exports
    it to children, so every test starts with it empty and sets it where it means to."""
    monkeypatch.setenv("COLUMNS", "")  # empty: no width, as when unset
