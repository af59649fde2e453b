"""`slicer check`: what a slice pull request must pass, proven against the real archive.

House style of a slice definition file, checked on its YAML text (keys in
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

Against the archive, per package and architecture (default amd64 and
arm64): every literal path and glob exists in the real package (or is
restricted to other architectures); each package has a `copyright` slice
that ships its copyright file and that every other slice needs; the
essentials of each slice cover the shared-library needs of the ELF files it
ships; literal paths shared by two packages hold the same thing in both; and
each slice cuts on its own. Each .deb is downloaded once per architecture
and its data.tar read once.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import yaml
from attrs import define, field, frozen

from .archive import PackageRecord
from .console import Console
from .cut import ArchiveOptions, CutOptions, build, open_archives, packages_with_content
from .deb import keep_decompressed
from .deps import Item, Listing, PackageContents, find_providers
from .errors import ReleaseError, SlicerError
from .extract import PackagePlan, plan
from .model import KNOWN_ARCHES, Package, PathKind, Release, Slice, SliceKey
from .release import default_release_name, load_release
from .selection import Selection, select
from .suggest import did_you_mean

CHECKS = ("style", "hints", "copyright", "paths", "libraries", "conflicts", "cut")
ARCH_CHECKS = ("copyright", "paths", "libraries", "conflicts", "cut")
EVERY_ARCH = "all"
DEFAULT_ARCHES = ("amd64", "arm64")

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
        for (first, rank), (second, next_rank) in zip(known, known[1:], strict=False):
            if next_rank < rank:
                house = ", ".join(dict.fromkeys(name for name in ranks if not name.startswith("v3-")))
                self.issue(second, f'{what} are out of order: "{_title(second)}" comes after '
                                   f'"{_title(first)}" (house order: {house})')
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
                    self.issue(child, f"indented by {child.start_mark.column - parent_column} spaces under its "
                                      f"parent; the house style is {INDENT}")
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
        pairs = zip(entries, entries[1:], strict=False)
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
            self.blocks.append(_Block(key.start_mark.line + 1,
                                      tuple((name, node.start_mark.line) for name, node, _ in entries)))

    def _one_line_entries(self, key: yaml.Node, entries: list[tuple[bytes, yaml.Node, yaml.Node]]) -> bool:
        """Whether each entry is one line, with only comments or blank lines between entries."""
        lines = self.text.splitlines()
        previous = key.start_mark.line
        for _, node, body in entries:
            line = node.start_mark.line
            if body.end_mark.line != line:
                return False
            if any(lines[between].strip() and not lines[between].lstrip().startswith("#")
                   for between in range(previous + 1, line)):
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


# -- the report ---------------------------------------------------------------------


@frozen
class Problem:
    package: str
    check: str
    arch: str
    message: str
    slice: str = ""

    def to_json(self) -> dict:
        return {"package": self.package, "slice": self.slice, "check": self.check, "arch": self.arch,
                "message": self.message}


@define
class CheckReport:
    release: str
    arches: tuple[str, ...]
    packages: list[str] = field(factory=list)
    problems: list[Problem] = field(factory=list)
    # (package, check, arch) -> why the check did not run.
    skipped: dict[tuple[str, str, str], str] = field(factory=dict)
    # Files --fix rewrote.
    fixed: list[str] = field(factory=list)
    # Package -> (its file as shown, its text): where problems are annotated.
    files: dict[str, tuple[str, str]] = field(factory=dict)

    def add(self, package: str, check: str, arch: str, message: str, slice_: SliceKey | None = None) -> None:
        self.problems.append(Problem(package, check, arch, message, str(slice_) if slice_ else ""))

    def rows(self, package: str) -> list[tuple[str, str, str, list[str]]]:
        """(check, arch, "ok" | "problems" | "skipped", messages) for one package."""
        rows = []
        for check in CHECKS:
            for arch in self.arches if check in ARCH_CHECKS else (EVERY_ARCH,):
                found = [p.message for p in self.problems if (p.package, p.check, p.arch) == (package, check, arch)]
                reason = self.skipped.get((package, check, arch))
                if found:
                    rows.append((check, arch, "problems", found))
                elif reason:
                    rows.append((check, arch, "skipped", [reason]))
                else:
                    rows.append((check, arch, "ok", []))
        return rows

    def location(self, problem: Problem) -> dict:
        """`file`, `line` and `severity` of a problem, for a CI system's annotations.

        The line is the one the message names (a style issue's `file:line:`), else the
        first path of the message that is a key of the file, else the slice's key, else 1.
        """
        display, text = self.files.get(problem.package, ("", ""))
        if not display:
            return {"file": "", "line": 0, "severity": "error"}
        lines = text.splitlines()
        named = re.match(rf"{re.escape(display)}:(\d+):", problem.message)
        line = int(named.group(1)) if named else 0
        for token in ([] if line else re.findall(r"/[^\s,;:()\"]*", problem.message)):
            line = next((number for number, row in enumerate(lines, 1) if row.strip().startswith(f"{token}:")), 0)
            if line:
                break
        if not line and problem.slice:
            name = problem.slice.split("_", 1)[1]
            line = next((number for number, row in enumerate(lines, 1) if row.startswith(f"  {name}:")), 0)
        return {"file": display, "line": line or 1, "severity": "error"}

    def to_json(self) -> dict:
        return {
            "release": self.release,
            "arches": list(self.arches),
            "problems": [{**problem.to_json(), **self.location(problem)} for problem in self.problems],
            "packages": {package: [_row_json(*row) for row in self.rows(package)] for package in self.packages},
            "fixed": self.fixed,
        }


def _row_json(check: str, arch: str, result: str, messages: list[str]) -> dict:
    row: dict = {"check": check, "arch": arch, "result": result}
    if result == "problems":
        row["problems"] = messages
    elif result == "skipped":
        row["reason"] = messages[0]
    return row


# -- running the checks -------------------------------------------------------------


@frozen
class CheckOptions:
    release: str | None = None
    overlays: tuple[Path, ...] = ()
    arches: tuple[str, ...] = DEFAULT_ARCHES
    packages: tuple[str, ...] = ()
    archives: ArchiveOptions = field(factory=ArchiveOptions)
    fix: bool = False
    workers: int = 4


def check(options: CheckOptions, console: Console) -> CheckReport:
    """Run every check on the chosen packages (default: all) of a release."""
    arches = tuple(dict.fromkeys(options.arches)) or DEFAULT_ARCHES
    for arch in arches:
        if arch not in KNOWN_ARCHES:
            raise SlicerError(f"invalid package architecture: {arch} (known: {', '.join(KNOWN_ARCHES)})")
    try:
        release = load_release(options.release, options.overlays, options.archives.cache_dir)
    except ReleaseError as error:
        report = CheckReport(options.release or default_release_name(), arches)
        report.add("", "definitions", EVERY_ARCH, str(error))
        return report
    unknown = [name for name in options.packages if name not in release.packages]
    if unknown:
        raise SlicerError(f"release {release.name} has no slice definitions for "
                          + ", ".join(f'package "{name}"' + did_you_mean(name, release.packages) for name in unknown))
    report = CheckReport(release.name, arches, list(dict.fromkeys(options.packages)) or sorted(release.packages))
    for name in report.packages:
        package = release.packages[name]
        report.files[name] = (package.display or str(package.path), package.text)
        _check_style(package, options.fix, report)
        _check_hints(release.packages[name], report)
        if "copyright" not in release.packages[name].slices:
            report.add(name, "copyright", EVERY_ARCH, f'package "{name}" has no copyright slice')
    for arch in arches:
        _ArchCheck(release, arch, report, options, console).run()
    return report


def _check_style(package: Package, fix: bool, report: CheckReport) -> None:
    display = package.display or str(package.path)
    style = review_style(display, package.text)
    if fix and style.fixed is not None:
        package.path.write_text(style.fixed)
        report.fixed.append(str(package.path))
        style = review_style(display, style.fixed)
    for issue in style.issues:
        report.add(package.name, "style", EVERY_ARCH, issue)


def _check_hints(package: Package, report: CheckReport) -> None:
    for slice_ in package.slices.values():
        reason = hint_issue(slice_.hint)
        if reason:
            report.add(package.name, "hints", EVERY_ARCH, f'slice {slice_.key} hint "{slice_.hint}" {reason}',
                       slice_.key)


def _extracts(slice_: Slice, arch: str) -> bool:
    return any(info.kind in (PathKind.COPY, PathKind.GLOB) and info.applies_to(arch)
               for info in slice_.contents.values())


def _ancestors(path: str) -> Iterator[str]:
    """`/usr/lib/x/` -> `/usr/lib`, `/usr` (no trailing slashes, the root left out)."""
    parts = path.rstrip("/").split("/")[1:-1]
    for end in range(1, len(parts) + 1):
        yield "/" + "/".join(parts[:end])


def _shape(item: Item) -> tuple[str, int, str]:
    return item.kind, item.mode, item.link


def _describe(item: Item) -> str:
    if item.kind == "dir":
        return f"a directory with mode {item.mode:04o}"
    if item.kind == "symlink":
        return f"a symlink to {item.link}"
    if item.kind == "file":
        return f"a file with mode {item.mode:04o} and SHA-256 {item.sha256[:12]}"
    return f"a {item.kind}"


class _ArchCheck:
    """Every archive-backed check of the chosen packages for one architecture."""

    def __init__(self, release: Release, arch: str, report: CheckReport, options: CheckOptions,
                 console: Console) -> None:
        self.release, self.arch, self.report, self.options, self.console = release, arch, report, options, console
        client = open_archives(release, arch, console, options.archives)
        self.contents = PackageContents(release, arch, client, console, options.workers)
        self.packages = [release.packages[name] for name in report.packages]
        self.closures: dict[SliceKey, Selection] = {}
        # What each closure takes from each package (`extract.plan`), made once.
        self.plans: dict[SliceKey, dict[str, PackagePlan]] = {}

    def slices(self) -> Iterator[Slice]:
        for package in self.packages:
            yield from package.slices.values()

    def add(self, package: str, check: str, message: str, slice_: SliceKey | None = None) -> None:
        self.report.add(package, check, self.arch, message, slice_)

    def skip(self, package: str, checks: Iterable[str], reason: str) -> None:
        for name in checks:
            self.report.skipped[(package, name, self.arch)] = reason

    def run(self) -> None:
        self.console.info(f"Checking {len(self.packages)} packages of {self.release.name} for {self.arch}")
        for slice_ in self.slices():
            try:
                self.closures[slice_.key] = select(self.release, [slice_.key], self.arch)
                self.plans[slice_.key] = plan(self.closures[slice_.key])
            except SlicerError as error:
                self.add(slice_.package, "cut", str(error), slice_.key)
        with_content = [p.name for p in self.packages if any(_extracts(s, self.arch) for s in p.slices.values())]
        needed = {name for plans in self.plans.values() for name in packages_with_content(plans)}
        listings = self.contents.listings(with_content)
        self.contents.fetch(sorted(needed))
        for package in self.packages:
            listing = listings.get(package.name)
            if package.name in self.contents.missing:
                self.add(package.name, "paths", self.contents.missing[package.name])
                self.skip(package.name, ("libraries", "conflicts"), f"package not in the archive for {self.arch}")
            self.copyright(package, listing)
            if listing is not None:
                self.paths(package, listing)
        self.libraries(listings)
        self.conflicts(self.contents.listings(with_content + sorted(needed)))
        self.cuts()

    # copyright ----------------------------------------------------------------------

    def copyright(self, package: Package, listing: Listing | None) -> None:
        own = SliceKey(package.name, "copyright")
        if own.slice not in package.slices:
            return
        for slice_ in package.slices.values():
            closure = self.closures.get(slice_.key)
            if slice_.name != own.slice and closure is not None and own not in {s.key for s in closure.slices}:
                self.add(package.name, "copyright",
                         f'slice {slice_.key} does not need {own} on {self.arch}; add "{own}:" to the '
                         f'essentials of package "{package.name}"', slice_.key)
        notice = f"/usr/share/doc/{package.name}/copyright"
        if listing is None or notice not in listing.items:
            return
        patterns = [info.info or path if info.kind is PathKind.COPY else path
                    for path, info in package.slices[own.slice].contents.items()
                    if info.kind in (PathKind.COPY, PathKind.GLOB) and info.applies_to(self.arch)]
        if not any(notice in listing.matching(pattern) for pattern in patterns):
            self.add(package.name, "copyright", f'slice {own} does not ship {notice}, which package '
                                                f'"{package.name}" has on {self.arch}', own)

    # paths --------------------------------------------------------------------------

    def paths(self, package: Package, listing: Listing) -> None:
        shown = f'package "{package.name}" {listing.version}'
        for slice_ in package.slices.values():
            for path, info in slice_.contents.items():
                if info.kind not in (PathKind.COPY, PathKind.GLOB) or not info.applies_to(self.arch):
                    continue
                source = info.info or path if info.kind is PathKind.COPY else path
                if listing.matching(source):
                    continue
                if info.kind is PathKind.GLOB:
                    message = f"slice {slice_.key} glob {path} matches nothing in {shown} on {self.arch}"
                else:
                    message = self._missing_literal(slice_.key, path, source, listing, shown)
                self.add(package.name, "paths", message, slice_.key)

    def _missing_literal(self, key: SliceKey, path: str, source: str, listing: Listing, shown: str) -> str:
        lists = f"slice {key} lists {path}" + (f" copied from {source}" if source != path else "")
        other = source[:-1] if source.endswith("/") else source + "/"
        found = listing.items.get(other)
        if found is not None:
            return f"{lists}, but {shown} has {_describe(found)} at {other} on {self.arch}; write {other}"
        return f"{lists}, which {shown} does not ship on {self.arch}"

    # shared libraries ---------------------------------------------------------------

    def shipped(self, slice_: Slice, listing: Listing, until: bool = False) -> Iterator[tuple[str, str]]:
        """(path in the package, path in the root) of what the slice extracts for this architecture.

        Paths marked `until: mutate` are left out unless `until` is set.
        """
        for path, info in slice_.contents.items():
            if info.kind not in (PathKind.COPY, PathKind.GLOB) or not info.applies_to(self.arch) \
                    or (info.until == "mutate" and not until):
                continue
            if info.kind is PathKind.GLOB:
                yield from ((found, found) for found in listing.matching(path))
            elif listing.matching(info.info or path):
                yield info.info or path, path

    def libraries(self, listings: dict[str, Listing]) -> None:
        # slice -> [(path in the root, needed name)], in file order.
        needs: dict[SliceKey, list[tuple[str, str]]] = {}
        for slice_ in self.slices():
            listing = listings.get(slice_.package)
            if listing is None:
                continue
            wanted = needs.setdefault(slice_.key, [])
            for source, target in self.shipped(slice_, listing):
                if source in listing.broken:
                    self.add(slice_.package, "libraries",
                             f"slice {slice_.key} ships a file slicer cannot read: {listing.broken[source]}",
                             slice_.key)
                info = listing.elves.get(source)
                if info is not None:
                    names = ([info.interpreter.rsplit("/", 1)[-1]] if info.interpreter else []) + list(info.needed)
                    wanted += [(target, name) for name in names]
        providers = find_providers(self.release, self.contents,
                                   {name for pairs in needs.values() for _, name in pairs})
        for key, pairs in needs.items():
            closure = self.closures.get(key)
            if closure is None:
                continue
            essentials = {s.key for s in closure.slices}
            files: dict[str, list[str]] = {}
            for target, name in pairs:
                files.setdefault(name, []).append(target)
            for name, targets in files.items():
                by = list(dict.fromkeys(provision.slice for provision in providers[name]))
                if key in by or essentials.intersection(by):
                    continue
                ships = f"slice {key} ships {targets[0]}" + (
                    f" (and {len(set(targets)) - 1} more files)" if len(set(targets)) > 1 else "")
                if not by:
                    message = f"{ships} needing {name}, which no slice of {self.release.name} provides on {self.arch}"
                elif len(by) == 1:
                    message = f"{ships} needing {name}, provided by {by[0]}, which is not among its essentials"
                else:
                    message = (f"{ships} needing {name}, provided by {', '.join(map(str, by))}, none of which is "
                               "among its essentials")
                self.add(key.package, "libraries", message, key)

    # conflicts ----------------------------------------------------------------------

    def conflicts(self, listings: dict[str, Listing]) -> None:
        """Implicit parents: a directory or symlink no slice lists, that packages ship differently.

        Slices extract below such a path, so a cut combining the packages keeps
        whichever comes first (or fails, for a symlink against a directory).
        Compared across the checked packages and their essentials.
        """
        listed = {path.rstrip("/") for package in self.release.packages.values()
                  for slice_ in package.slices.values() for path in slice_.contents}
        below: set[str] = set()
        for name, listing in listings.items():
            for slice_ in self.release.packages[name].slices.values():
                for source, _ in self.shipped(slice_, listing, until=True):
                    below.update(_ancestors(source))
        seen: dict[str, dict[str, Item]] = {}
        for name, listing in listings.items():
            for path, item in listing.items.items():
                key = path.rstrip("/")
                if item.kind in ("dir", "symlink") and key in below and key not in listed:
                    seen.setdefault(key, {})[name] = item
        checked = set(self.report.packages)
        for path, owners in sorted(seen.items()):
            for name, item in owners.items():
                other = next(((o, found) for o, found in owners.items() if _shape(found) != _shape(item)), None)
                if name in checked and other is not None:
                    self.add(name, "conflicts",
                             f'path {path}, which slices extract below, is {_describe(item)} in package "{name}" '
                             f'but {_describe(other[1])} in package "{other[0]}" on {self.arch}')

    # cutting each slice alone -------------------------------------------------------

    def cuts(self) -> None:
        jobs = []
        for slice_ in self.slices():
            selection = self.closures.get(slice_.key)
            if selection is None:
                continue
            needed = packages_with_content(self.plans[slice_.key])
            lacking = [name for name in needed if name in self.contents.missing]
            if lacking:
                self.add(slice_.package, "cut", f"slice {slice_.key} cannot be cut on {self.arch}: "
                                                f"{self.contents.missing[lacking[0]]}", slice_.key)
                continue
            jobs.append(selection)
        if not jobs:
            return
        keys = [selection.slices[-1].key for selection in jobs]
        names = {name for key in keys for name in packages_with_content(self.plans[key])}
        work = _CutWork(self.arch, {key: self.closures[key] for key in keys}, {key: self.plans[key] for key in keys},
                        {name: self.contents.records[name] for name in names},
                        {name: self.contents.debs[name] for name in names})
        with (self.console.task(f"Cutting each slice alone for {self.arch}", total=len(jobs), unit="slices") as task,
              _cut_pool(work, self.options.workers) as pool):
            for key, error in zip(keys, pool.map(_cut_alone, keys, chunksize=4), strict=True):
                if error is not None:
                    self.add(key.package, "cut", f"slice {key} does not cut on its own on {self.arch}: {error}", key)
                task.advance()


@frozen
class _CutWork:
    """What a process cutting slices alone needs: each slice's closure and extraction plan, and the
    packages already fetched."""

    arch: str
    closures: dict[SliceKey, Selection]
    plans: dict[SliceKey, dict[str, PackagePlan]]
    records: dict[str, PackageRecord]
    debs: dict[str, Path]


# The work of this process, when it is one of `_cut_pool`'s workers.
_work: _CutWork | None = None


# How much of the packages' data a cut worker keeps decompressed between cuts.
DECOMPRESSED_LIMIT = 512 << 20


def _start_worker(work: _CutWork) -> None:
    global _work
    _work = work
    keep_decompressed(DECOMPRESSED_LIMIT)


def _cut_pool(work: _CutWork, workers: int) -> ProcessPoolExecutor:
    """Processes that cut slices alone: cutting is CPU-bound Python, so threads would share one core.

    They are spawned, not forked: a fork copies whatever locks this process's
    other threads (downloads, progress) hold at that moment.
    """
    count = max(1, min(workers, os.cpu_count() or 1))
    return ProcessPoolExecutor(max_workers=count, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_worker, initargs=(work,))


def _cut_alone(key: SliceKey) -> str | None:
    """Cut one slice and its essentials into an empty root, on a memory-backed folder when there is one;
    the error, if any."""
    assert _work is not None, "a cut worker runs only in the pool"
    quiet = Console(io.StringIO(), quiet=True)
    selection, plans = _work.closures[key], _work.plans[key]
    names = packages_with_content(plans)
    try:
        records = {name: _work.records[name] for name in names}
        debs = {name: _work.debs[name] for name in names}
        with tempfile.TemporaryDirectory(prefix="slicer-check-", dir=scratch_folder()) as folder:
            options = CutOptions(root=Path(folder) / "root", slices=(str(key),), arch=_work.arch, workers=1)
            build(selection, plans, records, debs, options, quiet)
    except SlicerError as error:
        return str(error)
    return None


def scratch_folder() -> str | None:
    """A memory-backed folder for short-lived roots (`/dev/shm`) when this machine has a writable one."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None
