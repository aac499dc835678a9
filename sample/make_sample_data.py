#!/usr/bin/env python3
"""Write the deterministic sample study area of the Carbon Sink Toolbox.

Usage::

    /usr/bin/python3 sample/make_sample_data.py [OUTDIR]    # default OUTDIR: sample/data next to this script

A 100 x 80 pixel grid at 0.1 degree in EPSG:4326 (lon 96..106 E, lat 36..44 N), years 2000-2023:
MOD17A3HGF-encoded annual NPP (24 single-band files and one 24-band stack), monthly temperature and
precipitation (288 bands), their annual aggregates, soil organic carbon, three land-cover maps, four regions
(GeoPackage) and ``signals.json``, which describes every planted signal and what the toolbox should find there.
``sample/README.md`` documents the files and the signals.

The script is standalone on purpose: it imports nothing from the plugin, so its encodings (MODIS digital numbers,
land codes, band order, nodata) and its reference statistics are an independent check of the plugin's decoders
and algorithms. It is deterministic: every random component has its own ``numpy.random.default_rng`` stream with a
fixed seed, climate values are rounded to 0.01 before they are stored, and no timestamps are written, so two runs
give the same bytes.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

os.environ.setdefault("GDAL_PAM_ENABLED", "NO")  # no .aux.xml side files

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.transform import Affine

# ---------------------------------------------------------------------------------------------------------------
# Grid and time axis
# ---------------------------------------------------------------------------------------------------------------
WEST, NORTH, RES = 96.0, 44.0, 0.1
WIDTH, HEIGHT = 100, 80  # columns (lon 96..106), rows (lat 44..36, north first)
TRANSFORM = Affine(RES, 0.0, WEST, 0.0, -RES, NORTH)
EPSG = 4326
YEARS = np.arange(2000, 2024)
NY = YEARS.size  # 24
NM = 12

SEED = 20250501
STREAMS = {
    "climate": 1,
    "background": 2,
    "greening": 3,
    "degradation": 4,
    "desert_edge": 5,
    "persistent": 6,
    "noisy": 7,
    "stable": 8,
    "climate_driven": 9,
    "peak_2010": 10,
    "barren_to_grassland": 11,
}

# MOD17A3HGF Npp_500m: int16, scale 0.0001 kg C m-2 -> DN = NPP[g C m-2 yr-1] * 10; codes above 32700 are not data.
NPP_NODATA = 32767
CODE_URBAN, CODE_WETLAND, CODE_SNOW, CODE_BARREN, CODE_WATER, CODE_FILL = 32762, 32763, 32764, 32765, 32766, 32767
CLIMATE_NODATA = -9999.0
LC_NODATA = 0
LC_CLASSES = {
    1: "cropland",
    2: "forest",
    3: "shrubland",
    4: "grassland",
    5: "water",
    6: "snow/ice",
    7: "barren",
    8: "impervious/urban",
    9: "wetland",
}
LC_YEARS = (2000, 2011, 2022)

# Planted signal areas: (row0, row1, col0, col1), half-open, row 0 = north edge (lat 44), col 0 = west edge (lon 96).
AREAS: dict[str, tuple[int, int, int, int]] = {
    "greening": (50, 62, 4, 20),
    "degradation": (32, 44, 28, 42),
    "desert_edge": (19, 27, 3, 21),
    "persistent": (32, 44, 56, 70),
    "noisy": (32, 44, 80, 94),
    "stable": (50, 62, 28, 40),
    "climate_driven": (50, 62, 50, 64),
    "peak_2010": (18, 28, 60, 74),
}
AREA_LANDCOVER = {  # class in (2000, 2011, 2022)
    "greening": (4, 2, 2),
    "degradation": (4, 4, 4),
    "desert_edge": (4, 4, 4),
    "persistent": (3, 3, 3),
    "noisy": (4, 4, 4),
    "stable": (2, 2, 2),
    "climate_driven": (4, 4, 4),
    "peak_2010": (3, 3, 3),
}

# Land features (MODIS land codes in the NPP, land-cover classes).
BARREN = (3, 19, 3, 21)
BARREN_TO_GRASSLAND = (3, 19, 21, 25)  # barren (32765) 2000-2006, grassland with valid NPP from 2007
BARREN_LAST_YEAR = 2006
WETLAND_RING = (3, 15, 38, 52)  # minus the lake: 32763 / class 9
LAKE = (5, 13, 40, 50)  # 32766 / class 5
SNOW = (70, 73, 12, 15)  # 32764 / class 6
CITY_CORE = (66, 70, 77, 81)  # 32762 from 2012
CITY_CORE_FIRST_YEAR = 2012
CITY = (65, 71, 76, 82)  # 32762 from 2017 (core included); class 8 in 2022, cropland before
CITY_FIRST_YEAR = 2017
FILL_CORNER = (74, 80, 90, 100)  # 32767 every year, land cover nodata
FILL_STRIPE = (46, 48, 20, 90)  # 32767 in 2005 only
FILL_STRIPE_YEAR = 2005

# Region polygons (lon, lat); the north-south boundary at lon 101.0 (lat 40..44) lies exactly on pixel edges.
_C = (101.0, 40.0)  # where the four regions meet
_W, _W2 = (96.0, 39.3), (98.5, 39.45)  # western boundary (crosses "degradation")
_E, _E2 = (106.0, 38.6), (103.5, 39.2)  # eastern boundary (crosses "persistent")
_S, _S2 = (102.2, 36.0), (101.5, 38.0)  # southern boundary (crosses "climate_driven")
REGIONS = [
    (1, "Northwest", [(96.0, 44.0), _W, _W2, _C, (101.0, 44.0)]),
    (2, "Northeast", [(101.0, 44.0), _C, _E2, _E, (106.0, 44.0)]),
    (3, "Southwest", [_W, (96.0, 36.0), _S, _S2, _C, _W2]),
    (4, "Southeast", [_C, _S2, _S, (106.0, 36.0), _E, _E2]),
]

# Pei et al. (2009) monthly heterotrophic respiration, g C m-2 month-1 (METHODS.md).
PEI_A, PEI_B, PEI_C, PEI_DAYS, PEI_CARBON = 0.22, 0.0912, 0.3145, 30.0, 0.465


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng([SEED, STREAMS[name]])


def _sl(box: tuple[int, int, int, int]) -> tuple[slice, slice]:
    return slice(box[0], box[1]), slice(box[2], box[3])


def _box_mask(box: tuple[int, int, int, int]) -> np.ndarray:
    m = np.zeros((HEIGHT, WIDTH), dtype=bool)
    m[_sl(box)] = True
    return m


def _lonlat(box: tuple[int, int, int, int]) -> dict[str, float]:
    r0, r1, c0, c1 = box
    return {
        "west": round(WEST + c0 * RES, 6),
        "east": round(WEST + c1 * RES, 6),
        "south": round(NORTH - r1 * RES, 6),
        "north": round(NORTH - r0 * RES, 6),
    }


def _box_json(box: tuple[int, int, int, int]) -> dict:
    return {
        "pixel_box": {"row0": box[0], "row1": box[1], "col0": box[2], "col1": box[3]},
        "lonlat_box": _lonlat(box),
    }


ROWS = np.arange(HEIGHT)[:, None]
COLS = np.arange(WIDTH)[None, :]
LAT = NORTH - RES * (ROWS + 0.5) + 0.0 * COLS  # pixel centres, (HEIGHT, WIDTH)
LON = WEST + RES * (COLS + 0.5) + 0.0 * ROWS
MOUNTAIN = np.exp(-0.5 * (((LON - 97.5) / 1.2) ** 2 + ((LAT - 36.8) / 0.8) ** 2))  # south-west massif, 0..1


# ---------------------------------------------------------------------------------------------------------------
# Climate
# ---------------------------------------------------------------------------------------------------------------
def make_climate() -> dict[str, np.ndarray]:
    """Monthly temperature (deg C) and precipitation (mm), shape (24, 12, rows, cols), rounded to 0.01."""
    rng = _rng("climate")
    month = np.arange(NM)
    # Temperature: latitude gradient, cooler mountains, seasonal cycle (January coldest), +0.03 deg C / yr,
    # yearly anomalies (sd 0.5) and month-to-month weather (sd 0.8), both large-scale.
    t0 = 9.0 - 0.9 * (LAT - 36.0) - 8.0 * MOUNTAIN
    amplitude = 12.0 + 0.6 * (LAT - 36.0)
    season = -np.cos(2.0 * np.pi * month / 12.0)
    trend = 0.03 * (YEARS - 2011.5)
    a_t = rng.normal(0.0, 0.5, NY)
    e_t = rng.normal(0.0, 0.8, (NY, NM))
    pattern_t = 1.0 + 0.2 * (LON - 101.0) / 5.0
    pattern_m = 1.0 + 0.1 * (LAT - 40.0) / 4.0
    temp = (
        t0[None, None]
        + amplitude[None, None] * season[None, :, None, None]
        + trend[:, None, None, None]
        + a_t[:, None, None, None] * pattern_t[None, None]
        + e_t[:, :, None, None] * pattern_m[None, None]
    )

    # Precipitation: wetter to the east, south and on the massif; summer monsoon (July-August peak).
    p_clim = 60.0 + 30.0 * (LON - 96.0) + 25.0 * (44.0 - LAT) + 150.0 * MOUNTAIN  # mm yr-1
    weights = 0.12 + np.exp(-0.5 * ((month - 6.5) / 1.5) ** 2)
    weights = weights / weights.sum()
    a_p = np.clip(rng.normal(0.0, 0.12, NY), -0.35, 0.35)
    pattern_p = 1.0 + 0.3 * (LON - 101.0) / 5.0
    # Monthly weather: lognormal factors rescaled so they do not change the annual total.
    g = rng.lognormal(0.0, 0.35, (NY, NM))
    g = g / (g * weights).sum(axis=1, keepdims=True)
    factor = 1.0 + a_p[:, None, None] * pattern_p[None]
    # climate_driven area: its own yearly precipitation factor 1 + s_y (sd 0.25), orthogonal (exactly, over the
    # 24 years) to the span of every temperature anomaly component (trend, a_t, mean of e_t), so that annual
    # precipitation and annual temperature are uncorrelated in every pixel of the area.
    s = rng.normal(0.0, 1.0, NY)
    basis = np.column_stack([np.ones(NY), YEARS - 2011.5, a_t, e_t.mean(axis=1)])
    s = s - basis @ np.linalg.lstsq(basis, s, rcond=None)[0]
    s = 0.25 * s / s.std(ddof=1)
    if s.min() <= -0.7:
        raise RuntimeError("climate_driven precipitation factor too low; change SEED")
    rs, cs = _sl(AREAS["climate_driven"])
    factor[:, rs, cs] = 1.0 + s[:, None, None]
    prec = p_clim[None, None] * weights[None, :, None, None] * g[:, :, None, None] * factor[:, None]

    temp = np.round(temp, 2).astype(np.float32)
    prec = np.round(prec, 2).astype(np.float32)
    return {
        "temperature": temp,
        "precipitation": prec,
        "p_clim": p_clim,
        "s": s,
        "t_basis": basis,
    }


def pei_rh_annual(temp: np.ndarray, prec: np.ndarray) -> np.ndarray:
    """Annual Rh (g C m-2 yr-1) = sum over months of 0.22 (exp(0.0912 T) + ln(0.3145 P + 1)) * 30 * 0.465."""
    t = temp.astype(np.float64)
    p = prec.astype(np.float64)
    monthly = PEI_A * (np.exp(PEI_B * t) + np.log(PEI_C * p + 1.0)) * PEI_DAYS * PEI_CARBON
    return monthly.sum(axis=1)


# ---------------------------------------------------------------------------------------------------------------
# Reference statistics (plain, vectorised over pixels; series on axis 0)
# ---------------------------------------------------------------------------------------------------------------
def ols(x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OLS slope per year and its t statistic (n - 2 df)."""
    n = t.size
    tc = t - t.mean()
    slope = (tc[:, None] * (x - x.mean(axis=0))).sum(axis=0) / (tc**2).sum()
    resid = x - x.mean(axis=0) - slope * tc[:, None]
    se = np.sqrt((resid**2).sum(axis=0) / (n - 2) / (tc**2).sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        tstat = slope / se
    return slope, tstat


def mann_kendall_z(x: np.ndarray) -> np.ndarray:
    """Mann-Kendall Z with the tie-corrected variance and the continuity correction (METHODS.md)."""
    n = x.shape[0]
    i, j = np.triu_indices(n, k=1)
    s = np.sign(x[j] - x[i]).sum(axis=0)
    tie_count = (x[:, None, :] == x[None, :, :]).sum(axis=1)  # size of each value's tie group, per element
    ties = ((tie_count - 1) * (2 * tie_count + 5)).sum(axis=0)  # = sum over groups t(t-1)(2t+5)
    var = (n * (n - 1) * (2 * n + 5) - ties) / 18.0
    z = np.where(s > 0, (s - 1) / np.sqrt(var), np.where(s < 0, (s + 1) / np.sqrt(var), 0.0))
    return z


def sen_slope(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    i, j = np.triu_indices(t.size, k=1)
    return np.median((x[j] - x[i]) / (t[j] - t[i])[:, None], axis=0)


def hurst_blocks_alp(x: np.ndarray) -> np.ndarray:
    """R/S Hurst exponent, METHODS.md variant ``blocks_alp`` (Anis-Lloyd-Peters corrected)."""
    n, npix = x.shape
    logw, dev = [], []
    for w in range(4, n // 2 + 1):
        k = n // w
        blocks = x[: k * w].reshape(k, w, npix)
        z = np.cumsum(blocks - blocks.mean(axis=1, keepdims=True), axis=1)
        r = z.max(axis=1) - z.min(axis=1)
        sd = blocks.std(axis=1, ddof=1)
        ok = (r > 0) & (sd > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            rs = np.where(ok, r / np.where(ok, sd, 1.0), 0.0).sum(axis=0) / ok.sum(axis=0)
        expected = (
            (w - 0.5)
            / w
            * math.exp(math.lgamma((w - 1) / 2.0) - math.lgamma(w / 2.0))
            / math.sqrt(math.pi)
            * sum(math.sqrt((w - i) / i) for i in range(1, w))
        )
        logw.append(math.log(w))
        with np.errstate(divide="ignore", invalid="ignore"):
            dev.append(np.log(rs) - math.log(expected))
    lw = np.array(logw)
    d = np.array(dev)  # (n_sizes, npix); all finite for the series planted here
    lc = lw - lw.mean()
    return 0.5 + (lc[:, None] * (d - d.mean(axis=0))).sum(axis=0) / (lc**2).sum()


def pearson_r(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Pearson correlation per pixel (series on axis 0)."""
    uc, vc = u - u.mean(axis=0), v - v.mean(axis=0)
    return (uc * vc).sum(axis=0) / np.sqrt((uc**2).sum(axis=0) * (vc**2).sum(axis=0))


def partial_r(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Partial correlation of y with a controlling for b, per pixel (series on axis 0)."""
    rya, ryb, rab = pearson_r(y, a), pearson_r(y, b), pearson_r(a, b)
    return (rya - ryb * rab) / np.sqrt((1.0 - ryb**2) * (1.0 - rab**2))


def _summary(v: np.ndarray, digits: int = 4) -> dict[str, float]:
    return {
        "min": round(float(np.min(v)), digits),
        "mean": round(float(np.mean(v)), digits),
        "max": round(float(np.max(v)), digits),
    }


# ---------------------------------------------------------------------------------------------------------------
# NPP
# ---------------------------------------------------------------------------------------------------------------
def make_npp(clim: dict[str, np.ndarray], p_annual: np.ndarray, rh: np.ndarray) -> np.ndarray:
    """Annual NPP in g C m-2 yr-1, shape (24, rows, cols), before encoding (float64)."""
    t = (YEARS - 2000).astype(float)[:, None, None]

    background_mean = np.clip(200.0 + 0.6 * clim["p_clim"], 250.0, 500.0)
    npp = background_mean[None] + _rng("background").normal(0.0, 15.0, (NY, HEIGHT, WIDTH))

    def shape_of(name: str) -> tuple[int, int, int]:
        r0, r1, c0, c1 = AREAS[name]
        return NY, r1 - r0, c1 - c0

    # 1. greening: +12 g C m-2 yr-1 per year, noise sd 20.
    rng = _rng("greening")
    ny, h, w = shape_of("greening")
    npp[(slice(None),) + _sl(AREAS["greening"])] = (
        rng.uniform(260.0, 300.0, (h, w)) + 12.0 * t + rng.normal(0.0, 20.0, (ny, h, w))
    )
    # 2. degradation: -10 per year, noise sd 20.
    rng = _rng("degradation")
    ny, h, w = shape_of("degradation")
    npp[(slice(None),) + _sl(AREAS["degradation"])] = (
        rng.uniform(470.0, 510.0, (h, w)) - 10.0 * t + rng.normal(0.0, 20.0, (ny, h, w))
    )
    # 3. desert_edge: low NPP rising away from the barren patch (north edge ~45, south edge ~95), noise sd 6.
    rng = _rng("desert_edge")
    ny, h, w = shape_of("desert_edge")
    gradient = 45.0 + 50.0 * np.arange(h)[:, None] / (h - 1) + 0.0 * np.arange(w)[None, :]
    npp[(slice(None),) + _sl(AREAS["desert_edge"])] = np.maximum(gradient + rng.normal(0.0, 6.0, (ny, h, w)), 20.0)
    # 4. persistent: random walk (cumulative sum of N(0, 15) steps), no deterministic trend.
    rng = _rng("persistent")
    ny, h, w = shape_of("persistent")
    #    Walks whose blocks_alp H is below 0.6 are redrawn, so every pixel is clearly persistent.
    walk = np.cumsum(rng.normal(0.0, 15.0, (ny, h * w)), axis=0)
    for _ in range(100):
        bad = hurst_blocks_alp(np.round(walk * 10.0) / 10.0) <= 0.6
        if not bad.any():
            break
        walk[:, bad] = np.cumsum(rng.normal(0.0, 15.0, (ny, int(bad.sum()))), axis=0)
    else:
        raise RuntimeError("could not draw persistent series")
    npp[(slice(None),) + _sl(AREAS["persistent"])] = rng.uniform(360.0, 400.0, (h, w)) + walk.reshape(ny, h, w)
    # 5. noisy: white noise sd 60 around 300; series whose MK |Z| > 1.64 or OLS p < 0.1 are redrawn, so no pixel
    #    shows even a weak trend.
    rng = _rng("noisy")
    ny, h, w = shape_of("noisy")
    series = 300.0 + rng.normal(0.0, 60.0, (ny, h * w))
    tt = YEARS.astype(float)
    for _ in range(100):  # 1.717 = t quantile 0.95 with 22 df: |t| < 1.717 <=> two-sided OLS p > 0.1
        _, tstat = ols(np.round(series * 10.0) / 10.0, tt)
        bad = (np.abs(mann_kendall_z(np.round(series * 10.0) / 10.0)) > 1.64) | (np.abs(tstat) >= 1.717)
        if not bad.any():
            break
        series[:, bad] = 300.0 + rng.normal(0.0, 60.0, (ny, int(bad.sum())))
    else:
        raise RuntimeError("could not draw trend-free noisy series")
    npp[(slice(None),) + _sl(AREAS["noisy"])] = series.reshape(ny, h, w)
    # 6. stable: high mean (~700), noise sd 4.
    rng = _rng("stable")
    ny, h, w = shape_of("stable")
    npp[(slice(None),) + _sl(AREAS["stable"])] = rng.uniform(690.0, 710.0, (h, w)) + rng.normal(0.0, 4.0, (ny, h, w))
    # 7. climate_driven: NPP anomaly = 1.0 g C m-2 per mm of annual precipitation anomaly; the noise (sd ~15) is
    #    made orthogonal to the constant, the year, the temperature anomaly components and the precipitation
    #    factor, so NPP has no partial correlation with temperature at all.
    rng = _rng("climate_driven")
    ny, h, w = shape_of("climate_driven")
    rs, cs = _sl(AREAS["climate_driven"])
    p_area = p_annual[:, rs, cs]
    noise = rng.normal(0.0, 15.0, (ny, h * w))
    basis = np.column_stack([clim["t_basis"], clim["s"]])
    noise = noise - basis @ np.linalg.lstsq(basis, noise, rcond=None)[0]
    npp[:, rs, cs] = rng.uniform(365.0, 395.0, (h, w)) + 1.0 * (p_area - p_area.mean(axis=0)) + noise.reshape(ny, h, w)
    # 8. peak_2010: +18 per year up to 2010, then -14 per year, noise sd 3; 2010 is forced to stay the maximum.
    rng = _rng("peak_2010")
    ny, h, w = shape_of("peak_2010")
    up_down = np.where(YEARS <= 2010, 18.0 * (YEARS - 2000), 180.0 - 14.0 * (YEARS - 2010)).astype(float)
    block = rng.uniform(300.0, 340.0, (h, w)) + up_down[:, None, None] + rng.normal(0.0, 3.0, (ny, h, w))
    k = int(np.nonzero(YEARS == 2010)[0][0])
    others = np.delete(block, k, axis=0).max(axis=0)
    block[k] = np.where(block[k] < others + 1.0, others + 5.0, block[k])
    npp[(slice(None),) + _sl(AREAS["peak_2010"])] = block

    # The strip east of the barren patch turns into grassland in 2007: low NPP from then on.
    rng = _rng("barren_to_grassland")
    r0, r1, c0, c1 = BARREN_TO_GRASSLAND
    npp[:, r0:r1, c0:c1] = (
        35.0 + 6.0 * np.maximum(t - (BARREN_LAST_YEAR + 1 - 2000), 0.0) + rng.normal(0.0, 5.0, (NY, r1 - r0, c1 - c0))
    )
    npp[:, r0:r1, c0:c1] = np.maximum(npp[:, r0:r1, c0:c1], 10.0)

    # Checks of the planted signals that the encoding must not break.
    rs, cs = _sl(AREAS["desert_edge"])
    if not (npp[:, rs, cs] < rh[:, rs, cs] - 5.0).all():
        raise RuntimeError("desert_edge: NPP must stay below Pei Rh in every year")
    if npp.min() <= 0 or npp.max() >= 3000:
        raise RuntimeError("NPP out of the planned range")
    return npp


def encode_npp(npp: np.ndarray) -> np.ndarray:
    """MOD17A3HGF digital numbers with the planted land codes, int16, shape (24, rows, cols)."""
    dn = np.round(npp * 10.0).astype(np.int16)  # 0.1 g C m-2 = 0.0001 kg C m-2
    dn[:, _sl(BARREN)[0], _sl(BARREN)[1]] = CODE_BARREN
    early = YEARS <= BARREN_LAST_YEAR
    rs, cs = _sl(BARREN_TO_GRASSLAND)
    dn[early, rs, cs] = CODE_BARREN
    rs, cs = _sl(WETLAND_RING)
    dn[:, rs, cs] = CODE_WETLAND
    rs, cs = _sl(LAKE)
    dn[:, rs, cs] = CODE_WATER
    rs, cs = _sl(SNOW)
    dn[:, rs, cs] = CODE_SNOW
    rs, cs = _sl(CITY_CORE)
    dn[YEARS >= CITY_CORE_FIRST_YEAR, rs, cs] = CODE_URBAN
    rs, cs = _sl(CITY)
    dn[YEARS >= CITY_FIRST_YEAR, rs, cs] = CODE_URBAN
    rs, cs = _sl(FILL_CORNER)
    dn[:, rs, cs] = CODE_FILL
    rs, cs = _sl(FILL_STRIPE)
    dn[YEARS == FILL_STRIPE_YEAR, rs, cs] = CODE_FILL
    return dn


def make_landcover() -> dict[int, np.ndarray]:
    """CLCD-style land cover for 2000, 2011 and 2022 (uint8, 0 = nodata)."""
    base = np.full((HEIGHT, WIDTH), 4, dtype=np.uint8)  # grassland
    base[(LAT < 40.0) & (LON < 101.0)] = 3  # shrubland
    base[(ROWS >= 48) & (COLS >= 66)] = 1  # cropland in the south-east
    base[MOUNTAIN > 0.45] = 2  # forest on the massif
    out = {}
    for k, year in enumerate(LC_YEARS):
        lc = base.copy()
        for name, classes in AREA_LANDCOVER.items():
            lc[_sl(AREAS[name])] = classes[k]
        lc[_sl(BARREN)] = 7
        lc[_sl(BARREN_TO_GRASSLAND)] = 7 if year <= BARREN_LAST_YEAR else 4
        lc[_sl(WETLAND_RING)] = 9
        lc[_sl(LAKE)] = 5
        lc[_sl(SNOW)] = 6
        lc[_sl(CITY)] = 1
        if year >= CITY_CORE_FIRST_YEAR:
            lc[_sl(CITY_CORE)] = 8
        if year >= CITY_FIRST_YEAR:
            lc[_sl(CITY)] = 8
        lc[_sl(FILL_CORNER)] = LC_NODATA
        out[year] = lc
    return out


def make_soil_carbon(p_clim: np.ndarray) -> np.ndarray:
    """Soil organic carbon density of the top 20 cm, kg C m-2, float32; nodata on the lake."""
    soc = np.clip(1.0 + 0.02 * p_clim + 6.0 * MOUNTAIN, 1.0, 15.0)
    soc = np.round(soc, 3).astype(np.float32)
    soc[_sl(LAKE)] = CLIMATE_NODATA
    return soc


# ---------------------------------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------------------------------
def write_tif(
    path: Path,
    data: np.ndarray,
    nodata: float,
    descriptions: list[str] | None = None,
    tags: dict[str, str] | None = None,
    tiled: bool = True,
    compress: str | None = "deflate",
) -> None:
    """Write a (bands, rows, cols) array as a GeoTIFF (EPSG:4326, the sample grid)."""
    if data.ndim == 2:
        data = data[None]
    profile = {
        "driver": "GTiff",
        "width": WIDTH,
        "height": HEIGHT,
        "count": data.shape[0],
        "dtype": data.dtype.name,
        "crs": CRS.from_epsg(EPSG),
        "transform": TRANSFORM,
        "nodata": nodata,
    }
    if tiled:  # 32 x 32 tiles: several (and partial) blocks even on this small grid
        profile.update(tiled=True, blockxsize=32, blockysize=32)
    if compress:
        predictor = 3 if data.dtype.kind == "f" else 2
        profile.update(compress=compress, predictor=predictor)
    if path.exists():
        path.unlink()
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        if descriptions:
            for i, d in enumerate(descriptions, start=1):
                dst.set_band_description(i, d)
        if tags:
            dst.update_tags(**tags)


def write_regions(path: Path) -> None:
    from osgeo import gdal, ogr, osr

    gdal.UseExceptions()
    ogr.UseExceptions()
    gdal.SetConfigOption("OGR_CURRENT_DATE", "2000-01-01T00:00:00.000Z")  # fixed timestamp: reproducible bytes
    if path.exists():
        path.unlink()
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(EPSG)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    layer = ds.CreateLayer("regions", srs, ogr.wkbPolygon, options=["FID=fid"])
    layer.CreateField(ogr.FieldDefn("id", ogr.OFTInteger))
    name_field = ogr.FieldDefn("name", ogr.OFTString)
    name_field.SetWidth(32)
    layer.CreateField(name_field)
    for rid, name, ring in REGIONS:
        wkt = "POLYGON((" + ", ".join(f"{x!r} {y!r}" for x, y in ring + [ring[0]]) + "))"
        feat = ogr.Feature(layer.GetLayerDefn())
        feat.SetFID(rid)
        feat.SetField("id", rid)
        feat.SetField("name", name)
        feat.SetGeometry(ogr.CreateGeometryFromWkt(wkt))
        layer.CreateFeature(feat)
    ds = None
    gdal.SetConfigOption("OGR_CURRENT_DATE", None)


# ---------------------------------------------------------------------------------------------------------------
# signals.json
# ---------------------------------------------------------------------------------------------------------------
EXPECTED = {
    "greening": {
        "description": "significant increase of NPP: +12 g C m-2 yr-1 per year, noise sd 20",
        "sen_slope_sign": 1,
        "mk_abs_z_greater_than": 2.58,
        "trend_class_seed000": 4,
        "ols_class_seed003": 3,
        "persistence_overlay": "slope > 0 (persistent increase where H > 0.5)",
    },
    "degradation": {
        "description": "significant decrease of NPP: -10 g C m-2 yr-1 per year, noise sd 20",
        "sen_slope_sign": -1,
        "mk_abs_z_greater_than": 2.58,
        "trend_class_seed000": -4,
        "ols_class_seed003": -3,
        "persistence_overlay": "slope < 0 (persistent decrease where H > 0.5)",
    },
    "desert_edge": {
        "description": "low NPP (about 25-115) next to the barren patch: NEP = NPP - Rh(Pei, monthly) < 0",
        "nep_sign": -1,
        "nep_negative_every_year": True,
        "nep_class_seed000": "source (< 0)",
        "trend": "none planted",
    },
    "persistent": {
        "description": "NPP anomalies are a random walk (cumulative sum of N(0, 15) steps), no deterministic trend",
        "hurst_blocks_alp_greater_than": 0.6,
        "hurst_blocks_alp_mean_greater_than": 0.75,
        "hurst_blocks_alp_beyond_white_noise_95pct_fraction_greater_than": 0.5,
        "trend": "none planted; random walks often show spurious significant trends (see measured mk_z)",
    },
    "noisy": {
        "description": "white noise (sd 60) around 300, no trend; series with MK |Z| > 1.64 or OLS p < 0.1 redrawn",
        "mk_abs_z_at_most": 1.64,
        "ols_p_at_least": 0.1,
        "trend_class_seed000_in": [-1, 0, 1],
        "ols_class_seed003_in": [-1, 0, 1],
        "hurst_blocks_alp_mean_between": [0.4, 0.6],
        "cv_mean_greater_than": 0.15,
        "cv_higher_than": "stable",
    },
    "stable": {
        "description": "high mean NPP (about 700) with tiny variance (sd 4)",
        "cv_at_most": 0.02,
        "cv_class": "lowest (low fluctuation)",
    },
    "climate_driven": {
        "description": (
            "NPP anomaly = 1.0 g C m-2 per mm of annual precipitation anomaly; annual precipitation there is "
            "uncorrelated with annual temperature, and NPP has no partial correlation with temperature"
        ),
        "factors": "annual total precipitation (sum of the 12 months) and annual mean temperature",
        "partial_r_precipitation_greater_than": 0.8,
        "partial_p_precipitation_less_than": 0.01,
        "abs_partial_r_temperature_less_than": 0.1,
        "dominant_factor": "precipitation",
    },
    "peak_2010": {
        "description": "NPP rises (+18 per year) to a maximum in 2010, then declines (-14 per year), noise sd 3",
        "year_of_max": 2010,
    },
}


def hurst_white_noise_q95(n: int) -> float:
    """95% quantile of blocks_alp H on 2,000 white-noise series of length n (fixed seed)."""
    x = np.random.default_rng([SEED, 99]).normal(size=(n, 2000))
    return float(np.quantile(hurst_blocks_alp(x), 0.95))


def measure(npp_decoded: np.ndarray, rh: np.ndarray, p_annual: np.ndarray, t_annual: np.ndarray, box) -> dict:
    """Reference statistics of one box (pixels valid in every year only)."""
    rs, cs = _sl(box)
    x = npp_decoded[:, rs, cs].reshape(NY, -1)
    keep = np.isfinite(x).all(axis=0)
    x = x[:, keep]
    t = YEARS.astype(float)
    slope, tstat = ols(x, t)
    nep = x - rh[:, rs, cs].reshape(NY, -1)[:, keep]
    p = p_annual[:, rs, cs].reshape(NY, -1)[:, keep]
    tm = t_annual[:, rs, cs].reshape(NY, -1)[:, keep]
    cv = x.std(axis=0, ddof=1) / np.abs(x.mean(axis=0))
    year_of_max = YEARS[np.argmax(x, axis=0)]
    return {
        "n_pixels": int(keep.sum()),
        "npp_mean": _summary(x.mean(axis=0), 2),
        "ols_slope": _summary(slope),
        "ols_t": _summary(tstat),
        "sen_slope": _summary(sen_slope(x, t)),
        "mk_z": _summary(mann_kendall_z(x)),
        "cv_ddof1": _summary(cv),
        "hurst_blocks_alp": _summary(hurst_blocks_alp(x)),
        "year_of_max": sorted({int(v) for v in year_of_max}),
        "nep_pei_monthly_mean": _summary(nep.mean(axis=0), 2),
        "nep_positive_fraction": round(float((nep > 0).mean()), 4),
        "partial_r_precipitation": _summary(partial_r(x, p, tm)),
        "partial_r_temperature": _summary(partial_r(x, tm, p)),
        "r_precipitation_temperature": _summary(pearson_r(p, tm)),
    }


def main(argv: list[str]) -> int:
    here = Path(__file__).resolve().parent
    out = Path(argv[1]) if len(argv) > 1 else here / "data"
    out.mkdir(parents=True, exist_ok=True)
    (out / "npp_modis").mkdir(exist_ok=True)

    clim = make_climate()
    temp = clim["temperature"]  # (24, 12, rows, cols) float32
    prec = clim["precipitation"]
    t_annual = temp.astype(np.float64).mean(axis=1)
    p_annual = prec.astype(np.float64).sum(axis=1)
    rh = pei_rh_annual(temp, prec)
    npp = make_npp(clim, p_annual, rh)
    dn = encode_npp(npp)
    landcover = make_landcover()
    soc = make_soil_carbon(clim["p_clim"])

    npp_tags = {
        "PRODUCT": "MOD17A3HGF-like sample (synthetic)",
        "LAYER": "Npp_500m",
        "UNITS": "kg C m-2",
        "SCALE_FACTOR": "0.0001",
        "VALID_RANGE": "-30000,32700",
        "LAND_CODES": "32761 unclassified, 32762 urban, 32763 wetland, 32764 snow/ice, 32765 barren, 32766 water, "
        "32767 fill",
    }
    for k, year in enumerate(YEARS):
        write_tif(
            out / "npp_modis" / f"MOD17A3HGF.A{year}001.sample.Npp_500m.tif",
            dn[k],
            NPP_NODATA,
            tags=npp_tags,
            tiled=False,
            compress=None,
        )
    year_names = [str(y) for y in YEARS]
    write_tif(out / "npp_modis_stack.tif", dn, NPP_NODATA, year_names, npp_tags)
    month_names = [f"{y}-{m:02d}" for y in YEARS for m in range(1, 13)]
    write_tif(
        out / "temperature_monthly.tif",
        temp.reshape(NY * NM, HEIGHT, WIDTH),
        CLIMATE_NODATA,
        month_names,
        {"VARIABLE": "monthly mean air temperature", "UNITS": "deg C", "TIME_STEP": "month, January first"},
    )
    write_tif(
        out / "precipitation_monthly.tif",
        prec.reshape(NY * NM, HEIGHT, WIDTH),
        CLIMATE_NODATA,
        month_names,
        {"VARIABLE": "monthly precipitation", "UNITS": "mm", "TIME_STEP": "month, January first"},
    )
    write_tif(
        out / "temperature_annual.tif",
        t_annual.astype(np.float32),
        CLIMATE_NODATA,
        year_names,
        {"VARIABLE": "annual mean air temperature (mean of the 12 months)", "UNITS": "deg C", "TIME_STEP": "year"},
    )
    write_tif(
        out / "precipitation_annual.tif",
        p_annual.astype(np.float32),
        CLIMATE_NODATA,
        year_names,
        {"VARIABLE": "annual precipitation (sum of the 12 months)", "UNITS": "mm", "TIME_STEP": "year"},
    )
    write_tif(
        out / "soil_carbon.tif",
        soc,
        CLIMATE_NODATA,
        ["soil organic carbon density 0-20 cm"],
        {"VARIABLE": "soil organic carbon density, top 20 cm", "UNITS": "kg C m-2"},
    )
    for year, lc in landcover.items():
        write_tif(
            out / f"landcover_{year}.tif",
            lc,
            LC_NODATA,
            [str(year)],
            {"SCHEME": "CLCD", "CLASSES": "; ".join(f"{k} {v}" for k, v in LC_CLASSES.items()), "YEAR": str(year)},
        )
    write_regions(out / "regions.gpkg")

    # Reference statistics on the decoded NPP (codes -> NaN), as the toolbox will see it.
    decoded = np.where(dn > 32700, np.nan, dn.astype(np.float64) * 0.1)
    q95 = hurst_white_noise_q95(NY)
    areas = []
    for name, box in AREAS.items():
        entry = {"name": name, **_box_json(box)}
        entry["land_cover"] = dict(zip(map(str, LC_YEARS), (LC_CLASSES[c] for c in AREA_LANDCOVER[name])))
        entry["expected"] = dict(EXPECTED[name])
        measured = measure(decoded, rh, p_annual, t_annual, box)
        rs, cs = _sl(box)
        h = hurst_blocks_alp(decoded[:, rs, cs].reshape(NY, -1))
        measured["hurst_blocks_alp_fraction_above_white_noise_q95"] = round(float((h > q95).mean()), 4)
        entry["measured"] = measured
        nep_frac = measured["nep_positive_fraction"]
        entry["expected"]["nep_sign"] = 1 if nep_frac > 0.5 else -1
        entry["expected"]["nep_positive_fraction"] = nep_frac
        areas.append(entry)
    _check_expectations(areas)

    in_any = np.zeros((HEIGHT, WIDTH), dtype=bool)
    for box in list(AREAS.values()) + [BARREN, BARREN_TO_GRASSLAND, WETLAND_RING, SNOW, CITY, FILL_CORNER, FILL_STRIPE]:
        in_any |= _box_mask(box)
    bg = decoded[:, ~in_any]
    bg_nep = bg - rh[:, ~in_any]
    background = {
        "description": "moderate NPP (250-500, higher to the wet south-east), white noise sd 15, no trend",
        "n_pixels": int((~in_any).sum()),
        "npp_mean": _summary(bg.mean(axis=0), 2),
        "nep_positive_fraction": round(float((bg_nep > 0).mean()), 4),
        "nep_pei_monthly_mean": _summary(bg_nep.mean(axis=0), 2),
    }

    features = [
        {"name": "barren", "kind": "npp_code", "code": CODE_BARREN, "years": [int(YEARS[0]), int(YEARS[-1])],
         "land_cover": "barren (7) in 2000, 2011, 2022", **_box_json(BARREN)},
        {"name": "barren_to_grassland", "kind": "npp_code", "code": CODE_BARREN,
         "years": [int(YEARS[0]), BARREN_LAST_YEAR],
         "land_cover": "barren (7) in 2000, grassland (4) in 2011 and 2022; valid low NPP from 2007",
         **_box_json(BARREN_TO_GRASSLAND)},
        {"name": "wetland", "kind": "npp_code", "code": CODE_WETLAND, "years": [int(YEARS[0]), int(YEARS[-1])],
         "excluding": "lake", "land_cover": "wetland (9), a ring around the lake", **_box_json(WETLAND_RING)},
        {"name": "lake", "kind": "npp_code", "code": CODE_WATER, "years": [int(YEARS[0]), int(YEARS[-1])],
         "land_cover": "water (5); soil_carbon nodata", **_box_json(LAKE)},
        {"name": "snow", "kind": "npp_code", "code": CODE_SNOW, "years": [int(YEARS[0]), int(YEARS[-1])],
         "land_cover": "snow/ice (6)", **_box_json(SNOW)},
        {"name": "city_core", "kind": "npp_code", "code": CODE_URBAN, "years": [CITY_CORE_FIRST_YEAR, int(YEARS[-1])],
         "land_cover": "cropland (1) in 2000 and 2011, impervious/urban (8) in 2022", **_box_json(CITY_CORE)},
        {"name": "city", "kind": "npp_code", "code": CODE_URBAN, "years": [CITY_FIRST_YEAR, int(YEARS[-1])],
         "note": "contains city_core (urban from 2012); the rest of the box is urban from 2017",
         "land_cover": "cropland (1) in 2000 and 2011, impervious/urban (8) in 2022", **_box_json(CITY)},
        {"name": "fill_corner", "kind": "npp_code", "code": CODE_FILL, "years": [int(YEARS[0]), int(YEARS[-1])],
         "land_cover": "nodata (0)", **_box_json(FILL_CORNER)},
        {"name": "fill_stripe", "kind": "npp_code", "code": CODE_FILL, "years": [FILL_STRIPE_YEAR, FILL_STRIPE_YEAR],
         "note": "one missing year: these pixels have 23 valid years", **_box_json(FILL_STRIPE)},
    ]  # fmt: skip
    transitions = [
        {"name": "greening_afforestation", "from_year": 2000, "to_year": 2011, "from_class": 4, "to_class": 2,
         **_box_json(AREAS["greening"])},
        {"name": "desert_recovery", "from_year": 2000, "to_year": 2011, "from_class": 7, "to_class": 4,
         **_box_json(BARREN_TO_GRASSLAND)},
        {"name": "urbanisation", "from_year": 2011, "to_year": 2022, "from_class": 1, "to_class": 8,
         **_box_json(CITY)},
    ]  # fmt: skip
    signals = {
        "description": "Deterministic synthetic study area of the Carbon Sink Toolbox; see sample/README.md",
        "generator": "sample/make_sample_data.py",
        "seed": SEED,
        "grid": {
            "crs": f"EPSG:{EPSG}",
            "width": WIDTH,
            "height": HEIGHT,
            "transform": [RES, 0.0, WEST, 0.0, -RES, NORTH],
            "bounds": {"west": WEST, "east": WEST + WIDTH * RES, "south": NORTH - HEIGHT * RES, "north": NORTH},
            "pixel_box_convention": "half-open [row0, row1) x [col0, col1); row 0 is the north edge (lat 44)",
        },
        "years": [int(y) for y in YEARS],
        "files": {
            "npp_single": "npp_modis/MOD17A3HGF.A{year}001.sample.Npp_500m.tif",
            "npp_stack": "npp_modis_stack.tif",
            "temperature_monthly": "temperature_monthly.tif",
            "precipitation_monthly": "precipitation_monthly.tif",
            "temperature_annual": "temperature_annual.tif",
            "precipitation_annual": "precipitation_annual.tif",
            "soil_carbon": "soil_carbon.tif",
            "landcover": "landcover_{year}.tif",
            "regions": "regions.gpkg",
        },
        "land_cover_years": list(LC_YEARS),
        "land_cover_classes": {str(k): v for k, v in LC_CLASSES.items()},
        "npp_encoding": {
            "dtype": "int16",
            "dn": "round(NPP[g C m-2 yr-1] * 10)",
            "decode": "NPP = DN * 0.1 for DN <= 32700",
            "nodata": NPP_NODATA,
            "codes_present": [CODE_URBAN, CODE_WETLAND, CODE_SNOW, CODE_BARREN, CODE_WATER, CODE_FILL],
        },
        "reference_methods": {
            "rh": "Pei et al. 2009, monthly: 0.22 (exp(0.0912 T) + ln(0.3145 P + 1)) 30 0.465, summed over 12 months",
            "nep": "NPP - Rh",
            "trend": "OLS slope per year, Sen slope, Mann-Kendall Z with tie correction (METHODS.md)",
            "hurst": "blocks_alp (METHODS.md)",
            "hurst_blocks_alp_white_noise_q95_n24": round(q95, 4),
            "cv": "std (ddof 1) / |mean|",
            "partial_r": "of NPP with one factor controlling for the other (annual precipitation, annual temperature)",
            "measured_on": "decoded NPP (DN * 0.1) of the pixels valid in every year; min / mean / max over pixels",
        },
        "areas": areas,
        "background": background,
        "land_features": features,
        "land_cover_transitions": transitions,
        "regions": [
            {"id": rid, "name": name, "ring_lonlat": [list(p) for p in ring + [ring[0]]]} for rid, name, ring in REGIONS
        ],
        "region_boundary_on_pixel_edges": {"lon": 101.0, "lat_from": 40.0, "lat_to": 44.0, "col_edge": 50},
    }
    with open(out / "signals.json", "w", encoding="utf-8") as f:
        json.dump(signals, f, indent=1)
        f.write("\n")
    return 0


def _check_expectations(areas: list[dict]) -> None:
    """Fail loudly if a planted signal does not come out as documented (guards future edits)."""
    by = {a["name"]: a["measured"] for a in areas}
    ok = [
        by["greening"]["mk_z"]["min"] > 2.58 and by["greening"]["sen_slope"]["min"] > 0,
        by["degradation"]["mk_z"]["max"] < -2.58 and by["degradation"]["sen_slope"]["max"] < 0,
        by["desert_edge"]["nep_positive_fraction"] == 0.0,
        by["persistent"]["hurst_blocks_alp"]["min"] > 0.6 and by["persistent"]["hurst_blocks_alp"]["mean"] > 0.75,
        by["persistent"]["hurst_blocks_alp_fraction_above_white_noise_q95"] > 0.5,
        max(abs(by["noisy"]["mk_z"]["min"]), abs(by["noisy"]["mk_z"]["max"])) <= 1.64,
        0.4 <= by["noisy"]["hurst_blocks_alp"]["mean"] <= 0.6,
        by["noisy"]["cv_ddof1"]["mean"] > 0.15,
        by["stable"]["cv_ddof1"]["max"] <= 0.02,
        by["climate_driven"]["partial_r_precipitation"]["min"] > 0.8,
        max(
            abs(by["climate_driven"]["partial_r_temperature"]["min"]),
            by["climate_driven"]["partial_r_temperature"]["max"],
        )
        < 0.1,
        by["peak_2010"]["year_of_max"] == [2010],
    ]
    if not all(ok):
        raise RuntimeError(f"planted signals not recovered: {ok}")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
