"""A parsed Packages index in a compact form that loads in milliseconds.

Parsing bookworm's 50 MB main index takes about a second and decompressing
it more; a warm run must do neither. So the parsed form is cached: per
package name, the fields used to choose and fetch it (marshalled, decoded
only for the names asked about), and the full paragraphs in zstd frames of
about 64 KiB, so the text of a chosen package (for dpkg status entries)
costs one small frame to decompress (0.15 ms; frames four times larger made
the file 2% smaller but each text four times slower).

File layout: MAGIC, an HMAC of the header with the lengths of header and
records, the header (sorted names joined by newlines, where each name starts,
record offsets, the names that start each block of records and each block's
SHA256, frame offsets and each frame's SHA256), the marshalled entries per
name, then the frames. Names are looked up by bisection in the joined text, so
loading never splits bookworm's 63k names into strings. The HMAC, under a key
the cache keeps secret, proves the file was written by this cache from the
signed index (the .deb hashes inside were proven when it was parsed). A block
of records (about 64 KiB) and a frame are checked against their SHA256 when
first read, so a run hashes the little it reads rather than bookworm's 12 MB
of records. A file whose seal fails is derived again; a block or frame that
fails is reported as a damaged cache.
"""

from __future__ import annotations

import array
import bisect
import hashlib
import hmac
import itertools
import marshal
import mmap
import struct
from collections.abc import Iterator

import zstandard

from ..errors import ArchiveError
from .deb822 import scan_packages

FORMAT = 4
MAGIC = f"slicer-packages-{FORMAT}\n".encode()
FRAME_SIZE = 64 * 1024
RECORD_BLOCK = 64 * 1024
_PREAMBLE = struct.Struct("<32sQQ")  # HMAC-SHA256 of the header and both lengths, the lengths of header and records
_DIGEST = hashlib.sha256().digest_size


def cache_name(sha256: str) -> str:
    """The cache's name for the parsed form of the index `sha256`: versioned, so two slicer
    versions sharing a cache each keep their own instead of replacing each other's."""
    return f"packages-{FORMAT}-{sha256}"


# version, architecture, filename, size, sha256, frame, start, end
IndexEntry = tuple[str, str, str, int, str, int, int, int]


class DamagedIndexError(ArchiveError):
    """A part of a parsed index read from the cache does not match its recorded SHA256."""

    def __init__(self, part: str) -> None:
        super().__init__(
            f"a cached package index is damaged ({part} does not match its recorded SHA256); "
            "run `slicer cache prune` and try again"
        )


class _Names:
    """Sorted names joined by newlines, as a sequence that `bisect` can search."""

    def __init__(self, joined: str, starts: array.array[int]) -> None:
        self.joined = joined
        self.starts = starts  # where each name starts, then one past the end of the last

    @classmethod
    def of(cls, names: list[str]) -> _Names:
        starts = array.array("Q", [0])
        for name in names:
            starts.append(starts[-1] + len(name) + 1)
        return cls("\n".join(names), starts)

    def __len__(self) -> int:
        return len(self.starts) - 1

    def __getitem__(self, position: int) -> str:
        return self.joined[self.starts[position] : self.starts[position + 1] - 1]


class PackageIndex:
    """name -> entries of one Packages index, paragraph text on demand.

    Names are kept sorted and found by bisection, and each name's entries
    are unmarshalled only when asked for, so loading costs no per-name work.
    """

    def __init__(
        self,
        names: _Names,
        record_offsets: array.array[int],
        records: bytes | memoryview,
        record_blocks: array.array[int],
        record_digests: bytes,
        frame_offsets: array.array[int],
        frames: bytes | memoryview,
        frame_digests: bytes,
    ) -> None:
        self._names = names
        self._record_offsets = record_offsets
        self._records = records
        self._record_blocks = record_blocks  # the position of each block's first name, then len(names)
        self._record_digests = record_digests
        self._frame_offsets = frame_offsets
        self._frames = frames
        self._frame_digests = frame_digests
        self._decoded: dict[str, list[IndexEntry]] = {}
        self._checked_blocks: set[int] = set()

    @classmethod
    def build(cls, text: bytes) -> PackageIndex:
        """Parse a decompressed Packages file."""
        grouped: dict[str, list[IndexEntry]] = {}
        frame_starts = [0]
        for name, version, arch, filename, size, sha256, start, end in scan_packages(text):
            if start - frame_starts[-1] >= FRAME_SIZE:
                frame_starts.append(start)
            base = frame_starts[-1]
            entry = (version, arch, filename, size, sha256, len(frame_starts) - 1, start - base, end - base)
            grouped.setdefault(name, []).append(entry)
        compressor = zstandard.ZstdCompressor(level=1, write_checksum=True)
        frame_starts.append(len(text))
        frames = [compressor.compress(text[start:stop]) for start, stop in itertools.pairwise(frame_starts)]
        names = sorted(grouped)
        records = [marshal.dumps(grouped[name]) for name in names]
        record_offsets, joined = _offsets(records), b"".join(records)
        blocks = array.array("Q", [0])
        for position in range(len(names)):
            if record_offsets[position] - record_offsets[blocks[-1]] >= RECORD_BLOCK:
                blocks.append(position)
        blocks.append(len(names))
        record_digests = b"".join(
            hashlib.sha256(joined[record_offsets[start] : record_offsets[stop]]).digest()
            for start, stop in itertools.pairwise(blocks)
        )
        digests = b"".join(hashlib.sha256(frame).digest() for frame in frames)
        return cls(
            _Names.of(names),
            record_offsets,
            joined,
            blocks,
            record_digests,
            _offsets(frames),
            b"".join(frames),
            digests,
        )

    def to_bytes(self, key: bytes) -> bytes:
        """The stored form, sealed with `key` (see `from_bytes`)."""
        header = marshal.dumps(
            (
                self._names.joined,
                self._names.starts.tobytes(),
                self._record_offsets.tobytes(),
                self._record_blocks.tobytes(),
                self._record_digests,
                self._frame_offsets.tobytes(),
                self._frame_digests,
            )
        )
        seal = _seal(key, header, len(self._records))
        return b"".join(
            (MAGIC, _PREAMBLE.pack(seal, len(header), len(self._records)), header, self._records, self._frames)
        )

    @classmethod
    def from_bytes(cls, blob: bytes | memoryview | mmap.mmap, key: bytes) -> PackageIndex | None:
        """The index stored in `blob` and sealed with `key`; None when damaged, forged or of another format.

        Any buffer will do, a mapped file too: the frames are then read only for the
        paragraphs asked for, and checked then.
        """
        view = memoryview(blob)
        start = len(MAGIC) + _PREAMBLE.size
        if len(view) < start or view[: len(MAGIC)] != MAGIC:
            return None
        seal, length, records_length = _PREAMBLE.unpack_from(view, len(MAGIC))
        header = view[start : start + length]
        records = view[start + length : start + length + records_length]
        if len(header) != length or len(records) != records_length:
            return None
        # Nothing is unmarshalled before the seal proves this cache wrote it.
        if not hmac.compare_digest(_seal(key, header, records_length), seal):
            return None
        try:
            joined, start_bytes, record_bytes, block_bytes, record_digests, frame_bytes, frame_digests = marshal.loads(
                header
            )
        except (EOFError, ValueError, TypeError):
            return None
        names = _Names(joined, array.array("Q", start_bytes))
        record_offsets, frame_offsets = array.array("Q", record_bytes), array.array("Q", frame_bytes)
        blocks = array.array("Q", block_bytes)
        frames = view[start + length + records_length :]
        if records_length != record_offsets[-1] or len(frames) != frame_offsets[-1]:
            return None
        return cls(names, record_offsets, records, blocks, record_digests, frame_offsets, frames, frame_digests)

    def __len__(self) -> int:
        return len(self._names)

    def _position(self, name: str) -> int | None:
        position = bisect.bisect_left(self._names, name)
        return position if position < len(self._names) and self._names[position] == name else None

    def __contains__(self, name: str) -> bool:
        return self._position(name) is not None

    def entries(self, name: str) -> list[IndexEntry]:
        found = self._decoded.get(name)
        if found is None:
            position = self._position(name)
            found = []
            if position is not None:
                self._check_block(position)
                found = marshal.loads(
                    self._records[self._record_offsets[position] : self._record_offsets[position + 1]]
                )
            self._decoded[name] = found
        return found

    def _check_block(self, position: int) -> None:
        """Check the block of records holding name `position` against its SHA256, once."""
        block = bisect.bisect_right(self._record_blocks, position) - 1
        if block in self._checked_blocks:
            return
        start, stop = (
            self._record_offsets[self._record_blocks[block]],
            self._record_offsets[self._record_blocks[block + 1]],
        )
        expected = self._record_digests[block * _DIGEST : (block + 1) * _DIGEST]
        if hashlib.sha256(self._records[start:stop]).digest() != expected:
            raise DamagedIndexError(f"block of entries {block}")
        self._checked_blocks.add(block)

    def names(self) -> list[str]:
        """Every package name of the index, sorted."""
        return self._names.joined.split("\n") if len(self._names) else []

    def paragraphs(self) -> Iterator[str]:
        """The index's paragraphs, frame by frame: a whole-index scan, for rare questions."""
        decompressor = zstandard.ZstdDecompressor()
        for frame in range(len(self._frame_offsets) - 1):
            yield from decompressor.decompress(self._frame(frame)).decode("utf-8", "replace").split("\n\n")

    def stanza(self, entry: IndexEntry) -> str:
        """The full paragraph of `entry`, as the archive wrote it."""
        frame, start, end = entry[5], entry[6], entry[7]
        text = zstandard.ZstdDecompressor().decompress(self._frame(frame))
        return text[start:end].decode("utf-8", "replace")

    def _frame(self, frame: int) -> bytes | memoryview:
        """Frame number `frame`, checked against its recorded SHA256."""
        compressed = self._frames[self._frame_offsets[frame] : self._frame_offsets[frame + 1]]
        if hashlib.sha256(compressed).digest() != self._frame_digests[frame * _DIGEST : (frame + 1) * _DIGEST]:
            raise DamagedIndexError(f"paragraph frame {frame}")
        return compressed


def _seal(key: bytes, header: bytes | memoryview, records_length: int) -> bytes:
    seal = hmac.new(key, struct.pack("<QQ", len(header), records_length), hashlib.sha256)
    seal.update(header)
    return seal.digest()


def _offsets(parts: list[bytes]) -> array.array[int]:
    """Start offsets of `parts` laid end to end, plus the total length."""
    offsets = array.array("Q", [0])
    for part in parts:
        offsets.append(offsets[-1] + len(part))
    return offsets
