"""Engine throughput: `nep` on a SIZE x SIZE x 24 stack (default 4000 x 4000), through qgis_process.

Prints pixels x years per second and the peak resident memory of the qgis_process run, for the default
memory budget (256 MB) and a small one, and 1 vs 2 threads; and, as a reference in the same run, the same
NPP - Rh with plain rasterio + numpy on whole arrays (what a user script does), with its peak memory.

    .venv/bin/python bench/bench_nep.py [--size 4000] [--years 24] [--keep DIR]
"""

from __future__ import annotations

import argparse
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


def make_stack(path: Path, size: int, years: int, base: float, seed: int) -> None:
    """A smooth field plus quantised noise per year (compresses like real data), written in 512-row strips."""
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
    with rasterio.open(path, "w", **profile) as ds:
        for r in range(0, size, 512):
            h = min(512, size - r)
            y = np.linspace(r / size * 6, (r + h) / size * 6, h)[:, None]
            field = base * (1 + 0.4 * np.sin(x[None, :]) * np.cos(y))
            block = field[None] + np.round(rng.normal(0, 20, (years, h, size)))
            ds.write(block.astype("float32"), window=Window(0, r, size, h))
        for b in range(years):
            ds.set_band_description(b + 1, str(2000 + b))


def run_qgis(npp: Path, rh: Path, out: Path, memory_mb: int, threads: int, env: dict) -> tuple[float, float]:
    cmd = [
        QP,
        "run",
        "carbonsink:nep",
        f"--NPP={npp}",
        f"--RH={rh}",
        f"--OUTPUT={out}",
        f"--MEMORY_MB={memory_mb}",
        f"--THREADS={threads}",
    ]
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _RSS_WRAPPER, *cmd], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(proc.stdout + proc.stderr)
    peak_kb = float(proc.stdout.strip().splitlines()[-1])
    out.unlink()
    return elapsed, peak_kb / 1024


# Runs a command and prints the child's peak RSS in kB (ru_maxrss of RUSAGE_CHILDREN of a fresh process).
_RSS_WRAPPER = """
import resource, subprocess, sys
p = subprocess.run(sys.argv[1:], capture_output=True, text=True)
if p.returncode:
    sys.stdout.write(p.stdout + p.stderr); sys.exit(p.returncode)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def numpy_reference(npp: Path, rh: Path, out: Path) -> tuple[float, float]:
    code = f"""
import numpy as np, rasterio, resource, time
t0 = time.perf_counter()
with rasterio.open({str(npp)!r}) as a, rasterio.open({str(rh)!r}) as b:
    x = a.read(masked=True).astype('float32'); y = b.read(masked=True).astype('float32'); profile = a.profile
nep = (x - y).filled(np.nan)
profile.update(nodata=float('nan'))
with rasterio.open({str(out)!r}, 'w', **profile) as d:
    d.write(nep)
print(time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
    proc = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        return float("nan"), float("nan")
    seconds, rss = proc.stdout.split()
    out.unlink()
    return float(seconds), float(rss) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=4000)
    ap.add_argument("--years", type=int, default=24)
    ap.add_argument("--keep", type=Path, help="folder for the generated stacks (kept between runs)")
    args = ap.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench_nep_"))
    folder.mkdir(parents=True, exist_ok=True)
    npp, rh = folder / f"npp_{args.size}_{args.years}.tif", folder / f"rh_{args.size}_{args.years}.tif"
    for path, base, seed in ((npp, 450.0, 1), (rh, 300.0, 2)):
        if not path.exists():
            t0 = time.perf_counter()
            make_stack(path, args.size, args.years, base, seed)
            print(f"generated {path.name} ({path.stat().st_size / 2**20:.0f} MB) in {time.perf_counter() - t0:.0f} s")
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
    values = args.size * args.size * args.years
    print(
        f"\nnep on {args.size} x {args.size} x {args.years} ({values / 1e6:.0f} M pixel-years), "
        f"2 stacks of {npp.stat().st_size / 2**20:.0f} MB, {os.cpu_count()} CPUs"
    )
    print(f"{'run':42s} {'seconds':>8s} {'Mpix-yr/s':>10s} {'peak RSS MB':>12s}")
    for memory_mb, threads in ((256, 0), (256, 1), (64, 0)):
        seconds, rss = run_qgis(npp, rh, folder / "nep_out.tif", memory_mb, threads, env)
        label = f"qgis_process nep, MEMORY_MB={memory_mb}, THREADS={threads or 'all'}"
        print(f"{label:42s} {seconds:8.1f} {values / seconds / 1e6:10.1f} {rss:12.0f}")
    seconds, rss = numpy_reference(npp, rh, folder / "nep_numpy.tif")
    label = "reference: rasterio+numpy, whole arrays"
    print(f"{label:42s} {seconds:8.1f} {values / seconds / 1e6:10.1f} {rss:12.0f}")
    shutil.rmtree(work)
    if not args.keep:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
