"""The cut pipeline: plan, fetch, verify, extract, inline and `until`, mutate, generate, lock, commit.

`pipeline.py` runs a cut; `extract.py` plans and extracts package content;
`manifest.py`, `dpkgstatus.py` and `sbom.py` generate what a cut records.

May import `release`, `archive`, `cache`, `deb`, `scripts`, `rootfs`,
`report` and the primitives; never a command.
"""
