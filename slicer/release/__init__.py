"""Releases: the model of a release and its slices, read from YAML and validated.

`load.py` finds a release (bundled or a directory), reads it through
`yamldoc.py` and `schema.py`, checks it with `validate.py` (conflicts through
`pathindex.py`) and keeps the validated result in the cache; `selection.py`
turns slice names into what a cut takes.

Pure and fast to test: no network, no writes outside the cache. May import
only the primitives (`errors`, `globs`) and `cache`.
"""
