"""Tests of core.nep: NEP = NPP - Rh, class schemes and the per-year table merged over blocks."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import pairwise

from core import nep as n
from core.classes import CLASS_NODATA, ClassScheme, classify_by_breaks
from core.errors import InputError


def _rgb(color):
    return tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))


def test_nep_is_npp_minus_rh_and_keeps_negative_values():
    npp = np.array([[300.0, 50.0], [np.nan, 0.0]])
    rh = np.array([[120.0, 80.0], [10.0, 0.0]])
    out = n.nep(npp, rh)
    # 300 - 120 = 180 (sink), 50 - 80 = -30 (source), NaN, 0
    np.testing.assert_array_equal(out, [[180.0, -30.0], [np.nan, 0.0]])
    assert out.dtype == np.float64
    with pytest.raises(InputError, match="NPP has 3 years but RH has 2"):
        n.nep(np.zeros((3, 2, 2)), np.zeros((2, 2, 2)))
    with pytest.raises(InputError, match="same grid"):
        n.nep(np.zeros((3, 2, 2)), np.zeros((3, 2, 3)))


def test_presets():
    assert n.NEP_PRESETS["sign"] == ([0.0], ["Carbon source (NEP < 0)", "Carbon sink (NEP >= 0)"])
    breaks, labels = n.NEP_PRESETS["seed000"]
    assert breaks == [0, 200, 400]
    assert [w.split(" (")[0] for w in labels] == [
        "Carbon source",
        "Low carbon sink",
        "Medium carbon sink",
        "High carbon sink",
    ]
    assert "0 <= NEP < 200" in labels[1] and "200 <= NEP < 400" in labels[2] and "NEP >= 400" in labels[3]
    breaks, labels = n.NEP_PRESETS["seed004"]
    assert breaks == [0, 50]
    assert labels[0].startswith("Carbon source") and labels[1].startswith("Weak carbon sink")
    assert labels[2].startswith("Strong carbon sink") and "NEP >= 50" in labels[2] and "0 <= NEP < 50" in labels[1]


def test_preset_boundaries_go_to_the_class_above():
    scheme = n.nep_class_scheme(None, preset="seed000")
    breaks = scheme.extra["breaks"]
    values = np.array([-0.1, 0.0, 199.9, 200.0, 399.9, 400.0, 1e4, np.nan])
    codes = classify_by_breaks(values, breaks)
    np.testing.assert_array_equal(codes, [1, 2, 2, 3, 3, 4, 4, CLASS_NODATA])
    assert scheme.label_of(2) == "Low carbon sink (0 <= NEP < 200)"
    assert scheme.label_of(4) == "High carbon sink (NEP >= 400)"
    s4 = n.nep_class_scheme([0, 50], preset="seed004")
    np.testing.assert_array_equal(classify_by_breaks(np.array([-1.0, 0.0, 49.99, 50.0]), [0, 50]), [1, 2, 2, 3])
    assert s4.label_of(3).startswith("Strong carbon sink")
    sign = n.nep_class_scheme([0], preset="sign")
    assert sign.codes == (1, 2) and sign.label_of(2) == "Carbon sink (NEP >= 0)"


def test_preset_scheme_colors_and_codes():
    for name, (breaks, labels) in n.NEP_PRESETS.items():
        s = n.nep_class_scheme(None, preset=name)
        assert isinstance(s, ClassScheme)
        assert s.codes == tuple(range(1, len(breaks) + 2))
        assert s.labels == tuple(labels)
        red, green, _ = _rgb(s.colors[0])
        assert red > green  # the source class is red
        for c in s.colors[1:]:
            red, green, _ = _rgb(c)
            assert green > red  # sink classes are green
        assert len(set(s.colors)) == len(s.colors)
    greens = [_rgb(c)[1] + _rgb(c)[0] for c in n.nep_class_scheme(None, "seed000").colors[1:]]
    assert greens == sorted(greens, reverse=True)  # darker for stronger sinks


def test_custom_breaks_labels_and_colors():
    s = n.nep_class_scheme([-100, 0, 100])
    assert s.labels == (
        "< -100 g C m-2 yr-1 (carbon source)",
        "-100 - 0 g C m-2 yr-1 (carbon source)",
        "0 - 100 g C m-2 yr-1 (carbon sink)",
        ">= 100 g C m-2 yr-1 (carbon sink)",
    )
    assert s.codes == (1, 2, 3, 4)
    r = [_rgb(c) for c in s.colors]
    assert r[0][0] > r[0][1] and r[1][0] > r[1][1]
    assert r[2][1] > r[2][0] and r[3][1] > r[3][0]
    # a class straddling 0 is neither source nor sink
    s = n.nep_class_scheme([50.0])
    assert s.labels == ("< 50 g C m-2 yr-1", ">= 50 g C m-2 yr-1 (carbon sink)")
    assert _rgb(s.colors[1])[1] > _rgb(s.colors[1])[0]
    s = n.nep_class_scheme([0.0])
    assert s.labels == ("< 0 g C m-2 yr-1 (carbon source)", ">= 0 g C m-2 yr-1 (carbon sink)")
    s = n.nep_class_scheme([-300, -200])
    assert all("(carbon source)" in label for label in s.labels[:2]) and "(carbon" not in s.labels[2]


def test_class_scheme_errors():
    with pytest.raises(InputError, match="unknown NEP class preset"):
        n.nep_class_scheme(None, preset="seed999")
    with pytest.raises(InputError, match="preset"):
        n.nep_class_scheme([0, 100], preset="seed000")
    with pytest.raises(InputError, match="strictly increasing"):
        n.nep_class_scheme([100, 0])
    with pytest.raises(InputError, match="empty"):
        n.nep_class_scheme([])
    with pytest.raises(InputError):
        n.nep_class_scheme(None)


# ----------------------------------------------------------------------------------------- per-year table

COLUMNS = ["year", "mean_nep", "sink_area_km2", "sink_pct", "source_area_km2", "source_pct", "total_tgc"]


def test_year_table_by_hand():
    nan = np.nan
    nep = np.array(
        [
            [[100.0, -50.0], [0.0, nan]],
            [[nan, nan], [nan, nan]],
            [[10.0, 20.0], [30.0, 40.0]],
        ]
    )
    area = np.array([[1e6], [2e6]])  # row 0 cells are 1 km2, row 1 cells 2 km2
    rows = n.nep_year_table(n.nep_year_partials(nep, area), [2001, 2002, 2003])
    assert [list(row) for row in rows] == [COLUMNS] * 3
    # 2001: valid area 1 + 1 + 2 = 4 km2; sum NEP x area = 100 x 1e6 - 50 x 1e6 + 0 = 5e7 g
    # mean 5e7 / 4e6 = 12.5; sink 1 km2 (25 %), source 1 km2 (25 %), NEP = 0 in neither; total 5e7 x 1e-12
    r = rows[0]
    assert r["year"] == 2001 and isinstance(r["year"], int)
    assert r["mean_nep"] == pytest.approx(12.5)
    assert r["sink_area_km2"] == pytest.approx(1.0) and r["sink_pct"] == pytest.approx(25.0)
    assert r["source_area_km2"] == pytest.approx(1.0) and r["source_pct"] == pytest.approx(25.0)
    assert r["total_tgc"] == pytest.approx(5e-5)
    # 2002: nothing valid
    r = rows[1]
    assert math.isnan(r["mean_nep"]) and math.isnan(r["sink_pct"]) and math.isnan(r["source_pct"])
    assert r["sink_area_km2"] == 0 and r["source_area_km2"] == 0 and r["total_tgc"] == 0
    # 2003: valid 6 km2; sum = 10 + 20 + 2 x 30 + 2 x 40 = 170 (x 1e6 g); mean 170 / 6 = 28.333; all sink
    r = rows[2]
    assert r["mean_nep"] == pytest.approx(170 / 6)
    assert r["sink_area_km2"] == pytest.approx(6.0) and r["sink_pct"] == pytest.approx(100.0)
    assert r["source_area_km2"] == 0 and r["source_pct"] == 0
    assert r["total_tgc"] == pytest.approx(1.7e-4)


def test_one_teragram():
    # 1000 km2 = 1e9 m2 at 1000 g C m-2 = 1e12 g = 1 Tg C
    nep = np.full((1, 10, 10), 1000.0)
    rows = n.nep_year_table(n.nep_year_partials(nep, 1e7), [2020])
    assert rows[0]["total_tgc"] == pytest.approx(1.0)
    assert rows[0]["sink_area_km2"] == pytest.approx(1000.0)


def test_merge_partials_and_empty_table():
    a = {
        "valid_area": np.array([1.0]),
        "weighted_sum": np.array([2.0]),
        "sink_area": np.array([3.0]),
        "source_area": np.array([4.0]),
    }
    assert n.merge_partials(None, None) is None
    m = n.merge_partials(None, a)
    assert m is not a and all(np.array_equal(m[k], a[k]) for k in a)
    m2 = n.merge_partials(a, a)
    assert m2["source_area"][0] == 8.0 and m2["valid_area"][0] == 2.0
    assert n.merge_partials(a, None)["weighted_sum"][0] == 2.0
    rows = n.nep_year_table(None, [2000, 2001])
    assert [row["year"] for row in rows] == [2000, 2001] and math.isnan(rows[0]["mean_nep"])
    with pytest.raises(InputError):
        n.nep_year_table(a, [2000, 2001])


def _reference_table(nep, area, years):
    """Per-pixel loop straight from the definitions."""
    y_n, rows, cols = nep.shape
    out = []
    for y in range(y_n):
        valid = total = sink = source = 0.0
        for i in range(rows):
            for j in range(cols):
                v = nep[y, i, j]
                if math.isnan(v):
                    continue
                w = area[i, 0]
                valid += w
                total += v * w
                sink += w if v > 0 else 0.0
                source += w if v < 0 else 0.0
        out.append((valid, total, sink, source))
    return out


def test_year_table_against_reference_on_random_grid():
    rng = np.random.default_rng(11)
    nep = rng.normal(50, 150, (4, 60, 70)).round(0)  # rounding makes exact zeros
    nep[rng.random(nep.shape) < 0.1] = np.nan
    nep[2, :30] = np.nan
    area = rng.uniform(2e5, 3e5, (60, 1))
    partials = n.nep_year_partials(nep, area)
    rows = n.nep_year_table(partials, [2000, 2001, 2002, 2003])
    for row, (valid, total, sink, source) in zip(rows, _reference_table(nep, area, range(4))):
        assert row["mean_nep"] == pytest.approx(total / valid, rel=1e-10)
        assert row["sink_area_km2"] == pytest.approx(sink / 1e6, rel=1e-12)
        assert row["source_area_km2"] == pytest.approx(source / 1e6, rel=1e-12)
        assert row["sink_pct"] == pytest.approx(100 * sink / valid, rel=1e-12)
        assert row["source_pct"] == pytest.approx(100 * source / valid, rel=1e-12)
        assert row["total_tgc"] == pytest.approx(total * 1e-12, rel=1e-10)
        assert row["sink_pct"] + row["source_pct"] < 100  # exact zeros are in neither


@st.composite
def grid_and_splits(draw):
    years = draw(st.integers(1, 3))
    rows = draw(st.integers(1, 8))
    cols = draw(st.integers(1, 8))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    nep = rng.normal(0, 200, (years, rows, cols))
    nep[rng.random(nep.shape) < draw(st.sampled_from([0.0, 0.3, 1.0]))] = np.nan
    area = rng.uniform(1e5, 1e6, (rows, 1))
    row_cuts = sorted(draw(st.lists(st.integers(0, rows), max_size=3)))
    col_cuts = sorted(draw(st.lists(st.integers(0, cols), max_size=3)))
    return nep, area, [0, *row_cuts, rows], [0, *col_cuts, cols]


@settings(max_examples=60, deadline=None)
@given(grid_and_splits())
def test_partials_are_invariant_to_blocks(case):
    nep, area, row_edges, col_edges = case
    whole = n.nep_year_partials(nep, area)
    merged = None
    for r0, r1 in pairwise(row_edges):
        for c0, c1 in pairwise(col_edges):
            if r1 > r0 and c1 > c0:
                merged = n.merge_partials(merged, n.nep_year_partials(nep[:, r0:r1, c0:c1], area[r0:r1]))
    assert set(merged) == {"valid_area", "weighted_sum", "sink_area", "source_area"}
    for k in whole:
        np.testing.assert_allclose(merged[k], whole[k], rtol=1e-12, atol=1e-6)
    years = list(range(2000, 2000 + nep.shape[0]))
    for a, b in zip(n.nep_year_table(merged, years), n.nep_year_table(whole, years)):
        for key in COLUMNS:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-9, atol=1e-12, equal_nan=True)
