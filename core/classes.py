"""Class schemes: codes, labels and colors of a class raster, and classification by breaks.

A :class:`ClassScheme` is what a class raster means. The engine writes the codes, ``algorithms/`` turns the
scheme into the sidecar ``.qml`` style (labels and colors in the legend) and the class-area tables use the labels.

Codes follow ``ALGORITHMS.md``: trend classes are signed (-4..4, -2..2, -3..3); other class rasters number
classes from 1 in increasing order of the value they classify, 0 meaning "none". NaN input gets ``nodata``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .errors import InputError

#: Default nodata code of class rasters (int16 can hold the signed trend codes and this value).
CLASS_NODATA = -128

# Colors: sequential greens for "more sink", reds for sources / decreases, neutral grey for "none".
DIVERGING = {
    -4: "#a50026",
    -3: "#d73027",
    -2: "#f46d43",
    -1: "#fdae61",
    0: "#e0e0e0",
    1: "#a6d96a",
    2: "#66bd63",
    3: "#1a9850",
    4: "#006837",
}


@dataclass(frozen=True)
class ClassScheme:
    """Codes, labels and colors of a class raster.

    Parameters
    ----------
    codes : class codes, in legend order.
    labels : one label per code, in the papers' wording.
    colors : one ``#rrggbb`` color per code.
    nodata : the code written where the input is missing.
    title : what the classes are of (used in legends and tables).
    """

    codes: tuple[int, ...]
    labels: tuple[str, ...]
    colors: tuple[str, ...]
    nodata: int = CLASS_NODATA
    title: str = ""
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not (len(self.codes) == len(self.labels) == len(self.colors)):
            raise ValueError("a class scheme needs one label and one color per code")
        if self.nodata in self.codes:
            raise ValueError("the nodata code must differ from every class code")

    def label_of(self, code: int) -> str:
        """The label of ``code`` (``str(code)`` for a code the scheme does not know)."""
        for c, label in zip(self.codes, self.labels):
            if c == code:
                return label
        return str(code)

    def as_dict(self) -> dict[int, str]:
        return dict(zip(self.codes, self.labels))


def ramp(n: int, start: str = "#d7191c", end: str = "#1a9641", middle: str | None = "#ffffbf") -> list[str]:
    """``n`` colors interpolated from ``start`` through ``middle`` to ``end`` (hex ``#rrggbb``)."""

    def rgb(h: str) -> np.ndarray:
        h = h.lstrip("#")
        return np.array([int(h[i : i + 2], 16) for i in (0, 2, 4)], dtype=float)

    stops = [rgb(start)] + ([rgb(middle)] if middle else []) + [rgb(end)]
    if n == 1:
        return [start]
    out = []
    for i in range(n):
        pos = i / (n - 1) * (len(stops) - 1)
        k = min(int(math.floor(pos)), len(stops) - 2)
        frac = pos - k
        c = stops[k] * (1 - frac) + stops[k + 1] * frac
        out.append("#" + "".join(f"{int(round(v)):02x}" for v in c))
    return out


def parse_breaks(text: str, name: str = "CLASS_BREAKS") -> list[float]:
    """Parse a comma- or space-separated list of strictly increasing class breaks.

    >>> parse_breaks("0, 200, 400")
    [0.0, 200.0, 400.0]
    """
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p.strip()]
    if not parts:
        raise InputError(f"{name} is empty: give one or more class breaks separated by commas, e.g. '0, 200, 400'")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise InputError(
            f"{name} '{text}' is not a list of numbers: give class breaks separated by commas, e.g. '0, 200, 400'"
        ) from None
    if any(not math.isfinite(v) for v in values):
        raise InputError(f"{name} '{text}' contains a non-finite value")
    if any(b <= a for a, b in zip(values, values[1:])):
        raise InputError(f"{name} '{text}' must be strictly increasing, e.g. '0, 200, 400'")
    return values


def classify_by_breaks(values: np.ndarray, breaks: Sequence[float], nodata: int = CLASS_NODATA) -> np.ndarray:
    """Class codes 1..k+1 for ``k`` breaks: class i holds ``breaks[i-2] <= v < breaks[i-1]``.

    A value equal to a break falls in the class above it. NaN gets ``nodata``. Returns int16.
    """
    values = np.asarray(values)
    codes = np.searchsorted(np.asarray(breaks, dtype=float), values, side="right").astype(np.int16) + 1
    codes[np.isnan(values)] = nodata
    return codes


def _fmt(v: float) -> str:
    return f"{v:g}"


def interval_labels(breaks: Sequence[float], unit: str = "") -> list[str]:
    """Labels ``< b1``, ``b1 - b2``, ..., ``>= bk`` for the classes of :func:`classify_by_breaks`."""
    u = f" {unit}" if unit else ""
    labels = [f"< {_fmt(breaks[0])}{u}"]
    labels += [f"{_fmt(a)} - {_fmt(b)}{u}" for a, b in zip(breaks, breaks[1:])]
    labels.append(f">= {_fmt(breaks[-1])}{u}")
    return labels


def class_areas(codes: np.ndarray, area_m2: np.ndarray, scheme: ClassScheme) -> np.ndarray:
    """Area (m2) of every class of ``scheme`` in a block of class codes ``(..., rows, cols)``.

    ``area_m2`` broadcasts to ``(rows, cols)`` (per-row areas from :func:`core.area.pixel_area_m2`). Returns
    float64 of shape ``(len(scheme.codes),)``; codes outside the scheme (and nodata) are not counted. Sum the
    results of several blocks to get a raster's class areas.
    """
    codes = np.asarray(codes)
    area = np.broadcast_to(np.asarray(area_m2, dtype=np.float64), codes.shape[-2:])
    area = np.broadcast_to(area, codes.shape)
    return np.array([area[codes == c].sum() for c in scheme.codes], dtype=np.float64)


def class_area_rows(areas_m2: np.ndarray, scheme: ClassScheme) -> list[dict]:
    """Rows ``class, label, area_km2, share_pct`` (share of the classified area) from :func:`class_areas`."""
    areas = np.asarray(areas_m2, dtype=np.float64)
    total = float(areas.sum())
    return [
        {
            "class": int(code),
            "label": label,
            "area_km2": float(a) / 1e6,
            "share_pct": 100.0 * float(a) / total if total > 0 else float("nan"),
        }
        for code, label, a in zip(scheme.codes, scheme.labels, areas)
    ]
