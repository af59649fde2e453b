"""`slicer image`: OCI images from cuts, without a container engine.

`build.py` runs a cut per architecture into a private root and assembles the
image; `layer.py` writes deterministic layer tarballs from a cut tree (owners
from the cut's report) and `add.py` the layer of `--add` files; `oci.py`
holds the config, manifest and index documents; `layout.py` writes the
`oci:`, `oci-archive:` and `docker-archive:` outputs atomically; `push.py`
speaks the OCI distribution API; `spec.py` reads image spec files.

A command stage: may import `cut`, `release`, `archive`, `rootfs`, `report`
and the primitives; never another command.
"""
