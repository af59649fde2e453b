"""Essential closure, dependency order, arch-specific essentials and prefer winners."""

from __future__ import annotations

import pytest

from slicer.errors import SelectionError
from slicer.release.load import load_release
from slicer.release.selection import parse_keys, select

FILES = {
    "libc6.yaml": """\
        package: libc6
        essential: {libc6_copyright: null}
        slices:
          libs:
            essential: {base-files_base: null}
            contents:
              /lib/libc.so.6:
          copyright:
            contents:
              /usr/share/doc/libc6/copyright:
        """,
    "base-files.yaml": """\
        package: base-files
        slices:
          base:
            contents:
              /etc/:
        """,
    "app.yaml": """\
        package: app
        slices:
          bins:
            essential:
              libc6_libs: null
              extra_x86: {arch: amd64}
            contents:
              /usr/bin/app: {prefer: extra}
        """,
    "extra.yaml": """\
        package: extra
        slices:
          x86:
            contents:
              /usr/bin/app: {prefer: third}
          other:
            contents:
              /usr/bin/other:
        """,
    "third.yaml": """\
        package: third
        slices:
          bins:
            contents:
              /usr/bin/app:
        """,
}


@pytest.fixture
def release(make_release):
    return load_release(str(make_release(FILES)) + "/")


def names(selection):
    return [str(s.key) for s in selection.slices]


def test_closure_is_dependencies_first(release):
    selection = select(release, parse_keys(["app_bins"]), "arm64")
    assert names(selection) == ["base-files_base", "libc6_copyright", "libc6_libs", "app_bins"]
    assert selection.packages == ("base-files", "libc6", "app")


def test_arch_specific_essential(release):
    selection = select(release, parse_keys(["app_bins"]), "amd64")
    assert names(selection) == ["extra_x86", "base-files_base", "libc6_copyright", "libc6_libs", "app_bins"]


def test_order_does_not_depend_on_request_order(release):
    one = select(release, parse_keys(["app_bins", "libc6_libs", "extra_other"]), "amd64")
    two = select(release, parse_keys(["extra_other", "libc6_libs", "app_bins"]), "amd64")
    assert names(one) == names(two)


def test_prefer_winner_follows_the_chain(release):
    assert select(release, parse_keys(["app_bins"]), "arm64").winner("/usr/bin/app") == "app"
    assert select(release, parse_keys(["app_bins"]), "amd64").winner("/usr/bin/app") == "extra"
    both = select(release, parse_keys(["app_bins", "third_bins"]), "arm64")
    assert both.winner("/usr/bin/app") == "third"
    assert both.winner("/usr/bin/other") is None


@pytest.mark.parametrize(
    "request_,message",
    [
        ("libc6", 'invalid slice reference: "libc6"'),
        ("nope_libs", 'slices of package "nope" not found'),
        ("libc6_nope", "slice libc6_nope not found"),
    ],
)
def test_selection_errors(release, request_, message):
    with pytest.raises(SelectionError, match=message):
        select(release, parse_keys([request_]), "amd64")


def test_unknown_arch(release):
    with pytest.raises(SelectionError, match="invalid package architecture: vax"):
        select(release, parse_keys(["app_bins"]), "vax")


def test_invalid_generate_fails_when_selected(make_release):
    release = load_release(
        str(
            make_release(
                {
                    "aa.yaml": """\
        package: aa
        slices:
          gen:
            contents:
              /var/lib/x/**: {generate: sbom}
        """
                }
            )
        )
        + "/"
    )
    with pytest.raises(
        SelectionError, match="slice aa_gen has invalid 'generate' for path /var/lib/x/\\*\\*: \"sbom\""
    ):
        select(release, parse_keys(["aa_gen"]), "amd64")


def test_every_missing_slice_is_reported_in_one_error(release):
    with pytest.raises(SelectionError) as raised:
        select(release, parse_keys(["nope_libs", "libc6_nope", "libc6_other", "app_bins"]), "amd64")
    assert str(raised.value) == (
        "3 slices are missing: slice libc6_nope not found; slice libc6_other not found; "
        'slices of package "nope" not found'
    )
