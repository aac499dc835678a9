"""cscc and resilience through the real ``qgis_process``, on rasters and zones made here (never seen by the core's
own tests), against references written here from METHODS.md: per-pixel loops with numpy.polyfit for the growing
window slopes, the maintenance rule, point-in-polygon zone membership (matplotlib's Path, not GDAL),
scipy.optimize.curve_fit for the decay fits, and an ellipsoidal area formula for the totals; plus the planted
signals of the sample data and the refusals of bad input."""

from __future__ import annotations

import csv
import json
import math
import os
import re

import numpy as np
import pytest
import rasterio
from matplotlib.path import Path as PolygonPath
from rasterio.transform import from_origin
from scipy.optimize import curve_fit
from support import ellipsoid_row_areas, planted_box

pytestmark = pytest.mark.qgis

T0 = from_origin(100.0, 45.0, 0.2, 0.2)  # geographic, 39 N .. 45 N: pixel areas shrink to the north
YEARS = np.arange(1990, 2013)  # 23 years; the default reference year 2000 leaves 13 evaluation years
REF = 2000
ROWS, COLS = 30, 40
NODATA = -9999.0

# Zones (lon, lat). "west": an oblique pentagon plus a separate square (two features with one name); "east": a
# rectangle on pixel edges where every pixel has a positive trend at 2000 that later reverses (no negative-trend
# pixel); "steady": a rectangle whose pixels keep a strong positive trend throughout (q+ never decays).
WEST = [(100.33, 44.71), (104.93, 44.27), (105.31, 41.13), (102.23, 39.43), (100.11, 40.61)]
WEST_SQUARE = [(100.0, 39.6), (101.0, 39.6), (101.0, 39.0), (100.0, 39.0)]
EAST = [(105.6, 44.2), (107.8, 44.2), (107.8, 41.0), (105.6, 41.0)]  # rows 4..20, cols 28..39
STEADY = [(106.0, 40.0), (107.8, 40.0), (107.8, 39.0), (106.0, 39.0)]  # rows 25..30, cols 30..39
EAST_BOX = (slice(4, 20), slice(28, 39))
STEADY_BOX = (slice(25, 30), slice(30, 39))


def write(path, array, nodata=None, descriptions=None, transform=T0, dtype="float32"):
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[np.newaxis]
    with rasterio.open(path, "w", driver="GTiff", width=array.shape[2], height=array.shape[1],
                       count=array.shape[0], dtype=dtype, nodata=nodata, transform=transform,
                       crs="EPSG:4326") as ds:
        ds.write(array.astype(dtype))
        for i, d in enumerate(descriptions or [], start=1):
            ds.set_band_description(i, d)
    return str(path)


def read(path):
    with rasterio.open(path) as ds:
        return ds.read().astype(float), ds.descriptions, ds.tags(), ds.nodata, ds.dtypes[0]


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def num(text):
    """A CSV cell as a float; an empty cell (a NULL: NaN or infinite in the algorithm) as NaN."""
    return float(text) if text not in ("", None) else float("nan")


# ------------------------------------------------------------------------------------------------ test data
@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """NPP with trends that reverse after a random break year (so the kept fractions decay), gaps, and special
    pixels: all-NaN, constant (slope exactly 0, ties for the maximum), all negative, a tie, late-starting."""
    folder = tmp_path_factory.mktemp("capacity")
    rng = np.random.default_rng(606)
    t = YEARS[:, None, None].astype(float)
    u = t - YEARS[0]
    sign = rng.choice([1.0, -1.0], (ROWS, COLS), p=[0.55, 0.45])
    slope = rng.uniform(3, 10, (ROWS, COLS))
    brk = 2000 + rng.geometric(0.18, (ROWS, COLS)).astype(float)
    reversal = rng.uniform(10, 40, (ROWS, COLS))
    west_up = (zone_index() == 0) & (sign > 0)
    brk[west_up] = 2000 + rng.geometric(0.45, west_up.sum())  # in the west, rising pixels turn sooner: RS < 0
    sign[EAST_BOX] = 1.0
    slope[EAST_BOX] = rng.uniform(8, 12, slope[EAST_BOX].shape)
    sign[STEADY_BOX], slope[STEADY_BOX], brk[STEADY_BOX] = 1.0, 12.0, 3000.0
    noise = rng.normal(0, 8, (len(YEARS), ROWS, COLS))
    x = 500 + sign * slope * u - sign * reversal * np.clip(t - brk, 0, None) + noise
    x[rng.random(x.shape) < 0.03] = np.nan  # gaps anywhere, before and after the reference year
    x[:, 0, 0] = np.nan  # all missing
    x[:, 0, 1] = 300.0  # constant: slope 0 (never a trend), maximum tied in every year
    x[:, 0, 2] = -50.0 - rng.uniform(0, 30, len(YEARS))  # negative NPP is data; CSCC < 0 -> no saturation
    x[:, 0, 3] = np.linspace(100, 200, len(YEARS))
    x[5, 0, 3] = x[15, 0, 3] = 900.0  # tied maximum: the earlier year (1995) wins
    x[:9, 1, 0] = np.nan  # valid only from 1999: analysed with MIN_VALID=2, not with the default
    x = x.astype("float32")
    stored = np.where(np.isnan(x), NODATA, x)
    path = write(folder / "npp.tif", stored, nodata=NODATA, descriptions=[str(y) for y in YEARS])
    files = [write(folder / f"band_{i:02d}.tif", stored[i], nodata=NODATA) for i in range(len(YEARS))]
    zones = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"name": name},
             "geometry": {"type": "Polygon", "coordinates": [ring + [ring[0]]]}}
            for name, ring in (("west", WEST), ("east", EAST), ("west", WEST_SQUARE), ("steady", STEADY))
        ],
    }
    zone_path = folder / "zones.geojson"
    zone_path.write_text(json.dumps(zones))
    return {"x": x.astype(float), "path": path, "files": files, "zones": str(zone_path)}


def zone_index():
    """Zone of every pixel from its centre (matplotlib point-in-polygon): 0 west, 1 east, 2 steady, -1 none."""
    cols, rows = np.meshgrid(np.arange(COLS), np.arange(ROWS))
    lon = T0.c + (cols + 0.5) * T0.a
    lat = T0.f + (rows + 0.5) * T0.e
    pts = np.column_stack([lon.ravel(), lat.ravel()])
    out = np.full(ROWS * COLS, -1)
    for zone, rings in enumerate(([WEST, WEST_SQUARE], [EAST], [STEADY])):
        for ring in rings:
            out[PolygonPath(ring).contains_points(pts)] = zone
    return out.reshape(ROWS, COLS)


def maintenance_reference(x, years, ref, min_valid):
    """Per pixel: growing-window OLS slopes (numpy.polyfit), signs, the maintenance rule; returns P (E, R, C) with
    NaN for pixels whose slope at the reference year is undefined, and the smallest |K| seen (data sanity)."""
    ev = years[years >= ref]
    maint = np.full((ev.size,) + x.shape[1:], np.nan)
    smallest = np.inf
    for r in range(x.shape[1]):
        for c in range(x.shape[2]):
            s = x[:, r, c]
            signs = []
            for ti in ev:
                ok = ~np.isnan(s) & (years <= ti)
                if ok.sum() < min_valid:
                    signs.append(np.nan)
                    continue
                k = np.polyfit(years[ok].astype(float), s[ok], 1)[0]
                if np.ptp(s[ok]) == 0 or abs(k) < 1e-9:  # an exactly constant window: slope 0
                    signs.append(0)
                else:
                    smallest = min(smallest, abs(k))
                    signs.append(1 if k > 0 else -1)
            if np.isnan(signs[0]):
                continue
            p = [signs[0]]
            for sgn in signs[1:]:
                p.append(p[-1] if sgn == p[-1] else 0)  # NaN slope (too few years) differs: the trend is lost
            maint[:, r, c] = p
    return ev, maint, smallest


TIGHT = dict(ftol=1e-15, xtol=1e-15, gtol=1e-15, maxfev=20000)  # converge to rounding: compare tau to 1e-8


def decay_fit_reference(ev, q, fix_lambda):
    """(tau, lambda, r2, status) of q(t) = lambda exp(-(t - t')/tau) with scipy.optimize.curve_fit."""
    if np.all(np.isnan(q)):
        return math.nan, math.nan, math.nan, "no pixels"
    dt = (ev - ev[0]).astype(float)
    if np.all(q >= q[0]):
        lam = 1.0 if fix_lambda else q.mean()
        sst = np.sum((q - q.mean()) ** 2)
        return math.inf, lam, 1 - np.sum((q - lam) ** 2) / sst if sst else math.nan, "no decay"
    pos = q > 0
    tau0 = -1.0 / np.polyfit(dt[pos], np.log(q[pos]), 1)[0]
    if fix_lambda:
        (tau,), _ = curve_fit(lambda d, tau: np.exp(-d / tau), dt, q, p0=[tau0], **TIGHT)
        lam = 1.0
    else:
        (lam, tau), _ = curve_fit(lambda d, lam, tau: lam * np.exp(-d / tau), dt, q, p0=[1.0, tau0], **TIGHT)
    fitted = lam * np.exp(-dt / tau)
    return tau, lam, 1 - np.sum((q - fitted) ** 2) / np.sum((q - q.mean()) ** 2), "ok"


def level_reference(rs):
    """Seed 001 section 4.4: > 500 extremely strong, 100-500 stronger, 0-100 strong, -100-0 weak, < -100 weaker."""
    if math.isnan(rs):
        return "undetermined"
    return ("extremely strong" if rs > 500 else "stronger" if rs > 100 else "strong" if rs >= 0 else
            "weak" if rs >= -100 else "weaker")


def check_resilience(out, x, zones, names, min_valid, fix_lambda):
    """Compare the rasters and both tables written by qgis_process with the reference; returns the fit rows."""
    ev, maint, smallest = maintenance_reference(x, YEARS, REF, min_valid)
    assert smallest > 1e-3  # no slope of the test data is near 0, where rounding could flip a sign
    analysed = ~np.isnan(maint[0])
    pos_years = np.where(analysed, (maint == 1).sum(axis=0), -1)
    neg_years = np.where(analysed, (maint == -1).sum(axis=0), -1)
    got_pos, desc, tags, nodata, dtype = read(out["pos"])
    assert dtype == "int16" and nodata == -1 and tags["UNITS"] == "years"
    assert desc == (f"years positive trend kept {REF}-{YEARS[-1]}",)
    np.testing.assert_array_equal(got_pos[0], pos_years)
    np.testing.assert_array_equal(read(out["neg"])[0][0], neg_years)
    assert (pos_years > 0).any() and (neg_years > 0).any() and (pos_years == ev.size).any()

    table = read_csv(out["table"])
    fit_rows = read_csv(out["fit"])
    assert list(table[0]) == ["zone", "year", "n_positive", "n_negative", "q_positive", "q_negative"]
    assert list(fit_rows[0])[:9] == ["zone", "tau_positive", "tau_negative", "rs", "lambda_positive",
                                     "lambda_negative", "r2_positive", "r2_negative", "level"]
    assert [r["zone"] for r in fit_rows] == ["all"] + names
    assert len(table) == len(fit_rows) * ev.size
    for zi, name in enumerate(["all"] + names):
        inside = np.ones(x.shape[1:], bool) if zi == 0 else zones == zi - 1
        n_pos = np.array([np.sum((maint[e] == 1) & inside) for e in range(ev.size)])
        n_neg = np.array([np.sum((maint[e] == -1) & inside) for e in range(ev.size)])
        rows = table[zi * ev.size: (zi + 1) * ev.size]
        assert [r["zone"] for r in rows] == [name] * ev.size
        assert [int(r["year"]) for r in rows] == list(ev)
        assert [int(r["n_positive"]) for r in rows] == list(n_pos)
        assert [int(r["n_negative"]) for r in rows] == list(n_neg)
        fit = fit_rows[zi]
        taus = {}
        for key, n in (("positive", n_pos), ("negative", n_neg)):
            q = n / n[0] if n[0] else np.full(ev.size, np.nan)
            got_q = np.array([num(r[f"q_{key}"]) for r in rows])
            np.testing.assert_allclose(got_q, q, rtol=1e-12, equal_nan=True)
            tau, lam, r2, status = decay_fit_reference(ev, q, fix_lambda)
            taus[key] = tau
            assert fit[f"status_{key}"] == status, (name, key)
            if status == "ok":
                assert num(fit[f"tau_{key}"]) == pytest.approx(tau, rel=1e-8), (name, key)
                assert num(fit[f"lambda_{key}"]) == pytest.approx(lam, rel=1e-8), (name, key)
                assert num(fit[f"r2_{key}"]) == pytest.approx(r2, abs=1e-10), (name, key)
            else:  # infinite or undefined decay time: an empty (NULL) cell, never a huge number
                assert fit[f"tau_{key}"] == ""
                np.testing.assert_allclose(num(fit[f"lambda_{key}"]), lam, rtol=1e-12, equal_nan=True)
                np.testing.assert_allclose(num(fit[f"r2_{key}"]), r2, rtol=1e-12, equal_nan=True)
        rs = taus["positive"] - taus["negative"] if not (math.isinf(taus["positive"]) and
                                                         math.isinf(taus["negative"])) else math.nan
        if math.isfinite(rs):
            assert num(fit["rs"]) == pytest.approx(rs, abs=1e-8 * (taus["positive"] + taus["negative"]))
        else:
            assert fit["rs"] == ""
        assert fit["level"] == level_reference(rs)
    return fit_rows


# ----------------------------------------------------------------------------------------------------- tests
def test_resilience_with_zones_and_report_matches_reference(qgis_process, data, tmp_path):
    out = {"pos": tmp_path / "pos.tif", "neg": tmp_path / "neg.tif", "table": tmp_path / "table.csv",
           "fit": tmp_path / "fit.csv", "report": tmp_path / "report.html"}
    res = qgis_process.alg("resilience", {
        "INPUT": data["path"], "ZONES": data["zones"], "ZONE_FIELD": "name",
        "OUTPUT_POSITIVE_YEARS": out["pos"], "OUTPUT_NEGATIVE_YEARS": out["neg"], "OUTPUT_TABLE": out["table"],
        "OUTPUT_FIT": out["fit"], "OUTPUT_REPORT": out["report"],
    })
    assert res["results"]["OUTPUT_REPORT"] == str(out["report"])
    zones = zone_index()
    assert (zones == 0).sum() > 100 and (zones == -1).sum() > 100  # pixels inside and outside the zones
    # default MIN_VALID: every year from 1990 to 2000 valid, i.e. 11 valid years in each window
    fits = check_resilience(out, data["x"], zones, ["west", "east", "steady"], min_valid=11, fix_lambda=False)
    by_zone = {f["zone"]: f for f in fits}
    assert by_zone["east"]["status_negative"] == "no pixels" and by_zone["east"]["level"] == "undetermined"
    assert by_zone["east"]["status_positive"] == "ok"
    assert by_zone["steady"]["status_positive"] == "no decay" and by_zone["steady"]["tau_positive"] == ""
    assert by_zone["all"]["status_positive"] == by_zone["all"]["status_negative"] == "ok"
    assert read(out["pos"])[0][0][1, 0] == -1  # gaps before the reference year: not analysed by default
    assert read(out["pos"])[0][0][0, 1] == 0 and read(out["neg"])[0][0][0, 1] == 0  # constant: no trend

    html = out["report"].read_text(encoding="utf-8")
    images = re.findall(r'<img[^>]*src="([^"]*)"', html)
    assert len(images) == 4  # one decay chart per zone: all, west, east, steady
    assert all(src.startswith("data:image/png;base64,") for src in images)
    assert "http:" not in html and "https:" not in html and "<script" not in html and "<link" not in html
    assert "Zone east" in html and "no pixels" in html and "no decay" in html


def test_resilience_fixed_lambda_min_valid_and_single_files(qgis_process, data, tmp_path):
    out = {"pos": tmp_path / "pos.tif", "neg": tmp_path / "neg.tif", "table": tmp_path / "table.csv",
           "fit": tmp_path / "fit.csv"}
    qgis_process.alg("resilience", {
        "INPUT": data["files"], "FIRST_YEAR": int(YEARS[0]), "FIX_LAMBDA": "true", "MIN_VALID": 2,
        "OUTPUT_POSITIVE_YEARS": out["pos"], "OUTPUT_NEGATIVE_YEARS": out["neg"], "OUTPUT_TABLE": out["table"],
        "OUTPUT_FIT": out["fit"],
    })
    fits = check_resilience(out, data["x"], None, [], min_valid=2, fix_lambda=True)
    assert float(fits[0]["lambda_positive"]) == 1.0 and float(fits[0]["lambda_negative"]) == 1.0
    assert read(out["pos"])[0][0][1, 0] >= 0  # two valid years suffice now


def test_resilience_in_process_with_a_reprojected_layer(qgis_app, data, tmp_path):
    """The dialog's and the modeler's path (processing.run): zones given as a layer object in another CRS (Web
    Mercator, reprojected back to the raster's CRS by the algorithm); the tables are created by default."""
    import processing

    zones_3857 = processing.run("native:reprojectlayer", {"INPUT": data["zones"], "TARGET_CRS": "EPSG:3857",
                                                          "OUTPUT": "memory:"})["OUTPUT"]
    assert zones_3857.crs().authid() == "EPSG:3857" and zones_3857.featureCount() == 4
    out = {"pos": tmp_path / "pos.tif", "neg": tmp_path / "neg.tif", "table": tmp_path / "table.csv",
           "fit": tmp_path / "fit.csv"}
    processing.run("carbonsink:resilience", {
        "INPUT": [data["path"]], "ZONES": zones_3857, "ZONE_FIELD": "name",
        "OUTPUT_POSITIVE_YEARS": str(out["pos"]), "OUTPUT_NEGATIVE_YEARS": str(out["neg"]),
        "OUTPUT_TABLE": str(out["table"]), "OUTPUT_FIT": str(out["fit"]),
    })
    check_resilience(out, data["x"], zone_index(), ["west", "east", "steady"], min_valid=11, fix_lambda=False)
    from qgis.core import QgsApplication

    alg = QgsApplication.processingRegistry().algorithmById("carbonsink:resilience")
    for name in ("OUTPUT_TABLE", "OUTPUT_FIT"):
        assert alg.parameterDefinition(name).createByDefault()
    assert not alg.parameterDefinition("OUTPUT_REPORT").createByDefault()


def test_cscc_matches_reference(qgis_process, data, tmp_path):
    out = {k: tmp_path / f"{k}.tif" for k in ("max", "year", "potential", "saturation")}
    table = tmp_path / "table.csv"
    qgis_process.alg("cscc", {
        "INPUT": data["path"], "OUTPUT_MAX": out["max"], "OUTPUT_YEAR_OF_MAX": out["year"],
        "OUTPUT_POTENTIAL": out["potential"], "OUTPUT_SATURATION": out["saturation"], "OUTPUT_TABLE": table,
    })
    x = data["x"]
    mx = np.full(x.shape[1:], np.nan)
    year_of_max = np.full(x.shape[1:], -9999)
    for r in range(ROWS):
        for c in range(COLS):
            s = x[:, r, c]
            for i, v in enumerate(s):
                if not np.isnan(v) and (np.isnan(mx[r, c]) or v > mx[r, c]):
                    mx[r, c], year_of_max[r, c] = v, YEARS[i]
    got, desc, tags, _, dtype = read(out["max"])
    np.testing.assert_array_equal(got[0], mx)  # the maximum is one of the float32 inputs: exact
    assert tags["UNITS"] == "g C m-2 yr-1" and tags["ALGORITHM"] == "carbonsink:cscc" and dtype == "float32"
    years_got, _, tags, nodata, dtype = read(out["year"])
    assert dtype == "int16" and nodata == -9999 and tags["UNITS"] == "year"
    np.testing.assert_array_equal(years_got[0], year_of_max)
    assert year_of_max[0, 0] == -9999 and year_of_max[0, 1] == 1990 and year_of_max[0, 3] == 1995
    potential, desc, _, _, _ = read(out["potential"])
    assert desc == tuple(str(y) for y in YEARS)
    np.testing.assert_allclose(potential, (mx - x).astype("float32"), rtol=1e-6, atol=1e-4, equal_nan=True)
    assert np.nanmin(potential) == 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        saturation = np.where(mx > 0, 100.0 * x / mx, np.nan)
    got_sat, _, tags, _, _ = read(out["saturation"])
    assert tags["UNITS"] == "%"
    np.testing.assert_allclose(got_sat, saturation.astype("float32"), rtol=1e-6, equal_nan=True)
    assert np.isnan(got_sat[:, 0, 2]).all() and np.isfinite(potential[:, 0, 2]).all()  # CSCC < 0

    area = ellipsoid_row_areas(T0, ROWS)[:, None] * np.ones(COLS)
    rows = read_csv(table)
    assert list(rows[0]) == ["year", "total_npp_tgc", "total_cscc_tgc", "potential_tgc", "saturation_pct"]
    assert [int(r["year"]) for r in rows] == list(YEARS)
    for i, row in enumerate(rows):
        ok = ~np.isnan(x[i]) & ~np.isnan(mx)
        npp_tg = (x[i][ok] * area[ok]).sum() * 1e-12
        cscc_tg = (mx[ok] * area[ok]).sum() * 1e-12
        assert num(row["total_npp_tgc"]) == pytest.approx(npp_tg, rel=1e-9)
        assert num(row["total_cscc_tgc"]) == pytest.approx(cscc_tg, rel=1e-9)
        assert num(row["potential_tgc"]) == pytest.approx(cscc_tg - npp_tg, rel=1e-8)
        assert num(row["saturation_pct"]) == pytest.approx(100 * npp_tg / cscc_tg, rel=1e-9)


# ----------------------------------------------------------------------------------------------- sample data
def test_sample_data_planted_signals(qgis_process, sample_data, tmp_path):
    qgis_process.alg("modis_npp", {"INPUT": sample_data / "npp_modis_stack.tif", "OUTPUT": tmp_path / "npp.tif"})
    qgis_process.alg("cscc", {
        "INPUT": tmp_path / "npp.tif", "OUTPUT_MAX": tmp_path / "max.tif", "OUTPUT_YEAR_OF_MAX": tmp_path / "ym.tif",
        "OUTPUT_POTENTIAL": tmp_path / "pot.tif", "OUTPUT_SATURATION": tmp_path / "sat.tif",
    })
    peak = planted_box(sample_data, "peak_2010")
    year_of_max = read(tmp_path / "ym.tif")[0][0]
    assert (year_of_max[peak] == 2010).all()
    saturation = read(tmp_path / "sat.tif")[0]
    np.testing.assert_allclose(saturation[(10, *peak)], 100.0)  # band 10 = 2010
    assert (saturation[(slice(0, 10), *peak)] < 100).all() and (saturation[(slice(11, None), *peak)] < 100).all()
    assert (read(tmp_path / "pot.tif")[0][(10, *peak)] == 0).all()

    out = {k: tmp_path / f"r_{k}" for k in ("pos.tif", "neg.tif", "table.csv", "fit.csv", "report.html")}
    qgis_process.alg("resilience", {
        "INPUT": tmp_path / "npp.tif", "REFERENCE_YEAR": 2010, "ZONES": sample_data / "regions.gpkg",
        "ZONE_FIELD": "name", "OUTPUT_POSITIVE_YEARS": out["pos.tif"], "OUTPUT_NEGATIVE_YEARS": out["neg.tif"],
        "OUTPUT_TABLE": out["table.csv"], "OUTPUT_FIT": out["fit.csv"], "OUTPUT_REPORT": out["report.html"],
    })
    pos, neg = read(out["pos.tif"])[0][0], read(out["neg.tif"])[0][0]
    n_eval = 2023 - 2010 + 1
    greening, degradation = planted_box(sample_data, "greening"), planted_box(sample_data, "degradation")
    assert (pos[greening] == n_eval).all() and (neg[greening] == 0).all()  # +12 per year throughout
    assert (neg[degradation] == n_eval).all() and (pos[degradation] == 0).all()  # -10 per year throughout
    # peak_2010 rises to 2010 and falls after: the growing-window slope stays > 0 to 2021 (0.9 per year for the
    # planted curve) and turns < 0 by 2023 (-1.0), so the positive trend is kept 12 or 13 years, never 14
    assert np.isin(pos[peak], [12, 13]).all() and (neg[peak] == 0).all()
    assert (pos[46:48, 20:90] == -1).all()  # the 2005 fill stripe: a year missing before the reference year
    fits = read_csv(out["fit.csv"])
    assert [f["zone"] for f in fits] == ["all", "Northwest", "Northeast", "Southwest", "Southeast"]
    table = read_csv(out["table.csv"])
    for e in range(n_eval):  # the four regions tile the area: their counts add up to the whole raster's
        rows = table[e::n_eval]
        for key in ("n_positive", "n_negative"):
            assert int(rows[0][key]) == sum(int(r[key]) for r in rows[1:])
    html = out["report.html"].read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 5 and "http:" not in html and "https:" not in html


# ------------------------------------------------------------------------------------------------- bad input
def _fails(qgis_process, alg, params, *words):
    proc = qgis_process.alg(alg, params, check=False)
    assert not isinstance(proc, dict), f"{alg} accepted bad input"
    text = proc.stdout + proc.stderr
    for w in words:
        assert w in text, f"'{w}' not in:\n{text}"


def test_bad_inputs_are_refused_and_leave_nothing(qgis_process, data, sample_data, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    res_outputs = {"OUTPUT_POSITIVE_YEARS": out / "p.tif", "OUTPUT_NEGATIVE_YEARS": out / "n.tif",
                   "OUTPUT_TABLE": out / "t.csv", "OUTPUT_FIT": out / "f.csv", "OUTPUT_REPORT": out / "r.html"}
    _fails(qgis_process, "resilience", {"INPUT": data["path"], "REFERENCE_YEAR": 1985, **res_outputs},
           "REFERENCE_YEAR 1985 is not one of the years", "1990..2012")
    _fails(qgis_process, "resilience", {"INPUT": data["path"], "REFERENCE_YEAR": 1990, **res_outputs},
           "REFERENCE_YEAR 1990 is the first year")
    raw = sample_data / "npp_modis_stack.tif"  # MODIS digital numbers, not g C m-2 yr-1
    _fails(qgis_process, "resilience", {"INPUT": raw, "REFERENCE_YEAR": 2010, **res_outputs},
           "raw MODIS", "modis_npp")
    _fails(qgis_process, "cscc", {"INPUT": raw, "OUTPUT_MAX": out / "m.tif", "OUTPUT_YEAR_OF_MAX": out / "y.tif",
                                  "OUTPUT_POTENTIAL": out / "pp.tif", "OUTPUT_SATURATION": out / "s.tif",
                                  "OUTPUT_TABLE": out / "c.csv"},
           "raw MODIS", "modis_npp")
    assert os.listdir(out) == []
