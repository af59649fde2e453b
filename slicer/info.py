"""`slicer info`: slice definitions printed back as YAML, the way chisel prints them.

One document per package, in the order the queries first name it; a bare
package name prints every slice, `pkg_slice` only that one. Package-level
essentials appear merged into each slice, in map form; paths are flow
mappings with octal modes; keys sorted, four-space indent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import yaml

from .release.model import Package, PathInfo, PathKind, Release, Slice, SliceKey


def _scalar(value: str) -> str:
    """A YAML scalar: plain when it reads back as the same string, JSON-quoted otherwise."""
    if value and "\t" not in value and value.strip() == value and not any(c in value for c in ",{}[]"):
        try:
            if yaml.safe_load(value) == value:
                return value
        except yaml.YAMLError:
            pass
    return json.dumps(value)


def _path_flow(path: str, info: PathInfo) -> str:
    fields: dict[str, str] = {}
    if info.kind == PathKind.COPY and info.info and info.info != path:
        fields["copy"] = _scalar(info.info)
    elif info.kind == PathKind.MAKE:
        fields["make"] = "true"
    elif info.kind == PathKind.TEXT:
        fields["text"] = _scalar(info.info) if info.info else '""'
    elif info.kind == PathKind.SYMLINK:
        fields["symlink"] = _scalar(info.info)
    elif info.kind == PathKind.GENERATE:
        fields["generate"] = _scalar(info.info)
    if info.mode is not None:
        fields["mode"] = f"0{info.mode:o}"
    if info.mutable:
        fields["mutable"] = "true"
    if info.until:
        fields["until"] = info.until
    if info.arch:
        fields["arch"] = info.arch[0] if len(info.arch) == 1 else "[" + ", ".join(info.arch) + "]"
    if info.prefer:
        fields["prefer"] = info.prefer
    if info.uid is not None:
        fields["uid"] = str(info.uid)
    if info.gid is not None:
        fields["gid"] = str(info.gid)
    return "{" + ", ".join(f"{key}: {fields[key]}" for key in sorted(fields)) + "}"


def _slice_yaml(slice_: Slice) -> list[str]:
    lines = [f"    {slice_.name}:"]
    body: dict[str, list[str]] = {}
    if slice_.contents:
        body["contents"] = [
            f"            {_scalar(path)}: {_path_flow(path, slice_.contents[path])}"
            for path in sorted(slice_.contents)
        ]
    if slice_.essential:
        entries = []
        for essential in sorted(slice_.essential, key=lambda e: e.key):
            if essential.arch:
                arch = essential.arch[0] if len(essential.arch) == 1 else "[" + ", ".join(essential.arch) + "]"
                entries.append(f"            {essential.key}: {{arch: {arch}}}")
            else:
                entries.append(f"            {essential.key}: {{}}")
        body["essential"] = entries
    if slice_.hint:
        body["hint"] = []
    if slice_.mutate:
        body["mutate"] = [f"            {line}" if line else "" for line in slice_.mutate.rstrip("\n").split("\n")]
    for key in sorted(body):
        if key == "hint":
            lines.append(f"        hint: {_scalar(slice_.hint)}")
        elif key == "mutate":
            lines.append("        mutate: |")
            lines.extend(body[key])
        else:
            lines.append(f"        {key}:")
            lines.extend(body[key])
    return lines


def package_yaml(package: Package, slice_names: Iterable[str]) -> str:
    lines = []
    if package.archive:
        lines.append(f"archive: {package.archive}")
    lines.append(f"package: {package.name}")
    lines.append("slices:")
    for name in sorted(slice_names):
        lines.extend(_slice_yaml(package.slices[name]))
    return "\n".join(lines) + "\n"


def info(release: Release, queries: Iterable[str]) -> tuple[str, list[str]]:
    """The YAML documents for `queries`, and the queries that matched nothing."""
    wanted: dict[str, set[str]] = {}
    missing = []
    for query in queries:
        key = SliceKey.parse(query)
        package = release.packages.get(key.package if key else query)
        if package is None or (key and key.slice not in package.slices):
            missing.append(query)
            continue
        names = wanted.setdefault(package.name, set())
        names.update([key.slice] if key else package.slices)
    output = "---\n".join(package_yaml(release.packages[name], names) for name, names in wanted.items())
    return output, missing
