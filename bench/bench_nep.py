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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import make_stack, qgis_env, run_qgis  # noqa: E402


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
    env, work = qgis_env()
    values = args.size * args.size * args.years
    print(
        f"\nnep on {args.size} x {args.size} x {args.years} ({values / 1e6:.0f} M pixel-years), "
        f"2 stacks of {npp.stat().st_size / 2**20:.0f} MB, {os.cpu_count()} CPUs"
    )
    print(f"{'run':62s} {'seconds':>8s} {'Mpix-yr/s':>10s} {'peak RSS MB':>12s}")
    # GDAL's block cache (GDAL_CACHEMAX, default 5% of the RAM, shared by all of QGIS) comes on top of MEMORY_MB
    for memory_mb, threads, cache in ((256, 0, None), (256, 1, None), (64, 0, None), (256, 0, "64")):
        out = folder / "nep_out.tif"
        run_env = env if cache is None else dict(env, GDAL_CACHEMAX=cache)
        seconds, rss = run_qgis(
            "nep", {"NPP": npp, "RH": rh, "OUTPUT": out, "MEMORY_MB": memory_mb, "THREADS": threads}, run_env
        )
        out.unlink()
        label = f"qgis_process nep, MEMORY_MB={memory_mb}, THREADS={threads or 'all'}"
        label += f", GDAL_CACHEMAX={cache} MB" if cache else ", GDAL_CACHEMAX default"
        print(f"{label:62s} {seconds:8.1f} {values / seconds / 1e6:10.1f} {rss:12.0f}")
    seconds, rss = numpy_reference(npp, rh, folder / "nep_numpy.tif")
    label = "reference: rasterio+numpy, whole arrays"
    print(f"{label:62s} {seconds:8.1f} {values / seconds / 1e6:10.1f} {rss:12.0f}")
    shutil.rmtree(work)
    if not args.keep:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
