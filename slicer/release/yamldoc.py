"""YAML text into typed documents, as chisel reads it, with errors located by line.

The document classes give the YAML's shape; PyYAML (libyaml when available)
loads the text and cattrs structures it into them (hyphenated keys, strict
scalars, unknown keys ignored). `schema.py` turns documents into the model.
Only parsing needs this module, so a release loaded from the cache imports
neither library.
"""

from __future__ import annotations

import re
from typing import Any, NewType

import attrs
import cattrs
import yaml
from attrs import define
from cattrs.gen import make_dict_structure_fn, override

from ..errors import ReleaseError

_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available


class _Loader(_BaseLoader):  # type: ignore[misc]
    """YAML read as chisel reads it: only true/false are booleans (so `no`,
    `on`, `off` stay strings), and mapping keys are always the text written
    (a slice named `true` or `false` keeps its name)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)
        mapping = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise _plain_keys_error(key_node)
            if key_node.value in mapping:
                raise _duplicate_key_error(key_node)
            mapping[key_node.value] = self.construct_object(value_node, deep=deep)
        return mapping

    # libyaml calls the three methods below for every node: the stock ones
    # serve path resolvers, which are never used here, and build a list per scalar.
    def descend_resolver(self, current_node: yaml.Node | None, current_index: Any) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass

    def resolve(self, kind: type, value: str, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode:
            if implicit[0]:
                for tag, regexp in _IMPLICIT.get(value[:1], ()):
                    if regexp.match(value):
                        return str(tag)
            return _STR
        return _SEQ if kind is yaml.SequenceNode else _MAP


def _plain_keys_error(node: yaml.Node) -> yaml.YAMLError:
    return yaml.constructor.ConstructorError(None, None, "mapping keys must be plain text", node.start_mark)


def _duplicate_key_error(node: yaml.ScalarNode) -> yaml.YAMLError:
    """A key given twice: YAML forbids it, and silently keeping the last one hides mistakes."""
    return yaml.constructor.ConstructorError(None, None, f'key "{node.value}" is defined twice', node.start_mark)


_TAG = "tag:yaml.org,2002:"
_BOOL = _TAG + "bool"
# The base is chosen at run time, so its attributes are unknown to the type checker.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()  # type: ignore[attr-defined]
}
_Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_IMPLICIT = _Loader.yaml_implicit_resolvers

_BOOLEANS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_STR, _NULL, _INT, _MAP, _SEQ, _MERGE = (_TAG + name for name in ("str", "null", "int", "map", "seq", "merge"))


class _Builder:
    """Python data from a composed document, walked directly.

    PyYAML's generic constructor spends more time dispatching per node than
    libyaml spends parsing; slice files hold only maps, lists, text, null,
    booleans and integers, built here in one pass. Any other tag (and a map
    with a merge key) goes to the stock constructor. A node reached through
    several aliases is built once and shared, so aliases never multiply work,
    and a node that contains an alias to itself is refused.
    """

    def __init__(self, loader: _Loader) -> None:
        self._loader = loader
        self._built: dict[int, Any] = {}
        self._open: set[int] = set()

    def build(self, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        built = self._built.get(id(node))
        if built is not None:
            return built
        if id(node) in self._open:
            raise yaml.constructor.ConstructorError(
                None, None, "an alias refers to a node that contains it", node.start_mark
            )
        self._open.add(id(node))
        if node.tag == _MAP and not any(key.tag == _MERGE for key, _value in node.value):
            data: Any = {}
            for key, value in node.value:
                if not isinstance(key, yaml.ScalarNode):
                    raise _plain_keys_error(key)
                if key.value in data:
                    raise _duplicate_key_error(key)
                data[key.value] = self._scalar(value) if isinstance(value, yaml.ScalarNode) else self.build(value)
        elif node.tag == _SEQ:
            data = [
                self._scalar(item) if isinstance(item, yaml.ScalarNode) else self.build(item) for item in node.value
            ]
        else:
            data = self._loader.construct_object(node, deep=True)
        self._open.discard(id(node))
        self._built[id(node)] = data
        return data

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        tag = node.tag
        if tag == _STR:
            return node.value
        if tag == _NULL:
            return None
        if tag == _BOOL and node.value in _BOOLEANS:
            return _BOOLEANS[node.value]
        if tag == _INT:
            return self._loader.construct_yaml_int(node)
        return self._loader.construct_object(node, deep=True)


# -- document classes ---------------------------------------------------------


StrList = NewType("StrList", list[str])
Arches = NewType("Arches", list[str])


@define
class PathDoc:
    copy: str | None = None
    make: bool | None = None
    text: str | None = None
    symlink: str | None = None
    mode: int | None = None
    mutable: bool = False
    until: str | None = None
    arch: Arches | None = None
    generate: str | None = None
    prefer: str | None = None
    uid: int | None = None
    gid: int | None = None


@define
class SliceDoc:
    essential: Any = None
    v3_essential: Any = None
    contents: dict[str, PathDoc | None] | None = None
    mutate: str = ""
    hint: str = ""


@define
class PackageDoc:
    package: str = ""
    archive: str = ""
    essential: Any = None
    v3_essential: Any = None
    slices: dict[str, SliceDoc | None] | None = None


@define
class KeyDoc:
    id: str = ""
    armor: str = ""


@define
class ArchiveDoc:
    version: str | None = None
    suites: StrList | None = None
    components: StrList | None = None
    public_keys: StrList | None = None
    priority: int | None = None
    default: bool = False
    pro: str = ""
    url: str = ""


@define
class MaintenanceDoc:
    standard: Any = None
    expanded: Any = None
    legacy: Any = None
    end_of_life: Any = None


@define
class ReleaseDoc:
    format: str = ""
    name: str = ""
    codename: str = ""
    version_choice: str = ""
    archives: dict[str, ArchiveDoc] | None = None
    v2_archives: dict[str, ArchiveDoc] | None = None
    public_keys: dict[str, KeyDoc] | None = None
    maintenance: MaintenanceDoc | None = None


# -- structuring ----------------------------------------------------------------


def _strict_str(value: Any, _: type) -> str:
    if isinstance(value, (dict, list)):
        raise TypeError("expected a string")
    return str(value)


def _str_list(value: Any, _: type) -> list[str]:
    if not isinstance(value, list):
        raise TypeError("expected a list")
    return [_strict_str(item, str) for item in value]


def _arches(value: Any, _: type) -> list[str]:
    return [value] if isinstance(value, str) else _str_list(value, list)


def _strict_int(value: Any, _: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("expected an integer")
    return value


def _strict_bool(value: Any, _: type) -> bool:
    if not isinstance(value, bool):
        raise TypeError("expected true or false")
    return value


def _renamed_structure(converter: cattrs.Converter) -> Any:
    """Document classes read `field_name` from the key `field-name`."""

    def factory(cls: type) -> Any:
        renames = {
            field.name: override(rename=field.name.replace("_", "-"))
            for field in attrs.fields(cls)
            if "_" in field.name
        }
        return make_dict_structure_fn(cls, converter, **renames)  # type: ignore[arg-type]  # overrides by field name

    return factory


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter()
    converter.register_structure_hook(bool, _strict_bool)
    converter.register_structure_hook(str, _strict_str)
    converter.register_structure_hook(int, _strict_int)
    converter.register_structure_hook(StrList, _str_list)
    converter.register_structure_hook(Arches, _arches)
    converter.register_structure_hook_factory(attrs.has, _renamed_structure(converter))
    return converter


_converter = _make_converter()


# -- locating errors ----------------------------------------------------------


def locate(text: str, keys: tuple[str, ...]) -> int | None:
    """The 1-based line of the mapping key reached through `keys`, if any.

    Only called when reporting an error, so the fast loader stays line-free.
    """
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        return None
    line = None
    for key in keys:
        if not isinstance(node, yaml.MappingNode):
            break
        for key_node, value_node in node.value:
            if key_node.value == key:
                line = key_node.start_mark.line + 1
                node = value_node
                break
        else:
            break
    return line


class Document:
    """One YAML file being read: its display name, text and parsed data."""

    def __init__(self, display: str, text: str) -> None:
        self.display = display
        self.text = text

    def error(self, message: str, *keys: str) -> ReleaseError:
        line = locate(self.text, keys) if keys else None
        where = f"{self.display}:{line}" if line else self.display
        return ReleaseError(f"{where}: {message}")

    def load(self, what: str) -> Any:
        loader = _Loader(self.text)
        try:
            node = loader.get_single_node()
            return None if node is None else _Builder(loader).build(node)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{self.display}:{mark.line + 1}" if mark else self.display
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ReleaseError(f"{where}: cannot parse {what}: {problem}") from None
        except RecursionError:
            raise ReleaseError(f"{self.display}: cannot parse {what}: nested too deeply") from None
        finally:
            loader.dispose()

    def structure(self, data: Any, cls: type, what: str) -> Any:
        try:
            return _converter.structure(data, cls)
        except (cattrs.BaseValidationError, TypeError, ValueError) as exc:
            message, keys = _describe_cattrs_error(exc)
            raise self.error(f"cannot parse {what}: {message}", *keys) from None


_PATH_PART = re.compile(r"\.([A-Za-z_][\w]*)|\[(?:'((?:[^'\\]|\\.)*)'|(\d+))\]")


def _format_exception(exc: BaseException, type_: type | None) -> str:
    """Our hooks' own messages ("expected a list") read better than cattrs' type dumps."""
    if isinstance(exc, TypeError) and str(exc).startswith("expected"):
        return str(exc)
    if isinstance(exc, KeyError):
        return "required field missing"
    return f"expected {getattr(type_, '__name__', 'a different type')}" if type_ else str(exc)


def _describe_cattrs_error(exc: Exception) -> tuple[str, tuple[str, ...]]:
    if not isinstance(exc, cattrs.BaseValidationError):
        return str(exc), ()
    messages = cattrs.transform_error(exc, format_exception=_format_exception)
    first = messages[0] if messages else str(exc)
    problem, _, where = first.partition(" @ ")
    keys = []
    for attribute, key, _index in _PATH_PART.findall(where.removeprefix("$")):
        if attribute:
            keys.append(attribute.replace("_", "-"))
        elif key:
            keys.append(key)
    shown = ".".join(keys) or "document"
    return f"{shown}: {problem}", tuple(keys)
