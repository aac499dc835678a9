"""trend_sen_mk and trend_ols through the real qgis_process on rasters made here, against pymannkendall and
scipy (the references users loop over pixels today), and the planted trends of the sample data."""

from __future__ import annotations

import csv

import numpy as np
import pymannkendall as mk
import pytest
import rasterio
from rasterio.transform import from_origin
from scipy import stats
from support import planted, planted_box

pytestmark = pytest.mark.qgis

YEARS = list(range(1998, 2022))
PMK = {
    0: mk.original_test,
    1: mk.hamed_rao_modification_test,
    2: mk.yue_wang_modification_test,
    3: mk.pre_whitening_modification_test,
    4: mk.trend_free_pre_whitening_modification_test,
}


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    folder = tmp_path_factory.mktemp("trend")
    rng = np.random.default_rng(2024)
    shape = (len(YEARS), 14, 19)
    t = np.arange(len(YEARS))[:, None, None]
    slope = rng.choice([-8.0, -2.0, 0.0, 3.0, 10.0], size=shape[1:])
    x = 300 + slope * t + np.cumsum(rng.normal(0, 15, shape), axis=0) * rng.uniform(0, 1, shape[1:])
    x = np.round(x / 5) * 5  # ties
    x[:, 0, :4] = 250.0  # constant pixels
    x[:, 1, 1] = -40 - 3.0 * t[:, 0, 0]  # a carbon source getting worse: negative values are data
    gaps = rng.random(shape) < 0.03
    x[gaps] = -9999.0
    path = folder / "series.tif"
    with rasterio.open(path, "w", driver="GTiff", width=shape[2], height=shape[1], count=shape[0],
                       dtype="float32", nodata=-9999, crs="EPSG:4326",
                       transform=from_origin(100, 40, 0.1, 0.1)) as ds:
        ds.write(x.astype("float32"))
        for i, y in enumerate(YEARS, start=1):
            ds.set_band_description(i, str(y))
        ds.update_tags(UNITS="g C m-2 yr-1")
    x = np.where(x == -9999.0, np.nan, x.astype("float32").astype(float))
    return {"path": str(path), "x": x}


def read(path):
    with rasterio.open(path) as ds:
        return ds.read(1).astype(float), ds.tags(), ds.nodata


def nine_class(z, slope):
    if np.isnan(z) or np.isnan(slope):
        return None
    if slope == 0:
        return 0
    level = 4 if abs(z) > 2.58 else 3 if abs(z) > 1.96 else 2 if abs(z) > 1.64 else 1
    return int(np.sign(slope)) * level


@pytest.mark.parametrize("test", [0, 1, 2, 3, 4])
def test_sen_mk_equals_pymannkendall(qgis_process, series, tmp_path, test):
    out = {k: tmp_path / f"{k}.tif" for k in ("slope", "z", "p", "cls", "tau")}
    qgis_process.alg("trend_sen_mk", {"INPUT": series["path"], "TEST": test, "MIN_VALID": 20,
                                      "OUTPUT_SLOPE": out["slope"], "OUTPUT_Z": out["z"], "OUTPUT_P": out["p"],
                                      "OUTPUT_CLASS": out["cls"], "OUTPUT_TAU": out["tau"],
                                      "OUTPUT_CLASS_AREA": tmp_path / "areas.csv"})
    slope, tags, _ = read(out["slope"])
    z, p, tau = read(out["z"])[0], read(out["p"])[0], read(out["tau"])[0]
    cls, _, nodata = read(out["cls"])
    assert tags["UNITS"] == "g C m-2 yr-1 per year"
    x = series["x"]
    compared, rounding_ties = 0, 0
    for r in range(x.shape[1]):
        for c in range(x.shape[2]):
            v = x[:, r, c]
            n = np.sum(~np.isnan(v))
            if n < 20:
                assert np.isnan(slope[r, c]) and cls[r, c] == nodata
                continue
            if test != 0 and n < len(v):
                continue  # variants on gappy series: detrending on real years (documented), not compared here
            ref = PMK[test](v)
            assert slope[r, c] == pytest.approx(np.float32(ref.slope), rel=1e-6, abs=1e-6)
            if test == 4 and np.ptp(np.diff(v)) == 0 and v[1] != v[0]:
                # a perfectly straight line: pymannkendall's trend-free pre-whitening reports S = 0, p = 1;
                # the toolbox (documented) tests the trend itself
                assert p[r, c] < 1e-6
                continue
            if np.isnan(ref.p):  # pymannkendall's issue 29: the tool falls back to the original test
                ref = mk.original_test(v)
            if test in (3, 4) and abs(z[r, c] - ref.z) > 1e-5:
                # whitened values that are equal up to rounding (documented): S may differ by 1 or 2
                rounding_ties += 1
                continue
            assert z[r, c] == pytest.approx(np.float32(ref.z), rel=1e-6, abs=1e-6)
            assert p[r, c] == pytest.approx(np.float32(ref.p), rel=1e-6, abs=1e-7)
            assert tau[r, c] == pytest.approx(np.float32(ref.Tau), rel=1e-6, abs=1e-7)
            assert cls[r, c] == nine_class(float(np.float32(ref.z)), float(np.float32(ref.slope)))
            compared += 1
    assert rounding_ties <= 0.02 * compared
    assert compared > 100
    rows = list(csv.DictReader(open(tmp_path / "areas.csv")))
    assert [int(r["class"]) for r in rows] == list(range(-4, 5))
    assert sum(float(r["share_pct"]) for r in rows) == pytest.approx(100.0)
    assert open(str(out["cls"]).replace(".tif", ".qml")).read().count("<paletteEntry") == 9


def test_five_classes_at_alpha(qgis_process, series, tmp_path):
    qgis_process.alg("trend_sen_mk", {"INPUT": series["path"], "CLASS_SCHEME": 1, "ALPHA": 0.1,
                                      "OUTPUT_SLOPE": tmp_path / "s.tif", "OUTPUT_Z": tmp_path / "z.tif",
                                      "OUTPUT_P": tmp_path / "p.tif", "OUTPUT_CLASS": tmp_path / "c.tif"})
    cls, p, slope = read(tmp_path / "c.tif")[0], read(tmp_path / "p.tif")[0], read(tmp_path / "s.tif")[0]
    ok = ~np.isnan(p)
    expected = np.where(slope == 0, 0, np.sign(slope) * np.where(p < 0.1, 2, 1))
    np.testing.assert_array_equal(cls[ok], expected[ok])
    assert "Significant increase (p &lt; 0.1)" in open(tmp_path / "c.qml").read()


def test_ols_equals_scipy(qgis_process, series, tmp_path):
    qgis_process.alg("trend_ols", {"INPUT": series["path"], "MIN_VALID": 20, "OUTPUT_SLOPE": tmp_path / "s.tif",
                                   "OUTPUT_P": tmp_path / "p.tif", "OUTPUT_CLASS": tmp_path / "c.tif",
                                   "OUTPUT_R2": tmp_path / "r2.tif"})
    slope, p, r2 = (read(tmp_path / f"{k}.tif")[0] for k in ("s", "p", "r2"))
    cls = read(tmp_path / "c.tif")[0]
    x, years = series["x"], np.array(YEARS, float)
    for r in range(x.shape[1]):
        for c in range(x.shape[2]):
            v = x[:, r, c]
            ok = ~np.isnan(v)
            if ok.sum() < 20:
                assert np.isnan(slope[r, c])
                continue
            if np.ptp(v[ok]) == 0:
                assert slope[r, c] == 0 and p[r, c] == 1 and cls[r, c] == 0
                continue
            ref = stats.linregress(years[ok], v[ok])
            assert slope[r, c] == pytest.approx(np.float32(ref.slope), rel=1e-5, abs=1e-5)
            assert p[r, c] == pytest.approx(np.float32(ref.pvalue), rel=1e-5, abs=1e-7)
            assert r2[r, c] == pytest.approx(np.float32(ref.rvalue**2), rel=1e-5, abs=1e-7)
            level = 3 if ref.pvalue < 0.01 else 2 if ref.pvalue < 0.05 else 1
            assert cls[r, c] == np.sign(ref.slope) * level


def test_sample_data_planted_trends(qgis_process, sample_data, tmp_path):
    qgis_process.alg("modis_npp", {"INPUT": sample_data / "npp_modis_stack.tif", "OUTPUT": tmp_path / "npp.tif"})
    qgis_process.alg("trend_sen_mk", {"INPUT": tmp_path / "npp.tif", "OUTPUT_SLOPE": tmp_path / "s.tif",
                                      "OUTPUT_Z": tmp_path / "z.tif", "OUTPUT_P": tmp_path / "p.tif",
                                      "OUTPUT_CLASS": tmp_path / "c.tif"})
    qgis_process.alg("trend_ols", {"INPUT": tmp_path / "npp.tif", "OUTPUT_SLOPE": tmp_path / "os.tif",
                                   "OUTPUT_P": tmp_path / "op.tif", "OUTPUT_CLASS": tmp_path / "oc.tif"})
    cls, ols_cls = read(tmp_path / "c.tif")[0], read(tmp_path / "oc.tif")[0]
    for name in ("greening", "degradation", "noisy"):
        expected = planted(sample_data, name)["expected"]
        box = planted_box(sample_data, name)
        if "trend_class_seed000" in expected:
            assert (cls[box] == expected["trend_class_seed000"]).all(), name
        if "ols_class_seed003" in expected:
            assert (ols_cls[box] == expected["ols_class_seed003"]).all(), name
    assert (np.abs(cls[planted_box(sample_data, "noisy")]) <= 1).all()
