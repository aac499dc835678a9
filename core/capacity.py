"""Carbon sink carrying capacity (CSCC), increase potential and saturation (seed 001, section 3.1).

Per pixel, from an annual NPP stack ``NPP_i`` (g C m-2 yr-1, one value per year ``i``):

    CSCC       = max_i NPP_i                          (seed 001 eq. 4, "maximum synthesis")
    PCS_i      = CSCC - NPP_i                         (seed 001 eq. 5, increase potential, g C m-2 yr-1)
    saturation = 100 * NPP_i / CSCC                   (percent of the carrying capacity reached in year i)

and per year, over the whole raster (or a zone), totals in Tg C yr-1 = sum(value [g C m-2] x area [m2]) x 1e-12
(METHODS.md "Areas and totals").

Everything is per pixel except the yearly totals, which are computed block by block as partial sums
(:func:`cscc_year_partials`), merged (:func:`merge_partials`) and turned into a table (:func:`cscc_year_table`),
so the engine never needs more than one block in memory.

Reference: Wu, L. et al. (2023) Characteristics of vegetation carbon sink carrying capacity and restoration
potential of China in recent 40 years. Front. For. Glob. Change 6:1266688 (seed 001).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import InputError

#: Nodata of the year-of-maximum raster (int32): written where a pixel has no valid year.
YEAR_NODATA = -9999

#: Tg C per (g C m-2 x m2).
G_TO_TG = 1e-12

#: Columns of the ``cscc`` OUTPUT_TABLE, in order (ALGORITHMS.md).
TABLE_COLUMNS = ("year", "total_npp_tgc", "total_cscc_tgc", "potential_tgc", "saturation_pct")

_PARTIAL_KEYS = ("sum_npp_area", "sum_cscc_area", "valid_pixels", "valid_area_m2")


def _as_stack(npp: np.ndarray, name: str = "NPP") -> np.ndarray:
    x = np.asarray(npp, dtype=np.float64)
    if x.ndim == 0:
        raise InputError(f"{name} must be a stack with time (years) on the first axis, got a single value")
    if x.shape[0] == 0:
        raise InputError(f"{name} has no years (no bands): give one band per year")
    if np.isinf(x).any():
        raise InputError(f"{name} contains infinite values: set them to nodata (NaN) or fix the input")
    return x


def _check_years(years: Sequence[float] | np.ndarray, n: int, integer: bool = True) -> np.ndarray:
    y = np.asarray(years, dtype=np.float64)
    if y.ndim != 1 or y.shape[0] != n:
        raise InputError(f"got {y.size} years for a stack of {n} bands: give exactly one year per band")
    if not np.all(np.isfinite(y)):
        raise InputError("the years contain non-finite values: give one whole-number year per band")
    if integer and not np.all(y == np.round(y)):
        raise InputError("the years must be whole numbers (one band per calendar year)")
    if n > 1 and not np.all(np.diff(y) > 0):
        raise InputError("the years must be strictly increasing: one band per year, oldest first")
    return y


def cscc(npp: np.ndarray, years: Sequence[int] | np.ndarray) -> dict[str, np.ndarray]:
    """Carbon sink carrying capacity, year of the maximum, increase potential and saturation per pixel.

    Parameters
    ----------
    npp : array ``(T, ...)``, annual NPP in g C m-2 yr-1, one band per year (time on axis 0), NaN = missing.
        Negative values are valid data. Infinite values raise :class:`InputError`.
    years : the ``T`` calendar years of the bands (whole numbers, strictly increasing).

    Returns
    -------
    dict with

    ``max`` : float64 ``(...)``, CSCC = max over the valid years of NPP_i (seed 001 eq. 4), g C m-2 yr-1.
        NaN years are ignored; NaN where every year is NaN.
    ``year_of_max`` : int32 ``(...)``, the calendar year in which the maximum was reached; on ties the first
        (earliest) such year; :data:`YEAR_NODATA` (-9999) where every year is NaN.
    ``potential`` : float64 ``(T, ...)``, increase potential PCS_i = CSCC - NPP_i (seed 001 eq. 5),
        g C m-2 yr-1, >= 0; NaN where NPP_i is NaN.
    ``saturation`` : float64 ``(T, ...)``, 100 * NPP_i / CSCC in percent (<= 100). NaN where NPP_i is NaN or
        where CSCC <= 0 (a pixel whose best year is not a positive NPP has no meaningful capacity; the ratio
        would flip sign or divide by zero).

    Notes
    -----
    Annual time step. Reference: Wu et al. (2023), seed 001, section 3.1.
    """
    x = _as_stack(npp)
    y = _check_years(years, x.shape[0])
    mx = np.fmax.reduce(x, axis=0)  # fmax skips NaN; NaN only where every year is NaN
    any_valid = ~np.isnan(mx)
    idx = np.argmax(x == mx[np.newaxis], axis=0)  # first year equal to the maximum
    year_of_max = np.where(any_valid, y.astype(np.int64)[idx], YEAR_NODATA).astype(np.int32)
    potential = mx[np.newaxis] - x
    with np.errstate(divide="ignore", invalid="ignore"):
        saturation = np.divide(x, mx[np.newaxis])
        saturation *= 100.0
        saturation[:, ~(mx > 0)] = np.nan
    return {"max": mx, "year_of_max": year_of_max, "potential": potential, "saturation": saturation}


def cscc_year_partials(npp: np.ndarray, cscc_max: np.ndarray, area_m2: float | np.ndarray) -> dict[str, np.ndarray]:
    """Per-year area-weighted sums of one block, to be merged over blocks and turned into the CSCC table.

    Parameters
    ----------
    npp : array ``(T, ...)``, annual NPP of the block in g C m-2 yr-1 (NaN = missing).
    cscc_max : array ``(...)``, the block's CSCC (``cscc(npp, years)["max"]``), g C m-2 yr-1.
    area_m2 : pixel areas in m2, a scalar or an array broadcastable to ``(...)`` (e.g. ``(rows, 1)`` per-row
        areas on a geographic grid). Pixels with a non-finite area are left out.

    Returns
    -------
    dict of ``(T,)`` arrays, summed over the pixels valid in year i (NPP_i, CSCC and area all finite):

    ``sum_npp_area`` : sum of NPP_i x area (g C yr-1), float64.
    ``sum_cscc_area`` : sum of CSCC x area over the same pixels (g C yr-1), float64.
    ``valid_pixels`` : number of such pixels, int64.
    ``valid_area_m2`` : their total area, float64.

    Merge blocks with :func:`merge_partials`; the merged sums equal those of the whole raster up to float64
    rounding, whatever the block split.
    """
    x = _as_stack(npp)
    mx = np.asarray(cscc_max, dtype=np.float64)
    if mx.shape != x.shape[1:]:
        raise InputError(f"the CSCC array has shape {mx.shape} but the NPP bands have shape {x.shape[1:]}")
    area = np.asarray(area_m2, dtype=np.float64)
    try:
        area = np.broadcast_to(area, mx.shape)
    except ValueError:
        raise InputError(f"pixel areas of shape {area.shape} do not fit a block of shape {mx.shape}") from None
    with np.errstate(invalid="ignore"):
        if np.any(area < 0):
            raise InputError("pixel areas must be >= 0 m2")
    base = np.isfinite(mx) & np.isfinite(area)
    t = x.shape[0]
    out = {
        "sum_npp_area": np.zeros(t),
        "sum_cscc_area": np.zeros(t),
        "valid_pixels": np.zeros(t, dtype=np.int64),
        "valid_area_m2": np.zeros(t),
    }
    for i in range(t):
        ok = base & ~np.isnan(x[i])
        a = area[ok]
        out["sum_npp_area"][i] = np.sum(x[i][ok] * a)
        out["sum_cscc_area"][i] = np.sum(mx[ok] * a)
        out["valid_pixels"][i] = np.count_nonzero(ok)
        out["valid_area_m2"][i] = np.sum(a)
    return out


def merge_partials(*parts: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    """Sum the per-year partial results of several blocks (``None`` entries are skipped).

    ``merge_partials(a, b)`` is what the engine's ``merge`` callback needs; any number of parts is accepted.
    The inputs are not modified.
    """
    present = [p for p in parts if p is not None]
    if not present:
        raise InputError("merge_partials needs at least one partial result")
    first = present[0]
    out = {k: np.array(first[k], copy=True) for k in _PARTIAL_KEYS}
    for p in present[1:]:
        for k in _PARTIAL_KEYS:
            v = np.asarray(p[k])
            if v.shape != out[k].shape:
                raise InputError(f"cannot merge partial results over {v.shape} and {out[k].shape} years")
            out[k] = out[k] + v
    return out


def cscc_year_table(partials: dict[str, np.ndarray], years: Sequence[int] | np.ndarray) -> list[dict]:
    """Rows of the ``cscc`` OUTPUT_TABLE from merged partial sums.

    Parameters
    ----------
    partials : merged output of :func:`cscc_year_partials` over all blocks (or over one zone's blocks).
    years : the ``T`` calendar years.

    Returns
    -------
    list of ``T`` dicts with exactly the keys ``year, total_npp_tgc, total_cscc_tgc, potential_tgc,
    saturation_pct``:

    - ``total_npp_tgc`` = sum(NPP_i x area) x 1e-12, Tg C yr-1, over the pixels valid in year i;
    - ``total_cscc_tgc`` = sum(CSCC x area) x 1e-12 over the same pixels (constant over the years when no
      year has gaps; with gaps it follows the valid pixels so that the ratio compares like with like);
    - ``potential_tgc`` = total_cscc_tgc - total_npp_tgc (the summed PCS_i of seed 001 eq. 5);
    - ``saturation_pct`` = 100 x total_npp / total_cscc (NaN when total_cscc <= 0).

    A year without any valid pixel gets NaN totals (not 0, which would read as "no carbon").
    """
    y = np.asarray(years)
    for k in _PARTIAL_KEYS:
        if k not in partials:
            raise InputError(f"the partial results lack '{k}': build them with cscc_year_partials")
    t = np.asarray(partials["sum_npp_area"]).shape[0]
    y = _check_years(y, t)
    rows = []
    for i in range(t):
        n = int(partials["valid_pixels"][i])
        if n == 0:
            npp_tg = cscc_tg = np.nan
        else:
            npp_tg = float(partials["sum_npp_area"][i]) * G_TO_TG
            cscc_tg = float(partials["sum_cscc_area"][i]) * G_TO_TG
        sat = 100.0 * npp_tg / cscc_tg if n and cscc_tg > 0 else float("nan")
        rows.append(
            {
                "year": int(y[i]),
                "total_npp_tgc": float(npp_tg),
                "total_cscc_tgc": float(cscc_tg),
                "potential_tgc": float(cscc_tg - npp_tg),
                "saturation_pct": float(sat),
            }
        )
    return rows
