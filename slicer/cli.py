"""The `slicer` command line: argument parsing, output formats and exit codes.

Thin by design: each command parses its options, calls one function of the
core, and prints. Exit codes: 0 success, 1 an error slicer explains (one
sentence on stderr), 2 a usage error. A traceback appears only with --debug.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .console import Console
from .errors import SlicerError, UsageError
from .humane import plural, size
from .names import UnknownArchError, debian_arch
from .tables import output_width, print_table, shell_command

if TYPE_CHECKING:
    from .archive import ArchiveOptions
    from .deps import DepsReport
    from .release.model import Release


def host_arch() -> str:
    machine = os.uname().machine  # what platform.machine() answers on Linux, without importing it
    try:
        return debian_arch(machine)
    except UnknownArchError:
        raise SlicerError(f"cannot infer the Debian architecture of this {machine} machine; pass --arch") from None


def arch_argument(value: str) -> str:
    """`--arch` values: Debian's names, or `uname -m`'s and Docker's, mapped to Debian's."""
    try:
        return debian_arch(value)
    except UnknownArchError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)
        # argparse measures command names one indent short; this room keeps "completion" and
        # its help on one line.
        self._action_max_length = 16


def _add_release_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--release",
        metavar="R",
        help="bundled release (debian-12 or bookworm, debian-13 or trixie) or a chisel release directory "
        "(a value containing /); default: the host's Debian release if bundled, else the newest",
    )
    parser.add_argument(
        "--slices",
        metavar="DIR",
        action="append",
        default=[],
        type=Path,
        help="extra slice definitions overlaid on the release; a package file here replaces the "
        "release's file of the same package (repeatable)",
    )


def _add_ignore_option(parser: argparse.ArgumentParser, verb: str) -> None:
    parser.add_argument(
        "--ignore",
        metavar="CONDITION",
        action="append",
        default=[],
        choices=["unmaintained", "unstable"],
        help=f"{verb} even if the release is unmaintained or unstable (repeatable)",
    )


def _add_archive_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mirror",
        metavar="ARCHIVE=URL",
        action="append",
        default=[],
        help="base URL for an archive of the release, e.g. debian-security=https://mirror.example/debian-security "
        "(repeatable; else SLICER_MIRROR_<ARCHIVE>, then the host's apt sources)",
    )
    parser.add_argument(
        "--cache-dir",
        metavar="DIR",
        type=Path,
        help="download and index cache (default: $SLICER_CACHE_DIR, $XDG_CACHE_HOME/slicer, ~/.cache/slicer)",
    )
    parser.add_argument("--offline", action="store_true", help="use only the cache; fail naming anything missing")
    parser.add_argument(
        "--ignore-valid-until",
        action="store_true",
        help="accept signed indexes past their Valid-Until date (frozen snapshot mirrors) "
        "or dated later than this machine's clock",
    )
    parser.add_argument(
        "--allow-older-index",
        action="store_true",
        help="accept a signed index older than the newest one already seen for its suite "
        "(a deliberate rollback to a snapshot mirror)",
    )


def _folder_argument(value: str) -> Path:
    if not value.strip():
        raise argparse.ArgumentTypeError("must name a folder, not an empty string")
    if "\0" in value:
        raise argparse.ArgumentTypeError("must not hold a NUL character")
    return Path(value)


def _days_argument(value: str) -> float:
    try:
        days = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expects a number of days, not {value!r}") from None
    if not days >= 0 or days == float("inf"):
        raise argparse.ArgumentTypeError(f"expects zero or more days, not {value}")
    return days


def _examples(text: str) -> str:
    return "examples:\n" + textwrap.indent(textwrap.dedent(text).strip("\n"), "  ")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="slicer",
        formatter_class=HelpFormatter,
        description="Cut fine-grained slices of Debian packages into a root filesystem for FROM scratch images.",
        epilog=_examples("""
            slicer find libc
            slicer info libc6_libs
            slicer cut --release debian-12 --root /rootfs base-files_base libc6_libs ca-certificates_data
            slicer releases
            Run 'slicer COMMAND --help' for the options of a command.
        """),
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    parser.add_argument("--version", action="version", version=f"slicer {__version__}")
    # The same two flags after the command name (`slicer cut -q ...`); SUPPRESS keeps
    # a subcommand from resetting what was given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks for errors")
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress output")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    cut = commands.add_parser(
        "cut",
        parents=[common],
        formatter_class=HelpFormatter,
        help="cut slices into a root directory",
        description="Resolve the slices and their essentials, download and verify the packages, and write "
        "exactly the selected paths under --root. Nothing is written unless everything verifies.",
        epilog=_examples("""
            slicer cut --release debian-12 --root /rootfs base-files_base libc6_libs
            slicer cut --root /rootfs --lock slicer.lock ca-certificates_data tzdata_zoneinfo
            slicer cut --root /rootfs --locked slicer.lock ca-certificates_data tzdata_zoneinfo
            slicer cut --mirror debian=file:///srv/mirror/debian --root out libc6_libs
            slicer cut --dry-run --root /rootfs libc6_libs
        """),
    )
    _add_release_options(cut)
    cut.add_argument(
        "--arch",
        metavar="A",
        type=arch_argument,
        help="architecture: Debian's name, uname -m's (x86_64, aarch64) or Docker's "
        "(amd64, arm/v7); default: the host's",
    )
    cut.add_argument(
        "--root",
        metavar="DIR",
        type=_folder_argument,
        required=True,
        help="root directory to write (created if missing)",
    )
    cut.add_argument(
        "--allow-root-dir",
        action="store_true",
        help="allow --root / (this machine's own root folder), e.g. inside a throwaway container",
    )
    _add_archive_options(cut)
    cut.add_argument("--lock", metavar="FILE", type=Path, help="write the exact package versions and .deb hashes used")
    cut.add_argument("--locked", metavar="FILE", type=Path, help="use exactly the versions and hashes of a lock file")
    cut.add_argument("--overwrite", action="store_true", help="replace existing different content in the root")
    _add_ignore_option(cut, "cut")
    cut.add_argument("--sbom", metavar="FILE", type=Path, help="write an SPDX 2.3 JSON SBOM of the cut to FILE")
    cut.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan (packages, download size, paths and bytes to write, conflicts with "
        "the root) and write nothing to the root; exits 1 if the cut would conflict",
    )
    cut.add_argument("--json", action="store_true", help="print a JSON summary (or plan) on stdout")
    cut.add_argument("slices_requested", metavar="SLICE", nargs="+", help="package_slice names, e.g. libc6_libs")

    info = commands.add_parser(
        "info",
        parents=[common],
        formatter_class=HelpFormatter,
        help="show slice definitions as YAML",
        description="Print the definitions of packages or single slices, with package essentials merged in.",
        epilog=_examples("""
            slicer info libc6
            slicer info libc6_libs ca-certificates_data
        """),
    )
    _add_release_options(info)
    info.add_argument("queries", metavar="PKG|PKG_SLICE", nargs="+")

    find = commands.add_parser(
        "find",
        parents=[common],
        formatter_class=HelpFormatter,
        help="search slices by fuzzy name",
        description="Every term must match: '_name' matches slice names, 'pkg_slice' whole names, other terms "
        "package names; one typo is forgiven, '*' and '?' are wildcards.",
        epilog=_examples("""
            slicer find libc
            slicer find _config
            slicer find 'python3.*_core'
        """),
    )
    _add_release_options(find)
    find.add_argument("--json", action="store_true", help="print JSON on stdout")
    find.add_argument("terms", metavar="QUERY", nargs="+")

    releases = commands.add_parser(
        "releases",
        parents=[common],
        formatter_class=HelpFormatter,
        help="list bundled releases and their maintenance state",
        epilog=_examples("slicer releases\nslicer releases --json"),
    )
    releases.add_argument("--json", action="store_true", help="print JSON on stdout")

    check = commands.add_parser(
        "check",
        parents=[common],
        formatter_class=HelpFormatter,
        help="prove slice definitions against the real archive",
        description="What a slice pull request must pass: house style (sorted contents and essentials, key "
        "order, 2-space indent), valid names and hints, every path and glob present in the real "
        "package on every checked architecture, a copyright slice every slice needs, essentials "
        "covering the shared libraries of the ELF files each slice ships, no conflicting shared "
        "paths, and every slice cutting on its own. Exits 1 on any problem.",
        epilog=_examples("""
            slicer check --release debian-12 libc6 base-files
            slicer check --release ./my-release --arch amd64 hello
            slicer check --fix --release debian-13 tzdata
            slicer check --json --release debian-12 > check.json
            slicer check --release debian-13 --changed
            slicer check --release debian-13 --changed=origin/main
        """),
    )
    _add_release_options(check)
    check.add_argument(
        "--arch",
        metavar="A",
        action="append",
        default=[],
        type=arch_argument,
        help="architecture to check (repeatable; default: amd64 and arm64)",
    )
    _add_archive_options(check)
    check.add_argument(
        "--fix", action="store_true", help="rewrite slice files whose contents or essentials are unsorted"
    )
    check.add_argument("--json", action="store_true", help="print JSON on stdout")
    check.add_argument(
        "--changed",
        metavar="GIT_REF",
        nargs="?",
        const="",
        help="check the packages whose slice files changed since GIT_REF (default: the merge base "
        "with the main branch) and the packages that need their slices; write --changed=REF",
    )
    check.add_argument("packages", metavar="PKG", nargs="*", help="packages to check (default: all)")

    draft = commands.add_parser(
        "draft",
        parents=[common],
        formatter_class=HelpFormatter,
        help="propose slice definitions from the real package",
        description="Write <PKG>.yaml for each package, in the repository's style, from the package's real "
        "files on each architecture: conventional slices, essentials from ELF needs and script "
        "interpreters, '# review:' comments where a person must decide. Then run every check "
        "of 'slicer check' on the drafts.",
        epilog=_examples("""
            slicer draft --release debian-12 libpq5
            slicer draft --release debian-13 --output /tmp/drafts curl libcurl4t64
            slicer draft --release debian-12 --diff zlib1g
        """),
    )
    _add_release_options(draft)
    draft.add_argument(
        "--arch",
        metavar="A",
        action="append",
        default=[],
        help="architecture to draft and check (repeatable; default: amd64 and arm64)",
    )
    draft.add_argument(
        "--output", metavar="DIR", type=Path, help="folder to write into (default: the release's own slice folder)"
    )
    draft.add_argument("--force", action="store_true", help="overwrite existing files")
    draft.add_argument(
        "--diff",
        action="store_true",
        help="for a package that has a file already, print the paths the draft adds to it",
    )
    _add_archive_options(draft)
    draft.add_argument("packages", metavar="PKG", nargs="+", help="binary package names")

    deps = commands.add_parser(
        "deps",
        parents=[common],
        formatter_class=HelpFormatter,
        help="find the slices that provide an ELF file's libraries",
        description="Read each file's needed libraries (DT_NEEDED) and loader (PT_INTERP) and print the "
        "slices of the release that ship them, looking into the real packages where slices use "
        "globs, then the 'slicer cut' line that ships them. For a library no slice provides, name the "
        "Debian packages that ship it (from the archive's signed Contents index, kept in the cache) "
        "and the 'slicer draft' line for them. Exits 1 when some library has no providing slice.",
        epilog=_examples("""
            slicer deps ./myserver
            slicer deps --release debian-13 --arch arm64 build/arm64/app
            slicer deps --json /usr/bin/true
        """),
    )
    _add_release_options(deps)
    deps.add_argument(
        "--arch", metavar="A", type=arch_argument, help="architecture, named as for cut (default: each file's own)"
    )
    _add_archive_options(deps)
    deps.add_argument("--json", action="store_true", help="print JSON on stdout")
    deps.add_argument("files", metavar="FILE", nargs="+", type=Path)

    _add_image_parser(commands, common)

    inspect = commands.add_parser(
        "inspect",
        parents=[common],
        formatter_class=HelpFormatter,
        help="show what a cut root holds",
        description="Read the records a cut left in ROOT (the manifest of base-files_chisel, the status.d "
        "entries of base-files_dpkg-status) and print its release, architecture, slices, packages "
        "with versions, and paths. --verify compares every recorded path with the disk and exits "
        "1 when something was changed, added or removed.",
        epilog=_examples("""
            slicer inspect rootfs
            slicer inspect --verify rootfs
            slicer inspect --json rootfs
        """),
    )
    inspect.add_argument(
        "--verify",
        action="store_true",
        help="check every recorded file's digest and mode; list what changed, was added or removed",
    )
    inspect.add_argument("--json", action="store_true", help="print JSON on stdout")
    inspect.add_argument("root", metavar="ROOT", type=Path)

    completion = commands.add_parser(
        "completion",
        parents=[common],
        formatter_class=HelpFormatter,
        help="print a shell completion script",
        description="Print a script that completes commands, options, releases, architectures, files and "
        "slice names (read from the release named by --release on the command line).",
        epilog=_examples("""
            slicer completion bash > /etc/bash_completion.d/slicer
            slicer completion zsh > "${fpath[1]}/_slicer"
            slicer completion fish > ~/.config/fish/completions/slicer.fish
        """),
    )
    completion.add_argument(
        "shell", metavar="SHELL", nargs="?", choices=("bash", "zsh", "fish"), help="bash, zsh or fish"
    )
    completion.add_argument("--list-slices", action="store_true", help=argparse.SUPPRESS)
    _add_release_options(completion)

    commands.add_parser(
        "version",
        parents=[common],
        formatter_class=HelpFormatter,
        help="print the version",
        description="Print slicer's version.",
        epilog=_examples("slicer version"),
    )

    cache = commands.add_parser(
        "cache",
        parents=[common],
        formatter_class=HelpFormatter,
        help="inspect or prune the download cache",
        description="The download and index cache shared by cut, check and deps.",
        epilog=_examples("""
            slicer cache info
            slicer cache info --cache-dir /var/cache/slicer
            slicer cache prune --older-than 30
        """),
    )
    cache_dir_help = "cache directory (default: $SLICER_CACHE_DIR, $XDG_CACHE_HOME/slicer, ~/.cache/slicer)"
    cache.add_argument("--cache-dir", metavar="DIR", type=Path, help=cache_dir_help)
    # The same option after the action (`slicer cache info --cache-dir X`); SUPPRESS keeps
    # the action from resetting a value given before it.
    cache_common = argparse.ArgumentParser(add_help=False, parents=[common])
    cache_common.add_argument("--cache-dir", metavar="DIR", type=Path, default=argparse.SUPPRESS, help=cache_dir_help)
    cache_commands = cache.add_subparsers(dest="cache_command", metavar="ACTION", required=True)
    cache_commands.add_parser(
        "info",
        parents=[cache_common],
        formatter_class=HelpFormatter,
        help="where the cache is and how big",
        description="Print the cache directory, how many files it holds and their size.",
        epilog=_examples("""
            slicer cache info
            slicer cache info --cache-dir ./cache
        """),
    )
    prune = cache_commands.add_parser(
        "prune",
        parents=[cache_common],
        formatter_class=HelpFormatter,
        help="delete cached files",
        description="Delete cached files, all of them or those no run used for some days. Files another "
        "run is writing right now are kept.",
        epilog=_examples("""
            slicer cache prune --older-than 30
            slicer cache prune
            slicer cache prune --cache-dir ./cache
        """),
    )
    prune.add_argument(
        "--older-than",
        metavar="DAYS",
        type=_days_argument,
        help="only files not used for this many days (default: everything)",
    )
    return parser


# -- commands -------------------------------------------------------------------


def _load(args: argparse.Namespace) -> Release:
    from .cache import Cache
    from .release.load import load_release

    return load_release(args.release, args.slices, Cache())


def cmd_info(args: argparse.Namespace, console: Console) -> int:
    from .info import info
    from .suggest import did_you_mean

    release = _load(args)
    output, missing = info(release, args.queries)
    sys.stdout.write(output)
    if missing:
        known = [*release.packages, *(str(s.key) for p in release.packages.values() for s in p.slices.values())]
        raise SlicerError(
            "no slice definitions found for: "
            + ", ".join(f'"{query}"' + did_you_mean(query, known) for query in missing)
        )
    return 0


def cmd_find(args: argparse.Namespace, console: Console) -> int:
    from .find import find_slices
    from .suggest import suggest

    release = _load(args)
    found = find_slices(release, args.terms)
    if args.json:
        print(json.dumps([{"slice": str(s.key), "hint": s.hint} for s in found], indent=2))
        return 0
    if not found:
        close = list(
            dict.fromkeys(name for term in args.terms for name in suggest(term.strip("_*?"), release.packages))
        )
        console.info(
            f'No matching slices for "{" ".join(args.terms)}"'
            + (f"; did you mean {' or '.join(close)}?" if close else "")
        )
        return 0
    print_table(("Slice", "Hint"), [(str(slice_.key), slice_.hint or "-") for slice_ in found])
    return 0


def cmd_releases(args: argparse.Namespace, console: Console) -> int:
    from .cache import Cache
    from .release.load import bundled_names, load_release

    today = datetime.date.today()
    rows: list[dict[str, Any]] = []
    for name in bundled_names():
        release = load_release(name, cache=Cache())
        maintenance = release.maintenance
        rows.append(
            {
                "release": name,
                "codename": release.codename,
                "state": maintenance.state(today) if maintenance else "unknown",
                "released": maintenance.standard.isoformat() if maintenance else None,
                "regular-support-until": (maintenance.expanded or maintenance.end_of_life).isoformat()
                if maintenance
                else None,
                "end-of-life": maintenance.end_of_life.isoformat() if maintenance else None,
                "packages": len(release.packages),
                "slices": sum(len(p.slices) for p in release.packages.values()),
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print_table(
        ("Release", "Codename", "State", "Released", "Regular support until", "End of life", "Slices"),
        [
            tuple(
                str(row[key] or "-")
                for key in (
                    "release",
                    "codename",
                    "state",
                    "released",
                    "regular-support-until",
                    "end-of-life",
                    "slices",
                )
            )
            for row in rows
        ],
    )
    return 0


def cmd_version(args: argparse.Namespace, console: Console) -> int:
    print(__version__)
    return 0


def cmd_cut(args: argparse.Namespace, console: Console) -> int:
    from .cut.pipeline import CutOptions, cut

    if os.path.realpath(args.root) == "/" and not args.allow_root_dir:
        raise UsageError(
            f"--root {args.root} is this machine's own root folder; pass --allow-root-dir if you "
            "really mean to cut into it"
        )
    options = CutOptions(
        release=args.release,
        overlays=tuple(args.slices),
        arch=args.arch or host_arch(),
        root=args.root,
        slices=tuple(args.slices_requested),
        archives=_archive_options(args),
        lock=args.lock,
        locked=args.locked,
        overwrite=args.overwrite,
        ignore=frozenset(args.ignore),
        sbom=args.sbom,
        dry_run=args.dry_run,
    )
    summary = cut(options, console)
    if args.json:
        print(json.dumps(summary, indent=2))
    elif args.dry_run:
        print_plan(summary)
    if args.dry_run and summary["conflicts"] and not summary["overwrite"]:
        console.warn(
            f"the cut would fail: {plural(len(summary['conflicts']), 'path')} in {summary['root']} "
            "hold different content; pass --overwrite to replace them"
        )
        return 1
    return 0


def print_plan(plan: dict[str, Any]) -> None:
    """The dry run's plan, for people."""
    print(
        f"Dry run: {plural(len(plan['slices']), 'slice')} of {plural(len(plan['packages']), 'package')} "
        f"from {plan['release']} for {plan['arch']}; nothing was written to {plan['root']}"
    )
    print_table(
        ("Package", "Version", "Archive", "Size"),
        [(p["name"], p["version"], f"{p['archive']} ({p['suite']})", size(p["size"])) for p in plan["packages"]],
    )
    download = plan["download"]
    if download["packages"]:
        print(f"Download: {plural(len(download['packages']), 'package')}, {size(download['bytes'])} (into the cache)")
    else:
        print(f"Download: nothing ({plural(len(plan['packages']), 'package')} cached)")
    print(
        f"Paths: {plan['paths']} ({plural(plan['files'], 'file')}, {size(plan['bytes'])}); "
        f"would write {plural(plan['write'], 'path')} ({size(plan['write_bytes'])}), "
        f"{plan['unchanged']} already present"
    )
    conflicts = plan["conflicts"]
    print(f"Conflicts with the root: {len(conflicts) or 'none'}" + "".join(f"\n  {path}" for path in conflicts))


def cmd_check(args: argparse.Namespace, console: Console) -> int:
    from .check.run import DEFAULT_ARCHES, CheckOptions, check

    packages = list(args.packages)
    if getattr(args, "changed", None) is not None:
        from .check.changes import changed_packages, with_dependents
        from .release.load import slice_folder

        changed = changed_packages(slice_folder(args.release), args.changed or None)
        packages += with_dependents(_load(args), changed)
        if not packages:
            console.info("No slice definition files changed")
            if args.json:
                print(json.dumps({"release": args.release, "problems": [], "packages": {}}, indent=2))
            return 0
    options = CheckOptions(
        release=args.release,
        overlays=tuple(args.slices),
        arches=tuple(args.arch) or DEFAULT_ARCHES,
        packages=tuple(dict.fromkeys(packages)),
        archives=_archive_options(args),
        fix=args.fix,
    )
    report = check(options, console)
    for path in report.fixed:
        console.info(f"Fixed {path}")
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
        return 1 if report.problems else 0
    for package in [""] if not report.packages else report.packages:
        rows = (
            report.rows(package) if package else [(p.check, p.arch, "problems", [p.message]) for p in report.problems]
        )
        print_table(
            ("Check", "Arch", "Result"),
            [(name, arch, "\n".join(messages) or result) for name, arch, result, messages in rows],
            title=package or f"release {report.release}",
        )
    if report.problems and not report.packages:
        console.info(f"release {report.release} does not load, so nothing else was checked")
        return 1
    if report.problems:
        failing = {problem.package for problem in report.problems}
        console.info(
            f"{plural(len(report.problems), 'problem')} in {len(failing)} of {plural(len(report.packages), 'package')}"
        )
        return 1
    console.info(f"All checks passed for {plural(len(report.packages), 'package')} on {', '.join(report.arches)}")
    return 0


def cmd_draft(args: argparse.Namespace, console: Console) -> int:
    from .draft import DEFAULT_ARCHES, DraftOptions, draft
    from .release.load import slice_folder

    arches = tuple(args.arch) or DEFAULT_ARCHES
    output = args.output or slice_folder(args.release)
    drafts = draft(
        DraftOptions(
            packages=tuple(args.packages),
            release=args.release,
            overlays=tuple(args.slices),
            arches=arches,
            archives=_archive_options(args),
        ),
        console,
    )
    written = []
    for proposed in drafts:
        target = output / f"{proposed.package}.yaml"
        if target.exists() and not args.force:
            if args.diff:
                print(
                    f"# {target}: {len(proposed.added)} paths of {proposed.package} {proposed.version} no slice selects"
                )
                for slice_name, path in proposed.added:
                    print(f"+ {proposed.package}_{slice_name} {path}")
                continue
            raise SlicerError(f"{target} exists; pass --force to replace it, or --diff to see what a draft adds")
        output.mkdir(parents=True, exist_ok=True)
        target.write_text(proposed.text)
        written.append(proposed.package)
        reviews = len(proposed.reviews)
        console.info(
            f"Wrote {target}" + (f" with {reviews} '# review:' question{'s' * (reviews > 1)}" if reviews else "")
        )
    if not written:
        return 0
    # The drafts go through every check of `slicer check`, read from where they were written.
    check_args = argparse.Namespace(**vars(args))
    check_args.packages, check_args.fix, check_args.json = written, False, False
    check_args.slices = [*args.slices, output] if args.output else args.slices
    check_args.arch = list(arches)
    return cmd_check(check_args, console)


def cmd_deps(args: argparse.Namespace, console: Console) -> int:
    from .deps import DepsOptions, deps

    options = DepsOptions(
        files=tuple(args.files),
        arch=args.arch,
        release=args.release,
        overlays=tuple(args.slices),
        archives=_archive_options(args),
    )
    report = deps(options, console)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        rows = [
            (
                need.file,
                need.arch,
                need.name + (" (loader)" if need.kind == "interpreter" else ""),
                " ".join(map(str, need.providers)) or "no slice",
            )
            for need in report.needs
        ]
        print_table(
            ("File", "Arch", "Needs", "Provided by"), rows + [(path, "", "nothing", "") for path in report.standalone]
        )
        for words in report.cut_commands().values():
            print("\n" + shell_command(words, output_width() or 80))
        _print_unprovided(report)
    if report.missing:
        console.warn(
            "no slice of release "
            + report.release
            + " provides "
            + ", ".join(dict.fromkeys(need.name for need in report.missing))
        )
        for reason in report.unnamed:
            console.warn(reason)
        return 1
    return 0


# How many Debian packages shipping a library `slicer deps` names before it counts the rest.
SHOWN_SHIPPERS = 3


def _print_unprovided(report: DepsReport) -> None:
    """The Debian packages that ship the libraries no slice provides, then the drafts that would."""
    unprovided = {(need.name, need.arch): need.shippers for need in report.missing}
    if not unprovided:
        return
    rows = []
    for (name, arch), shippers in unprovided.items():
        listed = [f"{shipper.package} ({shipper.path})" for shipper in shippers[:SHOWN_SHIPPERS]]
        if len(shippers) > SHOWN_SHIPPERS:
            listed.append(f"and {plural(len(shippers) - SHOWN_SHIPPERS, 'other')}")
        rows.append((name, arch, "\n".join(listed) or ("unknown" if report.unnamed else "none")))
    print()
    print_table(("Library", "Arch", "Debian packages"), rows, title="No slice provides:")
    for words in report.draft_commands():
        print("\n" + shell_command(words, output_width() or 80))


def cmd_inspect(args: argparse.Namespace, console: Console) -> int:
    from .inspect import inspect

    result = inspect(args.root, verify=args.verify)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        summary = result.to_json()
        print_table(
            ("Root", "Release", "Arch", "Slices", "Packages", "Paths", "Bytes"),
            [
                (
                    str(result.root),
                    result.release,
                    result.arch,
                    str(len(result.slices)),
                    str(len(result.packages)),
                    str(summary["paths"]),
                    size(summary["bytes"]),
                )
            ],
        )
        print(f"\nRecords: {', '.join(result.sources)}")
        if result.slices:
            print(
                textwrap.fill(
                    " ".join(result.slices),
                    width=output_width() or 10_000,
                    initial_indent="Slices: ",
                    subsequent_indent="        ",
                    break_long_words=False,
                    break_on_hyphens=False,
                )
            )
        print()
        print_table(("Package", "Version", "Arch"), [(p.name, p.version, p.arch) for p in result.packages])
        if result.verified:
            print(
                f"\nVerified {plural(len(result.paths), 'recorded path')}: {len(result.changed)} changed, "
                f"{len(result.added)} added, {len(result.removed)} removed"
            )
            for label, paths in (("changed", result.changed), ("added", result.added), ("removed", result.removed)):
                print("".join(f"  {label}: {path}\n" for path in paths), end="")
    return 1 if result.differs else 0


def cmd_completion(args: argparse.Namespace, console: Console) -> int:
    if args.list_slices:  # what the scripts run to complete slice names
        release = _load(args)
        print(
            "\n".join(
                sorted(
                    str(key)
                    for package in release.packages.values()
                    for key in (slice_.key for slice_ in package.slices.values())
                )
            )
        )
        return 0
    if args.shell is None:
        raise UsageError("name a shell: bash, zsh or fish")
    from .completion import script

    sys.stdout.write(script(args.shell, build_parser()))
    return 0


def cmd_cache(args: argparse.Namespace, console: Console) -> int:
    from .cache import Cache

    cache = Cache(args.cache_dir)
    if args.cache_command == "info":
        info = cache.info()
        print(
            f"{info.path}: {plural(info.files, 'file')}, {size(info.bytes)} "
            f"({info.blobs} downloaded or derived in sha256/)"
        )
        return 0
    result = cache.prune(args.older_than)
    print(f"removed {plural(result.removed, 'file')}, {size(result.freed)}")
    return 0


# -- slicer image -----------------------------------------------------------------


def _add_image_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    image = commands.add_parser(
        "image",
        parents=[common],
        formatter_class=HelpFormatter,
        help="build an OCI image from slices, without a container engine",
        description="Cut the slices for each architecture and write them as an OCI image: one layer for the "
        "cut (owners from the packages and slices, mtimes clamped to SOURCE_DATE_EPOCH, by default "
        "the newest package date, so rebuilding the same locked inputs gives the same digest), one "
        "for --add files, and a config with user, env, entrypoint. Several architectures give one "
        "multi-architecture index. Options override the fields of an image spec file (-f).",
        epilog=_examples("""
            slicer image --release debian-12 --output oci:static base-files_base base-passwd_nonroot
            slicer image -f docs/images/debian-12/cc.yaml --arch amd64,arm64 --output oci-archive:cc.tar
            slicer image -f docs/images/debian-12/static.yaml --add build/server:/server:0755 --entrypoint /server \\
                --user 65532 --output docker-archive:app.tar --tag app:1.0   # then: docker load -i app.tar
            slicer image -f docs/images/debian-12/base.yaml --arch amd64,arm64 --push registry.example:5000/base:12
            skopeo inspect oci:static:latest     # read back; umoci unpack --image static:latest bundle
        """),
    )
    image.add_argument("-f", "--file", metavar="SPEC", type=Path, help="image spec file (YAML; see docs/images/)")
    _add_release_options(image)
    image.add_argument(
        "--arch",
        metavar="A[,B]",
        action="append",
        default=[],
        help="Debian architectures, comma-separated or repeated (default: the spec's, else the host's)",
    )
    _add_archive_options(image)
    image.add_argument(
        "--output",
        metavar="FORM:PATH",
        help="oci:DIR (an OCI layout), oci-archive:FILE (a tar of one) or docker-archive:FILE "
        "(for docker load / podman load; one architecture)",
    )
    image.add_argument("--tag", metavar="NAME:TAG", help="name and tag recorded in the output (default: image:latest)")
    image.add_argument(
        "--push",
        metavar="REF",
        action="append",
        default=[],
        help="push to REGISTRY/REPOSITORY[:TAG] (repeatable; later pushes to the same registry "
        "mount blobs from the first)",
    )
    image.add_argument("--registry-ca", metavar="FILE", type=Path, help="CA certificates to verify the registry with")
    image.add_argument(
        "--insecure-registry",
        action="store_true",
        help="allow plain HTTP and unverified TLS (always allowed for a loopback registry's HTTP)",
    )
    image.add_argument("--user", metavar="U", help='user to run as, e.g. 65532 or "65532:65532"')
    image.add_argument("--entrypoint", metavar="CMD", help='entrypoint: a JSON array \'["/app", "-v"]\' or words')
    image.add_argument("--cmd", metavar="CMD", help="default arguments: a JSON array or words")
    image.add_argument("--env", metavar="K=V", action="append", default=[], help="environment variable (repeatable)")
    image.add_argument("--workdir", metavar="DIR", help="working directory")
    image.add_argument("--label", metavar="K=V", action="append", default=[], help="config label (repeatable)")
    image.add_argument(
        "--annotation", metavar="K=V", action="append", default=[], help="manifest annotation (repeatable)"
    )
    image.add_argument(
        "--add",
        metavar="SRC:DEST[:MODE[:UID:GID]]",
        action="append",
        default=[],
        help="host file or folder put at DEST in a layer of its own (repeatable; MODE octal, owner default 0:0)",
    )
    image.add_argument(
        "--locked",
        metavar="FILE",
        help="use exactly the versions of a `slicer cut --lock` file; write {arch} in the name "
        "for several architectures",
    )
    image.add_argument("--compression", choices=["gzip", "zstd"], help="layer compression (default gzip)")
    image.add_argument(
        "--sbom",
        metavar="FILE",
        type=Path,
        help="write the SPDX 2.3 SBOM beside the image (FILE.<arch>.json for several architectures)",
    )
    image.add_argument(
        "--attach-sbom",
        action="store_true",
        help="store the SBOM in the image as an OCI artifact referring to its manifest",
    )
    _add_ignore_option(image, "build")
    image.add_argument("--json", action="store_true", help="print the digests as JSON on stdout")
    image.add_argument("slices_requested", metavar="SLICE", nargs="*", help="slices, added to the spec's")


def _command_words(value: str | None, flag: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if value.lstrip().startswith("["):
        try:
            words = json.loads(value)
        except ValueError:
            words = None
        if not isinstance(words, list) or not all(isinstance(word, str) for word in words):
            raise UsageError(f"{flag} expects a JSON array of strings or plain words, got {value!r}")
        return tuple(words)
    import shlex

    return tuple(shlex.split(value))


def cmd_image(args: argparse.Namespace, console: Console) -> int:
    from .errors import ImageError
    from .image.build import ImageOptions, build_image
    from .image.layout import Output
    from .image.oci import RuntimeConfig
    from .image.push import RegistryOptions
    from .image.spec import ImageSpec, load_spec, parse_add, parse_pairs

    spec = load_spec(args.file) if args.file else ImageSpec()
    archs = tuple(arch for value in args.arch for arch in value.split(",") if arch) or spec.archs or (host_arch(),)
    slices = (*spec.slices, *args.slices_requested)
    if not slices:
        raise UsageError("no slices to cut: name some, or give a spec file (-f) that lists them")
    env = {**spec.env, **parse_pairs(args.env, "--env")}
    name, _, tag = (args.tag or spec.tag or "image:latest").rpartition(":")
    if not name or not tag or "/" in tag:
        raise ImageError(f"--tag expects NAME:TAG, got {args.tag or spec.tag!r}")
    entrypoint = _command_words(args.entrypoint, "--entrypoint")
    cmd = _command_words(args.cmd, "--cmd")
    runtime = RuntimeConfig(
        user=args.user or spec.user or "",
        env=tuple(f"{key}={value}" for key, value in env.items()),
        entrypoint=entrypoint if entrypoint is not None else spec.entrypoint,
        cmd=cmd if cmd is not None else spec.cmd,
        workdir=args.workdir or spec.workdir or "",
        labels=tuple({**spec.labels, **parse_pairs(args.label, "--label")}.items()),
    )
    options = ImageOptions(
        slices=slices,
        archs=archs,
        release=args.release or spec.release,
        overlays=tuple(args.slices),
        runtime=runtime,
        annotations={**spec.annotations, **parse_pairs(args.annotation, "--annotation")},
        add=(*spec.add, *(parse_add(value) for value in args.add)),
        compression=args.compression or spec.compression or "gzip",
        name=name,
        tag=tag,
        output=Output.parse(args.output) if args.output else None,
        push=tuple(args.push),
        locked=args.locked,
        sbom=args.sbom,
        attach_sbom=args.attach_sbom,
        archives=_archive_options(args),
        ignore=frozenset(args.ignore),
        registry=RegistryOptions(ca_file=args.registry_ca, insecure=args.insecure_registry),
    )
    summary = build_image(options, console)
    if args.json:
        print(json.dumps(summary, indent=2))
    return 0


def _archive_options(args: argparse.Namespace) -> ArchiveOptions:
    """The options of `_add_archive_options`, for cut, check and deps."""
    from .archive import ArchiveOptions

    return ArchiveOptions(
        mirrors=_parse_mirrors(args.mirror),
        cache_dir=args.cache_dir,
        offline=args.offline,
        check_valid_until=not args.ignore_valid_until,
        allow_older_index=args.allow_older_index,
    )


def _parse_mirrors(values: Sequence[str]) -> dict[str, str]:
    mirrors = {}
    for value in values:
        archive, sep, url = value.partition("=")
        if not sep or not archive or not url:
            raise UsageError(f"--mirror expects ARCHIVE=URL, got {value!r}")
        mirrors[archive] = url
    return mirrors


COMMANDS = {
    "cut": cmd_cut,
    "info": cmd_info,
    "find": cmd_find,
    "releases": cmd_releases,
    "version": cmd_version,
    "cache": cmd_cache,
    "check": cmd_check,
    "deps": cmd_deps,
    "image": cmd_image,
    "draft": cmd_draft,
    "inspect": cmd_inspect,
    "completion": cmd_completion,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    console = Console(quiet=args.quiet)
    try:
        return COMMANDS[args.command](args, console)
    except UsageError as exc:
        parser.exit(2, f"slicer {args.command}: error: {exc}\n")
    except SlicerError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a file the user named: one sentence, the file once, no [Errno N]
        if args.debug:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: still one sentence unless --debug
        if args.debug or os.environ.get("SLICER_DEBUG"):
            raise
        print(
            f"error: internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
            "(please report it; --debug shows the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
