"""A complete signed Debian-style archive on disk, served over real HTTP on 127.0.0.1.

`LocalArchive` writes pool/ with real .debs, `dists/<suite>/<component>/
binary-<arch>/Packages{,.xz,.gz}` and `<component>/Contents-<arch>{,.gz}`
(and `Contents-all`) with by-hash copies, and a `Release`,
`Release.gpg` and `InRelease` signed with a test key, the way Debian lays
out its archives. `ArchiveServer` serves a directory of such archives and
injects faults per request path: resets, error answers, truncated, slow or
mislabelled bodies, flipped bytes, replaced bodies, redirect loops, no byte ranges. It logs
every request so tests can see what a client asked for.
"""

from __future__ import annotations

import datetime
import email.utils
import gzip
import hashlib
import http.server
import lzma
import socket
import struct
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pysequoia
from attrs import define, field

from slicer.release.model import Archive, Package, PublicKey, Release
from tests.helpers.debs import DebSpec

# Faults -------------------------------------------------------------------


@define
class Fault:
    """What to do instead of a plain answer, for the next `times` requests (None: always)."""

    kind: str
    times: int | None = 1
    status: int = 503
    body: bytes = b""
    delay: float = 0.0
    keep: int = 0
    delta: int = 0
    offset: int = 0


def reset(times: int | None = 1) -> Fault:
    """Close the connection with a TCP reset before answering."""
    return Fault("reset", times)


def status(code: int, times: int | None = 1) -> Fault:
    """Answer with HTTP `code` and a short body."""
    return Fault("status", times, status=code)


def truncate(keep: int, times: int | None = 1) -> Fault:
    """Announce the full length, send `keep` bytes, then hang up."""
    return Fault("truncate", times, keep=keep)


def slow(delay: float, times: int | None = 1) -> Fault:
    """Send the body in 4 KiB pieces with `delay` seconds between them."""
    return Fault("slow", times, delay=delay)


def wrong_length(delta: int, times: int | None = 1) -> Fault:
    """Announce a Content-Length `delta` bytes off the real body, then hang up."""
    return Fault("wrong-length", times, delta=delta)


def flip(offset: int = 0, times: int | None = None) -> Fault:
    """Flip one bit of the byte at `offset` (from the end when negative)."""
    return Fault("flip", times, offset=offset)


def replace(body: bytes, times: int | None = None) -> Fault:
    """Serve `body` instead of the file."""
    return Fault("replace", times, body=body)


def redirect_loop(times: int | None = None) -> Fault:
    """Answer 302 with the request's own path as the new location."""
    return Fault("redirect", times)


def no_ranges(times: int | None = None) -> Fault:
    """Ignore Range headers and offer no byte ranges."""
    return Fault("no-ranges", times)


@define
class Request:
    path: str
    range: str | None
    user_agent: str | None = None


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = unquote(urlsplit(self.path).path)
        self.server.owner.log.append(Request(path, self.headers.get("Range"), self.headers.get("User-Agent")))
        faults = {fault.kind: fault for fault in self.server.owner.take_faults(path)}
        if "reset" in faults:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        if "status" in faults:
            self._answer(faults["status"].status, b"injected failure\n")
            return
        if "redirect" in faults:
            self.send_response(302)
            self.send_header("Location", self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = faults["replace"].body if "replace" in faults else self.server.owner.read(path)
        if body is None:
            self._answer(404, b"not found\n")
            return
        if "flip" in faults:
            flipped = bytearray(body)
            flipped[faults["flip"].offset] ^= 0x01
            body = bytes(flipped)
        code, headers = 200, {}
        requested = self.headers.get("Range", "")
        if "no-ranges" not in faults:
            headers["Accept-Ranges"] = "bytes"
            if requested.startswith("bytes=") and requested.endswith("-"):
                start = int(requested[6:-1])
                headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
                code, body = 206, body[start:]
        length = len(body) + (faults["wrong-length"].delta if "wrong-length" in faults else 0)
        self.send_response(code)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if "truncate" in faults:
            self._hang_up(body[: faults["truncate"].keep])
        elif "wrong-length" in faults:
            self._hang_up(body[:length])
        elif "slow" in faults:
            for start in range(0, len(body), 4096):
                self.wfile.write(body[start : start + 4096])
                self.wfile.flush()
                time.sleep(faults["slow"].delay)
        else:
            self.wfile.write(body)

    def _answer(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _hang_up(self, body: bytes) -> None:
        self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    owner: ArchiveServer

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients hanging up mid-body is what fault tests provoke; stay quiet about it."""


class ArchiveServer:
    """Serves `root` on 127.0.0.1 (a free port) until `close`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.log: list[Request] = []
        self._faults: dict[str, list[Fault]] = {}
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def inject(self, path: str, fault: Fault) -> None:
        """Apply `fault` to requests for the URL path `path` (e.g. "/debian/pool/...").

        Faults of different kinds combine (say no ranges and a truncated body).
        """
        with self._lock:
            self._faults.setdefault(path, []).append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def take_faults(self, path: str) -> list[Fault]:
        """The faults that apply to this request of `path`, each used up once."""
        with self._lock:
            queue = self._faults.get(path, [])
            taken = [fault for fault in queue if fault.times is None or fault.times > 0]
            for fault in taken:
                if fault.times is not None:
                    fault.times -= 1
            return taken

    def requests(self, path: str | None = None) -> list[Request]:
        return [request for request in self.log if path is None or request.path == path]

    def read(self, path: str) -> bytes | None:
        target = (self.root / path.lstrip("/")).resolve()
        if not target.is_relative_to(self.root.resolve()) or not target.is_file():
            return None
        return target.read_bytes()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


# The archive ---------------------------------------------------------------

KEY_NAME = "test-key"


def _pool_prefix(name: str) -> str:
    return name[:4] if name.startswith("lib") and len(name) > 3 else name[0]


def _http_date(moment: datetime.datetime) -> str:
    return email.utils.format_datetime(moment.astimezone(datetime.UTC), usegmt=True).replace("GMT", "UTC")


@define
class SuiteState:
    """What was written for one suite, so variants can be signed later."""

    fields: dict[str, str]
    files: list[tuple[str, str, int]]  # path, sha256, size


@define
class LocalArchive:
    """One archive (e.g. "debian") under `server.root / name`, served at `url`."""

    server: ArchiveServer
    name: str
    key: pysequoia.Tsk
    archs: tuple[str, ...] = ("amd64", "arm64")
    suites: dict[str, SuiteState] = field(factory=dict)
    debs: dict[tuple[str, str, str], str] = field(factory=dict)  # (name, version, arch) -> pool path

    @property
    def root(self) -> Path:
        return self.server.root / self.name

    @property
    def url(self) -> str:
        return f"{self.server.url}/{self.name}"

    def path(self, relative: str) -> str:
        """The URL path of a file of this archive, for fault injection and logs."""
        return f"/{self.name}/{relative}"

    def add_suite(
        self,
        suite: str,
        packages: Iterable[DebSpec] | dict[str, Iterable[DebSpec]],
        *,
        codename: str | None = None,
        suite_field: str | None = None,
        valid_until: datetime.datetime | None = None,
        by_hash: bool = True,
        inrelease: bool = True,
        compressions: tuple[str, ...] = ("xz", "gz", ""),
        components: Iterable[str] = (),
        contents: str | None = "component",
    ) -> None:
        """Write pool files, indexes and the signed Release files of `suite`.

        `packages` is a list (component main) or {component: list}; extra
        `components` are listed in the Release with empty indexes. Contents
        indexes are written per component as Debian does (`contents="component"`),
        once for the suite as Ubuntu does (`"suite"`), or not at all (None).
        """
        by_component = packages if isinstance(packages, dict) else {"main": packages}
        all_components = list(dict.fromkeys([*by_component, *components]))
        files: list[tuple[str, str, int]] = []
        for component in all_components:
            specs = list(by_component.get(component, []))
            stanzas = {arch: [] for arch in self.archs}
            for spec in specs:
                stanza = self._pool(component, spec)
                for arch in self.archs if spec.arch == "all" else [spec.arch]:
                    if arch in stanzas:
                        stanzas[arch].append(stanza)
            for arch in self.archs:
                text = "\n".join(stanzas[arch]).encode()
                files += self._index(suite, f"{component}/binary-{arch}", text, compressions, by_hash)
            if contents == "component":
                files += self._contents(suite, component, {component: specs}, by_hash)
        if contents == "suite":
            files += self._contents(suite, "", {name: list(specs) for name, specs in by_component.items()}, by_hash)
        now = datetime.datetime.now(datetime.UTC)
        fields = {
            "Origin": "Test",
            "Label": "Test",
            "Suite": suite_field or suite,
            "Codename": codename or suite,
            "Date": _http_date(now),
        }
        if valid_until is not None:
            fields["Valid-Until"] = _http_date(valid_until)
        if by_hash:
            fields["Acquire-By-Hash"] = "yes"
        fields["Architectures"] = " ".join(("all", *self.archs))
        fields["Components"] = " ".join(all_components)
        fields["Description"] = f"test suite {suite}"
        self.suites[suite] = SuiteState(fields, files)
        dists = self.root / "dists" / suite
        release = self.release_text(suite)
        (dists / "Release").write_bytes(release)
        (dists / "Release.gpg").write_bytes(self.sign(release, detached=True))
        if inrelease:
            (dists / "InRelease").write_bytes(self.sign(release))

    def _pool(self, component: str, spec: DebSpec) -> str:
        data = spec.build()
        upstream = spec.version.split(":", 1)[-1]
        relative = f"pool/{component}/{_pool_prefix(spec.name)}/{spec.name}/{spec.name}_{upstream}_{spec.arch}.deb"
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        self.debs[(spec.name, spec.version, spec.arch)] = relative
        control = spec.control()
        control = control.replace(
            f"Description: test package {spec.name}\n",
            f"Description: test package {spec.name}\n a longer description\n .\n over lines\n",
        )
        return f"{control}Filename: {relative}\nSize: {len(data)}\nSHA256: {hashlib.sha256(data).hexdigest()}\n"

    def _contents(
        self, suite: str, folder: str, by_component: dict[str, list[DebSpec]], by_hash: bool
    ) -> list[tuple[str, str, int]]:
        """`Contents-<arch>` and `Contents-all` in `folder` ("" for the suite's own): every path
        but directories, then where it comes from (`[component/]section/package`, comma-joined)."""
        written = []
        for arch in (*self.archs, "all"):
            owners: dict[str, list[str]] = {}
            for component, specs in by_component.items():
                for spec in specs:
                    if spec.arch != arch:
                        continue
                    section = spec.fields.get("Section", "libs")
                    location = f"{section}/{spec.name}" if component == "main" else f"{component}/{section}/{spec.name}"
                    for entry in spec.entries:
                        if entry.kind != "dir":
                            owners.setdefault(entry.path.removeprefix("./").lstrip("/"), []).append(location)
            text = "".join(f"{path:<59} {','.join(locations)}\n" for path, locations in sorted(owners.items()))
            written += self._index(suite, folder, text.encode(), ("gz", ""), by_hash, f"Contents-{arch}")
        return written

    def _index(
        self,
        suite: str,
        folder: str,
        text: bytes,
        compressions: tuple[str, ...],
        by_hash: bool,
        stem: str = "Packages",
    ) -> list[tuple[str, str, int]]:
        directory = self.root / "dists" / suite / folder
        (directory / "by-hash" / "SHA256").mkdir(parents=True, exist_ok=True)
        written = []
        variants = {"": text, "xz": lzma.compress(text), "gz": gzip.compress(text, mtime=0)}
        for compression in compressions:
            data = variants[compression]
            name = stem + (f".{compression}" if compression else "")
            digest = hashlib.sha256(data).hexdigest()
            (directory / name).write_bytes(data)
            if by_hash:
                (directory / "by-hash" / "SHA256" / digest).write_bytes(data)
            written.append((f"{folder}/{name}".lstrip("/"), digest, len(data)))
        return written

    def release_text(self, suite: str, **changes: str | None) -> bytes:
        """The Release file of `suite`, with fields changed (None removes one)."""
        state = self.suites[suite]
        fields = dict(state.fields)
        for name, value in changes.items():
            key = name.replace("_", "-")
            if value is None:
                fields.pop(key, None)
            else:
                fields[key] = value
        lines = [f"{name}: {value}" for name, value in fields.items()]
        lines.append("SHA256:")
        lines += [f" {digest} {size:>10} {path}" for path, digest, size in state.files]
        return ("\n".join(lines) + "\n").encode()

    def sign(self, data: bytes, *, key: pysequoia.Tsk | None = None, detached: bool = False) -> bytes:
        mode = pysequoia.SignatureMode.DETACHED if detached else pysequoia.SignatureMode.CLEAR
        return pysequoia.sign((key or self.key).signer(), data, mode=mode)

    def inrelease(self, suite: str, *, key: pysequoia.Tsk | None = None, **changes: str | None) -> bytes:
        """An InRelease variant (other key, other fields) to serve through `replace`."""
        return self.sign(self.release_text(suite, **changes), key=key)

    def deb(self, name: str, version: str | None = None, arch: str | None = None) -> str:
        """The pool path of a package (the only one of that name unless narrowed)."""
        found = [
            path
            for (package, ver, deb_arch), path in self.debs.items()
            if package == name and version in (None, ver) and arch in (None, deb_arch)
        ]
        assert len(found) == 1, f"{len(found)} pool files match {name} {version} {arch}"
        return found[0]

    def archive(
        self,
        priority: int = 0,
        suites: Iterable[str] | None = None,
        components: tuple[str, ...] = ("main",),
        pinned_keys: tuple[str, ...] = (KEY_NAME,),
    ) -> Archive:
        """The release-file entry of this archive."""
        return Archive(
            name=self.name,
            version="1",
            suites=tuple(suites or self.suites),
            components=components,
            public_keys=pinned_keys,
            priority=priority,
            url=self.url,
        )

    def release(self, **options: object) -> Release:
        """A `Release` holding only this archive; see `make_release` for the options."""
        return make_release([self], **options)  # type: ignore[arg-type]


def public_key(key: pysequoia.Tsk, name: str = KEY_NAME) -> PublicKey:
    cert = key.extract_certificate()
    return PublicKey(name=name, armor=str(cert), id=cert.fingerprint.upper()[-16:])


def make_release(
    archives: list[LocalArchive],
    *,
    name: str = "test-release",
    by_version: bool = True,
    priorities: dict[str, int] | None = None,
    pins: dict[str, str] | None = None,
    keys: list[PublicKey] | None = None,
    path: Path | None = None,
) -> Release:
    """A `Release` over `archives`, pinning the test key.

    `by_version` is Debian's rule (archives compete by version); with it
    false, `priorities` orders archives as chisel does. `pins` maps package
    names to the archive their slice file pins.
    """
    priorities = priorities or {}
    pinned_keys = keys or [public_key(archives[0].key)]
    entries = {
        archive.name: archive.archive(
            priority=priorities.get(archive.name, 10), pinned_keys=tuple(key.name for key in pinned_keys)
        )
        for archive in archives
    }
    release_path = path or archives[0].server.root / f"{name}.yaml"
    packages = {
        package: Package(name=package, path=release_path.parent / "slices" / f"{package}.yaml", archive=archive)
        for package, archive in (pins or {}).items()
    }
    return Release(
        path=release_path,
        format="v3",
        archives=entries,
        public_keys={key.name: key for key in pinned_keys},
        packages=packages,
        name=name,
        equal_priority_by_version=by_version,
    )
