"""Persistence of a time series: Hurst exponent by rescaled-range (R/S) analysis, and its overlay with the trend.

Seed 000 (section 2.4.4, after Tong et al. 2018) estimates the Hurst exponent ``H`` of annual NEP by R/S
analysis and overlays ``H > 0.5`` / ``H < 0.5`` with the sign of the trend (section 3.3). The paper leaves the
R/S variant open; ``METHODS.md`` ("Persistence") fixes three, named as such everywhere:

- ``prefix`` (the literature's usual form): for ``tau = 2..n`` the first ``tau`` values; ``H`` = least-squares
  slope of ``log(R/S)`` on ``log(tau)``;
- ``prefix_diff``: the same on the first differences of the series;
- ``blocks_alp`` (default): classic R/S over non-overlapping windows of sizes ``w = 4..floor(n/2)``, corrected
  by the Anis-Lloyd-Peters expectation for white noise: ``H = 0.5 + slope``.

The uncorrected variants are strongly biased at 20-40 years (white noise of length 24 gives ``prefix`` H of
0.64 on average, 87% of series above 0.5): :func:`white_noise_null` simulates the white-noise distribution of
``H`` for a variant and length so maps can flag only pixels beyond its 5% / 95% quantiles.

Everything is vectorised over pixels; the loops run over prefix lengths and window sizes only.

Conventions shared by the three variants
----------------------------------------
- ``R`` (range of the cumulative deviations from the window mean, ``t = 1..length``) and ``S`` (standard
  deviation) are both > 0 exactly when the window is not constant. That test is done exactly
  (``max > min``): a constant window computed in floating point can leave deviations of 1e-17 instead of 0, and
  their ratio is noise.
- ``H`` needs at least 3 usable points in its regression (``MIN_POINTS``), else NaN. METHODS.md states this for
  ``prefix``; it is applied to all variants (two points always fit a line exactly). So the shortest series with
  an ``H`` are 4 values (``prefix``), 5 (``prefix_diff``) and 12 (``blocks_alp``: ``w = 4, 5, 6``).
- Missing values: by default (``min_valid`` = all ``T``) a pixel with any NaN gets NaN. With a smaller
  ``min_valid`` a pixel with at least that many valid values is analysed on its *compressed* series (its valid
  values in time order, gaps closed): R/S uses positions, not dates, and ``prefix_diff`` differences
  consecutive valid values.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.special import gammaln

from .classes import CLASS_NODATA, ClassScheme
from .errors import InputError

__all__ = [
    "FLAG_SCHEME",
    "HURST_METHODS",
    "MIN_POINTS",
    "OVERLAY_CODES",
    "OVERLAY_SCHEME",
    "anis_lloyd_peters",
    "flag_beyond_null",
    "hurst",
    "hurst_blocks_alp",
    "hurst_prefix",
    "hurst_prefix_diff",
    "min_series_length",
    "null_quantiles",
    "persistence_overlay",
    "scratch_bytes_per_pixel",
    "white_noise_null",
]

#: The R/S variants, in the order of the ``hurst`` algorithm's METHOD parameter (0 is the default).
HURST_METHODS = ("blocks_alp", "prefix", "prefix_diff")

#: Minimum number of usable points (prefix lengths or window sizes) in the log-log regression.
MIN_POINTS = 3

#: Smallest window of ``blocks_alp`` (METHODS.md: w = 4..floor(n/2)).
_MIN_WINDOW = 4

#: Default seed of the white-noise simulation.
NULL_SEED = 20250101


def min_series_length(method: str) -> int:
    """Shortest series (valid values) for which ``method`` can give an ``H`` (3 regression points)."""
    _check_method(method)
    if method == "prefix":
        return MIN_POINTS + 1  # tau = 2, 3, 4
    if method == "prefix_diff":
        return MIN_POINTS + 2  # n - 1 differences, tau = 2, 3, 4
    return 2 * (_MIN_WINDOW + MIN_POINTS - 1)  # w = 4, 5, 6 need floor(n/2) >= 6


def _check_method(method: str) -> None:
    if method not in HURST_METHODS:
        raise InputError(f"unknown Hurst method {method!r}: use one of {', '.join(HURST_METHODS)}")


# ----------------------------------------------------------------------------------------------------------------
# Input handling
# ----------------------------------------------------------------------------------------------------------------
def _prepare(x: np.ndarray, method: str, min_valid: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple]:
    """Validate; return the compressed (T, M) series of the analysed pixels, their valid counts and indices."""
    _check_method(method)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 1:
        raise InputError("the Hurst exponent needs a time series: an array with time on axis 0")
    n_times = x.shape[0]
    need = min_series_length(method)
    if n_times < need:
        raise InputError(
            f"the Hurst exponent ({method}) needs series of at least {need} time steps, the input has {n_times}: "
            f"use a longer series" + (" or the prefix variant" if method != "prefix" else "")
        )
    if min_valid is None:
        min_valid = n_times
    if isinstance(min_valid, bool) or not isinstance(min_valid, (int, np.integer)):
        raise InputError(f"MIN_VALID must be an integer, got {min_valid!r}")
    min_valid = int(min_valid)
    if min_valid < need or min_valid > n_times:
        raise InputError(
            f"MIN_VALID must be between {need} (the shortest series the {method} Hurst exponent can use) and the "
            f"number of time steps ({n_times}), got {min_valid}"
        )
    if np.isinf(x).any():
        raise InputError("the input contains infinite values: set them to nodata (NaN) or fix the input")
    out_shape = x.shape[1:]
    flat = x.reshape(n_times, -1)
    nan = np.isnan(flat)
    n_valid = n_times - nan.sum(axis=0)
    idx = np.flatnonzero(n_valid >= min_valid)
    if idx.size == flat.shape[1]:
        sel = flat.copy()
    else:
        sel = np.ascontiguousarray(flat[:, idx])  # fancy indexing may return a Fortran-ordered array
    n = n_valid[idx]
    if (n < n_times).any():
        # Compress: valid values first, in time order; NaN after them.
        order = np.argsort(np.isnan(sel), axis=0, kind="stable")
        sel = np.ascontiguousarray(np.take_along_axis(sel, order, axis=0))
    if sel.shape[1]:
        sel -= sel[0]  # R/S is shift invariant; removing the level improves the rounding
    return sel, n, idx, out_shape


def _finish(values: np.ndarray, idx: np.ndarray, out_shape: tuple) -> np.ndarray:
    size = int(np.prod(out_shape)) if out_shape else 1
    out = np.full(size, np.nan)
    out[idx] = values
    return out.reshape(out_shape)


def _masked_slope(u: np.ndarray, v: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Least-squares slope (with intercept) of ``v`` on ``u`` per column over rows where ``mask``; NaN if < 3."""
    uu = np.broadcast_to(u[:, None], v.shape)
    cnt = mask.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ubar = np.where(mask, uu, 0.0).sum(axis=0) / cnt
        vbar = np.where(mask, v, 0.0).sum(axis=0) / cnt
        du = np.where(mask, uu - ubar, 0.0)
        dv = np.where(mask, v - vbar, 0.0)
        sxy = (du * dv).sum(axis=0)
        sxx = (du * du).sum(axis=0)
        slope = sxy / sxx
    return np.where(cnt >= MIN_POINTS, slope, np.nan)


# ----------------------------------------------------------------------------------------------------------------
# R/S points of each variant
# ----------------------------------------------------------------------------------------------------------------
def _prefix_points(z: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """log(tau), log(R/S) per prefix length tau = 2..len, and the usable mask; ``z`` (L, M) NaN after ``n``.

    With ``C_t = z_1 + ... + z_t`` and ``m = C_tau / tau``, the cumulative deviations of a prefix are
    ``X_t = C_t - t m``: one cumulative sum serves every tau. ``S`` comes from Welford's running update of the
    sum of squared deviations (no cancellation).
    """
    length, m = z.shape
    taus = np.arange(2, length + 1)
    v = np.zeros((taus.size, m))
    mask = np.zeros((taus.size, m), dtype=bool)
    run_max = np.maximum.accumulate(z, axis=0)
    run_min = np.minimum.accumulate(z, axis=0)
    csum = np.cumsum(z, axis=0)
    t_col = np.arange(1, length + 1, dtype=np.float64)[:, None]
    buf = np.empty_like(z)
    mean = z[0].copy()
    m2 = np.zeros(m)
    with np.errstate(invalid="ignore", divide="ignore"):
        for k, tau in enumerate(taus):
            delta = z[tau - 1] - mean
            mean += delta / tau
            m2 += delta * (z[tau - 1] - mean)
            y = buf[:tau]
            np.multiply(t_col[:tau], csum[tau - 1] / tau, out=y)
            np.subtract(csum[:tau], y, out=y)
            r = y.max(axis=0) - y.min(axis=0)
            s = np.sqrt(m2 / tau)
            ok = (tau <= n) & (run_max[tau - 1] > run_min[tau - 1]) & (r > 0) & (s > 0)
            mask[k] = ok
            v[k] = np.where(ok, np.log(np.where(ok, r / np.where(ok, s, 1.0), 1.0)), 0.0)
    return np.log(taus.astype(np.float64)), v, mask


def _blocks_points(z: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """log(w), log(mean R/S) - log(E_ALP) per window size w = 4..floor(len/2), and the usable mask."""
    length, m = z.shape
    sizes = np.arange(_MIN_WINDOW, length // 2 + 1)
    v = np.zeros((sizes.size, m))
    mask = np.zeros((sizes.size, m), dtype=bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        for k, w in enumerate(sizes):
            n_win = length // w
            win = z[: n_win * w].reshape(n_win, w, m)
            dev = win - win.mean(axis=1, keepdims=True)
            y = np.cumsum(dev, axis=1)
            r = y.max(axis=1) - y.min(axis=1)
            s = np.sqrt(np.einsum("kwm,kwm->km", dev, dev) / (w - 1))
            fits = ((np.arange(1, n_win + 1) * w)[:, None] <= n[None, :]) & (w <= n // 2)[None, :]
            ok = fits & (win.max(axis=1) > win.min(axis=1)) & (r > 0) & (s > 0)
            cnt = ok.sum(axis=0)
            rs = np.where(ok, r / np.where(ok, s, 1.0), 0.0).sum(axis=0) / np.maximum(cnt, 1)
            use = cnt > 0
            mask[k] = use
            v[k] = np.where(use, np.log(np.where(use, rs, 1.0)) - math.log(anis_lloyd_peters(int(w))), 0.0)
    return np.log(sizes.astype(np.float64)), v, mask


@functools.cache
def anis_lloyd_peters(w: int) -> float:
    """Anis-Lloyd-Peters expected R/S of white noise in a window of ``w`` values.

    ``E(R/S)_w = ((w - 0.5) / w) * Gamma((w - 1)/2) / (sqrt(pi) * Gamma(w/2)) * sum_{i=1}^{w-1} sqrt((w - i)/i)``
    (Anis and Lloyd 1976, with Peters' 1994 small-sample factor ``(w - 0.5)/w``), evaluated with ``gammaln`` so
    large ``w`` does not overflow. METHODS.md "Persistence".
    """
    w = int(w)
    if w < 2:
        raise InputError(f"the Anis-Lloyd-Peters expectation needs a window of at least 2 values, got {w}")
    i = np.arange(1, w, dtype=np.float64)
    ratio = math.exp(float(gammaln((w - 1) / 2.0) - gammaln(w / 2.0)))
    return (w - 0.5) / w * ratio / math.sqrt(math.pi) * float(np.sqrt((w - i) / i).sum())


# ----------------------------------------------------------------------------------------------------------------
# Public Hurst functions
# ----------------------------------------------------------------------------------------------------------------
def hurst_prefix(x: np.ndarray, min_valid: int | None = None) -> np.ndarray:
    """Hurst exponent by R/S analysis on growing prefixes (variant ``prefix``, the literature's usual form).

    For ``tau = 2..n`` take the first ``tau`` values ``x_1..x_tau``, their mean ``m``, the cumulative
    deviations ``X_t = sum_{u<=t} (x_u - m)`` (t = 1..tau), ``R = max X_t - min X_t`` and
    ``S = sqrt(sum (x_u - m)^2 / tau)`` (population std). ``H`` is the least-squares slope (with intercept) of
    ``log(R/S)`` on ``log(tau)`` over the ``tau`` with ``R > 0`` and ``S > 0`` (non-constant prefixes); fewer
    than 3 such points give NaN.

    Parameters
    ----------
    x : array (T, ...)
        Series with time on axis 0 (annual NEP in seed 000; ``H`` is dimensionless and uses positions, not
        dates). NaN is missing.
    min_valid : int, optional
        Minimum valid values (default all ``T``; at least 4). With fewer than ``T`` the series is compressed
        (module notes).

    Returns
    -------
    np.ndarray, float64, shape ``x.shape[1:]``. Biased upwards for short series: see :func:`white_noise_null`.

    References
    ----------
    Hurst (1951); seed 000 section 2.4.4 (after Tong et al. 2018); METHODS.md "Persistence".
    """
    z, n, idx, shape = _prepare(x, "prefix", min_valid)
    u, v, mask = _prefix_points(z, n)
    return _finish(_masked_slope(u, v, mask), idx, shape)


def hurst_prefix_diff(x: np.ndarray, min_valid: int | None = None) -> np.ndarray:
    """Hurst exponent of the first differences (variant ``prefix_diff``): :func:`hurst_prefix` on ``x_{t+1}-x_t``.

    With ``n`` values there are ``n - 1`` differences and ``tau = 2..n-1``. On a compressed series (``min_valid``
    < T) the differences are between consecutive valid values. Common in NDVI/NEP papers; biased downwards for
    short series (white noise of 24 years: mean H 0.39). Parameters and returns as :func:`hurst_prefix`
    (``min_valid`` at least 5). METHODS.md "Persistence".
    """
    z, n, idx, shape = _prepare(x, "prefix_diff", min_valid)
    d = np.diff(z, axis=0)
    u, v, mask = _prefix_points(d, n - 1)
    return _finish(_masked_slope(u, v, mask), idx, shape)


def hurst_blocks_alp(x: np.ndarray, min_valid: int | None = None) -> np.ndarray:
    """Hurst exponent by classic R/S over non-overlapping windows, Anis-Lloyd-Peters corrected (``blocks_alp``).

    For every window size ``w = 4..floor(n/2)``: the first ``floor(n/w)`` windows of ``w`` values from the start
    (the remainder at the end is dropped); in each window the mean ``m``, cumulative deviations
    ``X_t = sum_{u<=t}(x_u - m)``, ``R = max X_t - min X_t``, ``S`` = std with ddof = 1; ``(R/S)_w`` = mean of
    ``R/S`` over the windows with ``R > 0`` and ``S > 0`` (a size with none is skipped). Then::

        H = 0.5 + slope of [log (R/S)_w - log E(R/S)_w] on log w      (least squares with intercept)

    with ``E(R/S)_w`` of :func:`anis_lloyd_peters`. Fewer than 3 usable sizes give NaN, so ``n >= 12``.
    Close to unbiased for white noise (24 years: mean 0.49). Parameters and returns as :func:`hurst_prefix`
    (``min_valid`` at least 12).

    References
    ----------
    Anis and Lloyd (1976) Biometrika 63; Peters (1994) Fractal Market Analysis; seed 000 section 2.4.4;
    METHODS.md "Persistence".
    """
    z, n, idx, shape = _prepare(x, "blocks_alp", min_valid)
    u, v, mask = _blocks_points(z, n)
    return _finish(0.5 + _masked_slope(u, v, mask), idx, shape)


_FUNCS = {"prefix": hurst_prefix, "prefix_diff": hurst_prefix_diff, "blocks_alp": hurst_blocks_alp}


def hurst(x: np.ndarray, method: str = "blocks_alp", min_valid: int | None = None) -> np.ndarray:
    """Hurst exponent of each pixel's series by the R/S variant ``method`` (``blocks_alp``, ``prefix``,
    ``prefix_diff``): see :func:`hurst_blocks_alp`, :func:`hurst_prefix`, :func:`hurst_prefix_diff`."""
    _check_method(method)
    return _FUNCS[method](x, min_valid=min_valid)


def scratch_bytes_per_pixel(n_times: int, method: str = "blocks_alp") -> int:
    """Upper estimate of the peak scratch memory (bytes per pixel) of :func:`hurst` on ``n_times`` values.

    Linear in ``n_times``: measured with ``tracemalloc`` at about 8 float64 copies of the series for ``prefix``
    and ``prefix_diff`` and 5.4 for ``blocks_alp`` (the input block itself not included); the estimate adds a
    margin (9 and 7 copies). The test suite checks it.
    """
    _check_method(method)
    per_value = 9 if method in ("prefix", "prefix_diff") else 7
    return int(8 * per_value * n_times + 256)


# ----------------------------------------------------------------------------------------------------------------
# White-noise null distribution
# ----------------------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def _null_cached(method: str, n: int, n_sim: int, seed: int) -> tuple:
    rng = np.random.default_rng(seed)
    sims = rng.standard_normal((n_sim, n)).T  # (n, n_sim): one series per column
    h = _FUNCS[method](sims)
    h = h[~np.isnan(h)]
    return (
        float(h.mean()),
        float(h.std(ddof=1)),
        float(np.quantile(h, 0.05)),
        float(np.quantile(h, 0.95)),
        float(np.mean(h > 0.5)),
    )


def white_noise_null(method: str, n: int, n_sim: int = 2000, seed: int = NULL_SEED) -> dict:
    """White-noise distribution of ``H`` for a variant and series length, by simulation with a fixed seed.

    Simulates ``n_sim`` independent standard normal series of length ``n`` (``numpy.random.default_rng(seed)``,
    one call ``standard_normal((n_sim, n))``), computes their ``H`` with ``method`` and summarises it. Results
    are cached per process (same arguments, same numbers). Series of white noise have no persistence at all, so
    ``H`` outside ``[q05, q95]`` is what a map should call persistent / anti-persistent.

    Returns
    -------
    dict
        ``mean``, ``std`` (ddof 1), ``q05``, ``q95`` (``numpy.quantile``, linear), ``frac_above_half`` (share of
        series with H > 0.5), ``n``, ``n_sim``, ``method``, ``seed``.
    """
    _check_method(method)
    for name, val in (("n", n), ("n_sim", n_sim), ("seed", seed)):
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)):
            raise InputError(f"{name} must be an integer, got {val!r}")
    need = min_series_length(method)
    if n < need:
        raise InputError(f"the {method} Hurst exponent needs series of at least {need} values, got n = {n}")
    if n_sim < 20:
        raise InputError(f"the white-noise simulation needs at least 20 series, got n_sim = {n_sim}")
    mean, std, q05, q95, frac = _null_cached(method, int(n), int(n_sim), int(seed))
    return {
        "mean": mean,
        "std": std,
        "q05": q05,
        "q95": q95,
        "frac_above_half": frac,
        "n": int(n),
        "n_sim": int(n_sim),
        "method": method,
        "seed": int(seed),
    }


def null_quantiles(
    method: str, n_valid: np.ndarray, n_sim: int = 2000, seed: int = NULL_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel white-noise ``q05`` and ``q95`` of ``H`` for each pixel's number of valid values.

    For runs with ``min_valid`` < T, where pixels have series of different lengths. Pixels whose count is too
    short for ``method`` get NaN. Returns two float64 arrays shaped like ``n_valid``.
    """
    n_valid = np.asarray(n_valid)
    q05 = np.full(n_valid.shape, np.nan)
    q95 = np.full(n_valid.shape, np.nan)
    need = min_series_length(method)
    for n in np.unique(n_valid):
        if n >= need:
            null = white_noise_null(method, int(n), n_sim=n_sim, seed=seed)
            q05[n_valid == n] = null["q05"]
            q95[n_valid == n] = null["q95"]
    return q05, q95


#: Class scheme of :func:`flag_beyond_null` (codes -1, 0, 1; stored as int8 with nodata -128).
FLAG_SCHEME = ClassScheme(
    codes=(-1, 0, 1),
    labels=(
        "Anti-persistent beyond white noise (H < 5% quantile)",
        "Within the white-noise range of H (5% - 95%)",
        "Persistent beyond white noise (H > 95% quantile)",
    ),
    colors=("#d7191c", "#e0e0e0", "#1a9641"),
    nodata=CLASS_NODATA,
    title="Hurst exponent compared with white noise",
)


def flag_beyond_null(h: np.ndarray, q05: np.ndarray | float, q95: np.ndarray | float) -> np.ndarray:
    """Flag ``H`` against the white-noise quantiles: -1 if ``H < q05``, +1 if ``H > q95``, 0 inside.

    NaN ``H`` (or NaN quantiles) gives ``CLASS_NODATA`` (-128). ``q05``/``q95`` are scalars or arrays
    broadcastable to ``h`` (see :func:`null_quantiles`). Returns int8. See :data:`FLAG_SCHEME`.
    """
    h = np.asarray(h, dtype=np.float64)
    lo = np.asarray(q05, dtype=np.float64)
    hi = np.asarray(q95, dtype=np.float64)
    if np.any(lo > hi):
        raise InputError("the lower white-noise quantile must not exceed the upper one")
    with np.errstate(invalid="ignore"):
        out = np.where(h < lo, -1, np.where(h > hi, 1, 0)).astype(np.int8)
    bad = np.isnan(h) | np.isnan(lo) | np.isnan(hi)
    out = np.where(bad, np.int8(CLASS_NODATA), out).astype(np.int8)
    return out


# ----------------------------------------------------------------------------------------------------------------
# Overlay with the trend
# ----------------------------------------------------------------------------------------------------------------
#: Codes of :func:`persistence_overlay`, ordered like a diverging trend scheme: decreasing trends (1, 2) before
#: increasing ones (3, 4), the persistent classes at both ends (1 continuous decrease, 4 continuous increase) and
#: the anti-persistent ones in the middle; 0 none.
OVERLAY_CODES = {
    "none": 0,
    "persistent_decrease": 1,
    "decrease_then_increase": 2,
    "increase_then_decrease": 3,
    "persistent_increase": 4,
}

OVERLAY_SCHEME = ClassScheme(
    codes=(4, 3, 2, 1, 0),
    labels=(
        "Continuous (persistent) increase: slope > 0, H > 0.5",
        "Increase then decrease (anti-persistent): slope > 0, H < 0.5",
        "Decrease then increase (anti-persistent): slope < 0, H < 0.5",
        "Continuous (persistent) decrease: slope < 0, H > 0.5",
        "None: no trend, H = 0.5, trend not significant or H within the white-noise range",
    ),
    colors=("#1a9641", "#a6d96a", "#fdae61", "#d7191c", "#e0e0e0"),
    nodata=CLASS_NODATA,
    title="Persistence of the trend (trend x Hurst exponent, seed 000 section 3.3)",
)


def persistence_overlay(
    slope: np.ndarray,
    h: np.ndarray,
    significant: np.ndarray | None = None,
    h_low: np.ndarray | float | None = None,
    h_high: np.ndarray | float | None = None,
) -> np.ndarray:
    """Overlay of the trend sign with the Hurst exponent (seed 000 section 3.3; METHODS.md "Persistence").

    Codes (:data:`OVERLAY_CODES`, :data:`OVERLAY_SCHEME`):

    - 4 continuous (persistent) increase: slope > 0 and H > 0.5;
    - 3 increase then decrease: slope > 0 and H < 0.5;
    - 2 decrease then increase: slope < 0 and H < 0.5;
    - 1 continuous (persistent) decrease: slope < 0 and H > 0.5;
    - 0 none: slope == 0 or H == 0.5, or ``significant`` is False, or ``h_low <= H <= h_high`` when the
      white-noise quantiles are given;
    - ``CLASS_NODATA`` (-128) where slope or H is NaN.

    Parameters
    ----------
    slope : array
        Trend slope (any units per year: only its sign is used), e.g. the Sen or OLS slope.
    h : array
        Hurst exponent, same shape.
    significant : bool array, optional
        Where False the pixel gets 0 (only significant trends classified).
    h_low, h_high : float or array, optional
        White-noise quantiles of H (e.g. ``q05``, ``q95`` of :func:`white_noise_null`); both or neither.

    Returns
    -------
    np.ndarray of int16, the shape of ``slope``.
    """
    slope = np.asarray(slope, dtype=np.float64)
    h = np.asarray(h, dtype=np.float64)
    if slope.shape != h.shape:
        raise InputError(f"the slope {slope.shape} and Hurst {h.shape} rasters must have the same shape")
    if (h_low is None) != (h_high is None):
        raise InputError("give both white-noise quantiles of H (low and high) or neither")
    pos = slope > 0
    neg = slope < 0
    with np.errstate(invalid="ignore"):
        pers = h > 0.5
        anti = h < 0.5
    codes = np.zeros(slope.shape, dtype=np.int16)
    codes[pos & pers] = OVERLAY_CODES["persistent_increase"]
    codes[pos & anti] = OVERLAY_CODES["increase_then_decrease"]
    codes[neg & anti] = OVERLAY_CODES["decrease_then_increase"]
    codes[neg & pers] = OVERLAY_CODES["persistent_decrease"]
    if significant is not None:
        sig = np.asarray(significant)
        if sig.dtype != bool:
            raise InputError("the significance mask must be boolean (True where the trend is significant)")
        if sig.shape != slope.shape:
            raise InputError(f"the significance mask {sig.shape} must have the shape of the slope {slope.shape}")
        codes[~sig] = OVERLAY_CODES["none"]
    if h_low is not None:
        lo = np.broadcast_to(np.asarray(h_low, dtype=np.float64), h.shape)
        hi = np.broadcast_to(np.asarray(h_high, dtype=np.float64), h.shape)
        if np.any(lo > hi):
            raise InputError("the low white-noise quantile of H must not exceed the high one")
        with np.errstate(invalid="ignore"):
            inside = (h >= lo) & (h <= hi)
        codes[inside] = OVERLAY_CODES["none"]
    codes[np.isnan(slope) | np.isnan(h)] = CLASS_NODATA
    return codes
