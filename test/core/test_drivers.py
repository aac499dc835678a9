"""Tests of core.drivers: correlation, partial correlation, dominant factor and contribution analysis.

Oracles: pingouin.partial_corr (Pearson and Spearman) and scipy.stats.pearsonr / spearmanr on thousands of
random pixels (with ties and missing years), numpy.linalg.lstsq and numpy.polyfit per pixel for the
attribution, hand-worked tiny cases, and hypothesis invariants. Degenerate pixels must give NaN without warnings
(every test here runs with warnings turned into errors).
"""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from core import drivers
from core.classes import CLASS_NODATA
from core.errors import InputError

pytestmark = pytest.mark.filterwarnings("error")

pg = pytest.importorskip("pingouin")
pd = pytest.importorskip("pandas")

HYP = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ----------------------------------------------------------------------------------------------------------------
# Random pixel generators
# ----------------------------------------------------------------------------------------------------------------


def _random_block(rng, n_pix, n_times, k, ties=False, nan_frac=0.0):
    """Target (T, N) and factors (k, T, N) with real dependence (random mixing), optional ties and NaNs."""
    base = rng.normal(size=(k + 1, n_times, n_pix))
    mix = rng.normal(size=(k + 1, k + 1, n_pix)) * rng.uniform(0, 1, size=(1, 1, n_pix))
    for i in range(k + 1):
        mix[i, i] = 1.0
    data = np.einsum("ijn,jtn->itn", mix, base)
    data *= rng.uniform(0.1, 100, size=(k + 1, 1, n_pix))
    data += rng.uniform(-500, 500, size=(k + 1, 1, n_pix))
    if ties:  # few distinct values per series: many ties
        z = (data - data.mean(axis=1, keepdims=True)) / data.std(axis=1, keepdims=True)
        data = np.round(2 * z) + 10  # integers around 6..14
    if nan_frac:
        data[rng.random(data.shape) < nan_frac] = np.nan
    return data[0], data[1:]


def _pingouin_pixel(y, f, method):
    """pingouin.partial_corr r and p of the target with each factor, controlling for the others (one pixel)."""
    k = f.shape[0]
    cols = {"y": y}
    cols.update({f"f{j}": f[j] for j in range(k)})
    df = pd.DataFrame(cols)
    rs, ps = [], []
    for j in range(k):
        covar = [f"f{i}" for i in range(k) if i != j] or None
        if covar is None:
            # pingouin.corr is the one-factor case (partial_corr needs a covariate).
            d = df[["y", f"f{j}"]].dropna()
            res = pg.corr(d["y"], d[f"f{j}"], method=method)
        else:
            res = pg.partial_corr(data=df, x=f"f{j}", y="y", covar=covar, method=method)
        rs.append(float(res["r"].iloc[0]))
        ps.append(float(res["p_val"].iloc[0]))
    return np.array(rs), np.array(ps)


# ----------------------------------------------------------------------------------------------------------------
# Hand-checked tiny cases
# ----------------------------------------------------------------------------------------------------------------


def test_pearson_hand_case():
    # x = 1..5, y = 2 4 5 4 5: dx = -2 -1 0 1 2, dy = -2 0 1 0 1 (means 3 and 4)
    # Sxy = 4 + 0 + 0 + 0 + 2 = 6, Sxx = 10, Syy = 4 + 0 + 1 + 0 + 1 = 6, r = 6 / sqrt(60) = 0.7745967
    # t = r sqrt(3) / sqrt(1 - r^2) = 3 / sqrt(2) = 2.1213203; Student t with 3 df:
    # F(t) = 1/2 + [ (t/sqrt3) / (1 + t^2/3) + atan(t/sqrt3) ] / pi, t/sqrt3 = sqrt(1.5) = 1.2247449,
    # = 0.5 + (0.4898979 + 0.8860771) / pi = 0.9379865 -> p = 2 (1 - F) = 0.1240270
    y = np.array([2.0, 4, 5, 4, 5])
    x = np.arange(1.0, 6.0)
    res = drivers.correlation(y, x)
    assert res["r"] == pytest.approx(6 / np.sqrt(60), abs=1e-14)
    assert res["p"] == pytest.approx(0.1240270, abs=5e-7)
    assert int(res["n"]) == 5


def test_spearman_hand_case():
    # y = 2 4 5 4 5 ranks: 2 -> 1, the two 4s -> (2 + 3) / 2 = 2.5, the two 5s -> (4 + 5) / 2 = 4.5
    # rank(y) = 1 2.5 4.5 2.5 4.5 (mean 3): dev -2 -0.5 1.5 -0.5 1.5; rank(x) = 1..5: dev -2 -1 0 1 2
    # Sxy = 4 + 0.5 + 0 - 0.5 + 3 = 7, Sxx = 10, Syy = 4 + 0.25 + 2.25 + 0.25 + 2.25 = 9 -> r = 7 / sqrt(90)
    y = np.array([2.0, 4, 5, 4, 5])
    x = np.arange(1.0, 6.0)
    res = drivers.correlation(y, x, method="spearman")
    assert res["r"] == pytest.approx(7 / np.sqrt(90), abs=1e-14)


def test_partial_hand_case():
    # f1 = -1 -1 1 1, f2 = -1 1 -1 1 (centered, orthogonal), y = 1 2 3 5 (mean 2.75, dy = -1.75 -0.75 .25 2.25)
    # S(f1,y) = 1.75 + 0.75 + 0.25 + 2.25 = 5, S(f2,y) = 1.75 - 0.75 - 0.25 + 2.25 = 3, S(y,y) = 8.75,
    # S(f1,f1) = S(f2,f2) = 4, S(f1,f2) = 0 -> r1 = 5/sqrt(35), r2 = 3/sqrt(35), r12 = 0
    # r(y,f1 | f2) = r1 / sqrt(1 - r2^2) = (5/sqrt35) / sqrt(26/35) = 5 / sqrt(26) = 0.9805807
    # r(y,f2 | f1) = r2 / sqrt(1 - r1^2) = 3 / sqrt(10) = 0.9486833
    # df = 4 - 2 - 1 = 1; t1 = r sqrt(1 / (1 - r^2)) = 5, t2 = 3; Student t with 1 df (Cauchy):
    # p = 1 - (2/pi) atan(t): p1 = 1 - 0.6366198 * 1.3734008 = 0.1256659, p2 = 1 - 0.6366198 * 1.2490458 = 0.2048328
    f1 = np.array([-1.0, -1, 1, 1])
    f2 = np.array([-1.0, 1, -1, 1])
    y = np.array([1.0, 2, 3, 5])
    res = drivers.partial_correlation(y, [f1, f2])
    np.testing.assert_allclose(res["r"], [5 / np.sqrt(26), 3 / np.sqrt(10)], atol=1e-14)
    np.testing.assert_allclose(res["p"], [0.1256659, 0.2048328], atol=5e-7)
    assert int(res["df"]) == 1 and int(res["n"]) == 4


def test_attribution_hand_case():
    # years 2000..2004 (centered t = -2 -1 0 1 2, S(t,t) = 10)
    # f1 = -1 0 0 0 1 and f2 = 1 -2 0 0 1 are centered and orthogonal (f1.f2 = -1 + 1 = 0), so the multiple
    # regression coefficients are the simple ones: b1 = S(f1,y)/S(f1,f1) = (0 + 4)/2 = 2,
    # b2 = S(f2,y)/S(f2,f2) = (0 + 0 + 0 + 0 + 4)/6 = 2/3 for y = 0 0 1 2 4.
    # trends: f1: (2 + 2)/10 = 0.4; f2: (-2 + 2 + 0 + 0 + 2)/10 = 0.2; y: (0 + 0 + 0 + 2 + 8)/10 = 1.0
    # contributions 2 * 0.4 = 0.8 and 2/3 * 0.2 = 2/15; climate = 14/15; residual = 1 - 14/15 = 1/15
    # class 1 (increase, climate > 0, residual > 0); climate share = 100 * (14/15) / 1 = 93.333 %
    f1 = np.array([-1.0, 0, 0, 0, 1])
    f2 = np.array([1.0, -2, 0, 0, 1])
    y = np.array([0.0, 0, 1, 2, 4])
    res = drivers.attribution(y, [f1, f2], np.arange(2000, 2005))
    np.testing.assert_allclose(res["coefficients"], [2.0, 2 / 3], atol=1e-13)
    np.testing.assert_allclose(res["factor_trends"], [0.4, 0.2], atol=1e-13)
    np.testing.assert_allclose(res["contributions"], [0.8, 2 / 15], atol=1e-13)
    assert res["climate"] == pytest.approx(14 / 15, abs=1e-13)
    assert res["observed"] == pytest.approx(1.0, abs=1e-13)
    assert res["residual"] == pytest.approx(1 / 15, abs=1e-13)
    assert int(res["classes"]) == 1
    assert res["climate_share"] == pytest.approx(100 * 14 / 15, abs=1e-10)
    assert res["human_share"] == pytest.approx(100 / 15, abs=1e-10)


def test_attribution_table3_share():
    # Seed 002 Table 3 (barren included, interannual): climate 0.095, human 0.030 -> 76.00 % and 24.00 %
    share, human = drivers.attribution_shares(np.array([0.125]), np.array([0.095]), np.array([0.030]))
    assert share[0] == pytest.approx(76.0, abs=1e-12)
    assert human[0] == pytest.approx(24.0, abs=1e-12)


# ----------------------------------------------------------------------------------------------------------------
# Oracles: scipy (one factor) and pingouin (partial)
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["pearson", "spearman"])
@pytest.mark.parametrize("ties,nan_frac", [(False, 0.0), (True, 0.0), (True, 0.15)])
def test_single_factor_equals_scipy(method, ties, nan_frac):
    rng = np.random.default_rng(11 + int(ties) + int(nan_frac * 100))
    n_pix, n_times = 1500, 24
    y, f = _random_block(rng, n_pix, n_times, 1, ties=ties, nan_frac=nan_frac)
    min_valid = 10 if nan_frac else None
    res = drivers.correlation(y, f[0], method=method, min_valid=min_valid)
    part = drivers.partial_correlation(y, f, method=method, min_valid=min_valid)
    # the single-factor partial correlation is the plain correlation, bit for bit
    np.testing.assert_array_equal(part["r"][0], res["r"])
    np.testing.assert_array_equal(part["p"][0], res["p"])
    fn = stats.pearsonr if method == "pearson" else stats.spearmanr
    checked = 0
    for i in range(n_pix):
        ok = ~np.isnan(y[:, i]) & ~np.isnan(f[0, :, i])
        a, b = y[ok, i], f[0, ok, i]
        assert res["n"][i] == ok.sum()
        if ok.sum() < (min_valid or n_times) or np.ptp(a) == 0 or np.ptp(b) == 0:
            assert np.isnan(res["r"][i]) and np.isnan(res["p"][i])
            continue
        ref = fn(a, b)
        assert res["r"][i] == pytest.approx(ref[0], abs=1e-12)
        assert res["p"][i] == pytest.approx(ref[1], rel=1e-8, abs=1e-13)
        checked += 1
    assert checked > 0.8 * n_pix


@pytest.mark.parametrize("method", ["pearson", "spearman"])
@pytest.mark.parametrize(
    "k,n_pix,ties,nan_frac",
    [
        (3, 1000, False, 0.0),
        (3, 200, True, 0.05),
        (2, 200, True, 0.0),
        (1, 150, False, 0.1),
        (4, 60, True, 0.0),
        (5, 60, False, 0.03),
    ],
)
def test_partial_equals_pingouin(method, k, n_pix, ties, nan_frac):
    rng = np.random.default_rng(100 * k + n_pix + int(ties))
    n_times = 24
    y, f = _random_block(rng, n_pix, n_times, k, ties=ties, nan_frac=nan_frac)
    min_valid = 12 if nan_frac else None
    res = drivers.partial_correlation(y, f, method=method, min_valid=min_valid)
    assert res["r"].shape == (k, n_pix) and res["n"].shape == (n_pix,)
    checked = 0
    max_dr = max_dp = 0.0
    for i in range(n_pix):
        ok = ~np.isnan(y[:, i]) & ~np.isnan(f[:, :, i]).any(axis=0)
        assert res["n"][i] == ok.sum()
        assert res["df"][i] == ok.sum() - 2 - (k - 1)
        constant = np.ptp(y[ok, i]) == 0 or (np.ptp(f[:, ok, i], axis=1) == 0).any() if ok.any() else True
        if ok.sum() < (min_valid or n_times) or constant:
            assert np.isnan(res["r"][:, i]).all()
            continue
        rr, pp = _pingouin_pixel(y[ok, i], f[:, ok, i], method)
        np.testing.assert_allclose(res["r"][:, i], rr, atol=1e-10)
        np.testing.assert_allclose(res["p"][:, i], pp, rtol=1e-7, atol=1e-12)
        max_dr = max(max_dr, np.abs(res["r"][:, i] - rr).max())
        max_dp = max(max_dp, np.abs(res["p"][:, i] - pp).max())
        checked += 1
    assert checked > 0.8 * n_pix
    print(f"k={k} {method}: {checked} pixels, max |dr| {max_dr:.2e}, max |dp| {max_dp:.2e}")


def test_partial_first_order_closed_form():
    # independent formula for one control: r_xy.z = (r_xy - r_xz r_yz) / sqrt((1 - r_xz^2)(1 - r_yz^2))
    rng = np.random.default_rng(5)
    y, f = _random_block(rng, 2000, 30, 2)
    res = drivers.partial_correlation(y, f)
    for i in range(0, 2000, 7):
        c = np.corrcoef(np.vstack([y[:, i], f[:, :, i]]))
        for j, o in ((1, 2), (2, 1)):
            ref = (c[0, j] - c[0, o] * c[j, o]) / np.sqrt((1 - c[0, o] ** 2) * (1 - c[j, o] ** 2))
            assert res["r"][j - 1, i] == pytest.approx(ref, abs=1e-12)


def test_trailing_shape_and_1d():
    rng = np.random.default_rng(3)
    y, f = _random_block(rng, 12, 20, 2)
    flat = drivers.partial_correlation(y, f)
    grid = drivers.partial_correlation(y.reshape(20, 3, 4), f.reshape(2, 20, 3, 4))
    assert grid["r"].shape == (2, 3, 4) and grid["n"].shape == (3, 4)
    np.testing.assert_array_equal(grid["r"].reshape(2, 12), flat["r"])
    one = drivers.partial_correlation(y[:, 5], f[:, :, 5])
    assert one["r"].shape == (2,)
    np.testing.assert_allclose(one["r"], flat["r"][:, 5], atol=1e-15)


# ----------------------------------------------------------------------------------------------------------------
# Degenerate pixels: NaN, no warnings
# ----------------------------------------------------------------------------------------------------------------


def _degenerate_block():
    """Columns: 0 normal, 1 constant target (0.1 repeated), 2 constant factor, 3 f2 = 2 f1 + 1 (collinear),
    4 target = 3 f1 - f2 exactly, 5 all NaN, 6 only 3 valid years, 7 normal with 2 missing years."""
    rng = np.random.default_rng(9)
    t = 12
    y = rng.normal(size=(t, 8))
    f = rng.normal(size=(2, t, 8))
    y[:, 1] = 0.1
    f[0, :, 2] = 7.3
    f[1, :, 3] = 2 * f[0, :, 3] + 1
    y[:, 4] = 3 * f[0, :, 4] - f[1, :, 4]
    y[:, 5] = np.nan
    f[:, :, 5] = np.nan
    y[3:, 6] = np.nan
    y[[2, 9], 7] = np.nan
    return y, f


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_degenerate_partial(method):
    y, f = _degenerate_block()
    res = drivers.partial_correlation(y, f, method=method, min_valid=3)
    r = res["r"]
    assert np.isfinite(r[:, 0]).all() and np.isfinite(r[:, 7]).all()
    for col in (1, 2, 3, 5, 6):
        assert np.isnan(r[:, col]).all() and np.isnan(res["p"][:, col]).all(), col
    if method == "pearson":  # exact linear target: singular correlation matrix -> nodata
        assert np.isnan(r[:, 4]).all()
    assert res["n"][5] == 0 and res["n"][6] == 3 and res["n"][7] == 10
    # default MIN_VALID = all years: the pixel with two missing years is nodata
    assert np.isnan(drivers.partial_correlation(y, f, method=method)["r"][:, 7]).all()


def test_degenerate_single_factor():
    y, f = _degenerate_block()
    res = drivers.correlation(y, f[0], min_valid=3)
    assert np.isnan(res["r"][[1, 2, 5]]).all()  # constant target, constant factor, all NaN
    assert np.isfinite(res["r"][6]) and res["n"][6] == 3  # 3 pairs are enough for one factor (df = 1)
    # an exact linear relation is a valid correlation: r = 1, p = 0
    g = np.random.default_rng(1).normal(size=(12, 50))
    exact = drivers.correlation(2.5 * g - 4, g)
    np.testing.assert_allclose(exact["r"], 1.0, atol=1e-12)
    np.testing.assert_allclose(exact["p"], 0.0, atol=1e-10)
    # too few pairs: n = 2 gives NaN even with min_valid = 1
    short = drivers.correlation(np.array([1.0, 2.0, np.nan]), np.array([3.0, 1.0, 2.0]), min_valid=1)
    assert np.isnan(short["r"]) and short["n"] == 2


def test_too_few_years_for_k():
    rng = np.random.default_rng(2)
    y, f = _random_block(rng, 50, 5, 3)  # n = 5 = k + 2: df = 1, fine
    assert np.isfinite(drivers.partial_correlation(y, f)["r"]).all()
    y4, f4 = y[:4], f[:, :4]  # n = 4 < k + 2: nodata
    res = drivers.partial_correlation(y4, f4)
    assert np.isnan(res["r"]).all() and np.isnan(res["p"]).all()
    assert (res["df"] == 0).all()


def test_no_warnings_on_degenerate_block_large():
    # a block mixing every degenerate case with normal pixels: no RuntimeWarning (filterwarnings = error)
    y, f = _degenerate_block()
    y = np.tile(y, (1, 500))
    f = np.tile(f, (1, 1, 500))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for method in ("pearson", "spearman"):
            drivers.partial_correlation(y, f, method=method, min_valid=3)
            drivers.partial_correlation(y, f[:1], method=method, min_valid=3)
        drivers.attribution(y, f, np.arange(2000, 2012), min_valid=3)
        drivers.attribution(y, f, np.arange(2000, 2012), min_valid=3, use_correlation=True)


# ----------------------------------------------------------------------------------------------------------------
# Hypothesis invariants
# ----------------------------------------------------------------------------------------------------------------


@st.composite
def _integer_series(draw, max_k=3):
    t = draw(st.integers(6, 16))
    k = draw(st.integers(1, max_k))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    data = rng.integers(-20, 21, size=(k + 1, t)).astype(float)
    return data[0], data[1:]


def _well_conditioned(y, f):
    c = np.corrcoef(np.vstack([y, f]))
    return bool(np.isfinite(c).all()) and np.linalg.det(c) > 1e-6


@HYP
@given(_integer_series(), st.sampled_from(["pearson", "spearman"]))
def test_r_and_p_in_range(series, method):
    y, f = series
    res = drivers.partial_correlation(y, f, method=method)
    r, p = res["r"], res["p"]
    assert np.array_equal(np.isnan(r), np.isnan(p))
    assert (np.abs(r[~np.isnan(r)]) <= 1).all()
    assert ((p[~np.isnan(p)] >= 0) & (p[~np.isnan(p)] <= 1)).all()


@HYP
@given(
    _integer_series(),
    st.lists(st.sampled_from([-3.5, -0.01, 0.25, 2.0, 1000.0]), min_size=3, max_size=3),
    st.floats(-1e4, 1e4),
)
def test_affine_invariance(series, scales, shift):
    y, f = series
    assume(_well_conditioned(y, f))
    k = f.shape[0]
    a = np.array(scales[:k])[:, None]
    base = drivers.partial_correlation(y, f)
    moved = drivers.partial_correlation(y, a * f + shift)
    np.testing.assert_allclose(moved["r"], np.sign(a[:, 0]) * base["r"], atol=1e-9)
    np.testing.assert_allclose(moved["p"], base["p"], atol=1e-8)
    # regression contributions are in target units: they do not depend on the factors' units
    yrs = np.arange(2001, 2001 + y.shape[0])
    att0 = drivers.attribution(y, f, yrs)
    att1 = drivers.attribution(y, a * f + shift, yrs)
    np.testing.assert_allclose(att1["contributions"], att0["contributions"], atol=1e-9)
    np.testing.assert_allclose(att1["residual"], att0["residual"], atol=1e-9)
    np.testing.assert_allclose(att1["coefficients"] * a[:, 0], att0["coefficients"], rtol=1e-8, atol=1e-12)


@HYP
@given(_integer_series(max_k=3))
def test_symmetry_and_permutation(series):
    y, f = series
    assume(f.shape[0] >= 2 and _well_conditioned(y, f))
    res = drivers.partial_correlation(y, f)
    # r(y, f1 | rest) = r(f1, y | rest): swap the target with the first factor
    swapped = drivers.partial_correlation(f[0], np.vstack([y[None], f[1:]]))
    assert swapped["r"][0] == pytest.approx(res["r"][0], abs=1e-10)
    assert swapped["p"][0] == pytest.approx(res["p"][0], abs=1e-9)
    # permuting the factors permutes the results
    perm = np.arange(f.shape[0])[::-1]
    np.testing.assert_allclose(drivers.partial_correlation(y, f[perm])["r"], res["r"][perm], atol=1e-10)


@HYP
@given(_integer_series(), st.sampled_from(["pearson", "spearman"]))
def test_single_factor_symmetric(series, method):
    y, f = series
    a = drivers.correlation(y, f[0], method=method)
    b = drivers.correlation(f[0], y, method=method)
    assert np.array_equal(np.isnan(a["r"]), np.isnan(b["r"]))
    if not np.isnan(a["r"]):
        assert a["r"] == pytest.approx(b["r"], abs=1e-14)


@HYP
@given(_integer_series())
def test_spearman_monotone_invariance(series):
    y, f = series
    base = drivers.partial_correlation(y, f, method="spearman")
    moved = drivers.partial_correlation(y**3 - 7, np.exp(f / 5.0), method="spearman")  # strictly increasing maps
    np.testing.assert_array_equal(moved["r"], base["r"])


# ----------------------------------------------------------------------------------------------------------------
# Classes and dominant factor
# ----------------------------------------------------------------------------------------------------------------


def test_correlation_classes():
    r = np.array([-0.8, -0.1, 0.1, 0.8, 0.0, np.nan, 0.5])
    p = np.array([0.01, 0.6, 0.6, 0.001, 1.0, np.nan, 0.05])  # p = alpha is not significant
    np.testing.assert_array_equal(drivers.correlation_classes(r, p), [1, 2, 3, 4, 0, CLASS_NODATA, 3])
    assert drivers.correlation_classes(r, p).dtype == np.int16
    assert drivers.CORRELATION_SCHEME.codes == (0, 1, 2, 3, 4)
    assert drivers.correlation_classes(r, p, alpha=0.1)[-1] == 4


def test_dominant_factor_hand():
    r = np.array([[0.2, -0.9, np.nan, 0.3, 0.0], [-0.5, 0.4, np.nan, 0.3, 0.0], [0.1, 0.2, np.nan, np.nan, 0.0]])
    p = np.array([[0.3, 0.001, np.nan, 0.01, 1], [0.2, 0.01, np.nan, 0.5, 1], [0.01, 0.2, np.nan, np.nan, 1]])
    # pixel 0: |r| = .2 .5 .1 -> factor 2; pixel 1: -0.9 -> 1; pixel 2: all NaN; pixel 3: tie .3/.3 -> 1 (first);
    # pixel 4: all zero -> 0 none
    np.testing.assert_array_equal(drivers.dominant_factor(r), [2, 1, CLASS_NODATA, 1, 0])
    # significant only (alpha 0.05): pixel 0: only factor 3 (p .01) -> 3; pixel 1: 1 and 2 significant -> 1;
    # pixel 3: factor 1 (p .01) only -> 1; pixel 4: none -> 0
    np.testing.assert_array_equal(drivers.dominant_factor(r, p, significant_only=True), [3, 1, CLASS_NODATA, 1, 0])


def test_dominant_factor_vs_loop():
    rng = np.random.default_rng(4)
    r = rng.uniform(-1, 1, size=(4, 3000))
    p = rng.uniform(0, 0.2, size=(4, 3000))
    r[rng.random(r.shape) < 0.1] = np.nan
    got = drivers.dominant_factor(r, p, alpha=0.05, significant_only=True)
    for i in range(3000):
        cand = [(abs(r[j, i]), j + 1) for j in range(4) if not np.isnan(r[j, i]) and p[j, i] < 0.05]
        if np.isnan(r[:, i]).all():
            assert got[i] == CLASS_NODATA
        elif not cand:
            assert got[i] == 0
        else:
            assert got[i] == max(cand, key=lambda c: (c[0], -c[1]))[1]


def test_dominant_scheme():
    s = drivers.dominant_scheme(["Temperature", "Precipitation", "Radiation"])
    assert s.codes == (0, 1, 2, 3)
    assert s.labels == ("None", "Temperature", "Precipitation", "Radiation")
    assert s.nodata == CLASS_NODATA
    with pytest.raises(InputError):
        drivers.dominant_scheme(["a", "a"])
    with pytest.raises(InputError):
        drivers.dominant_scheme(["a"] * 6)
    with pytest.raises(InputError):
        drivers.dominant_scheme([])


# ----------------------------------------------------------------------------------------------------------------
# Attribution
# ----------------------------------------------------------------------------------------------------------------


def test_attribution_classes_table2():
    # rows of seed 002 Table 2 (obs = C + H), the zero cases, and NaN
    obs = np.array([3.0, 1.0, 1.0, -3.0, -1.0, -1.0, 0.0, 2.0, 2.0, np.nan, 1.0])
    c = np.array([1.0, 2.0, -1.0, -1.0, -2.0, 1.0, 1.0, 2.0, 0.0, 1.0, np.nan])
    h = obs - c
    cls = drivers.attribution_classes(obs, c, h)
    np.testing.assert_array_equal(cls, [1, 2, 3, 4, 5, 6, 0, 2, 3, CLASS_NODATA, CLASS_NODATA])
    share, human = drivers.attribution_shares(obs, c, h)
    # combined: 100 * C / (C + H): 1/3 and (-1)/(-3); climate-only 100; human-only 0; none and nodata NaN
    np.testing.assert_allclose(share, [100 / 3, 100, 0, 100 / 3, 100, 0, np.nan, 100, 0, np.nan, np.nan], atol=1e-12)
    np.testing.assert_allclose(human, 100 - share)
    # round-off of obs - C counts as zero: H = 1e-17 with obs = C = 1 is "climate only", not "combined"
    assert drivers.attribution_classes(np.array([1.0]), np.array([1.0]), np.array([1e-17]))[0] == 2
    assert drivers.ATTRIBUTION_SCHEME.codes == (0, 1, 2, 3, 4, 5, 6)


@pytest.mark.parametrize("k,nan_frac", [(1, 0.0), (3, 0.0), (3, 0.08), (5, 0.02)])
def test_attribution_vs_lstsq(k, nan_frac):
    rng = np.random.default_rng(40 + k)
    n_pix, n_times = 1000, 24
    years = np.arange(2000, 2000 + n_times, dtype=float)
    y, f = _random_block(rng, n_pix, n_times, k, nan_frac=nan_frac)
    y = y + rng.normal(0, 5, size=(1, n_pix)) * (years[:, None] - 2010)  # real trends
    min_valid = 15 if nan_frac else None
    res = drivers.attribution(y, f, years, min_valid=min_valid)
    checked = 0
    for i in range(n_pix):
        ok = ~np.isnan(y[:, i]) & ~np.isnan(f[:, :, i]).any(axis=0)
        if ok.sum() < (min_valid or n_times):
            assert np.isnan(res["climate"][i]) and res["classes"][i] == CLASS_NODATA
            continue
        x = np.column_stack([np.ones(ok.sum()), f[:, ok, i].T])
        beta = np.linalg.lstsq(x, y[ok, i], rcond=None)[0]
        trend_f = np.array([np.polyfit(years[ok], f[j, ok, i], 1)[0] for j in range(k)])
        trend_y = np.polyfit(years[ok], y[ok, i], 1)[0]
        scale = np.abs(trend_y) + np.abs(beta[1:] * trend_f).sum()
        np.testing.assert_allclose(res["coefficients"][:, i], beta[1:], rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(res["factor_trends"][:, i], trend_f, rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(res["contributions"][:, i], beta[1:] * trend_f, atol=1e-9 * scale)
        assert res["observed"][i] == pytest.approx(trend_y, rel=1e-9, abs=1e-12)
        assert res["residual"][i] == pytest.approx(trend_y - (beta[1:] * trend_f).sum(), abs=1e-9 * scale)
        # the residual contribution is the OLS trend of the regression residuals (same years)
        e = y[ok, i] - x @ beta
        assert res["residual"][i] == pytest.approx(np.polyfit(years[ok], e, 1)[0], abs=1e-8 * scale)
        checked += 1
    assert checked > 0.8 * n_pix
    # classes and shares are those of the returned parts
    np.testing.assert_array_equal(
        res["classes"], drivers.attribution_classes(res["observed"], res["climate"], res["residual"])
    )


def test_attribution_use_correlation():
    rng = np.random.default_rng(8)
    y, f = _random_block(rng, 300, 20, 3)
    years = np.arange(2001, 2021)
    res = drivers.attribution(y, f, years, use_correlation=True)
    pc = drivers.partial_correlation(y, f)
    np.testing.assert_allclose(res["coefficients"], pc["r"], atol=1e-12)
    np.testing.assert_allclose(res["contributions"], pc["r"] * res["factor_trends"], atol=1e-12)
    # not dimensionally consistent: changing a factor's units (x 10) changes its "contribution" 10-fold
    f2 = f.copy()
    f2[0] *= 10
    res2 = drivers.attribution(y, f2, years, use_correlation=True)
    np.testing.assert_allclose(res2["contributions"][0], 10 * res["contributions"][0], rtol=1e-9)


def test_attribution_degenerate():
    y, f = _degenerate_block()
    years = np.arange(2000, 2012)
    res = drivers.attribution(y, f, years, min_valid=3)
    # constant target: well defined, all zero, class 0 "No change", shares NaN
    assert res["observed"][1] == 0 and res["climate"][1] == 0 and (res["coefficients"][:, 1] == 0).all()
    assert res["classes"][1] == 0 and np.isnan(res["climate_share"][1])
    # constant factor, collinear factors, all NaN, too few years: nodata
    for col in (2, 3, 5):
        assert np.isnan(res["climate"][col]) and res["classes"][col] == CLASS_NODATA, col
    assert np.isnan(res["coefficients"][:, 6]).all()  # n = 3 < k + 2 = 4
    # exact linear target: the regression is exact, residual = 0
    assert res["residual"][4] == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(res["coefficients"][:, 4], [3.0, -1.0], atol=1e-12)
    corr = drivers.attribution(y, f, years, min_valid=3, use_correlation=True)
    assert np.isnan(corr["climate"][1])  # r undefined for a constant target
    assert np.isfinite(res["climate"][[0, 7]]).all()


# ----------------------------------------------------------------------------------------------------------------
# Bad input and memory
# ----------------------------------------------------------------------------------------------------------------


def test_bad_input():
    y = np.zeros((10, 3))
    f = np.ones((2, 10, 3))
    with pytest.raises(InputError, match="1 to 5 factors"):
        drivers.partial_correlation(y, np.ones((6, 10, 3)))
    with pytest.raises(InputError, match="time steps"):
        drivers.partial_correlation(y, np.ones((2, 9, 3)))
    with pytest.raises(InputError, match="pearson"):
        drivers.partial_correlation(y, f, method="kendall")
    with pytest.raises(InputError, match="MIN_VALID"):
        drivers.partial_correlation(y, f, min_valid=11)
    with pytest.raises(InputError, match="infinite"):
        drivers.correlation(np.array([1.0, np.inf, 2]), np.array([1.0, 2, 3]))
    with pytest.raises(InputError, match="shape"):
        drivers.correlation(y, f[0, :5])
    with pytest.raises(InputError, match="years"):
        drivers.attribution(y, f, np.arange(9))
    with pytest.raises(InputError, match="increasing"):
        drivers.attribution(y, f, np.arange(10)[::-1])
    with pytest.raises(InputError, match="ALPHA"):
        drivers.correlation_classes(np.zeros(2), np.zeros(2), alpha=1.5)
    with pytest.raises(InputError, match="p-values"):
        drivers.dominant_factor(np.zeros((2, 3)), significant_only=True)


@pytest.mark.parametrize("method", ["pearson", "spearman", "attribution"])
@pytest.mark.parametrize("n_times,k", [(24, 1), (24, 3), (40, 5), (10, 2)])
def test_scratch_bytes_per_pixel(method, n_times, k):
    rng = np.random.default_rng(1)
    n_pix = 8000
    y = rng.normal(size=(n_times, n_pix))
    f = rng.normal(size=(k, n_times, n_pix))
    tracemalloc.start()
    try:
        if method == "attribution":
            drivers.attribution(y, f, np.arange(n_times))
        else:
            drivers.partial_correlation(y, f, method=method)
        peak = tracemalloc.get_traced_memory()[1] / n_pix
    finally:
        tracemalloc.stop()
    est = drivers.scratch_bytes_per_pixel(n_times, k, "pearson" if method == "attribution" else method)
    assert peak <= est <= 3 * peak


def test_batched_inverse_matches_numpy_and_flags_singular():
    # the per-pixel precision matrix equals numpy.linalg.inv; singular matrices are flagged, not inverted
    rng = np.random.default_rng(12)
    m, n_pix = 5, 400
    x = rng.normal(size=(n_pix, 30, m))
    x[:50, :, 3] = 2 * x[:50, :, 1] - x[:50, :, 0]  # collinear in the first 50 pixels
    corr = np.stack([np.corrcoef(x[i], rowvar=False) for i in range(n_pix)])  # (N, m, m)
    with np.errstate(all="ignore"):
        inv, ok = drivers._invert_spd(np.moveaxis(corr, 0, -1))
    assert not ok[:50].any() and ok[50:].all()
    ref = np.linalg.inv(corr[50:])
    np.testing.assert_allclose(np.moveaxis(inv, -1, 0)[50:], ref, rtol=1e-10, atol=1e-10)
