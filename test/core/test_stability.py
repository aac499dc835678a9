"""Tests of core.stability: coefficient of variation, deterministic sampling, Fisher-Jenks natural breaks."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import pairwise

from core.classes import CLASS_NODATA, classify_by_breaks
from core.errors import InputError
from core.stability import (
    FLUCTUATION_LABELS_5,
    SampleCollector,
    coefficient_of_variation,
    cv_class_scheme,
    fisher_jenks,
    natural_breaks,
    pixel_keys,
)

jenkspy = pytest.importorskip("jenkspy")


def no_warnings(func, *args, **kwargs):
    """Call ``func`` turning every warning into an error (degenerate pixels must be silent)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return func(*args, **kwargs)


# ----------------------------------------------------------------------------------------------------------------
# Coefficient of variation
# ----------------------------------------------------------------------------------------------------------------
def test_cv_hand_checked():
    # x = 2, 4, 6: mean 4; squared deviations 4 + 0 + 4 = 8.
    # ddof 1: s = sqrt(8 / 2) = 2, Cv = 2 / 4 = 0.5.  ddof 0: s = sqrt(8 / 3) = 1.6329932, Cv = 0.4082483.
    x = np.array([2.0, 4.0, 6.0])
    r1 = coefficient_of_variation(x)
    assert r1["mean"] == pytest.approx(4.0)
    assert r1["std"] == pytest.approx(2.0)
    assert r1["cv"] == pytest.approx(0.5)
    assert r1["n_small_mean"] == 0
    r0 = coefficient_of_variation(x, ddof=0)
    assert r0["std"] == pytest.approx(math.sqrt(8 / 3))
    assert r0["cv"] == pytest.approx(math.sqrt(8 / 3) / 4)


def test_cv_carbon_source_is_positive():
    # NEP of a carbon source: -2, -4, -6 g C m-2 yr-1: mean -4, s = 2, Cv = s / |mean| = 0.5 (not -0.5).
    x = np.array([[-2.0, 2.0], [-4.0, 4.0], [-6.0, 6.0]])
    r = coefficient_of_variation(x)
    np.testing.assert_allclose(r["cv"], [0.5, 0.5])
    np.testing.assert_allclose(r["mean"], [-4.0, 4.0])
    assert r["cv"][0] > 0


def test_cv_near_zero_mean_is_nodata_and_counted():
    # Pixel 0: -1, 1, -1, 1 -> mean exactly 0. Pixel 1: 0.5, -0.3, 0.4, -0.2 -> mean 0.1 (< 1 g C m-2 yr-1).
    # Pixel 2: 100, 101, 99, 100 -> mean 100, fine. Pixel 3: has a NaN -> too few values, not counted.
    x = np.array(
        [
            [-1.0, 0.5, 100.0, 1.0],
            [1.0, -0.3, 101.0, np.nan],
            [-1.0, 0.4, 99.0, 3.0],
            [1.0, -0.2, 100.0, 4.0],
        ]
    )
    r = no_warnings(coefficient_of_variation, x)
    assert np.isnan(r["cv"][0]) and np.isnan(r["cv"][1]) and np.isnan(r["cv"][3])
    assert np.isfinite(r["cv"][2])
    assert r["n_small_mean"] == 2
    # mean and std stay available where only the threshold removed Cv
    assert r["mean"][1] == pytest.approx(0.1)
    assert np.isnan(r["mean"][3])
    assert not np.isinf(r["cv"]).any()
    # threshold 0: an exactly zero mean still gives NaN (never inf); the 0.1 mean is now kept
    r0 = no_warnings(coefficient_of_variation, x, min_abs_mean=0.0)
    assert np.isnan(r0["cv"][0]) and np.isfinite(r0["cv"][1])
    assert r0["n_small_mean"] == 1
    assert not np.isinf(r0["cv"]).any()


def test_cv_degenerate_pixels_silent():
    x = np.array([[np.nan, 5.0, 7.0], [np.nan, 5.0, np.nan], [np.nan, 5.0, np.nan]])
    r = no_warnings(coefficient_of_variation, x, min_valid=2)
    assert np.isnan(r["cv"][0])  # all NaN
    assert r["cv"][1] == 0.0  # constant: s = 0 -> Cv = 0
    assert np.isnan(r["cv"][2])  # one valid value < min_valid
    assert r["n_small_mean"] == 0


def _cv_oracle(series: np.ndarray, ddof: int, thr: float, min_valid: int) -> tuple[float, bool]:
    v = series[~np.isnan(series)]
    if v.size < min_valid:
        return math.nan, False
    mean = float(np.mean(v))
    std = float(np.std(v, ddof=ddof))
    if abs(mean) < thr or mean == 0:
        return math.nan, True
    return std / abs(mean), False


@pytest.mark.parametrize("ddof", [0, 1])
def test_cv_against_numpy_per_pixel(ddof):
    rng = np.random.default_rng(11)
    n_times, n_pix = 24, 4000
    level = rng.choice([-300.0, -5.0, -0.5, 0.0, 0.3, 2.0, 250.0], size=n_pix)
    x = level + rng.normal(0, 1, (n_times, n_pix)) * rng.choice([0.01, 1.0, 20.0], size=n_pix)
    x[:, ::97] = 7.0  # constant pixels
    x[:, 5::101] = np.round(x[:, 5::101])  # ties
    x[rng.random(x.shape) < 0.02] = np.nan
    x[:, 3::211] = np.nan  # all-NaN pixels
    x[:, 7::307] = 0.0  # zero mean exactly
    x_sym = np.concatenate([np.full((n_times // 2, 50), 3.0), np.full((n_times // 2, 50), -3.0)])
    x = np.concatenate([x, x_sym], axis=1)  # mean exactly 0
    for min_valid in (n_times, 20):
        r = no_warnings(coefficient_of_variation, x, ddof=ddof, min_abs_mean=1.0, min_valid=min_valid)
        expected = np.empty(x.shape[1])
        n_small = 0
        for i in range(x.shape[1]):
            expected[i], small = _cv_oracle(x[:, i], ddof, 1.0, min_valid)
            n_small += small
        np.testing.assert_array_equal(np.isnan(r["cv"]), np.isnan(expected))
        np.testing.assert_allclose(r["cv"], expected, rtol=1e-10, atol=0)
        assert r["n_small_mean"] == n_small
        assert n_small > 50  # the data really contain near-zero means
        assert not np.isinf(r["cv"]).any()
        valid = ~np.isnan(x)
        enough = valid.sum(axis=0) >= min_valid
        exp_mean = np.array([np.mean(x[valid[:, i], i]) if enough[i] else np.nan for i in range(x.shape[1])])
        np.testing.assert_allclose(r["mean"], exp_mean, rtol=1e-12, atol=1e-12)


def test_cv_keeps_trailing_shape_and_float32():
    rng = np.random.default_rng(2)
    x = (rng.normal(100, 10, (10, 3, 4))).astype(np.float32)
    r = coefficient_of_variation(x)
    assert r["cv"].shape == (3, 4) and r["cv"].dtype == np.float64
    flat = coefficient_of_variation(x.reshape(10, 12).astype(np.float64))
    np.testing.assert_allclose(r["cv"].ravel(), flat["cv"], rtol=1e-12)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ddof": 2},
        {"ddof": 1.0},
        {"min_valid": 1},
        {"min_valid": 11},
        {"min_abs_mean": -1.0},
        {"min_abs_mean": float("nan")},
    ],
)
def test_cv_bad_parameters(kwargs):
    with pytest.raises(InputError):
        coefficient_of_variation(np.ones((10, 2)), **kwargs)


def test_cv_bad_input():
    with pytest.raises(InputError, match="at least 2 time steps"):
        coefficient_of_variation(np.ones((1, 3)))
    x = np.ones((5, 3))
    x[2, 1] = np.inf
    with pytest.raises(InputError, match="infinite"):
        coefficient_of_variation(x)
    x[0, 2] = np.nan  # the same in a block that also has missing values
    with pytest.raises(InputError, match="infinite"):
        coefficient_of_variation(x, min_valid=4)
    x[2, 1] = 1.0
    x[1:, 0] = np.nan
    x[0, 0] = -np.inf  # in a pixel with too few valid values: still bad input
    with pytest.raises(InputError, match="infinite"):
        coefficient_of_variation(x, min_valid=4)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1000, 1000, allow_nan=False), min_size=3, max_size=30),
    st.sampled_from([-7.0, -0.5, 0.25, 3.0]),
    st.randoms(use_true_random=False),
)
def test_cv_invariances(values, scale, rnd):
    """Cv is unchanged by rescaling (with the threshold rescaled) and by reordering the years."""
    x = np.array(values)
    base = coefficient_of_variation(x, min_abs_mean=1.0)
    scaled = coefficient_of_variation(x * scale, min_abs_mean=abs(scale))
    perm = list(range(x.size))
    rnd.shuffle(perm)
    shuffled = coefficient_of_variation(x[perm], min_abs_mean=1.0)
    at_threshold = abs(abs(float(np.mean(x))) - 1.0) < 1e-9  # rounding may move a pixel across |mean| = 1
    for other in (scaled, shuffled):
        if np.isnan(base["cv"]) or np.isnan(other["cv"]):
            assert (np.isnan(base["cv"]) and np.isnan(other["cv"])) or at_threshold
        else:
            assert float(other["cv"]) == pytest.approx(float(base["cv"]), rel=1e-9)
    assert np.isnan(base["cv"]) or float(base["cv"]) >= 0


# ----------------------------------------------------------------------------------------------------------------
# Deterministic sampling
# ----------------------------------------------------------------------------------------------------------------
def test_pixel_keys_splitmix64_reference_value():
    # splitmix64's first output for state 0 is 0xE220A8397B1DCDAF (Vigna's reference C code); our finaliser
    # applied to 0 adds the golden gamma first, which is exactly that step. With seed_key = splitmix64(seed)
    # and pixel (0, 0) the key is splitmix64(0 XOR seed_key) = splitmix64(splitmix64(seed)).
    from core.stability import _splitmix64

    assert int(_splitmix64(np.array([0], dtype=np.uint64))[0]) == 0xE220A8397B1DCDAF
    s = _splitmix64(np.array([5], dtype=np.uint64))
    assert pixel_keys(5, np.array([0]), np.array([0]))[0] == _splitmix64(s)[0]


def test_pixel_keys_distinct_deterministic_seeded():
    rows, cols = np.meshgrid(np.arange(300), np.arange(300), indexing="ij")
    k1 = pixel_keys(0, rows, cols)
    assert k1.dtype == np.uint64 and k1.shape == (300, 300)
    assert np.unique(k1).size == k1.size  # a bijection: no two pixels share a key
    np.testing.assert_array_equal(k1, pixel_keys(0, rows, cols))
    k2 = pixel_keys(1, rows, cols)
    assert (k1 != k2).mean() > 0.999
    # roughly uniform: the share of keys below 2^63 is about one half
    assert abs((k1 < np.uint64(2**63)).mean() - 0.5) < 0.01
    with pytest.raises(InputError):
        pixel_keys(0, np.array([-1]), np.array([0]))


def _global_sample(raster: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Oracle: the ``size`` valid pixels of smallest key, computed on the whole raster at once."""
    r, c = np.nonzero(~np.isnan(raster))
    keys = pixel_keys(seed, r, c)
    order = np.argsort(keys)[:size]
    return raster[r[order], c[order]]


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 40),  # rows
    st.integers(1, 40),  # cols
    st.integers(1, 300),  # sample size
    st.integers(0, 2**40),  # seed
    st.data(),
)
def test_sample_collector_independent_of_blocks(n_rows, n_cols, size, seed, data):
    rng = np.random.default_rng(seed % 1000)
    raster = rng.normal(size=(n_rows, n_cols))
    raster[rng.random(raster.shape) < 0.3] = np.nan
    row_cuts = sorted(data.draw(st.sets(st.integers(1, max(1, n_rows - 1)), max_size=4)))
    col_cuts = sorted(data.draw(st.sets(st.integers(1, max(1, n_cols - 1)), max_size=4)))
    rb = [0] + [c for c in row_cuts if c < n_rows] + [n_rows]
    cb = [0] + [c for c in col_cuts if c < n_cols] + [n_cols]
    blocks = [(r0, r1, c0, c1) for r0, r1 in pairwise(rb) for c0, c1 in pairwise(cb)]
    order = data.draw(st.permutations(range(len(blocks))))
    sc = SampleCollector(size=size, seed=seed)
    for i in order:
        r0, r1, c0, c1 = blocks[i]
        sc.add(raster[r0:r1, c0:c1], r0, c0)
    whole = SampleCollector(size=size, seed=seed)
    whole.add(raster, 0, 0)
    np.testing.assert_array_equal(sc.values(), whole.values())
    np.testing.assert_array_equal(sc.values(), _global_sample(raster, size, seed))
    assert len(sc) == min(size, int((~np.isnan(raster)).sum()))
    assert sc.n_seen == int((~np.isnan(raster)).sum())
    # two collectors (e.g. two threads) merged give the same sample
    a, b = SampleCollector(size=size, seed=seed), SampleCollector(size=size, seed=seed)
    for j, i in enumerate(order):
        r0, r1, c0, c1 = blocks[i]
        (a if j % 2 else b).add(raster[r0:r1, c0:c1], r0, c0)
    a.merge(b)
    np.testing.assert_array_equal(a.values(), whole.values())


def test_sample_collector_is_a_uniform_sample():
    # 200 x 200 raster whose value is its row: a simple random sample of 4,000 pixels has mean row ~99.5 with
    # standard error 57.7 / sqrt(4000) = 0.91; a sample biased to the first blocks would be far off.
    raster = np.repeat(np.arange(200.0)[:, None], 200, axis=1)
    sc = SampleCollector(size=4000, seed=3)
    for r0 in range(0, 200, 64):
        for c0 in range(0, 200, 64):
            sc.add(raster[r0 : r0 + 64, c0 : c0 + 64], r0, c0)
    v = sc.values()
    assert v.size == 4000
    assert abs(v.mean() - 99.5) < 4 * 0.91


def test_sample_collector_bad_arguments():
    with pytest.raises(InputError):
        SampleCollector(size=0)
    with pytest.raises(InputError):
        SampleCollector(size=10).add(np.ones(5), 0, 0)
    a, b = SampleCollector(seed=1), SampleCollector(seed=2)
    with pytest.raises(InputError):
        a.merge(b)


# ----------------------------------------------------------------------------------------------------------------
# Natural breaks
# ----------------------------------------------------------------------------------------------------------------
def _brute_force_sdcm(values: np.ndarray, k: int) -> float:
    """Oracle: minimum total within-class sum of squares over every split of the sorted values into k runs."""
    s = np.sort(values)
    n = s.size
    best = math.inf
    for cuts in itertools.combinations(range(1, n), k - 1):
        bounds = (0, *cuts, n)
        cost = sum(float(((s[a:b] - s[a:b].mean()) ** 2).sum()) for a, b in pairwise(bounds))
        best = min(best, cost)
    return best


def test_natural_breaks_hand_checked():
    # 1, 2, 3 | 10, 11, 12 | 30: the obvious 3 groups. Breaks are the smallest values of classes 2 and 3.
    x = np.array([12.0, 1.0, 30.0, 2.0, 11.0, 3.0, 10.0])
    fj = fisher_jenks(x, 3)
    assert fj["breaks"] == [10.0, 30.0]
    assert fj["upper_bounds"] == [3.0, 12.0]
    assert fj["counts"] == [3, 3, 1]
    # SDCM = 2 + 2 + 0 = 4
    assert fj["sdcm"] == pytest.approx(4.0)
    np.testing.assert_array_equal(classify_by_breaks(x, fj["breaks"]), [2, 1, 3, 1, 2, 1, 2])


def test_natural_breaks_against_brute_force_with_ties():
    rng = np.random.default_rng(5)
    checked = 0
    for _ in range(250):
        n = int(rng.integers(3, 11))
        k = int(rng.integers(2, min(n, 5) + 1))
        x = np.round(rng.normal(size=n) * 3, int(rng.integers(0, 2)))  # integers or one decimal: many ties
        if np.unique(x).size < k:
            with pytest.raises(InputError, match="distinct values"):
                natural_breaks(x, k)
            continue
        fj = fisher_jenks(x, k)
        assert fj["sdcm"] == pytest.approx(_brute_force_sdcm(x, k), abs=1e-9)
        codes = classify_by_breaks(x, fj["breaks"])
        assert set(codes.tolist()) == set(range(1, k + 1))  # every class used
        # classes are intervals and equal values share a class
        order = np.argsort(x, kind="stable")
        assert np.all(np.diff(codes[order]) >= 0)
        for value in np.unique(x):
            assert np.unique(codes[x == value]).size == 1
        checked += 1
    assert checked > 150


@pytest.mark.parametrize("k", [2, 3, 5, 7])
def test_natural_breaks_equal_jenkspy(k):
    rng = np.random.default_rng(k)
    sample = rng.lognormal(-1.6, 0.7, 20000)  # Cv-like: skewed, positive
    fj = fisher_jenks(sample, k)
    ref = jenkspy.jenks_breaks(sample, n_classes=k)
    # jenkspy prints the largest value of classes 1..k-1
    assert fj["upper_bounds"] == ref[1:-1]
    # our breaks reproduce jenkspy's partition exactly through classify_by_breaks
    jenks_labels = np.searchsorted(np.asarray(ref[1:-1]), sample, side="left") + 1  # value <= bound -> class
    np.testing.assert_array_equal(classify_by_breaks(sample, fj["breaks"]), jenks_labels)
    assert natural_breaks(sample, k) == fj["breaks"]


def test_natural_breaks_equal_jenkspy_small_random():
    rng = np.random.default_rng(8)
    for _ in range(100):
        n = int(rng.integers(5, 200))
        k = int(rng.integers(2, 8))
        sample = rng.normal(size=n) * rng.choice([0.01, 1.0, 100.0])
        assert fisher_jenks(sample, k)["upper_bounds"] == jenkspy.jenks_breaks(sample, n_classes=k)[1:-1]


def test_natural_breaks_deterministic_and_order_free():
    rng = np.random.default_rng(9)
    sample = rng.gamma(2.0, 0.1, 20000)
    b1 = natural_breaks(sample, 5)
    b2 = natural_breaks(sample.copy(), 5)
    b3 = natural_breaks(rng.permutation(sample), 5)
    assert b1 == b2 == b3
    with_nan = np.concatenate([sample, [np.nan] * 10])
    assert natural_breaks(with_nan, 5) == b1


def test_natural_breaks_few_distinct_values():
    with pytest.raises(InputError, match="at most 2 classes"):
        natural_breaks(np.array([0.1, 0.1, 0.2, 0.2, np.nan]), 3)
    # exactly k distinct values: one class each
    assert natural_breaks(np.array([0.3, 0.1, 0.2, 0.1]), 3) == [0.2, 0.3]
    with pytest.raises(InputError):
        natural_breaks(np.array([1.0, 2.0, 3.0]), 1)
    with pytest.raises(InputError, match="infinite"):
        natural_breaks(np.array([1.0, 2.0, np.inf]), 2)


def test_breaks_identical_for_any_block_layout():
    """Cv computed block by block, sampled, classified: same breaks whatever the blocks (and on a rerun)."""
    rng = np.random.default_rng(21)
    stack = 200 + rng.normal(0, 1, (24, 120, 150)) * rng.gamma(2, 10, (120, 150))
    stack[:, :10, :] = np.nan  # a nodata strip
    years_as_list = [stack[t] for t in range(24)]  # "several single-band rasters"

    def run(blocks_of, source):
        sc = SampleCollector(size=3000, seed=42)
        n_rows, n_cols = source.shape[1:]
        for r0 in range(0, n_rows, blocks_of[0]):
            for c0 in range(0, n_cols, blocks_of[1]):
                block = source[:, r0 : r0 + blocks_of[0], c0 : c0 + blocks_of[1]]
                sc.add(coefficient_of_variation(block)["cv"], r0, c0)
        return natural_breaks(sc.values(), 5)

    ref = run((120, 150), stack)
    assert run((16, 150), stack) == ref
    assert run((37, 29), np.stack(years_as_list)) == ref
    assert run((37, 29), stack) == ref


# ----------------------------------------------------------------------------------------------------------------
# Class scheme
# ----------------------------------------------------------------------------------------------------------------
def test_cv_class_scheme_five_classes():
    scheme = cv_class_scheme([0.1, 0.2, 0.3, 0.45])
    assert scheme.codes == (1, 2, 3, 4, 5)
    assert scheme.nodata == CLASS_NODATA
    for label, name in zip(scheme.labels, FLUCTUATION_LABELS_5):
        assert label.startswith(name)
    assert scheme.labels[0] == "Low fluctuation (Cv < 0.1)"
    assert scheme.labels[2] == "Medium fluctuation (Cv 0.2 - 0.3)"
    assert scheme.labels[4] == "High fluctuation (Cv >= 0.45)"

    def rgb(h):
        return tuple(int(h[i : i + 2], 16) for i in (1, 3, 5))

    first, last = rgb(scheme.colors[0]), rgb(scheme.colors[-1])
    assert first[1] > first[0]  # green
    assert last[0] > last[1]  # red


def test_cv_class_scheme_other_k_and_errors():
    scheme = cv_class_scheme([0.2, 0.4])
    assert scheme.codes == (1, 2, 3)
    assert "Cv < 0.2" in scheme.labels[0] and "most stable" in scheme.labels[0]
    assert "Cv >= 0.4" in scheme.labels[2] and "most fluctuating" in scheme.labels[2]
    assert len(set(scheme.colors)) == 3
    for bad in ([], [0.3, 0.2], [0.1, float("nan")]):
        with pytest.raises(InputError):
            cv_class_scheme(bad)
