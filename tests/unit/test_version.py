"""The version is defined once, as ``usbsync_gui.__version__``: the wheel's metadata takes it from there
(pyproject.toml's dynamic version), the Makefile reads it for the package's name, and ``--version`` prints it
(tests/unit/test_gui_entry.py)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

import usbsync_gui

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(
    not (REPO / "usbsync_gui" / "__init__.py").exists() or not (REPO / "Makefile").exists(),
    reason="the tests run from a copy without the source tree (make test-windows tests the installed wheel)",
)


def test_pyproject_takes_the_version_from_the_package():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" not in project["project"], "a second definition of the version"
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "usbsync_gui.__version__"}


def test_setuptools_reads_the_same_version_without_importing_the_app():
    expand = pytest.importorskip("setuptools.config.expand")
    assert expand.read_attr("usbsync_gui.__version__", root_dir=REPO) == usbsync_gui.__version__


def test_the_makefile_reads_the_one_definition():
    # The Makefile's VERSION: sed -n 's/^__version__ = "\(.*\)"$/\1/p' usbsync_gui/__init__.py
    text = (REPO / "usbsync_gui" / "__init__.py").read_text()
    found = re.findall(r'^__version__ = "(.*)"$', text, flags=re.MULTILINE)
    assert found == [usbsync_gui.__version__]
    assert "__init__.py" in (REPO / "Makefile").read_text().split("VERSION =", 1)[1].splitlines()[0]
