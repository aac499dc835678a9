"""Tests of core.zones: zone assignment, area-weighted zonal statistics, zone trends, class areas, transitions,
class labels. Areas are checked through the zonal functions against METHODS.md "Areas and totals"."""

from __future__ import annotations

import itertools
import json
import math
from collections import defaultdict

import numpy as np
import pytest
import rasterio
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from rasterio.crs import CRS
from rasterio.windows import Window
from rasterio.windows import transform as window_transform

from core import zones as zn
from core.area import pixel_area_m2
from core.errors import InputError
from core.trend import series_trends

WGS84 = CRS.from_epsg(4326)
GLOBE_05 = Affine(0.5, 0.0, -180.0, 0.0, -0.5, 90.0)  # 720 x 360 cells of 0.5 degree
SINUSOIDAL = CRS.from_proj4("+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m +no_defs")
MODIS_PIXEL = 463.3127165694


def box(x0, y0, x1, y1):
    return {"type": "Polygon", "coordinates": [[(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]]}


def row_by_zone_year(rows):
    return {(r["zone"], r["year"]): r for r in rows}


# ------------------------------------------------------------------------------- areas through the zonal API


def test_whole_globe_in_one_polygon_zone_sums_to_the_methods_area():
    # a polygon covering the globe: every 0.5 degree cell centre is inside
    zones = zn.rasterize_zones([box(-180, -90, 180, 90)], GLOBE_05, (360, 720))
    assert np.all(zones == 0)
    area = pixel_area_m2(GLOBE_05, WGS84, 0, 360)
    values = np.full((2, 360, 720), 100.0)  # 100 g C m-2 everywhere
    rows = zn.zonal_table(zn.zonal_partials(values, zones, 1, area), [2000, 2001], ["globe"])
    for r in rows:
        # METHODS.md: the whole globe is 510,065,621.7 km2
        assert r["valid_area_km2"] == pytest.approx(510_065_621.7, abs=0.1)
        assert r["mean"] == pytest.approx(100.0, rel=1e-13) and r["std"] == pytest.approx(0.0, abs=1e-9)
        # 100 g m-2 x 510,065,621.7e6 m2 x 1e-12 = 51,006.56217 Tg C
        assert r["total_tgc"] == pytest.approx(51_006.562_17, abs=1e-4)


def test_globe_split_in_row_blocks_gives_the_same_area():
    area_rows = [(0, 37), (37, 1), (38, 200), (238, 122)]  # uneven blocks of rows, as the engine may cut them
    merged = None
    for off, n in area_rows:
        area = pixel_area_m2(GLOBE_05, WGS84, off, n)
        tr = window_transform(Window(0, off, 720, n), GLOBE_05)
        z = zn.rasterize_zones([box(-180, -90, 180, 90)], tr, (n, 720))
        merged = zn.merge_zonal(merged, zn.zonal_partials(np.ones((1, n, 720)), z, 1, area, include_all=True))
    rows = zn.zonal_table(merged, [2000], ["globe"], include_all=True)
    assert [r["zone"] for r in rows] == ["globe", "all"]
    for r in rows:
        assert r["valid_area_km2"] == pytest.approx(510_065_621.7, abs=0.1)


def test_half_degree_cell_at_the_equator():
    # one polygon exactly on the edges of the cell lon 0..0.5, lat 0..0.5 (row 179, col 360)
    zones = zn.rasterize_zones([box(0.0, 0.0, 0.5, 0.5)], GLOBE_05, (360, 720))
    assert np.count_nonzero(zones == 0) == 1 and zones[179, 360] == 0
    area = pixel_area_m2(GLOBE_05, WGS84, 0, 360)
    values = np.full((1, 360, 720), 250.0)
    (row,) = zn.zonal_table(zn.zonal_partials(values, zones, 1, area), [2010], ["cell"])
    assert round(row["valid_area_km2"], 1) == 3077.2  # METHODS.md
    # 250 g m-2 x 3,077.23e6 m2 x 1e-12 = 0.7693 Tg C
    assert row["total_tgc"] == pytest.approx(250.0 * row["valid_area_km2"] * 1e6 * 1e-12, rel=1e-14)
    assert row["total_tgc"] == pytest.approx(0.769_31, abs=1e-5)


def test_projected_grid_uses_the_determinant():
    # MODIS sinusoidal 500 m: 463.3127165694^2 = 214,658.67 m2 per pixel (METHODS.md)
    tr = Affine(MODIS_PIXEL, 0.0, 1_000_000.0, 0.0, -MODIS_PIXEL, 4_000_000.0)
    area = pixel_area_m2(tr, SINUSOIDAL, 0, 3)
    zones = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [-1, -1, 1, 1]])
    values = np.ones((1, 3, 4))
    rows = row_by_zone_year(zn.zonal_table(zn.zonal_partials(values, zones, 2, area), [2001], ["a", "b"]))
    assert round(rows[("a", 2001)]["valid_area_km2"] * 1e6 / 4, 2) == 214_658.67
    assert round(rows[("b", 2001)]["valid_area_km2"] * 1e6 / 6, 2) == 214_658.67
    # a rotated 20 m grid: |det| = |a e - b d| = 400 m2 whatever the rotation
    # rotation by 30 degrees of diag(20, -20): [[20 cos, 20 sin], [20 sin, -20 cos]], det = -400 (cos^2 + sin^2)
    c30, s30 = math.cos(math.radians(30.0)), math.sin(math.radians(30.0))
    rot = Affine(20.0 * c30, 20.0 * s30, 500_000.0, 20.0 * s30, -20.0 * c30, 4_000_000.0)
    area = pixel_area_m2(rot, CRS.from_epsg(32633), 0, 2)
    (row,) = zn.zonal_table(zn.zonal_partials(np.ones((1, 2, 5)), None, None, area), [2001], ["all"])
    assert row["valid_area_km2"] == pytest.approx(10 * 400.0 * 1e-6, rel=1e-12)


# ------------------------------------------------------------------------------------------ zone assignment


UNIT = Affine(1.0, 0.0, 0.0, 0.0, -1.0, 10.0)  # 10 x 10 pixels of 1 x 1, x 0..10, y 0..10


def test_polygon_on_pixel_edges_takes_exactly_the_enclosed_pixels():
    # x 2..5 -> columns 2, 3, 4; y 3..7 -> rows 10-7 = 3 .. 10-3-1 = 6
    z = zn.rasterize_zones([box(2, 3, 5, 7)], UNIT, (10, 10))
    expected = np.full((10, 10), -1)
    expected[3:7, 2:5] = 0
    np.testing.assert_array_equal(z, expected)
    assert z.dtype == np.int32


def test_adjacent_polygons_on_pixel_edges_partition_the_grid():
    # four quadrants sharing pixel edges: each pixel in exactly one zone, none lost, whatever the order
    quads = [box(0, 0, 4, 6), box(4, 0, 10, 6), box(0, 6, 4, 10), box(4, 6, 10, 10)]
    z = zn.rasterize_zones(quads, UNIT, (10, 10))
    counts = np.bincount(z.ravel(), minlength=4)
    np.testing.assert_array_equal(counts, [6 * 4, 6 * 6, 4 * 4, 4 * 6])
    assert zn.overlap_pixels(quads, UNIT, (10, 10)) == 0
    assert np.all(z[:4, :4] == 2) and np.all(z[4:, 4:] == 1)


def test_pixel_centre_rule_and_overlaps():
    # a polygon covering pixel (0, 0) minus its centre region: no centre inside -> no pixel
    assert np.all(zn.rasterize_zones([box(0, 9, 0.4, 10)], UNIT, (10, 10)) == -1)
    # a polygon covering only the centre of pixel (0, 0)
    z = zn.rasterize_zones([box(0.4, 9.4, 0.6, 9.6)], UNIT, (10, 10))
    assert z[0, 0] == 0 and np.count_nonzero(z == 0) == 1
    # overlapping polygons: the overlap goes to the later geometry
    a, b = box(0, 0, 6, 10), box(4, 0, 10, 10)
    z = zn.rasterize_zones([a, b], UNIT, (10, 10))
    assert np.all(z[:, :4] == 0) and np.all(z[:, 4:] == 1)
    z = zn.rasterize_zones([b, a], UNIT, (10, 10))
    assert np.all(z[:, :6] == 1) and np.all(z[:, 6:] == 0)
    assert zn.overlap_pixels([a, b], UNIT, (10, 10)) == 20


def test_shared_edge_through_pixel_centres_loses_no_pixel_and_counts_none_twice():
    # the shared edge y = 4.5 runs through the centres of row 5; GDAL claims that row for both polygons;
    # the later polygon gets it, so the zones still partition the grid
    top, bottom = box(0, 4.5, 10, 10), box(0, 0, 10, 4.5)
    z = zn.rasterize_zones([top, bottom], UNIT, (10, 10))
    assert np.all(z >= 0)
    assert np.count_nonzero(z == 0) + np.count_nonzero(z == 1) == 100
    assert np.all(z[5] == 1)
    assert np.all(zn.rasterize_zones([bottom, top], UNIT, (10, 10))[5] == 1)  # now top (index 1) is the later one
    assert zn.overlap_pixels([top, bottom], UNIT, (10, 10)) == 10


def test_multipolygon_shared_zone_ids_and_empty_geometries():
    multi = {
        "type": "MultiPolygon",
        "coordinates": [box(0, 0, 2, 2)["coordinates"], box(8, 8, 10, 10)["coordinates"]],
    }
    empty = {"type": "Polygon", "coordinates": []}
    ids, names = zn.zone_ids_from_names(["north", "south", "north", None])
    np.testing.assert_array_equal(ids, [0, 1, 0, 2])
    assert names == ["north", "south", "NULL"]
    z = zn.rasterize_zones([multi, box(4, 4, 6, 6), box(0, 8, 1, 10), empty], UNIT, (10, 10), zone_ids=ids)
    assert np.count_nonzero(z == 0) == 4 + 4 + 2 and np.count_nonzero(z == 1) == 4
    assert np.count_nonzero(z == 2) == 0  # the empty geometry burns nothing
    assert np.all(zn.rasterize_zones([], UNIT, (10, 10)) == -1)
    assert np.all(zn.rasterize_zones([None], UNIT, (3, 4)) == -1)


def test_non_polygons_and_bad_ids_are_rejected():
    with pytest.raises(InputError, match="zones must be polygons.*LineString"):
        zn.rasterize_zones([{"type": "LineString", "coordinates": [(0, 0), (1, 1)]}], UNIT, (10, 10))
    with pytest.raises(InputError, match="one per geometry"):
        zn.rasterize_zones([box(0, 0, 1, 1)], UNIT, (10, 10), zone_ids=[0, 1])
    with pytest.raises(InputError, match="GeoJSON"):
        zn.rasterize_zones(["POLYGON((0 0, 1 0, 1 1, 0 0))"], UNIT, (10, 10))


class _GeoInterface:
    def __init__(self, geom):
        self.__geo_interface__ = geom


def test_geo_interface_objects_are_accepted():
    z = zn.rasterize_zones([_GeoInterface(box(2, 3, 5, 7))], UNIT, (10, 10))
    assert np.count_nonzero(z == 0) == 12


dyadic = st.integers(0, 64).map(lambda k: k / 4.0)  # coordinates on a quarter-pixel lattice (exact in binary)


@settings(max_examples=40, deadline=None)
@given(
    rects=st.lists(st.tuples(dyadic, dyadic, dyadic, dyadic), min_size=1, max_size=5),
    row_cut=st.integers(1, 15),
    col_cut=st.integers(1, 15),
)
def test_rasterizing_windows_equals_rasterizing_the_grid(rects, row_cut, col_cut):
    tr = Affine(1.0, 0.0, 0.0, 0.0, -1.0, 16.0)
    geoms = [box(min(a, c), min(b, d), max(a, c) + 0.25, max(b, d) + 0.25) for a, b, c, d in rects]
    whole = zn.rasterize_zones(geoms, tr, (16, 16))
    tiled = np.empty_like(whole)
    for r0, r1 in ((0, row_cut), (row_cut, 16)):
        for c0, c1 in ((0, col_cut), (col_cut, 16)):
            w = Window(c0, r0, c1 - c0, r1 - r0)
            tiled[r0:r1, c0:c1] = zn.rasterize_zones(geoms, window_transform(w, tr), (r1 - r0, c1 - c0))
    np.testing.assert_array_equal(tiled, whole)


def test_zones_from_a_categorical_raster_consistently_over_blocks():
    raster = np.array([[3.0, 3.0, np.nan, 7.0], [np.inf, 1.0, 7.0, 7.0], [2.5, 2.5, 1.0, np.nan]])
    idx, values = zn.zones_from_raster(raster)
    np.testing.assert_array_equal(values, [1.0, 2.5, 3.0, 7.0])
    np.testing.assert_array_equal(idx, [[2, 2, -1, 3], [-1, 0, 3, 3], [1, 1, 0, -1]])
    assert zn.zone_value_names(values) == ["1", "2.5", "3", "7"]
    # two blocks of rows: the first pass finds every value, the second numbers every block the same way
    blocks = [raster[:1], raster[1:]]
    found = None
    for b in blocks:
        found = zn.merge_distinct_values(found, zn.distinct_values_partial(b))
    np.testing.assert_array_equal(found, values)
    stitched = np.vstack([zn.zones_from_raster(b, found)[0] for b in blocks])
    np.testing.assert_array_equal(stitched, idx)
    # alone, the first block would number zone 3.0 as 0 and 7.0 as 1: that is why the first pass exists
    np.testing.assert_array_equal(zn.zones_from_raster(raster[:1])[0], [[0, 0, -1, 1]])
    # a band axis of length 1 is dropped; values missing from zone_values are outside
    idx3, _ = zn.zones_from_raster(raster[None], np.array([3.0, 7.0]))
    np.testing.assert_array_equal(idx3, [[0, 0, -1, 1], [-1, -1, 1, 1], [-1, -1, -1, -1]])
    with pytest.raises(InputError, match="sorted and distinct"):
        zn.zones_from_raster(raster, np.array([3.0, 1.0]))


# --------------------------------------------------------------------------------------- zonal statistics


def test_hand_checked_zone_with_nodata():
    # 2 x 2 block, row areas 1 km2 (top) and 3 km2 (bottom); the NaN pixel is left out
    values = np.array([[[10.0, np.nan], [20.0, 40.0]]])
    area = np.array([[1e6], [3e6]])
    (row,) = zn.zonal_table(zn.zonal_partials(values, np.zeros((2, 2), int), 1, area), [2005], ["z"])
    # valid area = 1 + 3 + 3 = 7 km2
    assert row["valid_area_km2"] == pytest.approx(7.0, rel=1e-15)
    # mean = (10*1 + 20*3 + 40*3) / 7 = 190 / 7 = 27.142857...
    assert row["mean"] == pytest.approx(190.0 / 7.0, rel=1e-15)
    # deviations -120/7, -50/7, 90/7: (14400*1 + 2500*3 + 8100*3) / 49 / 7 = 46200 / 343 = 6600 / 49
    assert row["std"] == pytest.approx(math.sqrt(6600.0 / 49.0), rel=1e-14)  # 11.6058...
    assert (row["min"], row["max"]) == (10.0, 40.0)
    # total = 190e6 g x 1e-12 = 1.9e-4 Tg C
    assert row["total_tgc"] == pytest.approx(1.9e-4, rel=1e-14)
    assert list(row) == list(zn.ZONAL_COLUMNS)


def test_zones_without_valid_pixels():
    values = np.array([[[1.0, 2.0, np.nan], [np.nan, np.nan, 5.0]]])
    zones = np.array([[0, 0, 1], [1, -1, 0]])  # zone 1 has only NaN pixels; zone 2 has no pixel at all
    rows = row_by_zone_year(zn.zonal_table(zn.zonal_partials(values, zones, 3, 1e6), [2000], ["a", "b", "c"]))
    for name in ("b", "c"):
        r = rows[(name, 2000)]
        assert r["valid_area_km2"] == 0.0 and r["total_tgc"] == 0.0
        assert all(math.isnan(r[k]) for k in ("mean", "std", "min", "max"))
    assert rows[("a", 2000)]["mean"] == pytest.approx(8.0 / 3.0)
    # no block at all (an empty raster): every row empty, no error
    rows = zn.zonal_table(None, [2000, 2001], ["a"])
    assert len(rows) == 2 and all(r["valid_area_km2"] == 0 and math.isnan(r["mean"]) for r in rows)


def test_the_all_zone_counts_pixels_outside_every_zone():
    values = np.array([[[1.0, 3.0], [5.0, np.nan]]])
    zones = np.array([[0, -1], [-1, 0]])
    rows = zn.zonal_table(zn.zonal_partials(values, zones, 1, 2e6, include_all=True), [2000], ["a"], True)
    assert [r["zone"] for r in rows] == ["a", zn.ALL_ZONE]
    assert rows[0]["valid_area_km2"] == pytest.approx(2.0) and rows[0]["mean"] == 1.0
    # all: (1 + 3 + 5) / 3 = 3 over 6 km2; population std sqrt((4 + 0 + 4) / 3)
    assert rows[1]["valid_area_km2"] == pytest.approx(6.0) and rows[1]["mean"] == pytest.approx(3.0)
    assert rows[1]["std"] == pytest.approx(math.sqrt(8.0 / 3.0))
    with pytest.raises(InputError, match="include_all must match"):
        zn.zonal_table(zn.zonal_partials(values, zones, 1, 2e6, include_all=True), [2000], ["a"])


def _oracle_zonal(values, zones, n_zones, area):
    """Plain per-zone, per-year formulas of METHODS.md with numpy's weighted average (loops in the test)."""
    n_years = values.shape[0]
    w_full = np.broadcast_to(area, zones.shape)
    out = {}
    for z in range(n_zones):
        for y in range(n_years):
            sel = (zones == z) & np.isfinite(values[y])
            x, w = values[y][sel], w_full[sel]
            if w.sum() > 0:
                mean = np.average(x, weights=w)
                std = math.sqrt(np.average((x - mean) ** 2, weights=w))
                out[z, y] = (w.sum(), mean, std, x.min(), x.max(), (x * w).sum())
            else:
                out[z, y] = (0.0, np.nan, np.nan, np.nan, np.nan, 0.0)
    return out


def _random_case(seed, n_years=4, rows=23, cols=19, n_zones=6, offset=0.0):
    rng = np.random.default_rng(seed)
    values = rng.normal(offset, 50.0, (n_years, rows, cols))
    values[rng.random(values.shape) < 0.2] = np.nan
    values[:, :3, :3] = np.nan  # an all-NaN corner
    values[1] = np.round(values[1] / 25.0) * 25.0  # ties
    zones = rng.integers(-1, n_zones - 1, (rows, cols))  # zone n_zones-1 never occurs
    zones[5, 5] = 0
    area = rng.uniform(1e5, 9e5, (rows, 1))
    return values, zones, area


def test_zonal_statistics_against_numpy_weighted_formulas():
    for seed in range(5):
        values, zones, area = _random_case(seed)
        n_zones = 6
        rows = zn.zonal_table(zn.zonal_partials(values, zones, n_zones, area), list(range(4)), list("abcdef"))
        expected = _oracle_zonal(values, zones, n_zones, area)
        for r in rows:
            z, y = "abcdef".index(r["zone"]), r["year"]
            a, mean, std, mn, mx, tot = expected[z, y]
            assert r["valid_area_km2"] == pytest.approx(a * 1e-6, rel=1e-13)
            np.testing.assert_allclose(
                [r["mean"], r["std"], r["min"], r["max"]], [mean, std, mn, mx], rtol=1e-11, atol=1e-11
            )
            assert r["total_tgc"] == pytest.approx(tot * 1e-12, rel=1e-11, abs=1e-22)


def _split_partials(values, zones, n_zones, area, row_cuts, col_cuts, include_all=False):
    """Partials of the tiles cut at the given rows / columns, in window order (rows of tiles, then columns)."""
    rows, cols = zones.shape
    rb = [0, *sorted(set(row_cuts)), rows]
    cb = [0, *sorted(set(col_cuts)), cols]
    parts = []
    for r0, r1 in zip(rb, rb[1:]):
        for c0, c1 in zip(cb, cb[1:]):
            if r1 > r0 and c1 > c0:
                parts.append(
                    zn.zonal_partials(
                        values[:, r0:r1, c0:c1], zones[r0:r1, c0:c1], n_zones, area[r0:r1], include_all=include_all
                    )
                )
    return parts


def _assert_partials_equal(a, b):
    for k in ("area", "sum"):
        np.testing.assert_allclose(a[k], b[k], rtol=1e-12, atol=1e-6)
    np.testing.assert_allclose(a["m2"], b["m2"], rtol=1e-9, atol=1e-3)
    np.testing.assert_array_equal(a["min"], b["min"])
    np.testing.assert_array_equal(a["max"], b["max"])
    np.testing.assert_array_equal(a["count"], b["count"])


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    row_cuts=st.lists(st.integers(1, 22), max_size=4),
    col_cuts=st.lists(st.integers(1, 18), max_size=3),
)
def test_partials_merged_over_any_split_equal_the_whole(seed, row_cuts, col_cuts):
    values, zones, area = _random_case(seed, offset=1000.0)
    whole = zn.zonal_partials(values, zones, 6, area, include_all=True)
    parts = _split_partials(values, zones, 6, area, row_cuts, col_cuts, include_all=True)
    merged = None
    for p in parts:  # window order, as the engine merges
        merged = zn.merge_zonal(merged, p)
    _assert_partials_equal(merged, whole)
    # any other grouping (the merge is associative): right to left
    rev = None
    for p in reversed(parts):
        rev = zn.merge_zonal(p, rev)
    _assert_partials_equal(rev, whole)


def test_std_is_stable_for_a_large_offset():
    # values 1e9 + N(0, 1): a sum-of-squares formula loses every digit here; Chan's merge keeps ~1e-6 relative
    rng = np.random.default_rng(7)
    values = 1e9 + rng.normal(0.0, 1.0, (1, 64, 50))
    zones = np.zeros((64, 50), int)
    area = rng.uniform(1.0, 2.0, (64, 1))
    merged = None
    for r0 in range(0, 64, 4):  # 16 blocks
        merged = zn.merge_zonal(
            merged, zn.zonal_partials(values[:, r0 : r0 + 4], zones[r0 : r0 + 4], 1, area[r0 : r0 + 4])
        )
    (row,) = zn.zonal_table(merged, [2000], ["z"])
    w = np.broadcast_to(area, (64, 50))
    mean = np.average(values[0], weights=w)
    expected = math.sqrt(np.average((values[0] - mean) ** 2, weights=w))
    assert row["std"] == pytest.approx(expected, rel=1e-6)
    assert 0.9 < row["std"] < 1.1


def test_input_errors():
    v = np.ones((2, 3, 4))
    with pytest.raises(InputError, match="zones have shape"):
        zn.zonal_partials(v, np.zeros((3, 3), int), 1, 1.0)
    with pytest.raises(InputError, match="must be in 0..1"):
        zn.zonal_partials(v, np.full((3, 4), 2), 2, 1.0)
    with pytest.raises(InputError, match="n_zones is needed"):
        zn.zonal_partials(v, np.zeros((3, 4), int), None, 1.0)
    with pytest.raises(InputError, match="whole numbers"):
        zn.zonal_partials(v, np.full((3, 4), 0.5), 1, 1.0)
    with pytest.raises(InputError, match="do not fit"):
        zn.zonal_partials(v, None, None, np.ones((2, 1)))
    with pytest.raises(InputError, match="finite and >= 0"):
        zn.zonal_partials(v, None, None, -1.0)
    with pytest.raises(InputError, match="2 zone names"):
        zn.zonal_table(zn.zonal_partials(v, np.zeros((3, 4), int), 1, 1.0), [1, 2], ["a", "b"])
    with pytest.raises(InputError, match="3 years were given"):
        zn.zonal_table(zn.zonal_partials(v, np.zeros((3, 4), int), 1, 1.0), [1, 2, 3], ["a"])
    # float zones with NaN outside are accepted
    p = zn.zonal_partials(v, np.where(np.eye(3, 4) > 0, 0.0, np.nan), 1, 1.0)
    assert p["count"][0, 0] == 3


def test_no_warnings_for_degenerate_blocks(recwarn):
    zn.zonal_table(zn.zonal_partials(np.full((3, 4, 5), np.nan), np.zeros((4, 5), int), 2, 1.0), [1, 2, 3], "ab")
    zn.zonal_partials(np.ones((3, 0, 5)), np.zeros((0, 5), int), 2, 1.0, include_all=True)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_scratch_memory_is_bounded_by_the_declared_bytes_per_pixel():
    import tracemalloc

    rng = np.random.default_rng(1)
    values = rng.normal(0, 1, (12, 200, 250))
    zones = rng.integers(-1, 8, (200, 250))
    tracemalloc.start()
    try:
        zn.zonal_partials(values, zones, 8, np.ones((200, 1)), include_all=True)
        peak_zonal = tracemalloc.get_traced_memory()[1]
        classes = np.where(values > 0.5, np.nan, np.round(values * 3))
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]  # the classes array itself is input, not scratch
        zn.class_area_partials(classes, zones, 8, np.ones((200, 1)), include_all=True)
        peak_class = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert peak_zonal / values[0].size <= zn.scratch_bytes_per_pixel(12)
    assert peak_class / values[0].size <= zn.scratch_bytes_per_pixel(12)


# ------------------------------------------------------------------------------------------------ trends


def test_zone_trends_use_the_area_weighted_means_and_the_trend_module():
    years = list(range(2001, 2013))
    rng = np.random.default_rng(3)
    values = rng.normal(0.0, 5.0, (12, 10, 12)) + 4.0 * np.arange(12)[:, None, None]
    values[4, :, :6] = np.nan  # zone a loses year 2005 entirely: missing, its real year kept
    zones = np.zeros((10, 12), int)
    zones[:, 6:] = 1
    area = np.linspace(1e6, 2e6, 10)[:, None]
    rows = zn.zonal_table(zn.zonal_partials(values, zones, 2, area), years, ["a", "b"])
    trends = zn.zone_trends(rows, years)
    assert [t["zone"] for t in trends] == ["a", "b"]
    assert list(trends[0])[:6] == list(zn.TREND_COLUMNS)
    for t in trends:
        sel = zones == "ab".index(t["zone"])
        w = np.broadcast_to(area, sel.shape)[sel]
        series = np.array(
            [np.average(values[y][sel], weights=w) if np.isfinite(values[y][sel]).all() else np.nan for y in range(12)]
        )
        ref = series_trends(series, np.array(years, dtype=float))
        for k in ("sen_slope", "mk_z", "mk_p", "ols_slope", "ols_p"):
            assert t[k] == pytest.approx(ref[k], rel=1e-10, abs=1e-12)
        assert t["sen_intercept"] == pytest.approx(ref["intercept"], rel=1e-10)
        assert t["ols_intercept"] == pytest.approx(ref["ols_intercept"], rel=1e-10)
    assert trends[0]["n_years"] == 11 and trends[1]["n_years"] == 12
    # an independent oracle: scipy's least squares on the zone-b series
    from scipy import stats

    ys = [r["mean"] for r in rows if r["zone"] == "b"]
    lr = stats.linregress(years, ys)
    assert trends[1]["ols_slope"] == pytest.approx(lr.slope, rel=1e-10)
    assert trends[1]["ols_p"] == pytest.approx(lr.pvalue, rel=1e-6)


def test_zone_trends_against_pymannkendall():
    pmk = pytest.importorskip("pymannkendall")
    years = list(range(1990, 2010))
    rng = np.random.default_rng(11)
    series = np.round(rng.normal(0, 3, 20) + 0.4 * np.arange(20))  # rounded: ties
    rows = [{"zone": "z", "year": y, "mean": float(v)} for y, v in zip(years, series)]
    (t,) = zn.zone_trends(rows, years)
    ref = pmk.original_test(series)
    assert t["mk_z"] == pytest.approx(ref.z, rel=1e-9)
    assert t["mk_p"] == pytest.approx(ref.p, rel=1e-9)
    assert t["sen_slope"] == pytest.approx(ref.slope, rel=1e-12)  # years 1 apart: per-step slope = per year


def test_zone_with_too_few_years_has_nan_trends():
    rows = [{"zone": "z", "year": 2000 + i, "mean": v} for i, v in enumerate([1.0, np.nan, np.nan, 2.0])]
    (t,) = zn.zone_trends(rows, [2000, 2001, 2002, 2003])
    assert t["n_years"] == 2
    assert all(math.isnan(t[k]) for k in ("sen_slope", "mk_z", "mk_p", "ols_slope", "ols_p"))


# ------------------------------------------------------------------------------------------------ class areas


def _oracle_class_area(classes, zones, area, nodata):
    """Per-pixel loop: {(zone, band, code): area}."""
    out = defaultdict(float)
    w = np.broadcast_to(area, zones.shape)
    for y in range(classes.shape[0]):
        for (i, j), z in np.ndenumerate(zones):
            c = classes[y, i, j]
            if z < 0 or (isinstance(c, float) and math.isnan(c)) or c == nodata:
                continue
            out[int(z), y, int(c)] += w[i, j]
    return out


def test_class_areas_hand_checked():
    classes = np.array([[[1, 1, 2], [2, -128, 3]]])  # -128 = nodata
    zones = np.array([[0, 0, 0], [1, 1, 1]])
    area = np.array([[1e6], [2e6]])
    parts = zn.class_area_partials(classes, zones, 2, area, nodata=-128)
    rows = zn.class_area_table(parts, [2020], ["top", "bottom"], {1: "forest", 2: "grass", 3: "crop", 9: "ice"})
    got = {(r["zone"], r["class"]): (r["label"], r["area_km2"], r["share_pct"]) for r in rows}
    # top: 2 km2 forest, 1 km2 grass -> 66.67 %, 33.33 %
    assert got["top", 1] == ("forest", pytest.approx(2.0), pytest.approx(200 / 3))
    assert got["top", 2] == ("grass", pytest.approx(1.0), pytest.approx(100 / 3))
    assert got["top", 3][1:] == (0.0, 0.0) and got["top", 9] == ("ice", 0.0, 0.0)
    # bottom: the nodata pixel is not classified: 2 km2 grass, 2 km2 crop -> 50 %, 50 %
    assert got["bottom", 2][1:] == (pytest.approx(2.0), pytest.approx(50.0))
    assert got["bottom", 3][1:] == (pytest.approx(2.0), pytest.approx(50.0))
    assert list(rows[0]) == list(zn.CLASS_AREA_COLUMNS)
    assert [(r["zone"], r["class"]) for r in rows[:5]] == [
        ("top", 1),
        ("top", 2),
        ("top", 3),
        ("top", 9),
        ("bottom", 1),
    ]


def test_class_areas_against_a_pixel_loop_and_shares_sum_to_100():
    rng = np.random.default_rng(5)
    classes = rng.integers(-4, 5, (3, 30, 40)).astype(np.float64)  # signed trend codes, as the engine reads them
    classes[rng.random(classes.shape) < 0.1] = np.nan
    classes[2, :, :10] = 77.0  # a declared nodata value in float form
    zones = rng.integers(-1, 4, (30, 40))  # zones -1..3 here ...
    zones[:, 35:] = 4  # ... and zone 4 only where nothing is classified
    classes[:, :, 35:] = np.nan  # zone 4 is never classified
    area = pixel_area_m2(GLOBE_05, WGS84, 100, 30)
    merged = None
    for r0 in (0, 7, 19):  # three blocks of rows with different code sets
        r1 = {0: 7, 7: 19, 19: 30}[r0]
        merged = zn.merge_class_area(
            merged, zn.class_area_partials(classes[:, r0:r1], zones[r0:r1], 5, area[r0:r1], nodata=77, include_all=True)
        )
    rows = zn.class_area_table(merged, [2001, 2002, 2003], list("abcde"), include_all=True)
    expected = _oracle_class_area(classes, zones, area, 77)
    for r in rows:
        if r["zone"] == zn.ALL_ZONE:
            continue
        key = ("abcde".index(r["zone"]), r["year"] - 2001, r["class"])
        assert r["area_km2"] == pytest.approx(expected.get(key, 0.0) * 1e-6, rel=1e-12, abs=1e-12)
    totals = defaultdict(float)
    for r in rows:
        totals[r["zone"], r["year"]] += r["share_pct"]
    for (zone, _), s in totals.items():
        if zone == "e":
            assert math.isnan(s)  # no classified pixel: NaN shares, not a fake 100 %
        else:
            assert s == pytest.approx(100.0, abs=1e-9)
    # the all zone counts every classified pixel (inside a zone or not)
    all_area = sum(r["area_km2"] for r in rows if r["zone"] == zn.ALL_ZONE and r["year"] == 2001)
    valid = np.isfinite(classes[0]) & (classes[0] != 77)
    assert all_area == pytest.approx((np.broadcast_to(area, valid.shape)[valid]).sum() * 1e-6, rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), cut=st.integers(1, 11), n_codes=st.integers(1, 6))
def test_class_shares_sum_to_100_and_blocks_merge(seed, cut, n_codes):
    rng = np.random.default_rng(seed)
    classes = rng.integers(0, n_codes, (2, 12, 9)) * 1000  # sparse codes far apart
    zones = rng.integers(0, 3, (12, 9))
    area = rng.uniform(1.0, 5.0, (12, 1))
    whole = zn.class_area_partials(classes, zones, 3, area)
    merged = zn.merge_class_area(
        zn.class_area_partials(classes[:, :cut], zones[:cut], 3, area[:cut]),
        zn.class_area_partials(classes[:, cut:], zones[cut:], 3, area[cut:]),
    )
    np.testing.assert_array_equal(merged["codes"], whole["codes"])
    np.testing.assert_allclose(merged["area"], whole["area"], rtol=1e-12)
    np.testing.assert_array_equal(merged["count"], whole["count"])
    shares = defaultdict(float)
    for r in zn.class_area_table(merged, [1, 2], ["a", "b", "c"]):
        shares[r["zone"], r["year"]] += r["share_pct"]
    for (zone, _year), s in shares.items():
        has = np.any(zones == "abc".index(zone))
        assert (s == pytest.approx(100.0, abs=1e-9)) if has else math.isnan(s)


def test_class_codes_with_a_wide_span_and_bad_codes():
    classes = np.array([[[-(10**9), 5], [10**9, 5]]], dtype=np.int64)  # span too wide for direct indexing
    parts = zn.class_area_partials(classes, None, None, 1e6)
    np.testing.assert_array_equal(parts["codes"], [-(10**9), 5, 10**9])
    np.testing.assert_allclose(parts["area"][0, 0], [1e6, 2e6, 1e6])
    with pytest.raises(InputError, match="whole class codes"):
        zn.class_area_partials(np.array([[[1.5, 2.0]]]), None, None, 1.0)
    with pytest.raises(InputError, match="integer class codes"):
        zn.class_area_partials(np.array([[["a", "b"]]]), None, None, 1.0)


# ----------------------------------------------------------------------------------------------- transitions


def _oracle_transitions(a, b, area, nd_a, nd_b):
    out = defaultdict(float)
    w = np.broadcast_to(area, a.shape)
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            x, y = a[i, j], b[i, j]
            if math.isnan(x) or math.isnan(y) or x == nd_a or y == nd_b:
                continue
            out[int(x), int(y)] += w[i, j]
    return out


def test_transitions_against_a_pixel_loop_over_blocks():
    rng = np.random.default_rng(9)
    a = rng.integers(1, 6, (40, 30)).astype(np.float64)
    b = rng.integers(1, 8, (40, 30)).astype(np.float64)
    a[rng.random(a.shape) < 0.1] = np.nan
    b[rng.random(b.shape) < 0.1] = 0  # 0 = nodata of TO
    a[:20][a[:20] == 5] = 1  # class 5 of FROM only in the lower block
    area = pixel_area_m2(GLOBE_05, WGS84, 50, 40)
    merged = None
    for r0, r1 in ((0, 20), (20, 33), (33, 40)):
        merged = zn.merge_transitions(merged, zn.transition_partials(a[r0:r1], b[r0:r1], area[r0:r1], None, 0))
    whole = zn.transition_partials(a[None], b[None], area, None, 0)
    np.testing.assert_allclose(merged["area"], whole["area"], rtol=1e-12)
    expected = _oracle_transitions(a, b, area, None, 0)
    rows = zn.transition_table(merged, {1: "forest", 2: "grass"}, {7: "urban"})
    assert list(rows[0]) == list(zn.TRANSITION_COLUMNS)
    assert {r["from_class"] for r in rows} == {1, 2, 3, 4, 5}
    assert {r["to_class"] for r in rows} == {1, 2, 3, 4, 5, 6, 7}
    for r in rows:
        assert r["area_km2"] == pytest.approx(expected.get((r["from_class"], r["to_class"]), 0.0) * 1e-6, rel=1e-12)
        assert r["from_label"] == {1: "forest", 2: "grass"}.get(r["from_class"], str(r["from_class"]))
        assert r["to_label"] == ("urban" if r["to_class"] == 7 else str(r["to_class"]))
    # the matrix adds up to the area classified in both rasters
    both = ~np.isnan(a) & (b != 0)
    total = sum(r["area_km2"] for r in rows)
    assert total == pytest.approx(np.broadcast_to(area, a.shape)[both].sum() * 1e-6, rel=1e-12)


def test_transition_hand_checked_and_errors():
    a = np.array([[1, 1], [2, 9]])
    b = np.array([[1, 2], [2, 2]])
    # 9 is FROM's nodata; 1->1: 1 px, 1->2: 1 px, 2->2: 1 px, pixel area 4 km2
    rows = zn.transition_table(zn.transition_partials(a, b, 4e6, nodata_from=9))
    got = {(r["from_class"], r["to_class"]): r["area_km2"] for r in rows}
    assert got == {(1, 1): 4.0, (1, 2): 4.0, (2, 1): 0.0, (2, 2): 4.0}
    fc, tc, m = zn.transition_matrix(zn.transition_partials(a, b, 4e6, nodata_from=9), {3: "x"}, None)
    np.testing.assert_array_equal(fc, [1, 2, 3])
    np.testing.assert_array_equal(m, [[4.0, 4.0], [0.0, 4.0], [0.0, 0.0]])
    with pytest.raises(InputError, match="same grid"):
        zn.transition_partials(a, b[:1], 1.0)
    with pytest.raises(InputError, match="single-band"):
        zn.transition_partials(np.stack([a, a]), b, 1.0)
    assert zn.transition_table(None) == []
    assert zn.transition_table(zn.merge_transitions(None, None)) == []


# ------------------------------------------------------------------------------------------------- labels


# the sidecar style exactly as algorithms/base.py qml_for_classes writes it (quoteattr-escaped labels)
QML = """<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.22.16-Białowieża" styleCategories="Symbology">
  <pipe>
    <rasterrenderer type="paletted" band="1" opacity="1" alphaBand="-1" nodataColor="">
      <rasterTransparency/>
      <colorPalette>
        <paletteEntry value="-1" color="#fdae61" alpha="255" label="Decrease &amp; not significant"/>
        <paletteEntry value="0" color="#e0e0e0" alpha="255" label="No trend"/>
        <paletteEntry value="1" color="#a6d96a" alpha="255" label="Increase &lt;p 0.05&gt;"/>
      </colorPalette>
      <colorramp type="randomcolors" name="[source]"/>
    </rasterrenderer>
    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>
  </pipe>
  <blendMode>0</blendMode>
</qgis>
"""


def _write_class_tif(path, tags=None):
    profile = dict(driver="GTiff", width=4, height=3, count=1, dtype="int16", nodata=-128, crs=WGS84, transform=UNIT)
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(np.zeros((1, 3, 4), dtype=np.int16))
        if tags:
            ds.update_tags(**tags)


def test_labels_from_the_classes_tag(tmp_path):
    path = str(tmp_path / "classes.tif")
    legend = [
        {"code": 1, "label": "Carbon source (NEP < 0)", "color": "#d7191c"},
        {"code": 2, "label": "Sink", "color": "#1a9641"},
    ]
    _write_class_tif(path, {"CLASSES": json.dumps(legend)})
    assert zn.class_labels_from_raster(path) == {1: "Carbon source (NEP < 0)", 2: "Sink"}
    assert zn.class_colors_from_raster(path) == {1: "#d7191c", 2: "#1a9641"}
    (tmp_path / "classes.qml").write_text(QML, encoding="utf-8")
    assert zn.class_labels_from_raster(path)[1] == "Carbon source (NEP < 0)"  # the tag wins over the style


def test_labels_from_the_sidecar_qml(tmp_path):
    path = str(tmp_path / "trend_class.tif")
    _write_class_tif(path)
    assert zn.class_labels_from_raster(path) is None
    (tmp_path / "trend_class.qml").write_text(QML, encoding="utf-8")
    assert zn.class_labels_from_raster(path) == {
        -1: "Decrease & not significant",
        0: "No trend",
        1: "Increase <p 0.05>",
    }
    assert zn.class_colors_from_raster(path) == {-1: "#fdae61", 0: "#e0e0e0", 1: "#a6d96a"}
    # a broken tag falls back to the style
    _write_class_tif(path, {"CLASSES": "not json"})
    assert zn.class_labels_from_raster(path)[0] == "No trend"


def test_labels_from_a_color_ramp_qml_and_missing_files(tmp_path):
    qml = """<qgis><pipe><rasterrenderer type="singlebandpseudocolor"><rastershader><colorrampshader>
      <item value="1" label="water" color="#0000ff"/><item value="2.0" label="" color="#00ff00"/>
      <item value="2.5" label="not a class" color="#ffffff"/></colorrampshader></rastershader>
      </rasterrenderer></pipe></qgis>"""
    (tmp_path / "lc.qml").write_text(qml, encoding="utf-8")
    assert zn.class_labels_from_raster(str(tmp_path / "lc.tif")) == {1: "water", 2: "2"}  # no raster: style only
    assert zn.class_labels_from_raster(str(tmp_path / "missing.tif")) is None
    (tmp_path / "bad.qml").write_text("<qgis><unclosed></qgis>", encoding="utf-8")
    assert zn.class_labels_from_raster(str(tmp_path / "bad.tif")) is None


def test_class_area_table_uses_labels_read_from_a_raster(tmp_path):
    path = str(tmp_path / "c.tif")
    _write_class_tif(path)
    (tmp_path / "c.qml").write_text(QML, encoding="utf-8")
    labels = zn.class_labels_from_raster(path)
    parts = zn.class_area_partials(np.array([[[-1, 0, 1, 1]]]), None, None, 1e6)
    rows = zn.class_area_table(parts, [2000], ["all"], labels)
    assert [(r["class"], r["label"], r["share_pct"]) for r in rows] == [
        (-1, "Decrease & not significant", 25.0),
        (0, "No trend", 25.0),
        (1, "Increase <p 0.05>", 50.0),
    ]


def test_table_rows_go_zone_by_zone_then_year():
    rows = zn.zonal_table(zn.zonal_partials(np.ones((3, 2, 2)), np.array([[0, 1], [1, 2]]), 3, 1.0), [5, 6, 7], "xyz")
    assert [(r["zone"], r["year"]) for r in rows] == list(itertools.product("xyz", [5, 6, 7]))
