"""Fetching from mirrors: one pooled session, bounded retries, resumed bodies.

Only this module talks to the network. Connection errors, timeouts, 5xx
answers and bodies cut short are retried with exponential backoff; a cut body
is resumed with `Range` when the server offers byte ranges. Bytes go straight
to a sink (a hashing cache writer, or memory) so nothing is buffered twice.
`file://` URLs are read from disk, for local mirrors.

Everything is bounded: a body by the size its signed index gives (or by
`limit` when none does), each read by a timeout, each download as a whole by
a deadline that grows with its size, and redirects by `MAX_REDIRECTS`. A sink
that cannot write (a full disk under the cache) fails at once, never retried.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

import requests
import urllib3
from attrs import define, field

from .. import __version__
from ..errors import ArchiveError, VerificationError

CHUNK = 1 << 16
MAX_REDIRECTS = 10

# Answers worth asking again: the server is busy or broken for now.
_TRANSIENT = frozenset({408, 429, 500, 502, 503, 504})


class Sink(Protocol):
    def write(self, data: bytes, /) -> object: ...

    def reset(self) -> None:
        """Forget what was written: the server restarted the body from byte 0."""


class MemorySink:
    def __init__(self) -> None:
        self.buffer = io.BytesIO()

    def write(self, data: bytes, /) -> int:
        return self.buffer.write(data)

    def reset(self) -> None:
        self.buffer = io.BytesIO()


def new_session(pool_size: int = 8) -> requests.Session:
    """A session that honours proxies and REQUESTS_CA_BUNDLE, as requests does by default."""
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    # Identity encoding: a proxy must not gunzip a .gz index on our behalf.
    session.headers.update({"User-Agent": f"slicer/{__version__}", "Accept-Encoding": "identity"})
    session.max_redirects = MAX_REDIRECTS
    return session


# -- for other HTTP clients (the registry push of `slicer image`) ---------------------
# They talk to the network through this module's session, and name its failures
# through these aliases, so that no other stage imports an HTTP library.
Response = requests.Response
Session = requests.Session
TransportError = requests.RequestException
TLSError = requests.exceptions.SSLError


def quiet_unverified_tls_warnings() -> None:
    """For a user who asked for unverified TLS: no warning on every request."""
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)


def reason(error: BaseException) -> str:
    """A few words for a transport failure, without library noise."""
    return _reason(error)


def _reason(error: BaseException) -> str:
    """A few words for a transport failure, without library noise."""
    if isinstance(error, (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)):
        return "the connection timed out"
    found = re.search(r"\[Errno -?\d+\] ([^'\")]+)", str(error))
    if found:
        return found.group(1).strip().rstrip(".").lower()
    if isinstance(error, (urllib3.exceptions.ProtocolError, requests.exceptions.ChunkedEncodingError)):
        return "the connection broke off"
    return "the connection failed"


def _progress_noop(_: int) -> None:
    pass


class _SinkFailed(Exception):
    """Writing a received chunk failed: a local problem, not the network's."""

    def __init__(self, error: OSError) -> None:
        self.error = error


@define
class Http:
    """GET with retries; `attempts` and `backoff` (seconds, doubled each time) are bounded.

    A download gives up after `deadline` seconds plus one second per `min_rate`
    bytes of its expected size, however the server trickles its bytes.
    """

    attempts: int = 4
    backoff: float = 0.2
    timeout: tuple[float, float] = (10.0, 60.0)
    deadline: float = 300.0
    min_rate: float = 64 * 1024
    session: requests.Session = field(factory=new_session)

    def get(self, url: str, limit: int | None = None) -> bytes:
        """The whole body of `url`, refused when larger than `limit` bytes."""
        sink = MemorySink()
        self.download(url, sink, limit=limit)
        return sink.buffer.getvalue()

    def get_if_present(self, url: str, limit: int | None = None) -> bytes | None:
        """The whole body of `url`, or None when the server has no such file."""
        sink = MemorySink()
        return sink.buffer.getvalue() if self.download(url, sink, missing_ok=True, limit=limit) else None

    def download(
        self,
        url: str,
        sink: Sink,
        *,
        size: int | None = None,
        progress: Callable[[int], None] = _progress_noop,
        missing_ok: bool = False,
        limit: int | None = None,
    ) -> bool:
        """Stream `url` into `sink`; False when it is missing and `missing_ok`.

        `size`, when known from a signed index, bounds the body and tells a
        cut-short body from a complete one; `limit` bounds a body of unknown size.
        """
        if urlparse(url).scheme == "file":
            return self._read_file(url, sink, progress, missing_ok)
        try:
            return self._download(url, sink, size, progress, missing_ok, limit)
        except _SinkFailed as failed:
            raise ArchiveError(
                f"cannot store {url}: {failed.error.strerror or failed.error}"
                + (f" ({failed.error.filename})" if failed.error.filename else "")
            ) from None

    def _download(
        self,
        url: str,
        sink: Sink,
        size: int | None,
        progress: Callable[[int], None],
        missing_ok: bool,
        limit: int | None,
    ) -> bool:
        budget = self.deadline + (size or 0) / self.min_rate
        give_up = time.monotonic() + budget
        received = 0
        resumable = False
        problem = ""
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            if time.monotonic() > give_up:
                problem = f"it took longer than {budget:.3g} seconds"
                break
            headers = {"Range": f"bytes={received}-"} if received and resumable else {}
            try:
                with self.session.get(url, stream=True, timeout=self.timeout, headers=headers) as response:
                    status = response.status_code
                    if status in (404, 410):
                        if missing_ok:
                            return False
                        raise ArchiveError(f"{url} was not found on the mirror (HTTP {status})")
                    if status in _TRANSIENT:
                        problem = f"HTTP {status} {response.reason}"
                        continue
                    if status not in (200, 206):
                        raise ArchiveError(f"{url} answered HTTP {status} {response.reason}")
                    wrong_range = status == 206 and not (
                        headers and response.headers.get("Content-Range", "").startswith(f"bytes {received}-")
                    )
                    if received and (status == 200 or wrong_range):
                        # The server sent the body from the start, or some other part: start over.
                        sink.reset()
                        progress(-received)
                        received = 0
                    if wrong_range:
                        resumable = False
                        problem = "the server sent the wrong byte range"
                        continue
                    resumable = status == 206 or response.headers.get("Accept-Ranges", "").lower() == "bytes"
                    # read1 hands over what has arrived, so a stall loses nothing already received.
                    while chunk := response.raw.read1(CHUNK, decode_content=False):
                        received += len(chunk)
                        if size is not None and received > size:
                            raise VerificationError(f"{url} is larger than the {size} bytes its signed index lists")
                        if limit is not None and received > limit:
                            raise VerificationError(
                                f"{url} is larger than {limit >> 20} MiB, more than any such file should be; refused"
                            )
                        if time.monotonic() > give_up:
                            raise ArchiveError(
                                f"cannot download {url}: it took longer than "
                                f"{budget:.3g} seconds (a stalled or very slow mirror)"
                            )
                        try:
                            sink.write(chunk)
                        except OSError as error:
                            raise _SinkFailed(error) from None
                        progress(len(chunk))
                    if size is not None and received < size:
                        problem = f"the body ended after {received} of {size} bytes"
                        continue
                    return True
            except requests.TooManyRedirects:
                raise ArchiveError(
                    f"cannot download {url}: it redirects more than {MAX_REDIRECTS} times "
                    "(a redirect loop on the mirror)"
                ) from None
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as error:
                problem = _reason(error)
        raise ArchiveError(f"cannot download {url}: {problem} (gave up after {self.attempts} attempts)")

    @staticmethod
    def _read_file(url: str, sink: Sink, progress: Callable[[int], None], missing_ok: bool) -> bool:
        path = Path(unquote(urlparse(url).path))
        try:
            with path.open("rb") as source:
                for chunk in iter(lambda: source.read(CHUNK), b""):
                    sink.write(chunk)
                    progress(len(chunk))
        except FileNotFoundError:
            if missing_ok:
                return False
            raise ArchiveError(f"{url} was not found on the mirror") from None
        except OSError as error:
            raise ArchiveError(f"cannot read {url}: {error.strerror or error}") from None
        return True
