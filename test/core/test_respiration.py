"""Tests of core.respiration: Pei (2009) Rh, GSMSR Rs and the Bond-Lamberty / Shi Rs -> Rh conversions."""

import calendar
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import respiration as r
from core.errors import InputError

# --------------------------------------------------------------------------------------------- references
# Plain per-value formulas written from METHODS.md with math (no numpy), used as oracles.


def pei_ref(t, p):
    if math.isnan(t) or math.isnan(p):
        return math.nan
    return 0.22 * (math.exp(0.0912 * t) + math.log(0.3145 * p + 1)) * 30 * 0.465


def gsmsr_daily_ref(t, p_mm, ds, r0=0.588, m=0.118, alpha=1.83, beta=-0.006, p0=2.972, k=5.657):
    if math.isnan(t) or math.isnan(p_mm) or math.isnan(ds):
        return math.nan
    p = p_mm / 10.0
    return (r0 + m * ds) * math.exp(math.log(alpha * math.exp(beta * t)) * t / 10) * (p + p0) / (p + k)


def random_climate(rng, years, shape, nan_fraction=0.02):
    n = 12 * years
    month = np.arange(n) % 12
    t = (5 - 15 * np.cos(2 * np.pi * month / 12)).reshape((n,) + (1,) * len(shape)) + rng.normal(0, 4, (n,) + shape)
    p = rng.gamma(1.5, 30.0, (n,) + shape)
    p[rng.random(p.shape) < 0.05] = 0.0
    t[rng.random(t.shape) < nan_fraction] = np.nan
    p[rng.random(p.shape) < nan_fraction] = np.nan
    return t, p


# ------------------------------------------------------------------------------------------------- Pei


def test_pei_rh_hand_values():
    # T = 10, P = 50: exp(0.912) = 2.489296, ln(0.3145 * 50 + 1) = ln(16.725) = 2.816905, sum 5.306201
    # x 0.22 = 1.167364, x 30 x 0.465 (= 13.95) = 16.28473 g C m-2 month-1
    assert r.pei_rh(10.0, 50.0) == pytest.approx(16.28473, abs=1e-5)
    # T = 0, P = 0: 0.22 x (1 + 0) x 13.95 = 3.069
    assert r.pei_rh(0.0, 0.0) == pytest.approx(3.069, abs=1e-12)
    out = r.pei_rh(np.array([10.0, np.nan, 0.0]), np.array([50.0, 10.0, np.nan]))
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, [16.28473, np.nan, np.nan], atol=1e-5, equal_nan=True)


def test_pei_rh_undefined_below_minus_3_18_mm_is_nan_without_warning(recwarn):
    # 0.3145 P + 1 <= 0 for P <= -3.18 mm: ln undefined -> NaN (check_precipitation rejects such inputs)
    out = r.pei_rh(np.array([10.0, 10.0]), np.array([-3.2, -1.0 / 0.3145]))
    assert np.isnan(out).all()
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_monthly_to_annual():
    x = np.arange(24, dtype=float)
    # 0 + 1 + ... + 11 = 66; 12 + ... + 23 = 66 + 144 = 210
    np.testing.assert_array_equal(r.monthly_to_annual(x), [66.0, 210.0])
    x3 = np.arange(48, dtype=float).reshape(24, 2)
    out = r.monthly_to_annual(x3)
    assert out.shape == (2, 2)
    # column 0 holds 0, 2, ..., 22 in year 1: 2 x 66 = 132
    assert out[0, 0] == 132.0
    x[5] = np.nan
    out = r.monthly_to_annual(x)
    assert np.isnan(out[0]) and out[1] == 210.0
    with pytest.raises(InputError, match="12 bands per year"):
        r.monthly_to_annual(np.zeros(13))
    with pytest.raises(InputError):
        r.monthly_to_annual(np.zeros((0, 3)))


def test_pei_rh_annual_against_reference():
    rng = np.random.default_rng(1)
    t, p = random_climate(rng, 3, (30, 40))
    annual, monthly = r.pei_rh_annual(t, p)
    assert annual.shape == (3, 30, 40) and monthly.shape == (36, 30, 40)
    ref_m = np.vectorize(pei_ref)(t, p)
    np.testing.assert_allclose(monthly, ref_m, rtol=1e-13, equal_nan=True)
    for y in range(3):
        for i in range(0, 30, 7):
            for j in range(40):
                months = [pei_ref(t[12 * y + m, i, j], p[12 * y + m, i, j]) for m in range(12)]
                expected = math.nan if any(math.isnan(v) for v in months) else sum(months)
                np.testing.assert_allclose(annual[y, i, j], expected, rtol=1e-12, equal_nan=True)
    assert np.isnan(annual).any() and np.isfinite(annual).any()
    with pytest.raises(InputError, match="TEMPERATURE"):
        r.pei_rh_annual(t, p[:24])


def test_annual_inputs_mode_underestimates_about_8x():
    # METHODS.md: "about 8x lower than the monthly sum for a temperate year (for example 19 vs 165)".
    # T = 4 - 15 cos(2 pi m / 12): -11 in January, 19 in July, mean 4; 30 mm every month (360 mm a year).
    m = np.arange(12)
    t = 4 - 15 * np.cos(2 * np.pi * m / 12)
    p = np.full(12, 30.0)
    monthly_sum = r.pei_rh_annual(t, p)[0][0]
    # annual inputs: 0.22 x (exp(0.0912 x 4) + ln(0.3145 x 360 + 1)) x 13.95
    #              = 0.22 x (1.440226 + 4.738126) x 13.95 = 18.961 g C m-2 yr-1
    annual_inputs = r.pei_rh_annual_inputs(np.array([t.mean()]), np.array([p.sum()]))[0]
    assert annual_inputs == pytest.approx(18.961, abs=1e-3)
    assert monthly_sum == pytest.approx(sum(pei_ref(a, b) for a, b in zip(t, p)), rel=1e-12)
    assert 150 < monthly_sum < 180  # 167.3, the "165" ballpark
    assert 7 < monthly_sum / annual_inputs < 10  # 8.8x


@settings(max_examples=60, deadline=None)
@given(
    st.floats(-40, 40),
    st.floats(0, 800),
    st.floats(0.01, 10),
    st.floats(0.01, 100),
)
def test_pei_rh_increases_with_temperature_and_precipitation(t, p, dt, dp):
    base = r.pei_rh(t, p)
    assert r.pei_rh(t + dt, p) > base
    assert r.pei_rh(t, p + dp) > base
    assert base > 0


# ------------------------------------------------------------------------------------------ days, checks


def test_days_in_months_leap_and_common_years():
    d2000 = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]  # 2000: divisible by 400, leap
    d2001 = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    out = r.days_in_months([2000, 2001])
    assert out.shape == (24,)
    np.testing.assert_array_equal(out, d2000 + d2001)
    assert out[:12].sum() == 366 and out[12:].sum() == 365
    assert r.days_in_months([1900])[1] == 28  # divisible by 100, not by 400: common year
    assert r.days_in_months([2024])[1] == 29
    years = list(range(1890, 2030))
    ref = [calendar.monthrange(y, m)[1] for y in years for m in range(1, 13)]
    np.testing.assert_array_equal(r.days_in_months(years), ref)


def test_check_temperature():
    r.check_temperature(np.array([-30.0, 0.0, 25.0, np.nan]))
    r.check_temperature(np.full(4, np.nan))
    with pytest.raises(InputError, match="looks like Kelvin: convert to deg C \\(subtract 273.15\\)") as err:
        r.check_temperature(np.array([270.0, 285.0, 300.0]), name="TEMPERATURE")
    assert "TEMPERATURE" in str(err.value)
    with pytest.raises(InputError, match="is its nodata value declared"):
        r.check_temperature(np.array([5.0, 10.0, -9999.0]))


def test_check_precipitation():
    r.check_precipitation(np.array([0.0, 12.5, np.nan]))
    with pytest.raises(InputError, match="-0.5") as err:
        r.check_precipitation(np.array([3.0, -0.5, -0.25]), name="PRECIPITATION")
    assert "negative" in str(err.value) and "PRECIPITATION" in str(err.value)


def test_check_soil_carbon():
    r.check_soil_carbon(np.array([0.0, 5.0, 150.0, np.nan]))
    r.check_soil_carbon(8.5)
    for bad in (np.array([3.0, 250.0]), np.array([-1.0, 2.0])):
        with pytest.raises(InputError) as err:
            r.check_soil_carbon(bad)
        msg = str(err.value)
        assert "kg C m-2" in msg and "20 cm" in msg and "t C/ha" in msg and "g C/m2" in msg and "SOIL_CARBON" in msg
    with pytest.raises(InputError, match="250"):
        r.check_soil_carbon(250.0)  # e.g. 25 kg C m-2 given in t/ha


# ---------------------------------------------------------------------------------------------- GSMSR


def test_gsmsr_defaults():
    assert r.GSMSR_DEFAULTS == {"r0": 0.588, "m": 0.118, "alpha": 1.83, "beta": -0.006, "p0": 2.972, "k": 5.657}


def test_gsmsr_at_zero_degrees_reduces_to_the_moisture_term():
    # T = 0: exp(ln(alpha) x 0 / 10) = 1, so Rs = (R0 + M Ds)(P + P0)/(P + K), P in cm.
    # Ds = 10, P = 50 mm = 5 cm: (0.588 + 1.18) x (5 + 2.972) / (5 + 5.657) = 1.768 x 7.972 / 10.657 = 1.322558
    assert r.gsmsr_rs_daily(0.0, 50.0, 10.0) == pytest.approx(1.322558, abs=1e-6)
    for ds, p in [(0.0, 0.0), (3.0, 120.0), (25.0, 7.0)]:
        expected = (0.588 + 0.118 * ds) * (p / 10 + 2.972) / (p / 10 + 5.657)
        assert r.gsmsr_rs_daily(0.0, p, ds) == pytest.approx(expected, rel=1e-14)


def test_gsmsr_hand_value_at_ten_degrees():
    # T = 10, P = 0, Ds = 0: exp((ln 1.83 - 0.006 x 10) x 10 / 10) = exp(0.604316 - 0.06) = 1.723429
    # Rs = 0.588 x 1.723429 x 2.972 / 5.657 = 0.532394 g C m-2 day-1
    assert r.gsmsr_rs_daily(10.0, 0.0, 0.0) == pytest.approx(0.532394, abs=1e-6)
    # custom parameters are used: alpha = e, beta = 0, T = 10 -> exp(1) factor; p0 = k -> moisture term 1
    assert r.gsmsr_rs_daily(10.0, 0.0, 0.0, r0=1.0, m=0.0, alpha=math.e, beta=0.0, p0=2.0, k=2.0) == pytest.approx(
        math.e
    )
    with pytest.raises(InputError, match="ALPHA"):
        r.gsmsr_rs_daily(10.0, 0.0, 0.0, alpha=0.0)


def test_gsmsr_monthly_counts_days_with_leap_years():
    daily = r.gsmsr_rs_daily(12.0, 40.0, 6.0)
    t = np.full((24, 1, 1), 12.0)
    p = np.full((24, 1, 1), 40.0)
    rs = r.gsmsr_rs_monthly(t, p, 6.0, [2000, 2001])
    assert rs.shape == (24, 1, 1)
    assert rs[1, 0, 0] == pytest.approx(29 * daily)  # February 2000
    assert rs[13, 0, 0] == pytest.approx(28 * daily)  # February 2001
    assert rs[0, 0, 0] == pytest.approx(31 * daily)
    annual = r.monthly_to_annual(rs)
    assert annual[0, 0, 0] == pytest.approx(366 * daily)
    assert annual[1, 0, 0] == pytest.approx(365 * daily)
    with pytest.raises(InputError, match="24 bands"):
        r.gsmsr_rs_monthly(t, p, 6.0, [2000])
    with pytest.raises(InputError, match="unknown GSMSR parameter"):
        r.gsmsr_rs_monthly(t, p, 6.0, [2000, 2001], gamma=1.0)


def test_bond_lamberty():
    # Rh = Rs where exp(1.22) Rs^0.73 = Rs, i.e. Rs = exp(1.22 / 0.27) = 91.70
    assert r.bond_lamberty_rh(91.7) == pytest.approx(91.7, rel=1e-4)
    # Rs = 1000: exp(1.22) = 3.387188, 1000^0.73 = 154.8817 -> 524.613
    assert r.bond_lamberty_rh(1000.0) == pytest.approx(524.613, abs=1e-3)
    assert r.bond_lamberty_rh(50.0) > 50.0  # below 91.7 Rh > Rs (why it must not be applied monthly)
    out = r.bond_lamberty_rh(np.array([0.0, -5.0, np.nan, 1.0]))
    np.testing.assert_allclose(out, [np.nan, np.nan, np.nan, math.exp(1.22)], equal_nan=True)


def test_shi():
    # Rs = 0: 4.8874; Rs = 100: -9 + 60.11 + 4.8874 = 55.9974
    np.testing.assert_allclose(r.shi_rh(np.array([0.0, 100.0])), [4.8874, 55.9974], atol=1e-12)
    # maximum at Rs = 0.6011 / (2 x 0.0009) = 333.94
    rs = np.linspace(0, 700, 70001)
    assert rs[np.argmax(r.shi_rh(rs))] == pytest.approx(333.94, abs=0.01)
    assert r.shi_rh(700.0) < 0


def test_gsmsr_rh_against_reference():
    rng = np.random.default_rng(3)
    years = [2003, 2004]
    t, p = random_climate(rng, 2, (40, 50))
    ds = rng.uniform(0.5, 30, (40, 50))
    ds[0, 0] = np.nan
    days = [calendar.monthrange(y, m)[1] for y in years for m in range(1, 13)]
    rh_bl, rs_bl, n_bl = r.gsmsr_rh(t, p, ds, years)
    rh_shi, rs_shi, n_shi = r.gsmsr_rh(t, p, ds, years, conversion="shi")
    assert n_bl == 0
    np.testing.assert_array_equal(rs_bl, rs_shi)
    n_out_ref = 0
    for i in range(40):
        for j in range(50):
            for y in range(2):
                rs_m = [
                    gsmsr_daily_ref(t[12 * y + m, i, j], p[12 * y + m, i, j], ds[i, j]) * days[12 * y + m]
                    for m in range(12)
                ]
                n_out_ref += sum(1 for v in rs_m if not math.isnan(v) and not 0 <= v <= 600)
                if any(math.isnan(v) for v in rs_m):
                    assert np.isnan(rs_bl[y, i, j]) and np.isnan(rh_bl[y, i, j]) and np.isnan(rh_shi[y, i, j])
                    continue
                rs_y = sum(rs_m)
                assert rs_bl[y, i, j] == pytest.approx(rs_y, rel=1e-12)
                assert rh_bl[y, i, j] == pytest.approx(math.exp(1.22 + 0.73 * math.log(rs_y)), rel=1e-12)
                shi = sum(-0.0009 * v * v + 0.6011 * v + 4.8874 for v in rs_m)
                assert rh_shi[y, i, j] == pytest.approx(shi, rel=1e-12)
    # any month is in 0..600 here (GSMSR gives at most a few g C m-2 day-1)
    assert n_shi == n_out_ref == 0
    with pytest.raises(InputError, match="CONVERSION"):
        r.gsmsr_rh(t, p, ds, years, conversion="raich")


def test_gsmsr_rh_counts_shi_out_of_range_months():
    # r0 = 25 g C m-2 day-1 at T = 0, P0 = K: Rs = 25 x 31 = 775 in 31-day months, 25 x 30 = 750 in 30-day ones,
    # 25 x 28 = 700 in February 2001: every month is above 600 -> 12 out of range per pixel
    t = np.zeros((12, 2, 3))
    p = np.zeros((12, 2, 3))
    p[5, 1, 2] = np.nan  # a missing month is not counted
    _, rs, n = r.gsmsr_rh(t, p, 0.0, [2001], conversion="shi", r0=25.0, p0=1.0, k=1.0)
    assert n == 12 * 6 - 1
    assert rs[0, 0, 0] == pytest.approx(25 * 365)
    assert np.isnan(rs[0, 1, 2])
    _, _, n0 = r.gsmsr_rh(t, p, 0.0, [2001], conversion="shi")
    assert n0 == 0


def test_gsmsr_soil_carbon_broadcasts():
    rng = np.random.default_rng(5)
    t, p = random_climate(rng, 1, (4, 5), nan_fraction=0.0)
    rh_scalar, rs_scalar, _ = r.gsmsr_rh(t, p, 7.5, [2010])
    rh_grid, rs_grid, _ = r.gsmsr_rh(t, p, np.full((4, 5), 7.5), [2010])
    np.testing.assert_array_equal(rh_scalar, rh_grid)
    np.testing.assert_array_equal(rs_scalar, rs_grid)
    ds = np.arange(20.0).reshape(4, 5)
    rh, _, _ = r.gsmsr_rh(t, p, ds, [2010])
    single, _, _ = r.gsmsr_rh(t[:, 2:3, 3:4], p[:, 2:3, 3:4], ds[2, 3], [2010])
    assert rh[0, 2, 3] == pytest.approx(single[0, 0, 0], rel=1e-14)


@settings(max_examples=60, deadline=None)
@given(st.floats(-40, 40), st.floats(0, 1000), st.floats(0, 150), st.floats(0.1, 30))
def test_gsmsr_daily_positive_and_increasing_in_soil_carbon(t, p, ds, dds):
    rs = r.gsmsr_rs_daily(t, p, ds)
    assert rs > 0
    assert r.gsmsr_rs_daily(t, p, ds + dds) > rs
    assert rs == pytest.approx(gsmsr_daily_ref(t, p, ds), rel=1e-12)
