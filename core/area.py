"""Pixel areas for area-weighted means and totals, from a raster's affine transform and CRS.

- Geographic CRS: the area of a cell depends on its latitude only. It is computed per row on the CRS's
  ellipsoid with the exact (authalic) formula for the area between two parallels:

      A = (b^2 * dlambda / 2) * [q(phi_north) - q(phi_south)]
      q(phi) = sin(phi) / (1 - e^2 sin^2 phi) + ln((1 + e sin phi) / (1 - e sin phi)) / (2 e)
      b^2 = a^2 (1 - e^2),  e^2 = f (2 - f)

  (on a sphere, e = 0: A = a^2 dlambda (sin phi_north - sin phi_south)). On WGS84 the whole globe is
  510,065,621.7 km2 and a 0.5 degree cell at the equator 3,077.2 km2.
- Projected CRS: pixel area = |det(affine)| x (linear unit in metres)^2. Correct only for an equal-area
  projection: :func:`area_warning` says so for the others (Web Mercator areas grow as 1 / cos^2(latitude)).
- Totals (elsewhere): Tg C = sum(value [g C m-2] x area [m2]) x 1e-12.

Reference: Snyder, J.P. (1987), Map Projections - A Working Manual, USGS Prof. Paper 1395, eq. 3-12 (q) and
the authalic-latitude area of a zone.

CRS inputs may be a rasterio ``CRS`` (or anything with ``to_wkt()``) or a WKT string (WKT1, ESRI WKT or WKT2).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InputError

#: WGS84 semi-major axis (m) and flattening, used when a CRS names no ellipsoid.
WGS84 = (6378137.0, 1.0 / 298.257223563)

_GEOGRAPHIC = {"GEOGCS", "GEOGCRS", "GEOGRAPHICCRS", "GEODCRS", "GEODETICCRS"}
_PROJECTED = {"PROJCS", "PROJCRS", "PROJECTEDCRS"}
_WRAPPERS = {"BOUNDCRS", "SOURCECRS", "COMPD_CS", "COMPOUNDCRS"}
_UNIT_KEYS = {"UNIT", "LENGTHUNIT", "ANGLEUNIT"}

#: Equal-area projection methods, matched as whole words on the lower-cased method name with '_' and
#: punctuation turned into spaces (WKT1 ``PROJECTION["Albers_Conic_Equal_Area"]``, WKT2
#: ``METHOD["Albers Equal Area"]``, ESRI names).
_EQUAL_AREA_PATTERNS = (
    r"\bequal area\b",  # Albers, Lambert azimuthal, (Lambert) cylindrical equal area, their spherical forms
    r"\bequal earth\b",
    r"\bsinusoidal\b",
    r"\bmollweide\b",
    r"\beckert (ii|iv|vi)\b",
    r"\bgoode\b",
    r"\bhomolosine\b",
    r"\bbehrmann\b",
    r"\bbonne\b",
    r"\bquartic authalic\b",
    r"\bhammer\b",
)
#: PROJ ``+proj=`` names of the same projections (for WKT carrying an ``EXTENSION["PROJ4", ...]``).
_EQUAL_AREA_PROJ = {
    "aea",
    "laea",
    "cea",
    "eqearth",
    "sinu",
    "moll",
    "eck2",
    "eck4",
    "eck6",
    "igh",
    "goode",
    "bonne",
    "hammer",
}

#: A rasterio ``CRS`` (or anything with ``to_wkt()``) or WKT text.
CrsLike = Any


# --------------------------------------------------------------------------------------------- WKT parsing


@dataclass
class _Node:
    key: str
    args: list  # str (quoted), float (numbers), str (bare enum words, kept as-is) or _Node

    def children(self, *keys: str) -> list[_Node]:
        return [a for a in self.args if isinstance(a, _Node) and a.key in keys]

    def child(self, *keys: str) -> _Node | None:
        found = self.children(*keys)
        return found[0] if found else None

    def find(self, *keys: str) -> _Node | None:
        """First node with one of ``keys`` in depth-first order (self included)."""
        if self.key in keys:
            return self
        for a in self.args:
            if isinstance(a, _Node):
                hit = a.find(*keys)
                if hit is not None:
                    return hit
        return None

    def name(self) -> str:
        return self.args[0] if self.args and isinstance(self.args[0], str) else ""

    def numbers(self) -> list[float]:
        return [a for a in self.args if isinstance(a, float)]


_TOKEN = re.compile(r'\s*(?:"((?:[^"]|"")*)"|([\[\]\(\),])|([^\s\[\]\(\),"]+))')


def _parse_wkt(wkt: str) -> _Node:
    """Parse WKT1 / WKT2 text into a tree of :class:`_Node` (quoted strings and numbers as leaves)."""
    tokens = []
    pos = 0
    text = wkt.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise InputError(f"cannot read the CRS definition (WKT) near: {text[pos : pos + 40]!r}")
        pos = m.end()
        if m.group(1) is not None:
            tokens.append(("str", m.group(1).replace('""', '"')))
        elif m.group(2) is not None:
            tokens.append(("punct", m.group(2)))
        elif m.group(3) is not None:
            tokens.append(("word", m.group(3)))

    def parse(i: int) -> tuple[Any, int]:
        kind, value = tokens[i]
        if kind == "str":
            return value, i + 1
        if kind != "word":
            raise InputError("cannot read the CRS definition (WKT): unexpected " + value)
        if i + 1 < len(tokens) and tokens[i + 1] in (("punct", "["), ("punct", "(")):
            node = _Node(value.upper(), [])
            i += 2
            while i < len(tokens) and tokens[i] not in (("punct", "]"), ("punct", ")")):
                if tokens[i] == ("punct", ","):
                    i += 1
                    continue
                arg, i = parse(i)
                node.args.append(arg)
            return node, i + 1
        try:
            return float(value), i + 1
        except ValueError:
            return value, i + 1

    if not tokens:
        raise InputError("the CRS definition is empty: assign a CRS to the raster")
    root, _ = parse(0)
    if not isinstance(root, _Node):
        raise InputError(f"cannot read the CRS definition (WKT): {wkt[:60]!r}")
    return root


def _horizontal(root: _Node) -> _Node:
    """The horizontal CRS node: unwrap BOUNDCRS / SOURCECRS and take the first part of a compound CRS."""
    node = root
    while node.key in _WRAPPERS:
        inner = next((a for a in node.args if isinstance(a, _Node) and a.key != "ID"), None)
        if inner is None:
            break
        node = inner
    return node


def _wkt_text(crs: CrsLike) -> str:
    if crs is None:
        raise InputError("the raster has no CRS: assign a CRS to it (Layer Properties > Source) and run again")
    if isinstance(crs, str):
        text = crs.strip()
    else:
        if not crs:  # an empty rasterio CRS is falsy
            raise InputError("the raster has no CRS: assign a CRS to it (Layer Properties > Source) and run again")
        to_wkt = getattr(crs, "to_wkt", None)
        text = to_wkt() if callable(to_wkt) else str(crs)
    if not text:
        raise InputError("the raster has no CRS: assign a CRS to it (Layer Properties > Source) and run again")
    return text


def _crs_node(crs: CrsLike) -> _Node:
    return _horizontal(_parse_wkt(_wkt_text(crs)))


def _is_geographic(crs: CrsLike, node: _Node) -> bool:
    flag = getattr(crs, "is_geographic", None) if not isinstance(crs, str) else None
    if isinstance(flag, bool):
        return flag
    return node.key in _GEOGRAPHIC


def _unit_factor(unit: _Node | None) -> float | None:
    if unit is None:
        return None
    nums = unit.numbers()
    return nums[0] if nums else None


def _linear_unit_factor(node: _Node) -> float:
    """Metres per unit of a projected CRS node (WKT1 ``UNIT`` child of PROJCS, WKT2 ``LENGTHUNIT`` of the CS)."""
    if node.key == "PROJCS":
        f = _unit_factor(node.child("UNIT"))
        return f if f else 1.0
    f = _unit_factor(node.child("LENGTHUNIT", "UNIT"))
    if f:
        return f
    for axis in node.children("AXIS"):
        f = _unit_factor(axis.child("LENGTHUNIT", "UNIT"))
        if f:
            return f
    return 1.0


def _angular_unit_degrees(node: _Node) -> float:
    """Degrees per unit of a geographic CRS node (1 for degrees, 0.9 for grads)."""
    if node.key == "GEOGCS":
        unit = node.child("UNIT")
    else:
        unit = node.child("ANGLEUNIT", "UNIT")
        if unit is None:
            for axis in node.children("AXIS"):
                unit = axis.child("ANGLEUNIT", "UNIT")
                if unit is not None:
                    break
    f = _unit_factor(unit)
    deg = math.degrees(f) if f else 1.0
    return 1.0 if abs(deg - 1.0) < 1e-12 else deg


def _crs_label(node: _Node) -> str:
    name = node.name()
    auth = node.child("AUTHORITY", "ID")
    if auth is not None and len(auth.args) >= 2:
        code = auth.args[1]
        code = str(int(code)) if isinstance(code, float) and code.is_integer() else str(code)
        tag = f"{auth.args[0]}:{code}"
        return f"{name} ({tag})" if name else tag
    return name or "unnamed CRS"


# ------------------------------------------------------------------------------------------------ public


def ellipsoid_of(crs: CrsLike) -> tuple[float, float]:
    """Semi-major axis ``a`` (m) and flattening ``f`` of a CRS's ellipsoid.

    Parameters
    ----------
    crs : rasterio CRS (or anything with ``to_wkt()``) or a WKT1 / WKT2 string.

    Returns
    -------
    (a, f): from the first ``SPHEROID[name, a, 1/f]`` (WKT1) or ``ELLIPSOID[name, a, 1/f, LENGTHUNIT[...]]``
    (WKT2, ``a`` converted to metres) in the definition; ``1/f = 0`` means a sphere (f = 0). WGS84
    (6378137, 1/298.257223563) when the definition names no ellipsoid.
    """
    node = _crs_node(crs)
    ell = node.find("SPHEROID", "ELLIPSOID")
    if ell is None:
        return WGS84
    nums = ell.numbers()
    if len(nums) < 2:
        raise InputError(f"cannot read the ellipsoid of the CRS {_crs_label(node)}: {ell.name()!r}")
    a, inv_f = nums[0], nums[1]
    factor = _unit_factor(ell.child("LENGTHUNIT", "UNIT"))
    if factor:
        a *= factor
    return float(a), (0.0 if inv_f == 0 else 1.0 / float(inv_f))


def _q_difference(lat1: np.ndarray, lat2: np.ndarray, e: float) -> np.ndarray:
    """q(phi1) - q(phi2) (Snyder's q, latitudes in degrees), without cancellation for thin rows.

    With s = sin(phi), D = 1 - e^2 s^2 and d = s1 - s2 = 2 cos((phi1 + phi2) / 2) sin((phi1 - phi2) / 2):

        s1 / D1 - s2 / D2 = d (1 + e^2 s1 s2) / (D1 D2)
        [atanh(e s1) - atanh(e s2)] / e = atanh(e d / (1 - e^2 s1 s2)) / e

    so the difference never subtracts two nearly equal q values (which loses up to 1e-7 relative accuracy for
    a 0.001 degree row next to a pole); the half-difference is taken in degrees (exact for nearby edges) before
    the conversion to radians. On a sphere (e = 0) it is 2 d.
    """
    mid = np.abs((lat1 + lat2) / 2.0)
    # cos(mid) near a pole as sin(90 - mid): 90 - mid is exact there, radians(mid) is not
    cos_mid = np.where(mid > 45.0, np.sin(np.radians(90.0 - mid)), np.cos(np.radians(mid)))
    d = 2.0 * cos_mid * np.sin(np.radians((lat1 - lat2) / 2.0))
    if e == 0.0:
        return 2.0 * d
    e2 = e * e
    s1 = np.sin(np.radians(lat1))
    s2 = np.sin(np.radians(lat2))
    prod = e2 * s1 * s2
    first = d * (1.0 + prod) / ((1.0 - e2 * s1 * s1) * (1.0 - e2 * s2 * s2))
    return first + np.arctanh(e * d / (1.0 - prod)) / e


def geographic_row_areas(
    lat_north: np.ndarray | float,
    lat_south: np.ndarray | float,
    dlon_deg: float,
    a: float = WGS84[0],
    f: float = WGS84[1],
) -> np.ndarray:
    """Area in m2 of one cell between two parallels on an ellipsoid (exact authalic formula).

    ``A = (b^2 dlambda / 2) [q(phi_north) - q(phi_south)]``, ``q`` as in the module docstring, ``dlambda`` in
    radians; a sphere (``f = 0``) gives ``a^2 dlambda (sin phi_north - sin phi_south)``. The difference of the
    q values is evaluated in an equivalent form free of cancellation (see ``_q_difference``): relative accuracy
    about 1e-13 for any row, including 0.0001 degree rows at a pole.

    Parameters
    ----------
    lat_north, lat_south : latitudes of the cell edges in degrees (arrays broadcast; clipped to -90..90; the
        order does not matter).
    dlon_deg : cell width in degrees of longitude.
    a, f : semi-major axis (m) and flattening (WGS84 by default).

    Returns
    -------
    float64 array: the cell areas in m2 (0 for a row entirely beyond a pole).
    """
    if not (a > 0 and 0 <= f < 1):
        raise InputError(f"invalid ellipsoid: semi-major axis {a}, flattening {f}")
    lat1 = np.clip(np.asarray(lat_north, dtype=np.float64), -90.0, 90.0)
    lat2 = np.clip(np.asarray(lat_south, dtype=np.float64), -90.0, 90.0)
    e2 = f * (2.0 - f)
    e = math.sqrt(e2)
    b2 = a * a * (1.0 - e2)
    dlam = math.radians(abs(float(dlon_deg)))
    return np.abs(b2 * dlam / 2.0 * _q_difference(lat1, lat2, e))


def pixel_area_m2(transform: Any, crs: CrsLike, row_off: int, n_rows: int) -> np.ndarray:
    """Area of the pixels of rows ``row_off .. row_off + n_rows - 1`` of a raster, m2, shape ``(n_rows, 1)``.

    Parameters
    ----------
    transform : the raster's affine transform (``affine.Affine``: x = a col + b row + c, y = d col + e row + f).
    crs : the raster's CRS (rasterio CRS or WKT).
    row_off, n_rows : the block's first row and number of rows.

    Returns
    -------
    float64 ``(n_rows, 1)`` (broadcasts over the columns):

    - geographic CRS: per row, :func:`geographic_row_areas` between the row's edge latitudes
      ``f + e * row`` and ``f + e * (row + 1)`` with ``dlon = |a|``, on the CRS's ellipsoid;
    - projected CRS: ``|a e - b d|`` times the square of the linear unit in metres (feet grids come out in m2).

    Raises InputError for a raster without CRS or a rotated geographic grid.
    """
    if n_rows < 0:
        raise ValueError("n_rows must be >= 0")
    node = _crs_node(crs)
    ta, tb, _tc, td, te, tf = (float(v) for v in tuple(transform)[:6])
    if _is_geographic(crs, node):
        if tb != 0.0 or td != 0.0:
            raise InputError(
                f"the raster's geographic grid ({_crs_label(node)}) is rotated: pixel areas need a north-up grid; "
                "warp it to a north-up grid first (Raster > Projections > Warp)"
            )
        deg = _angular_unit_degrees(node)
        a, f = ellipsoid_of(crs)
        rows = np.arange(row_off, row_off + n_rows, dtype=np.float64)
        top = (tf + te * rows) * deg
        bottom = (tf + te * (rows + 1.0)) * deg
        return geographic_row_areas(top, bottom, abs(ta) * deg, a, f).reshape(n_rows, 1)
    factor = None
    if not isinstance(crs, str):
        try:
            factor = float(crs.linear_units_factor[1])
        except (AttributeError, TypeError, ValueError, IndexError):  # not a rasterio CRS / no answer: read the WKT
            factor = None
    if not factor:
        factor = _linear_unit_factor(node)
    area = abs(ta * te - tb * td) * factor * factor
    return np.full((n_rows, 1), area, dtype=np.float64)


def _projection_method(node: _Node, wkt: str) -> tuple[str, str]:
    """(method name, PROJ name) of a projected CRS node: WKT1 PROJECTION, WKT2 CONVERSION/METHOD, PROJ4 extension."""
    method = ""
    proj = node.child("PROJECTION")
    if proj is not None:
        method = proj.name()
    else:
        conv = node.child("CONVERSION", "DERIVINGCONVERSION")
        meth = conv.child("METHOD", "PROJECTION") if conv is not None else None
        if meth is not None:
            method = meth.name()
    m = re.search(r"\+proj=(\w+)", wkt)
    return method, (m.group(1).lower() if m else "")


def is_equal_area(crs: CrsLike) -> bool:
    """True when ``crs`` is a projected CRS with an equal-area projection.

    Recognised (WKT1, ESRI and WKT2 method names, case-insensitive): Albers equal area, Lambert azimuthal equal
    area, (Lambert) cylindrical equal area (incl. Behrmann), sinusoidal, Mollweide, Equal Earth, Eckert II / IV /
    VI, Goode homolosine (interrupted or not), Bonne, Hammer, quartic authalic. Geographic CRSs are not
    projections: False (their areas are computed on the ellipsoid, see :func:`pixel_area_m2`).
    """
    text = _wkt_text(crs)
    node = _horizontal(_parse_wkt(text))
    if _is_geographic(crs, node) or node.key not in _PROJECTED:
        return False
    method, proj = _projection_method(node, text)
    norm = re.sub(r"[^a-z0-9]+", " ", method.lower()).strip()
    if any(re.search(p, norm) for p in _EQUAL_AREA_PATTERNS):
        return True
    return proj in _EQUAL_AREA_PROJ


def area_warning(crs: CrsLike) -> str | None:
    """A warning for area-weighted results in ``crs``, or None when its areas are right.

    None for a geographic CRS (areas computed on the ellipsoid) or an equal-area projection; otherwise a
    sentence saying that pixel areas (and so area-weighted means, areas and totals) are distorted in that CRS.
    """
    text = _wkt_text(crs)
    node = _horizontal(_parse_wkt(text))
    if _is_geographic(crs, node) or is_equal_area(crs):
        return None
    label = _crs_label(node)
    method, _ = _projection_method(node, text)
    method = method.replace("_", " ")
    if method:
        label = f"{label[:-1]}, {method} projection)" if label.endswith(")") else f"{label} ({method} projection)"
    extra = ""
    low = method.lower() + " " + label.lower()
    if "transverse" in low or "utm" in low:
        extra = (
            " In Transverse Mercator (UTM) the error is small inside the zone (about -0.1 % to +0.2 %) but grows "
            "quickly away from its central meridian."
        )
    elif "mercator" in low:
        extra = " Mercator areas grow as 1 / cos^2(latitude): x1.33 at 30 degrees, x2 at 45, x4 at 60."
    return (
        f"The CRS {label} is not an equal-area projection: pixel areas taken from its grid are distorted, "
        f"so areas, area-weighted means and totals are wrong.{extra} Reproject the rasters to an equal-area CRS "
        "(e.g. Albers or Lambert azimuthal equal area for a region, EPSG:6933 or MODIS sinusoidal globally) or to "
        "a geographic CRS (areas are then computed on the ellipsoid)."
    )
