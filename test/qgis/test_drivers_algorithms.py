"""partial_correlation and attribution through the real qgis_process, on rasters made here (a target built from
three factors + noise, with gaps, constant, collinear and all-nodata pixels; one factor as a list of files, two as
multiband rasters), against per-pixel references: pingouin.partial_corr, scipy.stats.pearsonr / spearmanr,
numpy.linalg.lstsq + numpy.polyfit, and the seed 002 Table 2 rules written here. Plus the sample data's
climate-driven area, and refusals of bad input."""

from __future__ import annotations

import csv
import os
import warnings
from functools import partial

import numpy as np
import pandas as pd
import pingouin
import pytest
import rasterio
from rasterio.transform import from_origin
from scipy import stats
from support import planted, planted_box, write_raster

pytestmark = pytest.mark.qgis

YEARS = list(range(2001, 2023))  # 22 years
ROWS, COLS = 14, 17
# EPSG:3035 (Lambert azimuthal equal-area), 1 km pixels: every pixel is exactly 1 km2
TRANSFORM = from_origin(4_000_000, 3_000_000, 1000, 1000)
CRS = "EPSG:3035"
NODATA = -9999.0
write = partial(write_raster, nodata=NODATA, transform=TRANSFORM, crs=CRS, dtype="float32")
NAMES = ["Temperature", "Precipitation", "Radiation"]
MIN_VALID = 15

# planted degenerate pixels (row, col)
CONST_TARGET = (0, 0)  # the target is constant
CONST_TEMP = (0, 1)  # temperature is constant
COLLINEAR = (0, 2)  # radiation = 2 temperature + precipitation, exactly (integers)
EXACT_TARGET = (0, 3)  # target = 3 temperature - precipitation + 1000, exactly (integers)
EMPTY = (0, 4)  # the target is nodata in every year
FEW = (1, 0)  # the target is nodata in 8 years: 14 complete years < MIN_VALID


def read(path):
    with rasterio.open(path) as ds:
        data = ds.read()
        if data.dtype.kind == "f":
            data = data.astype(float)
            if ds.nodata is not None and not np.isnan(ds.nodata):
                data[data == ds.nodata] = np.nan
        return data, ds.descriptions, ds.tags(), ds.nodata


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("drivers")
    rng = np.random.default_rng(20240605)
    shape = (len(YEARS), ROWS, COLS)
    t = np.array(YEARS, float)[:, None, None] - YEARS[0]
    temp = 6 + 0.04 * t + rng.normal(0, 0.6, shape)  # deg C, warming
    prec = 300 + 2.0 * t + rng.gamma(4.0, 20.0, shape)  # mm
    rad = 5000 + rng.normal(0, 150, shape)  # MJ m-2
    b = [rng.uniform(-25, 25, shape[1:]), rng.uniform(-0.6, 0.6, shape[1:]), rng.uniform(-0.08, 0.08, shape[1:])]
    human = rng.uniform(-4, 4, shape[1:])  # a non-climate trend, g C m-2 yr-1 per year
    noise = rng.normal(0, 1, shape) * rng.uniform(5, 40, shape[1:])
    target = 250 + b[0] * temp + b[1] * prec + b[2] * rad + human * t + noise
    prec[:, 2, :] = np.round(prec[:, 2, :] / 25) * 25  # ties (Spearman)
    target[:, 3, :] = np.round(target[:, 3, :] / 10) * 10  # ties (Spearman)
    # degenerate pixels
    target[(slice(None), *CONST_TARGET)] = 250.0
    temp[(slice(None), *CONST_TEMP)] = 10.0
    for px in (COLLINEAR, EXACT_TARGET):
        temp[(slice(None), *px)] = rng.integers(4, 16, len(YEARS))
        prec[(slice(None), *px)] = rng.integers(200, 400, len(YEARS))
    col, ex = (slice(None), *COLLINEAR), (slice(None), *EXACT_TARGET)
    rad[col] = 2 * temp[col] + prec[col]
    target[ex] = 3 * temp[ex] - prec[ex] + 1000
    target[(slice(None), *EMPTY)] = NODATA
    target[(np.arange(8), *FEW)] = NODATA
    # gaps: a few missing years in the target and in the temperature files
    target[(rng.random(shape) < 0.03) & (np.arange(ROWS)[:, None] > 0)] = NODATA
    temp[(rng.random(shape) < 0.02) & (np.arange(ROWS)[:, None] > 1)] = NODATA
    years = [str(y) for y in YEARS]
    paths = {
        "target": write(folder / "target.tif", target, years, units="g C m-2 yr-1"),
        # a list of single-band files, the year in the file name
        "temp": [write(folder / f"temp_{y}.tif", temp[i], units="deg C") for i, y in enumerate(YEARS)],
        # multiband with band descriptions
        "prec": write(folder / "precipitation.tif", prec, years, units="mm"),
        # multiband without band descriptions: takes the target's years
        "rad": write(folder / "rad.tif", rad),
        "folder": folder,
    }
    arrays = {
        "target": read(paths["target"])[0],
        "temp": np.stack([read(p)[0][0] for p in paths["temp"]]),
        "prec": read(paths["prec"])[0],
        "rad": read(paths["rad"])[0],
    }
    return {"paths": paths, **arrays}


def complete(data, factors, r, c):
    """(target, [factors]) of pixel (r, c) over its complete years, and the years. ``factors``: keys of data."""
    y = data["target"][:, r, c]
    fs = [data[f][:, r, c] for f in factors]
    ok = ~np.isnan(y)
    for f in fs:
        ok &= ~np.isnan(f)
    return y[ok], [f[ok] for f in fs], np.array(YEARS, float)[ok]


def reference_correlation(y, fs, method):
    """(r, p) per factor: pingouin.partial_corr controlling for the others; scipy for a single factor."""
    if len(fs) == 1:
        res = (stats.pearsonr if method == "pearson" else stats.spearmanr)(y, fs[0])
        return [float(res[0])], [float(res[1])]
    frame = pd.DataFrame({"y": y, **{f"f{j}": f for j, f in enumerate(fs)}})
    rs, ps = [], []
    for j in range(len(fs)):
        covar = [f"f{i}" for i in range(len(fs)) if i != j]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = pingouin.partial_corr(data=frame, x="y", y=f"f{j}", covar=covar, method=method)
        rs.append(float(out["r"].iloc[0]))
        ps.append(float(out["p_val"].iloc[0]))
    return rs, ps


def class_of(r, p, alpha):
    if r == 0:
        return 0
    if r < 0:
        return 1 if p < alpha else 2
    return 4 if p < alpha else 3


def dominant_of(rs, ps, alpha, significant_only):
    """Plain loop: the factor (1..k) with the largest |r|, first on ties; 0 none."""
    best, best_abs = 0, 0.0
    for j, (r, p) in enumerate(zip(rs, ps), start=1):
        if significant_only and not p < alpha:
            continue
        if abs(r) > best_abs:
            best, best_abs = j, abs(r)
    return best


def degenerate(data, factors, r, c, min_valid, singular=()):
    """True where the documented rules give nodata: fewer than max(min_valid, k + 2) complete years, a constant
    target or factor, or a pixel planted singular for this run (``singular``)."""
    y, fs, _ = complete(data, factors, r, c)
    if len(y) < max(min_valid, len(factors) + 2) or np.ptp(y) == 0 or any(np.ptp(f) == 0 for f in fs):
        return True
    return (r, c) in singular


def qml(path):
    return open(os.path.splitext(str(path))[0] + ".qml", encoding="utf-8").read()


def read_csv(path):
    return list(csv.DictReader(open(path, encoding="utf-8")))


# ------------------------------------------------------------------------------------------ partial_correlation
def check_correlation_outputs(data, out, factors, method, min_valid, alpha, significant_only, names, singular):
    k = len(factors)
    r_map, r_desc, r_tags, _ = read(out["r"])
    p_map, p_desc, _, _ = read(out["p"])
    cls, c_desc, _, cls_nodata = read(out["cls"])
    dom, _, _, dom_nodata = read(out["dom"])
    dom = dom[0]
    assert r_desc == tuple(names) and p_desc == tuple(names) and c_desc == tuple(names)
    assert r_tags["ALGORITHM"] == "carbonsink:partial_correlation"
    compared = 0
    max_dr = max_dp = 0.0
    for r in range(ROWS):
        for c in range(COLS):
            if degenerate(data, factors, r, c, min_valid, singular):
                assert np.isnan(r_map[:, r, c]).all() and np.isnan(p_map[:, r, c]).all(), (r, c)
                assert (cls[:, r, c] == cls_nodata).all() and dom[r, c] == dom_nodata, (r, c)
                continue
            y, fs, _ = complete(data, factors, r, c)
            rs, ps = reference_correlation(y, fs, method)
            np.testing.assert_allclose(r_map[:, r, c], rs, rtol=0, atol=1e-6, err_msg=str((r, c)))
            np.testing.assert_allclose(p_map[:, r, c], ps, rtol=1e-5, atol=1e-9, err_msg=str((r, c)))
            max_dr = max(max_dr, float(np.max(np.abs(r_map[:, r, c] - rs))))
            max_dp = max(max_dp, float(np.max(np.abs(p_map[:, r, c] - ps))))
            assert list(cls[:, r, c]) == [class_of(a, b, alpha) for a, b in zip(rs, ps)], (r, c)
            top = sorted((abs(v) for v in rs), reverse=True)
            if k == 1 or top[0] - top[1] > 1e-6:  # not a numerical tie
                assert dom[r, c] == dominant_of(rs, ps, alpha, significant_only), (r, c)
            compared += 1
    print(f"{method} k={k}: {compared} pixels, max |dr| {max_dr:.2e}, max |dp| {max_dp:.2e}")
    return compared, dom


def test_partial_pearson_three_factors(qgis_process, data, tmp_path):
    out = {key: tmp_path / f"{key}.tif" for key in ("r", "p", "cls", "dom")}
    paths = data["paths"]
    res = qgis_process.alg(
        "partial_correlation",
        {
            "INPUT": paths["target"],
            "FACTOR_1": paths["temp"],
            "FACTOR_2": paths["prec"],
            "FACTOR_3": paths["rad"],
            "FACTOR_NAMES": ", ".join(NAMES),
            "MIN_VALID": MIN_VALID,
            "OUTPUT_R": out["r"],
            "OUTPUT_P": out["p"],
            "OUTPUT_CLASS": out["cls"],
            "OUTPUT_DOMINANT": out["dom"],
            "OUTPUT_DOMINANT_AREA": tmp_path / "dom.csv",
        },
    )
    assert res["results"]["OUTPUT_R"] == str(out["r"])
    # singular: radiation = 2 temperature + precipitation; the target an exact combination of the factors
    compared, dom = check_correlation_outputs(
        data, out, ["temp", "prec", "rad"], "pearson", MIN_VALID, 0.05, False, NAMES, singular=(COLLINEAR, EXACT_TARGET)
    )
    assert compared > 200
    assert set(np.unique(dom)) >= {1, 2, 3}
    # the legends: factor names in the dominant-factor legend, the four correlation classes
    legend = qml(out["dom"])
    for code, name in enumerate(["None", *NAMES]):
        assert f'value="{code}"' in legend and f'label="{name}"' in legend
    assert qml(out["cls"]).count("<paletteEntry") == 5 and "Significant positive" in qml(out["cls"])
    # dominant-factor areas: 1 km2 pixels
    rows = read_csv(tmp_path / "dom.csv")
    assert [r["label"] for r in rows] == ["None", *NAMES]
    for row in rows:
        assert float(row["area_km2"]) == pytest.approx(np.count_nonzero(dom == int(row["class"])), rel=1e-6)
    assert sum(float(r["share_pct"]) for r in rows) == pytest.approx(100.0)


def test_partial_spearman_two_factors_significant_only(qgis_process, data, tmp_path):
    """Default MIN_VALID (every year), ALPHA 0.1, dominant among significant factors; default factor names from
    the files (the year stripped from the list of files)."""
    out = {key: tmp_path / f"{key}.tif" for key in ("r", "p", "cls", "dom")}
    paths = data["paths"]
    qgis_process.alg(
        "partial_correlation",
        {
            "INPUT": paths["target"],
            "FACTOR_1": paths["temp"],
            "FACTOR_2": paths["prec"],
            "METHOD": 1,
            "ALPHA": 0.1,
            "DOMINANT_SIGNIFICANT_ONLY": "true",
            "OUTPUT_R": out["r"],
            "OUTPUT_P": out["p"],
            "OUTPUT_CLASS": out["cls"],
            "OUTPUT_DOMINANT": out["dom"],
        },
    )
    names = ["temp", "precipitation"]
    # the exact combination of temperature and precipitation is not one of their ranks: valid for Spearman
    compared, dom = check_correlation_outputs(
        data, out, ["temp", "prec"], "spearman", len(YEARS), 0.1, True, names, singular=()
    )
    assert compared > 60  # about a third of the pixels have no gap in the target and temperature
    assert 0 in dom and 1 in dom and 2 in dom  # pixels without any significant factor get 0
    assert 'label="temp"' in qml(out["dom"]) and 'label="precipitation"' in qml(out["dom"])


@pytest.mark.parametrize("method", [0, 1])
def test_single_factor_is_plain_correlation(qgis_process, data, tmp_path, method):
    out = {key: tmp_path / f"{key}.tif" for key in ("r", "p", "cls", "dom")}
    qgis_process.alg(
        "partial_correlation",
        {
            "INPUT": data["paths"]["target"],
            "FACTOR_1": data["paths"]["prec"],
            "FACTOR_NAMES": "Precipitation",
            "METHOD": method,
            "MIN_VALID": MIN_VALID,
            "OUTPUT_R": out["r"],
            "OUTPUT_P": out["p"],
            "OUTPUT_CLASS": out["cls"],
            "OUTPUT_DOMINANT": out["dom"],
        },
    )
    compared, dom = check_correlation_outputs(
        data, out, ["prec"], ["pearson", "spearman"][method], MIN_VALID, 0.05, False, ["Precipitation"], singular=()
    )
    assert compared > 200
    for px in (COLLINEAR, EXACT_TARGET, CONST_TEMP):  # only degenerate when temperature is a factor
        assert np.isfinite(read(out["r"])[0][(0, *px)])


# ------------------------------------------------------------------------------------------ attribution
def table2(obs, climate, residual):
    """Seed 002 Table 2, written from the paper: (class, climate share %)."""
    if obs > 0:
        if climate > 0 and residual > 0:
            return 1, 100 * climate / (climate + residual)
        if climate > 0:
            return 2, 100.0
        return 3, 0.0
    if obs < 0:
        if climate < 0 and residual < 0:
            return 4, 100 * climate / (climate + residual)
        if climate < 0:
            return 5, 100.0
        return 6, 0.0
    return 0, np.nan


def test_attribution_equals_lstsq_and_polyfit(qgis_process, data, tmp_path):
    out = {key: tmp_path / f"{key}.tif" for key in ("contrib", "cls", "share", "coef", "trend")}
    paths = data["paths"]
    qgis_process.alg(
        "attribution",
        {
            "INPUT": paths["target"],
            "FACTOR_1": paths["temp"],
            "FACTOR_2": paths["prec"],
            "FACTOR_3": paths["rad"],
            "FACTOR_NAMES": ",".join(NAMES),
            "MIN_VALID": MIN_VALID,
            "OUTPUT_CONTRIBUTIONS": out["contrib"],
            "OUTPUT_CLASS": out["cls"],
            "OUTPUT_CLIMATE_SHARE": out["share"],
            "OUTPUT_COEFFICIENTS": out["coef"],
            "OUTPUT_FACTOR_TRENDS": out["trend"],
            "OUTPUT_CLASS_AREA": tmp_path / "areas.csv",
        },
    )
    contrib, desc, tags, _ = read(out["contrib"])
    cls, _, _, cls_nodata = read(out["cls"])
    cls = cls[0]
    share = read(out["share"])[0][0]
    coef, coef_desc, coef_tags, _ = read(out["coef"])
    trend = read(out["trend"])[0]
    assert desc == (*NAMES, "climate (sum of the factors)", "residual (human activities and other)", "observed trend")
    assert coef_desc == tuple(NAMES)
    assert tags["UNITS"] == "g C m-2 yr-1 per year"
    assert coef_tags["UNITS"].startswith("g C m-2 yr-1 per deg C, g C m-2 yr-1 per mm")
    compared = 0
    max_rel = 0.0
    classes_seen = set()
    for r in range(ROWS):
        for c in range(COLS):
            y, fs, yrs = complete(data, ["temp", "prec", "rad"], r, c)
            if len(y) < MIN_VALID or (r, c) in (CONST_TEMP, COLLINEAR):
                assert np.isnan(contrib[:, r, c]).all() and cls[r, c] == cls_nodata, (r, c)
                assert np.isnan(share[r, c]) and np.isnan(coef[:, r, c]).all(), (r, c)
                continue
            if (r, c) == CONST_TARGET:  # documented: a constant target has no trend and no contribution
                np.testing.assert_allclose(contrib[:, r, c], 0.0, atol=1e-9)
                assert cls[r, c] == 0 and np.isnan(share[r, c])
                continue
            x = np.column_stack([np.ones(len(y)), *fs])
            b = np.linalg.lstsq(x, y, rcond=None)[0][1:]
            trends = np.array([np.polyfit(yrs, f, 1)[0] for f in fs])
            observed = np.polyfit(yrs, y, 1)[0]
            parts = b * trends
            climate = parts.sum()
            residual = observed - climate
            expected = np.array([*parts, climate, residual, observed])
            scale = np.abs(expected).max()
            np.testing.assert_allclose(contrib[:, r, c], expected, rtol=2e-5, atol=1e-6 * scale, err_msg=str((r, c)))
            np.testing.assert_allclose(coef[:, r, c], b, rtol=2e-5, atol=1e-9, err_msg=str((r, c)))
            np.testing.assert_allclose(trend[:, r, c], trends, rtol=2e-5, atol=1e-9, err_msg=str((r, c)))
            max_rel = max(max_rel, float(np.abs(contrib[:, r, c] - expected).max() / scale))
            if (r, c) == EXACT_TARGET:
                residual = 0.0  # exactly: the target is a combination of the factors (float64 leaves ~1e-14)
            else:  # no part is near 0 here, so round-off cannot decide a class
                assert min(abs(observed), abs(climate), abs(residual)) > 1e-6 * scale, (r, c)
            code, climate_share = table2(observed, climate, residual)
            assert cls[r, c] == code, (r, c)
            assert share[r, c] == pytest.approx(climate_share, rel=1e-4, abs=1e-4), (r, c)
            classes_seen.add(code)
            compared += 1
    print(f"attribution: {compared} pixels, max |diff| / scale {max_rel:.2e}")
    assert compared > 200
    assert classes_seen == {1, 2, 3, 4, 5, 6}
    # the target that is an exact combination of the factors: b = (3, -1, 0), nothing left to the residual
    np.testing.assert_allclose(coef[(slice(None), *EXACT_TARGET)], [3, -1, 0], atol=1e-5)
    assert abs(contrib[(-2, *EXACT_TARGET)]) < 1e-4 * np.abs(contrib[(slice(0, 3), *EXACT_TARGET)]).max()
    assert "Decrease: human activities and other" in qml(out["cls"])
    rows = read_csv(tmp_path / "areas.csv")
    assert list(rows[0]) == ["class", "label", "area_km2", "share_pct"]
    for row in rows:
        assert float(row["area_km2"]) == pytest.approx(np.count_nonzero(cls == int(row["class"])), rel=1e-6)


def test_attribution_use_correlation(qgis_process, data, tmp_path):
    """Seed 002's variant: partial r (pingouin) x factor trend (numpy.polyfit)."""
    paths = data["paths"]
    out = {key: tmp_path / f"{key}.tif" for key in ("contrib", "cls", "share", "coef")}
    qgis_process.alg(
        "attribution",
        {
            "INPUT": paths["target"],
            "FACTOR_1": paths["temp"],
            "FACTOR_2": paths["prec"],
            "USE_CORRELATION": "true",
            "OUTPUT_CONTRIBUTIONS": out["contrib"],
            "OUTPUT_CLASS": out["cls"],
            "OUTPUT_CLIMATE_SHARE": out["share"],
            "OUTPUT_COEFFICIENTS": out["coef"],
        },
    )
    contrib, desc, tags, _ = read(out["contrib"])
    coef = read(out["coef"])[0]
    assert desc[:2] == ("temp", "precipitation")  # default names
    assert "USE_CORRELATION" in tags["UNITS"]
    compared = 0
    for r in range(ROWS):
        for c in range(COLS):
            if degenerate(data, ["temp", "prec"], r, c, len(YEARS), singular=(EXACT_TARGET,)):
                assert np.isnan(contrib[:, r, c]).all(), (r, c)
                continue
            y, fs, yrs = complete(data, ["temp", "prec"], r, c)
            rs, _ = reference_correlation(y, fs, "pearson")
            trends = np.array([np.polyfit(yrs, f, 1)[0] for f in fs])
            observed = np.polyfit(yrs, y, 1)[0]
            parts = np.array(rs) * trends
            expected = [*parts, parts.sum(), observed - parts.sum(), observed]
            np.testing.assert_allclose(coef[:, r, c], rs, atol=1e-6, err_msg=str((r, c)))
            np.testing.assert_allclose(
                contrib[:, r, c], expected, rtol=2e-5, atol=1e-6 * np.abs(expected).max(), err_msg=str((r, c))
            )
            compared += 1
    assert compared > 60


# ------------------------------------------------------------------------------------------ sample data
def test_sample_data_climate_driven_area(qgis_process, sample_data, tmp_path):
    qgis_process.alg("modis_npp", {"INPUT": sample_data / "npp_modis_stack.tif", "OUTPUT": tmp_path / "npp.tif"})
    factors = {
        "FACTOR_1": sample_data / "temperature_annual.tif",
        "FACTOR_2": sample_data / "precipitation_annual.tif",
        "FACTOR_NAMES": "Temperature, Precipitation",
    }
    qgis_process.alg(
        "partial_correlation",
        {
            "INPUT": tmp_path / "npp.tif",
            **factors,
            "OUTPUT_R": tmp_path / "r.tif",
            "OUTPUT_P": tmp_path / "p.tif",
            "OUTPUT_CLASS": tmp_path / "c.tif",
            "OUTPUT_DOMINANT": tmp_path / "d.tif",
        },
    )
    qgis_process.alg(
        "attribution",
        {
            "INPUT": tmp_path / "npp.tif",
            **factors,
            "OUTPUT_CONTRIBUTIONS": tmp_path / "ct.tif",
            "OUTPUT_CLASS": tmp_path / "ac.tif",
            "OUTPUT_CLIMATE_SHARE": tmp_path / "sh.tif",
            "OUTPUT_COEFFICIENTS": tmp_path / "b.tif",
        },
    )
    expected = planted(sample_data, "climate_driven")["expected"]
    box = (slice(None), *planted_box(sample_data, "climate_driven"))
    r, p = read(tmp_path / "r.tif")[0][box], read(tmp_path / "p.tif")[0][box]
    assert (r[1] > expected["partial_r_precipitation_greater_than"]).all()
    assert (p[1] < expected["partial_p_precipitation_less_than"]).all()
    assert (np.abs(r[0]) < expected["abs_partial_r_temperature_less_than"]).all()
    dominant = read(tmp_path / "d.tif")[0][box]
    assert expected["dominant_factor"] == "precipitation"
    assert (dominant == 2).all()
    assert 'value="2"' in qml(tmp_path / "d.tif") and 'label="Precipitation"' in qml(tmp_path / "d.tif")
    assert (read(tmp_path / "c.tif")[0][box][1] == 4).all()  # significant positive
    # planted: NPP anomaly = 1.0 g C m-2 yr-1 per mm of precipitation anomaly, nothing from temperature
    b = read(tmp_path / "b.tif")[0][box]
    assert np.abs(b[1] - 1.0).max() < 1e-3  # measured 1.4e-4 (the stored values are rounded to 0.1 g and 0.01 mm)
    assert np.abs(b[0]).max() < 0.1  # g C m-2 yr-1 per deg C (measured 0.034)


def test_help_states_formulas_and_time_step(qgis_process):
    text = qgis_process("help", "carbonsink:partial_correlation").stdout
    for words in (
        "r_j = -P_0j / sqrt(P_00 P_jj)",
        "df = n - 2 - (k - 1)",
        "t = r sqrt(df) / sqrt(1 - r^2)",
        "mean temperature",
        "total precipitation",
        "seed 000",
        "seed 002",
        "seed 004",
        "largest |partial r|",
    ):
        assert words in text, words
    text = qgis_process("help", "carbonsink:attribution").stdout
    for words in (
        "b_k x trend_k",
        "H = observed - C",
        "100 C / (C + H)",
        "dimensionally consistent",
        "total precipitation",
        "seed 002",
    ):
        assert words in text, words


# ------------------------------------------------------------------------------------------ bad input
def _refused(qgis_process, alg, params, folder, *words):
    before = set(os.listdir(folder))
    proc = qgis_process.alg(alg, params, check=False)
    assert not isinstance(proc, dict), f"{alg} accepted bad input"
    text = proc.stdout + proc.stderr
    for w in words:
        assert w in text, f"'{w}' not in:\n{text}"
    # nothing written (QGIS itself may cache statistics of the inputs it opens in .aux.xml files)
    new = {f for f in set(os.listdir(folder)) - before if not f.endswith(".aux.xml")}
    assert not new, new
    return text


def test_bad_inputs_are_refused(qgis_process, data, tmp_path):
    paths = data["paths"]
    years = [str(y) for y in YEARS]
    other_years = write(tmp_path / "prec_1990.tif", data["prec"], [str(y) for y in range(1990, 1990 + len(YEARS))])
    short = write(tmp_path / "prec_short.tif", data["prec"][:-1], years[:-1])
    shifted = write(tmp_path / "rad_shifted.tif", data["rad"], transform=from_origin(4_000_500, 3_000_000, 1000, 1000))
    monthly = write(tmp_path / "prec_monthly.tif", np.repeat(data["prec"], 12, axis=0))
    folder = tmp_path
    outputs = {
        "OUTPUT_R": tmp_path / "r.tif",
        "OUTPUT_P": tmp_path / "p.tif",
        "OUTPUT_CLASS": tmp_path / "c.tif",
        "OUTPUT_DOMINANT": tmp_path / "d.tif",
    }
    base = {"INPUT": paths["target"], "FACTOR_1": paths["temp"], **outputs}
    _refused(
        qgis_process,
        "partial_correlation",
        {**base, "FACTOR_2": other_years},
        folder,
        "FACTOR_2 covers 1990-2011 but INPUT covers 2001-2022",
    )
    _refused(
        qgis_process,
        "partial_correlation",
        {**base, "FACTOR_2": short},
        folder,
        "FACTOR_2 has 21 bands but INPUT has 22",
    )
    _refused(
        qgis_process,
        "partial_correlation",
        {**base, "FACTOR_2": paths["prec"], "FACTOR_3": shifted},
        folder,
        "rad_shifted.tif",
        "not aligned",
    )
    _refused(
        qgis_process,
        "partial_correlation",
        {**base, "FACTOR_2": paths["prec"], "FACTOR_3": paths["rad"], "FACTOR_NAMES": "Temperature, Precipitation"},
        folder,
        "FACTOR_NAMES gives 2 name(s)",
        "3 factor(s)",
    )
    _refused(
        qgis_process,
        "partial_correlation",
        {**base, "FACTOR_2": paths["prec"], "FACTOR_NAMES": "Rain, Rain"},
        folder,
        "'Rain' twice",
    )
    _refused(
        qgis_process,
        "partial_correlation",
        {**base, "FACTOR_3": paths["rad"]},
        folder,
        "FACTOR_3 is given but FACTOR_2 is empty",
    )
    _refused(
        qgis_process,
        "partial_correlation",
        {**base, "FACTOR_2": monthly},
        folder,
        "monthly",
        "aggregate the months to annual values",
    )
    _refused(
        qgis_process,
        "attribution",
        {
            "INPUT": paths["target"],
            "FACTOR_1": paths["temp"],
            "FACTOR_2": other_years,
            "OUTPUT_CONTRIBUTIONS": tmp_path / "ct.tif",
            "OUTPUT_CLASS": tmp_path / "ac.tif",
            "OUTPUT_CLIMATE_SHARE": tmp_path / "sh.tif",
        },
        folder,
        "FACTOR_2 covers 1990-2011",
    )
