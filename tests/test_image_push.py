"""`slicer image --push` against real registries on 127.0.0.1.

Debian's docker-registry runs per test from a config file the test writes
(random free port; plain HTTP, or TLS with a CA made here by openssl, with or
without htpasswd basic auth); skopeo reads back what was pushed. A small
fault-injecting registry stands in for registries that refuse or fail
mid-upload.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.server
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from attrs import define, field

from slicer.archive.options import ArchiveOptions
from slicer.console import Console
from slicer.errors import ImageError
from slicer.image.build import ImageOptions, build_image
from slicer.image.push import RegistryOptions, is_loopback
from tests.helpers.image_fixtures import read_layout

SLICES = ("hello_bins", "base-files_status")
USER, PASSWORD = "pusher", "s3cret-pass"


def tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if found is None:
        pytest.skip(f"{name} is not installed (.ci/run installs it)")
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@define
class RunningRegistry:
    address: str
    log: Path
    ca: Path | None
    process: subprocess.Popen = field(repr=False)

    def skopeo(self, *args: str) -> list[str]:
        """skopeo arguments that trust this registry (and log in when it has users)."""
        trust = [f"--cert-dir={self.ca.parent}"] if self.ca else ["--tls-verify=false"]
        return [*args[:1], *trust, *args[1:]]


def make_ca(folder: Path) -> Path:
    """A test CA and a server certificate for 127.0.0.1 signed by it; returns the CA file."""
    openssl = tool("openssl")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run = lambda *args: subprocess.run([openssl, *args], check=True, capture_output=True, cwd=folder)  # noqa: E731
    run(
        "req",
        "-x509",
        *ec,
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=slicer test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    )
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    run(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    )
    # skopeo's --cert-dir reads every *.crt as a CA and wants a certificate for every *.key: the CA alone.
    (folder / "trust").mkdir()
    return Path(shutil.copy(folder / "ca.crt", folder / "trust" / "ca.crt"))


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Callable[..., RunningRegistry]]:
    """Factory: registry(tls=False, users=False, token="") -> a docker-registry running on 127.0.0.1
    (`token` is an `auth: {token: ...}` line of its config)."""
    binary = tool("docker-registry")
    started: list[subprocess.Popen] = []

    def start(tls: bool = False, users: bool = False, token: str = "") -> RunningRegistry:
        folder = tmp_path / f"registry{len(started)}"
        (folder / "certs").mkdir(parents=True)
        port = free_port()
        config = [
            "version: 0.1",
            "log: {level: info, accesslog: {disabled: false}}",
            f"storage: {{filesystem: {{rootdirectory: {folder / 'data'}}}}}",
            f"http: {{addr: '127.0.0.1:{port}', secret: test-secret"
            + (
                f", tls: {{certificate: {folder / 'certs/server.crt'}, key: {folder / 'certs/server.key'}}}"
                if tls
                else ""
            )
            + "}",
        ]
        ca = make_ca(folder / "certs") if tls else None
        if users:
            hashed = subprocess.run(
                [tool("htpasswd"), "-Bbn", USER, PASSWORD], check=True, capture_output=True, text=True
            ).stdout.strip()
            (folder / "htpasswd").write_text(hashed + "\n")
            config.append(f"auth: {{htpasswd: {{realm: test, path: {folder / 'htpasswd'}}}}}")
        if token:
            config.append(token)
        (folder / "config.yml").write_text("\n".join(config) + "\n")
        log = folder / "registry.log"
        with open(log, "wb") as stream:
            process = subprocess.Popen(
                [binary, "serve", str(folder / "config.yml")], stdout=stream, stderr=subprocess.STDOUT
            )
        started.append(process)
        url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/v2/"
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(url, verify=str(ca) if ca else True, timeout=2)
                break
            except requests.RequestException:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"docker-registry did not start: {log.read_text()}") from None
                time.sleep(0.1)
        return RunningRegistry(f"127.0.0.1:{port}", log, ca, process)

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=10)


def auth_file(tmp_path: Path, address: str) -> Path:
    path = tmp_path / "auth.json"
    secret = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    path.write_text(json.dumps({"auths": {address: {"auth": secret}}}))
    return path


def pushed_raw(skopeo: str, running: RunningRegistry, reference: str, *extra: str) -> bytes:
    return subprocess.run(
        [skopeo, *running.skopeo("inspect", "--raw", *extra, f"docker://{reference}")], check=True, capture_output=True
    ).stdout


def test_push_two_architectures_over_http_and_pull_them_back(image_release, slicer_image, registry, tmp_path):
    skopeo = tool("skopeo")
    running = registry()
    reference = f"{running.address}/team/hello:1.0"
    code, out, err = slicer_image(
        image_release(),
        "--arch",
        "amd64,arm64",
        "--push",
        reference,
        "--push",
        f"{running.address}/other/hello:1.0",
        "--attach-sbom",
        "--json",
        *SLICES,
    )
    assert code == 0, err
    summary = json.loads(out)
    raw = pushed_raw(skopeo, running, reference)
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == summary["digest"]
    index = json.loads(raw)
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert [entry["digest"] for entry in index["manifests"]] == list(summary["manifests"].values())
    for digest in summary["manifests"].values():
        manifest = pushed_raw(skopeo, running, f"{running.address}/team/hello@{digest}")
        assert "sha256:" + hashlib.sha256(manifest).hexdigest() == digest
    # The SBOM artifacts went along, each referring to its architecture's manifest; this registry
    # has no referrers API, so each manifest's referrers are listed under its sha256-<hex> tag.
    assert len(summary["referrers"]) == 2
    for digest, subject in zip(summary["referrers"], summary["manifests"].values(), strict=True):
        artifact_raw = pushed_raw(skopeo, running, f"{running.address}/other/hello@{digest}")
        artifact = json.loads(artifact_raw)
        assert artifact["artifactType"] == "application/spdx+json" and artifact["subject"]["digest"] == subject
        for repository in ("team/hello", "other/hello"):
            tag = f"{running.address}/{repository}:{subject.replace(':', '-')}"
            listed = json.loads(pushed_raw(skopeo, running, tag))
            assert listed["mediaType"] == "application/vnd.oci.image.index.v1+json"
            assert listed["manifests"] == [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": digest,
                    "size": len(artifact_raw),
                    "artifactType": "application/spdx+json",
                    "annotations": artifact["annotations"],
                }
            ]
    pulled = tmp_path / "pulled"
    copy = subprocess.run(
        [skopeo, *running.skopeo("copy", "--all", f"docker://{reference}", f"oci:{pulled}:1.0")],
        capture_output=True,
        text=True,
    )
    assert copy.returncode == 0, copy.stderr
    assert read_layout(pulled).index["manifests"][0]["digest"] == summary["digest"]
    # The second repository got its blobs by cross-repository mounts, not uploads.
    log = running.log.read_text()
    assert "mount=sha256" in log and "from=team%2Fhello" in log
    assert '"PUT /v2/other/hello/blobs/uploads' not in log


def test_push_with_basic_auth_over_tls(image_release, slicer_image, registry, tmp_path, monkeypatch):
    skopeo = tool("skopeo")
    running = registry(tls=True, users=True)
    release = image_release()
    reference = f"{running.address}/hello:tls"
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "none.json"))
    code, _, err = slicer_image(
        release, "--arch", "amd64", "--push", reference, "--registry-ca", str(running.ca), *SLICES
    )
    assert code == 1 and err.count("\n") == 1
    assert f"registry {running.address} needs a user name and password" in err
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(auth_file(tmp_path, running.address)))
    code, _, err = slicer_image(release, "--arch", "amd64", "--push", reference, *SLICES)
    assert code == 1 and err.count("\n") == 1 and "certificate verify failed" in err, err
    code, out, err = slicer_image(
        release, "--arch", "amd64", "--push", reference, "--registry-ca", str(running.ca), "--json", *SLICES
    )
    assert code == 0, err
    raw = pushed_raw(skopeo, running, reference, f"--creds={USER}:{PASSWORD}")
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == json.loads(out)["digest"]


def test_the_referrers_tag_keeps_what_it_lists_and_nothing_else_is_overwritten(
    image_release, slicer_image, registry, tmp_path
):
    skopeo = tool("skopeo")
    running = registry()
    release = image_release()
    reference = f"{running.address}/app:1"
    push = ("--arch", "amd64", "--push", reference, "--attach-sbom", "--json", *SLICES)
    code, out, err = slicer_image(release, *push)
    assert code == 0, err
    summary = json.loads(out)
    subject, (referrer,) = summary["digest"], summary["referrers"]
    tag_url = f"http://{running.address}/v2/app/manifests/{subject.replace(':', '-')}"
    index_type = "application/vnd.oci.image.index.v1+json"
    # Another tool's artifact for the same image, alone in the list.
    artifact = json.loads(pushed_raw(skopeo, running, f"{running.address}/app@{referrer}"))
    artifact["artifactType"] = "application/vnd.example.signature"
    other = json.dumps(artifact).encode()
    other_type = "application/vnd.oci.image.manifest.v1+json"
    other_digest = "sha256:" + hashlib.sha256(other).hexdigest()
    put = requests.put(
        f"http://{running.address}/v2/app/manifests/{other_digest}", other, headers={"Content-Type": other_type}
    )
    assert put.status_code == 201, put.text
    foreign = {
        "mediaType": other_type,
        "digest": other_digest,
        "size": len(other),
        "artifactType": artifact["artifactType"],
    }
    listed = {"schemaVersion": 2, "mediaType": index_type, "manifests": [foreign]}
    put = requests.put(tag_url, json.dumps(listed).encode(), headers={"Content-Type": index_type})
    assert put.status_code == 201, put.text
    # Pushing again adds this image's SBOM after it; a third push finds both listed and leaves the tag.
    code, _, err = slicer_image(release, *push)
    assert code == 0, err
    code, _, err = slicer_image(release, *push)
    assert code == 0, err
    tag = f"{running.address}/app:{subject.replace(':', '-')}"
    entries = json.loads(pushed_raw(skopeo, running, tag))["manifests"]
    assert [entry["digest"] for entry in entries] == [other_digest, referrer]
    # Stored by the first push, by this test, and by the second push: not by the third.
    assert running.log.read_text().count(f'"PUT /v2/app/manifests/{subject.replace(":", "-")}') == 3
    # A tag of that name that holds something else is not overwritten.
    image = pushed_raw(skopeo, running, reference)
    put = requests.put(tag_url, image, headers={"Content-Type": other_type})
    assert put.status_code == 201, put.text
    code, _, err = slicer_image(release, *push)
    assert code == 1 and err.count("\n") == 1
    assert f"{running.address}/app:{subject.replace(':', '-')} is not an OCI index" in err
    assert pushed_raw(skopeo, running, tag) == image


def test_chunked_uploads(image_release, registry, tmp_path):
    skopeo = tool("skopeo")
    running = registry()
    reference = f"{running.address}/chunked:1"
    options = ImageOptions(
        slices=SLICES,
        archs=("amd64",),
        release=image_release(),
        push=(reference,),
        archives=ArchiveOptions(cache_dir=tmp_path / "cache"),
        registry=RegistryOptions(chunk_size=100),
    )
    summary = build_image(options, Console(quiet=True))
    assert "PATCH /v2/chunked/blobs/uploads" in running.log.read_text()
    copy = subprocess.run(
        [skopeo, *running.skopeo("copy", f"docker://{reference}", f"oci:{tmp_path / 'back'}:1")],
        capture_output=True,
        text=True,
    )
    assert copy.returncode == 0, copy.stderr
    assert read_layout(tmp_path / "back").index["manifests"][0]["digest"] == summary["digest"]


# -- a registry that wants Bearer tokens -----------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@define
class TokenService:
    """Issues the JWTs docker-registry's `token` auth accepts: RS256, signed by a key whose
    self-signed certificate the registry trusts (sent in the `x5c` header)."""

    folder: Path
    scopes: list[str] = field(factory=list)
    logins: list[str] = field(factory=list)

    def token(self, scopes: list[str]) -> str:
        cert = subprocess.run(
            [tool("openssl"), "x509", "-in", str(self.folder / "token.crt"), "-outform", "DER"],
            check=True,
            capture_output=True,
        ).stdout
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(cert).decode()]}
        now = int(time.time())
        access = []
        for scope in scopes:
            kind, name, actions = scope.split(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        claims = {
            "iss": "slicer-test-issuer",
            "sub": USER,
            "aud": "slicer-test",
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": str(now) + str(len(self.scopes)),
            "access": access,
        }
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        signature = subprocess.run(
            [tool("openssl"), "dgst", "-sha256", "-sign", str(self.folder / "token.key")],
            input=signing_input.encode(),
            check=True,
            capture_output=True,
        ).stdout
        return f"{signing_input}.{b64url(signature)}"

    def serve(self) -> tuple[http.server.ThreadingHTTPServer, str]:
        openssl = tool("openssl")
        subprocess.run(
            [
                openssl,
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "token.key",
                "-out",
                "token.crt",
                "-days",
                "2",
                "-subj",
                "/CN=slicer test tokens",
            ],
            check=True,
            capture_output=True,
            cwd=self.folder,
        )
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                owner.scopes.extend(query.get("scope", []))
                expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                owner.logins.append(self.path)
                body = json.dumps({"token": owner.token(query.get("scope", []))}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server, f"http://127.0.0.1:{server.server_address[1]}/token"


def test_push_with_bearer_tokens_and_a_mount(image_release, slicer_image, registry, tmp_path, monkeypatch):
    skopeo = tool("skopeo")
    service = TokenService(tmp_path)
    server, realm = service.serve()
    try:
        running = registry(
            token=f"auth: {{token: {{realm: '{realm}', service: slicer-test, "
            f"issuer: slicer-test-issuer, rootcertbundle: {tmp_path / 'token.crt'}}}}}"
        )
        release = image_release()
        monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "none.json"))
        code, _, err = slicer_image(release, "--arch", "amd64", "--push", f"{running.address}/team/app:1", *SLICES)
        assert code == 1 and err.count("\n") == 1
        assert f"the token service {realm} refused access to team/app: 401" in err
        assert "log in or set REGISTRY_AUTH_FILE" in err
        monkeypatch.setenv("REGISTRY_AUTH_FILE", str(auth_file(tmp_path, running.address)))
        code, out, err = slicer_image(
            release,
            "--arch",
            "amd64",
            "--push",
            f"{running.address}/team/app:1",
            "--push",
            f"{running.address}/team/copy:1",
            "--json",
            *SLICES,
        )
        assert code == 0, err
    finally:
        server.shutdown()
    assert "repository:team/app:pull,push" in service.scopes
    assert "repository:team/app:pull" in service.scopes  # asked for with the copy's token, to mount
    assert "mount=sha256" in running.log.read_text()
    token = service.token(["repository:team/copy:pull"])
    raw = subprocess.run(
        [
            skopeo,
            "inspect",
            "--tls-verify=false",
            "--raw",
            f"--registry-token={token}",
            f"docker://{running.address}/team/copy:1",
        ],
        check=True,
        capture_output=True,
    ).stdout
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == json.loads(out)["digest"]


# -- a registry that fails on purpose --------------------------------------------


@define
class FaultyRegistry:
    """Speaks enough of the distribution API to start an upload, then fails as told; or, told
    "referrers-api", accepts everything as a registry with the referrers API does."""

    fail: str  # "deny", "error", "hang-up", "slow" or "referrers-api"
    requests: list[str] = field(factory=list)

    def serve(self) -> tuple[http.server.ThreadingHTTPServer, str]:
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _answer(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(code)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self) -> None:
                owner.requests.append(f"{self.command} {self.path}")
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.path == "/v2/":
                    return self._answer(200, b"{}")
                if self.command == "HEAD":
                    return self._answer(404)
                if self.command == "POST":
                    return self._answer(202, headers={"Location": "/v2/app/blobs/uploads/1"})
                if owner.fail == "referrers-api":
                    subject = json.loads(body).get("subject") if "/manifests/" in self.path else None
                    return self._answer(201, headers={"OCI-Subject": subject["digest"]} if subject else {})
                if owner.fail == "deny":
                    body = json.dumps({"errors": [{"code": "DENIED", "message": "quota exceeded"}]}).encode()
                    return self._answer(403, body, {"Content-Type": "application/json"})
                if owner.fail == "error":
                    return self._answer(500, b"oops")
                if owner.fail == "slow":
                    time.sleep(2)  # the client has given up by now
                    with contextlib.suppress(OSError):
                        self._answer(201)
                    return None
                self.connection.shutdown(socket.SHUT_RDWR)
                return None

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = _handle

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server, f"127.0.0.1:{server.server_address[1]}"


@pytest.mark.parametrize(
    "fail,expected",
    [
        ("deny", "refused to upload blob sha256:"),
        ("error", "refused to upload blob sha256:"),
        ("hang-up", "failed to upload blob sha256:"),
    ],
)
def test_a_failing_registry_gives_one_line_and_no_output(fail, expected, image_release, slicer_image, tmp_path):
    faulty = FaultyRegistry(fail)
    server, address = faulty.serve()
    try:
        code, _, err = slicer_image(
            image_release(),
            "--arch",
            "amd64",
            "--push",
            f"{address}/app:1",
            "--output",
            f"oci-archive:{tmp_path / 'img.tar'}",
            *SLICES,
        )
    finally:
        server.shutdown()
    assert code == 1 and err.startswith("error: ") and err.count("\n") == 1, err
    assert expected in err
    if fail == "deny":
        assert "403 DENIED: quota exceeded" in err
    if fail == "error":
        assert sum(line.startswith("PUT /v2/app/blobs/uploads/1") for line in faulty.requests) == 3  # retried
    assert not any("/manifests/" in line for line in faulty.requests)
    assert not (tmp_path / "img.tar").exists() and not list(tmp_path.glob(".img.tar*"))


def test_a_registry_that_does_not_answer_times_out(image_release, tmp_path):
    faulty = FaultyRegistry("slow")
    server, address = faulty.serve()
    options = ImageOptions(
        slices=SLICES,
        archs=("amd64",),
        release=image_release(),
        push=(f"{address}/app:1",),
        archives=ArchiveOptions(cache_dir=tmp_path / "cache"),
        registry=RegistryOptions(timeout=(2.0, 0.3)),
    )
    try:
        with pytest.raises(
            ImageError, match=r"failed to upload blob sha256:[0-9a-f]+ to app: the connection timed out"
        ):
            build_image(options, Console(quiet=True))
    finally:
        server.shutdown()
    assert sum(line.startswith("PUT /v2/app/blobs/uploads/1") for line in faulty.requests) == 3
    assert not any("/manifests/" in line for line in faulty.requests)


def test_a_registry_with_the_referrers_api_gets_no_referrers_tag(image_release, slicer_image):
    api = FaultyRegistry("referrers-api")
    server, address = api.serve()
    try:
        code, out, err = slicer_image(
            image_release(), "--arch", "amd64", "--push", f"{address}/app:1", "--attach-sbom", "--json", *SLICES
        )
    finally:
        server.shutdown()
    assert code == 0, err
    (referrer,) = json.loads(out)["referrers"]
    assert f"PUT /v2/app/manifests/{referrer}" in api.requests
    assert [line for line in api.requests if "/manifests/sha256-" in line] == []


def test_plain_http_only_for_loopback_or_when_allowed():
    assert is_loopback("127.0.0.1:5000") and is_loopback("localhost:5000") and is_loopback("[::1]:5000")
    assert not is_loopback("registry.example:5000") and not is_loopback("10.0.0.1")
