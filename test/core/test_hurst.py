"""Tests of core.hurst: the three R/S variants, the white-noise null, the flags and the overlay with the trend."""

from __future__ import annotations

import math
import tracemalloc
import warnings
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import pairwise

from core.classes import CLASS_NODATA
from core.errors import InputError
from core.hurst import (
    FLAG_SCHEME,
    HURST_METHODS,
    OVERLAY_CODES,
    OVERLAY_SCHEME,
    anis_lloyd_peters,
    flag_beyond_null,
    hurst,
    hurst_blocks_alp,
    hurst_prefix,
    hurst_prefix_diff,
    min_series_length,
    null_quantiles,
    persistence_overlay,
    scratch_bytes_per_pixel,
    white_noise_null,
)


def no_warnings(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return func(*args, **kwargs)


# ----------------------------------------------------------------------------------------------------------------
# Plain per-series references, written directly from METHODS.md "Persistence" (one series at a time, loops).
# R and S are computed in exact rational arithmetic (fractions.Fraction; every float is a rational), so the
# conditions "R > 0 and S > 0" are evaluated exactly as METHODS.md states them and the oracle carries no rounding
# error of its own until the final float conversion: even for series like 1000 + 0.01 * noise.
# ----------------------------------------------------------------------------------------------------------------
def ref_alp_expectation(w: int) -> float:
    """E(R/S)_w = ((w - 0.5)/w) * Gamma((w-1)/2) / (sqrt(pi) Gamma(w/2)) * sum_{i=1}^{w-1} sqrt((w-i)/i)."""
    total = 0.0
    for i in range(1, w):
        total += math.sqrt((w - i) / i)
    return (w - 0.5) / w * math.gamma((w - 1) / 2) / (math.sqrt(math.pi) * math.gamma(w / 2)) * total


def ref_rs(window: list[float], ddof: int) -> float | None:
    """R/S of one window (R: range of the cumulative deviations from the mean; S: std), None unless R, S > 0."""
    q = [Fraction(v) for v in window]
    m = sum(q) / len(q)
    cum, y, ss = Fraction(0), [], Fraction(0)
    for value in q:
        cum += value - m
        y.append(cum)
        ss += (value - m) ** 2
    r = max(y) - min(y)
    s2 = ss / (len(q) - ddof)
    if r > 0 and s2 > 0:
        return float(r) / math.sqrt(float(s2))
    return None


def ref_slope(u: list[float], v: list[float]) -> float:
    if len(u) < 3:
        return math.nan
    return float(np.polyfit(u, v, 1)[0])


def ref_prefix(series: np.ndarray) -> float:
    s = [float(v) for v in series if not math.isnan(v)]  # compressed series
    u, v = [], []
    for tau in range(2, len(s) + 1):
        rs = ref_rs(s[:tau], ddof=0)
        if rs is not None:
            u.append(math.log(tau))
            v.append(math.log(rs))
    return ref_slope(u, v)


def ref_prefix_diff(series: np.ndarray) -> float:
    s = [float(v) for v in series if not math.isnan(v)]
    d = [float(Fraction(b) - Fraction(a)) for a, b in pairwise(s)]  # a float difference, as computed
    return ref_prefix(np.array(d))


def ref_blocks_alp(series: np.ndarray) -> float:
    s = [float(v) for v in series if not math.isnan(v)]
    n = len(s)
    u, v = [], []
    for w in range(4, n // 2 + 1):
        ratios = []
        for k in range(n // w):
            rs = ref_rs(s[k * w : (k + 1) * w], ddof=1)
            if rs is not None:
                ratios.append(rs)
        if ratios:
            u.append(math.log(w))
            v.append(math.log(sum(ratios) / len(ratios)) - math.log(ref_alp_expectation(w)))
    return 0.5 + ref_slope(u, v)


REFERENCES = {"prefix": ref_prefix, "prefix_diff": ref_prefix_diff, "blocks_alp": ref_blocks_alp}
VECTORISED = {"prefix": hurst_prefix, "prefix_diff": hurst_prefix_diff, "blocks_alp": hurst_blocks_alp}


def random_series(rng: np.random.Generator, n: int, count: int) -> np.ndarray:
    """(n, count) series of many kinds: noise, walks, trends, ties, constant runs and prefixes, constants."""
    cols = []
    for i in range(count):
        kind = i % 8
        if kind == 0:
            x = rng.standard_normal(n)
        elif kind == 1:
            x = np.cumsum(rng.standard_normal(n))
        elif kind == 2:
            x = rng.integers(0, 4, n).astype(float)  # many ties
        elif kind == 3:  # constant segments
            runs = rng.integers(1, 6, n)
            x = np.repeat(rng.normal(size=n), runs)[:n]
        elif kind == 4:  # constant prefix, then noise
            x = rng.standard_normal(n)
            x[: int(rng.integers(2, n // 2 + 1))] = 3.7
        elif kind == 5:
            x = np.full(n, 0.1) if rng.random() < 0.5 else np.full(n, -250.3)  # constant: no H
        elif kind == 6:
            x = 200 + 5 * np.arange(n) + rng.normal(0, 20, n)  # NEP-like with a trend
        else:
            x = 1000 + 0.01 * rng.standard_normal(n)  # large level, tiny variability
        cols.append(x)
    return np.array(cols).T


LENGTHS = {"prefix": (8, 13, 24, 40), "prefix_diff": (8, 13, 24, 40), "blocks_alp": (12, 13, 24, 25, 40)}


@pytest.mark.parametrize("method", HURST_METHODS)
def test_against_per_series_reference(method):
    rng = np.random.default_rng(HURST_METHODS.index(method))
    total = finite = 0
    max_diff = 0.0
    for n in LENGTHS[method]:
        x = random_series(rng, n, 1200 // len(LENGTHS[method]) + 8)
        got = no_warnings(VECTORISED[method], x)
        expected = np.array([REFERENCES[method](x[:, i]) for i in range(x.shape[1])])
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
        ok = ~np.isnan(expected)
        max_diff = max(max_diff, float(np.max(np.abs(got[ok] - expected[ok]))))
        total += x.shape[1]
        finite += int(ok.sum())
        assert np.array_equal(hurst(x, method), got, equal_nan=True)
    assert total >= 1000
    assert finite > 0.8 * total  # the comparison is about real numbers, not NaN == NaN
    print(f"{method}: {total} series, max |diff| = {max_diff:.2e}")


@pytest.mark.parametrize("method", HURST_METHODS)
def test_missing_values_and_min_valid(method):
    rng = np.random.default_rng(7)
    n = 30
    x = random_series(rng, n, 400)
    holes = rng.random(x.shape) < 0.06
    x[holes] = np.nan
    x[:, ::50] = np.nan  # all-NaN pixels
    # default: any NaN -> NaN
    got = no_warnings(VECTORISED[method], x)
    has_nan = np.isnan(x).any(axis=0)
    assert np.isnan(got[has_nan]).all()
    clean = ~has_nan
    expected_clean = np.array([REFERENCES[method](x[:, i]) for i in np.flatnonzero(clean)])
    np.testing.assert_allclose(got[clean], expected_clean, rtol=0, atol=1e-9)
    # min_valid = n - 3: compressed series of the pixels with at most 3 gaps
    got = no_warnings(VECTORISED[method], x, min_valid=n - 3)
    n_valid = (~np.isnan(x)).sum(axis=0)
    expected = np.array([REFERENCES[method](x[:, i]) if n_valid[i] >= n - 3 else math.nan for i in range(x.shape[1])])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    assert (~np.isnan(got) & has_nan).sum() > 50  # gappy pixels were really analysed


def test_prefix_hand_checked():
    # x = 1, 2, 3, 4.
    # tau = 2: [1, 2], mean 1.5, deviations -0.5, 0.5, cumulative -0.5, 0 -> R = 0.5; S = 0.5 -> R/S = 1.
    # tau = 3: [1, 2, 3], mean 2, deviations -1, 0, 1, cumulative -1, -1, 0 -> R = 1; S = sqrt(2/3);
    #          R/S = sqrt(1.5) = 1.2247449.
    # tau = 4: mean 2.5, deviations -1.5, -0.5, 0.5, 1.5, cumulative -1.5, -2, -1.5, 0 -> R = 2;
    #          S = sqrt(5/4) -> R/S = 2 / sqrt(1.25) = 1.7888544.
    # Slope of (ln 2, 0), (ln 3, 0.2027326), (ln 4, 0.5815754): u - mean(u) = -0.3662, 0.0393, 0.3269;
    # sxy = 0.1981015, sxx = 0.2425386 -> H = 0.816783.
    u = np.log([2.0, 3.0, 4.0])
    v = np.log([1.0, math.sqrt(1.5), 2 / math.sqrt(1.25)])
    du = u - u.mean()
    expected = float((du * (v - v.mean())).sum() / (du * du).sum())
    assert expected == pytest.approx(0.816783, abs=1e-6)
    assert float(hurst_prefix(np.array([1.0, 2.0, 3.0, 4.0]))) == pytest.approx(expected, abs=1e-12)
    # prefix_diff of 0, 1, 3, 6, 10 works on the differences 1, 2, 3, 4: the same H
    assert float(hurst_prefix_diff(np.array([0.0, 1.0, 3.0, 6.0, 10.0]))) == pytest.approx(expected, abs=1e-12)


def test_blocks_alp_hand_checked():
    # x = 0, 1 repeated, n = 12: window sizes 4, 5, 6 (3, 2 and 2 windows).
    # w = 4: every window 0,1,0,1: mean 0.5, cumulative deviations -0.5, 0, -0.5, 0 -> R = 0.5,
    #        S (ddof 1) = sqrt(4 * 0.25 / 3) = sqrt(1/3) -> R/S = 0.8660254.
    # w = 5: 0,1,0,1,0: mean 0.4, cumulative -0.4, 0.2, -0.2, 0.4, 0 -> R = 0.8, S = sqrt(1.2 / 4) = sqrt(0.3);
    #        1,0,1,0,1: mean 0.6, cumulative 0.4, -0.2, 0.2, -0.4, 0 -> the same -> R/S = 0.8 / sqrt(0.3) = 1.4605935.
    # w = 6: 0,1,0,1,0,1 twice: R = 0.5, S = sqrt(1.5 / 5) = sqrt(0.3) -> R/S = 0.9128709.
    # E(R/S)_4 = (3.5/4) * Gamma(1.5) / (sqrt(pi) Gamma(2)) * (sqrt(3) + 1 + sqrt(1/3)) = 0.875 * 0.5 * 3.3094011
    #          = 1.4478630; in the same way E_5 = 1.7346265, E_6 = 1.9953319.
    # Points log(R/S) - log(E): -0.5139297, -0.1719492, -0.7819712 on ln 4, ln 5, ln 6 -> slope -0.5803149,
    # H = 0.5 - 0.5803149 = -0.0803149 (an alternating series is as anti-persistent as it gets; H is not clipped).
    assert anis_lloyd_peters(4) == pytest.approx(0.875 * 0.5 * (math.sqrt(3) + 1 + math.sqrt(1 / 3)), rel=1e-12)
    x = np.tile([0.0, 1.0], 6)
    rs = {4: 0.5 / math.sqrt(1 / 3), 5: 0.8 / math.sqrt(0.3), 6: 0.5 / math.sqrt(0.3)}
    u = np.log([4.0, 5.0, 6.0])
    v = np.array([math.log(rs[w]) - math.log(ref_alp_expectation(w)) for w in (4, 5, 6)])
    du = u - u.mean()
    expected = 0.5 + float((du * (v - v.mean())).sum() / (du * du).sum())
    assert expected == pytest.approx(-0.0803149, abs=1e-7)
    assert float(hurst_blocks_alp(x)) == pytest.approx(expected, abs=1e-12)


def test_anis_lloyd_peters_formula():
    for w in range(2, 300):
        assert anis_lloyd_peters(w) == pytest.approx(ref_alp_expectation(w), rel=1e-11)
    # no overflow for large windows; tends to sqrt(pi w / 2) (Anis and Lloyd 1976)
    for w in (1000, 100000):
        e = anis_lloyd_peters(w)
        assert math.isfinite(e)
        assert e / math.sqrt(math.pi * w / 2) == pytest.approx(1.0, abs=0.05)
    with pytest.raises(InputError):
        anis_lloyd_peters(1)


def test_random_walk_and_white_noise():
    rng = np.random.default_rng(123)
    walk = np.cumsum(rng.standard_normal((40, 3000)), axis=0)
    h_walk = hurst_blocks_alp(walk)
    assert np.nanmean(h_walk) > 0.7
    noise = rng.standard_normal((40, 3000))
    # white noise: blocks_alp is nearly unbiased; std of H ~0.11, so the mean of 3000 is known to +/- 0.006
    assert abs(np.nanmean(hurst_blocks_alp(noise)) - 0.5) < 0.02
    assert np.nanmean(hurst_prefix(walk)) > np.nanmean(hurst_prefix(noise)) + 0.2


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(-50, 50), min_size=14, max_size=30),
    st.sampled_from([-3.0, -0.5, 2.0, 7.0]),
    st.integers(-1000, 1000),
    st.sampled_from(HURST_METHODS),
)
def test_affine_invariance(values, a, b, method):
    """R/S is unchanged by x -> a x + b (a != 0): so is H. Integer data keep ties exact under the map."""
    x = np.array(values, dtype=float)
    h1 = hurst(x, method)
    h2 = hurst(a * x + b, method)
    if np.isnan(h1):
        assert np.isnan(h2)
    else:
        assert float(h2) == pytest.approx(float(h1), abs=1e-9)


def test_shapes_and_degenerate_pixels():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((24, 5, 6)).astype(np.float32)
    x[:, 0, 0] = 4.0  # constant
    x[:, 0, 1] = np.nan  # all NaN
    for method in HURST_METHODS:
        h = no_warnings(hurst, x, method)
        assert h.shape == (5, 6) and h.dtype == np.float64
        assert np.isnan(h[0, 0]) and np.isnan(h[0, 1])
        assert np.isfinite(h[1:]).all()
        np.testing.assert_allclose(h.ravel(), hurst(x.reshape(24, 30), method), atol=1e-12)
        one = hurst(x[:, 2, 3], method)
        assert one.shape == () and float(one) == pytest.approx(float(h[2, 3]), abs=1e-12)


def test_bad_input():
    with pytest.raises(InputError, match="at least 12"):
        hurst_blocks_alp(np.random.default_rng(0).standard_normal((8, 3)))
    assert min_series_length("prefix") == 4 and min_series_length("prefix_diff") == 5
    assert min_series_length("blocks_alp") == 12
    with pytest.raises(InputError, match="unknown Hurst method"):
        hurst(np.zeros((24, 2)), "dfa")
    with pytest.raises(InputError, match="MIN_VALID"):
        hurst(np.zeros((24, 2)), "blocks_alp", min_valid=11)
    with pytest.raises(InputError, match="MIN_VALID"):
        hurst(np.zeros((24, 2)), "prefix", min_valid=25)
    x = np.ones((24, 2))
    x[3, 1] = -np.inf
    with pytest.raises(InputError, match="infinite"):
        hurst(x)


@pytest.mark.parametrize("method", HURST_METHODS)
@pytest.mark.parametrize("n_times", [24, 40])
def test_scratch_bytes_per_pixel(method, n_times):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n_times, 20000))
    x[0, ::3] = np.nan
    tracemalloc.start()
    try:
        hurst(x, method, min_valid=n_times - 1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    per_pixel = peak / x.shape[1]
    estimate = scratch_bytes_per_pixel(n_times, method)
    assert per_pixel <= estimate
    assert per_pixel >= 0.6 * estimate  # and the estimate is not wildly pessimistic


# ----------------------------------------------------------------------------------------------------------------
# White-noise null
# ----------------------------------------------------------------------------------------------------------------
# METHODS.md measured on 2,000 white-noise series of length 24: mean H and share above 0.5.
METHODS_NULL_24 = {"prefix": (0.64, 0.87), "prefix_diff": (0.39, 0.09), "blocks_alp": (0.49, 0.47)}


@pytest.mark.parametrize("method", HURST_METHODS)
def test_white_noise_null_agrees_with_methods(method):
    null = white_noise_null(method, 24)
    mean, frac = METHODS_NULL_24[method]
    # Two independent 2,000-series estimates: the difference has standard error sqrt(2) * sd / sqrt(2000);
    # allow 3 of those plus the rounding of METHODS.md's printed numbers (0.005).
    tol_mean = 3 * math.sqrt(2) * null["std"] / math.sqrt(2000) + 0.005
    tol_frac = 3 * math.sqrt(2 * frac * (1 - frac) / 2000) + 0.005
    assert abs(null["mean"] - mean) < tol_mean
    assert abs(null["frac_above_half"] - frac) < tol_frac
    assert null["q05"] < null["mean"] < null["q95"]
    assert null["n"] == 24 and null["n_sim"] == 2000 and null["method"] == method


def test_white_noise_null_deterministic_and_cached():
    from core.hurst import _null_cached

    a = white_noise_null("prefix", 30)
    hits = _null_cached.cache_info().hits
    b = white_noise_null("prefix", 30)
    assert _null_cached.cache_info().hits == hits + 1
    assert a == b and a is not b
    b["q05"] = 99.0  # mutating a result must not poison the cache
    assert white_noise_null("prefix", 30)["q05"] == a["q05"]
    c = white_noise_null("prefix", 30, seed=1)
    assert c["q05"] != a["q05"]
    # the same numbers as computing H on the documented simulation directly
    sims = np.random.default_rng(20250101).standard_normal((2000, 30)).T
    h = hurst_prefix(sims)
    assert a["q95"] == pytest.approx(float(np.quantile(h, 0.95)), abs=1e-12)
    assert a["frac_above_half"] == pytest.approx(float(np.mean(h > 0.5)), abs=1e-12)


def test_white_noise_null_bad_arguments():
    with pytest.raises(InputError):
        white_noise_null("blocks_alp", 10)
    with pytest.raises(InputError):
        white_noise_null("prefix", 24, n_sim=5)
    with pytest.raises(InputError):
        white_noise_null("rs", 24)


def test_null_quantiles_per_count():
    counts = np.array([[24, 30], [24, 5]])
    q05, q95 = null_quantiles("blocks_alp", counts)
    n24, n30 = white_noise_null("blocks_alp", 24), white_noise_null("blocks_alp", 30)
    assert q05[0, 0] == q05[1, 0] == n24["q05"] and q95[0, 1] == n30["q95"]
    assert np.isnan(q05[1, 1]) and np.isnan(q95[1, 1])


def test_flag_beyond_null():
    h = np.array([0.1, 0.3, 0.5, 0.7, 0.9, np.nan])
    flags = flag_beyond_null(h, 0.3, 0.7)
    assert flags.dtype == np.int8
    np.testing.assert_array_equal(flags, [-1, 0, 0, 0, 1, CLASS_NODATA])
    per_pixel = flag_beyond_null(h, np.full(6, 0.2), np.array([0.25, 0.25, 0.8, 0.8, 0.8, 0.8]))
    np.testing.assert_array_equal(per_pixel, [-1, 1, 0, 0, 1, CLASS_NODATA])
    assert set(FLAG_SCHEME.codes) == {-1, 0, 1}
    with pytest.raises(InputError):
        flag_beyond_null(h, 0.8, 0.2)


# ----------------------------------------------------------------------------------------------------------------
# Overlay with the trend
# ----------------------------------------------------------------------------------------------------------------
def test_overlay_four_combinations_and_none():
    slope = np.array([2.0, 2.0, -2.0, -2.0, 0.0, 2.0, np.nan, 2.0, -0.1])
    h = np.array([0.8, 0.2, 0.8, 0.2, 0.8, 0.5, 0.8, np.nan, 0.5000001])
    codes = persistence_overlay(slope, h)
    assert codes.dtype == np.int16
    c = OVERLAY_CODES
    expected = [
        c["persistent_increase"],
        c["increase_then_decrease"],
        c["persistent_decrease"],
        c["decrease_then_increase"],
        c["none"],  # slope 0
        c["none"],  # H = 0.5
        CLASS_NODATA,
        CLASS_NODATA,
        c["persistent_decrease"],
    ]
    np.testing.assert_array_equal(codes, expected)
    assert sorted(c.values()) == [0, 1, 2, 3, 4]
    assert set(OVERLAY_SCHEME.codes) == set(c.values())
    assert OVERLAY_SCHEME.label_of(c["persistent_increase"]).startswith("Continuous (persistent) increase")
    assert OVERLAY_SCHEME.label_of(c["decrease_then_increase"]).startswith("Decrease then increase")


def test_overlay_significance_and_null_quantiles():
    slope = np.array([[2.0, 2.0, -2.0], [-2.0, 1.0, np.nan]])
    h = np.array([[0.8, 0.2, 0.8], [0.2, 0.6, 0.9]])
    sig = np.array([[True, False, True], [True, True, False]])
    codes = persistence_overlay(slope, h, significant=sig)
    np.testing.assert_array_equal(codes, [[4, 0, 1], [2, 4, CLASS_NODATA]])
    # H within the white-noise range [0.3, 0.7] (bounds included) -> none
    codes = persistence_overlay(slope, h, h_low=0.3, h_high=0.7)
    np.testing.assert_array_equal(codes, [[4, 3, 1], [2, 0, CLASS_NODATA]])
    codes = persistence_overlay(slope, h, significant=sig, h_low=np.full((2, 3), 0.2), h_high=0.8)
    np.testing.assert_array_equal(codes, [[0, 0, 0], [0, 0, CLASS_NODATA]])
    with pytest.raises(InputError):
        persistence_overlay(slope, h, h_low=0.3)
    with pytest.raises(InputError):
        persistence_overlay(slope, h, significant=sig.astype(int))
    with pytest.raises(InputError):
        persistence_overlay(slope, h[:, :2])


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-5, 5), st.floats(0, 1)), min_size=1, max_size=30),
)
def test_overlay_matches_definition(pairs):
    slope = np.array([p[0] for p in pairs])
    h = np.array([p[1] for p in pairs])
    codes = persistence_overlay(slope, h)
    for s, hv, code in zip(slope, h, codes):
        if s > 0 and hv > 0.5:
            assert code == 4
        elif s > 0 and hv < 0.5:
            assert code == 3
        elif s < 0 and hv < 0.5:
            assert code == 2
        elif s < 0 and hv > 0.5:
            assert code == 1
        else:
            assert code == 0
