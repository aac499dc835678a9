"""Coefficient of variation and the three Hurst (R/S) variants: vectorised core vs a per-pixel Python loop.

For a (YEARS, PIXELS) float64 array of NEP-like series (level, trend, noise, 3 % all-nodata pixels, 1 % missing
years), passed to the core in contiguous blocks of BLOCK pixels as the engine does (default 65,536 = 256 x 256),
prints the seconds per million pixels of ``core.stability.coefficient_of_variation`` (default MIN_VALID = T, and
MIN_VALID = T - 2, which skips gaps) and of ``core.hurst`` (``prefix``,
``prefix_diff``, ``blocks_alp``), and of a per-pixel Python loop computing the same formula with numpy on one
series at a time (run on LOOP_PIXELS pixels and extrapolated), with the speed-up ratio (target: >= 50x). The
loop's results are checked against the vectorised ones on those pixels, so both compute the same thing.
Also times the natural breaks on a 20,000-value sample (core.stability.fisher_jenks vs jenkspy, if installed).

    .venv/bin/python bench/bench_stability.py [--years 24] [--pixels 262144] [--block 65536] [--loop-pixels 2000]
                                              [--repeat 3]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.hurst import anis_lloyd_peters, hurst
from core.stability import coefficient_of_variation, fisher_jenks


# ----------------------------------------------------------------------------------------------------------------
# Per-pixel loops: the formulas of METHODS.md, one series at a time (what a per-pixel script does)
# ----------------------------------------------------------------------------------------------------------------
def loop_cv(x: np.ndarray, min_valid: int | None = None) -> np.ndarray:
    min_valid = x.shape[0] if min_valid is None else min_valid
    out = np.full(x.shape[1], np.nan)
    for i in range(x.shape[1]):
        v = x[:, i]
        v = v[~np.isnan(v)]
        if v.size < min_valid:
            continue
        mean = v.mean()
        if abs(mean) < 1.0:
            continue
        out[i] = v.std(ddof=1) / abs(mean)
    return out


def _slope(u: list[float], v: list[float]) -> float:
    if len(u) < 3:
        return math.nan
    uu, vv = np.array(u), np.array(v)
    du = uu - uu.mean()
    return float((du * (vv - vv.mean())).sum() / (du * du).sum())


def _rs(w: np.ndarray, ddof: int) -> float | None:
    if w.max() == w.min():
        return None
    dev = w - w.mean()
    y = np.cumsum(dev)
    r = y.max() - y.min()
    s = math.sqrt(float((dev * dev).sum()) / (w.size - ddof))
    return r / s if r > 0 and s > 0 else None


def _prefix_one(v: np.ndarray) -> float:
    u, lv = [], []
    for tau in range(2, v.size + 1):
        rs = _rs(v[:tau], 0)
        if rs is not None:
            u.append(math.log(tau))
            lv.append(math.log(rs))
    return _slope(u, lv)


def _blocks_one(v: np.ndarray) -> float:
    n = v.size
    u, lv = [], []
    for w in range(4, n // 2 + 1):
        ratios = [_rs(v[k * w : (k + 1) * w], 1) for k in range(n // w)]
        ratios = [r for r in ratios if r is not None]
        if ratios:
            u.append(math.log(w))
            lv.append(math.log(sum(ratios) / len(ratios)) - math.log(anis_lloyd_peters(w)))
    return 0.5 + _slope(u, lv)


def loop_hurst(x: np.ndarray, method: str) -> np.ndarray:
    out = np.full(x.shape[1], np.nan)
    for i in range(x.shape[1]):
        v = x[:, i]
        if np.isnan(v).any():
            continue
        if method == "prefix":
            out[i] = _prefix_one(v)
        elif method == "prefix_diff":
            out[i] = _prefix_one(np.diff(v))
        else:
            out[i] = _blocks_one(v)
    return out


# ----------------------------------------------------------------------------------------------------------------
def make_block(rng: np.random.Generator, years: int, pixels: int) -> np.ndarray:
    level = rng.normal(200, 120, pixels)  # some carbon sources (negative means)
    trend = rng.normal(2, 3, pixels)
    x = level + trend * np.arange(years)[:, None] + rng.normal(0, 40, (years, pixels))
    x[:, rng.random(pixels) < 0.03] = np.nan
    x[rng.random(x.shape) < 0.01] = np.nan  # scattered missing years
    return x


def blockwise(func, blocks: list[np.ndarray]) -> None:
    for b in blocks:
        func(b)


def best_time(func, repeat: int, *args) -> float:
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        func(*args)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--years", type=int, default=24)
    ap.add_argument("--pixels", type=int, default=262_144)
    ap.add_argument("--block", type=int, default=65_536)
    ap.add_argument("--loop-pixels", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    x = make_block(rng, args.years, args.pixels)
    sub = x[:, : args.loop_pixels].copy()
    # contiguous (T, BLOCK) arrays, as the engine reads them
    blocks = [np.ascontiguousarray(x[:, i : i + args.block]) for i in range(0, args.pixels, args.block)]
    cases = [
        ("cv", lambda a: coefficient_of_variation(a)["cv"], loop_cv),
        (
            "cv, gappy, MIN_VALID",
            lambda a: coefficient_of_variation(a, min_valid=a.shape[0] - 2)["cv"],
            lambda a: loop_cv(a, a.shape[0] - 2),
        ),
        ("hurst prefix", lambda a: hurst(a, "prefix"), lambda a: loop_hurst(a, "prefix")),
        ("hurst prefix_diff", lambda a: hurst(a, "prefix_diff"), lambda a: loop_hurst(a, "prefix_diff")),
        ("hurst blocks_alp", lambda a: hurst(a, "blocks_alp"), lambda a: loop_hurst(a, "blocks_alp")),
    ]
    print(
        f"T = {args.years} years; vectorised on {args.pixels:,} pixels in float64 (T, {args.block:,}) blocks "
        f"(best of {args.repeat}); loop on {args.loop_pixels:,} pixels (extrapolated); "
        "3 % nodata pixels, 1 % missing values"
    )
    print(f"{'function':<24}{'vectorised s/Mpx':>18}{'loop s/Mpx':>14}{'ratio':>9}{'max |diff|':>13}")
    for name, vec, loop in cases:
        t_vec = best_time(blockwise, args.repeat, vec, blocks) / args.pixels * 1e6
        t0 = time.perf_counter()
        ref = loop(sub)
        t_loop = (time.perf_counter() - t0) / args.loop_pixels * 1e6
        got = vec(sub)
        if not np.array_equal(np.isnan(got), np.isnan(ref)):
            sys.exit(f"{name}: the loop and the vectorised code disagree on which pixels are nodata")
        ok = ~np.isnan(ref)
        diff = float(np.max(np.abs(got[ok] - ref[ok]))) if ok.any() else 0.0
        print(f"{name:<24}{t_vec:>18.3f}{t_loop:>14.1f}{t_loop / t_vec:>8.0f}x{diff:>13.1e}")

    sample = rng.lognormal(-1.6, 0.7, 20_000)
    t_ours = best_time(lambda: fisher_jenks(sample, 5), args.repeat)
    line = f"natural breaks, 20,000 values, 5 classes: core.stability.fisher_jenks {t_ours:.3f} s"
    try:
        import jenkspy

        t_j = best_time(lambda: jenkspy.jenks_breaks(sample, n_classes=5), 1)
        same = fisher_jenks(sample, 5)["upper_bounds"] == jenkspy.jenks_breaks(sample, n_classes=5)[1:-1]
        line += f", jenkspy {jenkspy.__version__} {t_j:.3f} s, same breaks: {same}"
    except ImportError:
        line += " (jenkspy not installed)"
    print(line)


if __name__ == "__main__":
    main()
