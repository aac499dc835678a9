"""Time-series stacks: opening, alignment checks and years.

A time series is either ONE multiband raster (bands = time steps) or SEVERAL single-band rasters (one per time
step, in the order given). :func:`open_series` accepts both and checks the mix; :func:`check_aligned` refuses
inputs whose size, transform or CRS differ (naming the file and what differs); :func:`resolve_years` gives the
year of every time step as ``METHODS.md`` "Conventions" says: ``FIRST_YEAR``, else band descriptions, else
4-digit years in file names, else an error that says how to give them. Years are never numbered 1..n silently.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import rasterio
from rasterio.windows import Window

from .errors import InputError

# A MODIS-style acquisition date "A2001001" (year + day of year), or a free-standing 4-digit year 1900..2199.
_MODIS_DATE = re.compile(r"(?:^|[._-])A((?:19|20|21)\d{2})\d{3}(?:[._-]|$)")
_YEAR = re.compile(r"(?<!\d)((?:19|20|21)\d{2})(?!\d)")


@dataclass(frozen=True)
class Grid:
    """The pixel grid shared by every input and output of a run."""

    width: int
    height: int
    transform: rasterio.Affine
    crs: rasterio.crs.CRS | None

    def describe(self) -> str:
        return f"{self.width} x {self.height} pixels"


@dataclass
class Source:
    """One band of one file: the place a time step is read from."""

    path: str
    band: int
    nodata: float | None
    description: str


@dataclass
class TimeSeries:
    """An ordered list of bands forming one input (``name`` is the parameter name, e.g. ``NPP``)."""

    name: str
    paths: list[str]
    sources: list[Source]
    grid: Grid
    block_shape: tuple[int, int]
    dtype: str
    warnings: list[str] = field(default_factory=list)
    units: str = ""

    @property
    def count(self) -> int:
        return len(self.sources)

    @property
    def is_multiband(self) -> bool:
        return len(self.paths) == 1

    def label(self) -> str:
        """How to refer to this input in a message: its name and its file(s)."""
        if self.is_multiband:
            return f"{self.name} ('{os.path.basename(self.paths[0])}')"
        return f"{self.name} ({len(self.paths)} files, first '{os.path.basename(self.paths[0])}')"


def _nodata_as_stored(nodata: float | None, dtype: str) -> float | None:
    """The nodata value as the band stores it (a float32 band holds float32(-9999.9), not -9999.9)."""
    if nodata is None or np.isnan(nodata):
        return nodata
    kind = np.dtype(dtype).kind
    if kind == "f":
        return float(np.dtype(dtype).type(nodata))
    info = np.iinfo(np.dtype(dtype)) if kind in "iu" else None
    if info is not None and not (info.min <= nodata <= info.max and float(nodata).is_integer()):
        return None  # a nodata value the band cannot hold never occurs in it
    return float(nodata)


def _grid_of(ds) -> Grid:
    return Grid(ds.width, ds.height, ds.transform, ds.crs)


def open_series(name: str, paths: Sequence[str]) -> TimeSeries:
    """Open a time-series input given as one multiband raster or several single-band rasters.

    Raises :class:`InputError` when nothing is given, a file cannot be opened, several files are given and one of
    them has more than one band, or the files do not share one grid (see :func:`check_aligned`).
    """
    paths = [str(p) for p in paths]
    if not paths:
        raise InputError(f"{name}: no raster given. Give one multiband raster or several single-band rasters.")
    infos = []
    for p in paths:
        try:
            with rasterio.open(p) as ds:
                infos.append(
                    (
                        p,
                        _grid_of(ds),
                        ds.count,
                        list(ds.nodatavals),
                        list(ds.descriptions),
                        ds.block_shapes[0],
                        ds.dtypes[0],
                        (tuple(ds.scales), tuple(ds.offsets)),
                        ds.tags().get("UNITS", "") or (ds.units[0] if ds.units and ds.units[0] else ""),
                    )
                )
        except rasterio.errors.RasterioIOError as exc:
            raise InputError(f"{name}: cannot open '{p}' as a raster ({exc}).") from None
    if len(paths) > 1:
        multi = [(os.path.basename(p), count) for p, _, count, *_ in infos if count != 1]
        if multi:
            names = ", ".join(f"'{n}' has {c} bands" for n, c in multi[:3])
            raise InputError(
                f"{name}: received {len(paths)} rasters, of which {names}. Give either ONE multiband raster "
                "(one band per time step) or SEVERAL single-band rasters (one per time step, in order)."
            )
    sources: list[Source] = []
    warnings: list[str] = []
    for p, _grid, count, nodatas, descriptions, _bs, dtype, (scales, offsets), _units in infos:
        for b in range(count):
            sources.append(Source(p, b + 1, _nodata_as_stored(nodatas[b], dtype), descriptions[b] or ""))
        if any(s != 1 for s in scales) or any(o != 0 for o in offsets):
            warnings.append(
                f"{name}: '{os.path.basename(p)}' declares a scale/offset; the toolbox reads the stored values "
                "as they are (decode MODIS NPP with modis_npp, rescale other data before use)."
            )
    series = TimeSeries(name, paths, sources, infos[0][1], tuple(infos[0][5]), infos[0][6], warnings, infos[0][8])
    for p, grid, *_ in infos[1:]:
        _compare_grid(series.grid, grid, f"{name} file '{os.path.basename(p)}'", f"{name}'s first file")
    return series


def _compare_grid(ref: Grid, other: Grid, what: str, against: str) -> None:
    problems = []
    if (ref.width, ref.height) != (other.width, other.height):
        problems.append(f"its size is {other.describe()}, expected {ref.describe()}")
    else:
        px = max(abs(ref.transform.a), abs(ref.transform.e), 1e-300)
        diff = max(abs(a - b) for a, b in zip(ref.transform[:6], other.transform[:6]))
        if diff > 1e-6 * px:
            problems.append(
                f"its origin or pixel size differs (transform {tuple(round(v, 10) for v in other.transform[:6])}, "
                f"expected {tuple(round(v, 10) for v in ref.transform[:6])})"
            )
    if (ref.crs is None) != (other.crs is None) or (ref.crs is not None and ref.crs != other.crs):
        problems.append(f"its CRS is {_crs_name(other.crs)}, expected {_crs_name(ref.crs)}")
    if problems:
        raise InputError(
            f"{what} is not aligned with {against}: {'; '.join(problems)}. Resample it onto the same grid "
            "(same CRS, extent and pixel size), e.g. with Raster > Align Rasters or GDAL Warp."
        )


def _crs_name(crs) -> str:
    if crs is None:
        return "undefined"
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_string()[:60]


def check_aligned(inputs: Sequence[TimeSeries]) -> Grid:
    """Check that every input shares the first one's grid; return that grid."""
    ref = inputs[0]
    for other in inputs[1:]:
        for p in other.paths:
            with rasterio.open(p) as ds:
                grid = _grid_of(ds)
            _compare_grid(ref.grid, grid, f"{other.name} ('{os.path.basename(p)}')", ref.label())
    return ref.grid


def _year_from_text(text: str) -> int | None:
    m = _MODIS_DATE.search(text)
    if m:
        return int(m.group(1))
    years = set(_YEAR.findall(text))
    if len(years) == 1:
        return int(years.pop())
    return None


def _how_to_give_years(series: TimeSeries) -> str:
    return (
        f"Could not tell the years of {series.label()}: set FIRST_YEAR (the year of its first band), or give "
        "band descriptions holding the year (e.g. '2000') or file names with a 4-digit year (e.g. 'npp_2000.tif')."
    )


def resolve_years(series: TimeSeries, first_year: int | None = None, monthly: bool = False) -> np.ndarray:
    """The year of every time step (annual) or of every group of 12 months (monthly).

    Order of precedence: ``first_year`` (consecutive years), band descriptions (multiband input), 4-digit years
    in file names (list input; MODIS ``AYYYYDDD`` dates understood). Years must strictly increase (annual) or
    come as consecutive groups of 12 months (monthly). Returns an int array: one year per band (annual) or one
    per 12 bands (monthly).
    """
    n = series.count
    if monthly and n % 12:
        raise InputError(
            f"{series.label()} has {n} bands, not a multiple of 12: a monthly stack needs 12 bands per year, "
            "January first."
        )
    n_years = n // 12 if monthly else n
    if first_year is not None:
        return np.arange(int(first_year), int(first_year) + n_years)
    if series.is_multiband:
        texts = [s.description for s in series.sources]
    else:
        texts = [os.path.splitext(os.path.basename(s.path))[0] for s in series.sources]
    years = [_year_from_text(t) for t in texts]
    if any(y is None for y in years):
        raise InputError(_how_to_give_years(series))
    arr = np.asarray(years, dtype=int)
    if monthly:
        groups = arr.reshape(n_years, 12)
        if not (groups == groups[:, :1]).all():
            raise InputError(
                f"{series.label()}: the years found in its band descriptions / file names do not come in groups "
                f"of 12 months ({texts[0]} ... {texts[-1]}). Set FIRST_YEAR, or order the bands January to "
                "December for each year."
            )
        arr = groups[:, 0]
    if np.any(np.diff(arr) <= 0):
        raise InputError(
            f"{series.label()}: the years found in its band descriptions / file names are not strictly increasing "
            f"({', '.join(map(str, arr[:8]))}{', ...' if arr.size > 8 else ''}). Order the inputs by year or set "
            "FIRST_YEAR."
        )
    return arr


def check_same_years(reference: TimeSeries, ref_years: np.ndarray, other: TimeSeries, years: np.ndarray) -> None:
    """Refuse stacks that do not cover the same years, saying what to fix."""
    if len(years) != len(ref_years):
        raise InputError(
            f"{other.name} has {len(years)} years of data but {reference.name} has {len(ref_years)}: give one band "
            "per year for the same years."
        )
    if not np.array_equal(years, ref_years):
        raise InputError(
            f"{other.name} covers {years[0]}-{years[-1]} but {reference.name} covers {ref_years[0]}-{ref_years[-1]}: "
            "give both for the same years (or set FIRST_YEAR if the years were read wrongly)."
        )


class SeriesReader:
    """Reads windows of a :class:`TimeSeries` as float64 (T, rows, cols), nodata and NaN as NaN.

    Each thread gets its own dataset handles (GDAL handles are not thread-safe), so blocks decode in parallel.
    """

    def __init__(self, series: TimeSeries):
        self.series = series
        self._local = threading.local()
        self._all: list = []
        self._lock = threading.Lock()

    def _handle(self, path: str):
        handles = getattr(self._local, "handles", None)
        if handles is None:
            handles = self._local.handles = {}
        ds = handles.get(path)
        if ds is None:
            ds = handles[path] = rasterio.open(path)
            with self._lock:
                self._all.append(ds)
        return ds

    def read(self, window: Window) -> np.ndarray:
        s = self.series
        out = np.empty((s.count, int(window.height), int(window.width)), dtype=np.float64)
        if s.is_multiband:
            ds = self._handle(s.paths[0])
            ds.read(window=window, out=out)
        else:
            for i, src in enumerate(s.sources):
                self._handle(src.path).read(src.band, window=window, out=out[i])
        for i, src in enumerate(s.sources):
            if src.nodata is not None and not np.isnan(src.nodata):
                band = out[i]
                band[band == src.nodata] = np.nan
        return out

    def close(self) -> None:
        with self._lock:
            for ds in self._all:
                ds.close()
            self._all.clear()
        self._local = threading.local()
