"""Ship the top-level release/ and slices/ trees inside the wheel as slicer/_data/,
and the man page generated from the argument parser as share/man/man1/slicer.1.

The trees live at the top of the repository so contributors find them; the
build copies them into the package so `pip install slicer` alone can cut.
"""

import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).parent


class BuildWithReleaseData(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "slicer" / "_data"
        for tree in ("release", "slices"):
            destination = target / tree
            if destination.exists():
                shutil.rmtree(destination)
            shutil.copytree(HERE / tree, destination, ignore=shutil.ignore_patterns("*.md"))


MAN_PAGE = Path("build") / "man" / "slicer.1"


def write_man_page() -> None:
    """Generate the page from the parser in this tree (importing it needs only the standard library)."""
    sys.path.insert(0, str(HERE))
    try:
        from slicer.cli import build_parser
        from slicer.manpage import write
    finally:
        sys.path.pop(0)
    write(HERE / MAN_PAGE, build_parser())


write_man_page()
setup(cmdclass={"build_py": BuildWithReleaseData}, data_files=[("share/man/man1", [str(MAN_PAGE)])])
