"""Benchmark of the trend core: Sen slope + Mann-Kendall (original test) against a pymannkendall loop.

Run: ``.venv/bin/python bench/bench_trend.py`` (options: ``--help``). Prints, for T = 24 and T = 40 years:

- the core (``core.trend.mann_kendall``, original test, which includes the Sen slope and intercept) on a
  2000 x 2000 raster processed block by block, blocks sized as the engine sizes them from
  ``scratch_bytes_per_pixel`` and a memory budget (default 64 MiB); each block's values are generated just before
  the call (NEP-like: trend + AR(1) noise, 1 % of the pixels with a missing year), so the whole stack is never held;
  the time counts only the core calls;
- ``pymannkendall.original_test`` called pixel by pixel on a sample (default 2,000 pixels), extrapolated to
  seconds per million pixels;
- the ratio, and a check that the core's results on the same sample are identical (S, Var(S), tau, slope,
  intercept bit for bit; Z and p to the last bits: the largest differences are printed);
- the peak memory (tracemalloc) of processing two raster sizes block by block, to show it depends on the block,
  not on the raster.

Both wall-clock and CPU (process) times are printed: the machine is shared, and CPU time is the fairer measure of
one thread's work when other processes compete for the two cores. Everything runs on one thread.

To time a whole algorithm through the engine later, pass a callable to :func:`time_per_million` (see
``EXTRA_TIMINGS`` at the end of the file).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
import warnings
from typing import Callable, Iterator

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from core import trend  # noqa: E402

KEYS = ("s", "var_s", "z", "p", "tau", "slope", "intercept")


# ----------------------------------------------------------------------------------------------------------------
# helpers usable by other timings
# ----------------------------------------------------------------------------------------------------------------
def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def time_per_million(name: str, fn: Callable[[], object], n_pixels: int, repeat: int = 1) -> tuple[float, float]:
    """Time ``fn`` (which processes ``n_pixels`` pixels) and print seconds per million pixels (best of ``repeat``)."""
    best_w, best_c = float("inf"), float("inf")
    for _ in range(repeat):
        w, c = timed(fn)
        best_w, best_c = min(best_w, w), min(best_c, c)
    wm, cm = best_w / n_pixels * 1e6, best_c / n_pixels * 1e6
    print(f"  {name:<46s} {wm:10.2f} s/Mpx wall {cm:10.2f} s/Mpx CPU  ({n_pixels:,} px)")
    return wm, cm


def nep_like(n_times: int, n_pixels: int, seed: int, missing_share: float = 0.01) -> np.ndarray:
    """(T, N) NEP-like values in g C m-2 yr-1: 200 + trend + AR(1) noise; a share of pixels miss one year."""
    rng = np.random.default_rng(seed)
    e = rng.normal(0.0, 40.0, size=(n_times, n_pixels))
    for t in range(1, n_times):
        e[t] += 0.4 * e[t - 1]
    x = 200.0 + rng.normal(0.0, 3.0, n_pixels) * np.arange(n_times)[:, None] + e
    holes = np.flatnonzero(rng.random(n_pixels) < missing_share)
    x[rng.integers(0, n_times, holes.size), holes] = np.nan
    return x


def engine_block_rows(n_times: int, cols: int, budget_bytes: int) -> int:
    """Rows per block for a memory budget: input (8 T bytes a pixel) plus the core's scratch estimate."""
    per_pixel = trend.scratch_bytes_per_pixel(n_times) + 8 * n_times
    return max(1, min(budget_bytes // (per_pixel * cols), 10**9))


def blocks(rows: int, cols: int, block_rows: int) -> Iterator[tuple[int, int]]:
    for r0 in range(0, rows, block_rows):
        yield r0, min(rows, r0 + block_rows)


def core_on_raster(n_times: int, rows: int, cols: int, block_rows: int, years: np.ndarray) -> tuple[float, float]:
    """Process a rows x cols raster block by block; returns (wall, CPU) seconds spent in the core calls."""
    wall = cpu = 0.0
    for i, (r0, r1) in enumerate(blocks(rows, cols, block_rows)):
        x = nep_like(n_times, (r1 - r0) * cols, seed=1000 + i).reshape(n_times, r1 - r0, cols)
        w, c = timed(lambda x=x: trend.mann_kendall(x, years))
        wall += w
        cpu += c
    return wall, cpu


def pmk_loop(x: np.ndarray) -> dict[str, np.ndarray]:
    import pymannkendall as pmk

    out = {k: np.empty(x.shape[1]) for k in KEYS}
    names = {"tau": "Tau"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(x.shape[1]):
            r = pmk.original_test(x[:, i])
            for k in KEYS:
                out[k][i] = getattr(r, names.get(k, k))
    return out


def peak_memory(n_times: int, rows: int, cols: int, block_rows: int, years: np.ndarray) -> int:
    """tracemalloc peak (bytes) of the block loop over a rows x cols raster, block data included."""
    tracemalloc.start()
    for i, (r0, r1) in enumerate(blocks(rows, cols, block_rows)):
        x = nep_like(n_times, (r1 - r0) * cols, seed=1000 + i).reshape(n_times, r1 - r0, cols)
        trend.mann_kendall(x, years)
        del x
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


# ----------------------------------------------------------------------------------------------------------------
# the benchmark
# ----------------------------------------------------------------------------------------------------------------
def bench_years(n_times: int, args: argparse.Namespace) -> None:
    years = np.arange(2000, 2000 + n_times, dtype=float)
    rows = cols = args.size
    block_rows = engine_block_rows(n_times, cols, args.block_mb * 2**20)
    print(f"\nT = {n_times} years ({years[0]:.0f}-{years[-1]:.0f}), {n_times * (n_times - 1) // 2} pairs per pixel")
    print(
        f"  engine-sized blocks: {block_rows} rows x {cols} cols ({block_rows * cols:,} px), "
        f"scratch estimate {trend.scratch_bytes_per_pixel(n_times):,} B/px, budget {args.block_mb} MiB"
    )

    n_px = rows * cols
    w, c = core_on_raster(n_times, rows, cols, block_rows, years)
    core_w, core_c = w / n_px * 1e6, c / n_px * 1e6
    print(
        f"  {'core mann_kendall(original)+Sen, ' + str(rows) + 'x' + str(cols):<46s} {core_w:10.2f} s/Mpx wall "
        f"{core_c:10.2f} s/Mpx CPU  ({n_px:,} px, measured, not extrapolated)"
    )

    sample = nep_like(n_times, args.sample, seed=77)
    ref: dict[str, np.ndarray] = {}
    pmk_loop(sample[:, :5])  # warm-up: imports and first calls are not timed

    def run_ref() -> None:
        ref.update(pmk_loop(sample))

    pmk_w, pmk_c = time_per_million("pymannkendall.original_test loop (sample)", run_ref, args.sample)
    print(f"  ratio (pymannkendall / core): {pmk_w / core_w:7.1f}x wall   {pmk_c / core_c:7.1f}x CPU")
    if not args.no_algorithm:
        whole_algorithm(n_times, args.size, pmk_w)
    print(f"  core per pixel: {core_c:.2f} us CPU; pymannkendall per pixel: {pmk_c:.1f} us CPU")

    ours = trend.mann_kendall(sample, years=None)  # pymannkendall's time axis: positions 0..T-1
    ours_years = trend.mann_kendall(sample, years)
    exact = {k: bool(np.array_equal(ours[k], ref[k], equal_nan=True)) for k in KEYS}
    diffs = {k: float(np.nanmax(np.abs(ours[k] - ref[k]))) for k in KEYS}
    same_years = all(np.array_equal(ours[k], ours_years[k], equal_nan=True) for k in KEYS)
    print(
        "  identical on the sample: "
        + ", ".join(f"{k} {'exact' if exact[k] else f'max |diff| {diffs[k]:.1e}'}" for k in KEYS)
    )
    print(f"  results with years {years[0]:.0f}.. identical to those with positions 0..T-1: {same_years}")

    if not args.no_memory:
        small, big = args.size // 4, args.size // 2
        budget = args.block_mb * 2**20
        p_small = peak_memory(n_times, small, small, engine_block_rows(n_times, small, budget), years)
        p_big = peak_memory(n_times, big, big, engine_block_rows(n_times, big, budget), years)
        print(
            f"  peak traced memory, block by block: {small}x{small}: {p_small / 2**20:6.1f} MiB; "
            f"{big}x{big} (4x the pixels): {p_big / 2**20:6.1f} MiB"
        )


def whole_algorithm(n_times: int, size: int, pmk_wall: float) -> None:
    """trend_sen_mk through qgis_process (reading, engine blocks, threads, writing 4 GeoTIFFs + legend)."""
    import shutil
    import tempfile
    from pathlib import Path

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from common import make_stack, qgis_env, run_qgis

    folder = Path(tempfile.mkdtemp(prefix="bench_trend_"))
    env, work = qgis_env()
    try:
        stack = folder / "nep.tif"
        make_stack(stack, size, n_times, 250.0, seed=n_times, trend=3.0)
        tiny = folder / "tiny.tif"
        make_stack(tiny, 16, n_times, 250.0, seed=1)
        outputs = {k: folder / f"{k}.tif" for k in ("OUTPUT_SLOPE", "OUTPUT_Z", "OUTPUT_P", "OUTPUT_CLASS")}
        start_up, _ = run_qgis("trend_sen_mk", {"INPUT": tiny, **outputs}, env)
        n_px = size * size
        for threads in (1, 0):
            seconds, rss = run_qgis("trend_sen_mk", {"INPUT": stack, "THREADS": threads, **outputs}, env)
            per_m = (seconds - start_up) / n_px * 1e6
            label = f"whole algorithm, qgis_process, THREADS={threads or 'all'}"
            print(
                f"  {label:<46s} {per_m:10.2f} s/Mpx wall (run {seconds:.1f} s minus {start_up:.1f} s QGIS start-up), "
                f"peak RSS {rss:.0f} MB, {pmk_wall / per_m:.0f}x faster than the pymannkendall loop"
            )
    finally:
        shutil.rmtree(folder)
        shutil.rmtree(work)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=2000, help="raster rows = cols (default 2000)")
    ap.add_argument("--sample", type=int, default=2000, help="pixels for the pymannkendall loop (default 2000)")
    ap.add_argument("--block-mb", type=int, default=64, help="engine memory budget per block in MiB (default 64)")
    ap.add_argument("--years", type=int, nargs="+", default=[24, 40], help="series lengths (default 24 40)")
    ap.add_argument("--no-memory", action="store_true", help="skip the tracemalloc runs")
    ap.add_argument("--no-algorithm", action="store_true", help="skip the whole-algorithm runs (qgis_process)")
    args = ap.parse_args()
    print(f"numpy {np.__version__}; one thread; CPU time is process time (the machine may be shared)")
    for n_times in args.years:
        bench_years(n_times, args)
    for name, fn, n_pixels in EXTRA_TIMINGS:
        time_per_million(name, fn, n_pixels)


#: (name, callable, pixels processed by one call): add e.g. the whole ``trend_sen_mk`` algorithm run through the
#: engine on a sample raster here; each is timed once and printed in seconds per million pixels.
EXTRA_TIMINGS: list[tuple[str, Callable[[], object], int]] = []


if __name__ == "__main__":
    main()
