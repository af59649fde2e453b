"""What a cut put in the root: one `Entry` per path, for manifests, status
files, SBOMs, the JSON summary and the commit into the real root.
"""

from __future__ import annotations

from attrs import define, field


@define
class Entry:
    """One path in the cut tree.

    `path` is absolute inside the image; directories end in `/`. `mode` holds
    the permission bits including setuid, setgid and sticky. `inode` numbers a
    hard-link group (1..N, 0 when the path is not hard-linked).
    """

    path: str
    kind: str  # "file", "dir" or "symlink"
    mode: int
    slices: set[str] = field(factory=set)
    package: str = ""
    sha256: str = ""
    final_sha256: str = ""
    size: int = 0
    link: str = ""
    inode: int = 0
    uid: int = 0
    gid: int = 0
    mtime: int = 0
    # Listed by a slice (explicitly or through a glob), as opposed to an
    # implicit parent directory created on the way.
    listed: bool = True


@define
class Report:
    entries: dict[str, Entry] = field(factory=dict)

    def add(self, entry: Entry) -> Entry:
        """Record `entry`, merging the slices of an entry already at that path.

        A listed entry takes over the metadata of an implicit parent recorded
        before it: explicitly listed directories win, whatever the order.
        """
        existing = self.entries.get(entry.path)
        if existing is None:
            self.entries[entry.path] = entry
            return entry
        if entry.listed and not existing.listed:
            existing.kind, existing.mode, existing.package = entry.kind, entry.mode, entry.package
            existing.uid, existing.gid, existing.mtime = entry.uid, entry.gid, entry.mtime
        existing.slices |= entry.slices
        existing.listed = existing.listed or entry.listed
        return existing

    def files(self, package: str) -> list[Entry]:
        return sorted(
            (e for e in self.entries.values() if e.package == package and e.kind == "file"), key=lambda e: e.path
        )


def number_links(report: Report) -> None:
    """Number hard-link groups 1..N in order of discovery, dropping groups of one."""
    groups: dict[int, list[Entry]] = {}
    for entry in report.entries.values():
        if entry.inode:
            groups.setdefault(entry.inode, []).append(entry)
    number = 0
    for members in groups.values():
        if len(members) > 1:
            number += 1
        for member in members:
            member.inode = number if len(members) > 1 else 0
