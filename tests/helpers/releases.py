"""Write chisel-layout release directories for tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

from pysequoia import Cert, Tsk


def test_cert() -> Cert:
    return Tsk.generate("slicer test key <test@example.invalid>").extract_certificate()


def key_block(name: str, cert: Cert, indent: str = "  ") -> str:
    armor = textwrap.indent(str(cert).strip() + "\n", indent * 3)
    key_id = cert.fingerprint.upper()[-16:]
    return f"{indent}{name}:\n{indent * 2}id: {key_id}\n{indent * 2}armor: |\n{armor}"


def chisel_yaml(cert: Cert, fmt: str = "v3", archives: str | None = None, extra: str = "") -> str:
    archives = archives or (
        "  debian:\n    version: '12'\n    suites: [bookworm]\n    components: [main]\n    public-keys: [test-key]\n"
    )
    maintenance = "maintenance:\n  standard: 2023-06-10\n  end-of-life: 2099-06-30\n"
    return f"format: {fmt}\n{maintenance}archives:\n{archives}public-keys:\n{key_block('test-key', cert)}{extra}"


def write_release(
    root: Path, cert: Cert, slices: dict[str, str], fmt: str = "v3", release_text: str | None = None
) -> Path:
    """A release directory with `chisel.yaml` and `slices/<file>` for each entry of `slices`."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "chisel.yaml").write_text(release_text if release_text is not None else chisel_yaml(cert, fmt))
    folder = root / "slices"
    folder.mkdir(exist_ok=True)
    for name, text in slices.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text))
    return root
