"""Downloads against a real HTTP server on 127.0.0.1 with injected faults."""

from __future__ import annotations

import errno
import hashlib
import os
import time
from pathlib import Path

import pytest

import slicer
from slicer.archive.http import Http, MemorySink
from slicer.errors import ArchiveError, VerificationError
from tests.helpers import testarchive
from tests.helpers.testarchive import ArchiveServer

BODY = bytes(range(256)) * 200  # 51,200 bytes


@pytest.fixture
def served(archive_server: ArchiveServer) -> str:
    (archive_server.root / "file.bin").write_bytes(BODY)
    return f"{archive_server.url}/file.bin"


def _http() -> Http:
    return Http(attempts=4, backoff=0.01, timeout=(2.0, 2.0))


def test_plain_download_sends_user_agent(served: str, archive_server: ArchiveServer) -> None:
    assert _http().get(served) == BODY
    (request,) = archive_server.requests("/file.bin")
    assert request.user_agent == f"slicer/{slicer.__version__}"


def test_missing_file(served: str) -> None:
    assert _http().get_if_present(served + ".absent") is None
    with pytest.raises(ArchiveError) as error:
        _http().get(served + ".absent")
    assert str(error.value) == f"{served}.absent was not found on the mirror (HTTP 404)"


def test_connection_reset_is_retried(served: str, archive_server: ArchiveServer) -> None:
    archive_server.inject("/file.bin", testarchive.reset(times=2))
    assert _http().get(served) == BODY
    assert len(archive_server.requests("/file.bin")) == 3


@pytest.mark.parametrize("code", [500, 503])
def test_server_errors_are_retried(served: str, archive_server: ArchiveServer, code: int) -> None:
    archive_server.inject("/file.bin", testarchive.status(code, times=3))
    assert _http().get(served) == BODY
    assert len(archive_server.requests("/file.bin")) == 4


def test_retries_are_bounded_and_reported(served: str, archive_server: ArchiveServer) -> None:
    archive_server.inject("/file.bin", testarchive.status(503, times=None))
    with pytest.raises(ArchiveError) as error:
        _http().get(served)
    assert str(error.value) == (f"cannot download {served}: HTTP 503 Service Unavailable (gave up after 4 attempts)")
    assert len(archive_server.requests("/file.bin")) == 4


def test_other_client_errors_are_not_retried(served: str, archive_server: ArchiveServer) -> None:
    archive_server.inject("/file.bin", testarchive.status(403))
    with pytest.raises(ArchiveError, match=r"answered HTTP 403 Forbidden$"):
        _http().get(served)
    assert len(archive_server.requests("/file.bin")) == 1


def test_unreachable_server_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError) as error:
        Http(attempts=2, backoff=0.01).get("http://127.0.0.1:9/nothing")
    assert str(error.value) == (
        "cannot download http://127.0.0.1:9/nothing: connection refused (gave up after 2 attempts)"
    )


def test_truncated_body_is_resumed_with_range(served: str, archive_server: ArchiveServer) -> None:
    archive_server.inject("/file.bin", testarchive.truncate(keep=10_000))
    progress: list[int] = []
    sink = MemorySink()
    _http().download(served, sink, size=len(BODY), progress=progress.append)
    assert sink.buffer.getvalue() == BODY
    assert [request.range for request in archive_server.requests("/file.bin")] == [None, "bytes=10000-"]
    assert sum(progress) == len(BODY)


def test_truncated_body_without_ranges_starts_over(served: str, archive_server: ArchiveServer) -> None:
    archive_server.inject("/file.bin", testarchive.no_ranges())
    archive_server.inject("/file.bin", testarchive.truncate(keep=10_000))
    sink = MemorySink()
    _http().download(served, sink, size=len(BODY))
    assert sink.buffer.getvalue() == BODY
    assert [request.range for request in archive_server.requests("/file.bin")] == [None, None]


def test_body_shorter_than_its_content_length_is_resumed(served: str, archive_server: ArchiveServer) -> None:
    archive_server.inject("/file.bin", testarchive.wrong_length(+500))
    sink = MemorySink()
    _http().download(served, sink, size=len(BODY))
    assert sink.buffer.getvalue() == BODY
    assert len(archive_server.requests("/file.bin")) == 2


def test_content_length_below_the_signed_size_is_resumed(served: str, archive_server: ArchiveServer) -> None:
    archive_server.inject("/file.bin", testarchive.wrong_length(-500))
    sink = MemorySink()
    _http().download(served, sink, size=len(BODY))
    assert sink.buffer.getvalue() == BODY
    assert archive_server.requests("/file.bin")[1].range == f"bytes={len(BODY) - 500}-"


def test_body_larger_than_the_signed_size_is_refused(served: str) -> None:
    with pytest.raises(VerificationError, match="is larger than the 100 bytes its signed index lists"):
        _http().download(served, MemorySink(), size=100)


def test_slow_body_within_the_timeout_completes(served: str, archive_server: ArchiveServer) -> None:
    archive_server.inject("/file.bin", testarchive.slow(delay=0.01))
    assert _http().get(served) == BODY
    assert len(archive_server.requests("/file.bin")) == 1


def test_stalled_body_times_out_and_resumes(served: str, archive_server: ArchiveServer) -> None:
    archive_server.inject("/file.bin", testarchive.slow(delay=1.0))
    sink = MemorySink()
    Http(backoff=0.01, timeout=(2.0, 0.3)).download(served, sink, size=len(BODY))
    assert sink.buffer.getvalue() == BODY
    ranges = [request.range for request in archive_server.requests("/file.bin")]
    assert ranges[0] is None and ranges[1] is not None and ranges[1].startswith("bytes=")


def test_file_urls_read_from_disk(tmp_path: Path) -> None:
    target = tmp_path / "a dir" / "file.bin"
    target.parent.mkdir()
    target.write_bytes(BODY)
    assert _http().get(target.as_uri()) == BODY
    assert _http().get_if_present((tmp_path / "absent").as_uri()) is None
    with pytest.raises(ArchiveError, match="was not found on the mirror$"):
        _http().get((tmp_path / "absent").as_uri())


def test_sink_sees_every_byte_once_after_a_restart(served: str, archive_server: ArchiveServer) -> None:
    class HashingSink(MemorySink):
        def __init__(self) -> None:
            super().__init__()
            self.resets = 0

        def reset(self) -> None:
            super().reset()
            self.resets += 1

    archive_server.inject("/file.bin", testarchive.no_ranges())
    archive_server.inject("/file.bin", testarchive.wrong_length(+1))
    sink = HashingSink()
    _http().download(served, sink, size=len(BODY))
    assert hashlib.sha256(sink.buffer.getvalue()).digest() == hashlib.sha256(BODY).digest()
    assert sink.resets == 1


def test_truncated_body_of_unknown_size_is_fetched_again(served: str, archive_server: ArchiveServer) -> None:
    archive_server.inject("/file.bin", testarchive.truncate(keep=30_000))
    assert _http().get(served) == BODY
    assert [request.range for request in archive_server.requests("/file.bin")] == [None, "bytes=30000-"]


def test_proxy_from_the_environment_is_used(
    served: str, archive_server: ArchiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", archive_server.url)
    # The host does not resolve: only the proxy can answer.
    assert _http().get("http://mirror.invalid/file.bin") == BODY
    assert [request.path for request in archive_server.log] == ["/file.bin"]


# Bounds


def test_a_body_larger_than_its_limit_is_refused(served: str) -> None:
    with pytest.raises(VerificationError, match=r"is larger than 0 MiB, more than any such file should be"):
        _http().get(served, limit=len(BODY) - 1)
    assert _http().get(served, limit=len(BODY)) == BODY


def test_a_trickling_server_meets_the_overall_deadline(served: str, archive_server: ArchiveServer) -> None:
    """Each 4 KiB piece arrives well within the read timeout; the whole body would take 2.6 s."""
    archive_server.inject("/file.bin", testarchive.slow(0.2, times=None))
    started = time.monotonic()
    with pytest.raises(
        ArchiveError,
        match=r"^cannot download .*: it took longer than 0.5 seconds \(a stalled or very "
        r"slow mirror\)$",
    ):
        Http(attempts=4, backoff=0.01, timeout=(2.0, 2.0), deadline=0.5, min_rate=len(BODY) * 2).get(served)
    assert time.monotonic() - started < 2.0
    assert len(archive_server.requests("/file.bin")) == 1


def test_a_redirect_loop_is_named_and_not_retried(served: str, archive_server: ArchiveServer) -> None:
    archive_server.inject("/file.bin", testarchive.redirect_loop())
    with pytest.raises(ArchiveError, match=r"^cannot download .*: it redirects more than 10 times \(a redirect loop"):
        _http().get(served)
    assert len(archive_server.requests("/file.bin")) == 11


class _FullDisk(MemorySink):
    def write(self, data: bytes, /) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/cache/sha256/.tmp-x")


def test_a_full_disk_is_reported_as_such_and_not_retried(served: str, archive_server: ArchiveServer) -> None:
    with pytest.raises(ArchiveError) as error:
        _http().download(served, _FullDisk())
    assert str(error.value) == f"cannot store {served}: No space left on device (/cache/sha256/.tmp-x)"
    assert len(archive_server.requests("/file.bin")) == 1
