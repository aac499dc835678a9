"""The carbon-balance algorithms through the real ``qgis_process``, on rasters made here (never seen by the
code's own tests), against formula-level references written from METHODS.md; and their refusals of bad input."""

from __future__ import annotations

import calendar
import csv
import os
from functools import partial

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from support import ellipsoid_row_areas, write_raster

pytestmark = pytest.mark.qgis

T0 = from_origin(80.0, 50.0, 0.25, 0.25)  # geographic, 40 N .. 50 N: area weighting matters
YEARS = list(range(2001, 2006))
write = partial(write_raster, transform=T0)


def read(path):
    with rasterio.open(path) as ds:
        return ds.read().astype(float), ds.descriptions, ds.tags(), ds.nodata


@pytest.fixture(scope="module")
def climate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("climate")
    rng = np.random.default_rng(42)
    shape = (len(YEARS) * 12, 23, 31)
    month = np.arange(shape[0]) % 12
    t = (5 + 15 * np.sin((month - 3) / 12 * 2 * np.pi))[:, None, None] + rng.normal(0, 3, shape)
    p = rng.gamma(2.0, 25.0, shape)
    p[rng.random(shape) < 0.05] = 0.0  # dry months
    t[:, 0, 0] = -9999  # nodata pixel
    months = [f"{y}-{m:02d}" for y in YEARS for m in range(1, 13)]
    return {
        "t": t,
        "p": p,
        "folder": folder,
        "t_path": write(folder / "t.tif", t, nodata=-9999, descriptions=months, dtype="float32"),
        "p_path": write(folder / "p.tif", p, nodata=-9999, descriptions=months, dtype="float32"),
        "soil": rng.uniform(1, 15, shape[1:]),
    }


def pei_reference(t, p):
    t = np.where(t == -9999, np.nan, t.astype("float32").astype(float))
    p = p.astype("float32").astype(float)
    monthly = 0.22 * (np.exp(0.0912 * t) + np.log(0.3145 * p + 1)) * 30 * 0.465
    return monthly.reshape(-1, 12, *t.shape[1:]).sum(axis=1), monthly


def test_rh_pei_monthly_matches_formula(qgis_process, climate, tmp_path):
    out, out_m = tmp_path / "rh.tif", tmp_path / "rh_monthly.tif"
    res = qgis_process.alg(
        "rh_pei",
        {"TEMPERATURE": climate["t_path"], "PRECIPITATION": climate["p_path"], "OUTPUT": out, "OUTPUT_MONTHLY": out_m},
    )
    assert res["results"]["OUTPUT"] == str(out)
    annual, descriptions, tags, _ = read(out)
    ref, ref_monthly = pei_reference(climate["t"], climate["p"])
    np.testing.assert_allclose(annual, ref.astype("float32"), rtol=2e-7, equal_nan=True)
    assert np.isnan(annual[:, 0, 0]).all() and np.isfinite(annual[:, 1:, 1:]).all()
    assert descriptions == tuple(str(y) for y in YEARS)
    assert tags["UNITS"] == "g C m-2 yr-1" and tags["ALGORITHM"] == "carbonsink:rh_pei"
    np.testing.assert_allclose(read(out_m)[0], ref_monthly.astype("float32"), rtol=2e-7, equal_nan=True)


def test_rh_pei_annual_input_mode_warns(qgis_process, climate, tmp_path):
    t = np.where(climate["t"] == -9999, np.nan, climate["t"]).reshape(len(YEARS), 12, 23, 31).mean(axis=1)
    p = climate["p"].reshape(len(YEARS), 12, 23, 31).sum(axis=1)
    tp = write(tmp_path / "t_annual.tif", t, dtype="float32")
    pp = write(tmp_path / "p_annual.tif", p, dtype="float32")
    proc = qgis_process(
        "run",
        "carbonsink:rh_pei",
        "--",
        f"TEMPERATURE={tp}",
        f"PRECIPITATION={pp}",
        "TIME_STEP=1",
        "FIRST_YEAR=2001",
        f"OUTPUT={tmp_path / 'rh_a.tif'}",
    )
    assert "8x lower" in proc.stdout + proc.stderr
    ref = 0.22 * (np.exp(0.0912 * t.astype("float32")) + np.log(0.3145 * p.astype("float32") + 1)) * 30 * 0.465
    np.testing.assert_allclose(read(tmp_path / "rh_a.tif")[0], ref.astype("float32"), rtol=2e-7, equal_nan=True)


def gsmsr_reference(t, p_mm, soil, years, conversion):
    r0, m, alpha, beta, p0, k = 0.588, 0.118, 1.83, -0.006, 2.972, 5.657
    t = np.where(t == -9999, np.nan, t.astype("float32").astype(float))
    p = p_mm.astype("float32").astype(float) / 10.0
    daily = (r0 + m * soil) * np.exp(np.log(alpha * np.exp(beta * t)) * t / 10) * (p + p0) / (p + k)
    days = np.array([calendar.monthrange(y, mo)[1] for y in years for mo in range(1, 13)], float)
    monthly = daily * days[:, None, None]
    rs_annual = monthly.reshape(-1, 12, *t.shape[1:]).sum(axis=1)
    if conversion == 0:
        return np.exp(1.22 + 0.73 * np.log(rs_annual)), rs_annual
    rh_monthly = -0.0009 * monthly**2 + 0.6011 * monthly + 4.8874
    return rh_monthly.reshape(-1, 12, *t.shape[1:]).sum(axis=1), rs_annual


@pytest.mark.parametrize("conversion", [0, 1])
def test_rh_gsmsr_matches_formula(qgis_process, climate, tmp_path, conversion):
    soil = write(tmp_path / "soil.tif", climate["soil"], dtype="float32")
    out, out_rs = tmp_path / "rh.tif", tmp_path / "rs.tif"
    qgis_process.alg(
        "rh_gsmsr",
        {
            "TEMPERATURE": climate["t_path"],
            "PRECIPITATION": climate["p_path"],
            "SOIL_CARBON": soil,
            "CONVERSION": conversion,
            "OUTPUT": out,
            "OUTPUT_RS": out_rs,
        },
    )
    ref_rh, ref_rs = gsmsr_reference(climate["t"], climate["p"], climate["soil"].astype("float32"), YEARS, conversion)
    np.testing.assert_allclose(read(out)[0], ref_rh.astype("float32"), rtol=3e-7, equal_nan=True)
    np.testing.assert_allclose(read(out_rs)[0], ref_rs.astype("float32"), rtol=3e-7, equal_nan=True)


@pytest.fixture(scope="module")
def carbon(tmp_path_factory):
    folder = tmp_path_factory.mktemp("carbon")
    rng = np.random.default_rng(7)
    shape = (len(YEARS), 23, 31)
    npp = rng.uniform(0, 900, shape).astype("float32")
    rh = rng.uniform(100, 500, shape).astype("float32")
    npp[:, 3, 4] = np.nan  # NPP missing
    rh[1, 5, 6] = -1  # declared nodata in RH
    npp_files = [write(folder / f"npp_{y}.tif", npp[i]) for i, y in enumerate(YEARS)]
    rh_path = write(folder / "rh.tif", rh, nodata=-1, descriptions=[str(y) for y in YEARS])
    ref = npp.astype(float) - np.where(rh == -1, np.nan, rh.astype(float))
    return {"npp": npp_files, "rh": rh_path, "nep": ref, "folder": folder}


def test_nep_maps_classes_mean_and_table(qgis_process, carbon, tmp_path):
    out = {k: tmp_path / f"{k}.tif" for k in ("nep", "classes", "mean")}
    table = tmp_path / "table.csv"
    qgis_process.alg(
        "nep",
        {
            "NPP": carbon["npp"],
            "RH": carbon["rh"],
            "CLASS_PRESET": 1,
            "OUTPUT": out["nep"],
            "OUTPUT_CLASSES": out["classes"],
            "OUTPUT_MEAN": out["mean"],
            "OUTPUT_TABLE": table,
            "MIN_VALID": 4,
        },
    )
    ref = carbon["nep"]
    values, descriptions, _, _ = read(out["nep"])
    np.testing.assert_allclose(values, ref.astype("float32"), rtol=1e-6, atol=1e-4, equal_nan=True)
    assert descriptions == tuple(str(y) for y in YEARS)
    assert (values < 0).any()  # carbon sources kept, not dropped
    classes, _, _, nodata = read(out["classes"])
    expected = np.select([ref < 0, ref < 200, ref < 400], [1, 2, 3], 4)
    expected = np.where(np.isnan(ref), nodata, expected)
    np.testing.assert_array_equal(classes, expected)
    qml = open(str(out["classes"]).replace(".tif", ".qml")).read()
    assert "Medium carbon sink" in qml and 'type="paletted"' in qml
    n_valid = np.sum(~np.isnan(ref), axis=0)
    mean_ref = np.where(n_valid >= 4, np.nansum(ref, axis=0) / np.maximum(n_valid, 1), np.nan)
    np.testing.assert_allclose(read(out["mean"])[0][0], mean_ref, rtol=1e-5, atol=1e-3, equal_nan=True)
    area = ellipsoid_row_areas(T0, ref.shape[1])[:, None] * np.ones(ref.shape[2])
    rows = list(csv.DictReader(open(table)))
    assert [r["year"] for r in rows] == [str(y) for y in YEARS]
    assert list(rows[0]) == [
        "year",
        "mean_nep",
        "sink_area_km2",
        "sink_pct",
        "source_area_km2",
        "source_pct",
        "total_tgc",
    ]
    for i, row in enumerate(rows):
        v = ref[i]
        ok = ~np.isnan(v)
        valid_area = area[ok].sum()
        assert float(row["mean_nep"]) == pytest.approx((v[ok] * area[ok]).sum() / valid_area, rel=1e-6)
        assert float(row["sink_area_km2"]) == pytest.approx(area[ok & (v > 0)].sum() / 1e6, rel=1e-9)
        assert float(row["source_pct"]) == pytest.approx(100 * area[ok & (v < 0)].sum() / valid_area, rel=1e-9)
        assert float(row["total_tgc"]) == pytest.approx((v[ok] * area[ok]).sum() * 1e-12, rel=1e-6)


def test_nep_custom_breaks_and_sign_default(qgis_process, carbon, tmp_path):
    qgis_process.alg(
        "nep",
        {
            "NPP": carbon["npp"],
            "RH": carbon["rh"],
            "OUTPUT": tmp_path / "n.tif",
            "OUTPUT_CLASSES": tmp_path / "sign.tif",
        },
    )
    sign = read(tmp_path / "sign.tif")[0]
    ref = carbon["nep"]
    np.testing.assert_array_equal(sign[~np.isnan(ref)], np.where(ref[~np.isnan(ref)] < 0, 1, 2))
    qgis_process.alg(
        "nep",
        {
            "NPP": carbon["npp"],
            "RH": carbon["rh"],
            "OUTPUT": tmp_path / "n2.tif",
            "CLASS_BREAKS": "-100,0,100",
            "OUTPUT_CLASSES": tmp_path / "custom.tif",
        },
    )
    custom = read(tmp_path / "custom.tif")[0]
    ok = ~np.isnan(ref)
    np.testing.assert_array_equal(custom[ok], np.searchsorted([-100, 0, 100], ref[ok], side="right") + 1)


def test_modis_npp_decodes_and_reports_codes(qgis_process, tmp_path):
    rng = np.random.default_rng(3)
    dn = rng.integers(-100, 15000, (4, 12, 17)).astype("int16")
    dn[:, 0, :3] = [32765, 32766, 32762]
    dn[:2, 1, 1] = 32766
    dn[2:, 1, 1] = 32765  # tie: the lower code wins
    dn[0, 2, 2] = 32767
    files = [
        write(tmp_path / f"MOD17A3HGF.A{y}001.h25v05.061.tif", dn[i], nodata=32767)
        for i, y in enumerate(range(2010, 2014))
    ]
    out, codes = tmp_path / "npp.tif", tmp_path / "codes.tif"
    qgis_process.alg("modis_npp", {"INPUT": files, "OUTPUT": out, "OUTPUT_CODES": codes})
    npp, descriptions, tags, _ = read(out)
    ref = np.where(dn > 32700, np.nan, dn * 0.1)
    np.testing.assert_allclose(npp, ref.astype("float32"), equal_nan=True)
    assert descriptions == ("2010", "2011", "2012", "2013") and tags["UNITS"] == "g C m-2 yr-1"
    c = read(codes)[0][0]
    assert (c[0, :3] == [32765, 32766, 32762]).all() and c[1, 1] == 32765 and c[2, 2] == 0 and c[5, 5] == 0
    assert os.path.exists(tmp_path / "codes.qml")


# ---------------------------------------------------------------------------------------------- bad input
def _fails(qgis_process, alg, params, *words):
    proc = qgis_process.alg(alg, params, check=False)
    assert not isinstance(proc, dict), f"{alg} accepted bad input"
    text = proc.stdout + proc.stderr
    for w in words:
        assert w in text, f"'{w}' not in:\n{text}"
    return text


def test_misaligned_rh_is_refused_and_no_output(qgis_process, carbon, tmp_path):
    shifted = write(
        tmp_path / "rh_shifted.tif",
        np.ones((len(YEARS), 23, 31), "float32"),
        transform=from_origin(80.1, 50.0, 0.25, 0.25),
        descriptions=[str(y) for y in YEARS],
    )
    out = tmp_path / "nep.tif"
    _fails(qgis_process, "nep", {"NPP": carbon["npp"], "RH": shifted, "OUTPUT": out}, "rh_shifted.tif", "not aligned")
    # QGIS itself caches statistics of the layers it opens in .aux.xml files; nothing else may appear
    assert [f for f in os.listdir(tmp_path) if not f.endswith(".aux.xml")] == ["rh_shifted.tif"]


def test_bad_inputs_are_refused_with_a_fix(qgis_process, climate, carbon, tmp_path):
    kelvin = write(tmp_path / "t_kelvin.tif", climate["t"] + 273.15, dtype="float32")
    _fails(
        qgis_process,
        "rh_pei",
        {"TEMPERATURE": kelvin, "PRECIPITATION": climate["p_path"], "FIRST_YEAR": 2001, "OUTPUT": tmp_path / "x.tif"},
        "Kelvin",
    )
    negative = write(tmp_path / "p_neg.tif", climate["p"] - 50, dtype="float32")
    _fails(
        qgis_process,
        "rh_pei",
        {"TEMPERATURE": climate["t_path"], "PRECIPITATION": negative, "OUTPUT": tmp_path / "x.tif"},
        "PRECIPITATION",
        "negative",
    )
    short = write(tmp_path / "p_short.tif", climate["p"][:-1], dtype="float32")
    _fails(
        qgis_process,
        "rh_pei",
        {"TEMPERATURE": climate["t_path"], "PRECIPITATION": short, "OUTPUT": tmp_path / "x.tif"},
        "PRECIPITATION has 59 bands but TEMPERATURE has 60",
    )
    odd = write(tmp_path / "t_odd.tif", climate["t"][:-1], dtype="float32")
    _fails(
        qgis_process,
        "rh_pei",
        {"TEMPERATURE": odd, "PRECIPITATION": short, "FIRST_YEAR": 2001, "OUTPUT": tmp_path / "x.tif"},
        "not a multiple of 12",
    )
    raw = write(tmp_path / "npp_raw.tif", np.full((len(YEARS), 23, 31), 4500, "int16"))
    _fails(
        qgis_process,
        "nep",
        {"NPP": raw, "RH": carbon["rh"], "FIRST_YEAR": 2001, "OUTPUT": tmp_path / "x.tif"},
        "raw MODIS",
        "modis_npp",
    )
    unnamed = write(tmp_path / "stack.tif", np.ones((len(YEARS), 23, 31), "float32"))
    _fails(qgis_process, "nep", {"NPP": unnamed, "RH": unnamed, "OUTPUT": tmp_path / "x.tif"}, "FIRST_YEAR")
    empty = write(tmp_path / "empty.tif", np.full((len(YEARS), 23, 31), -1, "float32"), nodata=-1)
    _fails(
        qgis_process,
        "nep",
        {"NPP": empty, "RH": carbon["rh"], "FIRST_YEAR": 2001, "OUTPUT": tmp_path / "x.tif"},
        "nodata",
    )
    decoded = write(tmp_path / "decoded.tif", np.full((2, 23, 31), 123.4, "float32"))
    _fails(
        qgis_process,
        "modis_npp",
        {"INPUT": decoded, "FIRST_YEAR": 2001, "OUTPUT": tmp_path / "x.tif"},
        "already decoded",
    )
    mixed = [carbon["npp"][0], carbon["rh"]]
    _fails(
        qgis_process, "nep", {"NPP": mixed, "RH": carbon["rh"], "OUTPUT": tmp_path / "x.tif"}, "ONE multiband raster"
    )
    assert not os.path.exists(tmp_path / "x.tif")
    assert not [f for f in os.listdir(tmp_path) if ".part" in f]


# ---------------------------------------------------------------------------------------------- sample data
def test_qgis_process_lists_the_algorithms(qgis_process):
    listing = qgis_process("list").stdout
    for alg in ("modis_npp", "rh_pei", "rh_gsmsr", "nep"):
        assert f"carbonsink:{alg}" in listing
    help_text = qgis_process("help", "carbonsink:rh_pei").stdout
    assert "0.0912" in help_text and "g C m-2 month-1" in help_text


def test_carbon_balance_chain_on_the_sample_data(qgis_process, sample_data, tmp_path):
    from support import planted, planted_box

    files = sorted(str(p) for p in (sample_data / "npp_modis").glob("MOD17A3HGF.A*.tif"))
    qgis_process.alg("modis_npp", {"INPUT": files, "OUTPUT": tmp_path / "npp.tif",
                                   "OUTPUT_CODES": tmp_path / "codes.tif"})
    qgis_process.alg("rh_pei", {"TEMPERATURE": sample_data / "temperature_monthly.tif",
                                "PRECIPITATION": sample_data / "precipitation_monthly.tif",
                                "OUTPUT": tmp_path / "rh.tif"})
    qgis_process.alg("rh_gsmsr", {"TEMPERATURE": sample_data / "temperature_monthly.tif",
                                  "PRECIPITATION": sample_data / "precipitation_monthly.tif",
                                  "SOIL_CARBON": sample_data / "soil_carbon.tif", "OUTPUT": tmp_path / "rh_g.tif"})
    qgis_process.alg("nep", {"NPP": tmp_path / "npp.tif", "RH": tmp_path / "rh.tif", "CLASS_PRESET": 1,
                             "OUTPUT": tmp_path / "nep.tif", "OUTPUT_CLASSES": tmp_path / "classes.tif",
                             "OUTPUT_TABLE": tmp_path / "table.csv"})
    npp, descriptions, _, _ = read(tmp_path / "npp.tif")
    assert descriptions[0] == "2000" and descriptions[-1] == "2023"
    codes = read(tmp_path / "codes.tif")[0][0]
    assert {32762, 32765, 32766} <= set(np.unique(codes).astype(int))
    nep = read(tmp_path / "nep.tif")[0]
    classes = read(tmp_path / "classes.tif")[0]
    desert = planted_box(sample_data, "desert_edge")
    assert (nep[(slice(None), *desert)] < 0).all()  # the planted carbon source
    assert (classes[(slice(None), *desert)] == 1).all()
    greening = planted_box(sample_data, "greening")
    assert (nep[(slice(None), *greening)] > 0).mean() > 0.99
    assert planted(sample_data, "desert_edge")["expected"]["nep_sign"] == -1
    rows = list(csv.DictReader(open(tmp_path / "table.csv")))
    assert len(rows) == 24 and all(0 < float(r["source_pct"]) < 50 for r in rows)
    rh_g = read(tmp_path / "rh_g.tif")[0]
    assert np.nanmin(rh_g) > 0 and np.nanmax(rh_g) < 2000
