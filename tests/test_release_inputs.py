"""Hostile or broken definition files: each is one error naming the file and line, never a traceback."""

from __future__ import annotations

import pytest

from slicer.cli import main
from slicer.errors import ReleaseError
from slicer.release.load import load_release
from slicer.release.selection import parse_keys, select

GOOD = "package: pkg\nslices:\n  abc:\n    contents:\n      /etc/a:\n"


def _load(make_release, text: str | bytes):
    directory = make_release({"pkg.yaml": ""})
    path = directory / "slices" / "pkg.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return load_release(str(directory) + "/")


def test_a_byte_that_is_not_utf8_is_named_with_its_line(make_release):
    with pytest.raises(ReleaseError, match=r"slices/pkg\.yaml:4: byte 0xff is not UTF-8 text$"):
        _load(make_release, GOOD.encode().replace(b"    contents", b"    cont\xffents"))


def test_a_key_given_twice_is_refused_with_its_line(make_release):
    with pytest.raises(ReleaseError, match=r'slices/pkg\.yaml:6: cannot parse .*: key "/etc/a" is defined twice'):
        _load(make_release, GOOD + "      /etc/a:\n")


@pytest.mark.parametrize("path", ["/etc/a\\0b", "/etc/a\\nb", "/etc/a\\tb"])
def test_control_characters_in_paths_are_refused(make_release, path):
    with pytest.raises(
        ReleaseError,
        match=r"slices/pkg\.yaml:5: slice pkg_abc has invalid content path: .* holds a "
        r"control character",
    ):
        _load(make_release, f'package: pkg\nslices:\n  abc:\n    contents:\n      "{path}":\n')


def test_a_symlink_target_with_a_nul_is_refused(make_release):
    with pytest.raises(ReleaseError, match=r"invalid 'symlink' for path /etc/a: .* holds a control character"):
        _load(make_release, 'package: pkg\nslices:\n  abc:\n    contents:\n      /etc/a: {symlink: "b\\0c"}\n')


def test_text_content_at_a_directory_path_is_refused(make_release):
    with pytest.raises(
        ReleaseError,
        match=r"slices/pkg\.yaml:5: slice pkg_abc path /usr/ ends in / \(a directory\) "
        r"but has text content",
    ):
        _load(make_release, "package: pkg\nslices:\n  abc:\n    contents:\n      /usr/: {text: x}\n")


def test_a_very_long_chain_of_essentials_selects_without_recursion(make_release):
    depth = 1200
    files = {
        f"pkg{number}.yaml": (
            f"package: pkg{number}\nslices:\n  all:\n"
            + (f"    essential:\n      pkg{number + 1}_all: null\n" if number + 1 < depth else "")
            + f"    contents:\n      /p{number}:\n"
        )
        for number in range(depth)
    }
    release = load_release(str(make_release(files)) + "/")
    selection = select(release, parse_keys(["pkg0_all"]), "amd64")
    assert [str(slice_.key) for slice_ in selection.slices][:2] == [f"pkg{depth - 1}_all", f"pkg{depth - 2}_all"]
    assert len(selection.slices) == depth


def test_the_cli_prints_one_line(make_release, capsys):
    directory = make_release({"pkg.yaml": GOOD})
    (directory / "slices" / "pkg.yaml").write_bytes(b"\xff")
    assert main(["info", "--release", str(directory) + "/", "pkg"]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("error: ") and "slices/pkg.yaml:1: byte 0xff" in error
