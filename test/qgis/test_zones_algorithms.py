"""zonal_statistics, class_area and transition_matrix through the real ``qgis_process``, on a geographic raster made
here (30 N .. 60 N, so pixel areas differ by latitude) and on the sample data, against references written here:
an ellipsoidal area formula, point-in-polygon zone membership on pixel centres (matplotlib's Path, not GDAL),
plain per-zone / per-pixel loops for the statistics, class areas and transitions, and pymannkendall / scipy for
the zone trends; the reports opened in headless Chromium; and the refusals of bad input."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import os
import xml.etree.ElementTree as ET

import numpy as np
import pymannkendall as mk
import pytest
import rasterio
from matplotlib.path import Path as PolygonPath
from rasterio.transform import from_origin
from scipy import stats
from support import ROOT, ellipsoid_row_areas, planted_box

pytestmark = pytest.mark.qgis

# 0.0625 x 0.078125 degree pixels (exact binary fractions), 60 N .. 30 N, 10 E .. 32.5 E
T = from_origin(10.0, 60.0, 0.0625, 0.078125)
ROWS, COLS = 384, 360
YEARS = np.arange(2001, 2013)
NODATA = -9999.0

# Zones (lon, lat), in feature order. "edge" lies exactly on pixel edges (columns 16..95, rows 20..127); "west" is
# an oblique pentagon plus a square (two features, one name); "south" overlaps the pentagon (and wins there: it
# comes later) and contains the square (which comes last and wins); "empty" covers only nodata; "gap" has no valid
# pixel in 2005; "speck" is a triangle inside one pixel that misses its centre.
EDGE = [(11.0, 58.4375), (16.0, 58.4375), (16.0, 50.0), (11.0, 50.0)]
WEST = [(10.37, 48.91), (17.83, 47.13), (19.41, 40.27), (14.06, 36.52), (10.73, 41.33)]
SOUTH = [(15.21, 43.77), (26.93, 44.61), (29.47, 33.18), (16.62, 31.09)]
WEST_SQUARE = [(18.1, 38.2), (21.3, 38.2), (21.3, 35.4), (18.1, 35.4)]
EMPTY = [(24.0, 58.0), (27.0, 58.0), (27.0, 55.0), (24.0, 55.0)]
GAP = [(24.0, 52.0), (30.0, 52.0), (30.0, 47.0), (24.0, 47.0)]
SPECK = [(28.752, 36.560), (28.760, 36.560), (28.752, 36.550)]
FEATURES = [("edge", EDGE), ("west", WEST), ("south", SOUTH), ("west", WEST_SQUARE), ("empty", EMPTY),
            ("gap", GAP), ("speck", SPECK)]
NAMES = ["edge", "west", "south", "empty", "gap", "speck"]  # zones in order of first appearance


# ------------------------------------------------------------------------------------------------- helpers
def write(path, array, nodata=None, descriptions=None, transform=T, dtype="float32", crs="EPSG:4326", tags=None):
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[np.newaxis]
    with rasterio.open(path, "w", driver="GTiff", width=array.shape[2], height=array.shape[1],
                       count=array.shape[0], dtype=dtype, nodata=nodata, transform=transform, crs=crs) as ds:
        ds.write(array.astype(dtype))
        for i, d in enumerate(descriptions or [], start=1):
            ds.set_band_description(i, d)
        if tags:
            ds.update_tags(**tags)
    return str(path)


def write_qml(raster_path, labels):
    """A paletted style as QGIS saves it as a layer's default style (same base name as the raster)."""
    entries = "\n".join(f'<paletteEntry value="{code}" label="{label}" color="#{(37 * code) % 256:02x}80{code:02x}" '
                        'alpha="255"/>' for code, label in labels.items())
    text = ("<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n<qgis version=\"3.22.16\"><pipe>"
            f'<rasterrenderer type="paletted" band="1" opacity="1"><colorPalette>\n{entries}\n</colorPalette>'
            "</rasterrenderer></pipe></qgis>\n")
    with open(os.path.splitext(str(raster_path))[0] + ".qml", "w", encoding="utf-8") as f:
        f.write(text)


def read(path):
    with rasterio.open(path) as ds:
        return ds.read().astype(float), ds.nodata, ds.tags(), ds.descriptions


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def num(text):
    """A CSV cell as a float; an empty cell (a NULL: NaN in the algorithm) as NaN."""
    return float(text) if text not in ("", None) else float("nan")


def pixel_areas(transform, rows, cols):
    return ellipsoid_row_areas(transform, rows)[:, None] * np.ones((1, cols))


def centres(transform, rows, cols):
    c, r = np.meshgrid(np.arange(cols), np.arange(rows))
    return np.column_stack([(transform.c + (c + 0.5) * transform.a).ravel(),
                            (transform.f + (r + 0.5) * transform.e).ravel()])


def zone_index(features, names, transform, rows, cols):
    """Zone of every pixel from its centre, features burnt in order (the last one wins); -1 outside."""
    pts = centres(transform, rows, cols)
    out = np.full(rows * cols, -1)
    for name, ring in features:
        out[PolygonPath(ring).contains_points(pts)] = names.index(name)
    return out.reshape(rows, cols)


def overlap_count(features, names, transform, rows, cols):
    """Pixels whose centre lies in polygons of two or more different zones."""
    pts = centres(transform, rows, cols)
    inside = np.zeros((len(names), rows * cols), bool)
    for name, ring in features:
        inside[names.index(name)] |= PolygonPath(ring).contains_points(pts)
    return int(np.sum(inside.sum(axis=0) > 1))


def geojson(path, features, field="name"):
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {field: name},
         "geometry": {"type": "Polygon", "coordinates": [list(ring) + [ring[0]]]}} for name, ring in features]}
    with open(path, "w") as f:
        json.dump(fc, f)
    return str(path)


def qml_labels(raster_path):
    root = ET.parse(os.path.splitext(str(raster_path))[0] + ".qml").getroot()
    return {int(e.get("value")): e.get("label") for e in root.iter("paletteEntry")}


# --------------------------------------------------------------------------------------------- references
def zonal_reference(x, masks, area):
    """{(zone, year): stats} by a plain loop over zones and years: x (Y, R, C) with NaN missing."""
    out = {}
    for name, inside in masks.items():
        for y, year in enumerate(YEARS):
            ok = inside & ~np.isnan(x[y])
            w, v = area[ok], x[y][ok]
            total_w = w.sum()
            if total_w == 0:
                out[(name, year)] = dict(valid_area_km2=0.0, mean=math.nan, std=math.nan, min=math.nan,
                                         max=math.nan, total_tgc=0.0)
                continue
            mean = np.sum(w * v) / total_w
            out[(name, year)] = dict(valid_area_km2=total_w / 1e6, mean=mean,
                                     std=math.sqrt(np.sum(w * (v - mean) ** 2) / total_w), min=v.min(), max=v.max(),
                                     total_tgc=np.sum(w * v) * 1e-12)
    return out


def trend_reference(series):
    """Trend of a zone's mean series: pymannkendall (Z, p), Sen from its definition on the real years, scipy's
    linregress; None below 3 valid years."""
    ok = ~np.isnan(series)
    if ok.sum() < 3:
        return None
    t, v = YEARS[ok].astype(float), series[ok]
    res = mk.original_test(v)  # S and Var(S) depend on the order only, not on the spacing of the years
    sen = np.median([(v[j] - v[i]) / (t[j] - t[i]) for i in range(v.size) for j in range(i + 1, v.size)])
    lr = stats.linregress(t, v)
    out = dict(sen_slope=sen, mk_z=res.z, mk_p=res.p, ols_slope=lr.slope, ols_p=lr.pvalue, n_years=int(ok.sum()),
               ols_intercept=lr.intercept + lr.slope * YEARS[0])
    if ok.all():  # consecutive years: pymannkendall's Sen slope and intercept (the line at the first year) apply
        assert mk.sens_slope(v).slope == pytest.approx(sen, rel=1e-12)
        out["sen_intercept"] = res.intercept
    return out


def check_zonal_table(rows, ref, names):
    assert list(rows[0]) == ["zone", "year", "valid_area_km2", "mean", "std", "min", "max", "total_tgc"]
    assert [(r["zone"], int(r["year"])) for r in rows] == [(n, int(y)) for n in names for y in YEARS]
    for row in rows:
        expected = ref[(row["zone"], int(row["year"]))]
        for key in ("valid_area_km2", "total_tgc"):
            assert num(row[key]) == pytest.approx(expected[key], rel=1e-9, abs=1e-12), (row["zone"], key)
        for key in ("mean", "std"):
            np.testing.assert_allclose(num(row[key]), expected[key], rtol=1e-9, equal_nan=True,
                                       err_msg=f"{row['zone']} {row['year']} {key}")
        for key in ("min", "max"):
            np.testing.assert_allclose(num(row[key]), expected[key], rtol=1e-13, equal_nan=True)


def check_trend_table(trend_rows, ref, names):
    assert list(trend_rows[0])[:6] == ["zone", "sen_slope", "mk_z", "mk_p", "ols_slope", "ols_p"]
    assert [r["zone"] for r in trend_rows] == names
    for row in trend_rows:
        series = np.array([ref[(row["zone"], y)]["mean"] for y in YEARS])
        expected = trend_reference(series)
        if expected is None:
            assert all(row[k] == "" for k in ("sen_slope", "mk_z", "mk_p", "ols_slope", "ols_p")), row
            assert int(row["n_years"]) == int(np.sum(~np.isnan(series)))
            continue
        assert int(row["n_years"]) == expected["n_years"]
        for key in ("sen_slope", "ols_slope", "ols_intercept", "sen_intercept"):
            if key in expected:
                assert num(row[key]) == pytest.approx(expected[key], rel=1e-8, abs=1e-10), (row["zone"], key)
        assert num(row["mk_z"]) == pytest.approx(expected["mk_z"], rel=1e-9, abs=1e-12), row["zone"]
        for key in ("mk_p", "ols_p"):  # 1 - Phi(|z|) loses relative digits for tiny p
            assert num(row[key]) == pytest.approx(expected[key], rel=1e-6, abs=1e-12), (row["zone"], key)


# ------------------------------------------------------------------------------------------------ test data
@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zones")
    rng = np.random.default_rng(2024)
    t = (YEARS - YEARS[0])[:, None, None].astype(float)
    lat = (T.f + (np.arange(ROWS) + 0.5) * T.e)[:, None]
    base = 150 + 4 * (lat - 45) + rng.normal(0, 120, (ROWS, COLS))  # negative values too (NEP-like)
    slope = rng.uniform(-6, 10, (ROWS, COLS))
    x = base + slope * t + rng.normal(0, 25, (YEARS.size, ROWS, COLS))
    x[rng.random(x.shape) < 0.03] = np.nan  # scattered nodata
    x[:, 5, 5] = np.nan
    zi = zone_index(FEATURES, NAMES, T, ROWS, COLS)
    x[:, 24:70, 215:275] = np.nan  # covers the "empty" zone (rows 25..64, cols 224..271) with a margin
    x[4, 100:170, 220:330] = np.nan  # 2005 missing over the "gap" zone (rows 103..166, cols 224..319)
    x = x.astype("float32").astype(float)
    stored = np.where(np.isnan(x), NODATA, x)
    stored[:, 7, 9] = np.nan  # a NaN stored in the file is nodata as well
    path = write(folder / "stack.tif", stored, nodata=NODATA, descriptions=[str(y) for y in YEARS])
    files = [write(folder / f"band_{i:02d}.tif", stored[i], nodata=NODATA) for i in range(YEARS.size)]
    x[:, 7, 9] = np.nan
    assert (zi == NAMES.index("empty")).sum() > 500 and np.isnan(x[:, zi == NAMES.index("empty")]).all()
    assert (zi == NAMES.index("gap")).sum() > 500 and np.isnan(x[4, zi == NAMES.index("gap")]).all()
    assert not (zi == NAMES.index("speck")).any()
    return {"x": x, "path": path, "files": files, "zones": geojson(folder / "zones.geojson", FEATURES),
            "zi": zi, "area": pixel_areas(T, ROWS, COLS), "folder": folder}


@pytest.fixture(scope="module")
def zone_raster(data):
    """A categorical zone raster (int16, nodata -1) with a QGIS-saved legend; code 40 covers only nodata values."""
    lat = (T.f + (np.arange(ROWS) + 0.5) * T.e)[:, None] * np.ones((1, COLS))
    lon = (T.c + (np.arange(COLS) + 0.5) * T.a)[None, :] * np.ones((ROWS, 1))
    z = np.select([lat > 50, lon < 20, lon < 26], [3, 7, 12], 20).astype(np.int16)
    z[300:340, 10:60] = -1  # outside every zone
    z[30:60, 230:260] = 40  # inside the all-nodata box
    labels = {3: "north", 7: "south-west", 12: "south-centre", 20: "south-east", 40: "lake"}
    path = write(data["folder"] / "zones.tif", z, nodata=-1, dtype="int16")
    write_qml(path, labels)
    return {"z": z, "path": path, "labels": labels}


@pytest.fixture(scope="module")
def zonal_run(qgis_process, data, tmp_path_factory):
    """Polygon zones, the whole raster added, small blocks on two threads, and the report."""
    out = tmp_path_factory.mktemp("zonal_run")
    res = qgis_process.alg("zonal_statistics", {
        "INPUT": data["path"], "ZONES": data["zones"], "ZONE_FIELD": "name", "INCLUDE_ALL": "true",
        "MEMORY_MB": 16, "THREADS": 2, "OUTPUT_TABLE": out / "table.csv", "OUTPUT_TREND": out / "trend.csv",
        "OUTPUT_REPORT": out / "report.html",
    })
    return {"res": res, "table": out / "table.csv", "trend": out / "trend.csv", "report": out / "report.html"}


@pytest.fixture(scope="module")
def trend_classes(qgis_process, data, tmp_path_factory):
    """A toolbox-written class raster: trend_ols's six classes (legend in the CLASSES tag and the sidecar .qml)."""
    out = tmp_path_factory.mktemp("trend")
    qgis_process.alg("trend_ols", {"INPUT": data["path"], "OUTPUT_SLOPE": out / "slope.tif",
                                   "OUTPUT_P": out / "p.tif", "OUTPUT_CLASS": out / "classes.tif"})
    return out / "classes.tif"


@pytest.fixture(scope="module")
def class_area_run(qgis_process, data, trend_classes, tmp_path_factory):
    out = tmp_path_factory.mktemp("class_area_run")
    qgis_process.alg("class_area", {
        "INPUT": trend_classes, "ZONES": data["zones"], "ZONE_FIELD": "name", "INCLUDE_ALL": "true",
        "OUTPUT_TABLE": out / "table.csv", "OUTPUT_REPORT": out / "report.html",
    })
    return {"table": out / "table.csv", "report": out / "report.html"}


@pytest.fixture(scope="module")
def transitions(data):
    """FROM (int16, nodata -1, a QGIS-saved legend) and TO (uint8, nodata 255, no legend) land-cover maps."""
    rng = np.random.default_rng(99)
    codes = np.array([0, 3, 7, 12])
    frm = codes[(np.arange(ROWS)[:, None] // 48 + np.arange(COLS)[None, :] // 60) % 4].astype(np.int16)
    to = frm.astype(np.int32).copy()
    change = rng.random((ROWS, COLS)) < 0.3
    to[change] = rng.choice([0, 3, 7, 12, 20], change.sum())
    frm[rng.random((ROWS, COLS)) < 0.02] = -1
    to[rng.random((ROWS, COLS)) < 0.02] = 255
    frm[:, :8] = -1  # a nodata strip in FROM only
    folder = data["folder"]
    from_path = write(folder / "lc_2000.tif", frm, nodata=-1, dtype="int16")
    write_qml(from_path, {0: "none", 3: "forest", 7: "grassland", 12: "cropland", 15: "wetland"})
    to_path = write(folder / "lc_2022.tif", to, nodata=255, dtype="uint8")
    return {"from": frm, "to": to, "from_path": from_path, "to_path": to_path}


@pytest.fixture(scope="module")
def transition_run(qgis_process, transitions, tmp_path_factory):
    out = tmp_path_factory.mktemp("transition_run")
    res = qgis_process.alg("transition_matrix", {
        "FROM": transitions["from_path"], "TO": transitions["to_path"], "OUTPUT_TABLE": out / "table.csv",
        "OUTPUT_REPORT": out / "report.html",
    })
    return {"res": res, "table": out / "table.csv", "report": out / "report.html"}


# ------------------------------------------------------------------------------------------ zonal statistics
def test_zonal_statistics_with_polygons_matches_reference(data, zonal_run):
    zi, x, area = data["zi"], data["x"], data["area"]
    masks = {name: zi == k for k, name in enumerate(NAMES)}
    masks["all"] = np.ones(zi.shape, bool)
    ref = zonal_reference(x, masks, area)
    rows = read_csv(zonal_run["table"])
    check_zonal_table(rows, ref, NAMES + ["all"])
    trends = read_csv(zonal_run["trend"])
    check_trend_table(trends, ref, NAMES + ["all"])

    by_zone = {r["zone"]: r for r in trends}
    # the edge rectangle takes exactly the 80 x 108 pixels it encloses
    assert masks["edge"].sum() == 80 * 108 and masks["edge"][20:128, 16:96].all()
    edge_2001 = next(r for r in rows if r["zone"] == "edge" and r["year"] == "2001")
    ok = ~np.isnan(x[0, 20:128, 16:96])
    assert num(edge_2001["valid_area_km2"]) == pytest.approx(area[20:128, 16:96][ok].sum() / 1e6, rel=1e-12)
    # zones without any valid pixel: area 0, total 0, no statistics, no trend
    for name in ("empty", "speck"):
        for r in (r for r in rows if r["zone"] == name):
            assert num(r["valid_area_km2"]) == 0 and num(r["total_tgc"]) == 0 and r["mean"] == r["min"] == ""
        assert by_zone[name]["sen_slope"] == "" and by_zone[name]["n_years"] == "0"
    gap_2005 = next(r for r in rows if r["zone"] == "gap" and r["year"] == "2005")
    assert num(gap_2005["valid_area_km2"]) == 0 and gap_2005["mean"] == ""
    assert by_zone["gap"]["n_years"] == "11"  # the missing year keeps its place: Sen on real years (checked above)
    # the square (last feature, "west") wins inside "south"; "south" wins over the earlier pentagon
    pts = centres(T, ROWS, COLS)
    in_square = PolygonPath(WEST_SQUARE).contains_points(pts).reshape(ROWS, COLS)
    in_pentagon_and_south = (PolygonPath(WEST).contains_points(pts) &
                             PolygonPath(SOUTH).contains_points(pts)).reshape(ROWS, COLS)
    assert in_square.sum() > 100 and in_pentagon_and_south.sum() > 100
    assert (zi[in_square] == NAMES.index("west")).all() and (zi[in_pentagon_and_south] == NAMES.index("south")).all()
    n_overlap = overlap_count(FEATURES, NAMES, T, ROWS, COLS)
    assert n_overlap == in_square.sum() + in_pentagon_and_south.sum()
    warnings = " ".join(zonal_run["res"]["log"]["warning"])
    assert f"{n_overlap} pixel(s) have their centre in polygons of more than one zone" in warnings
    assert "2 zone(s) have no valid pixel in any year" in warnings and "empty, speck" in warnings
    assert not any("equal-area" in w for w in zonal_run["res"]["log"]["warning"])  # geographic: exact areas


def test_zonal_statistics_whole_raster_from_single_files(qgis_process, data, tmp_path):
    """Neither ZONES nor ZONE_RASTER: one zone 'all'; the input as one file per year with FIRST_YEAR."""
    qgis_process.alg("zonal_statistics", {"INPUT": data["files"], "FIRST_YEAR": int(YEARS[0]),
                                          "OUTPUT_TABLE": tmp_path / "t.csv", "OUTPUT_TREND": tmp_path / "tr.csv"})
    ref = zonal_reference(data["x"], {"all": np.ones((ROWS, COLS), bool)}, data["area"])
    check_zonal_table(read_csv(tmp_path / "t.csv"), ref, ["all"])
    check_trend_table(read_csv(tmp_path / "tr.csv"), ref, ["all"])
    assert sorted(os.listdir(tmp_path)) == ["t.csv", "tr.csv"]


def test_zonal_statistics_with_a_zone_raster(qgis_process, data, zone_raster, tmp_path):
    res = qgis_process.alg("zonal_statistics", {
        "INPUT": data["path"], "ZONE_RASTER": zone_raster["path"], "INCLUDE_ALL": "true",
        "OUTPUT_TABLE": tmp_path / "t.csv", "OUTPUT_TREND": tmp_path / "tr.csv"})
    z, labels = zone_raster["z"], zone_raster["labels"]
    names = [labels[c] for c in sorted(labels)]  # zones in code order, named by the raster's legend
    masks = {labels[c]: z == c for c in sorted(labels)}
    masks["all"] = np.ones(z.shape, bool)
    ref = zonal_reference(data["x"], masks, data["area"])
    check_zonal_table(read_csv(tmp_path / "t.csv"), ref, names + ["all"])
    check_trend_table(read_csv(tmp_path / "tr.csv"), ref, names + ["all"])
    assert "1 zone(s) have no valid pixel in any year" in " ".join(res["log"]["warning"])  # "lake"


# ------------------------------------------------------------------------------------------------ class areas
def class_area_reference(classes, nodata, masks, area, labels):
    """{(zone, band, code): (area_km2, share_pct)} by a plain loop; every code found or named in the legend."""
    valid = classes != nodata
    codes = sorted(set(np.unique(classes[valid]).astype(int)) | set(labels))
    out = {}
    for name, inside in masks.items():
        for b in range(classes.shape[0]):
            classified = area[inside & valid[b]].sum()
            for code in codes:
                a = area[inside & (classes[b] == code)].sum()
                out[(name, b, code)] = (a / 1e6, 100 * a / classified if classified > 0 else math.nan)
    return out, codes


def check_class_rows(rows, ref, codes, names, years, labels, bands):
    assert list(rows[0])[:6] == ["zone", "year", "class", "label", "area_km2", "share_pct"]
    expected_keys = [(n, b, c) for n in names for b in range(len(years)) for c in codes]
    assert [(r["zone"], bands.index(r["band"]), int(r["class"])) for r in rows] == expected_keys
    for row, key in zip(rows, expected_keys):
        assert row["year"] == ("" if years[key[1]] is None else str(years[key[1]]))
        assert row["label"] == labels.get(key[2], str(key[2]))
        a, share = ref[key]
        assert num(row["area_km2"]) == pytest.approx(a, rel=1e-9, abs=1e-9), key
        np.testing.assert_allclose(num(row["share_pct"]), share, rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=key)
    for name in names:  # shares sum to 100 per zone and band wherever the zone has classified pixels
        for b in range(len(years)):
            shares = [num(r["share_pct"]) for r in rows if r["zone"] == name and r["band"] == bands[b]]
            if not np.isnan(shares).all():
                assert sum(shares) == pytest.approx(100.0, abs=1e-9)


def test_class_area_labels_from_a_toolbox_class_raster(data, trend_classes, class_area_run):
    classes, nodata, tags, descriptions = read(trend_classes)
    labels = qml_labels(trend_classes)  # the legend as the sidecar .qml gives it
    assert labels == {e["code"]: e["label"] for e in json.loads(tags["CLASSES"])}
    assert set(labels) == set(range(-3, 4)) and nodata == -128
    assert (classes == nodata).sum() > 1000  # pixels with a missing year are not classified
    zi = data["zi"]
    masks = {name: zi == k for k, name in enumerate(NAMES)}
    masks["all"] = np.ones(zi.shape, bool)
    ref, codes = class_area_reference(classes, nodata, masks, data["area"], labels)
    rows = read_csv(class_area_run["table"])
    # one band whose description names two years: no year, the band column names it
    check_class_rows(rows, ref, codes, NAMES + ["all"], [None], labels, [descriptions[0]])
    assert descriptions[0] == "trend class 2001-2012"
    for r in (r for r in rows if r["zone"] in ("empty", "speck")):
        assert num(r["area_km2"]) == 0 and r["share_pct"] == ""
    labels_seen = {r["label"] for r in rows if num(r["area_km2"]) > 0}
    assert any("significant" in lab for lab in labels_seen)  # the legend's words, not codes


def test_class_area_of_a_stack_with_a_zone_raster(qgis_process, data, zone_raster, tmp_path):
    rng = np.random.default_rng(5)
    stack = rng.choice([1, 2, 3, 5], (3, ROWS, COLS), p=[0.4, 0.3, 0.2, 0.1]).astype(np.uint8)
    stack[rng.random(stack.shape) < 0.05] = 255
    stack[1, :100, :] = 255  # 2011: the north is unclassified
    path = write(tmp_path / "lc.tif", stack, nodata=255, dtype="uint8", descriptions=["2000", "2011", "2022"])
    res = qgis_process.alg("class_area", {"INPUT": path, "ZONE_RASTER": zone_raster["path"],
                                          "OUTPUT_TABLE": tmp_path / "t.csv"})
    z, zl = zone_raster["z"], zone_raster["labels"]
    names = [zl[c] for c in sorted(zl)]
    masks = {zl[c]: z == c for c in sorted(zl)}
    ref, codes = class_area_reference(stack, 255, masks, data["area"], {})
    check_class_rows(read_csv(tmp_path / "t.csv"), ref, codes, names, [2000, 2011, 2022], {},
                     ["2000", "2011", "2022"])
    assert codes == [1, 2, 3, 5]
    assert any("no legend" in m for m in res["log"]["info"])


def test_class_area_in_a_projected_crs_warns_and_uses_the_grid_area(qgis_process, tmp_path):
    """Web Mercator: pixel area = |det(transform)| (1 km2 here) and a warning that the CRS is not equal-area."""
    classes = np.tile(np.array([1, 2, 2, 4], np.int16), (20, 5))
    classes[0, 0] = -5
    path = write(tmp_path / "c.tif", classes, nodata=-5, dtype="int16", crs="EPSG:3857",
                 transform=from_origin(1.0e6, 5.0e6, 1000.0, 1000.0))
    res = qgis_process.alg("class_area", {"INPUT": path, "FIRST_YEAR": 2020, "OUTPUT_TABLE": tmp_path / "t.csv"})
    rows = read_csv(tmp_path / "t.csv")
    assert [(r["zone"], r["year"], r["class"]) for r in rows] == [("all", "2020", "1"), ("all", "2020", "2"),
                                                                 ("all", "2020", "4")]
    assert [num(r["area_km2"]) for r in rows] == pytest.approx([99.0, 200.0, 100.0], rel=1e-12)  # nodata left out
    assert sum(num(r["share_pct"]) for r in rows) == pytest.approx(100.0)
    assert any("not an equal-area projection" in w for w in res["log"]["warning"])


# ------------------------------------------------------------------------------------------------ transitions
def test_transition_matrix_matches_a_double_loop(data, transitions, transition_run):
    frm, to, area = transitions["from"], transitions["to"], data["area"]
    ref: dict = {}
    row_area = area[:, 0]
    for r in range(ROWS):  # plain double loop over the pixels
        fr, tr_ = frm[r], to[r]
        for c in range(COLS):
            f, t = int(fr[c]), int(tr_[c])
            if f == -1 or t == 255:
                continue
            ref[(f, t)] = ref.get((f, t), 0.0) + row_area[r]
    from_labels = {0: "none", 3: "forest", 7: "grassland", 12: "cropland", 15: "wetland"}
    from_codes = sorted({f for f, _ in ref} | set(from_labels))  # 15: in the legend only
    to_codes = sorted({t for _, t in ref})
    rows = read_csv(transition_run["table"])
    assert list(rows[0]) == ["from_class", "to_class", "area_km2", "from_label", "to_label"]
    assert [(int(r["from_class"]), int(r["to_class"])) for r in rows] == [(f, t) for f in from_codes
                                                                          for t in to_codes]
    for r in rows:
        key = (int(r["from_class"]), int(r["to_class"]))
        assert num(r["area_km2"]) == pytest.approx(ref.get(key, 0.0) / 1e6, rel=1e-9, abs=1e-12), key
        assert r["from_label"] == from_labels[key[0]] and r["to_label"] == str(key[1])  # TO has no legend
    assert to_codes == [0, 3, 7, 12, 20]
    assert sum(num(r["area_km2"]) for r in rows) == pytest.approx(
        sum(ref.values()) / 1e6, rel=1e-12)  # nodata in either raster left out
    assert transition_run["res"]["results"]["OUTPUT_REPORT"] == str(transition_run["report"])


# ------------------------------------------------------------------------------------------------- the reports
def _report_helpers():
    """The Chromium helpers of the core's report tests (loaded under another name, never collected twice)."""
    spec = importlib.util.spec_from_file_location("_core_report_test_helpers", ROOT / "test" / "core" /
                                                  "test_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reports_are_self_contained_and_render_in_headless_chromium(zonal_run, class_area_run, transition_run,
                                                                    tmp_path):
    helpers = _report_helpers()
    expected = {"zonal": (zonal_run["report"], 1, ["edge", "south", "Theil-Sen"]),
                "class_area": (class_area_run["report"], 1, ["Class shares", "significant", "edge"]),
                "transition": (transition_run["report"], 2, ["Transition matrix", "forest", "Flows"])}
    for kind, (path, n_charts, words) in expected.items():
        text = path.read_text(encoding="utf-8")
        helpers.assert_self_contained(text)
        assert len(helpers.embedded_pngs(text)) == n_charts, kind
        for word in words:
            assert word in text, (kind, word)
    if helpers.CHROMIUM is None:
        pytest.skip("Debian's chromium package is not installed (scripts/setup.sh installs it)")
    for kind, (path, n_charts, _) in expected.items():
        work = tmp_path / kind
        work.mkdir()
        shot, rects = helpers.render(path, work)
        assert len(rects) == n_charts, kind
        assert helpers.distinct_colors(shot) > 200, kind  # a rendered page, not a blank one
        for left, top, width, height, natural in rects:
            assert natural > 300 and width > 300 and height > 200, (kind, natural, width, height)
            crop = shot[int(top) + 1:int(top + height) - 1, int(left) + 1:int(left + width) - 1, :3]
            assert helpers.distinct_colors(crop) > 40, kind  # a drawn chart
            ink = np.any(crop < 0.85, axis=2).mean()
            assert 0.01 < ink < 0.95, (kind, ink)


# ------------------------------------------------------------------------------------------------ sample data
def test_sample_data_regions_planted_areas_and_transitions(qgis_process, sample_data, tmp_path):
    signals = json.loads((sample_data / "signals.json").read_text())
    st = rasterio.Affine(*signals["grid"]["transform"])
    rows_, cols_ = signals["grid"]["height"], signals["grid"]["width"]
    area = pixel_areas(st, rows_, cols_)
    regions = [(r["name"], [tuple(p) for p in r["ring_lonlat"][:-1]]) for r in signals["regions"]]
    names = [n for n, _ in regions]
    zi = zone_index(regions, names, st, rows_, cols_)
    assert (zi >= 0).all()  # the regions tile the area

    # zonal NPP per region, against the loop on the decoded NPP
    qgis_process.alg("modis_npp", {"INPUT": sample_data / "npp_modis_stack.tif", "OUTPUT": tmp_path / "npp.tif"})
    npp = read(tmp_path / "npp.tif")[0]
    res = qgis_process.alg("zonal_statistics", {
        "INPUT": tmp_path / "npp.tif", "ZONES": sample_data / "regions.gpkg", "ZONE_FIELD": "name",
        "INCLUDE_ALL": "true", "OUTPUT_TABLE": tmp_path / "z.csv", "OUTPUT_TREND": tmp_path / "zt.csv"})
    assert not any("more than one zone" in w for w in res["log"].get("warning", []))
    years = np.arange(2000, 2024)
    masks = {n: zi == k for k, n in enumerate(names)}
    masks["all"] = np.ones(zi.shape, bool)
    ref = {}
    for name, inside in masks.items():
        for y, year in enumerate(years):
            ok = inside & ~np.isnan(npp[y])
            ref[(name, year)] = (np.sum(npp[y][ok] * area[ok]) / area[ok].sum(), area[ok].sum() / 1e6)
    table = read_csv(tmp_path / "z.csv")
    assert [(r["zone"], int(r["year"])) for r in table] == [(n, y) for n in names + ["all"] for y in years]
    for r in table:
        mean, valid_area = ref[(r["zone"], int(r["year"]))]
        assert num(r["mean"]) == pytest.approx(mean, rel=1e-9) and num(r["valid_area_km2"]) == pytest.approx(
            valid_area, rel=1e-9)

    # the planted trends as zones of a categorical raster: greening +12 and degradation -10 per year
    planted = np.zeros((rows_, cols_), np.int16)
    planted[planted_box(sample_data, "greening")] = 1
    planted[planted_box(sample_data, "degradation")] = 2
    write(tmp_path / "planted.tif", planted, nodata=0, dtype="int16", transform=st)
    qgis_process.alg("zonal_statistics", {"INPUT": tmp_path / "npp.tif", "ZONE_RASTER": tmp_path / "planted.tif",
                                          "OUTPUT_TREND": tmp_path / "pt.csv"})
    trend = {r["zone"]: r for r in read_csv(tmp_path / "pt.csv")}
    assert 11.0 < num(trend["1"]["sen_slope"]) < 13.0 and num(trend["1"]["mk_p"]) < 0.01
    assert -11.0 < num(trend["2"]["sen_slope"]) < -9.0 and num(trend["2"]["mk_p"]) < 0.01
    assert 11.0 < num(trend["1"]["ols_slope"]) < 13.0 and num(trend["2"]["ols_p"]) < 0.01

    # land cover 2000 -> 2022: exactly the planted transitions, labelled from the rasters' CLASSES tags
    lc = {y: read(sample_data / f"landcover_{y}.tif")[0][0] for y in (2000, 2011, 2022)}
    qgis_process.alg("transition_matrix", {"FROM": sample_data / "landcover_2000.tif",
                                           "TO": sample_data / "landcover_2022.tif",
                                           "OUTPUT_TABLE": tmp_path / "t.csv"})
    rows = read_csv(tmp_path / "t.csv")
    moved = {(int(r["from_class"]), int(r["to_class"])): r for r in rows
             if r["from_class"] != r["to_class"] and num(r["area_km2"]) > 0}
    expected = {}
    for tr_ in signals["land_cover_transitions"]:
        b = tr_["pixel_box"]
        expected[(tr_["from_class"], tr_["to_class"])] = area[b["row0"]:b["row1"], b["col0"]:b["col1"]].sum() / 1e6
    assert set(moved) == set(expected) == {(4, 2), (7, 4), (1, 8)}  # greening, desert recovery, urbanisation
    for key, km2 in expected.items():
        assert num(moved[key]["area_km2"]) == pytest.approx(km2, rel=1e-9)
    assert (moved[(4, 2)]["from_label"], moved[(4, 2)]["to_label"]) == ("grassland", "forest")
    assert (moved[(1, 8)]["from_label"], moved[(1, 8)]["to_label"]) == ("cropland", "impervious/urban")
    both = (lc[2000] != 0) & (lc[2022] != 0)
    assert sum(num(r["area_km2"]) for r in rows) == pytest.approx(area[both].sum() / 1e6, rel=1e-9)

    # class areas of the three maps per region: years from the file names, labels from the tags
    qgis_process.alg("class_area", {"INPUT": [sample_data / f"landcover_{y}.tif" for y in (2000, 2011, 2022)],
                                    "ZONES": sample_data / "regions.gpkg", "ZONE_FIELD": "name",
                                    "OUTPUT_TABLE": tmp_path / "c.csv"})
    stack = np.stack([lc[y] for y in (2000, 2011, 2022)])
    labels = {int(k): v for k, v in signals["land_cover_classes"].items()}
    ref, codes = class_area_reference(stack, 0, {n: zi == k for k, n in enumerate(names)}, area, labels)
    check_class_rows(read_csv(tmp_path / "c.csv"), ref, codes, names, [2000, 2011, 2022], labels,
                     ["2000", "2011", "2022"])


# ------------------------------------------------------------------------------------------------ in process
def test_in_process_with_layer_objects_and_reprojected_zones(qgis_app, data, transitions, tmp_path):
    """The dialog's and the modeler's path (processing.run): rasters as layer objects, zones as a layer in Web
    Mercator (reprojected back by the algorithm); the tables are created by default."""
    import processing
    from qgis.core import QgsApplication, QgsRasterLayer

    zones_3857 = processing.run("native:reprojectlayer", {"INPUT": data["zones"], "TARGET_CRS": "EPSG:3857",
                                                          "OUTPUT": "memory:"})["OUTPUT"]
    processing.run("carbonsink:zonal_statistics", {
        "INPUT": [data["path"]], "ZONES": zones_3857, "ZONE_FIELD": "name",
        "OUTPUT_TABLE": str(tmp_path / "z.csv"), "OUTPUT_TREND": str(tmp_path / "zt.csv")})
    zi = data["zi"]
    ref = zonal_reference(data["x"], {name: zi == k for k, name in enumerate(NAMES)}, data["area"])
    check_zonal_table(read_csv(tmp_path / "z.csv"), ref, NAMES)

    processing.run("carbonsink:transition_matrix", {
        "FROM": QgsRasterLayer(transitions["from_path"], "from"), "TO": QgsRasterLayer(transitions["to_path"], "to"),
        "OUTPUT_TABLE": str(tmp_path / "t.csv")})
    rows = read_csv(tmp_path / "t.csv")
    keep = (transitions["from"] != -1) & (transitions["to"] != 255)
    assert sum(num(r["area_km2"]) for r in rows) == pytest.approx(data["area"][keep].sum() / 1e6, rel=1e-12)
    registry = QgsApplication.processingRegistry()
    for alg_id, tables in (("zonal_statistics", ("OUTPUT_TABLE", "OUTPUT_TREND")), ("class_area", ("OUTPUT_TABLE",)),
                           ("transition_matrix", ("OUTPUT_TABLE",))):
        alg = registry.algorithmById(f"carbonsink:{alg_id}")
        for name in tables:
            assert alg.parameterDefinition(name).createByDefault(), (alg_id, name)
        assert not alg.parameterDefinition("OUTPUT_REPORT").createByDefault()
        assert all(p.help() for p in alg.parameterDefinitions()), alg_id
    assert "centre of the pixel" in registry.algorithmById("carbonsink:zonal_statistics").shortHelpString()


# ------------------------------------------------------------------------------------------------- bad input
def _fails(qgis_process, alg, params, *words):
    proc = qgis_process.alg(alg, params, check=False)
    assert not isinstance(proc, dict), f"{alg} accepted bad input"
    text = proc.stdout + proc.stderr
    for w in words:
        assert w in text, f"'{w}' not in:\n{text}"


def test_bad_inputs_are_refused_and_leave_nothing(qgis_process, data, zone_raster, transitions, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    zonal_out = {"OUTPUT_TABLE": out / "t.csv", "OUTPUT_TREND": out / "tr.csv", "OUTPUT_REPORT": out / "r.html"}
    _fails(qgis_process, "zonal_statistics", {"INPUT": data["path"], "ZONES": data["zones"],
                                              "ZONE_RASTER": zone_raster["path"], **zonal_out},
           "Both ZONES (polygons) and ZONE_RASTER", "give one of them")
    shifted = write(tmp_path / "shifted.tif", zone_raster["z"], nodata=-1, dtype="int16",
                    transform=from_origin(10.5, 60.0, 0.0625, 0.078125))
    _fails(qgis_process, "zonal_statistics", {"INPUT": data["path"], "ZONE_RASTER": shifted, **zonal_out},
           "ZONE_RASTER", "is not aligned with INPUT", "origin or pixel size differs")
    small = write(tmp_path / "small.tif", transitions["to"][:200], nodata=255, dtype="uint8")
    _fails(qgis_process, "transition_matrix", {"FROM": transitions["from_path"], "TO": small,
                                               "OUTPUT_TABLE": out / "m.csv", "OUTPUT_REPORT": out / "m.html"},
           "TO ('small.tif') is not aligned with FROM", "its size is 360 x 200 pixels")
    _fails(qgis_process, "transition_matrix", {"FROM": data["path"], "TO": transitions["to_path"],
                                               "OUTPUT_TABLE": out / "m.csv"},
           "FROM ('stack.tif') has 12 bands", "single-band class raster")
    _fails(qgis_process, "zonal_statistics", {"INPUT": data["path"], "MIN_VALID": 13, **zonal_out},
           "MIN_VALID is 13", "only 12 years")
    _fails(qgis_process, "class_area", {"INPUT": data["files"][0], "OUTPUT_TABLE": out / "c.csv",
                                        "OUTPUT_REPORT": out / "c.html"},
           "INPUT holds the value", "not a class code")
    assert os.listdir(out) == []


def test_single_band_map_without_year(qgis_process, tmp_path):
    """A one-band map (a multi-year mean, a CSCC, a Cv) gets per-zone statistics with an empty year and no trend."""
    import csv as _csv

    values = np.arange(12 * 10, dtype="float32").reshape(1, 12, 10)
    path = tmp_path / "cscc.tif"
    with rasterio.open(path, "w", driver="GTiff", width=10, height=12, count=1, dtype="float32", crs="EPSG:4326",
                       transform=rasterio.transform.from_origin(100, 40, 0.5, 0.5)) as ds:
        ds.write(values)
    proc = qgis_process("run", "carbonsink:zonal_statistics", f"--INPUT={path}",
                        f"--OUTPUT_TABLE={tmp_path / 't.csv'}", f"--OUTPUT_TREND={tmp_path / 'trend.csv'}")
    assert "OUTPUT_TREND is left empty" in proc.stdout + proc.stderr
    rows = list(_csv.DictReader(open(tmp_path / "t.csv")))
    assert len(rows) == 1 and rows[0]["zone"] == "all" and rows[0]["year"] == ""
    assert float(rows[0]["min"]) == 0 and float(rows[0]["max"]) == 119


def test_all_nodata_input_is_refused(qgis_process, tmp_path):
    path = tmp_path / "empty.tif"
    with rasterio.open(path, "w", driver="GTiff", width=4, height=3, count=3, dtype="float32", nodata=-1,
                       crs="EPSG:4326", transform=rasterio.transform.from_origin(0, 3, 1, 1)) as ds:
        ds.write(np.full((3, 3, 4), -1, "float32"))
    for alg in ("zonal_statistics", "class_area"):
        out = tmp_path / f"{alg}.csv"
        proc = qgis_process("run", f"carbonsink:{alg}", f"--INPUT={path}", "--FIRST_YEAR=2000",
                            f"--OUTPUT_TABLE={out}", check=False)
        assert proc.returncode != 0, alg
        assert "holds no valid data: every pixel is nodata" in proc.stdout + proc.stderr
        assert not out.exists()
