"""OCI image documents: config, manifest, index and their descriptors.

Pure functions from what the build knows to JSON documents, written as
canonical bytes (sorted keys, no spaces) so that the same inputs always give
the same digests. Media types and fields follow the OCI image spec v1.1.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from typing import Any

from attrs import frozen

from ..errors import ImageError

CONFIG = "application/vnd.oci.image.config.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
EMPTY = "application/vnd.oci.empty.v1+json"
SPDX = "application/spdx+json"
REF_NAME = "org.opencontainers.image.ref.name"
CREATED = "org.opencontainers.image.created"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Debian architecture -> OCI platform (architecture, variant).
PLATFORMS = {
    "amd64": ("amd64", ""),
    "arm64": ("arm64", "v8"),
    "armhf": ("arm", "v7"),
    "armel": ("arm", "v5"),
    "i386": ("386", ""),
    "ppc64el": ("ppc64le", ""),
    "s390x": ("s390x", ""),
    "riscv64": ("riscv64", ""),
    "mips64el": ("mips64le", ""),
}


def canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@frozen
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    artifact_type: str | None = None

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.platform:
            document["platform"] = self.platform
        if self.annotations:
            document["annotations"] = self.annotations
        if self.artifact_type:
            document["artifactType"] = self.artifact_type
        return document


def describe(media_type: str, data: bytes, **extra: Any) -> Descriptor:
    return Descriptor(media_type, digest_of(data), len(data), **extra)


def platform(arch: str) -> dict[str, str]:
    """The OCI platform of a Debian architecture."""
    if arch not in PLATFORMS:
        raise ImageError(f"unknown architecture {arch!r}; known: {', '.join(sorted(PLATFORMS))}")
    architecture, variant = PLATFORMS[arch]
    found = {"architecture": architecture, "os": "linux"}
    if variant:
        found["variant"] = variant
    return found


def timestamp(epoch: int) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@frozen
class RuntimeConfig:
    """What a container starts with (the config's `config` object)."""

    user: str = ""
    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    workdir: str = ""
    labels: tuple[tuple[str, str], ...] = ()


def image_config(arch: str, runtime: RuntimeConfig, diff_ids: list[str], history: list[str], epoch: int) -> bytes:
    """The config blob: platform, runtime settings, diff_ids and one history entry per layer."""
    settings: dict[str, Any] = {"Env": list(runtime.env)}
    if runtime.user:
        settings["User"] = runtime.user
    if runtime.entrypoint is not None:
        settings["Entrypoint"] = list(runtime.entrypoint)
    if runtime.cmd is not None:
        settings["Cmd"] = list(runtime.cmd)
    if runtime.workdir:
        settings["WorkingDir"] = runtime.workdir
    if runtime.labels:
        settings["Labels"] = dict(runtime.labels)
    created = timestamp(epoch)
    document = {
        **platform(arch),
        "created": created,
        "config": settings,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": created, "created_by": step} for step in history],
    }
    return canonical(document)


def image_manifest(config: Descriptor, layers: list[Descriptor], annotations: dict[str, str]) -> bytes:
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": config.to_json(),
        "layers": [layer.to_json() for layer in layers],
    }
    if annotations:
        document["annotations"] = annotations
    return canonical(document)


def artifact_manifest(
    artifact_type: str, payload: Descriptor, subject: Descriptor, annotations: dict[str, str]
) -> bytes:
    """An OCI 1.1 artifact (an SBOM) that refers to `subject`, with the empty config."""
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "artifactType": artifact_type,
        "config": empty_descriptor().to_json(),
        "layers": [payload.to_json()],
        "subject": subject.to_json(),
    }
    if annotations:
        document["annotations"] = annotations
    return canonical(document)


EMPTY_BLOB = b"{}"


def empty_descriptor() -> Descriptor:
    return describe(EMPTY, EMPTY_BLOB)


def referrer(manifest: bytes) -> tuple[str, Descriptor]:
    """(subject digest, the descriptor of `manifest` in its subject's referrers list): the
    list names its artifactType (else its config's media type) and carries its annotations."""
    document = json.loads(manifest)
    artifact_type = document.get("artifactType") or document["config"]["mediaType"]
    descriptor = describe(
        document.get("mediaType", MANIFEST),
        manifest,
        artifact_type=artifact_type,
        annotations=document.get("annotations") or None,
    )
    return document["subject"]["digest"], descriptor


def with_referrers(current: dict[str, Any] | None, referrers: list[Descriptor]) -> bytes | None:
    """The referrers index `current` (None: an empty one) with `referrers` appended, none twice;
    None when it already lists them all."""
    document = current or {"schemaVersion": 2, "mediaType": INDEX, "manifests": []}
    listed = {entry.get("digest") for entry in document["manifests"]}
    added = [item.to_json() for item in referrers if item.digest not in listed]
    if not added:
        return None
    return canonical({**document, "manifests": [*document["manifests"], *added]})


def image_index(manifests: list[Descriptor], annotations: dict[str, str] | None = None) -> bytes:
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": [manifest.to_json() for manifest in manifests],
    }
    if annotations:
        document["annotations"] = annotations
    return canonical(document)
