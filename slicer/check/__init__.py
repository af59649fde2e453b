"""`slicer check`: contributor checks of slice definitions, against the real archive.

A command: may import `cut`, `contents`, `archive`, `release` and the lower
stages; never another command.
"""
