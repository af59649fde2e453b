"""slicer: cut fine-grained slices of Debian packages into a root filesystem."""

__version__ = "0.1.0"
