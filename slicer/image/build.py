"""`slicer image`: cut the slices per architecture, layer the trees, write the image.

Each architecture is cut by the real cut pipeline into a private root in a
work directory; the layers are then written from those trees (in parallel
across architectures) with the owners the cut recorded, the config and
manifest are added, and the layout is published to the output and/or pushed.
The work directory goes away however the build ends, and the output appears
only once complete.

The build's epoch (every mtime is clamped to it, and it is the `created`
date) is `SOURCE_DATE_EPOCH`, else the newest mtime among the packages'
files: rebuilding the same locked inputs gives the same digests.
"""

from __future__ import annotations

import datetime
import os
import shlex
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attrs import field, frozen

from .. import __version__
from ..archive.options import ArchiveOptions
from ..console import Console
from ..cut.epoch import source_date_epoch
from ..cut.pipeline import CutOptions, CutOutcome, run_cut
from ..errors import ImageError
from . import layer, oci
from .add import added_entries
from .layout import Layout, Output, new_layout, publish, remove_work
from .spec import AddFile, check_add

if TYPE_CHECKING:
    from .push import RegistryOptions

CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


@frozen
class ImageOptions:
    slices: tuple[str, ...]
    archs: tuple[str, ...]
    release: str | None = None
    overlays: tuple[Path, ...] = ()
    runtime: oci.RuntimeConfig = field(factory=oci.RuntimeConfig)
    annotations: dict[str, str] = field(factory=dict)
    add: tuple[AddFile, ...] = ()
    compression: str = "gzip"
    name: str = "image"
    tag: str = "latest"
    output: Output | None = None
    push: tuple[str, ...] = ()
    locked: str | None = None
    sbom: Path | None = None
    attach_sbom: bool = False
    archives: ArchiveOptions = field(factory=ArchiveOptions)
    ignore: frozenset[str] = frozenset()
    registry: RegistryOptions | None = None


@frozen
class PlatformImage:
    """One architecture's image in the layout."""

    arch: str
    manifest: oci.Descriptor
    config: oci.Descriptor
    layers: tuple[layer.LayerBlob, ...]


@frozen
class BuiltImage:
    top: oci.Descriptor  # the index (several architectures) or the one manifest
    platforms: tuple[PlatformImage, ...]
    referrers: tuple[oci.Descriptor, ...]


def build_image(options: ImageOptions, console: Console) -> dict[str, Any]:
    """Build, write and push the image; return a JSON-ready summary."""
    _check(options)
    work, layout = new_layout(options.output)
    try:
        cuts = {arch: _cut(options, arch, work / "roots" / arch, console) for arch in options.archs}
        epoch = build_epoch(cuts.values())
        built = _assemble(options, layout, work, cuts, epoch, console)
        if options.push:
            from .push import push_image

            push_image(layout, built, options.push, options.registry, console)
        if options.output is not None:
            publish(layout, options.output, epoch)
            console.info(f"Wrote {options.output.form}:{options.output.path} ({built.top.digest})")
    finally:
        remove_work(work)
    return {
        "digest": built.top.digest,
        "media_type": built.top.media_type,
        "manifests": {image.arch: image.manifest.digest for image in built.platforms},
        "referrers": [referrer.digest for referrer in built.referrers],
        "epoch": epoch,
    }


def _check(options: ImageOptions) -> None:
    for arch in options.archs:
        oci.platform(arch)
    if len(set(options.archs)) != len(options.archs):
        raise ImageError(f"--arch names an architecture twice: {','.join(options.archs)}")
    if options.push:
        from .push import Reference

        for target in options.push:
            Reference.parse(target)
    if options.output is None and not options.push:
        raise ImageError("nowhere to put the image: give --output and/or --push")
    if options.output is not None:
        options.output.check()
        if options.output.form == "docker-archive" and len(options.archs) > 1:
            raise ImageError(
                "a docker-archive holds one architecture; pass one --arch, or write oci: or "
                "oci-archive: for a multi-architecture image"
            )
    for item in options.add:
        check_add(item, "--add", options.archs)
    if options.locked and len(options.archs) > 1 and "{arch}" not in options.locked:
        raise ImageError(
            "--locked with several architectures needs one lock file per architecture: "
            "write {arch} in the file name, e.g. --locked 'image-{arch}.lock'"
        )


def _cut(options: ImageOptions, arch: str, root: Path, console: Console) -> CutOutcome:
    locked = Path(options.locked.replace("{arch}", arch)) if options.locked else None
    return run_cut(
        CutOptions(
            root=root,
            slices=options.slices,
            arch=arch,
            release=options.release,
            overlays=options.overlays,
            archives=options.archives,
            locked=locked,
            ignore=options.ignore,
        ),
        console,
    )


def build_epoch(cuts: Iterable[CutOutcome]) -> int:
    """`SOURCE_DATE_EPOCH`, else the newest package file's mtime of every cut."""
    if os.environ.get("SOURCE_DATE_EPOCH", "").strip():
        return source_date_epoch()
    newest = [entry.mtime for done in cuts for entry in done.report.entries.values() if entry.package]
    return max(newest, default=0)


def _assemble(
    options: ImageOptions, layout: Layout, work: Path, cuts: dict[str, CutOutcome], epoch: int, console: Console
) -> BuiltImage:
    compression = (
        "none" if options.output is not None and options.output.form == "docker-archive" else options.compression
    )
    with console.task(f"Writing {len(cuts) * (1 + bool(options.add))} layers", total=len(cuts), unit="archs") as task:

        def one(arch: str) -> tuple[layer.LayerBlob, ...]:
            root = work / "roots" / arch
            owners = layer.recorded_owners(root, cuts[arch].report)
            blobs = [layer.write_layer(layer.tree_entries(root, owners, epoch), layout.blobs, compression, compressors)]
            if options.add:
                entries = [
                    layer.LayerEntry("", "dir", 0o755, 0, 0, epoch),
                    *added_entries(tuple(item.for_arch(arch) for item in options.add), root, owners, epoch),
                ]
                blobs.append(layer.write_layer(entries, layout.blobs, compression, compressors))
            task.advance()
            return tuple(blobs)

        # Architectures are layered side by side, their gzip pieces compressed by one shared pool.
        with (
            ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as compressors,
            ThreadPoolExecutor(max_workers=len(cuts)) as writers,
        ):
            layers = dict(zip(cuts, writers.map(one, cuts), strict=True))
    platforms, referrers = [], []
    for arch, done in cuts.items():
        image = _platform_image(options, layout, work / "roots" / arch, done, layers[arch], epoch)
        platforms.append(image)
        if options.sbom or options.attach_sbom:
            referrers.extend(_sbom(options, layout, work / "roots" / arch, done, image, epoch))
    ref = {oci.REF_NAME: options.tag, "io.containerd.image.name": f"{options.name}:{options.tag}"}
    if len(platforms) == 1:
        top = platforms[0].manifest
    else:
        index = oci.image_index([image.manifest for image in platforms], {oci.CREATED: oci.timestamp(epoch)})
        top = layout.put(oci.INDEX, index)
    tagged = oci.Descriptor(top.media_type, top.digest, top.size, annotations=ref, platform=top.platform)
    layout.finish([tagged, *referrers])
    if options.output is not None and options.output.form == "docker-archive":
        image = platforms[0]
        layout.add_docker_manifest(image.config, [blob.digest for blob in image.layers], options.name, options.tag)
    return BuiltImage(top, tuple(platforms), tuple(referrers))


def _platform_image(
    options: ImageOptions, layout: Layout, root: Path, done: CutOutcome, blobs: tuple[layer.LayerBlob, ...], epoch: int
) -> PlatformImage:
    env = {"PATH": oci.DEFAULT_PATH}
    if (root / CA_BUNDLE.lstrip("/")).is_file():
        env["SSL_CERT_FILE"] = CA_BUNDLE
    runtime = options.runtime
    env.update(dict(item.split("=", 1) for item in runtime.env))
    runtime = oci.RuntimeConfig(
        runtime.user,
        tuple(f"{key}={value}" for key, value in env.items()),
        runtime.entrypoint,
        runtime.cmd,
        runtime.workdir,
        runtime.labels,
    )
    history = [
        f"slicer cut --release {done.release.name} --arch {done.selection.arch} "
        + " ".join(shlex.quote(str(slice_.key)) for slice_ in done.selection.slices)
    ]
    if options.add:
        history.append(
            "slicer image " + " ".join(shlex.quote(f"--add={item.source.name}:{item.dest}") for item in options.add)
        )
    diff_ids = [blob.diff_id for blob in blobs]
    config = layout.put(oci.CONFIG, oci.image_config(done.selection.arch, runtime, diff_ids, history, epoch))
    annotations = {
        oci.CREATED: oci.timestamp(epoch),
        "org.opencontainers.image.base.name": f"{done.release.name}/{done.selection.arch}",
        "slicer.release": done.release.name,
        "slicer.version": __version__,
        "slicer.slices": " ".join(sorted(str(slice_.key) for slice_ in done.selection.slices)),
        "slicer.packages": " ".join(f"{name}={record.version}" for name, record in sorted(done.records.items())),
        **options.annotations,
    }
    layers = [oci.Descriptor(blob.media_type, blob.digest, blob.size) for blob in blobs]
    manifest = layout.put(
        oci.MANIFEST, oci.image_manifest(config, layers, annotations), platform=oci.platform(done.selection.arch)
    )
    return PlatformImage(done.selection.arch, manifest, config, blobs)


def _sbom(
    options: ImageOptions, layout: Layout, root: Path, done: CutOutcome, image: PlatformImage, epoch: int
) -> list[oci.Descriptor]:
    """The SPDX SBOM of one architecture: beside the image (`--sbom`) and/or attached to it."""
    from ..cut import sbom
    from ..cut.pipeline import sbom_packages

    packages = sbom_packages(done.records)
    created = datetime.datetime.fromtimestamp(epoch, datetime.UTC)
    document = sbom.build_spdx(
        f"{options.name}-{image.arch}", packages, done.report, created, distro=done.release.name, root=root
    )
    if options.sbom:
        target = options.sbom
        if len(options.archs) > 1:
            target = target.with_name(f"{target.stem}.{image.arch}{target.suffix}")
        sbom.write_spdx(document, target)
    if not options.attach_sbom:
        return []
    payload = layout.put(oci.SPDX, sbom.spdx_bytes(document))
    subject = oci.Descriptor(image.manifest.media_type, image.manifest.digest, image.manifest.size)
    artifact = oci.artifact_manifest(oci.SPDX, payload, subject, {oci.CREATED: oci.timestamp(epoch)})
    layout.put(oci.EMPTY, oci.EMPTY_BLOB)
    return [layout.put(oci.MANIFEST, artifact, artifact_type=oci.SPDX)]
