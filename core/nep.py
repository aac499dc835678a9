"""Net ecosystem productivity: NEP = NPP - Rh, its classes, and the per-year area table.

NEP > 0 is a carbon sink, NEP < 0 a carbon source (seed 000 eq. 1, seed 002 eq. 13); negative values are valid
data. Units: g C m-2 yr-1 per pixel and year; areas in m2 (per pixel, from :mod:`core.area`); totals in Tg C.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .classes import ClassScheme, interval_labels, ramp
from .errors import InputError

NEP_UNIT = "g C m-2 yr-1"

#: Class presets: breaks and labels. Classes follow :func:`core.classes.classify_by_breaks` (a value equal to a
#: break goes to the class above), so NEP = 0 is a (zero) sink in these maps.
NEP_PRESETS: dict[str, tuple[list[float], list[str]]] = {
    "sign": (
        [0.0],
        ["Carbon source (NEP < 0)", "Carbon sink (NEP >= 0)"],
    ),
    # seed 000, section 3.2.1
    "seed000": (
        [0.0, 200.0, 400.0],
        [
            "Carbon source (NEP < 0)",
            "Low carbon sink (0 <= NEP < 200)",
            "Medium carbon sink (200 <= NEP < 400)",
            "High carbon sink (NEP >= 400)",
        ],
    ),
    # seed 004, section 3.1
    "seed004": (
        [0.0, 50.0],
        ["Carbon source (NEP < 0)", "Weak carbon sink (0 <= NEP < 50)", "Strong carbon sink (NEP >= 50)"],
    ),
}

_PARTIAL_KEYS = ("valid_area", "weighted_sum", "sink_area", "source_area")

TABLE_COLUMNS = ("year", "mean_nep", "sink_area_km2", "sink_pct", "source_area_km2", "source_pct", "total_tgc")


def nep(npp: np.ndarray, rh: np.ndarray) -> np.ndarray:
    """Net ecosystem productivity ``NEP = NPP - Rh`` per pixel and year.

    Parameters
    ----------
    npp : ``(Y, ...)`` annual NPP, g C m-2 yr-1.
    rh : ``(Y, ...)`` annual heterotrophic respiration, g C m-2 yr-1, same shape.

    Returns
    -------
    float64 ``(Y, ...)`` NEP in g C m-2 yr-1: > 0 carbon sink, < 0 carbon source (valid data). NaN where
    either input is NaN.
    """
    a = np.asarray(npp, dtype=np.float64)
    b = np.asarray(rh, dtype=np.float64)
    if a.shape != b.shape:
        if a.ndim and b.ndim and a.shape[0] != b.shape[0]:
            raise InputError(
                f"NPP has {a.shape[0]} years but RH has {b.shape[0]}: give one band per year for the same years"
            )
        raise InputError(f"NPP has shape {a.shape} but RH has {b.shape}: give both on the same grid")
    return a - b


def _check_breaks(breaks: Sequence[float]) -> list[float]:
    try:
        values = [float(b) for b in breaks]
    except (TypeError, ValueError):
        raise InputError(f"CLASS_BREAKS must be numbers, got {breaks!r}") from None
    if not values:
        raise InputError("CLASS_BREAKS is empty: give one or more class breaks, e.g. '0' or '0, 200, 400'")
    if any(not math.isfinite(v) for v in values):
        raise InputError(f"CLASS_BREAKS {values} contains a non-finite value")
    if any(b <= a for a, b in zip(values, values[1:])):
        raise InputError(f"CLASS_BREAKS {values} must be strictly increasing, e.g. '0, 200, 400'")
    return values


def _colors(bounds: list[tuple[float, float]]) -> list[str]:
    """Reds for classes entirely below 0 (darkest lowest), greens for classes entirely >= 0 (darkest highest)."""
    neg = [i for i, (lo, hi) in enumerate(bounds) if hi <= 0.0]
    pos = [i for i, (lo, hi) in enumerate(bounds) if lo >= 0.0]
    reds = ramp(len(neg), "#a50026", "#f46d43", None) if len(neg) > 1 else ["#d7191c"]
    greens = ramp(len(pos), "#a6d96a", "#006837", None) if len(pos) > 1 else ["#1a9641"]
    colors = ["#ffffbf"] * len(bounds)  # a class straddling 0: neutral
    for j, i in enumerate(neg):
        colors[i] = reds[j]
    for j, i in enumerate(pos):
        colors[i] = greens[j]
    return colors


def nep_class_scheme(breaks: Sequence[float] | None, preset: str | None = None) -> ClassScheme:
    """The class scheme of an NEP class raster (codes 1..k+1 of :func:`core.classes.classify_by_breaks`).

    Parameters
    ----------
    breaks : ``k`` strictly increasing breaks in g C m-2 yr-1 (a value equal to a break goes to the class
        above). May be None when ``preset`` is given; otherwise it must equal the preset's breaks.
    preset : ``"sign"``, ``"seed000"`` (source < 0, low 0-200, medium 200-400, high >= 400 sink; seed 000) or
        ``"seed004"`` (source < 0, weak sink 0-50, strong sink >= 50; seed 004): use the preset's labels.

    Returns
    -------
    ClassScheme with codes 1..k+1; labels from the preset, else interval labels in g C m-2 yr-1 with
    "(carbon source)" for classes entirely below 0 and "(carbon sink)" for classes entirely >= 0; colors red
    below 0, green above 0, pale yellow for a class straddling 0.
    """
    if preset is not None:
        if preset not in NEP_PRESETS:
            raise InputError(f"unknown NEP class preset {preset!r}: use one of {', '.join(NEP_PRESETS)}")
        preset_breaks, preset_labels = NEP_PRESETS[preset]
        if breaks is not None and _check_breaks(breaks) != preset_breaks:
            raise InputError(
                f"the NEP class preset {preset!r} has breaks {preset_breaks}, not {list(breaks)}: "
                "give no breaks with a preset, or custom breaks without one"
            )
        values, labels = list(preset_breaks), list(preset_labels)
    else:
        if breaks is None:
            raise InputError("give NEP class breaks (e.g. '0, 200, 400') or a preset")
        values = _check_breaks(breaks)
        labels = interval_labels(values, NEP_UNIT)
    edges = [-math.inf] + values + [math.inf]
    bounds = list(zip(edges, edges[1:]))
    if preset is None:
        for i, (lo, hi) in enumerate(bounds):
            if hi <= 0.0:
                labels[i] += " (carbon source)"
            elif lo >= 0.0:
                labels[i] += " (carbon sink)"
    codes = tuple(range(1, len(values) + 2))
    return ClassScheme(
        codes=codes,
        labels=tuple(labels),
        colors=tuple(_colors(bounds)),
        title="NEP class",
        extra={"breaks": values, "unit": NEP_UNIT, "preset": preset},
    )


# ---------------------------------------------------------------------------------------- per-year table


def nep_year_partials(nep: np.ndarray, area_m2: np.ndarray | float) -> dict[str, np.ndarray]:
    """Per-year area sums of one block of NEP, to merge over blocks with :func:`merge_partials`.

    Parameters
    ----------
    nep : ``(Y, rows, cols)`` NEP in g C m-2 yr-1 (NaN missing).
    area_m2 : pixel areas in m2, broadcastable to ``(rows, cols)`` (e.g. ``(rows, 1)`` from
        :func:`core.area.pixel_area_m2`, or a scalar).

    Returns
    -------
    dict of float64 arrays of shape ``(Y,)``: ``valid_area`` (m2 of valid pixels), ``weighted_sum``
    (sum of NEP x area, g C), ``sink_area`` (m2 where NEP > 0), ``source_area`` (m2 where NEP < 0).
    """
    x = np.asarray(nep, dtype=np.float64)
    if x.ndim < 1:
        raise InputError("NEP needs years on the first axis")
    area = np.broadcast_to(np.asarray(area_m2, dtype=np.float64), x.shape[1:]).reshape(-1)
    x = x.reshape(x.shape[0], -1)
    valid = np.isfinite(x)
    filled = np.where(valid, x, 0.0)
    return {
        "valid_area": (valid * area).sum(axis=1),
        "weighted_sum": (filled * area).sum(axis=1),
        "sink_area": ((filled > 0.0) * area).sum(axis=1),
        "source_area": ((filled < 0.0) * area).sum(axis=1),
    }


def merge_partials(a: dict[str, np.ndarray] | None, b: dict[str, np.ndarray] | None) -> dict[str, np.ndarray] | None:
    """Elementwise sum of two partial results of :func:`nep_year_partials` (``None`` + x = x)."""
    if a is None:
        return None if b is None else {k: np.array(v, dtype=np.float64) for k, v in b.items()}
    if b is None:
        return {k: np.array(v, dtype=np.float64) for k, v in a.items()}
    if set(a) != set(b):
        raise ValueError(f"cannot merge partials with keys {sorted(a)} and {sorted(b)}")
    return {k: np.asarray(a[k], dtype=np.float64) + np.asarray(b[k], dtype=np.float64) for k in a}


def nep_year_table(partials: dict[str, np.ndarray] | None, years: Sequence[int]) -> list[dict]:
    """Rows of the ``nep`` OUTPUT_TABLE from merged partials.

    Each row has the keys ``year, mean_nep, sink_area_km2, sink_pct, source_area_km2, source_pct, total_tgc``:

    - ``mean_nep`` = sum(NEP x area) / valid area, g C m-2 yr-1 (area-weighted mean; NaN with no valid area);
    - ``sink_area_km2`` / ``source_area_km2``: area where NEP > 0 / NEP < 0, km2 (NEP = 0 is in neither);
    - ``sink_pct`` / ``source_pct``: those areas in % of the valid area (NaN with no valid area);
    - ``total_tgc`` = sum(NEP [g C m-2] x area [m2]) x 1e-12, Tg C yr-1.
    """
    n = len(years)
    if partials is None:
        partials = {k: np.zeros(n) for k in _PARTIAL_KEYS}
    p = {k: np.asarray(partials[k], dtype=np.float64).reshape(-1) for k in _PARTIAL_KEYS}
    if any(v.size != n for v in p.values()):
        raise InputError(f"the NEP table has {p['valid_area'].size} years of sums but {n} years were given")
    rows = []
    for i, year in enumerate(years):
        valid = float(p["valid_area"][i])
        total = float(p["weighted_sum"][i])
        sink = float(p["sink_area"][i])
        source = float(p["source_area"][i])
        has = valid > 0.0
        rows.append(
            {
                "year": int(year),
                "mean_nep": total / valid if has else math.nan,
                "sink_area_km2": sink * 1e-6,
                "sink_pct": 100.0 * sink / valid if has else math.nan,
                "source_area_km2": source * 1e-6,
                "source_pct": 100.0 * source / valid if has else math.nan,
                "total_tgc": total * 1e-12,
            }
        )
    return rows
