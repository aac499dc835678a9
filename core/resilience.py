"""Carbon sink resilience by probability attenuation (seed 001, section 3.3; METHODS.md "Carrying capacity and
resilience").

The chain, for an annual NPP stack (g C m-2 yr-1) over the years ``t0 .. t_last``, a reference year ``t'`` and
the evaluation years ``t_i = t', t'+1, .., t_last``:

1. Slope surface: ``K(t_i)`` = ordinary least-squares slope of NPP on the year over the growing window
   ``t0 .. t_i`` (seed 001 eq. 6), in g C m-2 yr-2, computed for all ``t_i`` in one pass over the years with
   running sums (:func:`growing_window_slopes`).
2. Sign surface ``S(t_i)`` = +1 if K > 0, -1 if K < 0, 0 if K = 0 or undefined (eq. 8, :func:`trend_signs`).
3. Maintenance surface ``P(t') = S(t')``; ``P(t_i) = P(t_{i-1})`` if ``S(t_i) = P(t_{i-1})``, else 0; once 0
   it stays 0 (eq. 9, :func:`maintenance`).
4. Counts ``N+(t_i)``, ``N-(t_i)`` of pixels with ``P = +1`` / ``-1``, for the whole raster and per zone
   (:func:`count_partials`, mergeable over blocks with :func:`merge_counts`), and per pixel the number of
   evaluation years it kept its trend (:func:`years_maintained`).
5. ``q(t_i) = N(t_i) / N(t')`` (eq. 10), fitted with ``q(t) = lambda * exp(-(t - t') / tau)`` by nonlinear least
   squares (eq. 11, :func:`fit_decay`), tau in years, separately for the positive and the negative trend.
6. ``RS = tau+ - tau-`` in years (eq. 12, :func:`resilience_index`) and its level (section 4.4,
   :func:`resilience_level`).

Steps 1-4 are per pixel, so the engine runs them block by block (:func:`resilience_block`) and merges only the
small count arrays; steps 5-6 work on the merged counts (:func:`resilience_tables`).

Reference: Wu, L. et al. (2023) Characteristics of vegetation carbon sink carrying capacity and restoration
potential of China in recent 40 years. Front. For. Glob. Change 6:1266688 (seed 001).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.optimize import least_squares

from .errors import InputError

STATUS_OK = "ok"
STATUS_NO_DECAY = "no decay"
STATUS_NO_PIXELS = "no pixels"
STATUS_UNDETERMINED = "undetermined"

#: Resilience levels of seed 001 section 4.4, from the strongest to the weakest.
LEVELS = ("extremely strong", "stronger", "strong", "weak", "weaker")
#: Level given to an undefined RS (NaN).
LEVEL_UNDETERMINED = "undetermined"

#: Columns of the ``resilience`` OUTPUT_TABLE, in order (ALGORITHMS.md).
TABLE_COLUMNS = ("zone", "year", "n_positive", "n_negative", "q_positive", "q_negative")
#: Columns of the ``resilience`` OUTPUT_FIT (ALGORITHMS.md), followed by the two fit statuses.
FIT_COLUMNS = (
    "zone",
    "tau_positive",
    "tau_negative",
    "rs",
    "lambda_positive",
    "lambda_negative",
    "r2_positive",
    "r2_negative",
    "level",
)
FIT_EXTRA_COLUMNS = ("status_positive", "status_negative")

#: Name of the whole-raster row of the tables.
ALL_ZONE = "all"

_EPS = float(np.finfo(np.float64).eps)


# ----------------------------------------------------------------------------------------------------------------
# Years
# ----------------------------------------------------------------------------------------------------------------
def _check_years(years: Sequence[float] | np.ndarray, n: int | None = None, what: str = "years") -> np.ndarray:
    y = np.asarray(years, dtype=np.float64)
    if y.ndim != 1 or y.size == 0:
        raise InputError(f"{what} must be a non-empty list of years")
    if n is not None and y.shape[0] != n:
        raise InputError(f"got {y.size} {what} for a stack of {n} bands: give exactly one year per band")
    if not np.all(np.isfinite(y)):
        raise InputError(f"{what} contain non-finite values")
    if y.size > 1 and not np.all(np.diff(y) > 0):
        raise InputError(f"{what} must be strictly increasing (oldest first)")
    return y


def evaluation_years(years: Sequence[int] | np.ndarray, reference_year: int) -> np.ndarray:
    """The evaluation years ``t_i = t' .. t_last`` for a reference year ``t'`` (seed 001 section 3.3.1).

    Raises :class:`InputError` when ``reference_year`` is not one of ``years`` or is the first year (the slope at
    ``t'`` needs at least two years ``t0 .. t'``).
    """
    y = _check_years(years)
    ref = float(reference_year)
    if ref not in set(y.tolist()):
        raise InputError(
            f"REFERENCE_YEAR {reference_year} is not one of the years of the stack ({int(y[0])}..{int(y[-1])})"
        )
    if ref == y[0]:
        raise InputError(
            f"REFERENCE_YEAR {reference_year} is the first year: the slope from the first year to the reference "
            f"year needs at least two years; choose a later reference year (the seed uses 2000 for 1981-2018)"
        )
    return y[y >= ref]


# ----------------------------------------------------------------------------------------------------------------
# Per-pixel chain
# ----------------------------------------------------------------------------------------------------------------
def growing_window_slopes(
    npp: np.ndarray,
    years: Sequence[int] | np.ndarray,
    eval_years: Sequence[int] | np.ndarray,
    min_valid: int = 2,
) -> np.ndarray:
    """OLS slopes of NPP over growing windows ``t0 .. t_i`` for each evaluation year ``t_i`` (seed 001 eq. 6).

    Parameters
    ----------
    npp : array ``(T, ...)``, annual NPP (g C m-2 yr-1; any annual quantity works), time on axis 0, NaN = missing.
    years : the ``T`` calendar years of the bands, strictly increasing. ``t0 = years[0]``.
    eval_years : the evaluation years, strictly increasing, each one of ``years`` (usually
        :func:`evaluation_years`).
    min_valid : a window needs at least this many valid (non-NaN) years to have a slope (>= 2).

    Returns
    -------
    float64 array ``(len(eval_years), ...)``: ``K(t_i)`` in units of NPP per year (g C m-2 yr-2),

        K = [n sum(u x) - sum u sum x] / [n sum(u^2) - (sum u)^2]

    over the valid years of the window (missing years keep their real time positions), with ``u = t - t0`` and
    ``x`` the pixel's NPP minus its first valid value (the slope is invariant to both shifts, which keep the
    sums small and make a constant series give exactly 0). NaN where the window has fewer than ``min_valid``
    valid years. ``K`` is set to exactly 0 where ``|numerator|`` is within a bound of its float64 rounding error
    (arithmetic, plus one unit in the last place of each value), so a series whose exact slope is 0 (constant,
    symmetric, or a decimal series such as 0.1, 0.2, 0.5, 0.0) gets the sign 0 rather than a random sign. The
    bound is tiny (about 1e-11 g C m-2 yr-2 for NPP near 1000 over 20 years): no real trend is affected.

    Notes
    -----
    One pass over the years with running sums of n, u, u^2, x, u x (cumulative sums, not one fit per window):
    O(T) time and 14 float64 scratch arrays (about 120 bytes per pixel) besides the output.
    """
    x = np.asarray(npp)
    if x.ndim == 0:
        raise InputError("NPP must be a stack with time (years) on the first axis, got a single value")
    if x.dtype.kind not in "fiub":
        raise InputError(f"NPP must be numeric, got dtype {x.dtype}")
    n_t = x.shape[0]
    y = _check_years(years, n_t)
    ev = _check_years(eval_years, what="evaluation years")
    pos = np.searchsorted(y, ev)
    if np.any(pos >= n_t) or np.any(y[np.minimum(pos, n_t - 1)] != ev):
        raise InputError("every evaluation year must be one of the years of the stack")
    if int(min_valid) < 2:
        raise InputError("MIN_VALID must be at least 2: a slope needs two years")
    min_valid = int(min_valid)
    pix_shape = x.shape[1:]
    n_pix = int(np.prod(pix_shape, dtype=np.int64))
    out = np.empty((ev.size, n_pix))
    u_all = y - y[0]
    eval_at = {int(p): j for j, p in enumerate(pos)}
    last = int(pos[-1])

    n = np.zeros(n_pix)
    su = np.zeros(n_pix)
    suu = np.zeros(n_pix)
    sx = np.zeros(n_pix)
    sux = np.zeros(n_pix)
    sax = np.zeros(n_pix)  # sum |x|, for the rounding bound
    saux = np.zeros(n_pix)  # sum u |x|
    xref = np.full(n_pix, np.nan)
    axref2 = np.zeros(n_pix)  # 2 |xref|: the values' own rounding, in the bound
    xi = np.empty(n_pix)
    tmp = np.empty(n_pix)
    num = np.empty(n_pix)
    den = np.empty(n_pix)
    tol = np.empty(n_pix)
    mask = np.empty(n_pix, dtype=bool)
    need_ref = np.arange(n_pix)  # pixels without a valid value yet
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        for i in range(last + 1):
            np.copyto(xi, x[i].reshape(n_pix), casting="unsafe")
            np.isnan(xi, out=mask)  # missing
            if need_ref.size:  # first valid value of each pixel: the reference the values are shifted by
                got = ~mask[need_ref]
                if got.any():
                    idx = need_ref[got]
                    xref[idx] = xi[idx]
                    axref2[idx] = 2.0 * np.abs(xi[idx])
                    need_ref = need_ref[~got]
            xi -= xref
            np.copyto(xi, 0.0, where=mask)
            ui = float(u_all[i])
            np.logical_not(mask, out=mask)  # valid
            n += mask
            np.multiply(mask, ui, out=tmp)
            su += tmp
            tmp *= ui
            suu += tmp
            sx += xi
            np.multiply(xi, ui, out=tmp)
            sux += tmp
            np.abs(xi, out=xi)
            sax += xi
            np.multiply(xi, ui, out=tmp)
            saux += tmp
            j = eval_at.get(i)
            if j is None:
                continue
            np.multiply(n, sux, out=num)
            np.multiply(su, sx, out=tmp)
            num -= tmp
            np.multiply(n, suu, out=den)
            np.multiply(su, su, out=tmp)
            den -= tmp
            # rounding bound of num: (i + 4) eps (n sum(u|x|) + sum(u) sum(|x|) + 2 n sum(u) |xref|)
            np.multiply(su, axref2, out=tol)
            tol += saux
            tol *= n
            np.multiply(su, sax, out=tmp)
            tol += tmp
            tol *= (i + 4) * _EPS
            k = out[j]
            np.divide(num, den, out=k)
            np.abs(num, out=num)
            np.less_equal(num, tol, out=mask)
            np.copyto(k, 0.0, where=mask)
            np.less(n, min_valid, out=mask)  # with distinct years, den > 0 whenever n >= 2
            np.copyto(k, np.nan, where=mask)
    if not np.all(np.isfinite(sax)):  # an infinite value turns the sums of |x| into inf or NaN
        raise InputError("NPP contains infinite values: set them to nodata (NaN) or fix the input")
    return out.reshape((ev.size,) + pix_shape)


def trend_signs(k: np.ndarray) -> np.ndarray:
    """Slope surface S = +1 where K > 0, -1 where K < 0, 0 where K = 0 or NaN (seed 001 eq. 8). Returns int8."""
    kk = np.asarray(k, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return (kk > 0).view(np.int8) - (kk < 0).view(np.int8)


def maintenance(signs: np.ndarray) -> np.ndarray:
    """Maintenance surfaces P over the evaluation years (seed 001 eq. 9).

    Parameters
    ----------
    signs : int array ``(E, ...)`` of S(t_i) in {-1, 0, 1}, ``signs[0]`` at the reference year t'.

    Returns
    -------
    int8 array ``(E, ...)``: P(t') = S(t'); P(t_i) = P(t_{i-1}) if S(t_i) = P(t_{i-1}), else 0. Once 0, P stays 0
    (S = 0 equals P = 0, any other S differs), so each pixel keeps its reference-year trend for a run of years
    and then loses it for good.
    """
    s = np.asarray(signs)
    if s.ndim == 0 or s.shape[0] == 0:
        raise InputError("maintenance needs sign surfaces with the evaluation years on the first axis")
    if s.dtype.kind not in "iub" or np.any((s < -1) | (s > 1)):
        raise InputError("sign surfaces must hold only -1, 0 and +1 (use trend_signs on the slopes)")
    p = np.empty(s.shape, dtype=np.int8)
    p[0] = s[0]
    for i in range(1, s.shape[0]):
        p[i] = np.where(s[i] == p[i - 1], p[i - 1], 0)
    return p


def years_maintained(maint: np.ndarray, analysed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel, the number of evaluation years it kept its positive / negative trend (seed 001 Fig. 8).

    Parameters
    ----------
    maint : int8 array ``(E, ...)`` from :func:`maintenance`.
    analysed : bool array ``(...)``, pixels that enter the analysis, normally ``np.isfinite(slopes[0])`` (the
        slope at the reference year is defined). ``None``: every pixel.

    Returns
    -------
    ``(positive_years, negative_years)``, float64 arrays ``(...)``: the number of evaluation years ``t_i`` (the
    reference year included) with ``P(t_i) = +1`` (resp. ``-1``). Because P never returns to +-1 after 0, this
    is the length of the run that starts at the reference year: 0..E (E = 19 for 2000..2018 in seed 001).
    A pixel counts 0 for the trend it did not have at ``t'``. NaN where the pixel is not analysed.
    """
    m = np.asarray(maint)
    if m.ndim == 0:
        raise InputError("years_maintained needs maintenance surfaces with the evaluation years on the first axis")
    pos = np.count_nonzero(m == 1, axis=0).astype(np.float64)
    neg = np.count_nonzero(m == -1, axis=0).astype(np.float64)
    if analysed is not None:
        a = np.asarray(analysed, dtype=bool)
        if a.shape != m.shape[1:]:
            raise InputError(f"the analysed mask has shape {a.shape} but the surfaces have shape {m.shape[1:]}")
        pos[~a] = np.nan
        neg[~a] = np.nan
    return pos, neg


def _zone_index(zones: np.ndarray, n_zones: int | None, shape: tuple[int, ...]) -> tuple[np.ndarray, int]:
    if n_zones is None:
        raise InputError(
            "count_partials needs n_zones with zones (a block may not contain every zone, so it cannot be inferred)"
        )
    nz = int(n_zones)
    if nz < 0:
        raise InputError("n_zones must be >= 0")
    z = np.asarray(zones)
    if z.shape != shape:
        raise InputError(f"the zone raster has shape {z.shape} but the NPP bands have shape {shape}")
    if z.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            bad = np.isinf(z) | (np.isfinite(z) & (z != np.round(z)))
        if bad.any():
            raise InputError("zone codes must be whole numbers (0..n_zones-1, -1 or NaN outside every zone)")
        z = np.where(np.isnan(z), -1, z)
    elif z.dtype.kind not in "iub":
        raise InputError(f"zone codes must be integers, got dtype {z.dtype}")
    z = z.astype(np.int64).reshape(-1)
    if np.any((z < -1) | (z >= nz)):
        raise InputError(f"zone codes must be in 0..{nz - 1} (or -1 outside every zone)")
    # pixels outside every zone go to an extra bin nz that is dropped
    return np.where(z < 0, nz, z), nz


def count_partials(
    maint: np.ndarray, zones: np.ndarray | None = None, n_zones: int | None = None
) -> dict[str, np.ndarray]:
    """Per-year counts N+(t_i), N-(t_i) of pixels keeping a positive / negative trend, for one block.

    Parameters
    ----------
    maint : int8 array ``(E, ...)`` from :func:`maintenance`.
    zones : optional int array ``(...)``: the zone of each pixel, 0..n_zones-1, or -1 (float input: -1 or NaN)
        for pixels outside every zone. ``None``: only the whole-raster counts.
    n_zones : number of zones (required with ``zones``; a block need not contain them all).

    Returns
    -------
    dict with ``n_positive`` and ``n_negative``, int64 arrays ``(1 + n_zones, E)``: row 0 counts the whole
    raster (every pixel, inside a zone or not), row ``1 + z`` zone ``z``. Merge blocks with :func:`merge_counts`
    (plain sums, so the result does not depend on the block split).
    """
    m = np.asarray(maint)
    if m.ndim == 0:
        raise InputError("count_partials needs maintenance surfaces with the evaluation years on the first axis")
    n_e = m.shape[0]
    flat = m.reshape(n_e, -1)
    if m.dtype.kind not in "iub" or np.any((flat < -1) | (flat > 1)):
        raise InputError("maintenance surfaces must hold only -1, 0 and +1 (use maintenance on the signs)")
    if zones is None:
        z, nz = None, 0
    else:
        z, nz = _zone_index(zones, n_zones, m.shape[1:])
    n_pos = np.zeros((1 + nz, n_e), dtype=np.int64)
    n_neg = np.zeros((1 + nz, n_e), dtype=np.int64)
    if z is not None:
        base = 3 * z + 1  # code 3 z + 1 + P: one bincount per year gives every zone's -1 / 0 / +1 counts
    for e in range(n_e):
        n_pos[0, e] = np.count_nonzero(flat[e] == 1)
        n_neg[0, e] = np.count_nonzero(flat[e] == -1)
        if z is not None and nz:
            c = np.bincount(base + flat[e], minlength=3 * (nz + 1)).reshape(nz + 1, 3)
            n_pos[1:, e] = c[:nz, 2]
            n_neg[1:, e] = c[:nz, 0]
    return {"n_positive": n_pos, "n_negative": n_neg}


def merge_counts(*parts: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    """Sum the count partials of several blocks (``None`` entries skipped); inputs are not modified."""
    present = [p for p in parts if p is not None]
    if not present:
        raise InputError("merge_counts needs at least one partial result")
    out = {k: np.array(present[0][k], dtype=np.int64, copy=True) for k in ("n_positive", "n_negative")}
    for p in present[1:]:
        for k, acc in out.items():
            v = np.asarray(p[k])
            if v.shape != acc.shape:
                raise InputError(f"cannot merge counts of shapes {v.shape} and {acc.shape}")
            out[k] = acc + v
    return out


def scratch_bytes_per_pixel(n_eval: int) -> int:
    """Peak scratch of :func:`resilience_block` per pixel besides its float64 input, in bytes (O(E), for sizing).

    Slopes float64 ``(E,)``, signs and maintenance int8 ``(E,)`` each with their comparison masks, two float64
    outputs and the 14 float64 running arrays of :func:`growing_window_slopes`: ``12 E + 128`` bytes (measured
    peak for E = 19: about 300 bytes per pixel, see ``bench/bench_resilience.py``).
    """
    e = int(n_eval)
    return 8 * e + 2 * e + 2 * e + 16 + 8 * 14


def resilience_block(
    npp: np.ndarray,
    years: Sequence[int] | np.ndarray,
    eval_years: Sequence[int] | np.ndarray,
    zones: np.ndarray | None = None,
    n_zones: int | None = None,
    min_valid: int = 2,
) -> dict:
    """The per-block part of the resilience chain: slopes, signs, maintenance, years kept, counts.

    Returns a dict with ``positive_years`` and ``negative_years`` (float64 ``(...)``, NaN for pixels whose slope
    at the reference year is undefined, see :func:`years_maintained`) and ``counts`` (the block's
    :func:`count_partials`, to merge with :func:`merge_counts` and pass to :func:`resilience_tables`).
    """
    k = growing_window_slopes(npp, years, eval_years, min_valid=min_valid)
    m = maintenance(trend_signs(k))
    analysed = np.isfinite(k[0])
    del k
    pos, neg = years_maintained(m, analysed)
    return {"positive_years": pos, "negative_years": neg, "counts": count_partials(m, zones, n_zones)}


# ----------------------------------------------------------------------------------------------------------------
# Decay fit and resilience index
# ----------------------------------------------------------------------------------------------------------------
def _result(tau: float, lam: float, r2: float, status: str) -> dict:
    return {"tau": float(tau), "lambda_": float(lam), "r2": float(r2), "status": status}


def _r2(q: np.ndarray, fitted: np.ndarray) -> float:
    sst = float(np.sum((q - q.mean()) ** 2))
    if sst == 0.0:
        return float("nan")
    return 1.0 - float(np.sum((q - fitted) ** 2)) / sst


def _profile(k: np.ndarray, x: np.ndarray, q: np.ndarray, fix_lambda: bool) -> tuple[np.ndarray, np.ndarray]:
    """SSR and best lambda for each decay rate k (lambda in closed form when free)."""
    e = np.exp(-np.outer(k, x))
    if fix_lambda:
        lam = np.ones(k.shape)
    else:
        lam = (e @ q) / np.einsum("ij,ij->i", e, e)
    r = lam[:, None] * e - q
    return np.einsum("ij,ij->i", r, r), lam


def fit_decay(t: Sequence[float] | np.ndarray, q: Sequence[float] | np.ndarray, fix_lambda: bool = False) -> dict:
    """Fit ``q(t) = lambda * exp(-(t - t') / tau)`` by nonlinear least squares (seed 001 eq. 11).

    Parameters
    ----------
    t : evaluation years (strictly increasing); ``t' = t[0]`` is the reference year.
    q : the maintained fractions ``q(t_i) = N(t_i) / N(t')`` (eq. 10), >= 0; NaN points are left out.
    fix_lambda : fix lambda to 1 (the curve starts at q(t') = 1) instead of fitting it.

    Returns
    -------
    dict ``tau`` (years), ``lambda_``, ``r2`` (1 - SSR/SST of the fitted curve on the valid q; NaN when q is
    constant), ``status``:

    - ``"ok"``: tau finite and > 0. ``tau = 0`` when q drops to 0 right after ``t'`` (instant decay; the least
      squares infimum is reached only in that limit).
    - ``"no decay"``: ``tau = inf``. Either q never falls below its first value, or the best fit with a decay rate
      ``1/tau >= 0`` is the constant curve (rate 0). lambda and R2 are those of that constant curve (lambda =
      mean q, or 1 when fixed).
    - ``"no pixels"``: no valid q at all (N(t') = 0 makes q undefined): everything NaN.
    - ``"undetermined"``: fewer than two valid points (none after t' with lambda fixed), or the fit failed: NaN.

    Notes
    -----
    The fit is parametrised by the rate ``k = 1/tau >= 0`` so that "no decay" is the boundary k = 0 rather than a
    huge tau. The start is the best of a log-spaced grid of k (lambda profiled out in closed form) and of the
    log-linear fit of log q on t - t' weighted by q^2; it is then refined by bounded trust-region least squares
    (scipy.optimize.least_squares) with an analytic Jacobian. On exactly exponential q the result is exact to
    rounding.
    """
    tt = np.asarray(t, dtype=np.float64)
    qq = np.asarray(q, dtype=np.float64)
    if tt.ndim != 1 or qq.shape != tt.shape:
        raise InputError(f"fit_decay needs one q per year, got {qq.shape} values for {tt.shape} years")
    if tt.size == 0:
        return _result(np.nan, np.nan, np.nan, STATUS_NO_PIXELS)
    if not np.all(np.isfinite(tt)) or (tt.size > 1 and not np.all(np.diff(tt) > 0)):
        raise InputError("the evaluation years must be finite and strictly increasing")
    if np.isinf(qq).any() or np.any(qq[~np.isnan(qq)] < 0):
        raise InputError("q must be a fraction N(t)/N(t') >= 0 (NaN where undefined)")
    ok = ~np.isnan(qq)
    if not ok.any():
        return _result(np.nan, np.nan, np.nan, STATUS_NO_PIXELS)
    x = tt[ok] - tt[0]
    qv = qq[ok]
    if qv.size < 2 or (fix_lambda and not np.any(x > 0)):
        return _result(np.nan, np.nan, np.nan, STATUS_UNDETERMINED)

    def constant_fit() -> dict:
        lam = 1.0 if fix_lambda else float(qv.mean())
        return _result(math.inf, lam, _r2(qv, np.full(qv.shape, lam)), STATUS_NO_DECAY)

    if np.all(qv >= qv[0]):
        return constant_fit()
    after = x > 0
    if np.all(qv[after] == 0):
        if not np.any(x == 0):
            return _result(np.nan, np.nan, np.nan, STATUS_UNDETERMINED)
        lam = 1.0 if fix_lambda else float(qv[x == 0][0])
        fitted = np.where(x == 0, lam, 0.0)
        return _result(0.0, lam, _r2(qv, fitted), STATUS_OK)

    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        span = float(x.max() - x.min())
        dx = float(np.min(np.diff(x)))
        grid = np.concatenate([[0.0], np.logspace(np.log10(1e-6 / span), np.log10(30.0 / dx), 400)])
        cand = [grid]
        pos = qv > 0
        if np.count_nonzero(pos) >= 2:
            w = qv[pos] ** 2
            lq = np.log(qv[pos])
            xp = x[pos]
            if fix_lambda:
                k0 = -np.sum(w * xp * lq) / np.sum(w * xp * xp) if np.any(xp > 0) else np.nan
            else:
                xm = np.sum(w * xp) / np.sum(w)
                lm = np.sum(w * lq) / np.sum(w)
                k0 = -np.sum(w * (xp - xm) * (lq - lm)) / np.sum(w * (xp - xm) ** 2)
            if np.isfinite(k0) and k0 > 0:
                cand.append([k0])
        ks = np.concatenate(cand)
        ssr, lams = _profile(ks, x, qv, fix_lambda)
        if not np.any(np.isfinite(ssr)):
            return _result(np.nan, np.nan, np.nan, STATUS_UNDETERMINED)
        best = int(np.nanargmin(ssr))
        k_best, lam_best, ssr_best = float(ks[best]), float(lams[best]), float(ssr[best])
        if k_best == 0.0:
            return constant_fit()

        if fix_lambda:

            def fun(p: np.ndarray) -> np.ndarray:
                return np.exp(-p[0] * x) - qv

            def jac(p: np.ndarray) -> np.ndarray:
                return (-x * np.exp(-p[0] * x))[:, None]

            p0, lower = np.array([k_best]), [0.0]
        else:

            def fun(p: np.ndarray) -> np.ndarray:
                return p[0] * np.exp(-p[1] * x) - qv

            def jac(p: np.ndarray) -> np.ndarray:
                e = np.exp(-p[1] * x)
                return np.column_stack([e, -p[0] * x * e])

            p0, lower = np.array([lam_best, k_best]), [-np.inf, 0.0]
        try:
            res = least_squares(
                fun,
                p0,
                jac=jac,
                bounds=(lower, np.inf),
                method="trf",
                x_scale="jac",
                ftol=_EPS,
                xtol=_EPS,
                gtol=_EPS,
                max_nfev=1000,
            )
            p = res.x
            ssr_ref = float(np.sum(res.fun**2))
        except (ValueError, FloatingPointError):  # pragma: no cover - defensive
            p, ssr_ref = None, np.inf
        if p is not None and np.all(np.isfinite(p)) and np.isfinite(ssr_ref) and ssr_ref <= ssr_best:
            k_hat = float(p[-1])
            lam_hat = 1.0 if fix_lambda else float(p[0])
        else:
            k_hat, lam_hat = k_best, lam_best
        if k_hat <= 0.0:
            return constant_fit()
        fitted = lam_hat * np.exp(-k_hat * x)
    return _result(1.0 / k_hat, lam_hat, _r2(qv, fitted), STATUS_OK)


def resilience_index(tau_pos: float, tau_neg: float) -> float:
    """Carbon sink resilience RS = tau+ - tau- in years (seed 001 eq. 12).

    Infinite decay times ("no decay"): tau+ = inf with a finite tau- gives +inf (the positive trend never fades);
    a finite tau+ with tau- = inf gives -inf; both infinite give NaN (the difference is undefined). NaN in either
    (no pixels, undetermined fit) gives NaN.
    """
    a, b = float(tau_pos), float(tau_neg)
    if math.isnan(a) or math.isnan(b):
        return float("nan")
    if math.isinf(a) and math.isinf(b):
        return float("nan")
    if math.isinf(a):
        return math.inf
    if math.isinf(b):
        return -math.inf
    return a - b


def resilience_level(rs: float) -> str:
    """Resilience level of RS (years) after seed 001 section 4.4.

    ``RS > 500`` "extremely strong"; ``100 < RS <= 500`` "stronger"; ``0 <= RS <= 100`` "strong";
    ``-100 <= RS < 0`` "weak"; ``RS < -100`` "weaker"; NaN "undetermined". Boundary convention: the seed writes
    "> 500", "100-500", "0-100", "< 0" and "< -100", so each upper bound belongs to the lower level up to 0,
    RS = 0 (equal decay times) is "strong" (not "< 0"), and -100 is "weak" (not "< -100"). +inf is "extremely
    strong", -inf "weaker".
    """
    r = float(rs)
    if math.isnan(r):
        return LEVEL_UNDETERMINED
    if r > 500:
        return LEVELS[0]
    if r > 100:
        return LEVELS[1]
    if r >= 0:
        return LEVELS[2]
    if r >= -100:
        return LEVELS[3]
    return LEVELS[4]


def resilience_tables(
    counts: dict[str, np.ndarray],
    eval_years: Sequence[int] | np.ndarray,
    zone_names: Sequence[str] | None = None,
    fix_lambda: bool = False,
) -> tuple[list[dict], list[dict]]:
    """The ``resilience`` OUTPUT_TABLE and OUTPUT_FIT rows from merged counts.

    Parameters
    ----------
    counts : merged :func:`count_partials` (``n_positive``, ``n_negative`` of shape ``(1 + n_zones, E)``).
    eval_years : the E evaluation years, the reference year first.
    zone_names : names of the ``n_zones`` zones (row ``1 + z``), default ``"0", "1", ...``; the whole raster is
        always the first zone, named ``"all"``.
    fix_lambda : fit with lambda fixed to 1 (``FIX_LAMBDA``).

    Returns
    -------
    ``(table_rows, fit_rows)``. Table rows have the keys :data:`TABLE_COLUMNS` (``zone, year, n_positive,
    n_negative, q_positive, q_negative``; q = N(t)/N(t'), NaN when N(t') = 0), zone by zone, year by year. Fit
    rows have :data:`FIT_COLUMNS` (``zone, tau_positive, tau_negative, rs, lambda_positive, lambda_negative,
    r2_positive, r2_negative, level``) followed by :data:`FIT_EXTRA_COLUMNS` (the two fit statuses of
    :func:`fit_decay`). tau in years: inf for "no decay", NaN when undefined.
    """
    for key in ("n_positive", "n_negative"):
        if key not in counts:
            raise InputError(f"the counts lack '{key}': build them with count_partials")
    n_pos = np.asarray(counts["n_positive"])
    n_neg = np.asarray(counts["n_negative"])
    if n_pos.ndim != 2 or n_pos.shape != n_neg.shape:
        raise InputError("n_positive and n_negative must be arrays of the same shape (1 + n_zones, years)")
    ev = _check_years(eval_years, what="evaluation years")
    if ev.size != n_pos.shape[1]:
        raise InputError(f"got {ev.size} evaluation years for counts over {n_pos.shape[1]} years")
    nz = n_pos.shape[0] - 1
    if zone_names is None:
        zone_names = [str(i) for i in range(nz)]
    if len(zone_names) != nz:
        raise InputError(f"got {len(zone_names)} zone names for {nz} zones")
    names = [ALL_ZONE] + [str(n) for n in zone_names]

    def ratio(n: np.ndarray) -> np.ndarray:
        if n[0] <= 0:
            return np.full(n.shape, np.nan)
        return n.astype(np.float64) / float(n[0])

    table, fits = [], []
    for row, name in enumerate(names):
        qp, qn = ratio(n_pos[row]), ratio(n_neg[row])
        for e in range(ev.size):
            table.append(
                {
                    "zone": name,
                    "year": int(ev[e]),
                    "n_positive": int(n_pos[row, e]),
                    "n_negative": int(n_neg[row, e]),
                    "q_positive": float(qp[e]),
                    "q_negative": float(qn[e]),
                }
            )
        fp = fit_decay(ev, qp, fix_lambda=fix_lambda)
        fn = fit_decay(ev, qn, fix_lambda=fix_lambda)
        rs = resilience_index(fp["tau"], fn["tau"])
        fits.append(
            {
                "zone": name,
                "tau_positive": fp["tau"],
                "tau_negative": fn["tau"],
                "rs": rs,
                "lambda_positive": fp["lambda_"],
                "lambda_negative": fn["lambda_"],
                "r2_positive": fp["r2"],
                "r2_negative": fn["r2"],
                "level": resilience_level(rs),
                "status_positive": fp["status"],
                "status_negative": fn["status"],
            }
        )
    return table, fits
