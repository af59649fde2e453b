"""Image outputs: an OCI layout directory, or a tar of it (`oci-archive`,
`docker-archive`), written so that a failure never leaves a partial output.

Blobs go to a layout directory being built (`Layout`), next to the final
place; `publish` then renames it into place (a directory) or tars it into a
temporary file renamed over the target (an archive). A `docker-archive` is
the same layout plus Docker's `manifest.json` and `repositories`, the shape
`docker save` writes since Docker 25, which `docker load`, `podman load` and
skopeo all read; its layers are uncompressed, as Docker's loader expects.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import BinaryIO

from attrs import frozen

from .. import rootfs
from ..atomic import write_atomic, write_bytes_atomic
from ..errors import ImageError
from . import oci

FORMS = ("oci", "oci-archive", "docker-archive")
LAYOUT_VERSION = b'{"imageLayoutVersion":"1.0.0"}'


@frozen
class Output:
    """Where the image goes: `oci:DIR`, `oci-archive:FILE` or `docker-archive:FILE`."""

    form: str
    path: Path

    @classmethod
    def parse(cls, value: str) -> Output:
        form, sep, path = value.partition(":")
        if not sep or form not in FORMS or not path:
            raise ImageError(f"--output expects oci:DIR, oci-archive:FILE or docker-archive:FILE, got {value!r}")
        return cls(form, Path(path))

    def check(self) -> None:
        """Fail before any work when the output cannot be written."""
        parent = self.path.absolute().parent
        if not parent.is_dir():
            raise ImageError(f"cannot write {self.path}: {parent} is not a directory")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise ImageError(f"cannot write {self.path}: {parent} is not writable")
        if self.form == "oci" and self.path.exists() and not _replaceable_layout(self.path):
            raise ImageError(
                f"cannot write the layout to {self.path}: it exists and is not an OCI layout "
                "(remove it or choose another directory)"
            )
        if self.form != "oci" and self.path.is_dir():
            raise ImageError(f"cannot write {self.path}: it is a directory")


def _replaceable_layout(path: Path) -> bool:
    return path.is_dir() and ((path / "oci-layout").is_file() or not any(path.iterdir()))


class Layout:
    """An OCI image layout being built in `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.blobs = directory / "blobs" / "sha256"
        self.blobs.mkdir(parents=True)

    def put(self, media_type: str, data: bytes, **extra: object) -> oci.Descriptor:
        descriptor = oci.describe(media_type, data, **extra)
        target = self.blobs / descriptor.digest.removeprefix("sha256:")
        if not target.exists():
            write_bytes_atomic(target, data, 0o644)
        return descriptor

    def blob(self, digest: str) -> Path:
        return self.blobs / digest.removeprefix("sha256:")

    def finish(self, manifests: list[oci.Descriptor]) -> None:
        (self.directory / "oci-layout").write_bytes(LAYOUT_VERSION)
        (self.directory / "index.json").write_bytes(oci.image_index(manifests))

    def add_docker_manifest(self, config: oci.Descriptor, layers: list[str], name: str, tag: str) -> None:
        """Docker's `manifest.json` and `repositories` beside the layout, for `docker load`."""
        manifest = [
            {
                "Config": f"blobs/sha256/{config.digest.removeprefix('sha256:')}",
                "RepoTags": [f"{name}:{tag}"],
                "Layers": [f"blobs/sha256/{digest.removeprefix('sha256:')}" for digest in layers],
            }
        ]
        (self.directory / "manifest.json").write_bytes(json.dumps(manifest, separators=(",", ":")).encode())
        repositories = {name: {tag: config.digest.removeprefix("sha256:")}}
        (self.directory / "repositories").write_bytes(json.dumps(repositories, separators=(",", ":")).encode())


def publish(layout: Layout, output: Output, epoch: int) -> None:
    """Move the finished layout into place, or archive it there, atomically."""
    try:
        if output.form == "oci":
            _replace_directory(layout.directory, output.path)
        else:
            _archive(layout.directory, output.path, epoch)
    except OSError as error:
        raise ImageError(f"cannot write {output.path}: {error.strerror or error}") from None


def _replace_directory(built: Path, target: Path) -> None:
    os.chmod(built, 0o755)
    if not target.exists():
        os.rename(built, target)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.absolute().parent))
    os.rename(target, aside / "layout")
    try:
        os.rename(built, target)
    except OSError:
        os.rename(aside / "layout", target)
        raise
    finally:
        rootfs.discard(aside)


def _archive(built: Path, target: Path, epoch: int) -> None:
    """A tar of the layout: sorted, numeric owners 0, fixed mtimes, so it is reproducible too."""

    def write(stream: BinaryIO) -> Path:
        with tarfile.open(fileobj=stream, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path in sorted(built.rglob("*"), key=lambda path: path.relative_to(built).parts):
                name = path.relative_to(built).as_posix()
                info = tarfile.TarInfo(name + "/" if path.is_dir() else name)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mtime = epoch
                if path.is_dir():
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
                else:
                    info.mode, info.size = 0o644, path.stat().st_size
                    with open(path, "rb") as content:
                        tar.addfile(info, content)
        return target

    write_atomic(target.absolute().parent, f".{target.name}.", write, 0o644)


def new_layout(output: Output | None) -> tuple[Path, Layout]:
    """A private work directory holding a fresh layout: next to an `oci:` output
    (so that it can be renamed into place), else in the temporary directory."""
    place = output.path.absolute().parent if output is not None and output.form == "oci" else None
    try:
        work = Path(tempfile.mkdtemp(prefix=".slicer-image-", dir=place))
    except OSError as error:
        raise ImageError(
            f"cannot create a work directory in {place or tempfile.gettempdir()}: {error.strerror or error}"
        ) from None
    return work, Layout(work / "layout")


def remove_work(work: Path) -> None:
    rootfs.discard(work)
    shutil.rmtree(work, ignore_errors=True)
