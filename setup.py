"""Ship the top-level release/ and slices/ trees inside the wheel as slicer/_data/.

They live at the top of the repository so contributors find them; the build
copies them into the package so `pip install slicer` alone can cut.
"""

import shutil
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


setup(cmdclass={"build_py": BuildWithReleaseData})
