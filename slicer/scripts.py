"""Run a slice's `mutate:` script hermetically in Starlark.

Scripts come from slice contributors, so they never run as Python: they are
evaluated by starlark-pyo3 with the standard Starlark globals, top-level
`if`/`for` allowed, no `load()`, and one injected value, `content`, whose
`read`, `write` and `list` builtins follow chisel's rules:

- paths are absolute and cleaned; symlinks are followed inside the root (an
  absolute target restarts at the root, `..` never climbs above it), and
  every hop of a symlink chain is checked again;
- `read` and `list` see only paths the selection knows: listed by a selected
  slice, matched by a selected glob, or a parent directory of one;
- `write` only touches `mutable` paths that are not hard links, through
  `rootfs`, the one writer under a root; a new file is created 0644, an
  existing one keeps its mode, and writing the content a file already holds
  changes nothing;
- `list` returns what is on disk, sorted by name, directories suffixed `/`.

Text is UTF-8: `read` fails on a file that is not valid UTF-8 rather than
handing the script mangled data.

A script runs under a budget: it is stopped after `SCRIPT_SECONDS` or once
the process grew by `SCRIPT_MEMORY` bytes while it ran (checked every thousand
or so Starlark instructions), and Ctrl-C stops it there too.
"""

from __future__ import annotations

import os
import posixpath
import re
import resource
import stat
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import starlark
from attrs import define, field

from . import globs
from .errors import RootError, ScriptError
from .rootfs import MAX_SYMLINKS, Resolver, image_path, write_file

# What one mutate script may take; real ones need milliseconds and kilobytes.
SCRIPT_SECONDS = 60.0
SCRIPT_MEMORY = 1 << 30

# The file name Starlark reports in error locations; matched below to find the line.
_SCRIPT_NAME = "mutate"
_LOCATION = re.compile(rf"^\s*--> {_SCRIPT_NAME}:(\d+):\d+", re.MULTILINE)
_MESSAGE = re.compile(r"^error: (.*)$", re.MULTILINE)

# Builds `content` (and Starlark's usual `print`, which chisel's interpreter
# has) in a private module, so the script sees neither raw builtin behind them.
_CONTENT_MODULE = """\
content = struct(read=_read, write=_write, list=_list)

def print(*args, sep=" "):
    _print(sep.join([str(arg) for arg in args]))
"""


@define
class ScriptAccess:
    """What the selection allows scripts to touch, shared by every script of a cut.

    Parents of `known` paths are computed once, when the access is built.
    """

    root: Path
    known: set[str]
    globs: tuple[str, ...]
    mutable: set[str]
    hardlinks: set[str]
    # Every parent directory of a known literal path, as "/dir/".
    _known_parents: frozenset[str] = field(init=False)
    # Scripts write files only, so a directory found once stays where it is.
    places: Resolver = field(init=False)

    def __attrs_post_init__(self) -> None:
        parents = set()
        for path in self.known:
            parent = posixpath.dirname(path.rstrip("/"))
            while parent != "/" and parent + "/" not in parents:
                parents.add(parent + "/")
                parent = posixpath.dirname(parent)
        self._known_parents = frozenset(parents | {"/"})
        self.places = Resolver(self.root)

    def listed(self, path: str) -> bool:
        """Whether the selection names `path` itself (or as a parent), as a file or a `/`-suffixed directory."""
        return path in self.known or path in self._known_parents

    def readable(self, path: str) -> bool:
        """Whether `path` (cleaned, `/`-suffixed for a directory) is known to the selection."""
        if self.listed(path):
            return True
        if path.endswith("/"):
            return any(globs.overlap(pattern, path + "**") for pattern in self.globs)
        return any(globs.match(pattern, path) for pattern in self.globs)


def _clean(path: str) -> str:
    """Chisel's cleaning: lexical `.`/`..` removal, keeping a directory's `/`."""
    cleaned = "/" + posixpath.normpath(path).lstrip("/")
    if cleaned != "/" and path.endswith("/"):
        cleaned += "/"
    return cleaned


def _reason(error: OSError) -> str:
    return (error.strerror or str(error)).lower()


class _Failure(Exception):
    """A content call refused; carries the message for the script's ScriptError."""


def _unpack(function: str, args: tuple[Any, ...], kwargs: dict[str, Any], names: Sequence[str]) -> list[str]:
    """Bind string arguments by position or name, as Starlark builtins do."""
    if len(args) > len(names):
        raise _Failure(f"{function} takes {len(names)} arguments, got {len(args)}")
    values = dict(zip(names, args, strict=False))
    for name, value in kwargs.items():
        if name not in names or name in values:
            raise _Failure(f"{function} got an unexpected or repeated argument {name!r}")
        values[name] = value
    for name in names:
        if name not in values:
            raise _Failure(f"{function} is missing its {name!r} argument")
        if not isinstance(values[name], str):
            raise _Failure(f"{function} needs a string for {name!r}, got {type(values[name]).__name__}")
    return [values[name] for name in names]


@define
class _Content:
    """The state behind one script's `content` builtins."""

    slice_name: str
    access: ScriptAccess
    on_write: Callable[[str, bytes], None]
    # The exception that stopped the script inside a builtin: Starlark only
    # keeps its text, the error report needs the object.
    failure: Exception | None = None

    def call(self, method: Callable[..., object]) -> Callable[..., object]:
        def builtin(*args: object, **kwargs: object) -> object:
            try:
                return method(*args, **kwargs)
            except Exception as failure:
                self.failure = failure
                raise

        return builtin

    def locate(self, path: str, check: Callable[[str], None]) -> tuple[str, Path]:
        """The final image path and host path for `path`, checking every symlink hop."""
        if not path.startswith("/"):
            raise _Failure(f"content path must be absolute, got: {path}")
        image = _clean(path)
        root = self.access.root
        for _ in range(MAX_SYMLINKS + 1):
            check(image)
            try:
                host = Path(self.access.places.place(image))
            except RootError as error:
                raise _Failure(str(error)) from None
            if not host.is_symlink():
                return image, host
            target = _clean(posixpath.join(image_path(root, host.parent), os.readlink(host)))
            image = target + "/" if image.endswith("/") and target != "/" else target
        raise _Failure(f"too many levels of symbolic links at {path}")

    def print(self, text: str) -> None:
        print(f"slice {self.slice_name}: {text}", file=sys.stderr)

    def check_read(self, image: str) -> None:
        if not self.access.readable(image):
            if self.access.listed(image + "/"):
                raise _Failure(f"content is not a file: {image}")
            raise _Failure(f"cannot read file which is not selected: {image}")

    def check_list(self, image: str) -> None:
        if not self.access.readable(image):
            if self.access.listed(image.rstrip("/")):
                raise _Failure(f"content is not a directory: {image.rstrip('/')}")
            raise _Failure(f"cannot list directory which is not selected: {image}")

    def check_write(self, image: str) -> None:
        if image not in self.access.mutable:
            raise _Failure(f"cannot write file which is not mutable: {image}")
        if image in self.access.hardlinks:
            raise _Failure(f"cannot mutate a hard link: {image}")

    def read(self, *args: object, **kwargs: object) -> str:
        (path,) = _unpack("content.read", args, kwargs, ("path",))
        _, host = self.locate(path, self.check_read)
        if host.is_dir():
            raise _Failure(f"content is not a file: {path}")
        try:
            data = host.read_bytes()
        except OSError as error:
            raise _Failure(f"cannot read {path}: {_reason(error)}") from None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise _Failure(f"content is not valid UTF-8 text: {path}") from None

    def write(self, *args: object, **kwargs: object) -> None:
        path, text = _unpack("content.write", args, kwargs, ("path", "data"))
        image, host = self.locate(path, self.check_write)
        data = text.encode("utf-8")
        try:
            info = host.lstat() if host.exists() else None
            if info is not None:
                if not stat.S_ISREG(info.st_mode):
                    raise _Failure(f"content is not a file: {path}")
                if info.st_nlink > 1:
                    raise _Failure(f"cannot mutate a hard link: {image}")
                if host.read_bytes() == data:
                    return
        except OSError as error:
            raise _Failure(f"cannot write {path}: {_reason(error)}") from None
        try:
            write_file(self.access.root, image, data, stat.S_IMODE(info.st_mode) if info is not None else 0o644)
        except RootError as error:
            raise _Failure(str(error)) from None
        self.on_write(image, data)

    def list(self, *args: object, **kwargs: object) -> list[str]:
        (path,) = _unpack("content.list", args, kwargs, ("path",))
        _, host = self.locate(path if path.endswith("/") else path + "/", self.check_list)
        if not host.exists():
            raise _Failure(f"cannot list {path}: no such directory")
        if not host.is_dir():
            raise _Failure(f"content is not a directory: {path}")
        with os.scandir(host) as entries:
            found = sorted((entry.name, entry.is_dir(follow_symlinks=False)) for entry in entries)
        return [name + "/" if is_dir else name for name, is_dir in found]


def _frozen_content(content: _Content) -> starlark.FrozenModule:
    module = starlark.Module()
    module.add_callable("_read", content.call(content.read))
    module.add_callable("_write", content.call(content.write))
    module.add_callable("_list", content.call(content.list))
    module.add_callable("_print", content.print)
    extended = starlark.Globals.extended_by([starlark.LibraryExtension.StructType])
    starlark.eval(module, starlark.parse("content", _CONTENT_MODULE), extended)
    return module.freeze()


def _dialect() -> starlark.Dialect:
    """Chisel's file options: top-level statements and reassignment, no load()."""
    dialect = starlark.Dialect.standard()
    dialect.enable_top_level_stmt = True
    dialect.enable_load = False
    return dialect


def _error(slice_name: str, error: starlark.StarlarkError, content: _Content) -> Exception:
    """The ScriptError for a failed script; a non-refusal raised by a builtin passes through."""
    text = str(error)
    if content.failure is not None and not isinstance(content.failure, _Failure):
        return content.failure
    if content.failure is not None:
        message = str(content.failure)
    else:
        found = _MESSAGE.search(text)
        message = found.group(1).strip() if found else text.strip().splitlines()[-1]
    location = _LOCATION.search(text)
    suffix = f" (line {location.group(1)})" if location else ""
    return ScriptError(f"slice {slice_name}: {message}{suffix}")


def _resident() -> int:
    """This process's resident memory, in bytes."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # no /proc (a chroot, a bare container): the peak so far, which grows the same way
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class _Budget:
    """Called by Starlark every thousand or so instructions: True stops the script."""

    def __init__(self, seconds: float, memory: int) -> None:
        self.seconds, self.memory = seconds, memory
        self.deadline = time.monotonic() + seconds
        self.base = _resident()
        self.exceeded = ""

    def __call__(self) -> bool:
        if time.monotonic() > self.deadline:
            self.exceeded = f"ran longer than {self.seconds:g} seconds"
        elif _resident() - self.base > self.memory:
            self.exceeded = f"took more than {self.memory >> 20} MiB of memory"
        return bool(self.exceeded)


def run_mutate(
    slice_name: str,
    script: str,
    access: ScriptAccess,
    on_write: Callable[[str, bytes], None],
    seconds: float = SCRIPT_SECONDS,
    memory: int = SCRIPT_MEMORY,
) -> None:
    """Run `script`, the `mutate:` of slice `slice_name` (`pkg_slice`).

    `on_write(path, data)` is called after each write that changed a file,
    with the image path written (a final symlink followed, as the selection
    lists it) and the new bytes.
    """
    content = _Content(slice_name, access, on_write)
    module = starlark.Module()
    loader_dialect = starlark.Dialect.standard()
    loader_dialect.enable_load = True
    frozen = _frozen_content(content)
    starlark.eval(
        module,
        starlark.parse("prelude", 'load("content", "content", "print")\n', loader_dialect),
        starlark.Globals.standard(),
        starlark.FileLoader(lambda _name: frozen),
    )
    budget = _Budget(seconds, memory)
    try:
        ast = starlark.parse(_SCRIPT_NAME, script, _dialect())
        starlark.eval_with(starlark.EvalOptions(check_cancelled=budget), module, ast, starlark.Globals.standard())
    except starlark.StarlarkError as error:
        if budget.exceeded:
            raise ScriptError(f"slice {slice_name}: the mutate script {budget.exceeded}, so it was stopped") from None
        raise _error(slice_name, error, content) from None
    except BaseException as error:
        # The interpreter's own failures (a Rust panic, such as an allocation it cannot make)
        # reach Python as PanicException, which derives from BaseException.
        if type(error).__name__ != "PanicException":
            raise
        reason = str(error).splitlines()[0] if str(error) else "it crashed"
        raise ScriptError(f"slice {slice_name}: the mutate script failed inside the interpreter: {reason}") from None
