"""Build step of the package (the metadata is in pyproject.toml).

templates/ and migrations/ sit at the repository root, beside the app package; a built package carries them inside
app/ (create_app looks there first), and the French catalog compiled, so that `pip install .` is all an installed
Mutualis needs. An editable install reads them from the source tree instead.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
FOLDERS_BESIDE_THE_PACKAGE = ("templates", "migrations")


def compile_catalogs(source: Path, target: Path) -> None:
    """Every app/translations/<lang>/LC_MESSAGES/*.po compiled to .mo under target (fuzzy entries left out)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po_path in source.glob("*/LC_MESSAGES/*.po"):
        mo_path = target / po_path.relative_to(source).with_suffix(".mo")
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file)
        with mo_path.open("wb") as mo_file:
            write_mo(mo_file, catalog)


class BuildWithResources(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        package = Path(self.build_lib) / "app"
        for name in FOLDERS_BESIDE_THE_PACKAGE:
            shutil.copytree(
                ROOT / name,
                package / name,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            )
        compile_catalogs(ROOT / "app" / "translations", package / "translations")


setup(cmdclass={"build_py": BuildWithResources})
