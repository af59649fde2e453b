"""A pure-Python application the tests package as a wheel and install with `pip install --target`."""

import hashlib
import json
import ssl
import sys


def report() -> str:
    trusted = ssl.create_default_context().cert_store_stats()["x509_ca"]
    digest = hashlib.sha256(b"abc").hexdigest()[:16]
    version = "{}.{}".format(*sys.version_info[:2])
    return json.dumps({"python": version, "sha256": digest, "trusted": trusted}, sort_keys=True)
