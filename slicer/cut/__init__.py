"""The cut pipeline: plan, fetch, verify, extract, inline and `until`, mutate, generate, lock, commit.

`pipeline.py` runs a cut: `plan.py` decides what each package gives,
`extract.py` takes it out of the packages, `inline.py` makes up inline
content and removes `until` paths, `manifest.py` and `dpkgstatus.py`
generate files, `lock.py` and `sbom.py` record what the cut used.

May import `release`, `archive`, `cache`, `deb`, `scripts`, `rootfs`,
`report` and the primitives; never a command.
"""
