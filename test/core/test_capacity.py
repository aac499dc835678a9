"""Tests of core.capacity: carbon sink carrying capacity (CSCC), potential, saturation and the yearly table."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import pairwise

from core import capacity
from core.capacity import YEAR_NODATA, cscc, cscc_year_partials, cscc_year_table, merge_partials
from core.errors import InputError

nan = np.nan


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def test_cscc_hand_values():
    years = [2001, 2002, 2003]
    # columns: pixels
    npp = np.array(
        [
            # p0      p1    p2   p3    p4    p5
            [100.0, nan, nan, -50.0, 0.0, 300.0],
            [400.0, 20.0, nan, -10.0, 0.0, 300.0],
            [200.0, nan, nan, -30.0, 0.0, 100.0],
        ]
    )
    out = cscc(npp, years)
    # p0: max 400 in 2002; potential 300, 0, 200; saturation 25, 100, 50 %.
    # p1: single valid year 2002 (20): potential 0 there, saturation 100; NaN elsewhere.
    # p2: all NaN -> NaN max, YEAR_NODATA.
    # p3: all negative: max -10 in 2002; potential 40, 0, 20; saturation NaN (max <= 0).
    # p4: max 0 (first occurrence: 2001); saturation NaN (max <= 0).
    # p5: tie 300 in 2001 and 2002 -> first, 2001; saturation 100, 100, 33.33 %.
    np.testing.assert_array_equal(out["max"], [400.0, 20.0, nan, -10.0, 0.0, 300.0])
    assert out["year_of_max"].dtype == np.int32
    np.testing.assert_array_equal(out["year_of_max"], [2002, 2002, YEAR_NODATA, 2002, 2001, 2001])
    np.testing.assert_array_equal(
        out["potential"],
        [[300.0, nan, nan, 40.0, 0.0, 0.0], [0.0, 0.0, nan, 0.0, 0.0, 0.0], [200.0, nan, nan, 20.0, 0.0, 200.0]],
    )
    np.testing.assert_allclose(
        out["saturation"],
        [[25.0, nan, nan, nan, nan, 100.0], [100.0, 100.0, nan, nan, nan, 100.0], [50.0, nan, nan, nan, nan, 100 / 3]],
        rtol=1e-14,
    )
    assert YEAR_NODATA == -9999


def _oracle_cscc(series, years):
    """Plain per-series reference, straight from seed 001 eq. 4-5 and METHODS.md."""
    vals = [(v, y) for v, y in zip(series, years) if not math.isnan(v)]
    if not vals:
        return nan, YEAR_NODATA, [nan] * len(series), [nan] * len(series)
    m = max(v for v, _ in vals)
    year = next(y for v, y in vals if v == m)
    pot = [m - v if not math.isnan(v) else nan for v in series]
    sat = [100.0 * v / m if (not math.isnan(v) and m > 0) else nan for v in series]
    return m, year, pot, sat


def test_cscc_matches_per_pixel_oracle_on_random_pixels():
    rng = np.random.default_rng(42)
    t, n = 21, 3000
    years = np.arange(1998, 1998 + t)
    npp = np.round(rng.normal(400, 250, (t, n)), 0)  # rounded: many ties; some negative values
    npp[rng.random((t, n)) < 0.25] = nan
    npp[:, :40] = nan  # all NaN
    npp[:, 40:80] = 123.0  # constant: every year ties, first year wins
    npp[:, 80:100] = -5.0  # constant negative
    out = cscc(npp.reshape(t, 50, 60), years)
    mx, yom = out["max"].reshape(n), out["year_of_max"].reshape(n)
    pot, sat = out["potential"].reshape(t, n), out["saturation"].reshape(t, n)
    for p in range(n):
        m, y, pp, ss = _oracle_cscc(npp[:, p].tolist(), years.tolist())
        assert (math.isnan(m) and math.isnan(mx[p])) or m == mx[p]
        assert yom[p] == y
        np.testing.assert_array_equal(pot[:, p], pp)
        np.testing.assert_allclose(sat[:, p], ss, rtol=1e-15)
    assert np.all(yom[40:80] == 1998)


def test_cscc_keeps_float32_and_int_input_and_shapes():
    npp = np.arange(24, dtype=np.float32).reshape(4, 2, 3)
    out = cscc(npp, [2000, 2001, 2002, 2003])
    assert out["max"].shape == (2, 3) and out["potential"].shape == (4, 2, 3)
    np.testing.assert_array_equal(out["max"], npp[3])
    np.testing.assert_array_equal(out["year_of_max"], np.full((2, 3), 2003))
    out_int = cscc(npp.astype(np.int16), [2000, 2001, 2002, 2003])
    np.testing.assert_array_equal(out_int["potential"], out["potential"])


def test_cscc_single_series():
    out = cscc(np.array([1.0, 3.0, nan, 3.0]), [1990, 1991, 1992, 1993])
    # max 3 first reached in 1991; potential 2, 0, NaN, 0; saturation 33.3, 100, NaN, 100
    assert out["max"] == 3.0 and int(out["year_of_max"]) == 1991
    np.testing.assert_array_equal(out["potential"], [2.0, 0.0, nan, 0.0])
    np.testing.assert_allclose(out["saturation"], [100 / 3, 100.0, nan, 100.0], rtol=1e-15)


@pytest.mark.parametrize(
    "npp, years, match",
    [
        (np.ones((3, 2)), [2000, 2001], "one year per band"),
        (np.ones((3, 2)), [2000, 2000.5, 2001], "whole numbers"),
        (np.ones((3, 2)), [2002, 2001, 2003], "strictly increasing"),
        (np.array([[1.0, np.inf], [2.0, 3.0]]), [2000, 2001], "infinite"),
        (np.float64(3.0), [2000], "first axis"),
    ],
)
def test_cscc_bad_input(npp, years, match):
    with pytest.raises(InputError, match=match):
        cscc(npp, years)


def test_year_partials_and_table_hand_values():
    years = [2010, 2011]
    npp = np.array(
        [
            [[100.0, 200.0], [nan, 50.0]],
            [[300.0, nan], [nan, 150.0]],
        ]
    )
    mx = cscc(npp, years)["max"]  # [[300, 200], [nan, 150]]
    area = np.array([[1e6], [2e6]])  # per-row areas, m2
    part = cscc_year_partials(npp, mx, area)
    # 2010: pixels (0,0) 100 g/m2 * 1e6 m2, (0,1) 200 * 1e6, (1,1) 50 * 2e6 -> 1e8 + 2e8 + 1e8 = 4e8 g
    #       CSCC over the same pixels: 300e6 + 200e6 + 150 * 2e6 = 8e8 g
    # 2011: pixels (0,0) 300e6, (1,1) 150 * 2e6 = 3e8 -> 6e8 g; CSCC 300e6 + 300e6 = 6e8 g
    np.testing.assert_allclose(part["sum_npp_area"], [4e8, 6e8], rtol=1e-15)
    np.testing.assert_allclose(part["sum_cscc_area"], [8e8, 6e8], rtol=1e-15)
    np.testing.assert_array_equal(part["valid_pixels"], [3, 2])
    np.testing.assert_allclose(part["valid_area_m2"], [4e6, 3e6], rtol=1e-15)
    rows = cscc_year_table(part, years)
    assert [list(r) for r in rows] == [list(capacity.TABLE_COLUMNS)] * 2
    assert list(capacity.TABLE_COLUMNS) == [
        "year",
        "total_npp_tgc",
        "total_cscc_tgc",
        "potential_tgc",
        "saturation_pct",
    ]
    # Tg = g x 1e-12: 4e8 g = 4e-4 Tg; saturation 100 * 4/8 = 50 %; potential 4e-4 Tg
    r0, r1 = rows
    assert r0["year"] == 2010 and isinstance(r0["year"], int)
    assert r0["total_npp_tgc"] == pytest.approx(4e-4, rel=1e-14)
    assert r0["total_cscc_tgc"] == pytest.approx(8e-4, rel=1e-14)
    assert r0["potential_tgc"] == pytest.approx(4e-4, rel=1e-14)
    assert r0["saturation_pct"] == pytest.approx(50.0, rel=1e-14)
    assert r1["saturation_pct"] == pytest.approx(100.0, rel=1e-14)
    assert r1["potential_tgc"] == pytest.approx(0.0, abs=1e-18)


def test_table_year_without_valid_pixels_is_nan_and_nonpositive_cscc_has_no_saturation():
    npp = np.array([[nan, nan], [-5.0, -1.0]])
    mx = cscc(npp, [2000, 2001])["max"]
    rows = cscc_year_table(cscc_year_partials(npp, mx, 10.0), [2000, 2001])
    assert all(math.isnan(rows[0][k]) for k in ("total_npp_tgc", "total_cscc_tgc", "potential_tgc", "saturation_pct"))
    # 2001: npp total = (-5 - 1) * 10 = -60 g; cscc total equal -> potential 0, saturation undefined (cscc <= 0)
    assert rows[1]["total_npp_tgc"] == pytest.approx(-60e-12)
    assert math.isnan(rows[1]["saturation_pct"])


def test_partials_leave_out_pixels_without_area():
    npp = np.array([[1.0, 2.0, 3.0]])
    part = cscc_year_partials(npp, npp[0], np.array([1.0, nan, 2.0]))
    # 1*1 + 3*2 = 7
    assert part["sum_npp_area"][0] == 7.0 and part["valid_pixels"][0] == 2


def test_partials_bad_input():
    npp = np.ones((2, 3, 4))
    with pytest.raises(InputError, match="shape"):
        cscc_year_partials(npp, np.ones((3, 3)), 1.0)
    with pytest.raises(InputError, match="areas"):
        cscc_year_partials(npp, np.ones((3, 4)), np.ones((2, 4)))
    with pytest.raises(InputError, match=">= 0"):
        cscc_year_partials(npp, np.ones((3, 4)), -1.0)
    with pytest.raises(InputError, match="lack"):
        cscc_year_table({"sum_npp_area": np.zeros(2)}, [2000, 2001])
    with pytest.raises(InputError):
        merge_partials(None)
    p1 = cscc_year_partials(npp, np.ones((3, 4)), 1.0)
    p2 = cscc_year_partials(np.ones((3, 3, 4)), np.ones((3, 4)), 1.0)
    with pytest.raises(InputError, match="merge"):
        merge_partials(p1, p2)


def test_table_matches_whole_raster_oracle():
    rng = np.random.default_rng(7)
    t = 12
    years = np.arange(2000, 2000 + t)
    npp = rng.gamma(4.0, 120.0, (t, 30, 40))
    npp[rng.random(npp.shape) < 0.1] = nan
    npp[:, :3, :] = nan
    area = rng.uniform(2e5, 3e5, (30, 1))
    mx = cscc(npp, years)["max"]
    rows = cscc_year_table(cscc_year_partials(npp, mx, area), years)
    a = np.broadcast_to(area, (30, 40))
    for i, row in enumerate(rows):
        ok = ~np.isnan(npp[i])
        tot = sum(float(v) * float(w) for v, w in zip(npp[i][ok], a[ok])) * 1e-12
        cap = sum(float(v) * float(w) for v, w in zip(mx[ok], a[ok])) * 1e-12
        assert row["total_npp_tgc"] == pytest.approx(tot, rel=1e-12)
        assert row["total_cscc_tgc"] == pytest.approx(cap, rel=1e-12)
        assert row["potential_tgc"] == pytest.approx(cap - tot, rel=1e-10)
        assert row["saturation_pct"] == pytest.approx(100 * tot / cap, rel=1e-12)
        assert 0 < row["saturation_pct"] <= 100


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    rows=st.integers(1, 9),
    cols=st.integers(1, 9),
    data=st.data(),
)
def test_partials_merge_is_invariant_to_block_splitting(seed, rows, cols, data):
    rng = np.random.default_rng(seed)
    t = 5
    npp = rng.normal(300, 200, (t, rows, cols))
    npp[rng.random(npp.shape) < 0.3] = nan
    area = rng.uniform(1, 10, (rows, 1))
    whole = cscc(npp, np.arange(t) + 2000)
    ref = cscc_year_partials(npp, whole["max"], area)
    cut_r = sorted(data.draw(st.lists(st.integers(1, max(1, rows - 1)), max_size=3)))
    cut_c = sorted(data.draw(st.lists(st.integers(1, max(1, cols - 1)), max_size=3)))
    r_edges = [0] + [c for c in cut_r if c < rows] + [rows]
    c_edges = [0] + [c for c in cut_c if c < cols] + [cols]
    merged = None
    for r0, r1 in pairwise(r_edges):
        for c0, c1 in pairwise(c_edges):
            if r1 <= r0 or c1 <= c0:
                continue
            blk = npp[:, r0:r1, c0:c1]
            out = cscc(blk, np.arange(t) + 2000)
            # per-pixel outputs of a block equal the whole raster's
            np.testing.assert_array_equal(out["max"], whole["max"][r0:r1, c0:c1])
            np.testing.assert_array_equal(out["year_of_max"], whole["year_of_max"][r0:r1, c0:c1])
            merged = merge_partials(merged, cscc_year_partials(blk, out["max"], area[r0:r1]))
    np.testing.assert_array_equal(merged["valid_pixels"], ref["valid_pixels"])
    for k in ("sum_npp_area", "sum_cscc_area", "valid_area_m2"):
        np.testing.assert_allclose(merged[k], ref[k], rtol=1e-12, atol=1e-9)


def test_merge_partials_does_not_modify_inputs():
    a = cscc_year_partials(np.ones((2, 3)), np.ones(3), 1.0)
    b = cscc_year_partials(np.full((2, 3), 2.0), np.full(3, 2.0), 1.0)
    a_copy = {k: v.copy() for k, v in a.items()}
    m = merge_partials(a, b)
    for k in a:
        np.testing.assert_array_equal(a[k], a_copy[k])
    np.testing.assert_array_equal(m["valid_pixels"], [6, 6])
    np.testing.assert_array_equal(m["sum_npp_area"], [9.0, 9.0])
