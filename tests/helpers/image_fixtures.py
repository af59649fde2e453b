"""Fixtures for `slicer image` tests: a two-architecture release on a local signed archive,
an in-process `slicer image` runner and readers for what it writes.

- `image_release`: factory `image_release(version="1.0")` -> path of a chisel release
  whose archive (on 127.0.0.1) holds base-files (all) and hello (amd64 and arm64, with
  different bytes); each call makes a new archive, so a new version changes the inputs.
- `slicer_image`: factory `slicer_image(release, *args)` -> (exit code, stdout, stderr)
  of `slicer image` run in-process with the release's own cache.
- `read_layout` (plain function): an OCI layout directory -> `LayoutView`.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard
from attrs import frozen

from slicer.cli import main
from tests.helpers.debs import DebSpec, directory, file, hardlink
from tests.helpers.releases import chisel_yaml, write_release

SLICES = {
    "base-files.yaml": """\
        package: base-files
        slices:
          base:
            contents:
              /etc/:
              /etc/passwd: {text: "root:x:0:0:root:/root:/sbin/nologin\\napp:x:1000:1000::/home/app:/sbin/nologin\\n"}
              /home/app/: {make: true, mode: 0700, uid: 1000, gid: 1000}
              /lib: {symlink: usr/lib}
              /tmp/:
              /usr/lib/:
          status:
            contents:
              /var/lib/dpkg/status.d/**: {generate: dpkg-status}
        """,
    "hello.yaml": """\
        package: hello
        slices:
          bins:
            essential:
              base-files_base: null
            contents:
              /usr/bin/hello:
              /usr/bin/hello-again:
              /usr/bin/su-hello:
              /var/lib/hello/:
        """,
}
PACKAGE_MTIME = 1_700_000_000
NEWEST_MTIME = PACKAGE_MTIME + 500


def debs(version: str) -> list[DebSpec]:
    base = DebSpec(
        "base-files",
        version,
        "all",
        [
            directory("./etc/"),
            directory("./tmp/", 0o1777),
            directory("./usr/"),
            directory("./usr/lib/"),
            directory("./usr/share/"),
            directory("./usr/share/doc/"),
            directory("./usr/share/doc/base-files/"),
            file("./usr/share/doc/base-files/copyright", "MIT\n"),
        ],
    )
    packages = [base]
    for arch in ("amd64", "arm64"):
        packages.append(
            DebSpec(
                "hello",
                version,
                arch,
                [
                    directory("./usr/"),
                    directory("./usr/bin/"),
                    file("./usr/bin/hello", f"\x7fELF hello {arch} {version}\n", 0o755, mtime=NEWEST_MTIME),
                    hardlink("./usr/bin/hello-again", "./usr/bin/hello"),
                    file("./usr/bin/su-hello", b"setuid", 0o4755),
                    directory("./var/"),
                    directory("./var/lib/"),
                    directory("./var/lib/hello/", 0o750, uid=1000, gid=1000, uname="app", gname="app"),
                ],
            )
        )
    return packages


@pytest.fixture
def image_release(test_archive, signing_key, tmp_path: Path) -> Callable[..., str]:
    counter = iter(range(100))

    def make(version: str = "1.0") -> str:
        archive = test_archive({"bookworm": debs(version)}, name=f"debian{next(counter)}")
        cert = signing_key.extract_certificate()
        archives = (
            "  debian:\n    version: '12'\n    suites: [bookworm]\n    components: [main]\n"
            f"    public-keys: [test-key]\n    url: {archive.url}\n"
        )
        root = write_release(
            tmp_path / f"release-{archive.name}", cert, SLICES, release_text=chisel_yaml(cert, archives=archives)
        )
        return str(root) + "/"

    return make


@pytest.fixture
def slicer_image() -> Callable[..., tuple[int, str, str]]:
    def run(release: str, *args: str) -> tuple[int, str, str]:
        cache = Path(release.rstrip("/")).parent / f"cache-{Path(release.rstrip('/')).name}"
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["-q", "image", "--release", release, "--cache-dir", str(cache), *args])
        return code, out.getvalue(), err.getvalue()

    return run


@frozen
class LayoutView:
    """An OCI layout read back: its index.json and blobs."""

    path: Path
    index: dict

    def blob(self, digest: str) -> bytes:
        return (self.path / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes()

    def json(self, digest: str) -> dict:
        return json.loads(self.blob(digest))

    def manifests(self) -> list[dict]:
        """The image manifests under the tagged entry (one, or each of an index)."""
        top = self.index["manifests"][0]
        if top["mediaType"].endswith("index.v1+json"):
            return [self.json(entry["digest"]) for entry in self.json(top["digest"])["manifests"]]
        return [self.json(top["digest"])]

    def layer(self, descriptor: dict) -> tarfile.TarFile:
        data = self.blob(descriptor["digest"])
        if descriptor["mediaType"].endswith("+gzip"):
            data = gzip.decompress(data)
        elif descriptor["mediaType"].endswith("+zstd"):
            data = zstandard.ZstdDecompressor().decompressobj().decompress(data)
        return tarfile.open(fileobj=io.BytesIO(data))


def read_layout(path: Path) -> LayoutView:
    return LayoutView(path, json.loads((path / "index.json").read_text()))
