"""MODIS annual NPP (MOD17A3HGF, collections 6 and 6.1, layer ``Npp_500m``): decoding and sanity checks.

The layer holds int16 digital numbers (DN) in kg C m-2 yr-1 with scale factor 0.0001 and valid range
-30000..32700, so that

    NPP [g C m-2 yr-1] = DN x 0.0001 [kg C m-2] x 1000 [g / kg] = DN x 0.1

Values above 32700 are not data but land-cover codes (32761 unclassified ... 32766 water) and the fill value
32767. Decoding masks them; :func:`land_code_mode` reports which code masked a pixel most often, because users
mask barren land, water and urban areas on purpose (seed 000, section 2.3.1).

Reference: Running, S., Zhao, M. (2019), MOD17A3HGF MODIS/Terra Net Primary Production Gap-Filled Yearly L4
Global 500 m SIN Grid V006 / V061, NASA EOSDIS Land Processes DAAC; user guide (MOD17 C6.1 UG).
"""

from __future__ import annotations

import numpy as np

from .classes import ClassScheme
from .errors import InputError

#: Non-data codes of ``Npp_500m`` above the valid range (MOD17 user guide, table of fill values).
LAND_CODES: dict[int, str] = {
    32761: "unclassified",
    32762: "urban or built-up",
    32763: "permanent wetland",
    32764: "permanent snow and ice",
    32765: "barren or sparsely vegetated",
    32766: "water",
    32767: "fill",
}

#: Smallest valid digital number.
VALID_MIN = -30000
#: Largest valid digital number; everything above is a land code or fill.
VALID_MAX = 32700
#: Multiply a DN by this to get g C m-2 yr-1 (0.0001 kg C m-2 x 1000 g/kg).
DN_TO_G = 0.1
#: Annual NPP above this (g C m-2 yr-1) is not plausible for any ecosystem: the input is not decoded NPP.
MAX_PLAUSIBLE_NPP = 3500.0

#: The land codes counted by :func:`land_code_mode` (every code except the fill value 32767).
_MASK_CODES = tuple(c for c in sorted(LAND_CODES) if c != 32767)


def decode_npp(dn: np.ndarray) -> np.ndarray:
    """Decode ``Npp_500m`` digital numbers to annual NPP.

    Parameters
    ----------
    dn : array of any shape (typically ``(years, rows, cols)``), int16 digital numbers (or floats holding them,
        NaN for nodata).

    Returns
    -------
    float64 array of the same shape: NPP in g C m-2 yr-1 = DN x 0.1 (MOD17 scale factor 0.0001 kg C m-2).
    NaN where the DN is NaN, above 32700 (land codes 32761..32766, fill 32767) or below -30000.
    """
    x = np.asarray(dn, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        valid = (x >= VALID_MIN) & (x <= VALID_MAX)
    return np.where(valid, x * DN_TO_G, np.nan)


_LAND_CODE_COLORS = {
    32761: "#bdbdbd",  # unclassified
    32762: "#e31a1c",  # urban
    32763: "#6a3d9a",  # wetland
    32764: "#a6cee3",  # snow and ice
    32765: "#fdbf6f",  # barren
    32766: "#1f78b4",  # water
}


def land_code_scheme() -> ClassScheme:
    """Legend of :func:`land_code_mode` rasters: 0 never masked, else the MODIS land code's meaning."""
    codes = (0, *_MASK_CODES)
    labels = ("Never masked (valid NPP)",) + tuple(f"{c} {LAND_CODES[c]}" for c in _MASK_CODES)
    colors = ("#f7fcf5",) + tuple(_LAND_CODE_COLORS[c] for c in _MASK_CODES)
    return ClassScheme(codes, labels, colors, title="MODIS land code that masked the pixel most often")


def land_code_mode(dn: np.ndarray) -> np.ndarray:
    """Per pixel, the land code that masked it most often over time.

    Parameters
    ----------
    dn : array ``(T, ...)`` of ``Npp_500m`` digital numbers, time on axis 0 (NaN allowed).

    Returns
    -------
    int16 array of shape ``dn.shape[1:]``: the code among 32761..32766 (unclassified, urban, wetland, snow/ice,
    barren, water) occurring most often in the pixel's series, ties going to the lower code; 0 where none of
    these codes occurs. The fill value 32767 is not counted (it says nothing about the land).
    """
    x = np.asarray(dn)
    if x.ndim == 0:
        raise InputError("land_code_mode needs a stack with time on the first axis, got a single value")
    counts = np.stack([np.count_nonzero(x == code, axis=0) for code in _MASK_CODES])
    best = np.argmax(counts, axis=0)  # first maximum = lower code on ties
    codes = np.asarray(_MASK_CODES, dtype=np.int16)[best]
    return np.where(counts.max(axis=0) > 0, codes, np.int16(0)).astype(np.int16)


def check_raw_dn(dn: np.ndarray, name: str = "INPUT") -> None:
    """Raise :class:`InputError` unless ``dn`` looks like raw ``Npp_500m`` digital numbers.

    Raw DN are integers in the int16 range -32768..32767. Non-integer values mean the stack was already decoded
    (or resampled, or is another product); values outside the int16 range mean it is not an int16 layer.
    NaN (nodata) is ignored.
    """
    x = np.asarray(dn, dtype=np.float64)
    finite = x[np.isfinite(x)]
    if finite.size == 0:
        return
    frac = finite != np.round(finite)
    if frac.any():
        example = float(finite[frac][0])
        raise InputError(
            f"{name} has non-integer values (e.g. {example:g}): MOD17A3HGF Npp_500m layers are int16 digital "
            "numbers (DN x 0.1 = g C m-2 yr-1). This input looks already decoded, resampled with interpolation "
            "or not MODIS NPP: give the original Npp_500m layers, or use an already decoded NPP stack directly "
            "(without Decode MODIS NPP)"
        )
    lo, hi = float(finite.min()), float(finite.max())
    if lo < -32768 or hi > 32767:
        raise InputError(
            f"{name} has values from {lo:g} to {hi:g}, outside the int16 range -32768..32767: MOD17A3HGF Npp_500m "
            "layers are int16 digital numbers; give the original Npp_500m layers"
        )


def check_decoded_npp(npp: np.ndarray, name: str = "NPP") -> None:
    """Raise :class:`InputError` when annual NPP (g C m-2 yr-1) is implausibly large.

    No ecosystem produces more than about 3,500 g C m-2 yr-1; larger values mean the input holds raw MODIS
    digital numbers (valid up to 32700) or is not annual NPP in g C m-2 yr-1. NaN is ignored.
    """
    x = np.asarray(npp, dtype=np.float64)
    finite = x[np.isfinite(x)]
    if finite.size == 0:
        return
    top = float(finite.max())
    if top > MAX_PLAUSIBLE_NPP:
        raise InputError(
            f"{name} has values up to {top:g}, more than {MAX_PLAUSIBLE_NPP:,.0f} g C m-2 yr-1: it looks like raw "
            "MODIS numbers: decode it with modis_npp (Decode MODIS NPP) first, or check that it is annual NPP in "
            "g C m-2 yr-1 (1 kg C m-2 = 1000 g C m-2)"
        )
