"""The plugin zip installs into a clean QGIS profile and its algorithms run; a missing Python dependency leaves
the plugin loadable and the algorithms explain what to install."""

from __future__ import annotations

import os
import subprocess
import zipfile

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from support import PLUGIN_NAME, QGIS_PROCESS, ROOT

pytestmark = pytest.mark.qgis


def _env(tmp_path, **extra):
    env = dict(os.environ)
    env.pop("QGIS_PLUGINPATH", None)
    env.update(QT_QPA_PLATFORM="offscreen", QGIS_CUSTOM_CONFIG_PATH=str(tmp_path / "profile"),
               PATH="/usr/bin:/bin:" + env.get("PATH", ""), **extra)
    return env


def _stacks(folder):
    paths = []
    for name, value in (("npp", 500.0), ("rh", 200.0)):
        path = folder / f"{name}.tif"
        with rasterio.open(path, "w", driver="GTiff", width=5, height=4, count=2, dtype="float32",
                           crs="EPSG:4326", transform=from_origin(0, 4, 1, 1)) as ds:
            ds.write(np.full((2, 4, 5), value, "float32"))
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def plugin_zip(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "build_zip.sh"), str(out)], capture_output=True,
                          text=True, check=True)
    return proc.stdout.strip().splitlines()[-1]


def test_zip_holds_only_the_plugin(plugin_zip):
    names = zipfile.ZipFile(plugin_zip).namelist()
    assert all(n.startswith(f"{PLUGIN_NAME}/") for n in names)
    for needed in ("metadata.txt", "__init__.py", "plugin.py", "algorithms/provider.py", "core/engine.py",
                   "icons/provider.svg"):
        assert f"{PLUGIN_NAME}/{needed}" in names
    for unwanted in ("test/", "bench/", "sample/", ".venv", "__pycache__", ".ci/", "scripts/"):
        assert not any(unwanted in n for n in names), unwanted


def test_zip_installs_into_a_clean_profile_and_runs(plugin_zip, tmp_path):
    plugins = tmp_path / "profile" / "profiles" / "default" / "python" / "plugins"
    plugins.mkdir(parents=True)
    zipfile.ZipFile(plugin_zip).extractall(plugins)  # what "Install from ZIP" does
    env = _env(tmp_path)
    enable = subprocess.run([QGIS_PROCESS, "plugins", "enable", PLUGIN_NAME], env=env, capture_output=True,
                            text=True)
    assert enable.returncode == 0, enable.stdout + enable.stderr
    npp, rh = _stacks(tmp_path)
    out = tmp_path / "nep.tif"
    proc = subprocess.run([QGIS_PROCESS, "run", "carbonsink:nep", f"--NPP={npp}", f"--RH={rh}", "--FIRST_YEAR=2000",
                           f"--OUTPUT={out}"], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with rasterio.open(out) as ds:
        assert (ds.read() == 300).all()


def test_missing_dependency_is_explained_not_a_crash(plugin_dir, tmp_path):
    fake = tmp_path / "fake_site"
    (fake / "rasterio").mkdir(parents=True)
    (fake / "rasterio" / "__init__.py").write_text("raise ImportError('No module named rasterio (simulated)')\n")
    env = _env(tmp_path, QGIS_PLUGINPATH=str(plugin_dir), PYTHONPATH=str(fake))
    subprocess.run([QGIS_PROCESS, "plugins", "enable", PLUGIN_NAME], env=env, capture_output=True, check=True)
    listing = subprocess.run([QGIS_PROCESS, "list"], env=env, capture_output=True, text=True)
    assert "carbonsink:nep" in listing.stdout  # the plugin and its algorithms still load
    npp, rh = _stacks(tmp_path)
    proc = subprocess.run([QGIS_PROCESS, "run", "carbonsink:nep", f"--NPP={npp}", f"--RH={rh}", "--FIRST_YEAR=2000",
                           f"--OUTPUT={tmp_path / 'nep.tif'}"], env=env, capture_output=True, text=True)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "rasterio" in text and "apt install" in text and "pip install" in text
    assert "Traceback" not in text
    assert not (tmp_path / "nep.tif").exists()
