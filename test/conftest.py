"""Shared fixtures: the repository on sys.path, the plugin folder as QGIS sees it, and the sample data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support import PLUGIN_NAME, ROOT

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `import core` for the core tests (no QGIS needed)


@pytest.fixture(scope="session")
def plugin_dir(tmp_path_factory) -> Path:
    """A folder holding the plugin under its installed name (a link to this checkout), for QGIS_PLUGINPATH."""
    folder = tmp_path_factory.mktemp("plugins")
    (folder / PLUGIN_NAME).symlink_to(ROOT, target_is_directory=True)
    return folder


@pytest.fixture(scope="session")
def sample_data(tmp_path_factory) -> Path:
    """The sample study area, generated once per test session by the script the README runs."""
    out = tmp_path_factory.mktemp("sample") / "data"
    subprocess.run([sys.executable, str(ROOT / "sample" / "make_sample_data.py"), str(out)], check=True)
    return out
