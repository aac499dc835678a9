"""Shared benchmark helpers: large NEP-like stacks on disk and timed qgis_process runs with their peak memory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

ROOT = Path(__file__).resolve().parents[1]
QP = shutil.which("qgis_process.bin") or shutil.which("qgis_process")

# Runs a command and prints the child's peak RSS in kB (ru_maxrss of RUSAGE_CHILDREN of a fresh process).
_RSS_WRAPPER = """
import resource, subprocess, sys
p = subprocess.run(sys.argv[1:], capture_output=True, text=True)
if p.returncode:
    sys.stdout.write(p.stdout + p.stderr); sys.exit(p.returncode)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def make_stack(path: Path, size: int, years: int, base: float, seed: int, trend: float = 0.0) -> None:
    """A smooth field plus a trend and noise quantised to 1 per year (compresses like real data), written in
    512-row strips as a tiled float32 GeoTIFF (geographic CRS) with the years as band descriptions."""
    rng = np.random.default_rng(seed)
    profile = dict(
        driver="GTiff",
        width=size,
        height=size,
        count=years,
        dtype="float32",
        crs="EPSG:4326",
        transform=from_origin(70, 55, 0.005, 0.005),
        nodata=-9999,
        tiled=True,
        blockxsize=256,
        blockysize=256,
        compress="deflate",
        predictor=3,
        interleave="band",
        bigtiff="yes",
        num_threads="all_cpus",
    )
    x = np.linspace(0, 6, size)
    t = np.arange(years, dtype=float)[:, None, None]
    with rasterio.open(path, "w", **profile) as ds:
        for r in range(0, size, 512):
            h = min(512, size - r)
            y = np.linspace(r / size * 6, (r + h) / size * 6, h)[:, None]
            field = base * (1 + 0.4 * np.sin(x[None, :]) * np.cos(y))
            noise = np.round(rng.normal(0, 20, (years, h, size)))
            block = field[None] + trend * np.sin(x[None, None, :] * 3) * t + noise
            ds.write(block.astype("float32"), window=Window(0, r, size, h))
        for b in range(years):
            ds.set_band_description(b + 1, str(2000 + b))


def qgis_env() -> tuple[dict, Path]:
    """Environment for qgis_process with a fresh profile and the plugin enabled; returns (env, work folder)."""
    work = Path(tempfile.mkdtemp(prefix="bench_qgis_"))
    (work / "plugins").mkdir()
    (work / "plugins" / "carbon_sink_toolbox").symlink_to(ROOT)
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        QGIS_CUSTOM_CONFIG_PATH=str(work / "profile"),
        QGIS_PLUGINPATH=str(work / "plugins"),
        PATH="/usr/bin:/bin:" + os.environ.get("PATH", ""),
    )
    subprocess.run([QP, "plugins", "enable", "carbon_sink_toolbox"], env=env, capture_output=True, check=True)
    return env, work


def run_qgis(alg: str, params: dict, env: dict) -> tuple[float, float]:
    """Run ``carbonsink:alg`` through qgis_process; return (wall seconds, peak RSS in MB)."""
    cmd = [QP, "run", f"carbonsink:{alg}", *[f"--{k}={v}" for k, v in params.items()]]
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _RSS_WRAPPER, *cmd], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(proc.stdout + proc.stderr)
    return elapsed, float(proc.stdout.strip().splitlines()[-1]) / 1024
