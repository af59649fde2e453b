"""The package's layout rules, read from the imports of its modules (docs/architecture.md).

Each top-level module and each subpackage of `slicer/` is one stage. Stages
import each other downwards only: no cycles, no command importing another
command, no lower layer importing a higher one, and at most six stages from
the command line down.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "slicer"

# The layers of docs/architecture.md, highest first. A stage imports stages
# of its own layer or lower ones (never in a cycle), and commands never
# import each other.
LAYERS = {
    "cli": 5,
    "info": 4,
    "find": 4,
    "deps": 4,
    "check": 4,
    "image": 4,
    "draft": 4,
    "inspect": 4,
    "completion": 4,
    "cut": 3,
    "contents": 3,
    "release": 2,
    "archive": 2,
    "deb": 2,
    "elf": 2,
    "scripts": 2,
    "rootfs": 2,
    "journal": 2,
    "cache": 2,
    "report": 1,
    "atomic": 1,
    "globs": 1,
    "suggest": 1,
    "console": 1,
    "errors": 1,
    "names": 1,
    "humane": 1,
    "tables": 1,
    "manpage": 1,
}
COMMANDS = {stage for stage, layer in LAYERS.items() if layer == 4}
MAX_DEPTH = 6
# Libraries that reach the network; only `archive` may use them.
NETWORK = {"requests", "urllib3", "http", "urllib.request", "socket"}


def _stage(module: str) -> str:
    """`slicer.release.load` -> `release`; the package root itself is ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, anywhere in it (late imports included), as absolute names."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            found.add(source)
            # `from . import x` and `from slicer import x` name modules too.
            found.update(f"{source}.{alias.name}" for alias in node.names)
    return found


@functools.cache
def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(stage -> stages it imports, stage -> outside modules it imports)."""
    stages: dict[str, set[str]] = {}
    outside: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        stage = _stage(_module_name(path))
        if not stage or stage == "__main__":
            continue
        stages.setdefault(stage, set())
        for name in _imports(path):
            if name == "slicer" or name.startswith("slicer."):
                target = _stage(name)
                if target in LAYERS and target != stage:
                    stages[stage].add(target)
            else:
                outside.setdefault(stage, set()).add(name)
    return stages, outside


def test_every_stage_has_a_place_in_the_layers():
    stages, _ = _graph()
    assert set(stages) - set(LAYERS) == set(), "new stages need a layer here and in docs/architecture.md"
    assert set(LAYERS) - set(stages) == set(), "stages that no longer exist"


@pytest.mark.parametrize("stage", sorted(LAYERS))
def test_a_stage_imports_only_its_own_layer_or_lower_ones(stage):
    imported = _graph()[0][stage]
    upwards = sorted(target for target in imported if LAYERS[target] > LAYERS[stage])
    assert upwards == [], f"{stage} (layer {LAYERS[stage]}) imports higher stages"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_commands_do_not_import_each_other(command):
    assert _graph()[0][command] & COMMANDS == set()


def test_stages_import_each_other_without_cycles_and_at_most_six_deep():
    stages, _ = _graph()

    @functools.cache
    def depth(stage: str, path: tuple[str, ...] = ()) -> int:
        assert stage not in path, "import cycle: " + " -> ".join((*path, stage))
        return 1 + max((depth(target, (*path, stage)) for target in stages[stage]), default=0)

    assert depth("cli") <= MAX_DEPTH


@pytest.mark.parametrize("stage", sorted(set(LAYERS) - {"archive"}))
def test_only_the_archive_stage_reaches_the_network(stage):
    modules = _graph()[1].get(stage, set())
    assert sorted(name for name in modules if name in NETWORK or name.split(".")[0] in NETWORK) == []


def test_every_subpackage_says_what_it_does_and_what_it_may_import():
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        docstring = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert "may import" in docstring.lower(), f"{init.parent.name}/__init__.py docstring names no allowed imports"
