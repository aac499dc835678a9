"""Soil heterotrophic respiration (Rh) from monthly climate: the Pei model and GSMSR + Rs -> Rh conversions.

Units used throughout: temperature in deg C (monthly mean air temperature), precipitation in mm per month
(GSMSR converts to cm inside), soil organic carbon density in kg C m-2 of the top 20 cm, respiration in
g C m-2 per month (monthly) or g C m-2 yr-1 (annual). A monthly stack has 12 bands per year, January first,
time on axis 0.

References
----------
Pei, Z., Ouyang, H., Zhou, C., Xu, X. (2009). Carbon balance in an alpine steppe in the Qinghai-Tibet Plateau.
    J. Integr. Plant Biol. 51(5), 521-526 (used by seeds 000, 002, 003).
Yu, D. et al. (2010). A GIS-based model of soil respiration (GSMSR) ... (used by seed 002).
Raich, J.W., Potter, C.S., Bhagawati, D. (2002). Interannual variability in global soil respiration, 1980-94.
    Glob. Change Biol. 8, 800-812 (the daily-rate model GSMSR modifies).
Bond-Lamberty, B., Wang, C., Gower, S.T. (2004). A global relationship between the heterotrophic and
    autotrophic components of soil respiration. Glob. Change Biol. 10, 1756-1766.
Shi, Z. (2015). Spatial-temporal simulation of vegetation carbon sink ... based on CASA and GSMSR model
    (thesis, Northwest A&F University), cited by seed 002.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence

import numpy as np

from .errors import InputError

#: Pei et al. (2009) constants: Rh = A * (exp(B T) + ln(C P + 1)) * DAYS * CARBON.
_PEI_A = 0.22
_PEI_B = 0.0912
_PEI_C = 0.3145
_PEI_DAYS = 30.0
_PEI_CARBON = 0.465

#: GSMSR parameters (Yu et al. 2010; seed 002 prints beta = -0.0006, P0 = 2.97, K = 5.66).
GSMSR_DEFAULTS: dict[str, float] = {"r0": 0.588, "m": 0.118, "alpha": 1.83, "beta": -0.006, "p0": 2.972, "k": 5.657}

#: Monthly Rs range (g C m-2 month-1) inside which Shi's Rs -> Rh relation is used as fitted.
SHI_RS_RANGE = (0.0, 600.0)

#: Soil carbon density above this (kg C m-2, top 20 cm) is taken as a unit error.
MAX_SOIL_CARBON = 200.0


def _finite(x: np.ndarray | float) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    return a[np.isfinite(a)]


# --------------------------------------------------------------------------------------------- input checks


def check_temperature(t: np.ndarray, name: str = "TEMPERATURE") -> None:
    """Raise :class:`InputError` unless ``t`` looks like air temperature in deg C.

    A mean of the valid values above 100 means Kelvin; any valid value below -100 deg C means an undeclared
    nodata value (e.g. -9999). NaN is ignored.
    """
    v = _finite(t)
    if v.size == 0:
        return
    mean = float(v.mean())
    if mean > 100.0:
        raise InputError(
            f"{name} has a mean of {mean:.1f}: it looks like Kelvin: convert to deg C (subtract 273.15), "
            "e.g. with the raster calculator"
        )
    low = float(v.min())
    if low < -100.0:
        raise InputError(
            f"{name} has values down to {low:g}, below -100 deg C: is its nodata value declared? Set the layer's "
            "nodata value (e.g. -9999) so those pixels are treated as missing"
        )


def check_precipitation(p: np.ndarray, name: str = "PRECIPITATION") -> None:
    """Raise :class:`InputError` if any valid precipitation value is negative.

    Precipitation (mm per month) cannot be negative, and the Pei model's ln(0.3145 P + 1) is undefined for
    P <= -3.18 mm. NaN is ignored.
    """
    v = _finite(p)
    if v.size == 0:
        return
    low = float(v.min())
    if low < 0.0:
        raise InputError(
            f"{name} has negative values (minimum {low:g}): precipitation (mm per month) cannot be negative; "
            "declare the layer's nodata value or fix the data"
        )


def check_soil_carbon(ds: np.ndarray | float, name: str = "SOIL_CARBON") -> None:
    """Raise :class:`InputError` unless ``ds`` looks like soil organic carbon density in kg C m-2 (top 20 cm).

    Negative values are impossible; values above 200 kg C m-2 mean another unit (t C/ha or g C/m2). NaN is
    ignored.
    """
    v = _finite(ds)
    if v.size == 0:
        return
    low, high = float(v.min()), float(v.max())
    units = (
        "GSMSR expects the soil organic carbon density of the top 20 cm in kg C m-2 (typically 1 to 30): "
        "convert t C/ha by dividing by 10 (1 t/ha = 0.1 kg/m2) and g C/m2 by dividing by 1000"
    )
    if low < 0.0:
        raise InputError(f"{name} has negative values (minimum {low:g}): {units}; declare its nodata value")
    if high > MAX_SOIL_CARBON:
        raise InputError(f"{name} has values up to {high:g}, more than {MAX_SOIL_CARBON:g}: {units}")


# ------------------------------------------------------------------------------------------------- helpers


def monthly_to_annual(x: np.ndarray) -> np.ndarray:
    """Sum each year's 12 months.

    Parameters
    ----------
    x : array ``(12 * Y, ...)``, monthly values (January first), time on axis 0.

    Returns
    -------
    float64 array ``(Y, ...)``: the sum of each year's 12 months; NaN where any of its months is NaN.
    """
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 0:
        raise InputError("a monthly stack needs time on the first axis, got a single value")
    n = a.shape[0]
    if n == 0 or n % 12:
        raise InputError(
            f"a monthly stack needs 12 bands per year, January first: got {n} bands "
            f"({n // 12} year(s) and {n % 12} month(s)); give whole years"
        )
    return a.reshape((n // 12, 12) + a.shape[1:]).sum(axis=1)


def days_in_months(years: Sequence[int]) -> np.ndarray:
    """Number of days of each month of ``years`` (leap years counted), shape ``(12 * len(years),)``, float64."""
    return np.array([calendar.monthrange(int(y), m)[1] for y in years for m in range(1, 13)], dtype=np.float64)


def _same_shape(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise InputError(
            f"{name_a} has shape {a.shape} but {name_b} has {b.shape}: give both for the same months and grid"
        )


# ---------------------------------------------------------------------------------------------- Pei (2009)


def pei_rh(t: np.ndarray | float, p: np.ndarray | float) -> np.ndarray:
    """Monthly heterotrophic respiration of Pei et al. (2009), elementwise.

    ``Rh = 0.22 * (exp(0.0912 * T) + ln(0.3145 * P + 1)) * 30 * 0.465``

    Parameters
    ----------
    t : monthly mean air temperature, deg C.
    p : monthly precipitation, mm (must be >= 0; see :func:`check_precipitation`).

    Returns
    -------
    float64 array (broadcast of ``t`` and ``p``): Rh in g C m-2 month-1. The 30 turns the daily rate into a
    month, 0.465 is the carbon fraction. NaN where an input is NaN (or P <= -3.18 mm, where ln is undefined).
    Seed 003 prints 0.913 for 0.0912, a typo.
    """
    t = np.asarray(t, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        moisture = np.asarray(_PEI_C * p)  # in-place steps below: fewer full-size temporaries
        moisture += 1.0
        np.log(moisture, out=moisture)  # NaN for P < -3.18 mm, -inf at P = -3.18 mm
        moisture[moisture == -np.inf] = np.nan
        warmth = np.asarray(_PEI_B * t)
        np.exp(warmth, out=warmth)
        rh = np.asarray(warmth + moisture)  # broadcast of t and p
        rh *= _PEI_A * _PEI_DAYS * _PEI_CARBON
    return rh


def pei_rh_annual(t_monthly: np.ndarray, p_monthly: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Annual Rh of Pei et al. (2009) from monthly climate (the default mode).

    Parameters
    ----------
    t_monthly : ``(12 * Y, ...)`` monthly mean air temperature, deg C, January first.
    p_monthly : ``(12 * Y, ...)`` monthly precipitation, mm.

    Returns
    -------
    annual : ``(Y, ...)`` Rh in g C m-2 yr-1 = sum of the 12 monthly values (NaN if any month is missing).
    monthly : ``(12 * Y, ...)`` Rh in g C m-2 month-1 from :func:`pei_rh`.
    """
    t = np.asarray(t_monthly, dtype=np.float64)
    p = np.asarray(p_monthly, dtype=np.float64)
    _same_shape(t, p, "TEMPERATURE", "PRECIPITATION")
    monthly = pei_rh(t, p)
    return monthly_to_annual(monthly), monthly


def pei_rh_annual_inputs(t_annual: np.ndarray, p_annual: np.ndarray) -> np.ndarray:
    """Pei's formula evaluated once a year on annual mean T and annual total P ("annual inputs (as in some papers)").

    ``Rh = 0.22 * (exp(0.0912 * T_year) + ln(0.3145 * P_year + 1)) * 30 * 0.465``

    The formula was fitted on monthly values (the 30 turns a daily rate into a month), so this mode returns
    about one month's worth of respiration for a whole year: some papers use it, but it underestimates annual Rh
    about 8x for a temperate year. Worked example: months with T = 4 - 15 cos(2 pi m / 12), m = 0..11
    (-11 deg C in January, 19 in July, mean 4) and 30 mm of rain every month (360 mm a year):

    - monthly (default, :func:`pei_rh_annual`): sum of the 12 monthly Rh = 167.3 g C m-2 yr-1;
    - annual inputs: 0.22 * (exp(0.0912 * 4) + ln(0.3145 * 360 + 1)) * 13.95
      = 0.22 * (1.4402 + 4.7381) * 13.95 = 19.0 g C m-2 yr-1, 8.8x less.

    Parameters
    ----------
    t_annual : ``(Y, ...)`` annual mean air temperature, deg C.
    p_annual : ``(Y, ...)`` annual total precipitation, mm.

    Returns
    -------
    float64 ``(Y, ...)``: Rh in g C m-2 yr-1 as computed in those papers. Log a warning when using it.
    """
    t = np.asarray(t_annual, dtype=np.float64)
    p = np.asarray(p_annual, dtype=np.float64)
    _same_shape(t, p, "TEMPERATURE", "PRECIPITATION")
    return pei_rh(t, p)


# ------------------------------------------------------------------------------------------ GSMSR (2010)


def gsmsr_rs_daily(
    t: np.ndarray | float,
    p_mm: np.ndarray | float,
    soil_carbon: np.ndarray | float,
    r0: float = GSMSR_DEFAULTS["r0"],
    m: float = GSMSR_DEFAULTS["m"],
    alpha: float = GSMSR_DEFAULTS["alpha"],
    beta: float = GSMSR_DEFAULTS["beta"],
    p0: float = GSMSR_DEFAULTS["p0"],
    k: float = GSMSR_DEFAULTS["k"],
) -> np.ndarray:
    """Daily soil respiration rate of GSMSR (Yu et al. 2010), elementwise (broadcasting).

    ``Rs = (R0 + M * Ds) * exp(ln(alpha * exp(beta * T)) * T / 10) * (P + P0) / (P + K)``

    with ``ln(alpha * exp(beta T)) = ln(alpha) + beta T``.

    Parameters
    ----------
    t : monthly mean air temperature, deg C.
    p_mm : monthly precipitation, mm (converted to cm, P = p_mm / 10, inside).
    soil_carbon : Ds, soil organic carbon density of the top 20 cm, kg C m-2.
    r0, m, alpha, beta, p0, k : model parameters, defaults R0 = 0.588, M = 0.118, alpha = 1.83,
        beta = -0.006, P0 = 2.972, K = 5.657 (seed 002 prints beta = -0.0006, P0 = 2.97, K = 5.66).

    Returns
    -------
    float64 array: Rs in g C m-2 day-1 (a daily rate, as in Raich et al. 2002). NaN where an input is NaN.
    """
    if not alpha > 0:
        raise InputError(f"ALPHA must be positive (GSMSR takes ln(alpha)), got {alpha}")
    t = np.asarray(t, dtype=np.float64)
    p_cm = np.asarray(p_mm, dtype=np.float64) / 10.0
    ds = np.asarray(soil_carbon, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        temp = np.exp((np.log(alpha) + beta * t) * t / 10.0)
        return (r0 + m * ds) * temp * (p_cm + p0) / (p_cm + k)


def _days_column(years: Sequence[int], n_months: int, ndim: int) -> np.ndarray:
    days = days_in_months(years)
    if days.size != n_months:
        raise InputError(
            f"the monthly stack has {n_months} bands but {len(years)} years need {days.size}: "
            "give 12 bands per year, January first, and the right first year"
        )
    return days.reshape((n_months,) + (1,) * (ndim - 1))


def gsmsr_rs_monthly(
    t_monthly: np.ndarray,
    p_monthly_mm: np.ndarray,
    soil_carbon: np.ndarray | float,
    years: Sequence[int],
    **params: float,
) -> np.ndarray:
    """Monthly soil respiration of GSMSR: the daily rate of :func:`gsmsr_rs_daily` x days in that month.

    Parameters
    ----------
    t_monthly : ``(12 * Y, ...)`` monthly mean air temperature, deg C, January first.
    p_monthly_mm : ``(12 * Y, ...)`` monthly precipitation, mm.
    soil_carbon : kg C m-2 (top 20 cm), broadcastable against the trailing shape (e.g. ``(rows, cols)``) or
        against the whole stack, or a scalar.
    years : the ``Y`` calendar years (leap years have a 29-day February).
    **params : GSMSR parameters (``r0, m, alpha, beta, p0, k``), see :data:`GSMSR_DEFAULTS`.

    Returns
    -------
    float64 ``(12 * Y, ...)``: Rs in g C m-2 month-1.
    """
    unknown = set(params) - set(GSMSR_DEFAULTS)
    if unknown:
        raise InputError(f"unknown GSMSR parameter(s) {sorted(unknown)}; known: {sorted(GSMSR_DEFAULTS)}")
    t = np.asarray(t_monthly, dtype=np.float64)
    p = np.asarray(p_monthly_mm, dtype=np.float64)
    _same_shape(t, p, "TEMPERATURE", "PRECIPITATION")
    if t.ndim == 0:
        raise InputError("a monthly stack needs time on the first axis, got a single value")
    days = _days_column(years, t.shape[0], t.ndim)
    return gsmsr_rs_daily(t, p, soil_carbon, **params) * days


def bond_lamberty_rh(rs_annual: np.ndarray | float) -> np.ndarray:
    """Annual Rh from annual Rs, Bond-Lamberty et al. (2004): ``ln(Rh) = 1.22 + 0.73 ln(Rs)``.

    ``Rh = exp(1.22) * Rs ** 0.73``, both in g C m-2 yr-1. Fitted on annual totals: apply it to annual Rs
    (on monthly Rs it returns Rh > Rs whenever Rs < exp(1.22 / 0.27) = 91.7). NaN where Rs <= 0 or NaN.
    """
    rs = np.asarray(rs_annual, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(rs > 0.0, np.exp(1.22) * np.power(np.where(rs > 0.0, rs, 1.0), 0.73), np.nan)


def shi_rh(rs_monthly: np.ndarray | float) -> np.ndarray:
    """Monthly Rh from monthly Rs, Shi (2015) as cited by seed 002: ``Rh = -0.0009 Rs^2 + 0.6011 Rs + 4.8874``.

    Both in g C m-2 month-1. The parabola peaks at Rs = 334 and turns negative above about 676, so it only makes
    sense for monthly Rs; outside 0..600 it is out of its range (:func:`gsmsr_rh` counts those values).
    """
    rs = np.asarray(rs_monthly, dtype=np.float64)
    return -0.0009 * rs * rs + 0.6011 * rs + 4.8874


def gsmsr_rh(
    t_monthly: np.ndarray,
    p_monthly_mm: np.ndarray,
    soil_carbon: np.ndarray | float,
    years: Sequence[int],
    conversion: str = "bond_lamberty",
    **params: float,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Annual Rh from GSMSR soil respiration and an Rs -> Rh conversion (seed 002).

    Monthly Rs = GSMSR daily rate x days in the month (:func:`gsmsr_rs_monthly`); annual Rs = sum of 12 months.

    - ``conversion="bond_lamberty"`` (default): Rh = exp(1.22) * (annual Rs) ** 0.73 (:func:`bond_lamberty_rh`).
    - ``conversion="shi"``: Rh = sum over the 12 months of -0.0009 Rs^2 + 0.6011 Rs + 4.8874 (:func:`shi_rh`).

    Parameters
    ----------
    t_monthly : ``(12 * Y, ...)`` monthly mean air temperature, deg C, January first.
    p_monthly_mm : ``(12 * Y, ...)`` monthly precipitation, mm.
    soil_carbon : kg C m-2 (top 20 cm): an array broadcastable to the trailing shape, or a scalar.
    years : the ``Y`` calendar years.
    conversion : ``"bond_lamberty"`` or ``"shi"``.
    **params : GSMSR parameters, see :data:`GSMSR_DEFAULTS`.

    Returns
    -------
    rh_annual : ``(Y, ...)`` Rh in g C m-2 yr-1 (NaN if any month is missing).
    rs_annual : ``(Y, ...)`` Rs in g C m-2 yr-1.
    n_out_of_range : with ``"shi"``, the number of valid monthly Rs values outside 0..600 g C m-2 month-1 (to
        warn about); 0 with ``"bond_lamberty"``.
    """
    if conversion not in ("bond_lamberty", "shi"):
        raise InputError(f"CONVERSION must be 'bond_lamberty' or 'shi', got {conversion!r}")
    rs_monthly = gsmsr_rs_monthly(t_monthly, p_monthly_mm, soil_carbon, years, **params)
    rs_annual = monthly_to_annual(rs_monthly)
    if conversion == "bond_lamberty":
        return bond_lamberty_rh(rs_annual), rs_annual, 0
    lo, hi = SHI_RS_RANGE
    with np.errstate(invalid="ignore"):
        n_out = int(np.count_nonzero((rs_monthly < lo) | (rs_monthly > hi)))
    return monthly_to_annual(shi_rh(rs_monthly)), rs_annual, n_out
