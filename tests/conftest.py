"""Shared fixtures: each helper module under tests/helpers/ contributes its own."""

pytest_plugins = [
    "tests.helpers.archive_fixtures",
    "tests.helpers.tree_fixtures",
]
