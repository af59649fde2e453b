"""The time of content slicer makes up (inline files, generated files, SBOMs): `SOURCE_DATE_EPOCH`."""

from __future__ import annotations

import os

from ..errors import SlicerError


def source_date_epoch() -> int:
    """The mtime of content slicer makes up: `SOURCE_DATE_EPOCH`, else 0."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not value:
        return 0
    try:
        return int(value)
    except ValueError:
        raise SlicerError(f"SOURCE_DATE_EPOCH must be a whole number of seconds, not {value!r}") from None
