"""Zones and zonal reports: zone assignment, per-zone statistics and trends, class areas, transition matrices.

Everything here is built for the block engine (:func:`core.engine.run_blocks`): each aggregation is split into

- a *partial* result computed on one block in a worker thread (``*_partials``),
- a *merge* of two partials (``merge_*``), called in window order in the main thread (associative, so any split
  of the raster into blocks gives the same result up to rounding),
- a *finalize* step turning the merged partials into table rows (``*_table``) with the public column names of
  ``ALGORITHMS.md``.

Zones
-----
- Polygons (:func:`rasterize_zones`) are rasterized on the data grid: a pixel belongs to a polygon when its
  **centre** is inside the polygon (GDAL rasterization, ``all_touched=False``). A polygon too small to contain any
  pixel centre gets no pixel (its rows say valid area 0). Where polygons overlap, each pixel belongs to exactly one
  zone: the **last** geometry in the order given wins (it is burnt last). :data:`RASTERIZE_HELP` says this for
  the algorithms' help.
- A categorical raster (:func:`zones_from_raster`) gives one zone per distinct value (NaN = outside every zone).

Areas and weights (METHODS.md "Areas and totals")
-------------------------------------------------
Every statistic is area-weighted with the pixel areas of :func:`core.area.pixel_area_m2` (ellipsoidal per row in
a geographic CRS, ``|det(affine)|`` in a projected CRS):

- valid area ``A = sum w_i`` over the zone's pixels with a valid value that year (m2, reported in km2);
- mean ``m = sum w_i x_i / A``;
- std: area-weighted population standard deviation ``sqrt(sum w_i (x_i - m)^2 / A)``;
- total (Tg C) ``= sum(x_i [g C m-2] x w_i [m2]) x 1e-12`` (meaningful for carbon densities in g C m-2);
- class area ``= sum w_i`` over the pixels of a class, share % = 100 x class area / classified area of the zone.

The weighted variance is merged across blocks with the pairwise update of Chan, Golub & LeVeque (1979),
"Updating formulae and a pairwise algorithm for computing sample variances": with areas ``A_a, A_b``, means
``m_a, m_b`` and sums of squared deviations ``M2_a, M2_b``,
``M2 = M2_a + M2_b + (m_b - m_a)^2 A_a A_b / (A_a + A_b)``; within a block ``M2`` is computed in two passes
(mean first, then squared deviations), never as a difference of sums of squares.
"""

from __future__ import annotations

import json
import math
import os
import re
import xml.etree.ElementTree as ET
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np

from .errors import InputError

#: Name of the whole-raster zone in the tables.
ALL_ZONE = "all"

#: What the algorithms' help says about polygon zones.
RASTERIZE_HELP = (
    "Polygon zones are rasterized on the grid of the input raster: a pixel belongs to a polygon when the centre "
    "of the pixel lies inside it (its area counts whole, never a fraction). A polygon smaller than a pixel may "
    "contain no pixel centre and then has no valid area. Where polygons overlap, a pixel belongs to one zone "
    "only: the feature that comes last. Features with the same zone field value form one zone. The polygons are "
    "reprojected to the raster's CRS first."
)

#: Columns of the tables, in order (ALGORITHMS.md).
ZONAL_COLUMNS = ("zone", "year", "valid_area_km2", "mean", "std", "min", "max", "total_tgc")
TREND_COLUMNS = ("zone", "sen_slope", "mk_z", "mk_p", "ols_slope", "ols_p")
#: Extra columns of :func:`zone_trends` (after :data:`TREND_COLUMNS`): the lines' values at the first year.
TREND_EXTRA_COLUMNS = ("sen_intercept", "ols_intercept", "n_years")
CLASS_AREA_COLUMNS = ("zone", "year", "class", "label", "area_km2", "share_pct")
TRANSITION_COLUMNS = ("from_class", "to_class", "area_km2", "from_label", "to_label")

_ZONAL_KEYS = ("area", "sum", "m2", "min", "max", "count")

#: Above this span of codes (max - min + 1) class codes are indexed through a sort instead of directly.
_DIRECT_SPAN = 1 << 16


# ------------------------------------------------------------------------------------------------ helpers


def _zone_array(zones: Optional[np.ndarray], n_zones: Optional[int], shape: tuple[int, ...]) -> tuple[np.ndarray, int]:
    """Flat int64 zone index (-1 outside) and the zone count, checked against ``shape``.

    ``zones=None`` means one zone covering the whole block (``n_zones`` must then be None or 1).
    """
    npx = int(np.prod(shape, dtype=np.int64))
    if zones is None:
        if n_zones not in (None, 1):
            raise InputError(f"n_zones is {n_zones} but no zones were given: without zones there is one zone")
        return np.zeros(npx, dtype=np.int64), 1
    if n_zones is None:
        raise InputError("n_zones is needed with zones (a block need not contain every zone, so it is not inferred)")
    nz = int(n_zones)
    if nz != n_zones or nz < 0:
        raise InputError(f"n_zones must be a whole number >= 0; got {n_zones}")
    z = np.asarray(zones)
    if z.shape != tuple(shape):
        raise InputError(f"the zones have shape {z.shape} but the values have pixels of shape {tuple(shape)}")
    if z.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            bad = np.isinf(z) | (np.isfinite(z) & (z != np.round(z)))
        if bad.any():
            raise InputError("zone indices must be whole numbers (0..n_zones-1; -1 or NaN outside every zone)")
        z = np.where(np.isnan(z), -1, z)
    elif z.dtype.kind not in "iub":
        raise InputError(f"zone indices must be integers, got dtype {z.dtype}")
    z = z.astype(np.int64).reshape(-1)
    if z.size and (z.min() < -1 or z.max() >= nz):
        raise InputError(f"zone indices must be in 0..{nz - 1}, or -1 outside every zone")
    return z, nz


def _area_array(area_m2: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Pixel areas (m2) broadcast to ``shape`` and flattened; must be finite and >= 0."""
    a = np.asarray(area_m2, dtype=np.float64)
    try:
        a = np.broadcast_to(a, shape)
    except ValueError:
        raise InputError(
            f"pixel areas of shape {np.shape(area_m2)} do not fit pixels of shape {tuple(shape)}: give (rows, 1) "
            "areas from core.area.pixel_area_m2 or a scalar"
        ) from None
    a = a.reshape(-1)
    if a.size and not (np.all(np.isfinite(a)) and a.min() >= 0.0):
        raise InputError("pixel areas must be finite and >= 0 (m2)")
    return a


def _check_names(zone_names: Sequence[Any], n: int, what: str) -> list[str]:
    names = [str(z) for z in zone_names]
    if len(names) != n:
        raise InputError(f"{what} has {n} zones of sums but {len(names)} zone names were given")
    return names


def _check_table_years(years: Sequence[Any], n: int, what: str) -> list[int]:
    ys = [int(y) for y in years]
    if len(ys) != n:
        raise InputError(f"{what} has {n} years of sums but {len(ys)} years were given")
    return ys


def _f(v: Any) -> float:
    return float(v)


# ------------------------------------------------------------------------------------------ zone assignment


def _geometry(geom: Any) -> Optional[dict]:
    """A GeoJSON-like mapping of a Polygon / MultiPolygon, or None for an empty geometry."""
    if geom is None:
        return None
    if hasattr(geom, "__geo_interface__"):
        geom = geom.__geo_interface__
    if not isinstance(geom, Mapping) or "type" not in geom:
        raise InputError(f"a zone geometry must be a GeoJSON-like Polygon or MultiPolygon mapping; got {type(geom)}")
    kind = geom["type"]
    if kind not in ("Polygon", "MultiPolygon"):
        raise InputError(
            f"zones must be polygons, but a zone geometry is a {kind}: use a polygon layer (or buffer the features)"
        )
    if not geom.get("coordinates"):
        return None
    return dict(geom)


def zone_ids_from_names(names: Sequence[Any]) -> tuple[np.ndarray, list[str]]:
    """Zone index of each feature and the zone names: features with the same name form one zone.

    Parameters
    ----------
    names : the ``ZONE_FIELD`` value of each feature, in feature order (None becomes the text ``"NULL"``).

    Returns
    -------
    (ids, zone_names): ``ids[i]`` is the zone of feature ``i`` (0..n-1, numbered in order of first appearance);
    pass it to :func:`rasterize_zones` as ``zone_ids``.
    """
    index: dict[str, int] = {}
    ids = np.empty(len(names), dtype=np.int32)
    for i, name in enumerate(names):
        key = "NULL" if name is None else str(name)
        ids[i] = index.setdefault(key, len(index))
    return ids, list(index)


def rasterize_zones(
    geometries: Sequence[Any],
    transform: Any,
    shape: tuple[int, int],
    zone_ids: Optional[Sequence[int]] = None,
) -> np.ndarray:
    """Zone index of every pixel of a grid (or of a window of it) from polygons: pixel-centre rule.

    Parameters
    ----------
    geometries : GeoJSON-like Polygon / MultiPolygon mappings (or objects with ``__geo_interface__``), already in
        the raster's CRS. None or empty geometries burn nothing.
    transform : affine transform of the grid; for a block, the window's transform
        (``rasterio.windows.transform(window, grid_transform)``).
    shape : (rows, cols) of the grid or window.
    zone_ids : zone index burnt for each geometry (default ``0..n-1`` in the order of ``geometries``); several
        geometries may share an index (see :func:`zone_ids_from_names`).

    Returns
    -------
    int32 ``(rows, cols)``: the zone index of the pixel (``0..n-1``), -1 outside every polygon.

    Notes
    -----
    A pixel belongs to a polygon when its centre is inside (GDAL rasterization through
    ``rasterio.features.rasterize`` with ``all_touched=False``); polygon edges on pixel edges therefore take
    exactly the pixels they enclose. A centre lying exactly on a polygon's boundary follows GDAL's scan-line rule
    (inside on the right and on horizontal edges, outside on the left edge), so two polygons sharing such an
    edge may both claim the pixel. Where polygons overlap, the geometry burnt **last** (the later one in
    ``geometries``) wins: every pixel is in at most one zone, none is counted twice. Rasterizing the whole grid
    or any window of it gives the same indices when the window transforms are exact (e.g. dyadic pixel sizes);
    otherwise a centre exactly on a boundary may flip by the last bit of a coordinate.
    """
    from rasterio.features import rasterize  # imported here: rasterio is only needed for polygon zones

    rows, cols = (int(s) for s in shape)
    if rows < 0 or cols < 0:
        raise InputError(f"invalid grid shape {shape}")
    ids = np.arange(len(geometries)) if zone_ids is None else np.asarray(zone_ids)
    if ids.shape != (len(geometries),):
        raise InputError(f"zone_ids has {ids.size} values for {len(geometries)} geometries: give one per geometry")
    if ids.size and (ids.dtype.kind not in "iu" or ids.min() < 0 or ids.max() > np.iinfo(np.int32).max):
        raise InputError("zone_ids must be whole numbers >= 0")
    shapes = []
    for geom, zid in zip(geometries, ids):
        g = _geometry(geom)
        if g is not None:
            shapes.append((g, int(zid)))
    out = np.full((rows, cols), -1, dtype=np.int32)
    if not shapes or rows == 0 or cols == 0:
        return out
    return rasterize(shapes, out_shape=(rows, cols), transform=transform, fill=-1, all_touched=False, dtype="int32")


def overlap_pixels(geometries: Sequence[Any], transform: Any, shape: tuple[int, int]) -> int:
    """Number of pixels of the grid (or window) whose centre lies in more than one of ``geometries``.

    For a warning: those pixels are given to the last polygon only (see :func:`rasterize_zones`). Pixels whose
    centre is exactly on an edge shared by two polygons may count here too (GDAL's scan-line rule).
    """
    from rasterio.enums import MergeAlg
    from rasterio.features import rasterize

    shapes = [(g, 1) for g in (_geometry(x) for x in geometries) if g is not None]
    rows, cols = (int(s) for s in shape)
    if not shapes or rows == 0 or cols == 0:
        return 0
    counts = rasterize(
        shapes, out_shape=(rows, cols), transform=transform, fill=0, all_touched=False, dtype="int32",
        merge_alg=MergeAlg.add,
    )  # fmt: skip
    return int(np.count_nonzero(counts > 1))


def distinct_values_partial(block: np.ndarray) -> np.ndarray:
    """Sorted distinct finite values of one block of a categorical zone raster (NaN / inf = outside).

    First pass of :func:`zones_from_raster` over a raster read block by block: merge the blocks' results with
    :func:`merge_distinct_values`, then map every block with ``zones_from_raster(block, zone_values=merged)``.
    """
    v = np.asarray(block, dtype=np.float64).reshape(-1)
    return np.unique(v[np.isfinite(v)])


def merge_distinct_values(a: Optional[np.ndarray], b: Optional[np.ndarray]) -> np.ndarray:
    """Union (sorted) of two results of :func:`distinct_values_partial` (``None`` counts as empty)."""
    if a is None:
        a = np.empty(0)
    if b is None:
        b = np.empty(0)
    return np.union1d(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))


def zones_from_raster(values: np.ndarray, zone_values: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
    """Zone index of every pixel of a categorical raster: one zone per distinct value.

    Parameters
    ----------
    values : ``(rows, cols)`` (any shape) zone codes; NaN (the raster's nodata) or inf = outside every zone.
        A leading band axis of length 1 is dropped.
    zone_values : the sorted distinct values of the whole raster (from :func:`distinct_values_partial` merged over
        all blocks), so every block numbers zones the same way. Default: the distinct values of ``values``
        (right for a raster processed in one piece only). Values not in ``zone_values`` are outside (-1).

    Returns
    -------
    (zone_index, zone_values): int32 array of the shape of ``values`` with ``0..n-1`` (the position of the pixel's
    value in ``zone_values``), -1 outside; and the float64 sorted zone values (use :func:`zone_value_names` for
    their names in tables).
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 3 and v.shape[0] == 1:
        v = v[0]
    if zone_values is None:
        zv = distinct_values_partial(v)
    else:
        zv = np.asarray(zone_values, dtype=np.float64).reshape(-1)
        if zv.size and (not np.all(np.isfinite(zv)) or np.any(np.diff(zv) <= 0)):
            raise InputError("zone_values must be finite, sorted and distinct (from distinct_values_partial)")
    idx = np.full(v.shape, -1, dtype=np.int32)
    finite = np.isfinite(v)
    if zv.size and finite.any():
        x = v[finite]
        pos = np.clip(np.searchsorted(zv, x), 0, zv.size - 1)
        idx[finite] = np.where(zv[pos] == x, pos, -1)
    return idx, zv


def zone_value_names(zone_values: Iterable[float]) -> list[str]:
    """Names of categorical zone values for tables: ``"3"`` for 3.0, ``"2.5"`` for 2.5."""
    out = []
    for v in zone_values:
        f = float(v)
        out.append(str(int(f)) if f.is_integer() else repr(f))
    return out


# ---------------------------------------------------------------------------------------- zonal statistics


def _year_stats(x: np.ndarray, w: np.ndarray, zb: np.ndarray, nz: int, out: dict, y: int) -> None:
    """Sums of one year into ``out[key][:, y]``: x (N,) NaN missing, w (N,) areas, zb (N,) zone or nz = none.

    Weighted sums by ``np.bincount`` over the zone index (O(N)); M2 in two passes (zone means first, then
    squared deviations from them).
    """
    n_bins = nz + 1
    valid = np.isfinite(x) & (zb < nz)
    wv = np.where(valid, w, 0.0)
    xf = np.where(valid, x, 0.0)
    area = np.bincount(zb, weights=wv, minlength=n_bins)
    total = np.bincount(zb, weights=wv * xf, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(area > 0.0, total / np.where(area > 0.0, area, 1.0), 0.0)
    dev = xf - mean[zb]
    out["area"][:nz, y] = area[:nz]
    out["sum"][:nz, y] = total[:nz]
    out["m2"][:nz, y] = np.bincount(zb, weights=wv * dev * dev, minlength=n_bins)[:nz]
    out["count"][:nz, y] = np.bincount(zb, weights=valid, minlength=n_bins)[:nz]


def _year_extremes(xs: np.ndarray, starts: np.ndarray, ids: np.ndarray, out: dict, y: int) -> None:
    """Min and max per zone of one year: xs (M,) the in-zone pixels sorted by zone (NaN missing)."""
    out["min"][ids, y] = np.fmin.reduceat(xs, starts)
    out["max"][ids, y] = np.fmax.reduceat(xs, starts)


def _whole_stats(x: np.ndarray, w: np.ndarray, out: dict, row: int, y: int) -> None:
    """Sums of one year over every pixel (the ``all`` zone) into ``out[key][row, y]``."""
    valid = np.isfinite(x)
    wv = np.where(valid, w, 0.0)
    xf = np.where(valid, x, 0.0)
    area = wv.sum()
    total = (wv * xf).sum()
    mean = total / area if area > 0.0 else 0.0
    dev = xf - mean
    out["area"][row, y] = area
    out["sum"][row, y] = total
    out["m2"][row, y] = (wv * dev * dev).sum()
    out["count"][row, y] = np.count_nonzero(valid)
    if out["count"][row, y]:
        out["min"][row, y] = np.nanmin(x[valid])
        out["max"][row, y] = np.nanmax(x[valid])


def _empty_zonal(n_rows: int, n_years: int) -> dict[str, np.ndarray]:
    return {
        "area": np.zeros((n_rows, n_years)),
        "sum": np.zeros((n_rows, n_years)),
        "m2": np.zeros((n_rows, n_years)),
        "min": np.full((n_rows, n_years), np.nan),
        "max": np.full((n_rows, n_years), np.nan),
        "count": np.zeros((n_rows, n_years), dtype=np.int64),
    }


def zonal_partials(
    values: np.ndarray,
    zones: Optional[np.ndarray],
    n_zones: Optional[int],
    area_m2: Any,
    include_all: bool = False,
) -> dict[str, np.ndarray]:
    """Per-zone, per-year sums of one block, to merge with :func:`merge_zonal` and finish with :func:`zonal_table`.

    Parameters
    ----------
    values : ``(Y, rows, cols)`` one band per year (any unit; g C m-2 for meaningful totals); NaN (or inf) missing.
    zones : ``(rows, cols)`` zone index ``0..n_zones-1``, -1 (or NaN) outside every zone; None = one zone, the
        whole block.
    n_zones : number of zones of the whole raster (a block need not contain all of them).
    area_m2 : pixel areas in m2 broadcastable to ``(rows, cols)``: ``(rows, 1)`` from
        :func:`core.area.pixel_area_m2` or a scalar.
    include_all : add a last row for the whole block (every valid pixel, inside a zone or not): the ``all`` zone.

    Returns
    -------
    dict of ``(n_zones [+1], Y)`` arrays: ``area`` (sum of the areas of valid pixels, m2), ``sum`` (sum of value x
    area), ``m2`` (sum of area x squared deviation from the zone's weighted mean in this block), ``min``, ``max``
    (NaN without valid pixels), ``count`` (valid pixels, int64).

    Notes
    -----
    Loops over years (not pixels); each year costs a few passes over the block (``np.bincount`` by zone) and a
    ``fmin`` / ``fmax`` reduction over the in-zone pixels sorted once by zone. Scratch memory is independent of Y:
    see :func:`scratch_bytes_per_pixel`.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim < 2:
        raise InputError(f"zonal statistics need values of shape (years, rows, cols); got shape {x.shape}")
    n_years = x.shape[0]
    shape = x.shape[1:]
    z, nz = _zone_array(zones, n_zones, shape)
    w = _area_array(area_m2, shape)
    x = x.reshape(n_years, -1)
    out = _empty_zonal(nz + (1 if include_all else 0), n_years)
    if x.shape[1] == 0:
        return out
    zb = np.where(z < 0, nz, z)  # pixels outside every zone go to an extra bin that is dropped
    keep = np.flatnonzero(z >= 0)
    pix = keep[np.argsort(z[keep], kind="stable")]
    zs = z[pix]
    starts = np.flatnonzero(np.concatenate(([True], zs[1:] != zs[:-1]))) if pix.size else pix
    ids = zs[starts]
    for y in range(n_years):
        xy = x[y]
        _year_stats(xy, w, zb, nz, out, y)
        if pix.size:
            _year_extremes(xy[pix], starts, ids, out, y)
        if include_all:
            _whole_stats(xy, w, out, nz, y)
    return out


def scratch_bytes_per_pixel(n_years: int) -> int:
    """Peak scratch memory (bytes per pixel) of :func:`zonal_partials` and :func:`class_area_partials`.

    The work is done one year at a time: about a dozen float64 / int64 arrays of one value per pixel (zone bins,
    sort order, masks, weights, deviations, the sorted copy of the year), whatever the number of years, plus the
    float64 copy of ``values`` when the engine's block is not float64 already (counted by the engine as input).
    """
    del n_years  # independent of the number of years
    return 12 * 8


def merge_zonal(a: Optional[dict[str, np.ndarray]], b: Optional[dict[str, np.ndarray]]) -> Optional[dict]:
    """Combine two partials of :func:`zonal_partials` (``None`` + x = x), pairwise (Chan et al. 1979).

    area and sum add up; ``M2 = M2_a + M2_b + (m_b - m_a)^2 A_a A_b / (A_a + A_b)`` with ``m = sum / area``;
    min / max by ``fmin`` / ``fmax``; counts add up.
    """
    if a is None:
        return None if b is None else {k: np.array(v) for k, v in b.items()}
    if b is None:
        return {k: np.array(v) for k, v in a.items()}
    if set(a) != set(_ZONAL_KEYS) or set(b) != set(_ZONAL_KEYS):
        raise ValueError(f"zonal partials need the keys {_ZONAL_KEYS}; got {sorted(a)} and {sorted(b)}")
    if np.shape(a["area"]) != np.shape(b["area"]):
        raise ValueError(f"cannot merge zonal partials of shapes {np.shape(a['area'])} and {np.shape(b['area'])}")
    aa, ab = np.asarray(a["area"], dtype=np.float64), np.asarray(b["area"], dtype=np.float64)
    sa, sb = np.asarray(a["sum"], dtype=np.float64), np.asarray(b["sum"], dtype=np.float64)
    area = aa + ab
    with np.errstate(invalid="ignore", divide="ignore"):
        both = (aa > 0.0) & (ab > 0.0)
        ma = sa / np.where(aa > 0.0, aa, 1.0)
        mb = sb / np.where(ab > 0.0, ab, 1.0)
        delta = np.where(both, mb - ma, 0.0)
        cross = np.where(both, delta * delta * aa * ab / np.where(both, area, 1.0), 0.0)
    return {
        "area": area,
        "sum": sa + sb,
        "m2": np.asarray(a["m2"], dtype=np.float64) + np.asarray(b["m2"], dtype=np.float64) + cross,
        "min": np.fmin(a["min"], b["min"]),
        "max": np.fmax(a["max"], b["max"]),
        "count": np.asarray(a["count"], dtype=np.int64) + np.asarray(b["count"], dtype=np.int64),
    }


def zonal_table(
    partials: Optional[dict[str, np.ndarray]],
    years: Sequence[int],
    zone_names: Sequence[Any],
    include_all: bool = False,
) -> list[dict]:
    """Rows of the ``zonal_statistics`` OUTPUT_TABLE from merged partials, zone by zone, years in order.

    Keys (``ZONAL_COLUMNS``): ``zone, year, valid_area_km2, mean, std, min, max, total_tgc``:

    - ``valid_area_km2`` = sum of the areas of the zone's pixels with a valid value that year, km2;
    - ``mean`` = sum(x w) / sum(w), the area-weighted mean (units of the input);
    - ``std`` = sqrt(sum(w (x - mean)^2) / sum(w)), area-weighted population standard deviation;
    - ``min``, ``max`` over the valid pixels;
    - ``total_tgc`` = sum(x [g C m-2] x w [m2]) x 1e-12, Tg C (per year for annual fluxes).

    A zone-year with no valid pixel has ``valid_area_km2`` 0, ``total_tgc`` 0 and NaN statistics.

    Parameters
    ----------
    partials : merged result of :func:`zonal_partials` (None: no block had data; every row is empty).
    years : the year of each band.
    zone_names : one name per zone, in zone index order.
    include_all : the partials were made with ``include_all=True``: add the rows of zone ``"all"`` last.
    """
    names = [str(z) for z in zone_names]
    n_rows = len(names) + (1 if include_all else 0)
    if partials is None:
        partials = _empty_zonal(n_rows, len(years))
    p = {k: np.asarray(partials[k]) for k in _ZONAL_KEYS}
    if p["area"].ndim != 2:
        raise InputError(f"zonal partials must be (zones, years) arrays; got shape {p['area'].shape}")
    if p["area"].shape[0] != n_rows:
        extra = " plus the 'all' zone" if include_all else ""
        raise InputError(
            f"the zonal sums have {p['area'].shape[0]} zones but {len(names)} zone names{extra} were given "
            "(include_all must match the partials)"
        )
    ys = _check_table_years(years, p["area"].shape[1], "the zonal table")
    if include_all:
        names.append(ALL_ZONE)
    area, total, m2 = p["area"].astype(np.float64), p["sum"].astype(np.float64), p["m2"].astype(np.float64)
    has = area > 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        safe = np.where(has, area, 1.0)
        mean = np.where(has, total / safe, np.nan)
        std = np.where(has, np.sqrt(np.maximum(m2, 0.0) / safe), np.nan)
    seen = p["count"] > 0
    mn = np.where(seen, p["min"], np.nan)
    mx = np.where(seen, p["max"], np.nan)
    rows = []
    for i, name in enumerate(names):
        for j, year in enumerate(ys):
            rows.append(
                {
                    "zone": name,
                    "year": year,
                    "valid_area_km2": _f(area[i, j] * 1e-6),
                    "mean": _f(mean[i, j]),
                    "std": _f(std[i, j]),
                    "min": _f(mn[i, j]),
                    "max": _f(mx[i, j]),
                    "total_tgc": _f(total[i, j] * 1e-12),
                }
            )
    return rows


def zone_series(table_rows: Sequence[Mapping[str, Any]], years: Sequence[int], key: str = "mean") -> dict:
    """``{zone: (Y,) array of key}`` from table rows, zones in order of first appearance, NaN for missing years."""
    ys = [int(y) for y in years]
    pos = {y: i for i, y in enumerate(ys)}
    if len(pos) != len(ys):
        raise InputError(f"years must be distinct; got {ys}")
    out: dict[str, np.ndarray] = {}
    for row in table_rows:
        zone = str(row["zone"])
        series = out.setdefault(zone, np.full(len(ys), np.nan))
        year = int(row["year"])
        if year not in pos:
            raise InputError(f"the table has year {year}, which is not among the years given ({ys})")
        v = row[key]
        series[pos[year]] = np.nan if v is None else float(v)
    return out


def zone_trends(
    table_rows: Sequence[Mapping[str, Any]],
    years: Sequence[int],
    test: str = "original",
    alpha: float = 0.05,
    min_valid: Optional[int] = None,
) -> list[dict]:
    """Trend of each zone's area-weighted mean series: the ``zonal_statistics`` OUTPUT_TREND rows.

    The series of ``mean`` per zone (from :func:`zonal_table`) goes through :func:`core.trend.series_trends`, the
    same Sen slope + Mann-Kendall and least-squares functions as the pixel maps (METHODS.md "Trend"): Sen slope
    = median of pairwise slopes (units per year), Mann-Kendall Z and two-sided p (``test`` variant), OLS slope and
    the p of its t-test (n - 2 df). Years with no valid pixel are missing (real year values kept); a zone with
    fewer than ``min_valid`` valid years (default 3) gets NaN.

    Returns
    -------
    One dict per zone (order of the table) with keys ``zone, sen_slope, mk_z, mk_p, ols_slope, ols_p`` followed
    by ``sen_intercept``, ``ols_intercept`` (the lines' values at ``years[0]``) and ``n_years`` (valid years).
    """
    from .trend import series_trends

    t = np.asarray([int(y) for y in years], dtype=np.float64)
    out = []
    for zone, series in zone_series(table_rows, years, "mean").items():
        with np.errstate(invalid="ignore", divide="ignore"):
            tr = series_trends(series, t, test=test, alpha=alpha, min_valid=min_valid)
        out.append(
            {
                "zone": zone,
                "sen_slope": tr["sen_slope"],
                "mk_z": tr["mk_z"],
                "mk_p": tr["mk_p"],
                "ols_slope": tr["ols_slope"],
                "ols_p": tr["ols_p"],
                "sen_intercept": tr["intercept"],
                "ols_intercept": tr["ols_intercept"],
                "n_years": int(np.count_nonzero(np.isfinite(series))),
            }
        )
    return out


# ------------------------------------------------------------------------------------------ class codes


def _class_valid(classes: np.ndarray, nodata: Optional[float], what: str) -> np.ndarray:
    """Flat bool mask of the classified pixels of a class array: not NaN, not ``nodata``."""
    c = np.asarray(classes).reshape(-1)
    if c.dtype.kind == "f":
        valid = ~np.isnan(c)
        if nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata)):
            valid &= c != nodata
        return valid
    if c.dtype.kind in "iub":
        return np.ones(c.shape, dtype=bool) if nodata is None else c != nodata
    raise InputError(f"{what} must hold integer class codes; got dtype {c.dtype}")


def _codes_at(classes: np.ndarray, pix: np.ndarray, what: str) -> np.ndarray:
    """int64 codes of the flat pixels ``pix`` of a class array; float codes must be whole numbers."""
    v = np.asarray(classes).reshape(-1)[pix]
    if v.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(v) | (v != np.floor(v))
        if bad.any():
            raise InputError(f"{what} must hold whole class codes (and NaN or its nodata value); found {v[bad][0]!r}")
    return v.astype(np.int64)


def _code_index(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct sorted codes present, index of each code in them) for a 1-D int64 array (O(n) for a small span)."""
    if codes.size == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    lo, hi = int(codes.min()), int(codes.max())
    if hi - lo + 1 <= _DIRECT_SPAN:
        off = codes - lo
        present = np.flatnonzero(np.bincount(off, minlength=hi - lo + 1))
        lookup = np.full(hi - lo + 1, -1, dtype=np.int64)
        lookup[present] = np.arange(present.size)
        return present + lo, lookup[off]
    uniq, inv = np.unique(codes, return_inverse=True)
    return uniq.astype(np.int64), inv.reshape(-1).astype(np.int64)


def _merge_coded(a: Optional[dict], b: Optional[dict], code_keys: tuple[str, ...], what: str) -> Optional[dict]:
    """Add two partials whose last axes are indexed by the code lists ``code_keys`` (union of the codes)."""
    if a is None:
        return None if b is None else {k: np.array(v) for k, v in b.items()}
    if b is None:
        return {k: np.array(v) for k, v in a.items()}
    if set(a) != set(b):
        raise ValueError(f"cannot merge {what} partials with keys {sorted(a)} and {sorted(b)}")
    lead = np.shape(a["area"])[: np.ndim(a["area"]) - len(code_keys)]
    if lead != np.shape(b["area"])[: np.ndim(b["area"]) - len(code_keys)]:
        raise ValueError(f"cannot merge {what} partials of shapes {np.shape(a['area'])} and {np.shape(b['area'])}")
    codes = {k: np.union1d(a[k], b[k]).astype(np.int64) for k in code_keys}
    shape = lead + tuple(codes[k].size for k in code_keys)
    out = {k: codes[k] for k in code_keys}
    for key, dtype in (("area", np.float64), ("count", np.int64)):
        acc = np.zeros(shape, dtype=dtype)
        for part in (a, b):
            pos = np.ix_(*[np.searchsorted(codes[k], part[k]) for k in code_keys])
            acc[(Ellipsis,) + pos] += part[key]
        out[key] = acc
    return out


def _all_codes(found: np.ndarray, *label_sets: Optional[Mapping[int, str]]) -> np.ndarray:
    extra = [int(c) for labels in label_sets if labels for c in labels]
    return np.union1d(np.asarray(found, dtype=np.int64), np.asarray(extra, dtype=np.int64)).astype(np.int64)


def _expand(arr: np.ndarray, have: np.ndarray, want: np.ndarray, axis: int) -> np.ndarray:
    """``arr`` indexed by codes ``have`` along ``axis``, re-indexed by ``want`` (a superset), zeros elsewhere."""
    shape = list(arr.shape)
    shape[axis] = want.size
    out = np.zeros(shape, dtype=arr.dtype)
    idx = [slice(None)] * arr.ndim
    idx[axis] = np.searchsorted(want, have)
    out[tuple(idx)] = arr
    return out


def _label(labels: Optional[Mapping[int, str]], code: int) -> str:
    if labels and int(code) in labels:
        return str(labels[int(code)])
    return str(int(code))


# -------------------------------------------------------------------------------------------- class areas


def class_area_partials(
    classes: np.ndarray,
    zones: Optional[np.ndarray] = None,
    n_zones: Optional[int] = None,
    area_m2: Any = 1.0,
    nodata: Optional[float] = None,
    include_all: bool = False,
) -> dict[str, np.ndarray]:
    """Area of every class per zone and band of one block, to merge with :func:`merge_class_area`.

    Parameters
    ----------
    classes : ``(Y, rows, cols)`` class codes (one band per year, or a single band): integers, or floats holding
        whole numbers with NaN for nodata (as the engine reads them).
    zones, n_zones : zone index per pixel (-1 / NaN outside) and the number of zones; ``zones=None``: one zone.
    area_m2 : pixel areas in m2, broadcastable to ``(rows, cols)``.
    nodata : the class raster's nodata code (pixels with it are not classified), besides NaN.
    include_all : add a last zone row for the whole block.

    Returns
    -------
    dict: ``codes`` (K,) the class codes present in the block (sorted), ``area`` ``(zones [+1], Y, K)`` m2,
    ``count`` ``(zones [+1], Y, K)`` pixels.

    Bands are processed one at a time; the scratch memory per pixel stays below :func:`scratch_bytes_per_pixel`.
    """
    c = np.asarray(classes)
    if c.ndim < 2:
        raise InputError(f"class areas need classes of shape (bands, rows, cols); got shape {c.shape}")
    n_years = c.shape[0]
    shape = c.shape[1:]
    z, nz = _zone_array(zones, n_zones, shape)
    w = _area_array(area_m2, shape)
    c = c.reshape(n_years, -1)
    n_rows = nz + (1 if include_all else 0)
    per_year = []
    for y in range(n_years):  # one band at a time: scratch memory independent of the number of bands
        valid = _class_valid(c[y], nodata, "the class raster")
        pix = np.flatnonzero(valid if include_all else valid & (z >= 0))
        found, k = _code_index(_codes_at(c[y], pix, "the class raster"))
        n_k = found.size
        zp = z[pix]
        inz = zp >= 0
        flat = zp[inz] * n_k + k[inz]
        wp = w[pix]
        area = np.bincount(flat, weights=wp[inz], minlength=nz * n_k).reshape(nz, n_k)
        count = np.bincount(flat, minlength=nz * n_k).astype(np.int64).reshape(nz, n_k)
        if include_all:
            area = np.vstack([area, np.bincount(k, weights=wp, minlength=n_k)[None]])
            count = np.vstack([count, np.bincount(k, minlength=n_k).astype(np.int64)[None]])
        per_year.append((found, area, count))
    codes_all = np.empty(0, dtype=np.int64)
    for found, _, _ in per_year:
        codes_all = np.union1d(codes_all, found).astype(np.int64)
    area_out = np.zeros((n_rows, n_years, codes_all.size))
    count_out = np.zeros((n_rows, n_years, codes_all.size), dtype=np.int64)
    for y, (found, area, count) in enumerate(per_year):
        pos = np.searchsorted(codes_all, found)
        area_out[:, y, pos] = area
        count_out[:, y, pos] = count
    return {"codes": codes_all, "area": area_out, "count": count_out}


def merge_class_area(a: Optional[dict], b: Optional[dict]) -> Optional[dict]:
    """Sum of two partials of :func:`class_area_partials` over the union of their class codes."""
    return _merge_coded(a, b, ("codes",), "class area")


def class_area_table(
    partials: Optional[dict],
    years: Sequence[int],
    zone_names: Sequence[Any],
    labels: Optional[Mapping[int, str]] = None,
    include_all: bool = False,
) -> list[dict]:
    """Rows of the ``class_area`` OUTPUT_TABLE: ``zone, year, class, label, area_km2, share_pct``.

    ``area_km2`` = sum of the areas of the zone's pixels in the class that band (km2); ``share_pct`` = 100 x
    area / the zone's classified area that band (nodata pixels are not classified), so shares sum to 100 per
    zone and year; NaN shares when the zone has no classified pixel that band. Every class found anywhere or
    named in ``labels`` gets a row (area 0 where absent). ``label`` comes from ``labels`` (e.g.
    :func:`class_labels_from_raster`), else the code as text. ``years`` labels the bands (use ``[year]`` or any
    single value for a single class raster).
    """
    names = [str(n) for n in zone_names]
    n_rows = len(names) + (1 if include_all else 0)
    if partials is None:
        partials = {
            "codes": np.empty(0, dtype=np.int64),
            "area": np.zeros((n_rows, len(years), 0)),
            "count": np.zeros((n_rows, len(years), 0), dtype=np.int64),
        }
    area = np.asarray(partials["area"], dtype=np.float64)
    if area.ndim != 3 or area.shape[0] != n_rows:
        raise InputError(
            f"the class-area sums have shape {area.shape} but {len(names)} zone names"
            f"{' plus the all zone' if include_all else ''} were given (include_all must match the partials)"
        )
    ys = _check_table_years(years, area.shape[1], "the class-area table")
    if include_all:
        names.append(ALL_ZONE)
    codes = _all_codes(partials["codes"], labels)
    area = _expand(area, np.asarray(partials["codes"], dtype=np.int64), codes, axis=2)
    total = area.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total[..., None] > 0.0, 100.0 * area / np.where(total > 0.0, total, 1.0)[..., None], np.nan)
    rows = []
    for i, name in enumerate(names):
        for j, year in enumerate(ys):
            for m, code in enumerate(codes):
                rows.append(
                    {
                        "zone": name,
                        "year": year,
                        "class": int(code),
                        "label": _label(labels, code),
                        "area_km2": _f(area[i, j, m] * 1e-6),
                        "share_pct": _f(share[i, j, m]),
                    }
                )
    return rows


# -------------------------------------------------------------------------------------------- transitions


def _single_band(x: np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim == 3:
        if a.shape[0] != 1:
            raise InputError(f"{what} must be a single-band class raster; it has {a.shape[0]} bands")
        a = a[0]
    if a.ndim != 2:
        raise InputError(f"{what} must be a (rows, cols) class raster; got shape {a.shape}")
    return a


def transition_partials(
    from_classes: np.ndarray,
    to_classes: np.ndarray,
    area_m2: Any = 1.0,
    nodata_from: Optional[float] = None,
    nodata_to: Optional[float] = None,
) -> dict[str, np.ndarray]:
    """Area moving from each class of ``from_classes`` to each class of ``to_classes`` in one block.

    Parameters
    ----------
    from_classes, to_classes : ``(rows, cols)`` (or ``(1, rows, cols)``) class codes of the same grid: integers,
        or floats with whole numbers and NaN for nodata.
    area_m2 : pixel areas in m2, broadcastable to ``(rows, cols)``.
    nodata_from, nodata_to : each raster's nodata code; a pixel counts only where both rasters are classified.

    Returns
    -------
    dict: ``from_codes`` (F,), ``to_codes`` (T,) the codes present among the counted pixels, ``area`` ``(F, T)`` m2
    with ``area[i, j]`` = sum of the areas of pixels of class ``from_codes[i]`` then ``to_codes[j]``, ``count``.
    """
    fa = _single_band(from_classes, "FROM")
    ta = _single_band(to_classes, "TO")
    if fa.shape != ta.shape:
        raise InputError(f"FROM has shape {fa.shape} but TO has shape {ta.shape}: give class rasters of the same grid")
    w = _area_array(area_m2, fa.shape)
    both = np.flatnonzero(_class_valid(fa, nodata_from, "FROM") & _class_valid(ta, nodata_to, "TO"))
    fcodes, fi = _code_index(_codes_at(fa, both, "FROM"))
    tcodes, ti = _code_index(_codes_at(ta, both, "TO"))
    flat = fi * tcodes.size + ti
    size = fcodes.size * tcodes.size
    area = np.bincount(flat, weights=w[both], minlength=size).reshape(fcodes.size, tcodes.size)
    count = np.bincount(flat, minlength=size).astype(np.int64).reshape(fcodes.size, tcodes.size)
    return {"from_codes": fcodes, "to_codes": tcodes, "area": area, "count": count}


def merge_transitions(a: Optional[dict], b: Optional[dict]) -> Optional[dict]:
    """Sum of two partials of :func:`transition_partials` over the union of their codes."""
    return _merge_coded(a, b, ("from_codes", "to_codes"), "transition")


def transition_matrix(
    partials: Optional[dict],
    labels_from: Optional[Mapping[int, str]] = None,
    labels_to: Optional[Mapping[int, str]] = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(from codes, to codes, ``(F, T)`` area matrix in km2) including every code named in the labels."""
    if partials is None:
        partials = {"from_codes": np.empty(0), "to_codes": np.empty(0), "area": np.zeros((0, 0))}
    fc0 = np.asarray(partials["from_codes"], dtype=np.int64)
    tc0 = np.asarray(partials["to_codes"], dtype=np.int64)
    area = np.asarray(partials["area"], dtype=np.float64).reshape(fc0.size, tc0.size)
    fc = _all_codes(fc0, labels_from)
    tc = _all_codes(tc0, labels_to)
    area = _expand(_expand(area, fc0, fc, 0), tc0, tc, 1)
    return fc, tc, area * 1e-6


def transition_table(
    partials: Optional[dict],
    labels_from: Optional[Mapping[int, str]] = None,
    labels_to: Optional[Mapping[int, str]] = None,
) -> list[dict]:
    """Rows of the ``transition_matrix`` OUTPUT_TABLE: ``from_class, to_class, area_km2, from_label, to_label``.

    One row per pair of codes (every code found, or named in the labels; area 0 where nothing moved), from-class
    major. The diagonal (from == to) is the area that kept its class. Areas in km2, from the pixels classified in
    both rasters.
    """
    fc, tc, km2 = transition_matrix(partials, labels_from, labels_to)
    rows = []
    for i, f in enumerate(fc):
        for j, t in enumerate(tc):
            rows.append(
                {
                    "from_class": int(f),
                    "to_class": int(t),
                    "area_km2": _f(km2[i, j]),
                    "from_label": _label(labels_from, f),
                    "to_label": _label(labels_to, t),
                }
            )
    return rows


# ------------------------------------------------------------------------------------------------- labels


def _code_of(text: Any) -> Optional[int]:
    try:
        f = float(text)
    except (TypeError, ValueError):
        return None
    return int(f) if math.isfinite(f) and f.is_integer() else None


def _legend_from_tag(path: str) -> Optional[list[tuple[int, str, Optional[str]]]]:
    try:
        import rasterio

        with rasterio.open(path) as ds:
            text = ds.tags().get("CLASSES") or ds.tags(1).get("CLASSES")
    except Exception:  # noqa: BLE001 (not a raster rasterio can open: fall back to the .qml)
        return None
    if not text:
        return None
    try:
        entries = json.loads(text)
    except ValueError:
        return _legend_from_text(text)
    out = []
    if not isinstance(entries, list):
        return None
    for e in entries:
        if not isinstance(e, Mapping):
            continue
        code = _code_of(e.get("code"))
        if code is None:
            continue
        label = e.get("label")
        color = e.get("color")
        out.append((code, str(label) if label not in (None, "") else str(code), str(color) if color else None))
    return out or None


def _legend_from_text(text: str) -> Optional[list[tuple[int, str, Optional[str]]]]:
    """A ``CLASSES`` tag written by hand as ``'1 cropland; 2 forest; ...'`` (or ``1: cropland``, ``1=cropland``,
    one per line); None when any item does not read as a code and a label."""
    out = []
    for item in re.split(r"[;\n]", text):
        if not item.strip():
            continue
        match = re.match(r"^\s*(-?\d+)\s*[:=]?\s*(\S.*?)\s*$", item)
        if match is None:
            return None
        out.append((int(match.group(1)), match.group(2), None))
    return out or None


def _legend_from_qml(path: str) -> Optional[list[tuple[int, str, Optional[str]]]]:
    qml = os.path.splitext(path)[0] + ".qml"
    if not os.path.isfile(qml):
        return None
    try:
        root = ET.parse(qml).getroot()
    except (ET.ParseError, OSError):
        return None
    out = []
    # paletted renderer entries (what the toolbox writes), then discrete / exact color-ramp items
    for el in list(root.iter("paletteEntry")) + list(root.iter("item")):
        code = _code_of(el.get("value"))
        if code is None or any(code == c for c, _, _ in out):
            continue
        label = el.get("label")
        out.append((code, label if label else str(code), el.get("color")))
    return out or None


def class_legend_from_raster(path: str) -> Optional[list[tuple[int, str, Optional[str]]]]:
    """``[(code, label, color)]`` of a class raster: its ``CLASSES`` metadata tag, else its sidecar ``.qml``.

    The toolbox writes both (``core.writer``: JSON ``[{code, label, color}]``; ``algorithms/base.py``: a paletted
    style with ``paletteEntry value / label / color``). For rasters from elsewhere the ``.qml`` QGIS saves as the
    layer's default style (same base name) is read: paletted entries, or the items of an exact / discrete color
    ramp. None when neither gives a class.
    """
    return _legend_from_tag(path) or _legend_from_qml(path)


def class_labels_from_raster(path: str) -> Optional[dict[int, str]]:
    """``{code: label}`` of a class raster from its ``CLASSES`` tag or sidecar ``.qml`` (None when neither)."""
    legend = class_legend_from_raster(path)
    return None if legend is None else {code: label for code, label, _ in legend}


def class_colors_from_raster(path: str) -> Optional[dict[int, str]]:
    """``{code: '#rrggbb'}`` of a class raster's legend (codes without a color left out; None without legend)."""
    legend = class_legend_from_raster(path)
    return None if legend is None else {code: color for code, _, color in legend if color}
