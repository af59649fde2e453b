"""`slicer image` against a local signed archive: layers, config, outputs, reproducibility, errors.

Outputs are read back by our own readers and, when installed (CI installs
them), by skopeo, umoci and podman.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest

from slicer.image.layer import Owner, recorded_owners, tree_entries
from slicer.report import Entry, Report
from tests.helpers.image_fixtures import NEWEST_MTIME, read_layout

SLICES = ("hello_bins", "base-files_status")


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (.ci/run installs it)")
    return found


def members(tar: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    """Entries by name as written (Python's reader drops a directory's trailing slash)."""
    return {member.name + ("/" if member.isdir() else ""): member for member in tar.getmembers()}


def test_the_layer_holds_the_cut_with_recorded_owners_and_modes(image_release, slicer_image, tmp_path):
    code, out, err = slicer_image(
        image_release(),
        "--arch",
        "amd64",
        "--output",
        f"oci:{tmp_path / 'img'}",
        "--user",
        "1000",
        "--entrypoint",
        '["/usr/bin/hello", "-v"]',
        "--env",
        "LANG=C.UTF-8",
        "--label",
        "team=core",
        "--json",
        *SLICES,
    )
    assert code == 0, err
    layout = read_layout(tmp_path / "img")
    assert (tmp_path / "img" / "oci-layout").read_text() == '{"imageLayoutVersion":"1.0.0"}'
    assert layout.index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "latest"
    assert json.loads(out)["digest"] == layout.index["manifests"][0]["digest"]
    [manifest] = layout.manifests()
    config = layout.json(manifest["config"]["digest"])
    assert config["architecture"] == "amd64" and config["os"] == "linux" and "variant" not in config
    assert config["config"]["User"] == "1000"
    assert config["config"]["Entrypoint"] == ["/usr/bin/hello", "-v"]
    assert config["config"]["Env"] == [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG=C.UTF-8",
    ]
    assert config["config"]["Labels"] == {"team": "core"}
    assert config["created"] == "2023-11-14T22:21:40Z"  # the newest package file, no SOURCE_DATE_EPOCH
    assert manifest["annotations"]["slicer.packages"] == "base-files=1.0 hello=1.0"
    assert manifest["annotations"]["slicer.slices"] == "base-files_base base-files_status hello_bins"
    [layer_descriptor] = manifest["layers"]
    assert layer_descriptor["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    blob = layout.blob(layer_descriptor["digest"])
    assert "sha256:" + hashlib.sha256(blob).hexdigest() == layer_descriptor["digest"]
    tar = layout.layer(layer_descriptor)
    entries = members(tar)
    names = list(entries)
    assert names[0] == "./" and entries["./"].mode == 0o755
    assert names == sorted(names, key=lambda name: name.rstrip("/").split("/"))
    # Owners from the slice (/home/app) and from the package (/var/lib/hello), never the disk's.
    assert (entries["./home/app/"].uid, entries["./home/app/"].gid, entries["./home/app/"].mode) == (1000, 1000, 0o700)
    assert (entries["./var/lib/hello/"].uid, entries["./var/lib/hello/"].mode) == (1000, 0o750)
    assert all(member.uname == "" and member.gname == "" for member in tar.getmembers())
    assert entries["./usr/bin/su-hello"].mode == 0o4755
    assert entries["./lib"].issym() and entries["./lib"].linkname == "usr/lib"
    assert entries["./usr/bin/hello-again"].islnk() and entries["./usr/bin/hello-again"].linkname == "./usr/bin/hello"
    assert tar.extractfile("./usr/bin/hello").read() == b"\x7fELF hello amd64 1.0\n"
    assert max(member.mtime for member in tar.getmembers()) == NEWEST_MTIME
    assert not any(member.pax_headers for member in tar.getmembers())
    # diff_id is the uncompressed tar's digest.
    import gzip

    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(gzip.decompress(blob)).hexdigest()]
    assert not list(tmp_path.glob(".slicer-image-*"))
    # A layout others can read, whatever the umask of temporary files.
    assert {path.stat().st_mode & 0o777 for path in (tmp_path / "img").rglob("*")} == {0o644, 0o755}


def test_owners_come_from_the_report_not_the_disk(tmp_path):
    root = tmp_path / "root"
    (root / "usr/lib/app").mkdir(parents=True)
    (root / "lib").symlink_to("usr/lib")
    (root / "usr/lib/app/data").write_text("x")
    report = Report()
    report.add(Entry(path="/lib/app/", kind="dir", mode=0o755, uid=123, gid=456))
    report.add(Entry(path="/lib/app/data", kind="file", mode=0o644, uid=7, gid=8))
    owners = recorded_owners(root, report)
    entries = {entry.path: entry for entry in tree_entries(root, owners, epoch=10)}
    # Recorded through the /lib symlink, found at the real path.
    assert (entries["usr/lib/app"].uid, entries["usr/lib/app"].gid) == (123, 456)
    assert (entries["usr/lib/app/data"].uid, entries["usr/lib/app/data"].gid) == (7, 8)
    assert entries["usr/lib"].uid == 0 and entries["usr/lib/app/data"].mtime == 10
    assert owners[str(root / "usr/lib/app/data")] == Owner(7, 8)


def test_two_architectures_make_one_index(image_release, slicer_image, tmp_path):
    code, _, err = slicer_image(
        image_release(), "--arch", "amd64,arm64", "--output", f"oci:{tmp_path / 'img'}", *SLICES
    )
    assert code == 0, err
    layout = read_layout(tmp_path / "img")
    top = layout.index["manifests"][0]
    assert top["mediaType"] == "application/vnd.oci.image.index.v1+json"
    index = layout.json(top["digest"])
    assert [entry["platform"] for entry in index["manifests"]] == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm64", "os": "linux", "variant": "v8"},
    ]
    amd64, arm64 = layout.manifests()
    assert layout.json(arm64["config"]["digest"])["variant"] == "v8"
    assert amd64["layers"][0]["digest"] != arm64["layers"][0]["digest"]
    assert layout.layer(arm64["layers"][0]).extractfile("./usr/bin/hello").read() == b"\x7fELF hello arm64 1.0\n"


def _digest(slicer_image, release: str, output: Path, *extra: str) -> str:
    code, out, err = slicer_image(
        release, "--arch", "amd64,arm64", "--output", f"oci-archive:{output}", "--json", *extra, *SLICES
    )
    assert code == 0, err
    return json.loads(out)["digest"]


def test_rebuilds_are_reproducible_and_inputs_change_the_digest(image_release, slicer_image, tmp_path, monkeypatch):
    release = image_release()
    app = tmp_path / "app"
    app.write_text("app\n")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    previous = os.umask(0o022)
    try:
        first = _digest(slicer_image, release, tmp_path / "a/img.tar", "--add", f"{app}:/app/")
        os.utime(app, (2_000_000_000, 2_000_000_000))  # a later mtime, clamped away
        monkeypatch.chdir(tmp_path / "b")
        os.umask(0o077)
        app.chmod(0o600)  # host modes are normalised
        second = _digest(slicer_image, release, tmp_path / "b/img.tar", "--add", f"{app}:/app/")
    finally:
        os.umask(previous)
    assert first == second
    assert (tmp_path / "a/img.tar").read_bytes() == (tmp_path / "b/img.tar").read_bytes()
    app.write_text("app 2\n")
    assert _digest(slicer_image, release, tmp_path / "c.tar", "--add", f"{app}:/app/") != first
    assert _digest(slicer_image, release, tmp_path / "d.tar", "--env", "X=1") != first
    assert _digest(slicer_image, image_release("1.1"), tmp_path / "e.tar", "--add", f"{app}:/app/") != first


def test_added_files_get_their_own_layer(image_release, slicer_image, tmp_path):
    tool_file = tmp_path / "tool"
    tool_file.write_text("#!/bin/sh\n")
    tool_file.chmod(0o700)
    folder = tmp_path / "site"
    (folder / "css").mkdir(parents=True)
    (folder / "index.html").write_text("<p>")
    (folder / "css" / "a.css").write_text("p{}")
    (folder / "current").symlink_to("index.html")
    code, _, err = slicer_image(
        image_release(),
        "--arch",
        "amd64",
        "--output",
        f"oci:{tmp_path / 'img'}",
        "--add",
        f"{tool_file}:/usr/bin/tool:0750:1000:1000",
        "--add",
        f"{folder}:/srv/site",
        "--add",
        f"{tool_file}:/lib/app/tool",
        *SLICES,
    )
    assert code == 0, err
    layout = read_layout(tmp_path / "img")
    [manifest] = layout.manifests()
    assert len(manifest["layers"]) == 2
    config = layout.json(manifest["config"]["digest"])
    assert len(config["history"]) == 2 and config["history"][1]["created_by"].startswith("slicer image --add=")
    base, added = (members(layout.layer(layer)) for layer in manifest["layers"])
    assert list(added) == [
        "./",
        "./srv/",
        "./srv/site/",
        "./srv/site/css/",
        "./srv/site/css/a.css",
        "./srv/site/current",
        "./srv/site/index.html",
        "./usr/",
        "./usr/bin/",
        "./usr/bin/tool",
        "./usr/lib/",
        "./usr/lib/app/",
        "./usr/lib/app/tool",
    ]
    tool_entry = added["./usr/bin/tool"]
    assert (tool_entry.mode, tool_entry.uid, tool_entry.gid) == (0o750, 1000, 1000)
    assert added["./usr/lib/app/tool"].mode == 0o755  # executable on the host: 0755, whatever the umask
    assert added["./srv/site/index.html"].mode == 0o644
    assert added["./srv/site/current"].linkname == "index.html"
    # Parents that the cut holds keep the cut's metadata; /lib is followed to usr/lib, not replaced.
    for parent in ("./usr/", "./usr/lib/"):
        assert (added[parent].mode, added[parent].mtime) == (base[parent].mode, base[parent].mtime)
    assert "./lib/" not in added


def test_docker_archive_and_oci_archive(image_release, slicer_image, tmp_path):
    release = image_release()
    code, _, err = slicer_image(
        release, "--arch", "amd64", "--output", f"docker-archive:{tmp_path / 'd.tar'}", "--tag", "hello:1.0", *SLICES
    )
    assert code == 0, err
    with tarfile.open(tmp_path / "d.tar") as tar:
        [entry] = json.load(tar.extractfile("manifest.json"))
        assert entry["RepoTags"] == ["hello:1.0"]
        config = json.load(tar.extractfile(entry["Config"]))
        layer = tar.extractfile(entry["Layers"][0]).read()
        # Docker's loader wants the diff_id of each layer it reads: uncompressed layers.
        assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(layer).hexdigest()]
        assert json.load(tar.extractfile("repositories")) == {"hello": {"1.0": entry["Config"].rsplit("/")[-1]}}
        assert "oci-layout" in tar.getnames() and "index.json" in tar.getnames()
    code, _, err = slicer_image(
        release,
        "--arch",
        "amd64,arm64",
        "--output",
        f"oci-archive:{tmp_path / 'o.tar'}",
        "--compression",
        "zstd",
        *SLICES,
    )
    assert code == 0, err
    unpacked = tmp_path / "unpacked"
    with tarfile.open(tmp_path / "o.tar") as tar:
        assert all(member.uid == 0 and member.uname == "" for member in tar.getmembers())
        tar.extractall(unpacked, filter="tar")
    layout = read_layout(unpacked)
    for manifest in layout.manifests():
        assert manifest["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+zstd"
        assert "./usr/bin/hello" in members(layout.layer(manifest["layers"][0]))


def build_hello(slicer_image, release: str, output: str, *extra: str) -> tuple[int, str, str]:
    """The test image tagged hello:1.0, run as 65532, written to `output`."""
    return slicer_image(release, "--output", output, "--tag", "hello:1.0", "--user", "65532", *extra, *SLICES)


@pytest.mark.parametrize("form", ["oci", "oci-archive", "docker-archive"])
def test_skopeo_reads_and_copies_every_output_form(form, image_release, slicer_image, tmp_path):
    skopeo = tool("skopeo")
    target = tmp_path / ("img" if form == "oci" else "img.tar")
    code, _, err = build_hello(slicer_image, image_release(), f"{form}:{target}", "--arch", "amd64")
    assert code == 0, err
    source = {
        "oci": f"oci:{target}:1.0",
        "oci-archive": f"oci-archive:{target}:1.0",
        "docker-archive": f"docker-archive:{target}",
    }[form]
    inspected = json.loads(
        subprocess.run([skopeo, "inspect", source], check=True, capture_output=True, text=True).stdout
    )
    assert inspected["Architecture"] == "amd64" and inspected["Os"] == "linux"
    assert inspected["Created"].startswith("2023-11-14T22:21:40")
    copy = subprocess.run([skopeo, "copy", source, f"dir:{tmp_path / 'copy'}"], capture_output=True, text=True)
    assert copy.returncode == 0, copy.stderr
    copied = json.loads((tmp_path / "copy" / "manifest.json").read_text())
    assert len(copied["layers"]) == 1


@pytest.mark.parametrize("form", ["docker-archive", "oci-archive"])
def test_podman_loads_the_archives(form, image_release, slicer_image, tmp_path, request):
    """`podman load` (daemonless, as `docker load` reads the same docker-archive) into a
    throwaway store: vfs driver, every state folder private to the test (the run root in a
    short temporary folder: podman refuses one longer than 50 characters)."""
    podman = tool("podman")
    if os.geteuid() != 0:
        pytest.skip("podman keeps its store as root only here (rootless needs subordinate ids)")
    store = tmp_path / "podman"
    run_root = Path(tempfile.mkdtemp(prefix="podman-run-"))
    request.addfinalizer(lambda: shutil.rmtree(run_root, ignore_errors=True))
    command = [
        podman,
        f"--root={store / 'root'}",
        f"--runroot={run_root}",
        f"--tmpdir={store / 'tmp'}",
        "--storage-driver=vfs",
        "--cgroup-manager=cgroupfs",
        "--events-backend=file",
    ]
    target = tmp_path / "img.tar"
    code, out, err = build_hello(
        slicer_image, image_release(), f"{form}:{target}", "--arch", "arm64", "--entrypoint", "/usr/bin/hello", "--json"
    )
    assert code == 0, err
    loaded = subprocess.run([*command, "load", "--input", str(target)], capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr
    assert "Loaded image: localhost/hello:1.0" in loaded.stdout
    inspected = subprocess.run(
        [*command, "image", "inspect", "localhost/hello:1.0"], capture_output=True, text=True, check=True
    )
    [image] = json.loads(inspected.stdout)
    manifest_digest = json.loads(out)["manifests"]["arm64"]
    with tarfile.open(target) as tar:
        manifest = json.load(tar.extractfile(f"blobs/sha256/{manifest_digest.removeprefix('sha256:')}"))
        config = json.load(tar.extractfile(f"blobs/sha256/{manifest['config']['digest'].removeprefix('sha256:')}"))
    assert "sha256:" + image["Id"] == manifest["config"]["digest"]
    assert (image["Architecture"], image["Os"]) == ("arm64", "linux")
    assert image["Config"]["User"] == "65532" and image["Config"]["Entrypoint"] == ["/usr/bin/hello"]
    assert image["Config"]["Env"] == config["config"]["Env"]
    assert image["RootFS"]["Layers"] == config["rootfs"]["diff_ids"]


def test_skopeo_reads_the_multi_architecture_index(image_release, slicer_image, tmp_path):
    skopeo = tool("skopeo")
    code, out, err = slicer_image(
        image_release(), "--arch", "amd64,arm64", "--output", f"oci:{tmp_path / 'img'}", "--json", *SLICES
    )
    assert code == 0, err
    raw = json.loads(
        subprocess.run(
            [skopeo, "inspect", "--raw", f"oci:{tmp_path / 'img'}:latest"], check=True, capture_output=True, text=True
        ).stdout
    )
    assert raw["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert [entry["digest"] for entry in raw["manifests"]] == list(json.loads(out)["manifests"].values())
    arm = json.loads(
        subprocess.run(
            [skopeo, "--override-arch", "arm64", "inspect", f"oci:{tmp_path / 'img'}:latest"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    assert arm["Architecture"] == "arm64"


def test_umoci_unpacks_with_the_recorded_owners(image_release, slicer_image, tmp_path):
    umoci = tool("umoci")
    if os.geteuid() != 0:
        pytest.skip("unpacking with the image's owners needs root")
    code, _, err = slicer_image(
        image_release(), "--arch", "amd64", "--output", f"oci:{tmp_path / 'img'}", "--user", "1000", *SLICES
    )
    assert code == 0, err
    result = subprocess.run(
        [umoci, "unpack", "--image", f"{tmp_path / 'img'}:latest", str(tmp_path / "bundle")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    rootfs = tmp_path / "bundle" / "rootfs"
    home = (rootfs / "home/app").stat()
    assert (home.st_uid, home.st_gid, home.st_mode & 0o7777) == (1000, 1000, 0o700)
    assert (rootfs / "usr/bin/su-hello").stat().st_mode & 0o7777 == 0o4755
    assert os.path.samefile(rootfs / "usr/bin/hello", rootfs / "usr/bin/hello-again")
    runtime = json.loads((tmp_path / "bundle" / "config.json").read_text())
    assert runtime["process"]["user"]["uid"] == 1000


def test_sbom_beside_and_attached(image_release, slicer_image, tmp_path):
    code, _, err = slicer_image(
        image_release(),
        "--arch",
        "amd64,arm64",
        "--output",
        f"oci:{tmp_path / 'img'}",
        "--sbom",
        str(tmp_path / "sbom.json"),
        "--attach-sbom",
        *SLICES,
    )
    assert code == 0, err
    layout = read_layout(tmp_path / "img")
    referrers = layout.index["manifests"][1:]
    assert [entry["artifactType"] for entry in referrers] == ["application/spdx+json"] * 2
    subjects = [layout.json(entry["digest"])["subject"]["digest"] for entry in referrers]
    index = layout.json(layout.index["manifests"][0]["digest"])
    assert subjects == [entry["digest"] for entry in index["manifests"]]
    for arch, referrer in zip(("amd64", "arm64"), referrers, strict=True):
        artifact = layout.json(referrer["digest"])
        assert artifact["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
        document = json.loads(layout.blob(artifact["layers"][0]["digest"]))
        assert {package["name"] for package in document["packages"]} == {"base-files", "hello"}
        beside = json.loads((tmp_path / f"sbom.{arch}.json").read_text())
        assert beside == document


def test_a_spec_file_gives_the_fields(image_release, slicer_image, tmp_path):
    (tmp_path / "payload").write_text("p\n")
    spec = tmp_path / "image.yaml"
    spec.write_text(
        "archs: [arm64]\nslices: [hello_bins]\nuser: '1000'\nworkdir: /home/app\ncmd: [--help]\n"
        "env: {LANG: C.UTF-8}\nlabels: {a: b}\nannotations: {org.opencontainers.image.title: hello}\n"
        "tag: hello:2\nadd:\n  - {source: payload, dest: /opt/payload, mode: 0600}\n"
    )
    code, _, err = slicer_image(
        image_release(), "-f", str(spec), "--env", "EXTRA=1", "--output", f"oci:{tmp_path / 'img'}", "base-files_status"
    )
    assert code == 0, err
    layout = read_layout(tmp_path / "img")
    assert layout.index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "2"
    [manifest] = layout.manifests()
    assert manifest["annotations"]["org.opencontainers.image.title"] == "hello"
    assert "base-files_status" in manifest["annotations"]["slicer.slices"]
    config = layout.json(manifest["config"]["digest"])
    assert config["architecture"] == "arm64"
    assert config["config"]["Cmd"] == ["--help"] and config["config"]["WorkingDir"] == "/home/app"
    assert config["config"]["Env"][1:] == ["LANG=C.UTF-8", "EXTRA=1"]
    assert members(layout.layer(manifest["layers"][1]))["./opt/payload"].mode == 0o600


@pytest.mark.parametrize(
    "text,expected",
    [
        ("archs: [amd64]\nslices:\n  - hello_bins\nuser: {a: b}\n", "image.yaml:4: cannot parse image spec: user"),
        ("slices: [hello_bins]\ncompression: lz4\n", "image.yaml:2: compression must be one of gzip, zstd"),
        ("slices: [hello_bins]\nadd:\n  - {source: missing, dest: /x}\n", "image.yaml:2 (item 1): "),
        ("slices: [a\n", "image.yaml:2: cannot parse image spec"),
    ],
)
def test_spec_errors_name_the_line(text, expected, image_release, slicer_image, tmp_path):
    spec = tmp_path / "image.yaml"
    spec.write_text(text)
    code, _, err = slicer_image(image_release(), "-f", str(spec), "--output", f"oci:{tmp_path / 'img'}")
    assert code == 1
    assert err.startswith("error: ") and expected in err and err.count("\n") == 1, err


@pytest.mark.parametrize(
    "args,expected",
    [
        (["--arch", "amd64,sparc"], "unknown architecture 'sparc'"),
        (["--add", "/nonexistent/file:/x"], "/nonexistent/file does not exist"),
        (["--add", "only-one-part"], "--add expects SRC:DEST"),
        (["--output", "oci:{tmp}/missing/img"], "is not a directory"),
        (
            ["--output", "docker-archive:{tmp}/d.tar", "--arch", "amd64,arm64"],
            "a docker-archive holds one architecture",
        ),
        (["--output", "tarball:{tmp}/x"], "--output expects oci:DIR"),
        (["--output", "oci-archive:{tmp}"], "it is a directory"),
        (["--output", "oci:/proc/version/img"], "/proc/version is not a directory"),
        (["--locked", "{tmp}/x.lock", "--arch", "amd64,arm64"], "write {arch} in the file name"),
        (["--push", "Bad/Repo"], "--push expects REGISTRY/REPOSITORY"),
    ],
)
def test_bad_input_fails_in_one_line_without_output(args, expected, image_release, slicer_image, tmp_path):
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    if not any(arg.startswith("--output") for arg in args):
        args += ["--output", f"oci:{tmp_path / 'img'}"]
    code, _, err = slicer_image(image_release(), *args, *SLICES)
    assert code == 1, err
    assert err.startswith("error: ") and expected in err and err.count("\n") == 1, err
    assert sorted(path.name for path in tmp_path.iterdir() if not path.name.startswith(("release-", "mirror"))) == []


def test_a_failing_cut_leaves_no_output_and_an_old_layout_intact(image_release, slicer_image, tmp_path):
    release = image_release()
    code, _, err = slicer_image(release, "--arch", "amd64", "--output", f"oci:{tmp_path / 'img'}", *SLICES)
    assert code == 0, err
    before = sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "img").rglob("*"))
    code, _, err = slicer_image(release, "--arch", "amd64", "--output", f"oci:{tmp_path / 'img'}", "nosuch_slice")
    assert code == 1 and "nosuch" in err
    assert sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "img").rglob("*")) == before
    assert not list(tmp_path.glob(".slicer-image-*"))
    code, _, err = slicer_image(
        release, "--arch", "amd64", "--output", f"oci-archive:{tmp_path / 'a.tar'}", "nosuch_slice"
    )
    assert code == 1 and not (tmp_path / "a.tar").exists() and not list(tmp_path.glob(".a.tar*"))


SPECS = sorted((Path(__file__).parent.parent / "docs" / "images").glob("*/*.yaml"))


@pytest.mark.parametrize("spec", SPECS, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_the_shipped_spec_files_select_on_every_architecture(spec):
    from slicer.image.spec import load_spec
    from slicer.release.load import load_release
    from slicer.release.selection import parse_keys, select

    loaded = load_spec(spec)
    assert loaded.release == spec.parent.name and loaded.archs == ("amd64", "arm64")
    release = load_release(loaded.release)
    for arch in loaded.archs:
        selection = select(release, parse_keys(loaded.slices), arch)
        assert {"base-files", "base-passwd", "ca-certificates"} <= set(selection.packages)
    assert loaded.user == "65532" and loaded.tag.startswith(spec.stem + ":")


def test_add_sources_may_name_the_architecture(image_release, slicer_image, tmp_path):
    for arch in ("amd64", "arm64"):
        (tmp_path / f"build-{arch}").mkdir()
        (tmp_path / f"build-{arch}" / "lib.so").write_text(arch)
    code, _, err = slicer_image(
        image_release(),
        "--arch",
        "amd64,arm64",
        "--output",
        f"oci:{tmp_path / 'img'}",
        "--add",
        f"{tmp_path}/build-{{arch}}:/opt/lib",
        *SLICES,
    )
    assert code == 0, err
    for arch, manifest in zip(("amd64", "arm64"), read_layout(tmp_path / "img").manifests(), strict=True):
        assert (
            read_layout(tmp_path / "img").layer(manifest["layers"][1]).extractfile("./opt/lib/lib.so").read()
            == arch.encode()
        )
    code, _, err = slicer_image(
        image_release(),
        "--arch",
        "amd64,riscv64",
        "--output",
        f"oci:{tmp_path / 'img2'}",
        "--add",
        f"{tmp_path}/build-{{arch}}:/opt/lib",
        *SLICES,
    )
    assert code == 1 and "build-riscv64 does not exist" in err


def test_gzip_pieces_make_one_deterministic_stream_that_umoci_reads(image_release, slicer_image, tmp_path, monkeypatch):
    import gzip
    from concurrent.futures import ThreadPoolExecutor

    from slicer.image import layer

    monkeypatch.setattr(layer, "GZIP_PIECE", 1000)
    big = tmp_path / "big"
    big.write_bytes(bytes(range(256)) * 40)
    entries = [layer.LayerEntry("", "dir", 0o755), layer.LayerEntry("big", "file", 0o644, size=10240, source=big)]
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    inline = layer.write_layer(entries, tmp_path / "one", "gzip")
    with ThreadPoolExecutor(2) as pool:
        parallel = layer.write_layer(entries, tmp_path / "two", "gzip", pool)
    assert inline.digest == parallel.digest and inline.path.read_bytes() == parallel.path.read_bytes()
    data = gzip.decompress(parallel.path.read_bytes())
    assert parallel.diff_id == "sha256:" + hashlib.sha256(data).hexdigest()
    assert parallel.path.read_bytes().count(b"\x1f\x8b\x08\x00\x00\x00\x00\x00") > 1  # several members
    umoci = tool("umoci")
    code, _, err = slicer_image(image_release(), "--arch", "amd64", "--output", f"oci:{tmp_path / 'img'}", *SLICES)
    assert code == 0, err
    result = subprocess.run(
        [umoci, "unpack", "--rootless", "--image", f"{tmp_path / 'img'}:latest", str(tmp_path / "bundle")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "bundle/rootfs/usr/bin/hello").read_bytes() == b"\x7fELF hello amd64 1.0\n"


def test_locked_builds_take_one_lock_file_per_architecture(image_release, slicer_image, tmp_path):
    from slicer.cli import main

    release = image_release()
    cache = Path(release.rstrip("/")).parent / f"cache-{Path(release.rstrip('/')).name}"
    for arch in ("amd64", "arm64"):
        lock = tmp_path / f"image-{arch}.lock"
        root = tmp_path / f"root-{arch}"
        assert (
            main(
                [
                    "-q",
                    "cut",
                    "--release",
                    release,
                    "--cache-dir",
                    str(cache),
                    "--arch",
                    arch,
                    "--root",
                    str(root),
                    "--lock",
                    str(lock),
                    *SLICES,
                ]
            )
            == 0
        )
    locked = str(tmp_path / "image-{arch}.lock")
    first = _digest(slicer_image, release, tmp_path / "a.tar", "--locked", locked)
    assert first == _digest(slicer_image, release, tmp_path / "b.tar")
    lock = tmp_path / "image-arm64.lock"
    lock.write_text(lock.read_text().replace('"version": "1.0"', '"version": "0.9"', 1))
    code, _, err = slicer_image(
        release, "--arch", "amd64,arm64", "--locked", locked, "--output", f"oci:{tmp_path / 'c'}", *SLICES
    )
    assert code == 1 and "image-arm64.lock asks for" in err and "0.9" in err
    assert not (tmp_path / "c").exists()
