"""Tests of the deterministic sample study area written by ``sample/make_sample_data.py``.

The generator runs twice into pytest temporary folders. The checks read only the written files and
``signals.json`` and recompute every planted signal independently: plain numpy / scipy, per-pixel loops written
from METHODS.md (Mann-Kendall, Hurst ``blocks_alp``, Pei Rh, partial correlation), nothing from the plugin and
nothing from the generator module.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import Affine
from scipy import stats
from support import pairwise

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "sample" / "make_sample_data.py"
README = ROOT / "sample" / "README.md"
YEARS = np.arange(2000, 2024)
NY, HEIGHT, WIDTH = 24, 80, 100
TRANSFORM = Affine(0.1, 0.0, 96.0, 0.0, -0.1, 44.0)
AREA_NAMES = {
    "greening",
    "degradation",
    "desert_edge",
    "persistent",
    "noisy",
    "stable",
    "climate_driven",
    "peak_2010",
}
NPP_FILES = [f"npp_modis/MOD17A3HGF.A{y}001.sample.Npp_500m.tif" for y in YEARS]
RASTERS = NPP_FILES + [
    "npp_modis_stack.tif",
    "temperature_monthly.tif",
    "precipitation_monthly.tif",
    "temperature_annual.tif",
    "precipitation_annual.tif",
    "soil_carbon.tif",
    "landcover_2000.tif",
    "landcover_2011.tif",
    "landcover_2022.tif",
]
ALL_FILES = RASTERS + ["regions.gpkg", "signals.json"]


def _run(out: Path) -> Path:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(out)], check=False, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def run1(tmp_path_factory) -> Path:
    return _run(tmp_path_factory.mktemp("sample_run1"))


@pytest.fixture(scope="module")
def run2(tmp_path_factory) -> Path:
    return _run(tmp_path_factory.mktemp("sample_run2"))


@pytest.fixture(scope="module")
def signals(run1) -> dict:
    return json.loads((run1 / "signals.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def data(run1) -> dict:
    with rasterio.open(run1 / "npp_modis_stack.tif") as src:
        dn = src.read()
    with rasterio.open(run1 / "temperature_monthly.tif") as src:
        temp = src.read().astype(np.float64).reshape(NY, 12, HEIGHT, WIDTH)
    with rasterio.open(run1 / "precipitation_monthly.tif") as src:
        prec = src.read().astype(np.float64).reshape(NY, 12, HEIGHT, WIDTH)
    npp = np.where(dn > 32700, np.nan, dn.astype(np.float64) * 0.1)
    # Pei et al. (2009), METHODS.md: monthly Rh = 0.22 (exp(0.0912 T) + ln(0.3145 P + 1)) * 30 * 0.465, summed.
    rh_monthly = 0.22 * (np.exp(0.0912 * temp) + np.log(0.3145 * prec + 1.0)) * 30.0 * 0.465
    lc = {}
    for year in (2000, 2011, 2022):
        with rasterio.open(run1 / f"landcover_{year}.tif") as src:
            lc[year] = src.read(1)
    return {
        "dn": dn,
        "npp": npp,
        "temp": temp,
        "prec": prec,
        "t_annual": temp.mean(axis=1),
        "p_annual": prec.sum(axis=1),
        "rh": rh_monthly.sum(axis=1),
        "lc": lc,
    }


def _area(signals: dict, name: str) -> dict:
    return next(a for a in signals["areas"] if a["name"] == name)


def _box(entry: dict) -> tuple[int, int, int, int]:
    b = entry["pixel_box"]
    return b["row0"], b["row1"], b["col0"], b["col1"]


def _series(arr: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    r0, r1, c0, c1 = box
    return arr[:, r0:r1, c0:c1].reshape(arr.shape[0], -1)


# ---- per-series references written from METHODS.md (deliberately plain loops) ----------------------------------
def mk_z(x: np.ndarray) -> float:
    n = len(x)
    s = sum(np.sign(x[j] - x[i]) for i in range(n) for j in range(i + 1, n))
    _, counts = np.unique(x, return_counts=True)
    var = (n * (n - 1) * (2 * n + 5) - sum(t * (t - 1) * (2 * t + 5) for t in counts)) / 18.0
    if s > 0:
        return (s - 1) / math.sqrt(var)
    if s < 0:
        return (s + 1) / math.sqrt(var)
    return 0.0


def hurst_blocks_alp(x: np.ndarray) -> float:
    n = len(x)
    log_w, dev = [], []
    for w in range(4, n // 2 + 1):
        ratios = []
        for k in range(n // w):
            block = x[k * w : (k + 1) * w]
            z = np.cumsum(block - block.mean())
            r = z.max() - z.min()
            s = block.std(ddof=1)
            if r > 0 and s > 0:
                ratios.append(r / s)
        if not ratios:
            continue
        e = (
            (w - 0.5)
            / w
            * math.gamma((w - 1) / 2)
            / (math.sqrt(math.pi) * math.gamma(w / 2))
            * sum(math.sqrt((w - i) / i) for i in range(1, w))
        )
        log_w.append(math.log(w))
        dev.append(math.log(np.mean(ratios)) - math.log(e))
    return 0.5 + np.polyfit(log_w, dev, 1)[0]


def partial_r(target: np.ndarray, factors: list[np.ndarray], j: int) -> tuple[float, float]:
    """Partial r of target with factors[j] controlling for the others; p from the t-test with n - 2 - k df."""
    c = np.corrcoef(np.vstack([target] + factors))
    p_inv = np.linalg.inv(c)
    r = -p_inv[0, j + 1] / math.sqrt(p_inv[0, 0] * p_inv[j + 1, j + 1])
    df = len(target) - 2 - (len(factors) - 1)
    t = r * math.sqrt(df) / math.sqrt(1 - r * r)
    return r, 2 * stats.t.sf(abs(t), df)


def test_references_on_hand_checked_series():
    # MK on 1, 2, 3, 4: S = 6 (all 6 pairs increase), Var = 4*3*13/18 = 8.667, Z = (6-1)/sqrt(8.667) = 1.6984.
    assert mk_z(np.array([1.0, 2.0, 3.0, 4.0])) == pytest.approx(5 / math.sqrt(156 / 18), abs=1e-12)
    # With ties 1, 1, 2: S = 0 + 1 + 1 = 2, Var = (3*2*11 - 2*1*9)/18 = 48/18, Z = 1/sqrt(2.667) = 0.6124.
    assert mk_z(np.array([1.0, 1.0, 2.0])) == pytest.approx(1 / math.sqrt(48 / 18), abs=1e-12)
    # Pei, T = 10 deg C, P = 50 mm: 0.22 (exp(0.912) + ln(16.725)) 30 0.465 = 3.069 (2.48929 + 2.81691) = 16.284.
    rh = 0.22 * (math.exp(0.0912 * 10) + math.log(0.3145 * 50 + 1)) * 30 * 0.465
    assert rh == pytest.approx(16.2842, abs=1e-3)
    # White noise of length 24: blocks_alp H averages about 0.49 (METHODS.md: 0.49 on 2,000 series).
    rng = np.random.default_rng(5)
    h = [hurst_blocks_alp(rng.normal(size=24)) for _ in range(400)]
    assert 0.44 < np.mean(h) < 0.54


# ---- files, grid, determinism ------------------------------------------------------------------------------------
def test_two_runs_give_identical_bytes(run1, run2):
    files1 = sorted(p.relative_to(run1).as_posix() for p in run1.rglob("*") if p.is_file())
    files2 = sorted(p.relative_to(run2).as_posix() for p in run2.rglob("*") if p.is_file())
    assert files1 == files2 == sorted(ALL_FILES)  # nothing else (no .aux.xml side files)
    for name in files1:
        assert (run1 / name).read_bytes() == (run2 / name).read_bytes(), name


def test_size(run1):
    total = sum(p.stat().st_size for p in run1.rglob("*") if p.is_file())
    assert total < 15e6, total


@pytest.mark.parametrize("name", RASTERS)
def test_grid_and_crs(run1, name):
    with rasterio.open(run1 / name) as src:
        assert (src.width, src.height) == (WIDTH, HEIGHT)
        assert src.crs.to_epsg() == 4326
        assert src.transform.almost_equals(TRANSFORM, precision=1e-12)
        assert tuple(src.bounds) == pytest.approx((96.0, 36.0, 106.0, 44.0), abs=1e-9)


def test_npp_files_and_stack_agree(run1, data):
    with rasterio.open(run1 / "npp_modis_stack.tif") as src:
        assert src.count == NY
        assert src.dtypes == ("int16",) * NY
        assert src.nodata == 32767
        assert list(src.descriptions) == [str(y) for y in YEARS]
        assert src.tags()["UNITS"] == "kg C m-2"
    for k, name in enumerate(NPP_FILES):
        assert int(re.search(r"\.A(\d{4})001\.", name).group(1)) == YEARS[k]
        with rasterio.open(run1 / name) as src:
            assert src.count == 1 and src.dtypes[0] == "int16" and src.nodata == 32767
            assert not src.descriptions[0]  # years come from the file names
            np.testing.assert_array_equal(src.read(1), data["dn"][k])


def test_npp_dn_encoding(signals, data):
    dn = data["dn"]
    valid = dn <= 32700
    assert dn[valid].min() > 0 and dn[~valid].min() >= 32762
    assert not ((dn > 32700) & (dn < 32762)).any()
    npp = data["npp"]
    assert np.nanmax(npp) < 3500  # decoded values look like annual NPP in g C m-2 yr-1
    # DN = NPP[g] * 10: the stable area was planted at about 700 g C m-2 yr-1, the greening at +12 per year.
    stable = _series(npp, _box(_area(signals, "stable")))
    assert 690 < stable.mean() < 711
    green = _series(npp, _box(_area(signals, "greening")))
    slopes = np.polyfit(YEARS.astype(float), green, 1)[0]
    assert 11.0 < slopes.mean() < 13.0
    # Round trip: decoded values re-encode to the same DN.
    np.testing.assert_array_equal(np.round(npp[valid] * 10.0).astype(np.int16), dn[valid])


def test_land_codes_exactly_where_documented(signals, data):
    dn = data["dn"]
    features = {f["name"]: f for f in signals["land_features"]}
    assert {f["code"] for f in features.values()} == {32762, 32763, 32764, 32765, 32766, 32767}
    for k, year in enumerate(YEARS):
        expected = np.zeros((HEIGHT, WIDTH), dtype=np.int32)
        for f in signals["land_features"]:
            first, last = f["years"]
            if first <= year <= last:
                r0, r1, c0, c1 = _box(f)
                region = np.zeros_like(expected, dtype=bool)
                region[r0:r1, c0:c1] = True
                if "excluding" in f:
                    e0, e1, e2, e3 = _box(features[f["excluding"]])
                    region[e0:e1, e2:e3] = False
                expected[region] = f["code"]
        got = np.where(dn[k] > 32700, dn[k], 0)
        np.testing.assert_array_equal(got, expected, err_msg=str(year))
    # the city appears from 2012 and grows in 2017; the stripe is missing in 2005 only
    city = _box(features["city"])
    assert (dn[YEARS < 2012][:, city[0] : city[1], city[2] : city[3]] <= 32700).all()
    assert (dn[YEARS >= 2017][:, city[0] : city[1], city[2] : city[3]] == 32762).all()
    stripe = _box(features["fill_stripe"])
    assert np.isfinite(_series(data["npp"], stripe)).sum(axis=0).tolist() == [NY - 1] * (
        (stripe[1] - stripe[0]) * (stripe[3] - stripe[2])
    )


def test_climate_files(run1, data):
    months = [f"{y}-{m:02d}" for y in YEARS for m in range(1, 13)]
    for name, units in (("temperature_monthly.tif", "deg C"), ("precipitation_monthly.tif", "mm")):
        with rasterio.open(run1 / name) as src:
            assert src.count == 288 and src.dtypes == ("float32",) * 288
            assert src.nodata == -9999
            assert list(src.descriptions) == months
            assert src.tags()["UNITS"] == units
    temp, prec = data["temp"], data["prec"]
    assert np.isfinite(temp).all() and np.isfinite(prec).all()
    assert (temp > -60).all() and (temp < 50).all()
    assert (prec >= 0).all() and prec.max() < 1000
    # seasonal cycle: July warmer than January everywhere; summer monsoon (June-August) wetter than winter
    assert (temp[:, 6].mean(axis=0) > temp[:, 0].mean(axis=0) + 15).all()
    assert (prec[:, 5:8].sum(axis=1).mean(axis=0) > 4 * prec[:, [0, 1, 11]].sum(axis=1).mean(axis=0)).all()
    # latitude gradient (row 0 is the north edge) and a warming trend of the domain mean
    row_mean = data["t_annual"].mean(axis=(0, 2))
    assert row_mean[-1] > row_mean[0] + 4
    domain = data["t_annual"].mean(axis=(1, 2))
    assert stats.linregress(YEARS, domain).slope > 0
    # precipitation anomalies from year to year
    assert data["p_annual"].mean(axis=(1, 2)).std() > 5
    # annual aggregates = mean / sum of the monthly bands
    for name, ref in (("temperature_annual.tif", data["t_annual"]), ("precipitation_annual.tif", data["p_annual"])):
        with rasterio.open(run1 / name) as src:
            assert src.count == NY and list(src.descriptions) == [str(y) for y in YEARS]
            np.testing.assert_allclose(src.read().astype(np.float64), ref, rtol=1e-6, atol=1e-4)


def test_soil_carbon(run1, signals):
    with rasterio.open(run1 / "soil_carbon.tif") as src:
        assert src.count == 1 and src.dtypes[0] == "float32" and src.nodata == -9999
        soc = src.read(1)
    lake = _box(next(f for f in signals["land_features"] if f["name"] == "lake"))
    nodata = soc == -9999
    expected = np.zeros_like(nodata)
    expected[lake[0] : lake[1], lake[2] : lake[3]] = True
    np.testing.assert_array_equal(nodata, expected)
    valid = np.where(nodata, np.nan, soc)
    assert 1.0 <= np.nanmin(valid) and np.nanmax(valid) <= 15.0 and np.nanmax(valid) - np.nanmin(valid) > 5
    assert np.nanmax(np.abs(np.diff(valid, axis=0))) < 1.0 and np.nanmax(np.abs(np.diff(valid, axis=1))) < 1.0


def test_landcover_consistent_with_npp_codes(run1, signals, data):
    for year, lc in data["lc"].items():
        with rasterio.open(run1 / f"landcover_{year}.tif") as src:
            assert src.dtypes[0] == "uint8" and src.nodata == 0
        assert set(np.unique(lc)) <= set(range(10))
        dn = data["dn"][YEARS == year][0]
        for cls, code in ((7, 32765), (5, 32766), (8, 32762), (6, 32764), (9, 32763), (0, 32767)):
            np.testing.assert_array_equal(lc == cls, dn == code, err_msg=f"{year} class {cls}")
    assert {1, 2, 3, 4} <= set(np.unique(data["lc"][2000]))
    assert set(np.unique(data["lc"][2022])) == set(range(10))
    for tr in signals["land_cover_transitions"]:
        r0, r1, c0, c1 = _box(tr)
        assert (data["lc"][tr["from_year"]][r0:r1, c0:c1] == tr["from_class"]).all(), tr["name"]
        assert (data["lc"][tr["to_year"]][r0:r1, c0:c1] == tr["to_class"]).all(), tr["name"]
    for a in signals["areas"]:
        r0, r1, c0, c1 = _box(a)
        for year, cls in a["land_cover"].items():
            assert signals["land_cover_classes"][str(data["lc"][int(year)][r0, c0])] == cls
            assert (data["lc"][int(year)][r0:r1, c0:c1] == data["lc"][int(year)][r0, c0]).all()


# ---- regions (read with sqlite3: a GeoPackage is an SQLite database) ------------------------------------------
def _gpkg_polygon(blob: bytes) -> list[list[tuple[float, float]]]:
    assert blob[:2] == b"GP"
    flags = blob[3]
    envelope = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}[(flags >> 1) & 7]
    wkb = blob[8 + envelope :]
    order = "<" if wkb[0] == 1 else ">"
    (gtype,) = struct.unpack(order + "I", wkb[1:5])
    assert gtype == 3  # Polygon
    (nrings,) = struct.unpack(order + "I", wkb[5:9])
    pos, rings = 9, []
    for _ in range(nrings):
        (npts,) = struct.unpack(order + "I", wkb[pos : pos + 4])
        pos += 4
        pts = struct.unpack(order + "d" * 2 * npts, wkb[pos : pos + 16 * npts])
        pos += 16 * npts
        rings.append(list(zip(pts[0::2], pts[1::2])))
    return rings


def _inside(ring: list[tuple[float, float]], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    inside = np.zeros(x.shape, dtype=bool)
    for (x0, y0), (x1, y1) in pairwise(ring):
        crosses = (y0 > y) != (y1 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            xc = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (x < xc)
    return inside


def test_regions(run1, signals):
    con = sqlite3.connect(run1 / "regions.gpkg")
    try:
        contents = con.execute("select table_name, data_type, srs_id from gpkg_contents").fetchall()
        assert ("regions", "features", 4326) in contents
        rows = con.execute("select id, name, geom from regions order by id").fetchall()
    finally:
        con.close()
    assert [r[0] for r in rows] == [1, 2, 3, 4]
    assert len({r[1] for r in rows}) == 4 and all(r[1] for r in rows)
    rings = [_gpkg_polygon(r[2])[0] for r in rows]
    area = 0.0
    for ring in rings:
        assert ring[0] == ring[-1]
        xs, ys = np.array(ring).T
        assert xs.min() >= 96 and xs.max() <= 106 and ys.min() >= 36 and ys.max() <= 44
        area += abs(0.5 * np.sum(xs[:-1] * ys[1:] - xs[1:] * ys[:-1]))
    assert area == pytest.approx(80.0, abs=1e-9)  # the four regions tile the 10 x 8 degree study area
    lon = 96.05 + 0.1 * np.arange(WIDTH)[None, :] + 0.0 * np.arange(HEIGHT)[:, None]
    lat = 43.95 - 0.1 * np.arange(HEIGHT)[:, None] + 0.0 * np.arange(WIDTH)[None, :]
    member = np.array([_inside(ring, lon, lat) for ring in rings])
    assert (member.sum(axis=0) == 1).all()  # every pixel centre in exactly one region
    zone = member.argmax(axis=0)
    # a boundary on pixel edges: lon 101.0 (between columns 49 and 50) from lat 40 to 44
    edges = [(a, b) for ring in rings for a, b in pairwise(ring) if a[0] == b[0] == 101.0]
    assert edges and all({a[1], b[1]} == {40.0, 44.0} for a, b in edges)
    assert (zone[:40, 49] != zone[:40, 50]).all()
    # boundaries cross some planted areas
    split = [a["name"] for a in signals["areas"] if len(np.unique(zone[slice(*_box(a)[:2]), slice(*_box(a)[2:])])) > 1]
    assert len(split) >= 2, split


# ---- signals.json --------------------------------------------------------------------------------------------
def test_signal_boxes(signals):
    assert {a["name"] for a in signals["areas"]} == AREA_NAMES
    files = signals["files"]
    listed = [files[k] for k in files if "{year}" not in files[k]]
    listed += [files["npp_single"].format(year=y) for y in YEARS] + [
        files["landcover"].format(year=y) for y in (2000, 2011, 2022)
    ]
    assert sorted(listed + ["signals.json"]) == sorted(ALL_FILES)
    assert signals["years"] == YEARS.tolist()
    boxes = {a["name"]: _box(a) for a in signals["areas"]}
    for entry in signals["areas"] + signals["land_features"] + signals["land_cover_transitions"]:
        r0, r1, c0, c1 = _box(entry)
        assert 0 <= r0 < r1 <= HEIGHT and 0 <= c0 < c1 <= WIDTH, entry["name"]
        ll = entry["lonlat_box"]
        assert ll["west"] == pytest.approx(96 + 0.1 * c0) and ll["east"] == pytest.approx(96 + 0.1 * c1)
        assert ll["north"] == pytest.approx(44 - 0.1 * r0) and ll["south"] == pytest.approx(44 - 0.1 * r1)
    names = sorted(boxes)
    for i, a in enumerate(names):  # disjoint, with at least one background pixel between planted areas
        for b in names[i + 1 :]:
            ra, rb = boxes[a], boxes[b]
            apart = ra[1] < rb[0] or rb[1] < ra[0] or ra[3] < rb[2] or rb[3] < ra[2]
            assert apart, (a, b)
    nested = {("wetland", "lake"), ("city", "city_core")}  # the lake sits in the wetland ring, the core in the city
    features = signals["land_features"]
    covered = np.zeros((HEIGHT, WIDTH), dtype=bool)
    for i, f in enumerate(features):
        r0, r1, c0, c1 = _box(f)
        covered[r0:r1, c0:c1] = True
        for g in features[i + 1 :]:
            q0, q1, q2, q3 = _box(g)
            overlap = r0 < q1 and q0 < r1 and c0 < q3 and q2 < c1
            assert not overlap or {(f["name"], g["name"]), (g["name"], f["name"])} & nested, (f["name"], g["name"])
    for name, (r0, r1, c0, c1) in boxes.items():
        assert not covered[r0:r1, c0:c1].any(), name  # land codes never inside a planted area
    for a in signals["areas"]:
        assert a["expected"] and a["measured"]["n_pixels"] == (_box(a)[1] - _box(a)[0]) * (_box(a)[3] - _box(a)[2])


def test_readme_documents_every_box(signals):
    text = README.read_text(encoding="utf-8")
    for entry in signals["areas"] + signals["land_features"]:
        r0, r1, c0, c1 = _box(entry)
        pattern = rf"^\|\s*`?{entry['name']}`?\s*\|.*{r0}:{r1}, {c0}:{c1}"
        assert re.search(pattern, text, flags=re.MULTILINE), entry["name"]


# ---- planted signals, recomputed independently ------------------------------------------------------------------
def test_greening_and_degradation(signals, data):
    t = YEARS.astype(float)
    for name, sign in (("greening", 1), ("degradation", -1)):
        x = _series(data["npp"], _box(_area(signals, name)))
        ols = np.array([stats.linregress(t, s) for s in x.T])
        sen = np.array([stats.theilslopes(s, t)[0] for s in x.T])
        z = np.array([mk_z(s) for s in x.T])
        assert (np.sign(ols[:, 0]) == sign).all() and (ols[:, 3] < 0.01).all()
        assert (np.sign(sen) == sign).all()
        assert (np.abs(z) > 2.58).all() and (np.sign(z) == sign).all()
        m = _area(signals, name)["measured"]
        assert m["sen_slope"]["mean"] == pytest.approx(sen.mean(), abs=1e-3)
        assert m["mk_z"]["min"] == pytest.approx(z.min(), abs=1e-3)
        assert m["ols_slope"]["max"] == pytest.approx(ols[:, 0].max(), abs=1e-3)


def test_desert_edge_is_a_carbon_source(signals, data):
    area = _area(signals, "desert_edge")
    r0, r1, c0, c1 = _box(area)
    nep = _series(data["npp"], (r0, r1, c0, c1)) - _series(data["rh"], (r0, r1, c0, c1))
    assert (nep < 0).all()
    assert area["expected"]["nep_sign"] == -1
    assert 20 <= np.nanmin(_series(data["npp"], (r0, r1, c0, c1))) and np.nanmax(nep) < 0
    assert (data["dn"][:, r0 - 1, c0:c1] == 32765).all()  # the barren patch is right next to it (north)


def test_nep_sign_of_every_area(signals, data):
    for a in signals["areas"]:
        box = _box(a)
        nep = _series(data["npp"], box) - _series(data["rh"], box)
        frac = float((nep > 0).mean())
        assert frac == pytest.approx(a["expected"]["nep_positive_fraction"], abs=1e-4), a["name"]
        assert a["expected"]["nep_sign"] == (1 if frac > 0.5 else -1)
    assert signals["background"]["nep_positive_fraction"] > 0.99


def test_persistent_and_noisy_hurst(signals, data):
    h = {}
    for name in ("persistent", "noisy"):
        x = _series(data["npp"], _box(_area(signals, name)))
        h[name] = np.array([hurst_blocks_alp(s) for s in x.T])
        m = _area(signals, name)["measured"]["hurst_blocks_alp"]
        assert (m["min"], m["mean"], m["max"]) == pytest.approx(
            (h[name].min(), h[name].mean(), h[name].max()), abs=1e-3
        )
    assert h["persistent"].min() > 0.6 and h["persistent"].mean() > 0.75
    assert 0.4 < h["noisy"].mean() < 0.6
    # white-noise 95% quantile for n = 24, by simulation here (independent of signals.json)
    rng = np.random.default_rng(11)
    q95 = np.quantile([hurst_blocks_alp(rng.normal(size=NY)) for _ in range(1000)], 0.95)
    assert (h["persistent"] > q95).mean() > 0.5
    assert (h["noisy"] > q95).mean() < 0.15


def test_noisy_has_no_trend_and_high_cv(signals, data):
    t = YEARS.astype(float)
    noisy = _series(data["npp"], _box(_area(signals, "noisy")))
    stable = _series(data["npp"], _box(_area(signals, "stable")))
    assert max(abs(mk_z(s)) for s in noisy.T) <= 1.64
    assert min(stats.linregress(t, s).pvalue for s in noisy.T) >= 0.1
    cv_noisy = noisy.std(axis=0, ddof=1) / np.abs(noisy.mean(axis=0))
    cv_stable = stable.std(axis=0, ddof=1) / np.abs(stable.mean(axis=0))
    assert cv_stable.max() <= 0.02
    assert cv_noisy.mean() > 0.15 and cv_noisy.min() > 5 * cv_stable.max()
    assert _area(signals, "stable")["measured"]["cv_ddof1"]["max"] == pytest.approx(cv_stable.max(), abs=1e-4)


def test_climate_driven_partial_correlation(signals, data):
    box = _box(_area(signals, "climate_driven"))
    x = _series(data["npp"], box)
    p = _series(data["p_annual"], box)
    tm = _series(data["t_annual"], box)
    for k in range(x.shape[1]):
        r_p, p_p = partial_r(x[:, k], [p[:, k], tm[:, k]], 0)
        r_t, _ = partial_r(x[:, k], [p[:, k], tm[:, k]], 1)
        assert r_p > 0.8 and p_p < 0.01
        assert abs(r_t) < 0.1
        assert abs(np.corrcoef(p[:, k], tm[:, k])[0, 1]) < 0.1  # precipitation independent of temperature
        assert p[:, k].std() > 0.15 * p[:, k].mean()  # precipitation anomalies vary from year to year
    m = _area(signals, "climate_driven")["measured"]
    r0 = partial_r(x[:, 0], [p[:, 0], tm[:, 0]], 0)[0]
    assert m["partial_r_precipitation"]["min"] - 1e-3 <= r0 <= m["partial_r_precipitation"]["max"] + 1e-3


def test_peak_2010(signals, data):
    x = _series(data["npp"], _box(_area(signals, "peak_2010")))
    assert (YEARS[np.argmax(x, axis=0)] == 2010).all()
    assert _area(signals, "peak_2010")["expected"]["year_of_max"] == 2010
