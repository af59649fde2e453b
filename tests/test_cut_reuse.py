"""The stored tree of a cut: what `find` accepts from the cache."""

from __future__ import annotations

import pickle

from slicer.cache import Cache
from slicer.cut import reuse

KEY = "ab" * 32


class _Planted:
    """Pickles as a call of `open`, which would create a file if unpickled."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _store_header(cache: Cache, header: bytes) -> None:
    def produce(writer) -> None:
        writer.write(reuse._MAGIC + len(header).to_bytes(8, "little") + header)

    cache.derive(KEY, reuse.KIND, produce)


def test_a_sealed_tree_holding_other_objects_is_not_read(tmp_path):
    cache = Cache(tmp_path / "cache")
    planted = tmp_path / "ran"
    _store_header(cache, pickle.dumps((_Planted(str(planted)), frozenset(), [])))

    assert reuse.find(cache, KEY) is None
    assert not planted.exists()


def test_a_sealed_tree_of_the_right_shape_is_read(tmp_path):
    cache = Cache(tmp_path / "cache")
    node = reuse.Node("etc", "dir", 0o755, 0, 0, 0)
    _store_header(cache, pickle.dumps((reuse.Report(), frozenset({"/etc/x"}), [node])))

    found = reuse.find(cache, KEY)

    assert found is not None and found.nodes == (node,) and found.replaceable == frozenset({"/etc/x"})
