"""Push an image to a registry with the OCI distribution API (`--push REF`).

Blobs first (skipped when the registry already has them, mounted from a
repository pushed earlier in the same run when possible, else uploaded in
one PUT or, when large, in PATCH chunks), then each platform manifest by
digest, then the index (or the single manifest) by tag, so a tag never
points at an incomplete image. Attached artifacts (SBOMs) come last; where
the registry has no referrers API, each manifest's referrers are listed
under its `sha256-<hex>` tag, the distribution spec's fallback.

Credentials come from `REGISTRY_AUTH_FILE`, else `$DOCKER_CONFIG/config.json`
or `~/.docker/config.json` (the `auths` map that `docker login` and
`podman login` write); the registry's 401 challenge decides between Basic
and a Bearer token from its token service. HTTPS is the default, verified
against the system CAs or `--registry-ca`; plain HTTP is only tried for a
loopback registry (as Docker does for localhost) or with
`--insecure-registry`, which also accepts an unverifiable certificate.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode, urljoin

from attrs import define, field, frozen

from ..archive.http import (
    Response,
    Session,
    TLSError,
    TransportError,
    new_session,
    quiet_unverified_tls_warnings,
    reason,
)
from ..console import Console
from ..errors import ImageError, RegistryError
from . import oci

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
CHUNK_SIZE = 16 << 20
ATTEMPTS = 3
BACKOFF = 0.5
TIMEOUT = (15.0, 120.0)
MANIFEST_TYPES = (
    oci.INDEX,
    oci.MANIFEST,
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
_TRANSIENT = frozenset({408, 429, 500, 502, 503, 504})
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')
_REPOSITORY = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")


@frozen
class Reference:
    registry: str  # host[:port] as written (docker.io for Docker Hub)
    repository: str
    tag: str

    @classmethod
    def parse(cls, value: str) -> Reference:
        """`[REGISTRY/]REPOSITORY[:TAG]`; no registry means Docker Hub, as for `docker push`."""
        name, tag = value, "latest"
        slash, colon = name.rfind("/"), name.rfind(":")
        if colon > slash:
            name, tag = name[:colon], name[colon + 1 :]
        first, sep, rest = name.partition("/")
        if sep and ("." in first or ":" in first or first == "localhost"):
            registry, repository = first, rest
        else:
            registry, repository = DOCKER_HUB, name if "/" in name else f"library/{name}"
        if "@" in value or not _REPOSITORY.match(repository) or not _TAG.match(tag):
            raise ImageError(
                f"--push expects REGISTRY/REPOSITORY[:TAG] (lower-case repository, tag of letters, "
                f"digits, '.', '_', '-'), got {value!r}"
            )
        return cls(registry, repository, tag)

    @property
    def host(self) -> str:
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    def __str__(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}"


@frozen
class RegistryOptions:
    ca_file: Path | None = None
    insecure: bool = False
    auth_file: Path | None = None
    chunk_size: int = CHUNK_SIZE
    timeout: tuple[float, float] = TIMEOUT  # (connect, read) seconds


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def auth_files() -> list[Path]:
    """Where `docker login` and `podman login` keep credentials, in the order they are consulted."""
    if os.environ.get("REGISTRY_AUTH_FILE"):
        return [Path(os.environ["REGISTRY_AUTH_FILE"])]
    found = []
    if os.environ.get("XDG_RUNTIME_DIR"):
        found.append(Path(os.environ["XDG_RUNTIME_DIR"], "containers", "auth.json"))
    docker = Path(os.environ["DOCKER_CONFIG"]) if os.environ.get("DOCKER_CONFIG") else Path.home() / ".docker"
    found.append(docker / "config.json")
    return found


def credentials(registry: str, files: list[Path]) -> tuple[str, str] | None:
    """The (user, password) saved for `registry`, if any."""
    wanted = {registry, "index.docker.io", DOCKER_HUB_API} if registry == DOCKER_HUB else {registry}
    for path in files:
        try:
            auths = json.loads(path.read_text()).get("auths", {})
        except FileNotFoundError:
            continue
        except (OSError, ValueError, AttributeError) as error:
            raise ImageError(f"cannot read registry credentials from {path}: {error}") from None
        for key, entry in auths.items():
            host = re.sub(r"^https?://", "", key).split("/", 1)[0]
            if host not in wanted or not isinstance(entry, dict):
                continue
            if entry.get("auth"):
                try:
                    user, sep, password = base64.b64decode(entry["auth"]).decode().partition(":")
                except (ValueError, UnicodeDecodeError):
                    sep = ""
                if not sep:
                    raise ImageError(f"{path}: the auth entry of {key} is not base64 of user:password")
                return user, password
            if entry.get("username"):
                return entry["username"], entry.get("password", "")
    return None


def _explain(response: Response) -> str:
    """The registry's own words: the `errors` of its JSON body, else the status line."""
    try:
        errors = response.json().get("errors") or []
        text = "; ".join(f"{item.get('code', '')}: {item.get('message', '')}".strip(": ") for item in errors)
    except (ValueError, AttributeError):
        text = ""
    return f"{response.status_code} {text or response.reason or ''}".strip()


@define
class Registry:
    """One registry host: its scheme, TLS settings, credentials and tokens."""

    reference: Reference
    options: RegistryOptions
    session: Session = field(factory=new_session)
    base: str = ""
    secret: tuple[str, str] | None = None
    authorization: str | None = None
    scopes: set[str] = field(factory=set)
    # Passed on every request: requests lets REQUESTS_CA_BUNDLE override a session's `verify`.
    verify: bool | str = True

    def connect(self) -> None:
        """Pick the scheme (HTTPS, or HTTP where allowed) and learn how to authenticate."""
        self.session.headers.pop("Accept-Encoding", None)
        self.verify = str(self.options.ca_file) if self.options.ca_file else True
        self.secret = credentials(
            self.reference.registry, [self.options.auth_file] if self.options.auth_file else auth_files()
        )
        plain_allowed = self.options.insecure or is_loopback(self.reference.host)
        if self.options.insecure:
            self.verify = False
            quiet_unverified_tls_warnings()
        registry = self.reference.registry
        secure, failure = self._probe("https")
        if secure is not None and secure.status_code in (200, 401):
            self._start(secure)
            return
        if plain_allowed:
            plain, _ = self._probe("http")
            if plain is not None and plain.status_code in (200, 401):
                self._start(plain)
                return
        if secure is not None:
            raise RegistryError(f"{self.base}/v2/ is not an OCI registry: it answered {_explain(secure)}")
        if isinstance(failure, TLSError):
            raise RegistryError(
                f"cannot reach registry {registry} over HTTPS: {_tls_reason(failure)} "
                "(use --registry-ca FILE for a private CA)"
            )
        raise RegistryError(f"cannot reach registry {registry}: {reason(failure or OSError())}")

    def _probe(self, scheme: str) -> tuple[Response | None, TransportError | None]:
        """GET /v2/ over `scheme`: the answer, or the transport failure."""
        self.base = f"{scheme}://{self.reference.host}"
        try:
            return self.session.get(f"{self.base}/v2/", timeout=self.options.timeout, verify=self.verify), None
        except TransportError as error:
            return None, error

    def _start(self, response: Response) -> None:
        """Use the scheme that answered, authenticating now if the registry asked."""
        self.base = response.url.removesuffix("/v2/")
        if response.status_code == 401:
            self._authenticate(response)

    def _authenticate(self, response: Response, extra_scopes: tuple[str, ...] = ()) -> None:
        challenge = response.headers.get("WWW-Authenticate", "")
        scheme = challenge.split(" ", 1)[0].lower()
        registry = self.reference.registry
        if scheme == "basic":
            if self.secret is None:
                raise RegistryError(
                    f"registry {registry} needs a user name and password: log in with "
                    "`docker login` or `podman login`, or set REGISTRY_AUTH_FILE"
                )
            token = base64.b64encode(f"{self.secret[0]}:{self.secret[1]}".encode()).decode()
            self.authorization = f"Basic {token}"
        elif scheme == "bearer":
            self.authorization = f"Bearer {self._token(dict(_CHALLENGE.findall(challenge)), extra_scopes)}"
        else:
            raise RegistryError(f"registry {registry} asks for an unsupported authentication: {challenge!r}")
        self.session.headers["Authorization"] = self.authorization

    def _token(self, challenge: dict[str, str], extra_scopes: tuple[str, ...]) -> str:
        realm = challenge.get("realm")
        if not realm:
            raise RegistryError(f"registry {self.reference.registry} sent a Bearer challenge without a realm")
        self.scopes |= {f"repository:{self.reference.repository}:pull,push", *extra_scopes}
        query = [("service", challenge.get("service", ""))] + [("scope", scope) for scope in sorted(self.scopes)]
        auth = self.secret if self.secret else None
        try:
            answer = self.session.get(
                realm,
                params=query,
                auth=auth,
                timeout=self.options.timeout,
                verify=self.verify,
                headers={"Authorization": None},
            )
        except TransportError as error:
            raise RegistryError(f"cannot reach the token service {realm}: {reason(error)}") from None
        if answer.status_code != 200:
            hint = "" if self.secret else " (no credentials found; log in or set REGISTRY_AUTH_FILE)"
            raise RegistryError(
                f"the token service {realm} refused access to {self.reference.repository}: {_explain(answer)}{hint}"
            )
        try:
            body = answer.json()
            token = body.get("token") or body["access_token"]
        except (ValueError, KeyError, AttributeError):
            raise RegistryError(f"the token service {realm} sent no token") from None
        if not isinstance(token, str):
            raise RegistryError(f"the token service {realm} sent no token")
        return token

    def request(
        self,
        method: str,
        url: str,
        what: str,
        body: Callable[[], bytes | IO[bytes] | None] = lambda: None,
        ok: tuple[int, ...] = (200,),
        headers: dict[str, str] | None = None,
        scopes: tuple[str, ...] = (),
    ) -> Response:
        """One request, re-authenticated on 401 and retried on transient failures (bounded)."""
        url = urljoin(self.base + "/", url)
        delay, authenticated = BACKOFF, False
        for attempt in range(1, ATTEMPTS + 1):
            try:
                response = self.session.request(
                    method,
                    url,
                    data=body(),
                    headers=headers,
                    timeout=self.options.timeout,
                    verify=self.verify,
                    allow_redirects=method in ("GET", "HEAD"),
                )
            except TransportError as error:
                if attempt == ATTEMPTS:
                    raise RegistryError(
                        f"registry {self.reference.registry} failed to {what}: {reason(error)}"
                    ) from None
            else:
                if response.status_code == 401 and not authenticated:
                    authenticated = True
                    self._authenticate(response, scopes)
                    continue
                if response.status_code in ok:
                    return response
                if response.status_code not in _TRANSIENT or attempt == ATTEMPTS:
                    raise RegistryError(f"registry {self.reference.registry} refused to {what}: {_explain(response)}")
            time.sleep(delay)
            delay *= 2
        raise RegistryError(f"registry {self.reference.registry} failed to {what}")

    # -- the distribution API ---------------------------------------------------

    def has_blob(self, digest: str) -> bool:
        response = self.request(
            "HEAD", f"/v2/{self.reference.repository}/blobs/{digest}", f"check blob {digest}", ok=(200, 404)
        )
        return response.status_code == 200

    def push_blob(self, digest: str, path: Path, mount_from: str | None, progress: Callable[[int], None]) -> str:
        """Make the repository hold the blob at `path`; returns how ("present", "mounted", "uploaded")."""
        if self.has_blob(digest):
            progress(path.stat().st_size)
            return "present"
        repository = self.reference.repository
        uploads = f"/v2/{repository}/blobs/uploads/"
        what = f"upload blob {digest} to {repository}"
        if mount_from:
            response = self.request(
                "POST",
                uploads + "?" + urlencode({"mount": digest, "from": mount_from}),
                f"mount blob {digest} from {mount_from}",
                ok=(201, 202),
                scopes=(f"repository:{mount_from}:pull",),
            )
            if response.status_code == 201:
                progress(path.stat().st_size)
                return "mounted"
        else:
            response = self.request("POST", uploads, what, ok=(202,))
        location = self._location(response, what)
        size = path.stat().st_size
        if size <= self.options.chunk_size:
            self.request(
                "PUT",
                _with_digest(location, digest),
                what,
                body=lambda: path.read_bytes(),
                ok=(201,),
                headers={"Content-Type": "application/octet-stream"},
            )
            progress(size)
            return "uploaded"
        with open(path, "rb") as stream:
            for start in range(0, size, self.options.chunk_size):
                chunk = stream.read(self.options.chunk_size)
                end = start + len(chunk) - 1
                response = self.request(
                    "PATCH",
                    location,
                    what,
                    body=functools.partial(bytes, chunk),
                    ok=(202,),
                    headers={"Content-Type": "application/octet-stream", "Content-Range": f"{start}-{end}"},
                )
                location = self._location(response, what)
                progress(len(chunk))
        self.request(
            "PUT", _with_digest(location, digest), what, ok=(201,), headers={"Content-Type": "application/octet-stream"}
        )
        return "uploaded"

    def _location(self, response: Response, what: str) -> str:
        location = response.headers.get("Location")
        if not location:
            raise RegistryError(f"registry {self.reference.registry} gave no upload location to {what}")
        return urljoin(response.url, location)

    def get_manifest(self, reference: str, media_types: tuple[str, ...]) -> bytes | None:
        """The manifest stored under `reference` (of one of `media_types`), or None when there is none."""
        response = self.request(
            "GET",
            f"/v2/{self.reference.repository}/manifests/{reference}",
            f"read manifest {reference} in {self.reference.repository}",
            ok=(200, 404),
            headers={"Accept": ", ".join(media_types)},
        )
        return response.content if response.status_code == 200 else None

    def put_manifest(self, reference: str, media_type: str, data: bytes) -> Response:
        what = f"store manifest {reference} in {self.reference.repository}"
        response = self.request(
            "PUT",
            f"/v2/{self.reference.repository}/manifests/{reference}",
            what,
            body=lambda: data,
            ok=(201, 200),
            headers={"Content-Type": media_type},
        )
        stored = response.headers.get("Docker-Content-Digest")
        if stored and stored != oci.digest_of(data):
            raise RegistryError(
                f"registry {self.reference.registry} stored manifest {reference} as {stored}, not {oci.digest_of(data)}"
            )
        return response


def _with_digest(location: str, digest: str) -> str:
    return location + ("&" if "?" in location else "?") + urlencode({"digest": digest})


def _tls_reason(error: BaseException) -> str:
    found = re.search(r"certificate verify failed: ([^(\)')]+)", str(error))
    return f"certificate verify failed: {found.group(1).strip()}" if found else "the TLS handshake failed"


def _blobs(layout: Any, built: Any) -> Iterator[tuple[str, Path]]:
    """Every blob of the image and its referrers, each once, layers before configs."""
    seen: set[str] = set()
    for image in built.platforms:
        for digest in [*(blob.digest for blob in image.layers), image.config.digest]:
            if digest not in seen:
                seen.add(digest)
                yield digest, layout.blob(digest)
    for referrer in built.referrers:
        manifest = json.loads(layout.blob(referrer.digest).read_bytes())
        for descriptor in [manifest["config"], *manifest["layers"]]:
            if descriptor["digest"] not in seen:
                seen.add(descriptor["digest"])
                yield descriptor["digest"], layout.blob(descriptor["digest"])


def referrers_tag(digest: str) -> str:
    """The tag that lists a manifest's referrers where the registry has no referrers API:
    `<algorithm>-<encoded digest>`, as the distribution spec's fallback names it."""
    algorithm, _, encoded = digest.partition(":")
    return f"{algorithm[:32]}-{encoded[:64]}"


def _push_referrers(registry: Registry, manifests: list[bytes], console: Console) -> None:
    """Store the artifacts that refer to the image. A registry with the referrers API says so
    (the `OCI-Subject` header); for one without, the referrers of each subject are listed in
    an index under its `referrers_tag`, merged with what that tag already lists."""
    unlisted: dict[str, list[oci.Descriptor]] = {}
    for manifest in manifests:
        subject, descriptor = oci.referrer(manifest)
        response = registry.put_manifest(descriptor.digest, descriptor.media_type, manifest)
        if not response.headers.get("OCI-Subject"):
            unlisted.setdefault(subject, []).append(descriptor)
    for subject, descriptors in unlisted.items():
        tag = referrers_tag(subject)
        # Asked for as any manifest, so that a tag holding something else is not taken for absent.
        current = registry.get_manifest(tag, MANIFEST_TYPES)
        document = _referrers_index(current, registry.reference, tag) if current is not None else None
        updated = oci.with_referrers(document, descriptors)
        if updated is not None:
            registry.put_manifest(tag, oci.INDEX, updated)
        console.info(f"Listed the referrers of {subject} under the tag {tag} (the registry has no referrers API)")


def _referrers_index(data: bytes, reference: Reference, tag: str) -> dict[str, Any]:
    """The index a referrers tag holds; anything else there is left alone with an error."""
    try:
        document = json.loads(data)
    except ValueError:
        document = None
    if (
        not isinstance(document, dict)
        or document.get("mediaType") != oci.INDEX
        or not isinstance(document.get("manifests"), list)
        or not all(isinstance(entry, dict) for entry in document["manifests"])
    ):
        raise RegistryError(
            f"{reference.registry}/{reference.repository}:{tag} is not an OCI index, so it cannot list "
            "the image's referrers; remove that tag or push without --attach-sbom"
        )
    return document


def push_image(
    layout: Any, built: Any, targets: tuple[str, ...], options: RegistryOptions | None, console: Console
) -> None:
    """Push the built image to every reference of `targets`, in order.

    A later reference on the same registry mounts blobs from the previous one
    instead of uploading them again.
    """
    options = options or RegistryOptions()
    blobs = list(_blobs(layout, built))
    total = sum(path.stat().st_size for _, path in blobs)
    pushed: dict[str, str] = {}  # registry -> a repository that already holds every blob
    for target in targets:
        reference = Reference.parse(target)
        mount_from = pushed.get(reference.registry)
        if mount_from == reference.repository:
            mount_from = None
        # A token service grants a mount only with pull access to the source repository.
        registry = Registry(reference, options, scopes={f"repository:{mount_from}:pull"} if mount_from else set())
        registry.connect()
        with console.task(f"Pushing to {reference}", total=total, unit="bytes") as task:
            for digest, path in blobs:
                registry.push_blob(digest, path, mount_from, task.advance)
        for image in built.platforms:
            if image.manifest.digest != built.top.digest:
                registry.put_manifest(
                    image.manifest.digest, oci.MANIFEST, layout.blob(image.manifest.digest).read_bytes()
                )
        registry.put_manifest(reference.tag, built.top.media_type, layout.blob(built.top.digest).read_bytes())
        _push_referrers(registry, [layout.blob(referrer.digest).read_bytes() for referrer in built.referrers], console)
        pushed[reference.registry] = reference.repository
        console.info(f"Pushed {reference}@{built.top.digest}")
