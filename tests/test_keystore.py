import shutil
import subprocess

import pytest

from slicer.cut import keystore
from slicer.errors import KeystoreError
from tests.helpers.tls import make_ca


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """Two real PEM certificates: a CA and a server certificate it signed."""
    ca = make_ca(tmp_path_factory.mktemp("ca"))
    return ca.ca_pem.read_bytes(), ca.server_pem.read_bytes()


def keytool_list(store, password="changeit"):
    keytool = shutil.which("keytool")
    if keytool is None:
        pytest.skip("keytool is not installed: install openjdk-17-jdk-headless")
    return subprocess.run(
        [keytool, "-list", "-keystore", str(store), "-storepass", password], capture_output=True, text=True, timeout=120
    )


def test_keytool_reads_the_store_with_the_default_password(certificates, tmp_path):
    ca, server = certificates
    store = tmp_path / "cacerts"
    store.write_bytes(keystore.jks(keystore.pem_certificates(ca + server, "bundle"), 0))
    listing = keytool_list(store)
    assert listing.returncode == 0, listing.stderr
    assert "Keystore type: JKS" in listing.stdout
    assert "Your keystore contains 2 entries" in listing.stdout
    assert "slicer test ca, Jan 1, 1970, trustedCertEntry" in listing.stdout
    assert "127.0.0.1, Jan 1, 1970, trustedCertEntry" in listing.stdout
    assert keytool_list(store, password="wrong").returncode != 0


def test_the_same_certificates_give_the_same_bytes(certificates):
    ca, server = certificates
    first = keystore.jks(keystore.pem_certificates(ca + server, "a"), 1700000000000)
    assert keystore.jks(keystore.pem_certificates(server + ca + ca, "b"), 1700000000000) == first
    assert keystore.jks(keystore.pem_certificates(ca + server, "a"), 0) != first


def test_bad_base64_names_the_file_and_certificate(certificates):
    ca, _ = certificates
    broken = ca + b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"
    with pytest.raises(KeystoreError, match=r"^/usr/local/share/ca-certificates/x.crt: certificate 2 "):
        keystore.pem_certificates(broken, "/usr/local/share/ca-certificates/x.crt")


def test_a_certificate_that_is_not_der_is_refused():
    with pytest.raises(KeystoreError, match="is not valid DER"):
        keystore.jks([b"\x30\x05not a certificate"], 0)


def test_trusted_certificates_read_the_bundle_and_the_local_cas(certificates, tmp_path):
    ca, server = certificates
    staging, root = tmp_path / "staging", tmp_path / "root"
    (staging / "etc/ssl/certs").mkdir(parents=True)
    (staging / "etc/ssl/certs/ca-certificates.crt").write_bytes(server)
    local = root / "usr/local/share/ca-certificates/corp"
    local.mkdir(parents=True)
    (local / "corp.crt").write_bytes(ca)
    (local / "notes.txt").write_bytes(ca)
    (local / "link.crt").symlink_to(local / "corp.crt")
    found = keystore.trusted_certificates(staging, root)
    assert sorted(found) == sorted(keystore.pem_certificates(ca + server, "both"))


def test_trusted_certificates_take_the_bundle_of_an_earlier_cut(certificates, tmp_path):
    ca, _ = certificates
    staging, root = tmp_path / "staging", tmp_path / "root"
    staging.mkdir()
    (root / "etc/ssl/certs").mkdir(parents=True)
    (root / "etc/ssl/certs/ca-certificates.crt").write_bytes(ca)
    assert keystore.trusted_certificates(staging, root) == keystore.pem_certificates(ca, "bundle")


def test_without_a_bundle_the_error_names_the_slice_to_add(tmp_path):
    with pytest.raises(KeystoreError, match="select ca-certificates_data"):
        keystore.trusted_certificates(tmp_path / "staging", tmp_path / "root")
