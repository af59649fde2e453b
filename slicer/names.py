"""The names users type for architectures, mapped to Debian's.

`uname -m` says `x86_64` and `aarch64`; Docker's `TARGETARCH` says `amd64`
and `arm`, with `TARGETVARIANT` `v7`; Debian says `amd64`, `arm64` and
`armhf`. Every command that takes `--arch` accepts all of them, so a
Dockerfile can pass `$TARGETARCH/$TARGETVARIANT` or `$(uname -m)` as it is.

A leaf module: the release model takes its list of architectures from here.
"""

from __future__ import annotations

# Other names of each Debian architecture: `uname -m`, then Docker's
# TARGETARCH[/TARGETVARIANT] where it differs from Debian's.
ARCH_ALIASES: dict[str, tuple[str, ...]] = {
    "amd64": ("x86_64", "amd64/v2", "amd64/v3"),
    "arm64": ("aarch64", "arm64/v8"),
    "armel": ("armv5tel", "armv6l", "arm/v5", "arm/v6"),
    "armhf": ("armv7l", "armv8l", "arm", "arm/v7"),
    "i386": ("i686", "i586", "i486", "386"),
    "mips64el": ("mips64", "mips64le"),
    "ppc64el": ("ppc64le",),
    "riscv64": (),
    "s390x": (),
}

# Debian architecture names slicer accepts (chisel's list plus Debian's own ports).
KNOWN_ARCHES = tuple(ARCH_ALIASES)

_TO_DEBIAN = {alias: arch for arch, aliases in ARCH_ALIASES.items() for alias in (arch, *aliases)}


class UnknownArchError(ValueError):
    """An architecture name slicer cannot map to Debian's (a usage error: the CLI reports it)."""


def debian_arch(name: str) -> str:
    """Debian's name for `name`: a Debian, `uname -m` or Docker name (`linux/` prefix and an
    empty `TARGETVARIANT` allowed)."""
    key = name.strip().lower().removeprefix("linux/").rstrip("/")
    if key in _TO_DEBIAN:
        return _TO_DEBIAN[key]
    raise UnknownArchError(
        f'unknown architecture "{name}"; Debian names: {", ".join(KNOWN_ARCHES)}; also accepted: '
        + ", ".join(sorted(alias for aliases in ARCH_ALIASES.values() for alias in aliases))
    )
