"""Language runtimes cut from the real archive, run with chroot as root and as uid 65532.

Each runtime's root is cut once per release and module; its programs reach a
TLS server on 127.0.0.1 whose certificate a private CA signed. The CA reaches
the root the way a user adds one: its PEM file goes into the root's
/usr/local/share/ca-certificates/ before the cut, and the java-keystore
generator trusts it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.tls import TestCA, make_ca, serve_tls

RELEASES = ("debian-12", "debian-13")
USERS = ("root", "65532")
BASE = ("base-files_base", "base-passwd_nonroot")
JAVA = {"debian-12": "17", "debian-13": "21"}
NODE = {"debian-12": "18", "debian-13": "20"}
PYTHON = {"debian-12": "3.11", "debian-13": "3.13"}
PERL = {"debian-12": "5.36", "debian-13": "5.40"}
PHP = {"debian-12": "8.2", "debian-13": "8.4"}
RUBY = {"debian-12": "3.1", "debian-13": "3.3"}
PROGRAMS = Path(__file__).parent / "programs"
LOCAL_CA = "/usr/local/share/ca-certificates/slicer-test-ca.crt"
BODY = "hello from the test server"


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def https_port(test_ca: TestCA) -> Iterator[int]:
    with serve_tls(test_ca, BODY) as port:
        yield port


@pytest.fixture(scope="module")
def runtime_root(
    real_cut: Callable[..., int], tmp_path_factory: pytest.TempPathFactory, test_ca: TestCA
) -> Callable[..., Path]:
    """Factory: runtime_root(release, name, *slices) -> a root cut once per module, with the test CA."""
    roots: dict[tuple[str, str], Path] = {}

    def get(release: str, name: str, *slices: str) -> Path:
        if (release, name) not in roots:
            root = tmp_path_factory.mktemp(f"{release}-{name}") / "root"
            local = root / "usr/local/share/ca-certificates"
            local.mkdir(parents=True)
            shutil.copyfile(test_ca.ca_pem, root / LOCAL_CA.lstrip("/"))
            assert real_cut(release, root, *BASE, *slices) == 0
            roots[release, name] = root
        return roots[release, name]

    return get


def run(
    chroot: str, root: Path, user: str, *command: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`command` in `root` as a container runtime starts it: with /proc (the JVM and the loader's
    $ORIGIN read /proc/self/exe) and /dev (git opens /dev/null) mounted, in private mount and PID
    namespaces that end with it."""
    unshare = shutil.which("unshare") or shutil.which("unshare", path="/usr/bin:/bin")
    if unshare is None:
        pytest.skip("util-linux unshare is not installed")
    for mount_point in ("proc", "dev"):
        (root / mount_point).mkdir(exist_ok=True)
    userspec = [] if user == "root" else [f"--userspec={user}:{user}"]
    return subprocess.run(
        [
            unshare,
            "--mount",
            "--pid",
            "--fork",
            f"--mount-proc={root}/proc",
            "/bin/sh",
            "-c",
            'mount --rbind /dev "$0/dev" && exec "$@"',
            str(root),
            chroot,
            *userspec,
            str(root),
            *command,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": "/", **(env or {})},
    )


@pytest.mark.network
@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("user", USERS)
def test_java(release, user, runtime_root, compile_program, chroot_binary, https_port):
    classes = compile_program("TlsCheck.java")
    root = runtime_root(release, "java", "default-jre-headless_bins")
    shutil.copytree(classes, root / "app", dirs_exist_ok=True)
    result = run(chroot_binary, root, user, "/usr/bin/java", "-cp", "/app", "TlsCheck", str(https_port))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"java {JAVA[release]}"
    assert lines[1].startswith("trusted ") and int(lines[1].split()[1]) > 100, lines
    assert lines[2].startswith("tls TLSv1.") and lines[2].endswith(BODY), lines


@pytest.mark.network
@pytest.mark.parametrize("release", RELEASES)
def test_java_trust_store_is_reproducible_and_keytool_reads_it(release, runtime_root, real_cut, test_ca, tmp_path):
    """Cut again into an empty root: the same certificates give the same bytes, and keytool agrees."""
    keytool = shutil.which("keytool")
    if keytool is None:
        pytest.skip("keytool is not installed: install openjdk-17-jdk-headless")
    store = runtime_root(release, "java", "default-jre-headless_bins") / "etc/ssl/certs/java/cacerts"
    again = tmp_path / "root"
    local = again / "usr/local/share/ca-certificates"
    local.mkdir(parents=True)
    shutil.copyfile(test_ca.ca_pem, again / LOCAL_CA.lstrip("/"))
    assert real_cut(release, again, "ca-certificates-java_data") == 0
    assert (again / "etc/ssl/certs/java/cacerts").read_bytes() == store.read_bytes()
    listing = subprocess.run(
        [keytool, "-list", "-keystore", str(store), "-storepass", "changeit"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listing.returncode == 0, listing.stderr
    assert "slicer test ca, " in listing.stdout
    assert listing.stdout.count("trustedCertEntry") > 100


@pytest.mark.network
@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("user", USERS)
def test_nodejs(release, user, runtime_root, chroot_binary, https_port):
    """Node.js trusts its built-in CAs; NODE_EXTRA_CA_CERTS is how its users add one."""
    root = runtime_root(release, "nodejs", "nodejs_bins", "tzdata_zoneinfo")
    script = (PROGRAMS / "check.js").read_text()
    result = run(
        chroot_binary,
        root,
        user,
        "/usr/bin/node",
        "-e",
        script,
        str(https_port),
        env={"TZ": "Europe/Amsterdam", "NODE_EXTRA_CA_CERTS": LOCAL_CA},
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"node {NODE[release]} openssl 3.") and lines[0].endswith("Europe/Amsterdam -120"), lines
    assert lines[1] == f"https 200 {BODY}", lines


@pytest.fixture(scope="module")
def greeting_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """programs/greeting as a pure-Python wheel, installed with the host's `pip install --target`."""
    directory = tmp_path_factory.mktemp("greeting")
    wheel = directory / "greeting-1.0-py3-none-any.whl"
    files = {f"greeting/{path.name}": path.read_bytes() for path in sorted((PROGRAMS / "greeting").glob("*.py"))}
    files["greeting-1.0.dist-info/METADATA"] = b"Metadata-Version: 2.1\nName: greeting\nVersion: 1.0\n"
    files["greeting-1.0.dist-info/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: slicer-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = "".join(
        f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
        for name, data in files.items()
    )
    files["greeting-1.0.dist-info/RECORD"] = (record + "greeting-1.0.dist-info/RECORD,,\n").encode()
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    target = directory / "app"
    installed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-index",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr
    return target


@pytest.mark.network
@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("user", USERS)
def test_python_application(release, user, runtime_root, chroot_binary, greeting_app):
    root = runtime_root(release, "python", "python3_standard", "ca-certificates_data")
    assert (root / "usr/bin/python3").readlink() == Path(f"python{PYTHON[release]}")
    shutil.copytree(greeting_app, root / "app", dirs_exist_ok=True)
    result = run(chroot_binary, root, user, "/usr/bin/python3", "-m", "greeting", env={"PYTHONPATH": "/app"})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["python"] == PYTHON[release]
    assert report["sha256"] == "ba7816bf8f01cfea"
    assert report["trusted"] > 100, report


@pytest.mark.network
@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("user", USERS)
def test_curl(release, user, runtime_root, chroot_binary, https_port):
    """curl verifies against the CA bundle: the private CA fails there, and works once named."""
    root = runtime_root(release, "curl", "curl_bins", "ca-certificates_data")
    url = f"https://127.0.0.1:{https_port}/"
    untrusted = run(chroot_binary, root, user, "/usr/bin/curl", "--silent", "--show-error", url)
    assert untrusted.returncode == 60, untrusted.stderr  # peer certificate cannot be authenticated
    trusted = run(
        chroot_binary, root, user, "/usr/bin/curl", "--silent", "--show-error", url, env={"CURL_CA_BUNDLE": LOCAL_CA}
    )
    assert trusted.returncode == 0, trusted.stderr
    assert trusted.stdout == BODY + "\n"


@pytest.mark.network
@pytest.mark.parametrize("release", RELEASES)
def test_git_commits_as_nonroot(release, runtime_root, chroot_binary):
    root = runtime_root(release, "git", "git_bins")
    identity = {
        "HOME": "/home/nonroot",
        "GIT_AUTHOR_NAME": "Non Root",
        "GIT_AUTHOR_EMAIL": "nonroot@example.invalid",
        "GIT_COMMITTER_NAME": "Non Root",
        "GIT_COMMITTER_EMAIL": "nonroot@example.invalid",
    }
    git = ["/usr/bin/git", "-C", "/home/nonroot/repo"]
    for command in (
        ["/usr/bin/git", "init", "--quiet", "/home/nonroot/repo"],
        [*git, "commit", "--quiet", "--allow-empty", "-m", "first commit"],
        [*git, "log", "--format=%an %s"],
    ):
        result = run(chroot_binary, root, "65532", *command, env=identity)
        assert result.returncode == 0, (command, result.stderr)
        assert "warning" not in result.stderr, result.stderr
    assert result.stdout == "Non Root first commit\n"
    assert (root / "home/nonroot/repo/.git/info/exclude").is_file()
    assert (root / "home/nonroot/repo/.git/objects").stat().st_uid == 65532


@pytest.mark.network
@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("user", USERS)
def test_perl(release, user, runtime_root, chroot_binary, https_port):
    version = PERL[release]
    root = runtime_root(
        release,
        "perl",
        "perl-base_bins",
        f"perl-modules-{version}_json",
        f"libperl{version}_digest-sha",
        "libio-socket-ssl-perl_libs",
    )
    shutil.copyfile(PROGRAMS / "check.pl", root / "check.pl")
    result = run(chroot_binary, root, user, "/usr/bin/perl", "/check.pl", str(https_port), LOCAL_CA)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"perl v{version}.") and lines[0].endswith(' {"ok":true,"sha256":"ba7816bf8f01cfea"}')
    assert lines[1].startswith("https TLSv1") and lines[1].endswith(BODY), lines


@pytest.mark.network
@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("user", USERS)
def test_php(release, user, runtime_root, chroot_binary, https_port):
    root = runtime_root(release, "php", f"php{PHP[release]}-cli_bins")
    shutil.copyfile(PROGRAMS / "check.php", root / "check.php")
    result = run(chroot_binary, root, user, "/usr/bin/php", "/check.php", str(https_port), LOCAL_CA)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f'php {PHP[release]} {{"ok":true,"sha256":"ba7816bf8f01cfea"}}', lines
    assert lines[1].startswith("https TLSv1") and lines[1].endswith(BODY), lines


@pytest.mark.network
@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("user", USERS)
def test_ruby(release, user, runtime_root, chroot_binary, https_port):
    version = RUBY[release]
    root = runtime_root(release, "ruby", f"ruby{version}_bins", f"libruby{version}_openssl")
    shutil.copyfile(PROGRAMS / "check.rb", root / "check.rb")
    result = run(chroot_binary, root, user, f"/usr/bin/ruby{version}", "/check.rb", str(https_port), LOCAL_CA)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"ruby {version}.") and lines[0].endswith(' {"ok":true,"sha256":"ba7816bf8f01cfea"}')
    assert lines[1].startswith("https TLSv1") and lines[1].endswith(BODY), lines
