"""The resilience chain of seed 001 (core/resilience.py) on a SIZE x SIZE x YEARS annual NPP stack, block by block.

Per block of BLOCK_ROWS x SIZE pixels (as the engine passes them: float64, NaN for nodata), the chain is
growing-window OLS slopes for every evaluation year (one pass of running sums), signs, maintenance surfaces,
years kept per pixel and per-zone counts N+ / N-; the counts are merged over blocks and fitted at the end.
Prints the seconds of each stage, the peak traced memory of one block (tracemalloc) against the block's input, the
process's peak resident memory, and, on one block, the time of the naive alternative (a fresh least-squares fit
for every evaluation year) for comparison.

    .venv/bin/python bench/bench_resilience.py [--size 2000] [--years 38] [--block-rows 256] [--first-year 1981]
                                               [--reference 2000] [--zones 31]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.resilience import (
    count_partials,
    evaluation_years,
    growing_window_slopes,
    maintenance,
    merge_counts,
    resilience_block,
    resilience_tables,
    scratch_bytes_per_pixel,
    trend_signs,
    years_maintained,
)


def make_block(rng: np.random.Generator, years: int, rows: int, cols: int, row_off: int) -> np.ndarray:
    """Synthetic annual NPP: a smooth field, a per-pixel trend (mostly positive), noise, 3 % water, 2 % gaps."""
    r = (np.arange(row_off, row_off + rows) / 2000.0)[:, None]
    c = (np.arange(cols) / 2000.0)[None, :]
    base = 450 + 250 * np.sin(3 * c) * np.cos(2 * r)
    trend = 1.5 + 2.5 * np.sin(5 * r + 4 * c) + rng.normal(0, 1.0, (rows, cols))
    t = np.arange(years, dtype=np.float64)[:, None, None]
    x = base[None] + trend[None] * t + rng.normal(0, 40, (years, rows, cols))
    x[:, rng.random((rows, cols)) < 0.03] = np.nan
    x[rng.random(x.shape) < 0.02] = np.nan
    return x


def zones_of(rows: int, cols: int, row_off: int, n_zones: int) -> np.ndarray:
    r = np.arange(row_off, row_off + rows)[:, None]
    c = np.arange(cols)[None, :]
    z = ((r // 100) * 7 + c // 130) % (n_zones + 1) - 1  # -1: outside every zone
    return z.astype(np.int32)


def naive_slopes(x: np.ndarray, years: np.ndarray, ev: np.ndarray) -> np.ndarray:
    """The alternative: one vectorised least-squares fit per evaluation year over its whole window."""
    out = np.empty((ev.size,) + x.shape[1:])
    with np.errstate(invalid="ignore", divide="ignore"):
        for j, te in enumerate(ev):
            w = x[years <= te]
            ok = ~np.isnan(w)
            u = (years[years <= te] - years[0]).astype(float)[:, None, None]
            n = ok.sum(0)
            xs = np.where(ok, w, 0.0)
            su, sx = (u * ok).sum(0), xs.sum(0)
            out[j] = (n * (u * xs).sum(0) - su * sx) / (n * (u * u * ok).sum(0) - su * su)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=2000)
    ap.add_argument("--years", type=int, default=38)
    ap.add_argument("--block-rows", type=int, default=256)
    ap.add_argument("--first-year", type=int, default=1981)
    ap.add_argument("--reference", type=int, default=2000)
    ap.add_argument("--zones", type=int, default=31)
    args = ap.parse_args()

    size, n_years, br = args.size, args.years, args.block_rows
    years = np.arange(args.first_year, args.first_year + n_years)
    ev = evaluation_years(years, args.reference)
    rng = np.random.default_rng(20230926)
    print(
        f"resilience chain: {size} x {size} pixels x {n_years} years ({years[0]}-{years[-1]}), reference "
        f"{args.reference} ({ev.size} evaluation years), blocks of {br} x {size}, {args.zones} zones; "
        f"numpy {np.__version__}"
    )

    keys = ("generate (not counted)", "slopes", "signs+maintenance", "years kept", "counts")
    wall = dict.fromkeys(keys, 0.0)
    cpu = dict.fromkeys(keys, 0.0)

    def clock() -> tuple[float, float]:
        return time.perf_counter(), time.process_time()

    merged = None
    for row_off in range(0, size, br):
        rows = min(br, size - row_off)
        marks = [clock()]
        x = make_block(rng, n_years, rows, size, row_off)
        z = zones_of(rows, size, row_off, args.zones)
        marks.append(clock())
        k = growing_window_slopes(x, years, ev)
        marks.append(clock())
        m = maintenance(trend_signs(k))
        marks.append(clock())
        pos, neg = years_maintained(m, np.isfinite(k[0]))
        marks.append(clock())
        merged = merge_counts(merged, count_partials(m, z, args.zones))
        marks.append(clock())
        for key, a, b in zip(keys, marks, marks[1:]):
            wall[key] += b[0] - a[0]
            cpu[key] += b[1] - a[1]
        del x, k, m, pos, neg
    chain = sum(wall[key] for key in keys[1:])
    chain_cpu = sum(cpu[key] for key in keys[1:])
    t0 = time.perf_counter()
    names = [f"zone{i}" for i in range(args.zones)]
    _, fits = resilience_tables(merged, ev, names, fix_lambda=False)
    t_fit = time.perf_counter() - t0
    print(f"  {'stage':24s} {'wall s':>7s} {'CPU s':>7s}   (CPU = this process only; the machine may be shared)")
    for key in keys:
        print(f"  {key:24s} {wall[key]:7.2f} {cpu[key]:7.2f}")
    n_pix = size * size
    print(
        f"  {'chain total':24s} {chain:7.2f} {chain_cpu:7.2f}   "
        f"({n_pix * n_years / chain / 1e6:.1f} M pixel-years per wall second, 1 thread)"
    )
    print(f"  fits ({args.zones + 1} zones x 2)       {t_fit:7.2f} s")
    a = fits[0]
    print(
        f"  whole raster: N+(t') = {merged['n_positive'][0, 0]}, N-(t') = {merged['n_negative'][0, 0]}, "
        f"tau+ = {a['tau_positive']:.2f}, tau- = {a['tau_negative']:.2f}, RS = {a['rs']:.2f} ({a['level']})"
    )

    # peak traced memory of one block through resilience_block (input block allocated before tracing)
    x = make_block(rng, n_years, min(br, size), size, 0)
    z = zones_of(min(br, size), size, 0, args.zones)
    tracemalloc.start()
    resilience_block(x, years, ev, z, args.zones)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    px = x.shape[1] * x.shape[2]
    print(
        f"  one block ({px} pixels): input {x.nbytes / 2**20:.0f} MB float64; chain peak traced {peak / 2**20:.0f} MB"
        f" = {peak / px:.0f} B/pixel (scratch_bytes_per_pixel({ev.size}) = {scratch_bytes_per_pixel(ev.size)})"
    )
    print(f"  process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")

    t0 = time.perf_counter()
    k1 = growing_window_slopes(x, years, ev)
    t_one = time.perf_counter() - t0
    t0 = time.perf_counter()
    k2 = naive_slopes(x, years, ev)
    t_naive = time.perf_counter() - t0
    diff = float(np.nanmax(np.abs(k1 - k2)))
    print(
        f"  one block, slopes: running sums {t_one:.2f} s vs a refit per evaluation year {t_naive:.2f} s "
        f"({t_naive / t_one:.1f}x); max |difference| {diff:.2e} g C m-2 yr-2"
    )


if __name__ == "__main__":
    main()
