"""Mutate scripts: the `content` API, its permissions, symlinks inside the root, errors."""

from __future__ import annotations

import os
import signal
import stat
import threading
import time
from pathlib import Path

import pytest

from slicer.errors import ScriptError, SlicerError
from slicer.scripts import ScriptAccess, run_mutate


def build(root: Path, files: dict[str, str | bytes], links: dict[str, str] | None = None) -> None:
    """Lay out a staging tree: `files` maps image paths to content, `links` to symlink targets."""
    for path, data in files.items():
        target = root / path.lstrip("/")
        if path.endswith("/"):
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data.encode() if isinstance(data, str) else data)
    for path, link in (links or {}).items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(link)


class Writes:
    """Records on_write calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bytes]] = []

    def __call__(self, path: str, data: bytes) -> None:
        self.calls.append((path, data))


def access(root: Path, known=(), globs=(), mutable=(), hardlinks=()) -> ScriptAccess:
    return ScriptAccess(root=root, known=set(known), globs=tuple(globs), mutable=set(mutable), hardlinks=set(hardlinks))


def run(script: str, acc: ScriptAccess, writes: Writes | None = None) -> Writes:
    writes = writes if writes is not None else Writes()
    run_mutate("pkg_slice", script, acc, writes)
    return writes


def failure(script: str, acc: ScriptAccess) -> str:
    with pytest.raises(ScriptError) as caught:
        run(script, acc)
    return str(caught.value)


# -- the real chisel-releases scripts -------------------------------------------------

CA_DATA = """\
certs_dir = "/usr/share/ca-certificates/mozilla/"
certs = [
  content.read(certs_dir + path) for path in content.list(certs_dir)
]
content.write("/etc/ssl/certs/ca-certificates.crt", "".join(certs))
"""

CA_DATA_WITH_CERTS = """\
certs_dir = "/usr/share/ca-certificates/mozilla/"
names = [
  "mozilla/{}".format(name) for name in content.list(certs_dir)
]
content.write("/etc/ca-certificates.conf", "\\n".join(names))
"""

BASE_PASSWD = """\
gr = content.read("/usr/share/base-passwd/group.master")
content.write("/etc/group", gr)
pw = content.read("/usr/share/base-passwd/passwd.master")
content.write("/etc/passwd", pw)
"""

CERT_B = "-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n"
CERT_A = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"


@pytest.fixture
def ca_root(tmp_path: Path) -> Path:
    build(
        tmp_path,
        {
            "/etc/ssl/certs/ca-certificates.crt": "FIXME",
            "/etc/ca-certificates.conf": "FIXME",
            # Written in reverse order so an unsorted listing would show.
            "/usr/share/ca-certificates/mozilla/Zeta_Root.crt": CERT_B,
            "/usr/share/ca-certificates/mozilla/Alpha_Root.crt": CERT_A,
        },
    )
    return tmp_path


def ca_access(root: Path) -> ScriptAccess:
    return access(
        root,
        known={
            "/etc/ssl/certs/ca-certificates.crt",
            "/etc/ca-certificates.conf",
            "/usr/share/ca-certificates/mozilla/",
        },
        globs={"/usr/share/ca-certificates/mozilla/**"},
        mutable={"/etc/ssl/certs/ca-certificates.crt", "/etc/ca-certificates.conf"},
    )


def test_ca_certificates_bundle_concatenates_sorted_certificates(ca_root: Path) -> None:
    bundle = ca_root / "etc/ssl/certs/ca-certificates.crt"
    writes = run(CA_DATA, ca_access(ca_root))
    assert bundle.read_text() == CERT_A + CERT_B
    assert writes.calls == [("/etc/ssl/certs/ca-certificates.crt", (CERT_A + CERT_B).encode())]


def test_ca_certificates_conf_lists_names(ca_root: Path) -> None:
    run(CA_DATA_WITH_CERTS, ca_access(ca_root))
    conf = (ca_root / "etc/ca-certificates.conf").read_text()
    assert conf == "mozilla/Alpha_Root.crt\nmozilla/Zeta_Root.crt"


def test_base_passwd_copies_masters(tmp_path: Path) -> None:
    group = "root:x:0:\nnogroup:x:65534:\n"
    passwd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    build(
        tmp_path,
        {
            "/etc/group": "FIXME",
            "/etc/passwd": "FIXME",
            "/usr/share/base-passwd/group.master": group,
            "/usr/share/base-passwd/passwd.master": passwd,
        },
    )
    acc = access(
        tmp_path,
        known={
            "/etc/group",
            "/etc/passwd",
            "/usr/share/base-passwd/group.master",
            "/usr/share/base-passwd/passwd.master",
        },
        mutable={"/etc/group", "/etc/passwd"},
    )
    writes = run(BASE_PASSWD, acc)
    assert (tmp_path / "etc/group").read_text() == group
    assert (tmp_path / "etc/passwd").read_text() == passwd
    assert [path for path, _ in writes.calls] == ["/etc/group", "/etc/passwd"]


# -- language -------------------------------------------------------------------------


def test_top_level_loops_conditionals_functions_and_reassignment(tmp_path: Path) -> None:
    build(tmp_path, {"/out": "", "/in/a": "1", "/in/b": "2", "/in/sub/": ""})
    acc = access(tmp_path, known={"/out", "/in/"}, globs={"/in/*"}, mutable={"/out"})
    run(
        """
def double(text):
    return text + text

total = ""
for name in content.list("/in"):
    if name.endswith("/"):
        continue
    total = total + double(content.read("/in/" + name))
if total:
    total = total.upper() + "!"
content.write(path="/out", data=total)
""",
        acc,
    )
    assert (tmp_path / "out").read_text() == "1122!"


def test_load_is_refused(tmp_path: Path) -> None:
    message = failure('load("content", "content")\n', access(tmp_path))
    assert message.startswith("slice pkg_slice: ") and message.endswith("(line 1)")


def test_unicode_round_trips(tmp_path: Path) -> None:
    build(tmp_path, {"/in": "héllo ✓\n", "/out": ""})
    acc = access(tmp_path, known={"/in", "/out"}, mutable={"/out"})
    writes = run('content.write("/out", content.read("/in") + str(len(content.read("/in"))))', acc)
    assert (tmp_path / "out").read_text(encoding="utf-8") == "héllo ✓\n8"
    assert writes.calls == [("/out", "héllo ✓\n8".encode())]


# -- read -----------------------------------------------------------------------------


def test_read_known_literal_glob_match_and_refusal(tmp_path: Path) -> None:
    build(tmp_path, {"/etc/a": "A", "/usr/lib/x/libz.so.1": "Z", "/etc/secret": "S", "/out": ""})
    acc = access(tmp_path, known={"/etc/a", "/out"}, globs={"/usr/lib/*/libz.so.*"}, mutable={"/out"})
    run('content.write("/out", content.read("/etc/a") + content.read("/usr/lib/x/libz.so.1"))', acc)
    assert (tmp_path / "out").read_text() == "AZ"
    assert (
        failure('x = content.read("/etc/secret")', acc)
        == "slice pkg_slice: cannot read file which is not selected: /etc/secret (line 1)"
    )


def test_read_cleans_paths_and_dotdot_stays_inside(tmp_path: Path) -> None:
    build(tmp_path, {"/etc/a": "A", "/out": ""})
    acc = access(tmp_path, known={"/etc/a", "/out"}, mutable={"/out"})
    run('content.write("/out", content.read("/etc/./../etc/a") + content.read("/../../../etc/a"))', acc)
    assert (tmp_path / "out").read_text() == "AA"


def test_read_refusals(tmp_path: Path) -> None:
    build(tmp_path, {"/etc/": "", "/bin.dat": b"\xff\xfe\x00", "/dir/": ""})
    acc = access(tmp_path, known={"/etc/", "/bin.dat", "/missing"})
    assert (
        failure('content.read("etc/a")', acc) == "slice pkg_slice: content path must be absolute, got: etc/a (line 1)"
    )
    assert failure('content.read("/etc/")', acc) == "slice pkg_slice: content is not a file: /etc/ (line 1)"
    assert (
        failure('content.read("/bin.dat")', acc)
        == "slice pkg_slice: content is not valid UTF-8 text: /bin.dat (line 1)"
    )
    assert (
        failure('content.read("/missing")', acc)
        == "slice pkg_slice: cannot read /missing: no such file or directory (line 1)"
    )
    # A directory known only as "/etc/" is not readable as the file "/etc": chisel says why.
    assert failure('content.read("/etc")', acc) == "slice pkg_slice: content is not a file: /etc (line 1)"
    assert (
        failure('content.read("/other")', acc)
        == "slice pkg_slice: cannot read file which is not selected: /other (line 1)"
    )


# -- list -----------------------------------------------------------------------------


def test_list_format_and_disk_content(tmp_path: Path) -> None:
    build(
        tmp_path,
        {"/d/b.txt": "", "/d/a/": "", "/d/c/x": "", "/d/other-package-file": "", "/out": ""},
        links={"/d/link": "a"},
    )
    acc = access(tmp_path, known={"/d/b.txt", "/out"}, mutable={"/out"})
    # "/d/" is known as the parent of a known file; the listing shows everything on disk,
    # directories with "/", a symlink to a directory as a plain name.
    run('content.write("/out", ",".join(content.list("/d/")))', acc)
    assert (tmp_path / "out").read_text() == "a/,b.txt,c/,link,other-package-file"


def test_list_parent_of_glob_and_refusals(tmp_path: Path) -> None:
    build(tmp_path, {"/usr/share/zoneinfo/UTC": "", "/etc/file": "", "/srv/x/": "", "/out": ""})
    acc = access(tmp_path, known={"/etc/file", "/out"}, globs={"/usr/share/zoneinfo/**"}, mutable={"/out"})
    run('content.write("/out", ",".join(content.list("/usr/share") + content.list("/")))', acc)
    assert (tmp_path / "out").read_text() == "zoneinfo/,etc/,out,srv/,usr/"
    assert (
        failure('content.list("/srv/x")', acc)
        == "slice pkg_slice: cannot list directory which is not selected: /srv/x/ (line 1)"
    )
    # A file known only as "/etc/file" is not listable as the directory "/etc/file/".
    assert (
        failure('content.list("/etc/file")', acc) == "slice pkg_slice: content is not a directory: /etc/file (line 1)"
    )
    acc.known.add("/etc/file/")
    assert (
        failure('content.list("/etc/file")', acc) == "slice pkg_slice: content is not a directory: /etc/file (line 1)"
    )


# -- write ----------------------------------------------------------------------------


def test_write_keeps_existing_mode_and_creates_new_files_0644(tmp_path: Path) -> None:
    build(tmp_path, {"/etc/shadow": "old", "/etc/": ""})
    (tmp_path / "etc/shadow").chmod(0o640)
    acc = access(tmp_path, known={"/etc/shadow", "/etc/new"}, mutable={"/etc/shadow", "/etc/new"})
    previous = os.umask(0o077)
    try:
        writes = run('content.write("/etc/shadow", "new")\ncontent.write("/etc/new", "fresh")', acc)
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "etc/shadow").stat().st_mode) == 0o640
    assert (tmp_path / "etc/shadow").read_text() == "new"
    assert stat.S_IMODE((tmp_path / "etc/new").stat().st_mode) == 0o644
    assert writes.calls == [("/etc/shadow", b"new"), ("/etc/new", b"fresh")]


def test_writing_unchanged_content_is_not_a_change(tmp_path: Path) -> None:
    build(tmp_path, {"/etc/a": "same"})
    target = tmp_path / "etc/a"
    os.utime(target, (1_000_000, 1_000_000))
    acc = access(tmp_path, known={"/etc/a"}, mutable={"/etc/a"})
    writes = run('content.write("/etc/a", content.read("/etc/a"))', acc)
    assert writes.calls == []
    assert target.stat().st_mtime == 1_000_000


def test_write_refusals(tmp_path: Path) -> None:
    build(tmp_path, {"/etc/a": "A", "/etc/linked": "L", "/etc/dir/": ""})
    os.link(tmp_path / "etc/linked", tmp_path / "etc/other-name")
    acc = access(
        tmp_path,
        known={"/etc/a", "/etc/linked", "/etc/other-name", "/etc/hl"},
        mutable={"/etc/linked", "/etc/hl", "/etc/dir"},
        hardlinks={"/etc/hl"},
    )
    assert (
        failure('content.write("/etc/a", "x")', acc)
        == "slice pkg_slice: cannot write file which is not mutable: /etc/a (line 1)"
    )
    assert (
        failure('content.write("/etc/hl", "x")', acc) == "slice pkg_slice: cannot mutate a hard link: /etc/hl (line 1)"
    )
    # Hard-linked on disk though not declared: writing would change the other name too.
    assert (
        failure('content.write("/etc/linked", "x")', acc)
        == "slice pkg_slice: cannot mutate a hard link: /etc/linked (line 1)"
    )
    assert failure('content.write("/etc/dir", "x")', acc) == "slice pkg_slice: content is not a file: /etc/dir (line 1)"
    assert (
        failure('content.write("/etc/a", 3)', acc)
        == "slice pkg_slice: content.write needs a string for 'data', got int (line 1)"
    )
    assert (tmp_path / "etc/linked").read_text() == "L"


def test_on_write_errors_pass_through(tmp_path: Path) -> None:
    build(tmp_path, {"/etc/a": "A"})

    class Refused(SlicerError):
        pass

    def refuse(path: str, data: bytes) -> None:
        raise Refused(f"no room for {path}")

    with pytest.raises(Refused, match="no room for /etc/a"):
        run_mutate("pkg_slice", 'content.write("/etc/a", "B")', access(tmp_path, mutable={"/etc/a"}), refuse)


# -- symlinks -------------------------------------------------------------------------


def test_symlink_relative_target_is_followed_and_checked(tmp_path: Path) -> None:
    build(tmp_path, {"/etc/real": "R", "/out": ""}, links={"/etc/alias": "real"})
    acc = access(tmp_path, known={"/etc/alias", "/out"}, mutable={"/out"})
    # The target of the link must be known too.
    assert (
        failure('content.read("/etc/alias")', acc)
        == "slice pkg_slice: cannot read file which is not selected: /etc/real (line 1)"
    )
    acc.known.add("/etc/real")
    run('content.write("/out", content.read("/etc/alias"))', acc)
    assert (tmp_path / "out").read_text() == "R"


def test_absolute_symlink_in_subdirectory_restarts_at_root(tmp_path: Path) -> None:
    build(
        tmp_path,
        {"/etc/ssl/openssl.cnf": "CONF", "/usr/lib/ssl/etc/openssl.cnf": "WRONG", "/out": ""},
        links={"/usr/lib/ssl/openssl.cnf": "/etc/ssl/openssl.cnf"},
    )
    acc = access(tmp_path, known={"/usr/lib/ssl/openssl.cnf", "/etc/ssl/openssl.cnf", "/out"}, mutable={"/out"})
    run('content.write("/out", content.read("/usr/lib/ssl/openssl.cnf"))', acc)
    assert (tmp_path / "out").read_text() == "CONF"


def test_escaping_symlinks_stay_inside_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    build(
        root,
        {"/etc/hostname": "inside", "/out": ""},
        links={"/a/b/up": "../../../../../etc/hostname", "/var/run": "/run", "/abs": "/../../etc/hostname"},
    )
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/hostname").write_text("outside")
    acc = access(root, known={"/a/b/up", "/abs", "/etc/hostname", "/out"}, mutable={"/out"})
    run('content.write("/out", content.read("/a/b/up") + content.read("/abs"))', acc)
    assert (root / "out").read_text() == "insideinside"
    # A write below an absolute directory link lands in the root's /run, not the
    # host's; the path reported is the one the slice lists.
    (root / "run").mkdir()
    acc.mutable.add("/var/run/x")
    acc.known.add("/var/run/x")
    writes = run('content.write("/var/run/x", "pid")', acc)
    assert (root / "run/x").read_text() == "pid"
    assert writes.calls == [("/var/run/x", b"pid")]


def test_write_through_symlink_needs_both_ends_mutable(tmp_path: Path) -> None:
    build(tmp_path, {"/etc/real": "R"}, links={"/etc/alias": "real"})
    acc = access(tmp_path, known={"/etc/alias", "/etc/real"}, mutable={"/etc/alias"})
    assert (
        failure('content.write("/etc/alias", "x")', acc)
        == "slice pkg_slice: cannot write file which is not mutable: /etc/real (line 1)"
    )
    acc.mutable.add("/etc/real")
    writes = run('content.write("/etc/alias", "x")', acc)
    assert writes.calls == [("/etc/real", b"x")]
    assert (tmp_path / "etc/alias").is_symlink()


def test_symlink_loop_is_an_error(tmp_path: Path) -> None:
    build(tmp_path, {}, links={"/a": "b", "/b": "a"})
    acc = access(tmp_path, known={"/a", "/b"})
    assert failure('content.read("/a")', acc) == "slice pkg_slice: too many levels of symbolic links at /a (line 1)"


# -- errors ---------------------------------------------------------------------------


def test_errors_carry_the_script_line(tmp_path: Path) -> None:
    acc = access(tmp_path)
    assert (
        failure("x = 1\n\ny = x + 'a'\n", acc)
        == "slice pkg_slice: Operation `+` not supported for types `int` and `string` (line 3)"
    )
    assert failure("x = 1\nif x\n", acc).endswith("(line 2)")
    assert (
        failure("def f():\n    content.read('/nope')\n\nf()\n", acc)
        == "slice pkg_slice: cannot read file which is not selected: /nope (line 2)"
    )
    assert failure("\nfail('custom stop')\n", acc) == "slice pkg_slice: fail: custom stop (line 2)"
    assert failure("content.read()", acc) == "slice pkg_slice: content.read is missing its 'path' argument (line 1)"
    assert failure("content.list('/a', '/b')", acc) == "slice pkg_slice: content.list takes 1 arguments, got 2 (line 1)"


def test_print_goes_to_stderr_with_the_slice_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run('print("certs:", ["a", "b"], 3)\nprint(1, 2, sep="-")', access(tmp_path))
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == 'slice pkg_slice: certs: ["a", "b"] 3\nslice pkg_slice: 1-2\n'


def test_runaway_recursion_is_a_script_error(tmp_path: Path) -> None:
    assert (
        failure("def f(n):\n    return f(n + 1)\n\nf(0)\n", access(tmp_path))
        == "slice pkg_slice: Starlark call stack overflow (line 2)"
    )


def test_write_failure_names_the_path(tmp_path: Path) -> None:
    acc = access(tmp_path, known={"/nodir/file"}, mutable={"/nodir/file"})
    message = failure('content.write("/nodir/file", "x")', acc)
    assert message.startswith("slice pkg_slice: cannot write /nodir/file in ")
    assert message.endswith("(line 1)")


def test_an_endless_script_is_stopped_and_named(tmp_path: Path) -> None:
    endless = "def spin():\n    for i in range(2000000000):\n        pass\nspin()\n"
    started = time.monotonic()
    with pytest.raises(
        ScriptError,
        match=r"^slice pkg_slice: the mutate script ran longer than 0.5 seconds, so it "
        r"was stopped$",
    ):
        run_mutate("pkg_slice", endless, access(tmp_path), lambda path, data: None, seconds=0.5)
    assert time.monotonic() - started < 30


def test_a_script_that_grows_without_bound_is_stopped_and_named(tmp_path: Path) -> None:
    greedy = "parts = []\nfor i in range(2000000000):\n    parts.append('x' * 100000 + str(i))\n"
    with pytest.raises(ScriptError, match=r"^slice pkg_slice: the mutate script took more than 64 MiB of memory"):
        run_mutate("pkg_slice", greedy, access(tmp_path), lambda path, data: None, memory=64 << 20)


def test_an_interrupt_stops_a_running_script(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT) reaches Python between Starlark steps and ends the script."""
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    endless = "def spin():\n    for i in range(2000000000):\n        pass\nspin()\n"
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_mutate("pkg_slice", endless, access(tmp_path), lambda path, data: None)
    finally:
        timer.cancel()
    assert time.monotonic() - started < 30
