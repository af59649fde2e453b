"""The house style of slice definition files, checked on their text: no release, no network.

Checked on the YAML text of a slice definition file (keys in
the order they are written):

- top-level keys in the order `package`, `archive`, `essential`, `slices`;
- inside a slice: `hint`, `essential`, `contents`, `mutate`;
- `contents` keys and `essential` entries sorted bytewise (C collation),
  package-level essentials too;
- every block mapping and sequence indented two spaces under its parent.

`--fix` reorders the lines of unsorted `contents:` and `essential:` blocks
whose entries are one line each; comment and blank lines move with the entry
below them. Anything else is reported for a person to fix.

Hints (when given): at most 40 bytes, sentence case, no leading article,
no trailing punctuation, no double spaces, and only letters, digits, spaces
and `.,;()/+-_`.
"""

from __future__ import annotations

import itertools
import re

import yaml
from attrs import define, field, frozen

try:
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    _Loader = yaml.SafeLoader


# -- house style --------------------------------------------------------------------

TOP_ORDER = {"package": 0, "archive": 1, "essential": 2, "v3-essential": 2, "slices": 3}
SLICE_ORDER = {"hint": 0, "essential": 1, "v3-essential": 1, "contents": 2, "mutate": 3}
INDENT = 2


@frozen
class _Block:
    """An unsorted `contents:` or `essential:` block, as lines of the file."""

    start: int  # first line after the parent key (0-based); comments above the first entry belong to it
    entries: tuple[tuple[bytes, int], ...]  # (sort key, line of the entry)


@define
class Style:
    """What the house style says about one file, and the file with its sortable blocks sorted."""

    issues: list[str] = field(factory=list)
    fixed: str | None = None


def _title(node: yaml.Node) -> str:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else ""


class _StyleReader:
    def __init__(self, display: str, text: str) -> None:
        self.display = display
        self.text = text
        self.issues: list[str] = []
        self.blocks: list[_Block] = []
        self.indented = False

    def issue(self, node: yaml.Node, message: str) -> None:
        self.issues.append(f"{self.display}:{node.start_mark.line + 1}: {message}")

    def read(self) -> None:
        try:
            root = yaml.compose(self.text, Loader=_Loader)
        except yaml.YAMLError:
            return  # the release loader reports syntax errors with their line
        if not isinstance(root, yaml.MappingNode):
            return
        package = next((_title(value) for key, value in root.value if _title(key) == "package"), "")
        self.order(root, TOP_ORDER, "top-level keys")
        self.indentation(root, 0)
        for key, value in root.value:
            if _title(key) in ("essential", "v3-essential"):
                self.sorted_block(key, value, f'essentials of package "{package}"')
            if _title(key) == "slices" and isinstance(value, yaml.MappingNode):
                for name, body in value.value:
                    if isinstance(body, yaml.MappingNode):
                        self.slice(f"{package}_{_title(name)}", body)

    def slice(self, full: str, body: yaml.MappingNode) -> None:
        self.order(body, SLICE_ORDER, f"keys of slice {full}")
        for key, value in body.value:
            if _title(key) in ("essential", "v3-essential"):
                self.sorted_block(key, value, f"essentials of slice {full}")
            elif _title(key) == "contents":
                self.sorted_block(key, value, f"contents of slice {full}")

    def order(self, node: yaml.MappingNode, ranks: dict[str, int], what: str) -> None:
        known = [(key, ranks[_title(key)]) for key, _ in node.value if _title(key) in ranks]
        for (first, rank), (second, next_rank) in itertools.pairwise(known):
            if next_rank < rank:
                house = ", ".join(dict.fromkeys(name for name in ranks if not name.startswith("v3-")))
                self.issue(
                    second,
                    f'{what} are out of order: "{_title(second)}" comes after "{_title(first)}" (house order: {house})',
                )
                return

    def indentation(self, node: yaml.Node, column: int) -> None:
        """Report the first block collection not indented two spaces under its parent."""
        if self.indented:
            return
        children: list[tuple[int, yaml.Node]] = []
        if isinstance(node, yaml.MappingNode) and not node.flow_style:
            children = [(key.start_mark.column, value) for key, value in node.value]
        elif isinstance(node, yaml.SequenceNode) and not node.flow_style:
            children = [(column, item) for item in node.value]
        for parent_column, child in children:
            if isinstance(child, (yaml.MappingNode, yaml.SequenceNode)) and not child.flow_style:
                if child.start_mark.column != parent_column + INDENT:
                    self.issue(
                        child,
                        f"indented by {child.start_mark.column - parent_column} spaces under its "
                        f"parent; the house style is {INDENT}",
                    )
                    self.indented = True
                    return
                self.indentation(child, child.start_mark.column)

    def sorted_block(self, key: yaml.Node, value: yaml.Node, what: str) -> None:
        if isinstance(value, yaml.MappingNode):
            entries = [(_title(name).encode(), name, body) for name, body in value.value]
        elif isinstance(value, yaml.SequenceNode):
            entries = [(_title(item).encode(), item, item) for item in value.value]
        else:
            return
        pairs = itertools.pairwise(entries)
        unsorted = next(((a, b, node) for (a, _, _), (b, node, _) in pairs if b < a), None)
        if unsorted is None:
            return
        first, second, node = unsorted
        message = f"{what} are not sorted: {second.decode()} should come before {first.decode()}"
        if value.flow_style:
            self.issue(node, f"{message}; cannot fix automatically, as the block is in flow style")
        elif not self._one_line_entries(key, entries):
            self.issue(node, f"{message}; cannot fix automatically, as an entry spans several lines")
        else:
            self.issue(node, message)
            self.blocks.append(
                _Block(key.start_mark.line + 1, tuple((name, node.start_mark.line) for name, node, _ in entries))
            )

    def _one_line_entries(self, key: yaml.Node, entries: list[tuple[bytes, yaml.Node, yaml.Node]]) -> bool:
        """Whether each entry is one line, with only comments or blank lines between entries."""
        lines = self.text.splitlines()
        previous = key.start_mark.line
        for _, node, body in entries:
            line = node.start_mark.line
            if body.end_mark.line != line:
                return False
            if any(
                lines[between].strip() and not lines[between].lstrip().startswith("#")
                for between in range(previous + 1, line)
            ):
                return False
            previous = line
        return True


def _sort_blocks(text: str, blocks: list[_Block]) -> str:
    """Reorder each block's entries, each carrying the comment and blank lines above it."""
    lines = text.splitlines(keepends=True)
    for block in sorted(blocks, key=lambda block: -block.start):
        groups = []
        begin = block.start
        for name, line in block.entries:
            groups.append((name, lines[begin : line + 1]))
            begin = line + 1
        ordered = [line for _, group in sorted(groups, key=lambda group: group[0]) for line in group]
        lines[block.start : begin] = ordered
    return "".join(lines)


def review_style(display: str, text: str) -> Style:
    """The house-style issues of one slice definition file, and its text with every fixable block sorted."""
    reader = _StyleReader(display, text)
    reader.read()
    style = Style(list(reader.issues))
    if reader.blocks:
        style.fixed = _sort_blocks(text, reader.blocks)
    return style


# -- hints --------------------------------------------------------------------------

HINT_CHARS = re.compile(r"^[A-Za-z0-9 .,;()/+_-]*$")
ARTICLES = ("a", "an", "the")


def hint_issue(hint: str) -> str | None:
    """Why a hint breaks the house rules, or None."""
    if not hint:
        return None
    words = hint.split(" ")
    if not HINT_CHARS.match(hint):
        return "has characters other than letters, digits, spaces and .,;()/+-_"
    if hint != hint.strip() or "  " in hint:
        return "has leading, trailing or double spaces"
    if hint[-1] in ".,;:":
        return "ends with punctuation"
    if words[0].lower() in ARTICLES:
        return f'starts with the article "{words[0]}"'
    if hint[0].islower() and words[0].isalpha():
        return "is not in sentence case"
    return None
