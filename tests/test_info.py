"""`slicer info` YAML: it reads back to the same definitions, in chisel's layout."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from slicer.info import info, package_yaml
from slicer.release import schema
from slicer.release.load import load_release
from slicer.release.model import Package, PathInfo, PathKind, Slice

SLICES = {
    "tools.yaml": """\
        package: tools
        archive: debian
        essential:
          tools_copyright:
        slices:
          bins:
            hint: Command-line tools
            essential:
              libfoo1_libs:
              libbar_libs: {arch: [amd64, arm64]}
            contents:
              /usr/bin/tool:
              /usr/bin/tool-alias: {symlink: tool}
              /usr/bin/legacy: {arch: i386}
              /etc/tool.conf: {text: "a = 1\\n", mutable: true, mode: 0640}
              /etc/empty: {text: ""}
              /var/lib/tool/: {make: true, mode: 01777, uid: 65532, gid: 65532}
              /usr/lib/*-linux-*/tool/**: {arch: [amd64, arm64]}
              /usr/share/tool/raw: {copy: /usr/share/tool/raw.in, until: mutate}
            mutate: |
              data = content.read("/usr/share/tool/raw")

              if data:
                  content.write("/etc/tool.conf", data)
          state:
            contents:
              /var/lib/dpkg/status.d/**: {generate: dpkg-status}
          copyright:
            contents:
              /usr/share/doc/tools/copyright:
        """,
    "libfoo1.yaml": """\
        package: libfoo1
        slices:
          libs:
            hint: "Foo library: runtime"
            contents:
              /usr/lib/*-linux-*/libfoo.so.1*:
              /usr/share/common/shared: {prefer: libbar}
        """,
    "libbar.yaml": """\
        package: libbar
        slices:
          libs:
            contents:
              /usr/lib/*-linux-*/libbar.so.2*:
              /usr/share/common/shared:
        """,
}


@pytest.fixture
def release(make_release):
    return load_release(str(make_release(SLICES)) + "/")


def documents(text: str) -> list[dict]:
    return list(yaml.safe_load_all(text))


def test_output_parses_back_to_the_same_slices(release):
    for name, package in release.packages.items():
        output, missing = info(release, [name])
        assert missing == []
        again = schema.parse_package(Path(f"{name}.yaml"), f"{name}.yaml", output, "v3")
        assert again.archive == package.archive
        assert again.slices.keys() == package.slices.keys()
        for slice_name, original in package.slices.items():
            parsed = again.slices[slice_name]
            assert parsed.contents == original.contents
            assert sorted(parsed.essential, key=lambda e: e.key) == sorted(original.essential, key=lambda e: e.key)
            assert (parsed.hint, parsed.mutate) == (original.hint, original.mutate)


def test_values_load_as_the_model_holds_them(release):
    (document,) = documents(info(release, ["tools"])[0])
    assert document["package"] == "tools" and document["archive"] == "debian"
    bins = document["slices"]["bins"]
    model = release.packages["tools"].slices["bins"]
    assert bins["hint"] == model.hint == "Command-line tools"
    assert bins["mutate"] == model.mutate
    contents = bins["contents"]
    assert contents["/etc/tool.conf"] == {"text": "a = 1\n", "mutable": True, "mode": 0o640}
    assert contents["/etc/empty"] == {"text": ""}
    assert contents["/var/lib/tool/"] == {"make": True, "mode": 0o1777, "uid": 65532, "gid": 65532}
    assert contents["/usr/bin/tool-alias"] == {"symlink": "tool"}
    assert contents["/usr/bin/legacy"]["arch"] == "i386"
    assert contents["/usr/lib/*-linux-*/tool/**"] == {"arch": ["amd64", "arm64"]}
    assert contents["/usr/share/tool/raw"] == {"copy": "/usr/share/tool/raw.in", "until": "mutate"}
    assert document["slices"]["state"]["contents"] == {"/var/lib/dpkg/status.d/**": {"generate": "dpkg-status"}}
    (libfoo,) = documents(info(release, ["libfoo1"])[0])
    assert libfoo["slices"]["libs"]["contents"]["/usr/share/common/shared"]["prefer"] == "libbar"
    assert libfoo["slices"]["libs"]["hint"] == "Foo library: runtime"


def test_package_essentials_are_merged_into_each_slice_in_map_form(release):
    (document,) = documents(info(release, ["tools"])[0])
    slices = document["slices"]
    assert slices["bins"]["essential"] == {
        "libbar_libs": {"arch": ["amd64", "arm64"]},
        "libfoo1_libs": {},
        "tools_copyright": {},
    }
    assert slices["state"]["essential"] == {"tools_copyright": {}}
    # A package's essentials never make its copyright slice need itself.
    assert "essential" not in slices["copyright"]
    assert "essential" not in document


def test_layout_is_four_space_indented_with_sorted_keys_and_flow_paths(release):
    output, _ = info(release, ["tools"])
    lines = output.splitlines()
    assert lines[:3] == ["archive: debian", "package: tools", "slices:"]
    mutate_body = False
    for line in lines:
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        if line.strip().startswith("mutate: |"):
            mutate_body = True
            continue
        if mutate_body and (not line.strip() or indent >= 12):
            continue
        mutate_body = False
        assert indent % 4 == 0, line
    assert "    bins:" in lines and "        contents:" in lines
    assert '            /etc/tool.conf: {mode: 0640, mutable: true, text: "a = 1\\n"}' in lines
    assert "            /var/lib/tool/: {gid: 65532, make: true, mode: 01777, uid: 65532}" in lines

    def check_sorted(node: yaml.Node) -> None:
        if isinstance(node, yaml.MappingNode):
            keys = [key.value for key, _ in node.value]
            assert keys == sorted(keys), keys
            for _, value in node.value:
                check_sorted(value)

    root = yaml.compose(output)
    check_sorted(root)
    slices = {key.value: value for key, value in root.value}["slices"]
    for _, slice_node in slices.value:
        for key, value in slice_node.value:
            if key.value in ("contents", "essential"):
                assert all(isinstance(entry, yaml.MappingNode) and entry.flow_style for _, entry in value.value)


def test_documents_follow_the_order_queries_name_packages(release):
    output, missing = info(release, ["libfoo1_libs", "tools_copyright", "libbar", "tools_bins"])
    assert missing == []
    found = documents(output)
    assert [document["package"] for document in found] == ["libfoo1", "tools", "libbar"]
    # Two queries for one package give one document holding both slices.
    assert sorted(found[1]["slices"]) == ["bins", "copyright"]
    assert output.count("---\n") == 2


def test_queries_that_match_nothing_are_returned_in_order(release):
    output, missing = info(release, ["nope", "tools_nope", "tools", "Not-A-Name"])
    assert missing == ["nope", "tools_nope", "Not-A-Name"]
    assert [document["package"] for document in documents(output)] == ["tools"]
    assert info(release, ["nope"]) == ("", ["nope"])


def test_plain_copies_print_as_empty_mappings(release):
    output, _ = info(release, ["tools_copyright"])
    assert "            /usr/share/doc/tools/copyright: {}" in output.splitlines()


@pytest.mark.parametrize(
    "value",
    [
        "plain words",
        "a: b",
        "x #y",
        "- dash",
        "? mark",
        "null",
        "yes",
        "~",
        "y",
        "é and ü",
        "'quote\"",
        "trailing ",
        "On",
        "0755",
        "123",
        "1.5",
        "2024-01-01",
        "tab\there",
    ],
)
def test_awkward_strings_survive_yaml(value):
    slice_ = Slice(
        "pkg",
        "data",
        contents={
            "/etc/value": PathInfo(PathKind.TEXT, info=value),
            "/etc/link": PathInfo(PathKind.SYMLINK, info=value),
        },
        hint=value,
    )
    package = Package("pkg", Path("pkg.yaml"), slices={"data": slice_})
    loaded = yaml.safe_load(package_yaml(package, ["data"]))["slices"]["data"]
    assert loaded["hint"] == value
    assert loaded["contents"]["/etc/value"] == {"text": value}
    assert loaded["contents"]["/etc/link"] == {"symlink": value}
