"""Benchmark of core.drivers: seconds per million pixels against a pingouin.partial_corr loop.

Times the vectorised partial correlation (Pearson and Spearman) and the attribution on blocks of 256 x 256
pixels (what the engine passes) covering ``--pixels`` pixels with ``--times`` years and ``--factors`` factors,
and a per-pixel ``pingouin.partial_corr`` loop (one call per factor, as a user script would do) on a random
sample of ``--sample`` pixels, extrapolated to a million pixels. Also checks that both agree on the sample.

Run from the plugin folder: ``.venv/bin/python -m bench.bench_drivers`` (defaults: 1,000,000 pixels, 24 years,
3 factors, 200 sampled pixels). The issue's target is a ratio of at least 200x.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from core import drivers


def make_block(rng: np.random.Generator, n_pix: int, n_times: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Target (T, N) depending on k correlated factors (k, T, N), plus noise."""
    f = rng.normal(size=(k, n_times, n_pix))
    f[1:] += 0.5 * f[:1]
    coef = rng.normal(size=(k, 1, n_pix))
    y = (coef * f).sum(axis=0) + rng.normal(size=(n_times, n_pix)) + 0.1 * np.arange(n_times)[:, None]
    return y, f


def time_vectorised(n_pixels: int, n_times: int, k: int, block: int, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    years = np.arange(2000, 2000 + n_times)
    totals = {"pearson": 0.0, "spearman": 0.0, "attribution": 0.0}
    done = 0
    while done < n_pixels:
        n = min(block, n_pixels - done)
        y, f = make_block(rng, n, n_times, k)
        for name in totals:
            t0 = time.perf_counter()
            if name == "attribution":
                drivers.attribution(y, f, years)
            else:
                drivers.partial_correlation(y, f, method=name)
            totals[name] += time.perf_counter() - t0
        done += n
    return {name: sec * 1e6 / n_pixels for name, sec in totals.items()}


def time_pingouin(n_sample: int, n_times: int, k: int, seed: int) -> dict[str, float]:
    import pandas as pd
    import pingouin as pg

    rng = np.random.default_rng(seed + 1)
    y, f = make_block(rng, n_sample, n_times, k)
    out = {}
    for method in ("pearson", "spearman"):
        r_ref = np.empty((k, n_sample))
        t0 = time.perf_counter()
        for i in range(n_sample):
            df = pd.DataFrame({"y": y[:, i], **{f"f{j}": f[j, :, i] for j in range(k)}})
            for j in range(k):
                covar = [f"f{c}" for c in range(k) if c != j]
                if covar:
                    res = pg.partial_corr(data=df, x=f"f{j}", y="y", covar=covar, method=method)
                else:
                    res = pg.corr(df["y"], df[f"f{j}"], method=method)
                r_ref[j, i] = res["r"].iloc[0]
        sec = time.perf_counter() - t0
        ours = drivers.partial_correlation(y, f, method=method)["r"]
        out[method] = sec * 1e6 / n_sample
        out[method + "_max_abs_diff"] = float(np.nanmax(np.abs(ours - r_ref)))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pixels", type=int, default=1_000_000)
    ap.add_argument("--times", type=int, default=24)
    ap.add_argument("--factors", type=int, default=3)
    ap.add_argument("--sample", type=int, default=200, help="pixels for the pingouin loop")
    ap.add_argument("--block", type=int, default=256 * 256, help="pixels per block")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)

    print(f"numpy {np.__version__}; T = {a.times} years, k = {a.factors} factors, blocks of {a.block} pixels")
    vec = time_vectorised(a.pixels, a.times, a.factors, a.block, a.seed)
    print(f"vectorised over {a.pixels:,} pixels (seconds per million pixels):")
    for name, s in vec.items():
        print(f"  {name:<12} {s:10.2f} s/Mpx")
    try:
        ref = time_pingouin(a.sample, a.times, a.factors, a.seed)
    except ImportError:
        print("pingouin is not installed: no reference timing")
        return
    print(f"pingouin.partial_corr loop on {a.sample} pixels, extrapolated (seconds per million pixels):")
    for method in ("pearson", "spearman"):
        ratio = ref[method] / vec[method]
        verdict = "meets" if ratio >= 200 else "BELOW"
        print(
            f"  {method:<12} {ref[method]:10.0f} s/Mpx  -> ratio {ratio:8.0f}x ({verdict} the 200x target); "
            f"max |r diff| on the sample {ref[method + '_max_abs_diff']:.1e}"
        )


if __name__ == "__main__":
    main()
