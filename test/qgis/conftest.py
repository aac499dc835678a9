"""QGIS fixtures: an in-process QgsApplication with Processing and the plugin loaded the way QGIS loads it,
and a runner for the real ``qgis_process`` command line."""

from __future__ import annotations

import configparser
import importlib
import json
import os
import subprocess
import sys

import pytest
from support import PLUGIN_NAME, QGIS_PROCESS, ROOT

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")



@pytest.fixture(scope="session")
def qgis_app(plugin_dir, tmp_path_factory):
    """QgsApplication + Processing, with the plugin loaded from ``metadata.txt`` / ``classFactory(None)``."""
    os.environ["QGIS_CUSTOM_CONFIG_PATH"] = str(tmp_path_factory.mktemp("qgis_config"))
    from qgis.core import QgsApplication

    QgsApplication.setPrefixPath("/usr", True)
    app = QgsApplication([], False)
    app.initQgis()
    sys.path.append("/usr/share/qgis/python/plugins")
    from processing.core.Processing import Processing

    Processing.initialize()
    meta = configparser.ConfigParser()
    meta.read(ROOT / "metadata.txt")
    assert meta["general"]["hasProcessingProvider"] == "yes"
    if str(plugin_dir) not in sys.path:
        sys.path.insert(0, str(plugin_dir))
    package = importlib.import_module(PLUGIN_NAME)
    plugin = package.classFactory(None)
    plugin.initProcessing()
    yield app
    plugin.unload()


@pytest.fixture(scope="session")
def qgis_process(plugin_dir, tmp_path_factory):
    """Run ``qgis_process`` as a user would: a fresh profile, the plugin enabled, JSON results."""
    if QGIS_PROCESS is None:
        pytest.fail("qgis_process is not installed: run scripts/setup.sh")
    env = dict(os.environ)
    env.update(
        QT_QPA_PLATFORM="offscreen",
        QGIS_CUSTOM_CONFIG_PATH=str(tmp_path_factory.mktemp("qgis_process_config")),
        QGIS_PLUGINPATH=str(plugin_dir),
        # QGIS's embedded Python finds its home through the first python3 on PATH: make it Debian's
        PATH="/usr/bin:/bin:" + env.get("PATH", ""),
    )
    enable = subprocess.run([QGIS_PROCESS, "plugins", "enable", PLUGIN_NAME], env=env, capture_output=True, text=True)
    assert enable.returncode == 0, enable.stdout + enable.stderr

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([QGIS_PROCESS, *args], env=env, capture_output=True, text=True, timeout=900)
        if check:
            assert proc.returncode == 0, f"qgis_process {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
        return proc

    def run_alg(alg: str, params: dict, check: bool = True):
        """Run ``carbonsink:<alg>`` with ``--NAME=value`` arguments (lists repeat the argument)."""
        args = ["run", f"carbonsink:{alg}", "--json", "--"]
        for key, value in params.items():
            for v in value if isinstance(value, (list, tuple)) else [value]:
                args.append(f"{key}={v}")
        proc = run(*args, check=check)
        if proc.returncode != 0:
            return proc
        return json.loads(proc.stdout[proc.stdout.index("{") :])

    run.alg = run_alg
    run.env = env
    return run
