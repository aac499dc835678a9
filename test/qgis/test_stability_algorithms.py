"""cv and hurst through the real ``qgis_process``, on rasters made here (never seen by the core's own tests),
against formula-level references written from METHODS.md ("Stability", "Persistence"), jenkspy for the natural
breaks, the planted signals of the sample data, and the refusals of bad input."""

from __future__ import annotations

import csv
import json
import math
import os
import warnings

import jenkspy
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from support import planted, planted_box

pytestmark = pytest.mark.qgis

T0 = from_origin(100.0, 45.0, 0.05, 0.05)  # geographic: area weighting matters
CV_YEARS = list(range(2001, 2031))  # 30 years
H_YEARS = list(range(2000, 2024))  # 24 years: METHODS.md's white-noise numbers are for n = 24
NODATA = -9999.0


def write(path, array, nodata=NODATA, descriptions=None, transform=T0, dtype="float32", tags=None, tile=None):
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[np.newaxis]
    extra = dict(tiled=True, blockxsize=tile, blockysize=tile) if tile else {}
    with rasterio.open(path, "w", driver="GTiff", width=array.shape[2], height=array.shape[1], count=array.shape[0],
                       dtype=dtype, nodata=nodata, transform=transform, crs="EPSG:4326", **extra) as ds:
        ds.write(array.astype(dtype))
        for i, d in enumerate(descriptions or [], start=1):
            ds.set_band_description(i, d)
        if tags:
            ds.update_tags(**tags)
    return str(path)


def read(path):
    with rasterio.open(path) as ds:
        return ds.read().astype(float), ds.tags(), ds.nodata, ds.descriptions


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def log_text(result) -> str:
    return "\n".join(line for lines in result.get("log", {}).values() for line in lines)


def _fails(qgis_process, alg, params, folder, *words):
    """The run fails, the message holds ``words``, and nothing new is left in ``folder``."""
    before = set(os.listdir(folder))
    proc = qgis_process.alg(alg, params, check=False)
    assert not isinstance(proc, dict), f"{alg} accepted bad input"
    text = proc.stdout + proc.stderr
    for w in words:
        assert w in text, f"'{w}' not in:\n{text}"
    new = [f for f in set(os.listdir(folder)) - before if not f.endswith(".aux.xml")]
    assert not new, new


# ============================================================================================ Cv references
def cv_reference(x, ddof, min_abs_mean, min_valid):
    """Cv = s / |mean| over the valid years (METHODS.md "Stability"), written directly with numpy nan-functions."""
    n = np.sum(~np.isnan(x), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels
        mean = np.nanmean(x, axis=0)
        std = np.nanstd(x, axis=0, ddof=ddof)
    ok = n >= min_valid
    mean = np.where(ok, mean, np.nan)
    std = np.where(ok, std, np.nan)
    small = ok & (np.abs(mean) < min_abs_mean)
    cv = np.where(ok & ~small, std / np.where(small | ~ok, 1.0, np.abs(mean)), np.nan)
    return cv, mean, std, int(small.sum())


_M64 = (1 << 64) - 1


def _splitmix64(z: int) -> int:
    """splitmix64 (Steele, Lea and Flood 2014) on Python integers, as the core's docstring states it."""
    z = (z + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def seeded_sample(values, size, seed):
    """The documented deterministic sample: the ``size`` valid pixels with the smallest
    key = splitmix64(splitmix64(seed) XOR (row * 2^32 + col)), written here pixel by pixel."""
    s = _splitmix64(seed & _M64)
    rows, cols = np.nonzero(~np.isnan(values))
    keys = [_splitmix64(s ^ ((int(r) << 32) | int(c))) for r, c in zip(rows, cols)]
    pairs = sorted(zip(keys, rows.tolist(), cols.tolist()))[:size]
    return np.array([values[r, c] for _, r, c in pairs])


def jenks_breaks_for_classify(sample, k):
    """jenkspy's optimal partition, as the lowest sample value of classes 2..k (a value equal to a break goes to
    the class above): jenkspy prints the upper bounds of classes 1..k-1 instead."""
    bounds = jenkspy.jenks_breaks(list(map(float, sample)), n_classes=k)
    upper = bounds[1:-1]
    s = np.sort(sample)
    return [float(s[np.searchsorted(s, u, side="right")]) for u in upper]


def classify(values, breaks, nodata):
    out = np.full(values.shape, nodata, dtype=float)
    ok = ~np.isnan(values)
    out[ok] = 1 + sum((values[ok] >= b).astype(int) for b in breaks)
    return out


@pytest.fixture(scope="module")
def cv_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cv")
    rng = np.random.default_rng(5150)
    rows, cols, ny = 150, 170, len(CV_YEARS)
    level = rng.uniform(50, 600, (rows, cols)) * np.where(rng.random((rows, cols)) < 0.2, -1, 1)  # 20% sources
    spread = np.abs(level) * rng.choice([0.01, 0.05, 0.1, 0.2, 0.4], (rows, cols)) * rng.uniform(0.5, 1.5,
                                                                                                 (rows, cols))
    x = level + spread * rng.standard_normal((ny, rows, cols))
    # near-zero means (|mean| well below 1): Cv would explode, must be nodata
    near = rng.random((rows, cols)) < 0.03
    noise = rng.normal(0, 20, (ny, rows, cols))
    centred = noise - noise.mean(axis=0) + rng.uniform(-0.5, 0.5, (rows, cols))
    x = np.where(near, centred, x)
    # small but valid means (|mean| about 3 to 8): a large Cv, nodata only with MIN_ABS_MEAN = 10
    smallish = ~near & (rng.random((rows, cols)) < 0.02)
    x = np.where(smallish, rng.uniform(3, 8, (rows, cols)) * rng.choice([-1, 1], (rows, cols))
                 + rng.normal(0, 2, (ny, rows, cols)), x)
    x[:, 5:9, 10:14] = 123.0  # constant pixels: Cv = 0
    x[:, 100:120, 0:30] = NODATA  # a nodata patch
    gaps = rng.random(x.shape) < 0.03  # pixels with > 4 gaps drop out with MIN_VALID = 26
    x[gaps] = NODATA
    x = x.astype("float32")
    names = [str(y) for y in CV_YEARS]
    multiband = write(folder / "nep_stack.tif", x, descriptions=names, tile=32, tags={"UNITS": "g C m-2 yr-1"})
    files = [write(folder / f"nep_{y}.tif", x[i]) for i, y in enumerate(CV_YEARS)]  # striped single files
    xf = np.where(x == NODATA, np.nan, x.astype(float))
    return {"folder": folder, "multiband": multiband, "files": files, "x": xf, "near": near, "smallish": smallish}


CV_SAMPLE, CV_SEED, CV_MIN_VALID = 2500, 11, 26


def run_cv(qgis_process, inputs, folder, tag, **extra):
    out = {k: folder / f"{tag}_{k}.tif" for k in ("cv", "class", "mean", "std")}
    params = {"INPUT": inputs, "SAMPLE_SIZE": CV_SAMPLE, "SEED": CV_SEED, "MIN_VALID": CV_MIN_VALID,
              "OUTPUT_CV": out["cv"], "OUTPUT_CLASS": out["class"], "OUTPUT_MEAN": out["mean"],
              "OUTPUT_STD": out["std"], "OUTPUT_CLASS_AREA": folder / f"{tag}_areas.csv", **extra}
    result = qgis_process.alg("cv", params)
    return result, out


@pytest.fixture(scope="module")
def cv_runs(qgis_process, cv_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cv_out")
    first = run_cv(qgis_process, cv_data["multiband"], folder, "a")
    rerun = run_cv(qgis_process, cv_data["multiband"], folder, "b", MEMORY_MB=16, THREADS=1)
    as_list = run_cv(qgis_process, cv_data["files"], folder, "c", MEMORY_MB=16)
    return {"first": first, "rerun": rerun, "list": as_list, "folder": folder}


def test_cv_equals_numpy_reference(cv_data, cv_runs):
    result, out = cv_runs["first"]
    x = cv_data["x"]
    ref_cv, ref_mean, ref_std, n_small = cv_reference(x, 1, 1.0, CV_MIN_VALID)
    cv, tags, _, desc = read(out["cv"])
    mean, std = read(out["mean"])[0][0], read(out["std"])[0][0]
    cv = cv[0]
    assert desc == ("Cv 2001-2030",)
    np.testing.assert_array_equal(np.isnan(cv), np.isnan(ref_cv))
    np.testing.assert_allclose(cv, ref_cv, rtol=2e-6, atol=1e-9)
    np.testing.assert_allclose(mean, ref_mean, rtol=2e-6, atol=1e-5)
    np.testing.assert_allclose(std, ref_std, rtol=2e-6, atol=1e-5)
    assert read(out["mean"])[1]["UNITS"] == "g C m-2 yr-1"
    # carbon sources (negative mean) get a positive Cv = s / |mean|
    sources = ~np.isnan(ref_cv) & (ref_mean < 0)
    assert sources.sum() > 1000 and (cv[sources] > 0).all()
    # near-zero means are nodata, counted in the log; their mean and std are kept
    assert cv_data["near"].sum() > 300 and n_small > 300
    near_ok = cv_data["near"] & (np.sum(~np.isnan(x), axis=0) == len(CV_YEARS))  # a gap moves the mean off 0
    assert near_ok.sum() > 100
    assert np.isnan(cv[near_ok]).all() and not np.isnan(mean[near_ok]).any()
    assert f"{n_small:,} pixels with |mean| < 1 g C m-2 yr-1" in log_text(result)
    # constant pixels: Cv = 0
    assert (cv[5:9, 10:14][~np.isnan(cv[5:9, 10:14])] == 0).all()
    # pixels with more than 4 gaps of 30 years are nodata
    n_valid = np.sum(~np.isnan(x), axis=0)
    assert ((n_valid < CV_MIN_VALID) & (n_valid > 0)).sum() > 10
    assert np.isnan(cv[n_valid < CV_MIN_VALID]).all()


def test_cv_classes_are_jenks_of_the_seeded_sample(cv_data, cv_runs):
    result, out = cv_runs["first"]
    ref_cv = cv_reference(cv_data["x"], 1, 1.0, CV_MIN_VALID)[0]
    sample = seeded_sample(ref_cv, CV_SAMPLE, CV_SEED)
    assert sample.size == CV_SAMPLE < np.sum(~np.isnan(ref_cv))
    expected = jenks_breaks_for_classify(sample, 5)
    cls, tags, nodata, desc = read(out["class"])
    breaks = json.loads(tags["BREAKS"])
    np.testing.assert_allclose(breaks, expected, rtol=1e-12)
    assert tags["SEED"] == str(CV_SEED) and tags["SAMPLE_SIZE"] == str(CV_SAMPLE)
    log = log_text(result)
    assert f"sample of {CV_SAMPLE:,} of {np.sum(~np.isnan(ref_cv)):,} valid pixels (SEED {CV_SEED})" in log
    ref_cls = classify(ref_cv, breaks, nodata)
    differ = cls[0] != ref_cls
    # only a pixel whose Cv is a break itself may fall either side (its Cv here differs from the tool's in the last bit)
    at_break = np.zeros_like(differ)
    for b in breaks:
        at_break |= np.abs(ref_cv - b) <= 1e-12 * b
    assert not (differ & ~at_break).any()
    assert set(np.unique(cls)) == {1, 2, 3, 4, 5, nodata}
    # the legend carries seed 000's wording and each class's Cv range
    qml = open(str(out["class"]).replace(".tif", ".qml"), encoding="utf-8").read()
    for label in ("Low fluctuation (Cv &lt; ", "Lower fluctuation", "Medium fluctuation", "Higher fluctuation",
                  "High fluctuation (Cv &gt;= "):
        assert label in qml, label
    # class areas: area-weighted, shares add up to 100
    rows = read_csv(cv_runs["folder"] / "a_areas.csv")
    assert [int(r["class"]) for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0]["label"].startswith("Low fluctuation")
    assert sum(float(r["share_pct"]) for r in rows) == pytest.approx(100.0)
    lat = 45.0 - 0.05 * (np.arange(cls.shape[1]) + 0.5)
    weights = np.cos(np.radians(lat))[:, None] * np.ones(cls.shape[2])
    share1 = weights[cls[0] == 1].sum() / weights[cls[0] != nodata].sum() * 100
    assert float(rows[0]["share_pct"]) == pytest.approx(share1, abs=0.05)  # spherical approximation of the areas


def test_cv_breaks_identical_on_rerun_and_for_a_list_of_files(cv_runs):
    _, first = cv_runs["first"]
    for name in ("rerun", "list"):
        _, other = cv_runs[name]
        for key in ("cv", "class", "mean", "std"):
            a, ta, _, da = read(first[key])
            b, tb, _, db = read(other[key])
            np.testing.assert_array_equal(a, b, err_msg=f"{name} {key}")
            assert da == db
        assert read(first["class"])[1]["BREAKS"] == read(other["class"])[1]["BREAKS"], name
        assert open(str(first["class"]).replace(".tif", ".qml")).read() == \
            open(str(other["class"]).replace(".tif", ".qml")).read()


def test_cv_with_given_breaks_and_ddof0(qgis_process, cv_data, tmp_path):
    out = {k: tmp_path / f"{k}.tif" for k in ("cv", "class")}
    result = qgis_process.alg("cv", {"INPUT": cv_data["multiband"], "DDOF": 0, "BREAKS": "0.05, 0.1,0.2",
                                     "MIN_ABS_MEAN": 10, "OUTPUT_CV": out["cv"], "OUTPUT_CLASS": out["class"]})
    ref_cv, _, _, n_small = cv_reference(cv_data["x"], 0, 10.0, len(CV_YEARS))
    cv = read(out["cv"])[0][0]
    np.testing.assert_array_equal(np.isnan(cv), np.isnan(ref_cv))
    np.testing.assert_allclose(cv, ref_cv, rtol=2e-6, atol=1e-9)
    assert np.isnan(cv[cv_data["smallish"]]).all()  # |mean| 3..8 < 10
    cls, tags, nodata, _ = read(out["class"])
    assert json.loads(tags["BREAKS"]) == [0.05, 0.1, 0.2]
    ref_cls = classify(ref_cv, [0.05, 0.1, 0.2], nodata)
    close = np.zeros(cv.shape, bool)
    for b in (0.05, 0.1, 0.2):
        close |= np.abs(ref_cv - b) < 1e-9
    np.testing.assert_array_equal(cls[0][~close], ref_cls[~close])
    assert set(np.unique(cls)) == {1, 2, 3, 4, nodata}
    log = log_text(result)
    assert "no sampling" in log and "Natural breaks" not in log
    assert f"{n_small:,} pixels with |mean| < 10" in log
    qml = open(tmp_path / "class.qml", encoding="utf-8").read()
    assert "Fluctuation class 1 of 4 (most stable) (Cv &lt; 0.05)" in qml
    assert "Fluctuation class 4 of 4 (most fluctuating) (Cv &gt;= 0.2)" in qml


# ========================================================================================= Hurst references
# Written from METHODS.md "Persistence", one series at a time. A window (or prefix) counts when its R and S are
# both > 0, i.e. when it is not constant (tested exactly: floating-point deviations of a constant window are not 0).
def _rs(window, ddof):
    if np.ptp(window) == 0:
        return None
    dev = window - window.mean()
    cum = np.cumsum(dev)
    r = cum.max() - cum.min()
    s = math.sqrt(float(np.sum(dev**2)) / (len(window) - ddof))
    return r / s if r > 0 and s > 0 else None


def _slope(u, v):
    if len(u) < 3:
        return math.nan
    u, v = np.asarray(u), np.asarray(v)
    return float(np.sum((u - u.mean()) * (v - v.mean())) / np.sum((u - u.mean()) ** 2))


def ref_prefix(x):
    u, v = [], []
    for tau in range(2, len(x) + 1):
        rs = _rs(x[:tau], ddof=0)
        if rs is not None:
            u.append(math.log(tau))
            v.append(math.log(rs))
    return _slope(u, v)


def ref_prefix_diff(x):
    return ref_prefix(np.diff(x))


def expected_rs_alp(w):
    """Anis-Lloyd-Peters E(R/S)_w."""
    total = sum(math.sqrt((w - i) / i) for i in range(1, w))
    return (w - 0.5) / w * math.gamma((w - 1) / 2) / (math.sqrt(math.pi) * math.gamma(w / 2)) * total


def ref_blocks_alp(x):
    n = len(x)
    u, v = [], []
    for w in range(4, n // 2 + 1):
        values = [_rs(x[i * w:(i + 1) * w], ddof=1) for i in range(n // w)]
        values = [rs for rs in values if rs is not None]
        if values:
            u.append(math.log(w))
            v.append(math.log(sum(values) / len(values)) - math.log(expected_rs_alp(w)))
    return 0.5 + _slope(u, v)


REF_H = {0: ref_blocks_alp, 1: ref_prefix, 2: ref_prefix_diff}
METHOD_NAMES = {0: "blocks_alp", 1: "prefix", 2: "prefix_diff"}


def ref_h_map(x, method, min_valid):
    out = np.full(x.shape[1:], np.nan)
    for r in range(x.shape[1]):
        for c in range(x.shape[2]):
            v = x[:, r, c]
            v = v[~np.isnan(v)]  # gaps closed: R/S uses positions (core/hurst.py module notes)
            if len(v) >= min_valid:
                out[r, c] = REF_H[method](v)
    return out


def ref_overlay(slope, h, sig=None, threshold=None, q05=None, q95=None):
    out = np.full(h.shape, -128.0)
    for idx in np.ndindex(h.shape):
        s, hh = slope[idx], h[idx]
        if np.isnan(s) or np.isnan(hh) or (sig is not None and np.isnan(sig[idx])):
            continue
        code = 0
        if s > 0 and hh > 0.5:
            code = 4  # continuous increase
        elif s > 0 and hh < 0.5:
            code = 3  # increase then decrease
        elif s < 0 and hh < 0.5:
            code = 2  # decrease then increase
        elif s < 0 and hh > 0.5:
            code = 1  # continuous decrease
        if sig is not None and abs(sig[idx]) < threshold:
            code = 0
        if q05 is not None and q05[idx] <= hh <= q95[idx]:
            code = 0
        out[idx] = code
    return out


NINE = [{"code": c, "label": f"class {c}", "color": "#000000"} for c in range(-4, 5)]
FIVE = [{"code": c, "label": f"class {c}", "color": "#000000"} for c in range(-2, 3)]


@pytest.fixture(scope="module")
def h_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hurst")
    rng = np.random.default_rng(777)
    ny, rows, cols = len(H_YEARS), 18, 22
    t = np.arange(ny)[:, None, None]
    kind = rng.integers(0, 6, (rows, cols))
    white = 300 + rng.normal(0, 40, (ny, rows, cols))
    walk = 300 + np.cumsum(rng.normal(0, 15, (ny, rows, cols)), axis=0)
    ar = np.zeros((ny, rows, cols))
    e = rng.normal(0, 20, (ny, rows, cols))
    for i in range(ny):
        ar[i] = e[i] + (-0.6 * ar[i - 1] if i else 0)
    trend = 300 + 5 * t + rng.normal(0, 20, (ny, rows, cols))
    plateaus = np.round((300 + rng.normal(0, 8, (ny, rows, cols))) / 10) * 10  # ties, constant windows
    source = -50 + np.cumsum(rng.normal(0, 5, (ny, rows, cols)), axis=0)  # a carbon source
    x = np.choose(kind, [white, walk, 200 + ar, trend, plateaus, source])
    x[:, 0, 0] = 250.0  # constant: no H
    x[:, 0, 1] = NODATA  # nodata everywhere
    x[5, 0, 2] = NODATA  # one missing year
    x[:, 0, 3] = np.where(np.arange(ny) < 12, 100.0, 200.0)  # a step: constant windows on each side
    x[:, 0, 4] = np.arange(ny) % 2 * 10.0  # alternating
    gaps = rng.random(x.shape) < 0.04
    gaps[:, :10] = False
    x[gaps] = NODATA  # rows >= 10 have gaps: nodata with all years required, analysed with MIN_VALID = 20
    x = x.astype("float32")
    path = write(folder / "nep.tif", x, descriptions=[str(y) for y in H_YEARS], tags={"UNITS": "g C m-2 yr-1"})
    slope = rng.choice([-2.5, -0.4, 0.0, 0.3, 1.8], (rows, cols)).astype("float32")
    slope[rng.random((rows, cols)) < 0.04] = np.nan
    sign = np.sign(np.nan_to_num(slope))
    nine = sign * rng.integers(1, 5, (rows, cols))
    five = sign * rng.integers(1, 3, (rows, cols))
    sig_nodata = rng.random((rows, cols)) < 0.04
    nine[sig_nodata] = -128
    five[sig_nodata] = -128
    xf = np.where(x == NODATA, np.nan, x.astype(float))
    return {
        "folder": folder, "path": path, "x": xf,
        "slope_path": write(folder / "slope.tif", slope, nodata=np.nan),
        "slope": slope.astype(float),
        "nine_path": write(folder / "mk9.tif", nine, nodata=-128, dtype="int16", tags={"CLASSES": json.dumps(NINE)}),
        "five_path": write(folder / "mk5.tif", five, nodata=-128, dtype="int16", tags={"CLASSES": json.dumps(FIVE)}),
        "untagged_path": write(folder / "codes.tif", nine, nodata=-128, dtype="int16"),
        "nine": np.where(sig_nodata, np.nan, nine), "five": np.where(sig_nodata, np.nan, five),
    }


def null_rows(path):
    rows = read_csv(path)
    for r in rows:
        for k in ("n", "n_sim", "seed", "n_pixels"):
            r[k] = int(r[k])
        for k in ("mean", "std", "q05", "q95", "frac_above_half"):
            r[k] = float(r[k])
    return rows


def check_null_row(row, method, n):
    """The table's numbers are the core's white-noise simulation (and METHODS.md's, roughly)."""
    from core.hurst import white_noise_null

    null = white_noise_null(method, n, n_sim=2000, seed=row["seed"])
    assert row["method"] == method and row["n"] == n and row["n_sim"] == 2000
    for k in ("mean", "std", "q05", "q95", "frac_above_half"):
        assert row[k] == pytest.approx(null[k], rel=1e-12, abs=1e-14), k


# METHODS.md: 2,000 white-noise series of length 24: prefix mean 0.64 and 87% above 0.5; prefix_diff mean 0.39
# and 9% above; blocks_alp mean 0.49 and 47% above.
METHODS_MD_N24 = {"prefix": (0.64, 0.87), "prefix_diff": (0.39, 0.09), "blocks_alp": (0.49, 0.47)}


def assert_close_to_reference(h, ref):
    np.testing.assert_array_equal(np.isnan(h), np.isnan(ref))
    np.testing.assert_allclose(h, ref, rtol=1e-5, atol=2e-6)


def away_from(values, thresholds, eps=1e-6):
    ok = np.ones(values.shape, bool)
    for t in thresholds:
        ok &= ~(np.abs(values - t) < eps)
    return ok


def test_hurst_blocks_alp_overlay_null_and_flag(qgis_process, h_data, tmp_path):
    out = {k: tmp_path / f"{k}.tif" for k in ("h", "cls", "flag")}
    result = qgis_process.alg("hurst", {"INPUT": h_data["path"], "SLOPE": h_data["slope_path"],
                                        "OUTPUT_H": out["h"], "OUTPUT_CLASS": out["cls"], "OUTPUT_FLAG": out["flag"],
                                        "OUTPUT_NULL": tmp_path / "null.csv",
                                        "OUTPUT_CLASS_AREA": tmp_path / "areas.csv"})
    h, tags, _, desc = read(out["h"])
    h = h[0]
    ref = ref_h_map(h_data["x"], 0, len(H_YEARS))
    assert_close_to_reference(h, ref)
    assert np.isnan(h[0, :3]).all()  # constant, empty, one year missing (all years required)
    assert not np.isnan(h[0, 3:5]).any()  # the step (windows w = 5, 7..11 straddle it), alternating values
    assert (~np.isnan(ref)).sum() > 200
    assert desc == ("H blocks_alp 2000-2023",)
    # white-noise null: one row for n = 24
    (row,) = null_rows(tmp_path / "null.csv")
    check_null_row(row, "blocks_alp", 24)
    assert row["n_pixels"] == (~np.isnan(ref)).sum()
    mean_md, frac_md = METHODS_MD_N24["blocks_alp"]
    assert row["mean"] == pytest.approx(mean_md, abs=0.02) and row["frac_above_half"] == pytest.approx(frac_md,
                                                                                                       abs=0.05)
    log = log_text(result)
    assert f"White noise, blocks_alp, n = 24 (2,000 simulated series, seed {row['seed']}): mean H {row['mean']:.4f}" \
           in log and f"95% quantile {row['q95']:.4f}" in log
    # flags against the quantiles
    flag, _, fnodata, _ = read(out["flag"])
    ok = ~np.isnan(ref) & away_from(ref, (row["q05"], row["q95"]))
    expected = np.where(ref < row["q05"], -1, np.where(ref > row["q95"], 1, 0))
    np.testing.assert_array_equal(flag[0][ok], expected[ok])
    assert (flag[0][np.isnan(ref)] == fnodata).all()
    assert {-1, 0, 1} <= set(np.unique(flag[0]))
    # the overlay's four combinations, unrestricted
    cls = read(out["cls"])[0][0]
    ok = away_from(ref, (0.5,))
    expected = ref_overlay(h_data["slope"], ref)
    np.testing.assert_array_equal(cls[ok], expected[ok])
    assert {0, 1, 2, 3, 4, -128} <= set(np.unique(cls))
    assert (cls[(h_data["slope"] == 0) & ~np.isnan(ref)] == 0).all()
    qml = open(tmp_path / "cls.qml", encoding="utf-8").read()
    for words in ("Continuous (persistent) increase: slope &gt; 0, H &gt; 0.5",
                  "Increase then decrease (anti-persistent): slope &gt; 0, H &lt; 0.5",
                  "Decrease then increase (anti-persistent): slope &lt; 0, H &lt; 0.5",
                  "Continuous (persistent) decrease: slope &lt; 0, H &gt; 0.5"):
        assert words in qml, words
    assert "Persistent beyond white noise (H &gt; 95% quantile)" in open(tmp_path / "flag.qml").read()
    rows = read_csv(tmp_path / "areas.csv")
    assert [int(r["class"]) for r in rows] == [4, 3, 2, 1, 0]
    assert sum(float(r["share_pct"]) for r in rows) == pytest.approx(100.0)


def test_hurst_prefix_with_significant_trends_only(qgis_process, h_data, tmp_path):
    out = {k: tmp_path / f"{k}.tif" for k in ("h", "cls")}
    result = qgis_process.alg("hurst", {"INPUT": h_data["path"], "METHOD": 1, "SLOPE": h_data["slope_path"],
                                        "SIGNIFICANCE": h_data["nine_path"], "OUTPUT_H": out["h"],
                                        "OUTPUT_CLASS": out["cls"], "OUTPUT_NULL": tmp_path / "null.csv"})
    h = read(out["h"])[0][0]
    ref = ref_h_map(h_data["x"], 1, len(H_YEARS))
    assert_close_to_reference(h, ref)
    (row,) = null_rows(tmp_path / "null.csv")
    check_null_row(row, "prefix", 24)
    mean_md, frac_md = METHODS_MD_N24["prefix"]
    assert row["mean"] == pytest.approx(mean_md, abs=0.02) and row["frac_above_half"] == pytest.approx(frac_md,
                                                                                                       abs=0.03)
    log = log_text(result)
    assert "nine Sen + Mann-Kendall classes" in log and "|code| >= 3" in log  # detected from the CLASSES tag
    assert "biased" in log and f"{100 * row['frac_above_half']:.1f}% of series" in log
    cls = read(out["cls"])[0][0]
    expected = ref_overlay(h_data["slope"], ref, h_data["nine"], 3)
    ok = away_from(ref, (0.5,))
    np.testing.assert_array_equal(cls[ok], expected[ok])
    weak = (np.abs(h_data["nine"]) < 3) & ~np.isnan(ref) & ~np.isnan(h_data["slope"])
    assert weak.sum() > 50 and (cls[weak] == 0).all()
    assert (cls[np.isnan(h_data["nine"])] == -128).all()
    assert {1, 4} <= set(np.unique(cls[~weak]))


def test_hurst_prefix_diff_gappy_beyond_null_and_five_classes(qgis_process, h_data, tmp_path):
    out = {k: tmp_path / f"{k}.tif" for k in ("h", "cls", "flag")}
    qgis_process.alg("hurst", {"INPUT": h_data["path"], "METHOD": 2, "MIN_VALID": 20, "SLOPE": h_data["slope_path"],
                               "SIGNIFICANCE": h_data["five_path"], "BEYOND_NULL": "true", "OUTPUT_H": out["h"],
                               "OUTPUT_CLASS": out["cls"], "OUTPUT_FLAG": out["flag"],
                               "OUTPUT_NULL": tmp_path / "null.csv"})
    x = h_data["x"]
    h = read(out["h"])[0][0]
    ref = ref_h_map(x, 2, 20)
    assert_close_to_reference(h, ref)
    n_valid = np.sum(~np.isnan(x), axis=0)
    assert ((n_valid < 24) & ~np.isnan(ref)).sum() > 50  # gappy pixels analysed
    rows = {r["n"]: r for r in null_rows(tmp_path / "null.csv")}
    used = sorted(set(n_valid[~np.isnan(ref)].tolist()))
    assert sorted(rows) == used and len(used) >= 3
    for n, row in rows.items():
        check_null_row(row, "prefix_diff", n)
        assert row["n_pixels"] == ((n_valid == n) & ~np.isnan(ref)).sum()
    mean_md, frac_md = METHODS_MD_N24["prefix_diff"]
    assert rows[24]["mean"] == pytest.approx(mean_md, abs=0.02)
    assert rows[24]["frac_above_half"] == pytest.approx(frac_md, abs=0.03)
    q05 = np.vectorize(lambda n: rows[n]["q05"] if n in rows else np.nan)(n_valid)
    q95 = np.vectorize(lambda n: rows[n]["q95"] if n in rows else np.nan)(n_valid)
    flag = read(out["flag"])[0][0]
    ok = ~np.isnan(ref) & (np.abs(ref - q05) > 1e-6) & (np.abs(ref - q95) > 1e-6)
    expected = np.where(ref < q05, -1, np.where(ref > q95, 1, 0))
    np.testing.assert_array_equal(flag[ok], expected[ok])
    cls = read(out["cls"])[0][0]
    expected = ref_overlay(h_data["slope"], ref, h_data["five"], 2, q05, q95)
    ok = (np.abs(ref - q05) > 1e-6) & (np.abs(ref - q95) > 1e-6) & away_from(ref, (0.5,))
    np.testing.assert_array_equal(cls[ok], expected[ok])
    inside = (ref >= q05) & (ref <= q95)
    assert inside.sum() > 50 and (cls[inside] <= 0).all()  # 0, or nodata where a raster is nodata
    assert (cls > 0).sum() > 5


def test_hurst_user_threshold_for_an_untagged_class_raster(qgis_process, h_data, tmp_path):
    out = {k: tmp_path / f"{k}.tif" for k in ("h", "cls")}
    qgis_process.alg("hurst", {"INPUT": h_data["path"], "SLOPE": h_data["slope_path"],
                               "SIGNIFICANCE": h_data["untagged_path"], "SIGNIFICANT_CLASSES": 2,
                               "BEYOND_NULL": "true", "NULL_SIMULATIONS": 500, "NULL_SEED": 3,
                               "OUTPUT_H": out["h"], "OUTPUT_CLASS": out["cls"],
                               "OUTPUT_NULL": tmp_path / "null.csv"})
    ref = ref_h_map(h_data["x"], 0, len(H_YEARS))
    (row,) = null_rows(tmp_path / "null.csv")
    assert (row["n_sim"], row["seed"]) == (500, 3)
    from core.hurst import white_noise_null

    assert row["q95"] == pytest.approx(white_noise_null("blocks_alp", 24, n_sim=500, seed=3)["q95"], rel=1e-12)
    q05, q95 = np.full(ref.shape, row["q05"]), np.full(ref.shape, row["q95"])
    cls = read(out["cls"])[0][0]
    expected = ref_overlay(h_data["slope"], ref, h_data["nine"], 2, q05, q95)  # option 2: |code| >= 2
    ok = away_from(ref, (0.5, row["q05"], row["q95"]))
    np.testing.assert_array_equal(cls[ok], expected[ok])
    weak = (np.abs(h_data["nine"]) == 1) & ~np.isnan(ref)
    assert (cls > 0).sum() > 5 and weak.sum() > 20 and (cls[weak] == 0).all()


def test_hurst_in_process_with_layer_objects(qgis_app, h_data, tmp_path):
    """The dialog's and the modeler's path (processing.run): inputs given as QGIS layer objects."""
    import processing
    from qgis.core import QgsRasterLayer

    layers = {k: QgsRasterLayer(h_data[f"{k}_path"], k) for k in ("slope", "nine")}
    nep = QgsRasterLayer(h_data["path"], "nep")
    assert nep.isValid() and all(layer.isValid() for layer in layers.values())
    out = {k: str(tmp_path / f"{k}.tif") for k in ("h", "cls")}
    result = processing.run("carbonsink:hurst", {"INPUT": [nep], "SLOPE": layers["slope"],
                                                 "SIGNIFICANCE": layers["nine"], "OUTPUT_H": out["h"],
                                                 "OUTPUT_CLASS": out["cls"]})
    assert result["OUTPUT_CLASS"] == out["cls"] and result["OUTPUT_FLAG"] is None
    ref = ref_h_map(h_data["x"], 0, len(H_YEARS))
    assert_close_to_reference(read(out["h"])[0][0], ref)
    cls = read(out["cls"])[0][0]
    expected = ref_overlay(h_data["slope"], ref, h_data["nine"], 3)
    ok = away_from(ref, (0.5,))
    np.testing.assert_array_equal(cls[ok], expected[ok])
    assert os.path.exists(tmp_path / "cls.qml")


def test_hurst_help_explains_the_bias(qgis_process):
    text = qgis_process("help", "carbonsink:hurst").stdout
    for words in ("87%", "91% anti-persistent", "84.91%", "blocks_alp about 50%", "Anis-Lloyd-Peters",
                  "OUTPUT_NULL", "SIGNIFICANT_CLASSES", "BEYOND_NULL"):
        assert words in text, words


# ============================================================================================= sample data
def test_sample_data_planted_persistence_and_stability(qgis_process, sample_data, tmp_path):
    qgis_process.alg("modis_npp", {"INPUT": sample_data / "npp_modis_stack.tif", "OUTPUT": tmp_path / "npp.tif"})
    qgis_process.alg("trend_sen_mk", {"INPUT": tmp_path / "npp.tif", "OUTPUT_SLOPE": tmp_path / "s.tif",
                                      "OUTPUT_Z": tmp_path / "z.tif", "OUTPUT_P": tmp_path / "p.tif",
                                      "OUTPUT_CLASS": tmp_path / "tc.tif"})
    qgis_process.alg("hurst", {"INPUT": tmp_path / "npp.tif", "SLOPE": tmp_path / "s.tif",
                               "SIGNIFICANCE": tmp_path / "tc.tif", "OUTPUT_H": tmp_path / "h.tif",
                               "OUTPUT_FLAG": tmp_path / "f.tif", "OUTPUT_CLASS": tmp_path / "o.tif"})
    qgis_process.alg("cv", {"INPUT": tmp_path / "npp.tif", "OUTPUT_CV": tmp_path / "cv.tif",
                            "OUTPUT_CLASS": tmp_path / "cvc.tif"})
    h, flag, overlay = (read(tmp_path / f)[0][0] for f in ("h.tif", "f.tif", "o.tif"))
    trend_class = read(tmp_path / "tc.tif")[0][0]
    cv, cv_class = read(tmp_path / "cv.tif")[0][0], read(tmp_path / "cvc.tif")[0][0]

    persistent = planted(sample_data, "persistent")["expected"]
    box = planted_box(sample_data, "persistent")
    assert (h[box] > persistent["hurst_blocks_alp_greater_than"]).all()
    assert h[box].mean() > persistent["hurst_blocks_alp_mean_greater_than"]
    assert (flag[box] == 1).mean() > persistent["hurst_blocks_alp_beyond_white_noise_95pct_fraction_greater_than"]
    # persistent everywhere: continuous increase / decrease where the (spurious) trend is significant, else 0
    significant = np.abs(trend_class[box]) >= 3
    assert 0 < significant.sum() < significant.size
    np.testing.assert_array_equal(overlay[box][significant], np.where(trend_class[box][significant] > 0, 4, 1))
    assert (overlay[box][~significant] == 0).all()
    for name, code in (("greening", 4), ("degradation", 1)):  # planted trends + high H: persistent classes
        tbox = planted_box(sample_data, name)
        assert (h[tbox] > 0.5).all() and (overlay[tbox] == code).all(), name

    noisy = planted(sample_data, "noisy")["expected"]
    nbox = planted_box(sample_data, "noisy")
    low, high = noisy["hurst_blocks_alp_mean_between"]
    assert low <= h[nbox].mean() <= high
    assert (overlay[nbox] == 0).all()  # no significant trend there
    assert cv[nbox].mean() > noisy["cv_mean_greater_than"]

    stable = planted(sample_data, "stable")["expected"]
    sbox = planted_box(sample_data, "stable")
    assert (cv[sbox] <= stable["cv_at_most"]).all()
    assert (cv_class[sbox] == 1).all()  # the lowest class: low fluctuation
    assert cv[sbox].max() < cv[nbox].min()
    assert cv_class[nbox].mean() > 3


# =============================================================================================== bad input
def test_bad_inputs_are_refused_and_leave_nothing(qgis_process, h_data, cv_data, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    short = write(tmp_path / "short.tif", h_data["x"][:10].astype("float32"),
                  descriptions=[str(y) for y in H_YEARS[:10]])
    _fails(qgis_process, "hurst", {"INPUT": short, "OUTPUT_H": out / "h.tif"}, out,
           "10 time steps", "blocks_alp Hurst exponent needs at least 12", "METHOD prefix")
    shifted = write(tmp_path / "slope_shifted.tif", h_data["slope"][np.newaxis].astype("float32"), nodata=np.nan,
                    transform=from_origin(100.05, 45.0, 0.05, 0.05))
    _fails(qgis_process, "hurst", {"INPUT": h_data["path"], "SLOPE": shifted, "OUTPUT_H": out / "h.tif",
                                   "OUTPUT_CLASS": out / "c.tif"}, out, "slope_shifted.tif", "not aligned")
    _fails(qgis_process, "hurst", {"INPUT": h_data["path"], "OUTPUT_H": out / "h.tif", "OUTPUT_CLASS": out / "c.tif"},
           out, "OUTPUT_CLASS (the persistence overlay) needs SLOPE")
    _fails(qgis_process, "hurst", {"INPUT": h_data["path"], "SLOPE": h_data["slope_path"],
                                   "SIGNIFICANCE": h_data["untagged_path"], "OUTPUT_H": out / "h.tif",
                                   "OUTPUT_CLASS": out / "c.tif"}, out, "codes.tif", "SIGNIFICANT_CLASSES")
    _fails(qgis_process, "cv", {"INPUT": cv_data["multiband"], "BREAKS": "0.2, 0.1", "OUTPUT_CV": out / "cv.tif",
                                "OUTPUT_CLASS": out / "cvc.tif"}, out, "BREAKS", "strictly increasing")
    assert os.listdir(out) == []
