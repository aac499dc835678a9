"""Tests of core.trend: Sen slope, Mann-Kendall (five variants), least squares, class schemes.

Oracles:
- pymannkendall 1.4.3 (the reference METHODS.md names) on 10,000 random pixels for the original test and on
  3,000 pixels for each of the four slower variants (its per-pixel Python loops take ~1 ms a pixel; 3,000 keeps
  the module within its time budget on two busy cores);
- a plain per-series reference written in this file from METHODS.md and the documented rules of
  ``mann_kendall`` (loops, ``scipy.stats.rankdata``), checked itself against pymannkendall, for pixels with
  interior missing years, where the core keeps real year values and pymannkendall does not;
- scipy.stats.linregress for least squares, scipy.stats.kendalltau and scipy.stats.theilslopes as second checks.

Documented differences from pymannkendall, each asserted where it occurs:
- Hamed-Rao / Yue-Wang pixels whose variance factor is not a positive number (pymannkendall: NaN or negative
  variance, NaN p): the core uses the uncorrected variance (``var_fallback``), i.e. the original test's Z and p.
- Pre-whitening pixels whose lag-1 autocorrelation is undefined (constant or perfectly linear series):
  r1 = 0 (no whitening); pymannkendall NaN-fills the whitened series.
- Pre-whitening pixels whose whitened series has two values equal to within rounding: whether they count as a
  tie depends on the last bit of r1 (pymannkendall computes it with BLAS), so S may differ by the number of such
  near-tied pairs; these pixels must be rare.
- Pixels with interior missing years in the variants (detrending uses real years): compared with the reference.
"""

from __future__ import annotations

import math
import tracemalloc
import warnings

import numpy as np
import pymannkendall as pmk
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from core import trend
from core.classes import CLASS_NODATA
from core.errors import InputError

T = 24
YEARS = np.arange(2000, 2000 + T, dtype=float)
VARIANT_FUNCS = {
    "original": pmk.original_test,
    "hamed_rao": pmk.hamed_rao_modification_test,
    "yue_wang": pmk.yue_wang_modification_test,
    "prewhitening": pmk.pre_whitening_modification_test,
    "trend_free_prewhitening": pmk.trend_free_pre_whitening_modification_test,
}
KEYS = ("s", "var_s", "z", "p", "tau", "slope", "intercept")
PMK_KEYS = {"s": "s", "var_s": "var_s", "z": "z", "p": "p", "tau": "Tau", "slope": "slope", "intercept": "intercept"}
RTOL = 1e-9
ATOL = 1e-12


# --------------------------------------------------------------------------------------------------------------
# random pixels of every kind
# --------------------------------------------------------------------------------------------------------------
CATEGORIES = (
    ("ar1", 0.26),  # continuous AR(1) noise + trend (autocorrelation for the variants)
    ("int", 0.22),  # integers 0..3: heavy ties
    ("int_wide", 0.06),  # integers 0..20 with a trend
    ("lead_trail", 0.10),  # continuous, missing years only at the start / end (valid years consecutive)
    ("gaps", 0.16),  # 1..6 missing years inside the series, continuous or integer
    ("constant", 0.04),
    ("short", 0.08),  # 2 or 3 valid years
    ("all_nan", 0.03),
    ("linear", 0.05),  # exactly linear integer series
)


def make_pixels(n_pixels: int, seed: int, n_times: int = T) -> tuple[np.ndarray, np.ndarray]:
    """(T, N) values and the category name of each pixel."""
    rng = np.random.default_rng(seed)
    names = np.array([c for c, _ in CATEGORIES])
    probs = np.array([p for _, p in CATEGORIES])
    cat = rng.choice(names, size=n_pixels, p=probs / probs.sum())
    x = np.empty((n_times, n_pixels))
    k = np.arange(n_times)[:, None]
    for name in names:
        idx = np.flatnonzero(cat == name)
        m = idx.size
        if m == 0:
            continue
        if name in ("ar1", "lead_trail", "gaps"):
            phi = rng.uniform(-0.7, 0.9, m)
            e = rng.normal(size=(n_times, m))
            v = np.empty_like(e)
            v[0] = e[0]
            for t in range(1, n_times):
                v[t] = phi * v[t - 1] + e[t]
            v = v * rng.uniform(0.1, 50, m) + rng.normal(0, 1, m) * k * rng.choice([0, 0.2, 2], m)
            if name == "gaps":
                ints = rng.random(m) < 0.4
                v[:, ints] = rng.integers(0, 4, size=(n_times, ints.sum()))
        elif name == "int":
            v = rng.integers(0, 4, size=(n_times, m)).astype(float)
        elif name == "int_wide":
            v = rng.integers(0, 21, size=(n_times, m)) + (k * rng.integers(0, 2, m)) // 3
            v = v.astype(float)
        elif name == "constant":
            v = np.broadcast_to(rng.normal(0, 100, m), (n_times, m)).copy()
        elif name == "linear":
            v = rng.integers(-50, 50, m) + k * rng.integers(-5, 6, m)
            v = v.astype(float)
        elif name == "short":
            v = rng.normal(size=(n_times, m))
            keep = rng.integers(2, 4, m)
            for j in range(m):
                drop = rng.permutation(n_times)[keep[j] :]
                v[drop, j] = np.nan
        else:  # all_nan
            v = np.full((n_times, m), np.nan)
        if name == "lead_trail":
            lead = rng.integers(0, 5, m)
            trail = rng.integers(0, 5, m)
            v[k < lead] = np.nan
            v[k >= n_times - trail] = np.nan
        if name == "gaps":
            for j in range(m):
                holes = rng.choice(np.arange(1, n_times - 1), size=rng.integers(1, 7), replace=False)
                v[holes, j] = np.nan
        x[:, idx] = v
    return x, cat


def has_interior_gap(col: np.ndarray) -> bool:
    ok = np.flatnonzero(~np.isnan(col))
    return ok.size > 0 and ok[-1] - ok[0] + 1 != ok.size


def run_pmk(x: np.ndarray, test: str, cols: np.ndarray, alpha: float = 0.05) -> dict[str, np.ndarray]:
    """pymannkendall per pixel (NaN where it raises: fewer than 2 valid values)."""
    func = VARIANT_FUNCS[test]
    out = {k: np.full(cols.size, np.nan) for k in KEYS}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, c in enumerate(cols):
            try:
                r = func(x[:, c], alpha=alpha)
            except (ZeroDivisionError, IndexError, ValueError):
                continue
            for k in KEYS:
                out[k][i] = float(getattr(r, PMK_KEYS[k]))
    return out


def assert_close(a: np.ndarray, b: np.ndarray, what: str) -> None:
    bad = ~np.isclose(a, b, rtol=RTOL, atol=ATOL, equal_nan=True)
    assert not bad.any(), f"{what}: {bad.sum()} mismatches, e.g. ours {a[bad][:3]} vs reference {b[bad][:3]}"


# --------------------------------------------------------------------------------------------------------------
# the per-series reference (loops), written from METHODS.md and mann_kendall's documented rules
# --------------------------------------------------------------------------------------------------------------
def _ref_s_var(w: np.ndarray) -> tuple[float, float, int]:
    m = w.size
    s = 0.0
    for j in range(m):
        for i in range(j):
            s += np.sign(w[j] - w[i])
    _, counts = np.unique(w, return_counts=True)
    var = (m * (m - 1) * (2 * m + 5) - sum(c * (c - 1) * (2 * c + 5) for c in counts)) / 18.0
    return s, var, m


def _ref_acf(y: np.ndarray, k: int) -> float:
    if np.ptp(y) == 0:  # constant: no autocorrelation (exact test, not through the rounded mean)
        return math.nan
    yc = y - y.mean()
    m = y.size
    c0 = float(np.sum(yc * yc)) / m
    ck = float(sum(yc[i] * yc[i + k] for i in range(m - k))) / m
    return ck / c0 if c0 > 0 else math.nan


def ref_mk(x: np.ndarray, years: np.ndarray, test: str, alpha: float = 0.05, lag: int | None = None) -> dict:
    t = np.asarray(years, dtype=float)
    ok = ~np.isnan(x)
    v, tv = x[ok], t[ok]
    n = v.size
    slopes = [(v[j] - v[i]) / (tv[j] - tv[i]) for j in range(n) for i in range(j)]
    slope = float(np.median(slopes))
    intercept = float(np.median(v) - np.median(tv - t[0]) * slope)
    u = tv - tv[0] + 1.0
    factor, fallback = 1.0, False
    if test in ("original", "hamed_rao", "yue_wang"):
        s, var, m = _ref_s_var(v)
        if test != "original":
            d = v - u * slope
            lags = range(1, (n - 1 if lag is None else min(lag, n - 1)) + 1)
            if test == "hamed_rao":
                ranks = stats.rankdata(d)
                bound = stats.norm.ppf(1 - alpha / 2) / math.sqrt(n)
                rho = [_ref_acf(ranks, k) for k in lags]
                sni = sum((n - k) * (n - k - 1) * (n - k - 2) * r for k, r in zip(lags, rho) if abs(r) > bound)
                fac = 1 + 2 / (n * (n - 1) * (n - 2)) * sni if n > 2 else math.nan
                undefined = np.ptp(ranks) == 0
            else:
                fac = 1 + 2 * sum((1 - k / n) * _ref_acf(d, k) for k in lags)
                undefined = np.ptp(d) == 0
            if undefined or not (math.isfinite(fac) and fac > 0):
                fallback = True
            else:
                factor = fac
            var = var * factor
    else:
        y = v if test == "prewhitening" else v - u * slope
        r1 = _ref_acf(y, 1)
        if not math.isfinite(r1):
            r1, fallback = 0.0, True
        w = y[1:] - y[:-1] * r1
        if test == "trend_free_prewhitening":
            w = w + (u[1:] - 1.0) * slope
        s, var, m = _ref_s_var(w)
    z = 0.0 if s == 0 else (s - math.copysign(1.0, s)) / math.sqrt(var)
    p = 2 * (1 - stats.norm.cdf(abs(z)))
    return {
        "s": s, "var_s": var, "z": z, "p": p, "tau": s / (0.5 * m * (m - 1)), "slope": slope,
        "intercept": intercept, "var_fallback": fallback, "var_factor": factor,
    }  # fmt: skip


def run_ref(x: np.ndarray, years: np.ndarray, test: str, cols: np.ndarray, **kw) -> dict[str, np.ndarray]:
    out = {k: np.full(cols.size, np.nan) for k in (*KEYS, "var_fallback")}
    for i, c in enumerate(cols):
        r = ref_mk(x[:, c], years, test, **kw)
        for k in out:
            out[k][i] = r[k]
    return out


def near_tie_pairs(w: np.ndarray) -> int:
    """Pairs of the whitened series equal to within rounding (1e-9 relative), exact ties included."""
    w = w[~np.isnan(w)]
    if w.size < 2:
        return 0
    diff = np.abs(w[:, None] - w[None, :])
    tol = 1e-9 * (1.0 + np.max(np.abs(w)))
    return int((np.triu(diff <= tol, 1)).sum())


def pmk_whitened(col: np.ndarray, test: str) -> np.ndarray:
    """pymannkendall's own whitened series (its private __acf), to find rounding-sensitive ties."""
    acf = getattr(pmk.pymannkendall, "__acf")
    x = col[~np.isnan(col)]
    n = x.size
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if test == "prewhitening":
            return x[1:] - x[:-1] * acf(x, nlags=1)[1]
        slope = pmk.sens_slope(col).slope
        d = x - np.arange(1, n + 1) * slope
        return d[1:] - d[:-1] * acf(d, nlags=1)[1] + np.arange(1, n) * slope


# --------------------------------------------------------------------------------------------------------------
# module-scope data (computed once)
# --------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def big():
    x, cat = make_pixels(10_000, seed=2024)
    return x, cat


@pytest.fixture(scope="module")
def small():
    x, cat = make_pixels(3_000, seed=7)
    return x, cat


def test_generator_covers_every_category(big):
    x, cat = big
    n = np.count_nonzero(~np.isnan(x), axis=0)
    assert x.shape == (T, 10_000)
    for name, _ in CATEGORIES:
        assert (cat == name).sum() > 100, name
    assert (n == 0).sum() > 100 and (n == 2).sum() > 100 and (n == 3).sum() > 100
    tied = [np.unique(x[:, c][~np.isnan(x[:, c])]).size < n[c] for c in range(x.shape[1])]
    assert np.mean(tied) > 0.3


# --------------------------------------------------------------------------------------------------------------
# original test: pymannkendall on 10,000 pixels
# --------------------------------------------------------------------------------------------------------------
def test_original_matches_pymannkendall_on_10000_pixels(big):
    x, cat = big
    n = np.count_nonzero(~np.isnan(x), axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = trend.mann_kendall(x, YEARS)
    cols = np.arange(x.shape[1])
    ref = run_pmk(x, "original", cols)
    use = n >= 3
    for k in KEYS:
        assert_close(ours[k][use], ref[k][use], f"original {k}")
    # default min_valid = 3: fewer valid years give NaN everywhere, n is still reported
    for k in (*KEYS, "trend_sign"):
        assert np.isnan(ours[k][~use]).all(), k
    np.testing.assert_array_equal(ours["n"], n)
    # pymannkendall's decision h / trend
    sign = np.where(ref["z"] > 0, 1.0, -1.0) * (np.abs(ref["z"]) > stats.norm.ppf(0.975))
    np.testing.assert_array_equal(ours["trend_sign"][use], sign[use])
    assert (ours["var_factor"][use] == 1).all() and not ours["var_fallback"].any()


def test_original_min_valid_2_matches_pymannkendall_for_two_values(big):
    x, _ = big
    n = np.count_nonzero(~np.isnan(x), axis=0)
    cols = np.flatnonzero(n == 2)
    ours = trend.mann_kendall(x[:, cols], YEARS, min_valid=2)
    ref = run_pmk(x, "original", cols)
    for k in KEYS:
        assert_close(ours[k], ref[k], f"n = 2 {k}")
    assert (ours["z"] == 0).all() and (ours["p"] == 1).all()


def test_constant_series_as_pymannkendall(big):
    x, cat = big
    cols = np.flatnonzero(cat == "constant")
    ours = trend.mann_kendall(x[:, cols], YEARS)
    assert (ours["s"] == 0).all() and (ours["var_s"] == 0).all()
    assert (ours["z"] == 0).all() and (ours["p"] == 1).all() and (ours["slope"] == 0).all()
    np.testing.assert_array_equal(ours["intercept"], x[0, cols])


# --------------------------------------------------------------------------------------------------------------
# the variants: pymannkendall where its semantics apply, the reference elsewhere
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("test", ["hamed_rao", "yue_wang", "prewhitening", "trend_free_prewhitening"])
def test_variant_matches_pymannkendall(small, test):
    x, cat = small
    n = np.count_nonzero(~np.isnan(x), axis=0)
    consecutive = np.array([not has_interior_gap(x[:, c]) for c in range(x.shape[1])])
    cols = np.flatnonzero((n >= 3) & consecutive)
    assert cols.size > 2000
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours_all = trend.mann_kendall(x, YEARS, test=test)
    ours = {k: v[cols] for k, v in ours_all.items()}
    orig = {k: v[cols] for k, v in trend.mann_kendall(x, YEARS).items()}
    ref = run_pmk(x, test, cols)
    for k in ("slope", "intercept"):
        assert_close(ours[k], ref[k], f"{test} {k}")

    if test in ("hamed_rao", "yue_wang"):
        # documented: factor not a positive number -> uncorrected variance (pymannkendall: NaN / negative var_s)
        expected_fallback = ~(ref["var_s"] > 0)
        np.testing.assert_array_equal(ours["var_fallback"], expected_fallback)
        fb = expected_fallback
        assert fb.sum() > 0
        for k in ("s", "var_s", "z", "p", "tau"):
            np.testing.assert_array_equal(ours[k][fb], orig[k][fb])
        # where pymannkendall's p is NaN although S != 0, ours is a number
        assert np.isfinite(ours["p"][fb]).all()
        if test == "hamed_rao":
            assert (np.isnan(ref["p"][fb]) & (ref["s"][fb] != 0)).sum() > 10  # its issue 29 is exercised
        ok = ~fb
        for k in ("s", "var_s", "z", "p", "tau"):
            assert_close(ours[k][ok], ref[k][ok], f"{test} {k}")
        assert (ours["var_factor"][ok] > 0).all()
        np.testing.assert_allclose(ours["var_factor"][ok] * orig["var_s"][ok], ref["var_s"][ok], rtol=1e-9, atol=1e-12)
        return

    # pre-whitening: r1 undefined (constant / perfectly linear) -> r1 = 0
    undef = ours["var_fallback"]
    cats = cat[cols]
    assert set(np.unique(cats[undef])) <= {"constant", "linear", "int", "int_wide"}
    assert undef[cats == "constant"].all()
    sub = x[:, cols[undef]]
    # with r1 = 0 the whitened series is x[1:] (minus a constant): the original test of the valid values but the first
    first = np.argmax(~np.isnan(sub), axis=0)
    shifted = sub.copy()
    shifted[first, np.arange(sub.shape[1])] = np.nan
    o1 = trend.mann_kendall(shifted, YEARS, min_valid=2)
    for k in ("s", "var_s", "z", "p", "tau"):
        np.testing.assert_allclose(ours[k][undef], o1[k], rtol=1e-12, atol=1e-12, err_msg=k)
    # where pymannkendall NaN-fills, it reports S = 0, Z = 0, p = 1; ours agrees on constant pixels
    const = undef & (cats == "constant")
    assert (ours["z"][const] == 0).all() and (ref["z"][const] == 0).all() and (ours["p"][const] == 1).all()

    ok = ~undef
    mism = ok & ~np.all([np.isclose(ours[k], ref[k], rtol=RTOL, atol=ATOL) for k in ("s", "var_s", "z", "p")], axis=0)
    # every mismatch is a pixel whose whitened series has values equal to within rounding, and S moves by at most
    # 2 per such pair (a tie in one and ordered in the other: 1; ordered both ways: 2)
    for i in np.flatnonzero(mism):
        pairs = near_tie_pairs(pmk_whitened(x[:, cols[i]], test))
        assert pairs > 0, f"{test}: pixel {cols[i]} differs from pymannkendall without a near tie"
        assert abs(ours["s"][i] - ref["s"][i]) <= 2 * pairs
    assert mism.sum() <= 0.01 * ok.sum(), f"{test}: {mism.sum()} rounding-tie pixels"
    good = ok & ~mism
    for k in ("s", "var_s", "z", "p", "tau"):
        assert_close(ours[k][good], ref[k][good], f"{test} {k}")


@pytest.mark.parametrize("test", trend.TESTS)
def test_reference_agrees_with_pymannkendall(small, test):
    """The loop reference used for gapped pixels reproduces pymannkendall where its semantics apply."""
    x, cat = small
    n = np.count_nonzero(~np.isnan(x), axis=0)
    consecutive = np.array([not has_interior_gap(x[:, c]) for c in range(x.shape[1])])
    # ties only where the whitened series cannot have rounding-sensitive ties (see the module docstring)
    kinds = ["ar1", "lead_trail"] if "prewhitening" in test else ["ar1", "lead_trail", "int_wide"]
    cols = np.flatnonzero((n >= 4) & consecutive & np.isin(cat, kinds))[:150]
    ref = run_ref(x, YEARS, test, cols)
    p = run_pmk(x, test, cols)
    ok = ~ref["var_fallback"].astype(bool)
    assert ok.sum() > 100
    for k in KEYS:
        np.testing.assert_allclose(ref[k][ok], p[k][ok], rtol=1e-8, atol=1e-10, err_msg=f"{test} {k}")


@pytest.mark.parametrize("test", trend.TESTS)
def test_gapped_pixels_match_reference(small, test):
    """Interior missing years: real year values (the reference), for every variant."""
    x, cat = small
    n = np.count_nonzero(~np.isnan(x), axis=0)
    gapped = np.array([has_interior_gap(x[:, c]) for c in range(x.shape[1])])
    cols = np.flatnonzero(gapped & (n >= 4))[:300]
    assert cols.size >= 250
    ours = {k: v[cols] for k, v in trend.mann_kendall(x, YEARS, test=test).items()}
    ref = run_ref(x, YEARS, test, cols)
    np.testing.assert_array_equal(ours["var_fallback"], ref["var_fallback"].astype(bool))
    same = np.all([np.isclose(ours[k], ref[k], rtol=RTOL, atol=ATOL) for k in KEYS], axis=0)
    for i in np.flatnonzero(~same):
        assert test in ("prewhitening", "trend_free_prewhitening"), f"{test}: pixel {cols[i]} differs"
        col = x[:, cols[i]]
        v = col[~np.isnan(col)]
        # rounding-sensitive ties in the whitened series (see the module docstring)
        r = ref_mk(col, YEARS, test)
        u = YEARS[~np.isnan(col)] - YEARS[~np.isnan(col)][0] + 1
        y = v if test == "prewhitening" else v - u * r["slope"]
        w = y[1:] - y[:-1] * _ref_acf(y, 1)
        if test == "trend_free_prewhitening":
            w = w + (u[1:] - 1.0) * r["slope"]
        # each such pair moves S by at most 2 (tie vs ordered: 1; ordered one way vs the other: 2)
        assert near_tie_pairs(w) > 0 and abs(ours["s"][i] - ref["s"][i]) <= 2 * near_tie_pairs(w)
    assert (~same).sum() <= 3


def test_variants_differ_from_pymannkendall_only_through_real_years():
    """With interior gaps pymannkendall detrends by position in the compressed list; with years given as
    positions of a gap-free series both agree (a check that the gap rule is the only difference)."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(T, 200)) + 0.1 * np.arange(T)[:, None]
    for test in ("hamed_rao", "yue_wang", "trend_free_prewhitening"):
        ours = trend.mann_kendall(x, YEARS, test=test)
        ref = run_pmk(x, test, np.arange(200))
        ok = ~ours["var_fallback"]
        assert_close(ours["p"][ok], ref["p"][ok], test)


def test_hamed_rao_negative_variance_falls_back_to_original():
    # pymannkendall 1.4.3 gives var_s = -0.672 and p = NaN for this series (its issue 29)
    x = np.array([7.0, 2.0, 8.0, 0.0, 9.0, 0.0, 8.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = pmk.hamed_rao_modification_test(x)
        o = pmk.original_test(x)
    assert r.var_s < 0 and math.isnan(r.p)
    ours = trend.mann_kendall(x, test="hamed_rao")
    assert bool(ours["var_fallback"])
    assert ours["var_factor"] == 1.0
    assert ours["s"] == o.s == 1.0
    assert ours["var_s"] == pytest.approx(o.var_s) and ours["p"] == pytest.approx(o.p)
    # S = 1 over 7 values with ties {0, 0} and {8, 8}: Var = (7*6*19 - 2*(2*1*9)) / 18 = (798 - 36) / 18 = 42.333
    assert ours["var_s"] == pytest.approx(762 / 18)
    assert ours["z"] == 0.0 and ours["p"] == 1.0


def test_perfect_line_variants_are_sound():
    # x = k: pymannkendall returns NaN p (Hamed-Rao, Yue-Wang) or p = 1 (trend-free pre-whitening) for a
    # perfect trend; the core falls back to the original test / no whitening.
    x = np.arange(10, dtype=float)
    orig = trend.mann_kendall(x)
    for test in ("hamed_rao", "yue_wang"):
        r = trend.mann_kendall(x, test=test)
        assert r["var_fallback"] and r["p"] == orig["p"] and r["p"] < 1e-4
    r = trend.mann_kendall(x, test="trend_free_prewhitening")
    # whitened series x[1:] (9 values, all increasing): S = 36, Var = 9*8*23/18 = 92, Z = 35/sqrt(92)
    assert r["var_fallback"] and r["s"] == 36 and r["var_s"] == pytest.approx(92.0)
    assert r["z"] == pytest.approx(35 / math.sqrt(92))


def test_lag_argument_as_pymannkendall():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(20, 300)) + 0.05 * np.arange(20)[:, None]
    for test, func in (("hamed_rao", pmk.hamed_rao_modification_test), ("yue_wang", pmk.yue_wang_modification_test)):
        for lag in (1, 3):
            ours = trend.mann_kendall(x, test=test, lag=lag)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ref = [func(x[:, i], lag=lag) for i in range(300)]
            refvar = np.array([r.var_s for r in ref])
            ok = refvar > 0
            assert ok.sum() > 250
            assert_close(ours["var_s"][ok], refvar[ok], f"{test} lag {lag}")
            assert_close(ours["p"][ok], np.array([r.p for r in ref])[ok], f"{test} lag {lag}")


def test_hamed_rao_depends_on_alpha_as_pymannkendall():
    rng = np.random.default_rng(12)
    x = rng.normal(size=(24, 300)).cumsum(axis=0)
    for alpha in (0.01, 0.1):
        ours = trend.mann_kendall(x, test="hamed_rao", alpha=alpha)
        ref = run_pmk(x, "hamed_rao", np.arange(300), alpha=alpha)
        ok = ~ours["var_fallback"]
        assert_close(ours["var_s"][ok], ref["var_s"][ok], f"alpha {alpha}")
        sign = np.where(ref["z"] > 0, 1.0, -1.0) * (np.abs(ref["z"]) > stats.norm.ppf(1 - alpha / 2))
        np.testing.assert_array_equal(ours["trend_sign"][ok], sign[ok])


# --------------------------------------------------------------------------------------------------------------
# Sen slope with real years, second oracles
# --------------------------------------------------------------------------------------------------------------
def test_sen_slope_with_irregular_years_matches_theilslopes():
    rng = np.random.default_rng(4)
    years = np.array([1995, 1996, 1998, 1999, 2000, 2003, 2004, 2005, 2007, 2010, 2011, 2012, 2015], dtype=float)
    x = rng.normal(size=(years.size, 400)) * 5 + rng.normal(size=400) * (years[:, None] - 2000)
    x[rng.random(x.shape) < 0.1] = np.nan
    slope, intercept = trend.sen_slope(x, years)
    for c in range(400):
        ok = ~np.isnan(x[:, c])
        ts = stats.theilslopes(x[ok, c], years[ok])
        assert slope[c] == pytest.approx(ts[0], rel=1e-12, abs=1e-12)
        # scipy's intercept is at year 0; ours at the stack's first year
        assert intercept[c] == pytest.approx(ts[1] + ts[0] * years[0], rel=1e-9, abs=1e-6)
    # mann_kendall uses the same estimator
    mk = trend.mann_kendall(x, years)
    np.testing.assert_array_equal(mk["slope"], slope)


def test_s_and_tau_match_kendalltau(big):
    x, _ = big
    n = np.count_nonzero(~np.isnan(x), axis=0)
    cols = np.flatnonzero(n >= 3)[:1500]
    ours = trend.mann_kendall(x[:, cols], YEARS)
    for i, c in enumerate(cols):
        ok = ~np.isnan(x[:, c])
        v = x[ok, c]
        if np.ptp(v) == 0:
            continue
        tau_b = stats.kendalltau(YEARS[ok], v)[0]
        n0 = v.size * (v.size - 1) / 2
        _, counts = np.unique(v, return_counts=True)
        n1 = float(np.sum(counts * (counts - 1) / 2))
        # tau_b = S / sqrt(n0 (n0 - n1)) (no ties in time); tau-a = S / n0
        assert ours["s"][i] == pytest.approx(tau_b * math.sqrt(n0 * (n0 - n1)), abs=1e-9)
        if n1 == 0:
            assert ours["tau"][i] == pytest.approx(tau_b, abs=1e-12)


# --------------------------------------------------------------------------------------------------------------
# hand-checked series
# --------------------------------------------------------------------------------------------------------------
def test_hand_checked_increasing_series():
    r = trend.mann_kendall(np.array([1.0, 2, 3, 4, 5]), np.arange(2001, 2006))
    # S = 10 (all 10 pairs increase); Var = 5*4*15/18 = 16.667; Z = (10-1)/sqrt(16.667) = 2.2045
    assert r["s"] == 10 and r["var_s"] == pytest.approx(300 / 18)
    assert r["z"] == pytest.approx(9 / math.sqrt(300 / 18), rel=1e-12) == pytest.approx(2.2045, abs=1e-4)
    # p = 2 (1 - Phi(2.2045)) = 0.02749; tau = 10 / 10 = 1; slope 1; intercept median(x) - 1 * median(0..4) = 3 - 2
    assert r["p"] == pytest.approx(0.027486, abs=1e-6)
    assert r["tau"] == 1 and r["slope"] == 1 and r["intercept"] == 1
    assert r["trend_sign"] == 1 and r["n"] == 5


def test_hand_checked_ties():
    r = trend.mann_kendall(np.array([1.0, 2, 2, 3]))
    # pairs: (1,2)+ (1,2)+ (1,3)+ (2,2)0 (2,3)+ (2,3)+ -> S = 5; one tie group of 2: 2*1*9 = 18
    # Var = (4*3*13 - 18)/18 = 138/18 = 7.667; Z = 4/sqrt(7.667) = 1.4446; tau = 5/6
    assert r["s"] == 5 and r["var_s"] == pytest.approx(138 / 18)
    assert r["z"] == pytest.approx(4 / math.sqrt(138 / 18)) and r["tau"] == pytest.approx(5 / 6)
    # slopes 1, 1/2, 2/3, 0, 1/2, 1 -> sorted 0, .5, .5, .667, 1, 1 -> median (0.5 + 0.6667)/2 = 0.58333
    assert r["slope"] == pytest.approx(7 / 12)
    # intercept = median x (2) - slope * median t (1.5) = 2 - 0.875 = 1.125
    assert r["intercept"] == pytest.approx(2 - 1.5 * 7 / 12)


def test_hand_checked_missing_year_keeps_year_value():
    r = trend.mann_kendall(np.array([1.0, np.nan, 3.0, 4.0]), np.arange(2000, 2004))
    # valid years 2000, 2002, 2003: slopes (3-1)/2 = 1, (4-1)/3 = 1, (4-3)/1 = 1 -> 1
    # S = 3, n = 3, Var = 3*2*11/18 = 3.667, Z = 2/sqrt(3.667) = 1.0445; tau = 3/3
    assert r["slope"] == 1 and r["s"] == 3 and r["n"] == 3
    assert r["var_s"] == pytest.approx(66 / 18) and r["z"] == pytest.approx(2 / math.sqrt(66 / 18))
    # intercept: median x = 3, median t offset = 2 -> 3 - 2 = 1 (the line's value in 2000)
    assert r["intercept"] == 1


def test_hand_checked_ols():
    r = trend.ols_trend(np.array([1.0, 3, 2, 4]), np.arange(2010, 2014))
    # tbar = 1.5, xbar = 2.5; Sxy = 2.25 - 0.25 - 0.25 + 2.25 = 4; Sxx = 5; Syy = 5
    # slope 0.8; intercept 2.5 - 0.8*1.5 = 1.3; r = 4/5 = 0.8, r2 = 0.64; t = 0.8 sqrt(2/0.36) = 1.8856, df 2
    assert r["slope"] == pytest.approx(0.8) and r["intercept"] == pytest.approx(1.3) and r["r2"] == pytest.approx(0.64)
    # with 2 df the t survival function is 0.5 (1 - t/sqrt(t^2 + 2)), so p = 1 - t/sqrt(t^2 + 2);
    # t^2 + 2 = 3.5556 + 2 = 5.5556 = 2/0.36, so t/sqrt(t^2 + 2) = 0.8 exactly and p = 0.2
    t = 0.8 * math.sqrt(2 / 0.36)
    assert r["p"] == pytest.approx(1 - t / math.sqrt(t * t + 2)) == pytest.approx(0.2, abs=1e-12)


def test_hand_checked_series_trends():
    out = trend.series_trends(np.array([1.0, 2, 3, 4, 5]), np.arange(2001, 2006))
    assert out["sen_slope"] == 1 and out["intercept"] == 1 and out["n"] == 5
    assert out["mk_z"] == pytest.approx(2.2045, abs=1e-4) and out["mk_tau"] == 1
    assert out["ols_slope"] == pytest.approx(1) and out["ols_intercept"] == pytest.approx(1)
    assert out["ols_r2"] == pytest.approx(1) and out["ols_p"] == 0.0
    assert set(out) == {"sen_slope", "intercept", "mk_z", "mk_p", "mk_tau", "ols_slope", "ols_intercept",
                        "ols_p", "ols_r2", "n"}  # fmt: skip


def test_series_trends_equal_pixel_results(small):
    x, _ = small
    mk = trend.mann_kendall(x[:, :50], YEARS)
    ols = trend.ols_trend(x[:, :50], YEARS)
    for c in range(50):
        out = trend.series_trends(x[:, c], YEARS)
        # Mann-Kendall and Sen: bit for bit; least squares: the sums of a (T, 1) and a (T, N) array may round
        # differently in the last bit
        for a, b in ((out["sen_slope"], mk["slope"][c]), (out["mk_p"], mk["p"][c]), (out["mk_z"], mk["z"][c]),
                     (out["intercept"], mk["intercept"][c]), (out["n"], mk["n"][c])):  # fmt: skip
            assert a == b or (math.isnan(a) and math.isnan(b))
        for a, b in ((out["ols_p"], ols["p"][c]), (out["ols_slope"], ols["slope"][c]), (out["ols_r2"], ols["r2"][c])):
            assert a == pytest.approx(b, rel=1e-12, abs=1e-15, nan_ok=True)


# --------------------------------------------------------------------------------------------------------------
# least squares against scipy
# --------------------------------------------------------------------------------------------------------------
def test_ols_matches_linregress(big):
    x, cat = big
    cols = np.arange(3000)
    years = YEARS + 0.0
    r = trend.ols_trend(x[:, cols], years)
    n = np.count_nonzero(~np.isnan(x[:, cols]), axis=0)
    checked = 0
    for i, c in enumerate(cols):
        ok = ~np.isnan(x[:, c])
        if n[i] < 3:
            assert np.isnan(r["slope"][i]) and np.isnan(r["p"][i])
            continue
        lr = stats.linregress(years[ok], x[ok, c])
        assert r["slope"][i] == pytest.approx(lr.slope, rel=1e-9, abs=1e-12)
        scale = abs(lr.intercept) + abs(lr.slope) * years[0] + 1.0
        assert r["intercept"][i] == pytest.approx(lr.intercept + lr.slope * years[0], rel=1e-9, abs=1e-12 * scale)
        assert r["r2"][i] == pytest.approx(lr.rvalue**2, rel=1e-9, abs=1e-12)
        if abs(lr.rvalue) > 1 - 1e-12:
            # perfect line: scipy's TINY fudge gives a small non-zero p, the exact limit is 0
            assert r["p"][i] == 0.0 and lr.pvalue < 1e-6
        else:
            assert r["p"][i] == pytest.approx(lr.pvalue, rel=1e-8, abs=1e-13)
        checked += 1
    assert checked > 2500
    const = cat[cols] == "constant"
    assert (r["slope"][const] == 0).all() and (r["p"][const] == 1).all() and (r["r2"][const] == 0).all()


def test_ols_two_values_with_min_valid_2():
    r = trend.ols_trend(np.array([1.0, np.nan, 5.0]), np.array([2000.0, 2001, 2002]), min_valid=2)
    assert r["slope"] == 2 and r["intercept"] == 1 and np.isnan(r["p"]) and np.isnan(r["r2"])
    r = trend.ols_trend(np.array([1.0, np.nan, 5.0]), np.array([2000.0, 2001, 2002]))
    assert np.isnan(r["slope"]) and r["n"] == 2


# --------------------------------------------------------------------------------------------------------------
# class schemes
# --------------------------------------------------------------------------------------------------------------
def test_mk9_boundaries_exact():
    up = np.nextafter
    z = np.array([0.0, 1.64, up(1.64, 9), 1.96, up(1.96, 9), 2.58, up(2.58, 9), 10.0])
    expected = np.array([1, 1, 2, 2, 3, 3, 4, 4])
    np.testing.assert_array_equal(trend.mk_classes_9(z, np.ones_like(z)), expected)
    np.testing.assert_array_equal(trend.mk_classes_9(-z, -np.ones_like(z)), -expected)
    # the sign comes from the slope, not from Z
    np.testing.assert_array_equal(trend.mk_classes_9(z, -np.ones_like(z)), -expected)
    codes = trend.mk_classes_9(np.array([3.0, 0.0, np.nan, 1.0]), np.array([0.0, 0.0, 1.0, np.nan]))
    np.testing.assert_array_equal(codes, [0, 0, CLASS_NODATA, CLASS_NODATA])
    assert codes.dtype == np.int16


def test_mk5_and_ols6_boundaries_exact():
    p = np.array([0.0, 0.0099, 0.01, 0.049, 0.05, 0.5, 1.0])
    np.testing.assert_array_equal(trend.ols_classes_6(np.ones_like(p), p), [3, 3, 2, 2, 1, 1, 1])
    np.testing.assert_array_equal(trend.ols_classes_6(-np.ones_like(p), p), [-3, -3, -2, -2, -1, -1, -1])
    np.testing.assert_array_equal(trend.ols_classes_6(np.zeros_like(p), p), np.zeros(p.size))
    np.testing.assert_array_equal(trend.ols_classes_6(np.array([np.nan, 1.0]), np.array([0.0, np.nan])),
                                  [CLASS_NODATA, CLASS_NODATA])  # fmt: skip
    np.testing.assert_array_equal(trend.mk_classes_5(p, np.ones_like(p)), [2, 2, 2, 2, 1, 1, 1])
    np.testing.assert_array_equal(trend.mk_classes_5(p, -np.ones_like(p), alpha=0.01), [-2, -2, -1, -1, -1, -1, -1])
    assert trend.mk_classes_5(np.array([np.nan]), np.array([1.0]))[0] == CLASS_NODATA


def test_class_schemes_labels_and_colors():
    s9 = trend.MK9_SCHEME
    assert s9.codes == tuple(range(-4, 5))
    assert s9.label_of(4) == "Extremely significant increase" and s9.label_of(-2) == "Weakly significant decrease"
    assert s9.label_of(1) == "Insignificant increase" and s9.label_of(0) == "Unchanged"
    s6 = trend.OLS6_SCHEME
    assert s6.codes == tuple(range(-3, 4)) and s6.label_of(-1) == "Nonsignificant decrease"
    assert s6.label_of(3) == "Extremely significant increase"
    assert trend.MK5_SCHEME.codes == tuple(range(-2, 3)) and "0.05" in trend.MK5_SCHEME.label_of(2)
    assert "0.1" in trend.mk5_scheme(0.1).label_of(-2)
    for s in (s9, s6, trend.MK5_SCHEME):
        assert len(set(s.colors)) == len(s.codes) and s.nodata == CLASS_NODATA


def test_classes_from_mann_kendall_output():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(24, 40, 50)) + rng.normal(size=(40, 50)) * 0.2 * np.arange(24)[:, None, None]
    x[:, 0, :5] = np.nan
    r = trend.mann_kendall(x, YEARS)
    c9 = trend.mk_classes_9(r["z"], r["slope"])
    c5 = trend.mk_classes_5(r["p"], r["slope"])
    assert c9.shape == (40, 50) and (c9[0, :5] == CLASS_NODATA).all()
    valid = c9 != CLASS_NODATA
    # 9 -> 5 classes at alpha = 0.05 (|Z| > 1.96 <=> p < 0.05, up to rounding at the boundary)
    np.testing.assert_array_equal(np.abs(c5[valid]) == 2, np.abs(c9[valid]) >= 3)
    np.testing.assert_array_equal(np.sign(c5[valid]), np.sign(c9[valid]))


# --------------------------------------------------------------------------------------------------------------
# invariants (hypothesis)
# --------------------------------------------------------------------------------------------------------------
# heavy ties (small integers) and non-integer values without subnormals (so that scaling by 2^k is exact)
series = st.lists(
    st.one_of(st.integers(-5, 5).map(float), st.integers(-(10**6), 10**6).map(lambda v: v / 1000.0)),
    min_size=4,
    max_size=16,
)


@settings(max_examples=60, deadline=None)
@given(series, st.floats(-10, 10, allow_nan=False))
def test_slope_shifts_with_added_trend(values, c):
    x = np.array(values)
    years = np.arange(x.size) + 1990.0
    s0, i0 = trend.sen_slope(x, years)
    s1, i1 = trend.sen_slope(x + c * (years - years[0]), years)
    assert s1 == pytest.approx(s0 + c, rel=1e-9, abs=1e-9)
    o0 = trend.ols_trend(x, years)["slope"]
    o1 = trend.ols_trend(x + c * (years - years[0]), years)["slope"]
    assert o1 == pytest.approx(o0 + c, rel=1e-9, abs=1e-8)


@settings(max_examples=60, deadline=None)
@given(series, st.sampled_from(trend.TESTS))
def test_sign_flip_is_antisymmetric(values, test):
    x = np.array(values)
    a = trend.mann_kendall(x, test=test)
    b = trend.mann_kendall(-x, test=test)
    assert b["s"] == -a["s"] and b["z"] == pytest.approx(-a["z"], abs=1e-12)
    assert b["p"] == pytest.approx(a["p"], abs=1e-12) and b["slope"] == -a["slope"]


@settings(max_examples=60, deadline=None)
@given(series, st.sampled_from([0.5, 2.0, 8.0, 1024.0]), st.sampled_from(trend.TESTS))
def test_scaling_leaves_z_unchanged(values, a, test):
    x = np.array(values)
    r0 = trend.mann_kendall(x, test=test)
    r1 = trend.mann_kendall(a * x, test=test)  # powers of two: exact scaling, so exact invariance
    assert r1["s"] == r0["s"] and r1["z"] == pytest.approx(r0["z"], abs=1e-12)
    assert r1["slope"] == pytest.approx(a * r0["slope"], rel=1e-12, abs=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from(trend.TESTS))
def test_pixel_permutation_and_shape(seed, test):
    x, _ = make_pixels(60, seed, n_times=12)
    perm = np.random.default_rng(seed).permutation(60)
    a = trend.mann_kendall(x, test=test)
    b = trend.mann_kendall(x[:, perm], test=test)
    c = trend.mann_kendall(x.reshape(12, 6, 10), test=test)
    for k in a:
        np.testing.assert_array_equal(a[k][perm], b[k])
        np.testing.assert_array_equal(a[k].reshape(6, 10), c[k])


# --------------------------------------------------------------------------------------------------------------
# degenerate pixels, errors, chunking and memory
# --------------------------------------------------------------------------------------------------------------
def test_degenerate_pixels_give_nan_without_warnings():
    x = np.full((6, 4), np.nan)
    x[:2, 1] = [1.0, 2.0]  # n = 2
    x[:, 2] = 5.0  # constant
    x[0, 3] = 1.0  # n = 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for test in trend.TESTS:
            r = trend.mann_kendall(x, test=test)
            for k in ("s", "var_s", "z", "p", "tau", "slope", "intercept", "trend_sign", "var_factor"):
                assert np.isnan(r[k][[0, 1, 3]]).all(), (test, k)
            assert r["p"][2] == 1.0 and r["z"][2] == 0.0
            np.testing.assert_array_equal(r["n"], [0, 2, 6, 1])
        s, i = trend.sen_slope(x, np.arange(6.0))
        assert np.isnan(s[[0, 3]]).all() and s[1] == 1 and s[2] == 0
        o = trend.ols_trend(x, np.arange(6.0))
        assert np.isnan(o["slope"][[0, 1, 3]]).all() and o["p"][2] == 1.0


def test_bad_input_raises():
    x = np.zeros((5, 3))
    with pytest.raises(InputError, match="5 time steps"):
        trend.mann_kendall(x, np.arange(4))
    with pytest.raises(InputError, match="increasing"):
        trend.sen_slope(x, np.array([2000, 2001, 2001, 2002, 2003]))
    with pytest.raises(InputError, match="infinite"):
        trend.mann_kendall(np.array([1.0, np.inf, 2.0]))
    with pytest.raises(InputError, match="unknown Mann-Kendall test"):
        trend.mann_kendall(x, test="sen")
    with pytest.raises(InputError, match="MIN_VALID"):
        trend.mann_kendall(x, min_valid=1)
    with pytest.raises(InputError, match="MIN_VALID"):
        trend.ols_trend(x, np.arange(5), min_valid=6)
    with pytest.raises(InputError, match="ALPHA"):
        trend.mann_kendall(x, alpha=1.5)
    with pytest.raises(InputError, match="LAG"):
        trend.mann_kendall(x, test="hamed_rao", lag=0)
    with pytest.raises(InputError, match="at least 2 years"):
        trend.mann_kendall(np.zeros((1, 3)))
    with pytest.raises(InputError, match="one-dimensional"):
        trend.series_trends(np.zeros((3, 2)), np.arange(3))


def test_chunking_does_not_change_results(small, monkeypatch):
    x, _ = small
    a = trend.mann_kendall(x[:, :1500], YEARS, test="hamed_rao")
    monkeypatch.setattr(trend, "_CHUNK_BYTES", 20_000)  # chunks of ~72 pixels
    b = trend.mann_kendall(x[:, :1500], YEARS, test="hamed_rao")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


@pytest.mark.parametrize("test", ["original", "hamed_rao", "trend_free_prewhitening"])
@pytest.mark.parametrize("missing", [False, True])
def test_scratch_estimate_bounds_peak_memory(test, missing):
    n_times = 30
    rng = np.random.default_rng(9)
    per_pixel = trend.scratch_bytes_per_pixel(n_times, test)
    assert per_pixel >= 8 * n_times * (n_times - 1) // 2
    chunk = trend._chunk_size(n_times)
    peaks = {}
    for npx in (chunk // 2, chunk, 4 * chunk):
        x = rng.normal(size=(n_times, npx))
        if missing:  # every pixel misses one year: the worst case (pairs copied per valid count)
            x[rng.integers(0, n_times, npx), np.arange(npx)] = np.nan
        tracemalloc.start()
        trend.mann_kendall(x, test=test)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        peaks[npx] = peak
    # up to one chunk the estimate bounds the measured peak
    assert peaks[chunk // 2] <= per_pixel * (chunk // 2)
    assert peaks[chunk] <= per_pixel * chunk
    # beyond one chunk the pairwise scratch stops growing: only the outputs (~ 12 x 8 bytes a pixel) grow
    growth = (peaks[4 * chunk] - peaks[chunk]) / (3 * chunk)
    assert growth < 200, growth
