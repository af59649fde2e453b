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

if TYPE_CHECKING:
    from .archive import ArchiveOptions
    from .release.model import Release

MACHINE_TO_ARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "armhf",
    "armv8l": "armhf",
    "i686": "i386",
    "i386": "i386",
    "ppc64le": "ppc64el",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


def host_arch() -> str:
    machine = os.uname().machine  # what platform.machine() answers on Linux, without importing it
    if machine not in MACHINE_TO_ARCH:
        raise SlicerError(f"cannot infer the Debian architecture of this {machine} machine; pass --arch")
    return MACHINE_TO_ARCH[machine]


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


def _add_release_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--release",
        metavar="R",
        help="bundled release name (debian-12, debian-13) or a chisel release directory "
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
        """),
    )
    _add_release_options(cut)
    cut.add_argument("--arch", metavar="A", help="Debian architecture (default: the host's)")
    cut.add_argument(
        "--root", metavar="DIR", type=Path, required=True, help="root directory to write (created if missing)"
    )
    _add_archive_options(cut)
    cut.add_argument("--lock", metavar="FILE", type=Path, help="write the exact package versions and .deb hashes used")
    cut.add_argument("--locked", metavar="FILE", type=Path, help="use exactly the versions and hashes of a lock file")
    cut.add_argument("--overwrite", action="store_true", help="replace existing different content in the root")
    cut.add_argument(
        "--ignore",
        metavar="CONDITION",
        action="append",
        default=[],
        choices=["unmaintained", "unstable"],
        help="cut even if the release is unmaintained or unstable (repeatable)",
    )
    cut.add_argument("--sbom", metavar="FILE", type=Path, help="write an SPDX 2.3 JSON SBOM of the cut to FILE")
    cut.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
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
        "globs. Exits 1 when some library has no providing slice.",
        epilog=_examples("""
            slicer deps ./myserver
            slicer deps --release debian-13 --arch arm64 build/arm64/app
            slicer deps --json /usr/bin/true
        """),
    )
    _add_release_options(deps)
    deps.add_argument("--arch", metavar="A", help="Debian architecture (default: each file's own)")
    _add_archive_options(deps)
    deps.add_argument("--json", action="store_true", help="print JSON on stdout")
    deps.add_argument("files", metavar="FILE", nargs="+", type=Path)

    _add_image_parser(commands, common)

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
        epilog=_examples("slicer cache info\nslicer cache prune --older-than 30"),
    )
    cache.add_argument("--cache-dir", metavar="DIR", type=Path, help="cache directory (default: see slicer cut --help)")
    cache_commands = cache.add_subparsers(dest="cache_command", metavar="ACTION", required=True)
    cache_commands.add_parser("info", help="where the cache is and how big")
    prune = cache_commands.add_parser("prune", help="delete cached files")
    prune.add_argument(
        "--older-than", metavar="DAYS", type=float, help="only files not used for this many days (default: everything)"
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
    from rich.table import Table

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
    table = Table(box=None, pad_edge=False, show_edge=False)
    table.add_column("Slice", no_wrap=True)
    table.add_column("Hint")
    for slice_ in found:
        table.add_row(str(slice_.key), slice_.hint or "-")
    console.table(table)
    return 0


def cmd_releases(args: argparse.Namespace, console: Console) -> int:
    from rich.table import Table

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
    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("Release", "Codename", "State", "Released", "Regular support until", "End of life", "Slices"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(
            row["release"],
            row["codename"],
            row["state"],
            row["released"] or "-",
            row["regular-support-until"] or "-",
            row["end-of-life"] or "-",
            str(row["slices"]),
        )
    console.table(table)
    return 0


def cmd_version(args: argparse.Namespace, console: Console) -> int:
    print(__version__)
    return 0


def cmd_cut(args: argparse.Namespace, console: Console) -> int:
    from .cut.pipeline import CutOptions, cut

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
    )
    summary = cut(options, console)
    if args.json:
        print(json.dumps(summary, indent=2))
    return 0


def cmd_check(args: argparse.Namespace, console: Console) -> int:
    from rich.table import Table

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
    styles = {"ok": "green", "problems": "red", "skipped": "yellow"}
    for package in [""] if not report.packages else report.packages:
        table = Table(title=package or f"release {report.release}", title_justify="left")
        for column in ("Check", "Arch", "Result"):
            table.add_column(column, no_wrap=column != "Result")
        rows = (
            report.rows(package) if package else [(p.check, p.arch, "problems", [p.message]) for p in report.problems]
        )
        for name, arch, result, messages in rows:
            table.add_row(name, arch, "\n".join(messages) or result, style=styles[result])
        console.table(table)
    if report.problems and not report.packages:
        console.info(f"release {report.release} does not load, so nothing else was checked")
        return 1
    if report.problems:
        failing = {problem.package for problem in report.problems}
        console.info(
            f"{len(report.problems)} problem{'s' if len(report.problems) > 1 else ''} in {len(failing)} "
            f"of {len(report.packages)} packages"
        )
        return 1
    console.info(f"All checks passed for {len(report.packages)} packages on {', '.join(report.arches)}")
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
    from rich.table import Table

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
        table = Table(box=None, pad_edge=False, show_edge=False)
        for column in ("File", "Arch", "Needs", "Provided by"):
            table.add_column(column, no_wrap=True)
        for need in report.needs:
            table.add_row(
                need.file,
                need.arch,
                need.name + (" (loader)" if need.kind == "interpreter" else ""),
                " ".join(map(str, need.providers)) or "no slice",
            )
        for path in report.standalone:
            table.add_row(path, "", "nothing", "")
        console.table(table)
        if report.slices():
            print(" ".join(report.slices()))
    if report.missing:
        console.warn(
            "no slice of release "
            + report.release
            + " provides "
            + ", ".join(dict.fromkeys(need.name for need in report.missing))
        )
        return 1
    return 0


def cmd_cache(args: argparse.Namespace, console: Console) -> int:
    from .cache import Cache

    cache = Cache(args.cache_dir)
    if args.cache_command == "info":
        info = cache.info()
        print(f"{info.path}: {info.blobs} files, {info.bytes / 1e6:.1f} MB")
        return 0
    result = cache.prune(args.older_than)
    print(f"removed {result.removed} files, {result.freed / 1e6:.1f} MB")
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
    image.add_argument(
        "--ignore",
        metavar="CONDITION",
        action="append",
        default=[],
        choices=["unmaintained", "unstable"],
        help="build even if the release is unmaintained or unstable",
    )
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
