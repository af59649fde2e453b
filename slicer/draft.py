"""`slicer draft`: a first slice definition file proposed from the real package.

A contributor's first draft follows rules the repository writes down
(docs/contributing-slices.md), so a program can apply most of them:

- paths come from the package's data.tar on every drafted architecture;
  triplet folders become `*-linux-*` (and a folder named for its
  architecture, `java-21-openjdk-amd64`, `java-21-openjdk-*`), a library file
  next to its soname link becomes `<soname>.*`, a package's private folder
  with many files becomes `<folder>/**` (below a language's shared module
  folder, the module's own folder; below a folder many packages share, and
  only where no other package, drafted or released, installs), and a path
  found on some architectures only carries `arch:`;
- each path goes to a conventional slice by where it lives: `libs` (shared
  libraries in the library folders), `bins` (programs in the bin folders),
  `scripts` (non-ELF programs there), `modules` (plugins and modules in
  library subfolders), `config` (`/etc`), `data` (the rest), `copyright`;
  a link goes to the slice of the package's file it points to;
- documentation, manual pages, translations, lintian overrides, bug-report
  hooks, shell completions, service-manager files and development files
  are left out, except that a development package (`libfoo-dev`) keeps its
  development files: headers in `headers`, link-time files (`.so` links,
  static libraries, start files, pkg-config files) in `dev`;
- essentials come from the files: each ELF file's loader and `DT_NEEDED`
  sonames through the release's provider index (and the packages drafted
  in the same run), a script's `#!` interpreter through the slices that
  ship it; programs need their own package's `config` and `data`, scripts
  its programs; a `.so` link or a program's link into another package needs
  the slice that ships its target.

What a program cannot decide is written as a `# review: <question>` comment
where it applies: a library no slice provides, a choice between providers,
a path another package's slice lists, a maintainer script that changes the
system at install time, alternatives, `Depends` no file explains.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from fnmatch import fnmatchcase
from pathlib import Path

from attrs import define, evolve, field, frozen

from .archive import ArchiveClient, ArchiveOptions, open_archives
from .archive.deb822 import parse
from .cache import Cache
from .console import Console
from .contents import Listing, PackageContents, Provision, find_providers
from .deb import cached_data, iter_data, read_control_files
from .errors import ArchiveError, MirrorError, OfflineError, SlicerError, VerificationError
from .globs import match
from .release.load import load_release
from .release.model import KNOWN_ARCHES, Package, PathKind, Release
from .suggest import did_you_mean

DEFAULT_ARCHES = ("amd64", "arm64")
TRIPLET = re.compile(r"^[a-z0-9_]+-linux-gnu[a-z0-9]*$")
TRIPLET_GLOB = "*-linux-*"
LIB_FOLDERS = ("/lib/", "/usr/lib/", "/lib64/", "/usr/lib64/", "/lib32/", "/usr/lib32/")
BIN_FOLDERS = ("/bin/", "/sbin/", "/usr/bin/", "/usr/sbin/", "/usr/games/")
# Where programs that other programs run (not users) live.
HELPER_FOLDERS = ("/usr/libexec/",)
# Left out, as the repository's rules say: what no program reads at run time in an image.
LEFT_OUT = {
    "documentation": (
        "/usr/share/doc/",
        "/usr/share/doc-base/",
        "/usr/share/info/",
        "/usr/share/gtk-doc/",
        "/usr/share/texmf/doc/",
    ),
    "manual pages": ("/usr/share/man/",),
    "translations": ("/usr/share/locale/",),
    "lintian overrides": ("/usr/share/lintian/",),
    "bug-report hooks": ("/usr/share/bug/",),
    "shell completions": (
        "/usr/share/bash-completion/",
        "/usr/share/zsh/",
        "/usr/share/fish/",
        "/etc/bash_completion.d/",
    ),
    "service-manager files": (
        "/lib/systemd/",
        "/usr/lib/systemd/",
        "/etc/init.d/",
        "/etc/init/",
        "/etc/runit/",
        "/etc/sv/",
        "/usr/share/runit/",
        "/var/log/runit/",
        "/usr/lib/tmpfiles.d/",
        "/usr/lib/sysusers.d/",
        "/etc/cron.",
        "/etc/logrotate.d/",
        "/usr/share/apport/",
        "/usr/share/menu/",
        "/usr/share/applications/",
        "/usr/share/pixmaps/",
        "/usr/share/icons/",
    ),
    "development files": (
        "/usr/include/",
        "/usr/share/pkgconfig/",
        "/usr/share/aclocal/",
    ),
    "debugger scripts": ("/usr/share/gdb/", "/usr/share/systemtap/"),
    "install-time hooks": (
        "/usr/lib/mime/packages/",
        "/usr/share/debconf/",
        "/usr/share/initramfs-tools/",
        "/usr/share/doc-base/",
        "/usr/lib/dpkg/",
        "/usr/share/dpkg/",
    ),
}
# Slices in the order a file lists them; the package's own ones in between, copyright last.
ORDER = ("libs", "modules", "bins", "scripts", "config", "data", "headers", "dev")
HINTS = {
    "headers": "C headers of {name}",
    "dev": "Link-time files of {name}",
    "modules": "Plugins and modules of {name}",
    "scripts": "Scripts of {name}",
    "config": "Configuration of {name}",
    "data": "Data files of {name}",
    "copyright": "Copyright and license notice",
}
# Words a hint cut to 40 bytes must not end on.
DANGLING = frozenset(
    {"a", "an", "the", "and", "or", "to", "of", "for", "with", "in", "on", "by", "from", "as", "-", "--"}
)
# A private folder with more files than this becomes one `**` glob.
COLLAPSE_OVER = 8
# Folders every package of a language installs its modules into: a package's private
# folder is the one below them (`/usr/lib/python3/dist-packages/pip/`), never they themselves.
LANGUAGE_FOLDERS = (
    "/usr/lib/python3/dist-packages/",
    "/usr/share/nodejs/",
    "/usr/lib/nodejs/",
    "/usr/lib/*-linux-*/nodejs/",
    "/usr/share/perl5/",
    "/usr/lib/*-linux-*/perl5/*/",
    "/usr/lib/ruby/vendor_ruby/",
    "/usr/share/rubygems-integration/all/gems/",
    "/usr/lib/*-linux-*/rubygems-integration/*/gems/",
    "/usr/share/php/",
    "/usr/lib/erlang/lib/",
    "/usr/share/java/",
    "/usr/share/lua/*/",
    "/usr/lib/*-linux-*/lua/*/",
)
# Folders that many packages install into (fonts by type, the TeX tree by kind and supplier): never
# private themselves, so a package's private folder lies below them.
SHARED_FOLDERS = (
    "/usr/share/fonts/",
    "/usr/share/fonts/*/",
    "/usr/share/fonts/X11/100dpi/",
    "/usr/share/fonts/X11/75dpi/",
    "/usr/share/fonts/X11/Type1/",
    "/usr/share/fonts/X11/misc/",
    "/usr/share/fontconfig/",
    "/usr/share/fontconfig/*/",
    "/usr/share/texmf/",
    "/usr/share/texmf/*/",
    "/usr/share/texmf/*/*/",
    "/usr/share/texmf/*/*/*/",
    "/usr/share/texlive/",
    "/usr/share/mime/",
    "/usr/share/metainfo/",
    "/usr/share/xml/",
    "/usr/share/sgml/",
    "/usr/share/X11/",
    "/usr/share/X11/*/",
)
# Depends that serve maintainer scripts only, never a program in an image.
INSTALL_TIME = frozenset(
    {
        "debconf",
        "dpkg",
        "adduser",
        "init-system-helpers",
        "lsb-base",
        "sensible-utils",
        "ucf",
        "passwd",
        "systemd",
        "systemd-sysv",
        "sysvinit-utils",
        "cdebconf",
        "debconf-2.0",
        "install-info",
        "libc-bin",
    }
)
# Commands in maintainer scripts that change the system at install time.
INSTALL_EFFECTS = re.compile(
    r"\s*(update-alternatives\s+--install|ln\s|mkdir\s|install\s+-d|touch\s|cp\s|mv\s|chmod\s|chown\s"
    r"|dpkg-statoverride\s+--add|adduser\s|addgroup\s|useradd\s|groupadd\s|systemd-sysusers|systemd-tmpfiles"
    r"|update-ca-certificates|ucf\s|dpkg-maintscript-helper\s+(?:symlink_to_dir|dir_to_symlink))"
)
ALTERNATIVE = re.compile(r"update-alternatives\s+--install\s+(\S+)\s+(\S+)\s+(\S+)")
SHEBANG = re.compile(rb"^#!\s*(\S+)(?:\s+(\S+))?")


class DraftError(SlicerError):
    """A package cannot be drafted: unknown, virtual, or not built for an architecture."""


@frozen
class DraftOptions:
    packages: tuple[str, ...]
    release: str | None = None
    overlays: tuple[Path, ...] = ()
    arches: tuple[str, ...] = DEFAULT_ARCHES
    archives: ArchiveOptions = field(factory=ArchiveOptions)


@frozen
class Draft:
    """A proposed slice definition file, and what it asks a reviewer."""

    package: str
    version: str
    text: str
    reviews: tuple[str, ...]
    # (slice, path) the draft selects on the first architecture that the release's
    # existing file for the package does not: what new versions added.
    added: tuple[tuple[str, str], ...] = ()


@define
class _Entry:
    """One proposed contents entry: its slice, the arches it exists on, the real paths it stands for."""

    slice: str
    arches: set[str] = field(factory=set)
    real: dict[str, list[str]] = field(factory=dict)  # arch -> paths of the package
    review: str = ""


@define
class _Slice:
    name: str
    hint: str = ""
    essentials: dict[str, set[str]] = field(factory=dict)  # slice -> arches needing it
    contents: dict[str, _Entry] = field(factory=dict)
    reviews: list[str] = field(factory=list)


@define
class _Package:
    """What is known of one drafted package on every architecture."""

    name: str
    version: str
    fields: dict[str, str]
    controls: dict[str, bytes]
    listings: dict[str, Listing]
    # arch -> executable non-ELF file -> its first line.
    shebangs: dict[str, dict[str, bytes]] = field(factory=dict)
    slices: dict[str, _Slice] = field(factory=dict)
    reviews: list[str] = field(factory=list)
    left_out: set[str] = field(factory=set)


def draft(options: DraftOptions, console: Console) -> list[Draft]:
    """Propose one slice definition file for each of `options.packages`."""
    for arch in options.arches:
        if arch not in KNOWN_ARCHES:
            raise SlicerError(f"invalid package architecture: {arch} (known: {', '.join(KNOWN_ARCHES)})")
    arches = tuple(dict.fromkeys(options.arches)) or DEFAULT_ARCHES
    release = load_release(options.release, options.overlays, Cache(options.archives.cache_dir))
    contents = {
        arch: PackageContents(release, arch, open_archives(release, arch, console, options.archives), console)
        for arch in arches
    }
    names = list(dict.fromkeys(options.packages))
    _resolve(names, contents)
    packages = [_read(name, contents) for name in names]
    for package in packages:
        _place(package, release, [other for other in packages if other is not package])
    provided = _own_provisions(packages)
    for package in packages:
        _essentials(package, release, contents, provided)
    drafts = []
    for package in packages:
        proposed, selected = _render(package, release, {drafted.name for drafted in packages})
        existing = release.packages.get(package.name)
        if existing is not None:
            proposed = evolve(proposed, added=tuple(_drift(existing, selected, next(iter(package.listings.values())))))
        drafts.append(proposed)
    return drafts


# -- finding the packages ---------------------------------------------------------


def _resolve(names: list[str], contents: dict[str, PackageContents]) -> None:
    """Fetch every package on every architecture, or say clearly, in one error, why any cannot be drafted."""
    for _arch, listing in contents.items():
        listing.fetch(names)
    problems = []
    for name in names:
        lacking = [arch for arch, found in contents.items() if name in found.missing]
        if not lacking:
            continue
        having = [arch for arch in contents if arch not in lacking]
        if having:
            problems.append(
                f'package "{name}" is not built for {", ".join(lacking)} (it is for '
                f"{', '.join(having)}); draft it with --arch {' --arch '.join(having)}"
            )
        else:
            problems.append(_unknown(name, contents[lacking[0]].client))
    if len(problems) == 1:
        raise DraftError(problems[0])
    if problems:
        raise DraftError(f"{len(problems)} packages cannot be drafted:\n" + "\n".join(f"  {p}" for p in problems))


def _unknown(name: str, client: ArchiveClient) -> str:
    """Why the release has no package `name`: a virtual package's providers, or the nearest names."""
    release = client.release.name
    try:
        providers = client.providers(name)
        known = client.names()
    except (MirrorError, OfflineError, VerificationError, ArchiveError) as error:
        return f'release {release} has no package "{name}" for {client.arch} ({error})'
    if providers:
        return (
            f'"{name}" is a virtual package in release {release}, provided by {", ".join(providers)}; '
            "draft one of those"
        )
    return f'release {release} has no package "{name}" for {client.arch}' + did_you_mean(name, known)


def _read(name: str, contents: dict[str, PackageContents]) -> _Package:
    first = next(iter(contents.values()))
    record = first.fetched[name].record
    paragraphs = parse(record.stanza, f'the index entry of "{name}"')
    fields = (
        {key: paragraphs[0].get(key) or "" for key in ("Description", "Depends", "Pre-Depends")} if paragraphs else {}
    )
    listings = {arch: found.listings([name])[name] for arch, found in contents.items()}
    shebangs = {
        arch: _first_lines(found.fetched[name].deb, listings[arch], found.client.cache)
        for arch, found in contents.items()
    }
    return _Package(name, record.version, fields, read_control_files(first.fetched[name].deb), listings, shebangs)


def _first_lines(deb: Path, listing: Listing, cache: Cache) -> dict[str, bytes]:
    """The first line of each executable regular file that is not ELF: where a script names its interpreter."""
    scripts = {
        path
        for path, item in listing.items.items()
        if item.kind == "file" and item.mode & 0o111 and path not in listing.elves and path not in listing.broken
    }
    if not scripts:
        return {}
    found: dict[str, bytes] = {}
    for member in iter_data(deb, cached_data(deb, cache), keep=scripts.__contains__):
        if member.path in scripts and member.stream is not None:
            found[member.path] = member.stream.read(256).split(b"\n", 1)[0]
    return found


# -- placing paths in slices --------------------------------------------------------


def _triplet(part: str) -> bool:
    """Whether a path component is an architecture triplet folder, or the glob standing for one."""
    return part == TRIPLET_GLOB or bool(TRIPLET.match(part))


def _generic(path: str, package: str = "") -> str:
    """The path with its architecture triplet folders written as `*-linux-*`, and a folder named
    for its architecture (`java-21-openjdk-amd64`) as `java-21-openjdk-*`.

    A triplet the package is named after (`x86_64-linux-gnu` in `binutils-x86-64-linux-gnu`) is
    its target, the same folder on every architecture, so it stays: a glob would match other
    targets' folders.
    """
    return "/".join(_generic_part(part, package) for part in path.split("/"))


def _generic_part(part: str, package: str) -> str:
    if TRIPLET.match(part):
        return part if part.replace("_", "-") in package else TRIPLET_GLOB
    stem, dash, arch = part.rpartition("-")
    return f"{stem}-*" if dash and stem and arch in KNOWN_ARCHES else part


def _left_out(path: str, package: str, kind: str = "") -> str:
    """Which group of left-out files `path` (an entry of that `kind`) belongs to, or ""."""
    if path.startswith("/usr/share/doc/"):
        return "" if path in (f"/usr/share/doc/{package}/copyright", f"/usr/share/doc/{package}") else "documentation"
    for group, prefixes in LEFT_OUT.items():
        if path.startswith(prefixes):
            return group
    base = posixpath.basename(path)
    folder = _library_folder(path)
    if base.endswith((".a", ".la", ".pc", ".h")) or (
        kind == "symlink" and base.endswith(".so") and folder and "/" not in path[len(folder) :]
    ):
        return "development files"
    return ""


def _library_folder(path: str) -> str:
    """The library folder `path` lies in (`/usr/lib/*-linux-*/`), or ""."""
    for folder in LIB_FOLDERS:
        if path.startswith(folder):
            first = path[len(folder) :].split("/", 1)[0]
            if _triplet(first):
                return f"{folder}{first}/"
            return folder
    return ""


def _development(package: str) -> bool:
    """Whether the package exists for building software: Debian names those `<name>-dev`."""
    return package.endswith("-dev")


def _kind(package: _Package, path: str, generic: str, developing: bool = False) -> str:
    """The conventional slice of one path of the package; `developing`: a development file it keeps."""
    if generic in (f"/usr/share/doc/{package.name}/copyright", f"/usr/share/doc/{package.name}"):
        return "copyright"
    if developing:
        return "headers" if generic.startswith("/usr/include/") else "dev"
    if generic.startswith("/etc/"):
        return "config"
    elf = any(path in found.elves for found in package.listings.values())
    item = next((found.items[path] for found in package.listings.values() if path in found.items), None)
    if item is not None and item.kind == "symlink":
        # A link goes where its target goes, so a slice never ships a link it cannot satisfy.
        target = _link_end(package, path)
        if generic.startswith(BIN_FOLDERS):
            return "scripts" if any(target in lines for lines in package.shebangs.values()) else "bins"
        if target:
            return _kind(package, target, _generic(target))
    if generic.startswith(BIN_FOLDERS):
        return "bins" if elf else "scripts"
    folder = _library_folder(generic)
    if folder:
        rest = generic[len(folder) :]
        if "/" not in rest.rstrip("/"):
            if _development(package.name):
                return "dev"  # start files and linker scripts: the linker's, not the loader's
            return "libs" if ".so" in rest or elf else "data"
        return "modules" if _triplet(folder.rstrip("/").rsplit("/", 1)[-1]) or elf else "data"
    if ".so" in posixpath.basename(path) and (elf or (item is not None and item.kind == "symlink")):
        return "modules"  # a plugin or private library (or its link) in the package's own folder
    return "bins" if elf and item is not None and item.mode & 0o111 and ".so" not in path else "data"


def _link_end(package: _Package, path: str) -> str:
    """The package's own path that the link at `path` ends at, through its other links, or ""."""
    seen = {path}
    while True:
        item = next((found.items[path] for found in package.listings.values() if path in found.items), None)
        if item is None:
            return ""
        if item.kind != "symlink":
            return path
        path = posixpath.normpath(posixpath.join(posixpath.dirname(path), item.link))
        if path in seen:
            return ""
        seen.add(path)


def _place(package: _Package, release: Release, drafted: list[_Package]) -> None:
    """Put every kept path of every architecture into a slice, collapsing and globbing as the rules say.

    `drafted` are the other packages of the same run: a folder they install into is not private.
    """
    entries: dict[str, _Entry] = {}
    folders: dict[str, set[str]] = {}  # generic path of a directory -> its children seen
    for arch, listing in package.listings.items():
        for path, item in listing.items.items():
            generic = _generic(path, package.name)
            group = _left_out(generic.rstrip("/"), package.name, item.kind)
            kept = group == "development files" and _development(package.name)
            if group and not kept:
                package.left_out.add(group)
                continue
            parent = posixpath.dirname(generic.rstrip("/")) + "/"
            folders.setdefault(parent, set()).add(generic)
            if item.kind == "dir":
                continue
            entry = entries.setdefault(generic, _Entry(_kind(package, path, generic, developing=kept)))
            entry.arches.add(arch)
            entry.real.setdefault(arch, []).append(path)
    # Empty folders the package creates (for state or later use) are kept.
    for arch, listing in package.listings.items():
        for path, item in listing.items.items():
            generic = _generic(path, package.name)
            if (
                item.kind == "dir"
                and generic not in folders
                and not _left_out(generic, package.name)
                and generic.count("/") > 2
            ):
                entry = entries.setdefault(generic, _Entry(_kind(package, path, generic)))
                entry.arches.add(arch)
                entry.real.setdefault(arch, []).append(path)
    entries = _version_globs(entries)
    entries = _collapse(entries, package, release, drafted)
    claimed = _claimed(release, package.name)
    for path, entry in sorted(entries.items()):
        other = claimed.get(path)
        if other and path.endswith("/"):
            continue  # a folder another slice lists: any cut of a path below it makes it anyway
        if other:
            package.reviews.append(
                f"{path} is listed by slice {other} too, so it is left out here; "
                "share it through that slice or add it with prefer"
            )
            continue
        slice_ = package.slices.setdefault(entry.slice, _Slice(entry.slice))
        slice_.contents[path] = entry
    _review_places(package)


def _version_globs(entries: dict[str, _Entry]) -> dict[str, _Entry]:
    """`libfoo.so.1.2.3` next to its soname link `libfoo.so.1` becomes `libfoo.so.1.*`."""
    result: dict[str, _Entry] = {}
    for path, entry in entries.items():
        folder, base = posixpath.split(path)
        soname = next(
            (
                other
                for other in entries
                if entry.slice == "libs"
                and other != path
                and posixpath.dirname(other) == folder
                and base.startswith(posixpath.basename(other) + ".")
                and ".so." in posixpath.basename(other)
            ),
            None,
        )
        key = f"{soname}.*" if soname else path
        merged = result.setdefault(key, _Entry(entry.slice))
        merged.arches |= entry.arches
        for arch, paths in entry.real.items():
            merged.real.setdefault(arch, []).extend(paths)
    return result


def _private_folder(path: str) -> str:
    """The package-private folder `path` lies in, if it lies below one: `/usr/share/<x>/`, `/usr/lib/<x>/` ...

    Below a shared folder (`/usr/share/fonts/truetype/`) the private one is a level deeper.
    """
    parts = path.split("/")
    for shared in LANGUAGE_FOLDERS:
        depth = shared.count("/")
        prefix = shared.split("/")[:depth]
        if len(parts) > depth and all(fnmatchcase(part, want) for part, want in zip(parts, prefix, strict=False)):
            return "/".join(parts[: depth + 1]) + "/" if len(parts) > depth + 1 else ""
    for depth, roots in (
        (4, ("/usr/lib/*-linux-*/", "/lib/*-linux-*/", "/usr/include/*-linux-*/")),
        (3, ("/usr/share/", "/usr/lib/", "/usr/libexec/", "/var/lib/", "/lib/", "/usr/include/")),
    ):
        folder = "/".join(parts[: depth + 1]) + "/"
        if (
            len(parts) > depth + 1
            and not _triplet(parts[depth])
            and any(_generic(folder).startswith(root) and folder.count("/") == root.count("/") + 1 for root in roots)
        ):
            while _shared(folder):
                depth += 1
                if len(parts) <= depth + 1:
                    return ""
                folder = "/".join(parts[: depth + 1]) + "/"
            return folder
    return ""


def _shared(folder: str) -> bool:
    """Whether many packages install into `folder` (one of SHARED_FOLDERS, `*` standing for one name)."""
    parts = folder.split("/")
    return any(
        len(pattern.split("/")) == len(parts)
        and all(want in ("*", part) for want, part in zip(pattern.split("/"), parts, strict=True))
        for pattern in SHARED_FOLDERS
    )


def _collapse(
    entries: dict[str, _Entry], package: _Package, release: Release, drafted: list[_Package]
) -> dict[str, _Entry]:
    """A private folder holding many paths of one slice, that no other package lists or ships, becomes `<folder>**`;
    where one does not qualify, each of its subfolders may."""
    by_folder: dict[str, list[str]] = {}
    for path in entries:
        folder = _private_folder(path)
        if folder and folder != f"/usr/share/doc/{package.name}/":
            by_folder.setdefault(folder, []).append(path)
    others = [
        path
        for other in release.packages.values()
        if other.name != package.name
        for slice_ in other.slices.values()
        for path in slice_.contents
    ]
    others += [_generic(path) for other in drafted for listing in other.listings.values() for path in listing.items]
    result = dict(entries)
    pending = list(by_folder.items())
    while pending:
        folder, paths = pending.pop()
        if len(paths) <= COLLAPSE_OVER:
            continue
        kinds = {entries[path].slice for path in paths}
        if len(kinds) != 1 or any(other.startswith(folder) for other in others):
            # The folder is not all one slice's, or not all this package's: its subfolders may be.
            deeper: dict[str, list[str]] = {}
            for path in paths:
                rest = path[len(folder) :]
                if "/" in rest.rstrip("/"):
                    deeper.setdefault(folder + rest.split("/", 1)[0] + "/", []).append(path)
            pending += deeper.items()
            continue
        merged = _Entry(kinds.pop())
        for path in paths:
            entry = result.pop(path)
            merged.arches |= entry.arches
            for arch, real in entry.real.items():
                merged.real.setdefault(arch, []).extend(real)
        result[folder + "**"] = merged
    return result


def _claimed(release: Release, package: str) -> dict[str, str]:
    """Literal paths other packages' slices list -> one such slice."""
    claimed: dict[str, str] = {}
    for other in release.packages.values():
        if other.name == package:
            continue
        for slice_ in other.slices.values():
            for path, info in slice_.contents.items():
                if info.kind is not PathKind.GLOB:
                    claimed.setdefault(path, str(slice_.key))
    return claimed


def _review_places(package: _Package) -> None:
    """Questions about where paths go, and about what maintainer scripts do at install time."""
    slices = package.slices
    if "config" in slices and "libs" in slices:
        slices["config"].reviews.append(
            "do the libraries read this configuration? If so, add "
            f"{package.name}_config to the essentials of {package.name}_libs"
        )
    for entry_path, entry in slices.get("bins", _Slice("bins")).contents.items():
        if not entry_path.startswith(BIN_FOLDERS + HELPER_FOLDERS):
            entry.review = "a program outside the bin folders: keep it in bins or give it its own slice?"
    for script in ("preinst", "postinst"):
        text = package.controls.get(script, b"").decode("utf-8", "replace")
        effects = [line.strip() for line in text.splitlines() if INSTALL_EFFECTS.match(line)]
        for link, name, target in ALTERNATIVE.findall(text):
            package.reviews.append(
                f"{script} makes {link} an alternative ({name}) pointing to {target}; add "
                f"'{link}: {{symlink: {target}}}' if programs call it by that name"
            )
        others = sorted({effect for effect in effects if not effect.startswith("update-alternatives")})
        if others:
            package.reviews.append(
                f"{script} changes the system at install time ({', '.join(others)}); "
                "recreate with make:, symlink:, text: or mutate: what a program needs"
            )
    if "copyright" not in slices:
        package.reviews.append(
            f"the package has no /usr/share/doc/{package.name}/copyright; point the "
            "copyright slice at the notice it ships"
        )


# -- essentials -----------------------------------------------------------------------


def _own_provisions(packages: list[_Package]) -> dict[tuple[str, str], list[str]]:
    """(arch, basename) -> slices of the drafted packages that ship a file of that name."""
    provided: dict[tuple[str, str], list[str]] = {}
    for package in packages:
        for slice_ in package.slices.values():
            for entry in slice_.contents.values():
                for arch, paths in entry.real.items():
                    for path in paths:
                        # Only a library or a program can meet a need, never a file of the same name.
                        if ".so" not in posixpath.basename(path) and not path.startswith(BIN_FOLDERS):
                            continue
                        provided.setdefault((arch, posixpath.basename(path)), []).append(
                            f"{package.name}_{slice_.name}"
                        )
    return provided


def _relations(value: str) -> list[str]:
    return [
        alternative.split("(")[0].strip().split(":")[0]
        for part in value.split(",")
        for alternative in part.split("|")
        if alternative.strip()
    ]


def _essentials(
    package: _Package,
    release: Release,
    contents: dict[str, PackageContents],
    provided: dict[tuple[str, str], list[str]],
) -> None:
    """Each slice's essentials from the loader, libraries and interpreters its files need."""
    depends = _relations(package.fields.get("Pre-Depends", "")) + _relations(package.fields.get("Depends", ""))
    explained: set[str] = set()
    unprovided: dict[str, dict[str, set[str]]] = {}  # slice -> name -> arches
    for arch, listing in package.listings.items():
        needs: dict[str, dict[str, list[str]]] = {}  # slice -> name -> [paths needing it]
        for slice_ in package.slices.values():
            for entry in slice_.contents.values():
                for path in entry.real.get(arch, []):
                    for name in _needs(listing, package.shebangs.get(arch, {}), path):
                        needs.setdefault(slice_.name, {}).setdefault(name, []).append(path)
        providers = find_providers(release, contents[arch], {name for wanted in needs.values() for name in wanted})
        for slice_name, wanted in needs.items():
            slice_ = package.slices[slice_name]
            own = f"{package.name}_{slice_name}"
            for name in wanted:
                choices = _choices(name, arch, providers.get(name, []), provided)
                if own in choices:
                    continue
                if not choices:
                    unprovided.setdefault(slice_name, {}).setdefault(name, set()).add(arch)
                    continue
                chosen = next((choice for choice in choices if choice.split("_")[0] in depends), choices[0])
                explained.add(chosen.split("_")[0])
                slice_.essentials.setdefault(chosen, set()).add(arch)
                if len(choices) > 1:
                    slice_.reviews.append(f"{name} is provided by {', '.join(choices)}; {chosen} was chosen")
    for slice_name, names in unprovided.items():
        needed = ", ".join(f"{name} ({', '.join(sorted(arches))})" for name, arches in names.items())
        package.slices[slice_name].reviews.append(
            f"its files need {needed}, which no slice of {release.name} provides: draft the packages that ship "
            "them in the same run, or add their slices"
        )
    # A package's scripts wrap its own programs (egrep runs grep, zcat runs gzip).
    if "scripts" in package.slices and "bins" in package.slices:
        package.slices["scripts"].essentials[f"{package.name}_bins"] = set(package.listings)
    for slice_name in ("bins", "scripts"):
        if slice_name in package.slices:
            for own in ("modules", "config", "data"):
                if own in package.slices:
                    package.slices[slice_name].essentials[f"{package.name}_{own}"] = set(package.listings)
    unexplained = [
        name
        for name in dict.fromkeys(depends)
        if name not in explained and name not in INSTALL_TIME and name != package.name
    ]
    if unexplained:
        package.reviews.append(
            f"Depends also names {', '.join(unexplained)}, which no file here shows a need "
            "for; add their slices to the essentials of the slices that use them"
        )


def _needs(listing: Listing, shebangs: dict[str, bytes], path: str) -> list[str]:
    """Basenames a file needs at run time: its loader and libraries, or its script interpreter."""
    info = listing.elves.get(path)
    if info is not None:
        return ([posixpath.basename(info.interpreter)] if info.interpreter else []) + list(info.needed)
    item = listing.items.get(path)
    if item is not None and item.kind == "symlink" and (path.endswith(".so") or path.startswith(BIN_FOLDERS)):
        target = posixpath.normpath(posixpath.join(posixpath.dirname(path), item.link))
        if target in listing.items or target.startswith("/etc/alternatives/"):
            return []
        return [posixpath.basename(target)]
    found = SHEBANG.match(shebangs.get(path, b""))
    if not found:
        return []
    program, argument = found.group(1).decode(), (found.group(2) or b"").decode()
    if posixpath.basename(program) == "env" and argument:
        return ["env", argument]
    return [posixpath.basename(program)]


def _choices(
    name: str, arch: str, provisions: Iterable[Provision], provided: dict[tuple[str, str], list[str]]
) -> list[str]:
    """Slices that can satisfy one need: drafted ones first, then the release's."""
    found = list(provided.get((arch, name), []))
    found += [
        str(provision.slice)
        for provision in provisions
        if ".so" in name or provision.path.rsplit("/", 2)[-2] in ("bin", "sbin")
    ]
    return list(dict.fromkeys(found))


# -- writing the file --------------------------------------------------------------------


def _hint(text: str) -> str:
    """A hint from a package's one-line description, within the house rules."""
    summary = text.split("\n", 1)[0]
    head, colon, tail = summary.partition(":")
    summary = tail.strip() if colon and len(head) < 12 else head.strip() if colon else summary
    summary = re.sub(r"[^A-Za-z0-9 .,;()/+_-]", " ", summary)
    words = summary.split()
    while words and words[0].lower() in ("a", "an", "the"):
        words = words[1:]
    kept: list[str] = []
    for word in words:
        if len(" ".join([*kept, word])) > 40:
            # A cut summary ends before a parenthesis it cannot close, and on a word that can end a
            # phrase, not on "and" or "to".
            opened = [index for index, kept_word in enumerate(kept) if "(" in kept_word]
            if opened and ")" not in " ".join(kept[opened[-1] :]):
                del kept[opened[-1] :]
            while kept and kept[-1].lower().rstrip(",;") in DANGLING:
                kept.pop()
            break
        kept.append(word)
    hint = " ".join(kept).rstrip(".,;: -")
    return hint[:1].upper() + hint[1:] if hint else ""


def _arch_value(arches: set[str], every: tuple[str, ...]) -> str:
    if arches >= set(every):
        return ""
    return " {arch: [" + ", ".join(sorted(arches)) + "]}"


def _comment(text: str, indent: str, label: str = "review:") -> list[str]:
    """`# review: text` (or another label) wrapped to 100 columns."""
    lines, line = [], f"{indent}# {label}"
    for word in text.split():
        if len(line) + 1 + len(word) > 100 and not line.endswith(":"):
            lines.append(line)
            line = f"{indent}#   "
        line = f"{line} {word}" if not line.endswith("#   ") else line + word
    return [*lines, line]


def _render(package: _Package, release: Release, drafted: set[str]) -> tuple[Draft, dict[str, tuple[str, ...]]]:
    """The file's text, and the paths of the package each slice selects on the first architecture.

    `drafted`: the packages of the run, whose copyright slices a doc folder link may point to.
    """
    every = tuple(package.listings)
    description = package.fields.get("Description", "")
    name = package.name
    for slice_name, slice_ in package.slices.items():
        slice_.hint = HINTS.get(slice_name, "").format(name=name) or _hint(description) or f"Files of {name}"
        if len(slice_.hint) > 40 or (slice_.hint[0].islower() and slice_.hint.split(" ")[0].isalpha()):
            # A long package name: the conventional hint without it.
            slice_.hint = HINTS.get(slice_name, "Files of the package").removesuffix(" of {name}")
    _copyright(package, release, drafted)
    lines: list[str] = []
    if package.left_out:
        lines += _comment(f"{', '.join(sorted(package.left_out))}.", "", "Left out:")
    reviews = list(package.reviews)
    for review in package.reviews:
        lines += _comment(review, "")
    lines += [f"package: {name}", "essential:", f"  {name}_copyright:", "slices:"]
    order = (
        [s for s in ORDER if s in package.slices]
        + sorted(s for s in package.slices if s not in ORDER and s != "copyright")
        + ["copyright"]
    )
    selected: dict[str, tuple[str, ...]] = {}
    for slice_name in order:
        if slice_name not in package.slices:
            continue
        slice_ = package.slices[slice_name]
        for review in dict.fromkeys(slice_.reviews):
            lines += _comment(review, "  ")
            reviews.append(review)
        lines += [f"  {slice_name}:", f"    hint: {slice_.hint}"]
        if slice_.essentials:
            lines.append("    essential:")
            for key in sorted(slice_.essentials, key=str.encode):
                lines.append(f"      {key}:{_arch_value(slice_.essentials[key], every)}")
        lines.append("    contents:")
        for path in sorted(slice_.contents, key=str.encode):
            entry = slice_.contents[path]
            if entry.review:
                lines += _comment(entry.review, "      ")
                reviews.append(entry.review)
            lines.append(f"      {path}:{_arch_value(entry.arches, every)}")
        selected[slice_name] = tuple(
            entry_path for entry in slice_.contents.values() for entry_path in entry.real.get(every[0], [])
        )
    return Draft(name, package.version, "\n".join(lines) + "\n", tuple(reviews)), selected


def _copyright(package: _Package, release: Release, drafted: set[str]) -> None:
    """The copyright slice: the notice, or the doc folder's link and the linked package's copyright slice.

    A package drafted in the same run gets a copyright slice too, so it can be linked to.
    """
    slice_ = package.slices.setdefault("copyright", _Slice("copyright", HINTS["copyright"]))
    folder = f"/usr/share/doc/{package.name}"
    for listing in package.listings.values():
        item = listing.items.get(folder)
        if item is not None and item.kind == "symlink":
            other = posixpath.basename(item.link.rstrip("/"))
            if other in drafted or (other in release.packages and "copyright" in release.packages[other].slices):
                slice_.essentials[f"{other}_copyright"] = set(package.listings)
            else:
                slice_.reviews.append(
                    f"{folder} links to {item.link}: add the copyright slice of the "
                    "package that owns it to the essentials"
                )
            return
    if not slice_.contents:
        slice_.reviews.append(f"the package ships no {folder}/copyright; which file is its notice?")


# -- archive drift -------------------------------------------------------------------------


def _drift(existing: Package, selected: dict[str, tuple[str, ...]], listing: Listing) -> list[tuple[str, str]]:
    """(slice, path) the draft selects that no slice of the existing file selects: what a new version added."""
    patterns = [
        info.info or path if info.kind is PathKind.COPY else path
        for slice_ in existing.slices.values()
        for path, info in slice_.contents.items()
        if info.kind in (PathKind.COPY, PathKind.GLOB)
    ]
    covered = {path for pattern in patterns for path in listing.matching(pattern)}
    return [
        (slice_name, path)
        for slice_name, paths in selected.items()
        for path in paths
        if path not in covered and not any(match(pattern, path) for pattern in patterns if "*" in pattern)
    ]
