"""Trend statistics of annual stacks: Theil-Sen slope, Mann-Kendall test (four autocorrelation variants),
least-squares trend, and the class schemes of seeds 000 and 003.

Every function works on arrays with time on axis 0 and any trailing shape (the engine passes ``(T, rows, cols)``
blocks), NaN meaning a missing year, and is vectorised over pixels: Python loops run over time steps, lags or
pair offsets only, never over pixels. :func:`series_trends` applies the same functions to one series (a zone's
mean series).

Time step: one value per year; ``years`` are the real year values (missing years keep their real time positions,
METHODS.md "Conventions"). Slopes are in the input's units per year (g C m-2 yr-1 per year for an annual NEP stack).

References
----------
- Sen, P. K. (1968). Estimates of the regression coefficient based on Kendall's tau. JASA 63, 1379-1389.
- Mann, H. B. (1945), Kendall, M. G. (1975); Gilbert, R. O. (1987) for the tie-corrected variance.
- Hamed, K. H. & Rao, A. R. (1998). A modified Mann-Kendall trend test for autocorrelated data. J. Hydrol. 204.
- Yue, S. & Wang, C. Y. (2002, 2004) pre-whitening, trend-free pre-whitening and effective sample size.
- Hussain, M. & Mahmud, I. (2019). pyMannKendall. JOSS 4(39), 1556: the semantics reproduced here (v1.4.3).
- Seed 000 (Table 1, nine Mann-Kendall classes), seeds 000 and 002 (Sen + MK), seeds 001 and 003 (least squares),
  seed 003 (Table 1, six least-squares classes). The decisions are in METHODS.md, section "Trend".

Memory: the Sen slope needs the T(T-1)/2 pairwise slopes of every pixel. The functions process pixels in internal
chunks whose pairwise scratch stays below ``_CHUNK_BYTES``; :func:`scratch_bytes_per_pixel` gives the engine an
upper bound of the peak scratch per pixel so it can size its blocks.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Optional

import numpy as np
from scipy import special

from .classes import CLASS_NODATA, DIVERGING, ClassScheme
from .errors import InputError

__all__ = [
    "TESTS",
    "MK9_SCHEME",
    "MK5_SCHEME",
    "OLS6_SCHEME",
    "Z_BREAKS",
    "sen_slope",
    "mann_kendall",
    "ols_trend",
    "mk_classes_9",
    "mk_classes_5",
    "mk5_scheme",
    "ols_classes_6",
    "series_trends",
    "scratch_bytes_per_pixel",
]

#: Names of the Mann-Kendall variants, in the order of the ``TEST`` enum of ``trend_sen_mk`` (ALGORITHMS.md).
TESTS = ("original", "hamed_rao", "yue_wang", "prewhitening", "trend_free_prewhitening")

#: |Z| limits of seed 000 Table 1 (90 %, 95 % and 99 % two-sided confidence).
Z_BREAKS = (1.64, 1.96, 2.58)

#: Upper bound of the pairwise scratch (bytes) one internal chunk of pixels may use. About 4 MiB keeps a chunk's
#: pair array in the processor caches, which is also the fastest choice measured on the 2-core test machine.
_CHUNK_BYTES = 4 * 1024 * 1024

_OUT_KEYS = ("s", "var_s", "z", "p", "tau", "slope", "intercept", "trend_sign", "var_factor")


# ----------------------------------------------------------------------------------------------------------------
# input checks and layout
# ----------------------------------------------------------------------------------------------------------------
def _as_stack(x: np.ndarray, name: str = "x") -> tuple[np.ndarray, tuple[int, ...]]:
    """``x`` as a float64 ``(T, N)`` array and its trailing shape. Infinite values are bad input."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim < 1:
        raise InputError(f"{name} must have time on its first axis, shape (T, ...); got a scalar")
    if arr.shape[0] < 2:
        raise InputError(f"{name} has {arr.shape[0]} time step(s): a trend needs at least 2 years")
    if np.isinf(arr).any():
        raise InputError(f"{name} contains infinite values: set them to NaN (missing) or to the input's nodata value")
    trailing = arr.shape[1:]
    return arr.reshape(arr.shape[0], -1), trailing


def _check_years(years: Optional[np.ndarray], n_times: int) -> np.ndarray:
    """Year values as float64 ``(T,)``; ``None`` gives positions 0..T-1 (pymannkendall's time axis)."""
    if years is None:
        return np.arange(n_times, dtype=np.float64)
    t = np.asarray(years, dtype=np.float64)
    if t.ndim != 1 or t.shape[0] != n_times:
        raise InputError(f"years has shape {t.shape} but the stack has {n_times} time steps: give one year per band")
    if not np.all(np.isfinite(t)):
        raise InputError("years contains missing or infinite values: give one real year value per band")
    if np.any(np.diff(t) <= 0):
        raise InputError(f"years must be strictly increasing (one band per year, oldest first); got {t.tolist()}")
    return t


def _check_min_valid(min_valid: Optional[int], n_times: int, default: int, lowest: int, what: str) -> int:
    if min_valid is None:
        return default
    mv = int(min_valid)
    if mv != min_valid:
        raise InputError(f"MIN_VALID must be a whole number of years; got {min_valid}")
    if mv < lowest:
        raise InputError(f"MIN_VALID is {mv}, but {what} needs at least {lowest} valid years per pixel")
    if mv > n_times:
        raise InputError(
            f"MIN_VALID is {mv}, but the stack has only {n_times} years: give a value between {lowest} and {n_times}"
        )
    return mv


def _check_alpha(alpha: float) -> float:
    a = float(alpha)
    if not (0.0 < a < 1.0):
        raise InputError(f"ALPHA must be between 0 and 1 (e.g. 0.05); got {alpha}")
    return a


def _pair_bytes(n_times: int) -> int:
    return n_times * (n_times - 1) // 2 * 8


def _chunk_size(n_times: int) -> int:
    return max(64, _CHUNK_BYTES // max(_pair_bytes(n_times), 8))


def _reshape_out(arr: np.ndarray, trailing: tuple[int, ...]) -> np.ndarray:
    return arr.reshape(trailing)


@lru_cache(maxsize=64)
def _pair_offsets(n_times: int) -> tuple[int, ...]:
    """Start of each later index j's block in the pair axis: pairs are ordered (0,1), (0,2), (1,2), (0,3), ..."""
    return tuple(j * (j - 1) // 2 for j in range(n_times + 1))


@lru_cache(maxsize=64)
def _pivot_swap(n_times: int) -> tuple[np.ndarray, np.ndarray]:
    """Column moves that put the three longest-lag pairs at the first, middle and last positions of the pair axis.

    numpy's introselect takes its first pivot as the median of those three positions; long-lag slopes are close
    to the Sen slope, so the first split is near the middle (about 15 % less partition time at T = 24). The result
    does not depend on the order of the pairs. Returns ``(dst, src)`` for ``d[:, dst] = d[:, src]``.
    """
    offs = _pair_offsets(n_times)
    npairs = offs[n_times]
    perm = np.arange(npairs)
    if n_times >= 3:
        for target, pair in zip(
            (0, (npairs - 1) // 2, npairs - 1), (offs[n_times - 1], offs[n_times - 2], offs[n_times - 1] + 1)
        ):
            where = int(np.flatnonzero(perm == pair)[0])
            perm[target], perm[where] = perm[where], perm[target]
    moved = np.flatnonzero(perm != np.arange(npairs))
    return moved, perm[moved]


def _pair_dt(t: np.ndarray) -> np.ndarray:
    """t_j - t_i for the pair order of :func:`_pair_offsets`."""
    n_times = t.shape[0]
    return np.concatenate([t[j] - t[:j] for j in range(1, n_times)])


def _mid_ranks(count: int) -> tuple[int, int]:
    """0-based ranks whose mean is the median of ``count`` sorted values (equal when ``count`` is odd)."""
    return (count - 1) // 2, count // 2


def _order_stats_mean(sorted_rows: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Median of the first ``count`` entries of each sorted row (as numpy: mean of the two middle values)."""
    k1 = np.clip((count - 1) // 2, 0, None)
    k2 = np.clip(count // 2, 0, None)
    a = np.take_along_axis(sorted_rows, k1[:, None], axis=1)[:, 0]
    b = np.take_along_axis(sorted_rows, k2[:, None], axis=1)[:, 0]
    out = (a + b) / 2.0
    out[count < 1] = np.nan
    return out


def _tie_term(sorted_rows: np.ndarray) -> np.ndarray:
    """Sum over tie groups g of t_g (t_g - 1)(2 t_g + 5), from rows sorted ascending with NaN last.

    The run length r_k of equal values up to position k telescopes: sum_k [f(r_k) - f(r_k - 1)] = sum_g f(t_g)
    with f(t) = t (t - 1)(2t + 5). Only rows that have a tie are visited.
    """
    m, width = sorted_rows.shape
    out = np.zeros(m)
    if width < 2:
        return out
    eq = sorted_rows[:, 1:] == sorted_rows[:, :-1]
    rows = np.flatnonzero(eq.any(axis=1))
    if rows.size == 0:
        return out
    eq = eq[rows]
    run = np.ones(rows.size)
    acc = np.zeros(rows.size)
    for k in range(width - 1):
        run = np.where(eq[:, k], run + 1.0, 1.0)
        # f(r) - f(r - 1), f(t) = t (t - 1)(2t + 5): integers, exact in float64
        acc += run * (run - 1.0) * (2.0 * run + 5.0) - (run - 1.0) * (run - 2.0) * (2.0 * run + 3.0)
    out[rows] = acc
    return out


def _s_and_ties(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mann-Kendall S, valid count and tie term of the rows of ``v`` (M, L), NaN = missing (ignored)."""
    m, width = v.shape
    s = np.zeros(m)
    for j in range(1, width):
        vj = v[:, j : j + 1]
        s += np.count_nonzero(vj > v[:, :j], axis=1)
        s -= np.count_nonzero(vj < v[:, :j], axis=1)
    n = np.count_nonzero(~np.isnan(v), axis=1).astype(np.float64)
    ties = _tie_term(np.sort(v, axis=1))
    return s, n, ties


def _var_s(n: np.ndarray, ties: np.ndarray) -> np.ndarray:
    """Var(S) = [n(n-1)(2n+5) - sum_g t_g(t_g-1)(2t_g+5)] / 18 (as pymannkendall: one division by 18)."""
    return (n * (n - 1.0) * (2.0 * n + 5.0) - ties) / 18.0


def _z_score(s: np.ndarray, var_s: np.ndarray) -> np.ndarray:
    """Z = (S - 1)/sqrt(Var) if S > 0, 0 if S = 0, (S + 1)/sqrt(Var) if S < 0."""
    sd = np.sqrt(var_s)
    z = np.where(s > 0, (s - 1.0) / sd, np.where(s < 0, (s + 1.0) / sd, 0.0))
    z[np.isnan(s)] = np.nan
    return z


def _p_two_sided(z: np.ndarray) -> np.ndarray:
    """p = 2 (1 - Phi(|Z|)), evaluated as 2 Phi(-|Z|) (same value, no loss of digits for small p)."""
    return np.minimum(2.0 * special.ndtr(-np.abs(z)), 1.0)


def _trend_sign(z: np.ndarray, alpha: float) -> np.ndarray:
    """+1 / -1 where |Z| > Phi^-1(1 - alpha/2) (pymannkendall's h), by the sign of Z; 0 otherwise; NaN if Z is NaN."""
    crit = special.ndtri(1.0 - alpha / 2.0)
    sig = np.abs(z) > crit
    out = np.where(sig, np.sign(z), 0.0)
    out[np.isnan(z)] = np.nan
    return out


# ----------------------------------------------------------------------------------------------------------------
# the pairwise kernel: Sen slope and S of a chunk of pixels
# ----------------------------------------------------------------------------------------------------------------
def _sen_chunk(xt: np.ndarray, years: np.ndarray, want_s: bool) -> dict:
    """Sen slope, intercept, S, ties and valid count of the rows of ``xt`` (M pixels, T years), NaN = missing.

    The T(T-1)/2 pairwise differences are built with one subtraction per later index j (pairs grouped by j).
    S = #(d > 0) - #(d < 0) = 2 #(d > 0) + #(d = 0) - n(n-1)/2 (NaN pairs count for neither). They are then divided
    by t_j - t_i and the median is selected in place with ``ndarray.partition`` (a median of two middle values is
    their mean, as numpy's). The number of valid pairs of a pixel, n(n-1)/2, depends only on its valid count n:
    pixels with missing years are grouped by n and each group is partitioned at its own middle ranks (NaN pairs
    sort last and are never selected).
    """
    m, n_times = xt.shape
    offs = _pair_offsets(n_times)
    npairs = offs[n_times]
    valid = ~np.isnan(xt)
    n = np.count_nonzero(valid, axis=1)
    full = n == n_times
    full_all = bool(full.all())

    d = np.empty((m, npairs))
    for j in range(1, n_times):
        np.subtract(xt[:, j : j + 1], xt[:, :j], out=d[:, offs[j] : offs[j + 1]])
    s = None
    ties = None
    if want_s:
        n_eq = np.count_nonzero(d == 0.0, axis=1)
        s = 2.0 * np.count_nonzero(d > 0.0, axis=1) + n_eq - n * (n - 1) // 2
        ties = np.zeros(m)
        tied = np.flatnonzero(n_eq > 0)
        if tied.size:
            ties[tied] = _tie_term(np.sort(xt[tied], axis=1))
    np.divide(d, _pair_dt(years), out=d)

    # pixels with missing years: copy their pairs out first (few, usually), then partition every row in place at
    # the middle ranks of a complete series, and redo the incomplete rows on their copies at their own ranks
    partial = {}
    for nv in np.unique(n[(n >= 2) & ~full]):
        rows = np.flatnonzero(n == nv)
        partial[int(nv)] = (rows, d[rows])
    slope = np.full(m, np.nan)
    k1, k2 = _mid_ranks(npairs)
    dst, src = _pivot_swap(n_times)
    d[:, dst] = d[:, src]
    d.partition(sorted({k1, k2}), axis=1)
    slope[full] = (d[full, k1] + d[full, k2]) / 2.0
    del d
    for nv, (rows, sub) in partial.items():
        k1, k2 = _mid_ranks(nv * (nv - 1) // 2)
        sub.partition(sorted({k1, k2}), axis=1)
        slope[rows] = (sub[:, k1] + sub[:, k2]) / 2.0

    # median of the valid values and of the valid years' offsets from the stack's first year
    med_x = np.empty(m)
    med_t = np.empty(m)
    k1, k2 = _mid_ranks(n_times)
    xp = np.partition(xt if full_all else xt[full], sorted({k1, k2}), axis=1)
    med_x[full] = (xp[:, k1] + xp[:, k2]) / 2.0
    med_t[full] = np.median(years - years[0])
    if not full_all:
        rows = np.flatnonzero(~full)
        med_x[rows] = _order_stats_mean(np.sort(xt[rows], axis=1), n[rows])
        tt = np.where(valid[rows], years - years[0], np.nan)
        tt.sort(axis=1)
        med_t[rows] = _order_stats_mean(tt, n[rows])
    intercept = med_x - med_t * slope
    return {"n": n.astype(np.float64), "s": s, "ties": ties, "slope": slope, "intercept": intercept}


# ----------------------------------------------------------------------------------------------------------------
# autocorrelation helpers for the variants (series compressed to their valid values, as pymannkendall)
# ----------------------------------------------------------------------------------------------------------------
def _compress(xt: np.ndarray, years: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Valid values of each row moved to the front, in time order (NaN after), their years, and the valid mask."""
    valid = ~np.isnan(xt)
    order = np.argsort(~valid, axis=1, kind="stable")
    xc = np.take_along_axis(xt, order, axis=1)
    vc = np.take_along_axis(valid, order, axis=1)
    tc = np.where(vc, years[order], np.nan)
    return xc, tc, vc


def _acf(y0: np.ndarray, vc: np.ndarray, n: np.ndarray, nlags: int) -> tuple[np.ndarray, np.ndarray]:
    """Autocorrelation of each compressed row at lags 0..nlags, as pymannkendall's ``__acf``.

    acov_k = sum_i (y_i - ybar)(y_{i+k} - ybar) / n over the n valid values, acf_k = acov_k / acov_0.
    Returns ``(acf, acov0)``; a constant series (all valid values equal, tested exactly so that the rounding of
    its mean cannot fake a variance) has acov0 = 0 and acf NaN.
    """
    m, width = y0.shape
    mean = np.where(vc, y0, 0.0).sum(axis=1) / n
    y = np.where(vc, y0 - mean[:, None], 0.0)
    acov = np.zeros((m, nlags + 1))
    for k in range(min(nlags, width - 1) + 1):
        acov[:, k] = np.einsum("ij,ij->i", y[:, : width - k], y[:, k:]) / n
    constant = np.where(vc, y0, -np.inf).max(axis=1) == np.where(vc, y0, np.inf).min(axis=1)
    acov[constant] = 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        acf = acov / acov[:, :1]
    return acf, acov[:, 0]


def _ranks(v: np.ndarray, vc: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Average ranks (1..n, ties share the mean rank) of each row's valid values: (n + 1 + sum_i sgn(v_j - v_i))/2."""
    m, width = v.shape
    r = np.full((m, width), np.nan)
    for j in range(width):
        vj = v[:, j : j + 1]
        r[:, j] = (n + 1.0 + np.count_nonzero(vj > v, axis=1) - np.count_nonzero(vj < v, axis=1)) / 2.0
    r[~vc] = np.nan
    return r


def _variant_chunk(xt: np.ndarray, years: np.ndarray, base: dict, test: str, alpha: float, lag: Optional[int]) -> dict:
    """S, Var(S), n and the variance factor of one autocorrelation variant (pymannkendall 1.4.3 semantics)."""
    m, n_times = xt.shape
    n = base["n"]
    slope = base["slope"]
    xc, tc, vc = _compress(xt, years)
    # years since the first valid year, plus one: 1..n for consecutive years, i.e. pymannkendall's arange(1, n+1)
    u = tc - tc[:, :1] + 1.0
    factor = np.ones(m)
    fallback = np.zeros(m, dtype=bool)

    if test in ("hamed_rao", "yue_wang"):
        s, ties = base["s"], base["ties"]
        var = _var_s(n, ties)
        detr = xc - u * slope[:, None]
        max_lag = n_times - 1 if lag is None else min(int(lag), n_times - 1)
        if test == "hamed_rao":
            ranks = _ranks(detr, vc, n)
            acf, acov0 = _acf(ranks, vc, n, max_lag)
            bound = special.ndtri(1.0 - alpha / 2.0) / np.sqrt(n)
            sni = np.zeros(m)
            with np.errstate(invalid="ignore"):
                for k in range(1, max_lag + 1):
                    ak = acf[:, k]
                    use = ((ak > bound) | (ak < -bound)) & (k <= n - 1)
                    sni += np.where(use, (n - k) * (n - k - 1.0) * (n - k - 2.0) * ak, 0.0)
            with np.errstate(divide="ignore", invalid="ignore"):
                fac = 1.0 + (2.0 / (n * (n - 1.0) * (n - 2.0))) * sni
        else:
            acf, acov0 = _acf(detr, vc, n, max_lag)
            sni = np.zeros(m)
            with np.errstate(invalid="ignore"):
                for k in range(1, max_lag + 1):
                    sni += np.where(k <= n - 1, (1.0 - k / n) * acf[:, k], 0.0)
            fac = 1.0 + 2.0 * sni
        bad = ~(np.isfinite(fac) & (fac > 0.0)) | (acov0 == 0.0)
        fallback = bad & (n >= 2)
        factor = np.where(bad, 1.0, fac)
        return {"s": s, "var_s": var * factor, "n_s": n, "factor": factor, "fallback": fallback}

    # pre-whitening (of x) or trend-free pre-whitening (of the Sen-detrended x): w_k = y_{k+1} - r1 y_k
    y = xc if test == "prewhitening" else xc - u * slope[:, None]
    acf, acov0 = _acf(y, vc, n, 1)
    r1 = acf[:, 1]
    undefined = ~np.isfinite(r1)
    r1 = np.where(undefined, 0.0, r1)
    fallback = undefined & (n >= 2)
    w = y[:, 1:] - y[:, :-1] * r1[:, None]
    if test == "trend_free_prewhitening":
        w = w + (u[:, 1:] - 1.0) * slope[:, None]
    s, n_w, ties = _s_and_ties(w)
    return {"s": s, "var_s": _var_s(n_w, ties), "n_s": n_w, "factor": factor, "fallback": fallback}


# ----------------------------------------------------------------------------------------------------------------
# public functions
# ----------------------------------------------------------------------------------------------------------------
def sen_slope(x: np.ndarray, years: np.ndarray, min_valid: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
    """Theil-Sen slope and intercept of every pixel.

    slope = median over valid pairs i < j of (x_j - x_i) / (t_j - t_i), t in years (missing years skipped, the
    others keep their real year values); intercept = median(valid x) - slope * median(valid t - t_first), the
    line's value at the first year of the stack (Conover 1980, as pymannkendall's ``sens_slope``; equal to it when
    the years are consecutive, since pymannkendall keeps the positions of missing values for Sen).

    Parameters
    ----------
    x : array (T, ...)
        Annual values (e.g. NEP in g C m-2 yr-1), NaN = missing.
    years : array (T,)
        Year of each band, strictly increasing (need not be consecutive).
    min_valid : int, optional
        Pixels with fewer valid years get NaN (default 2, the fewest that have a pair; at least 2).

    Returns
    -------
    slope : array (...)
        Units of x per year.
    intercept : array (...)
        Units of x, at ``years[0]``.

    References: Sen (1968); seeds 000 and 002; METHODS.md "Trend".
    """
    x2, trailing = _as_stack(x)
    t = _check_years(years, x2.shape[0])
    mv = _check_min_valid(min_valid, x2.shape[0], 2, 2, "a Sen slope")
    npx = x2.shape[1]
    slope = np.full(npx, np.nan)
    intercept = np.full(npx, np.nan)
    step = _chunk_size(x2.shape[0])
    with np.errstate(invalid="ignore", divide="ignore"):
        for start in range(0, npx, step):
            sl = slice(start, min(start + step, npx))
            res = _sen_chunk(np.ascontiguousarray(x2[:, sl].T), t, want_s=False)
            ok = res["n"] >= mv
            slope[sl] = np.where(ok, res["slope"], np.nan)
            intercept[sl] = np.where(ok, res["intercept"], np.nan)
    return _reshape_out(slope, trailing), _reshape_out(intercept, trailing)


def mann_kendall(
    x: np.ndarray,
    years: Optional[np.ndarray] = None,
    test: str = "original",
    alpha: float = 0.05,
    lag: Optional[int] = None,
    min_valid: Optional[int] = None,
) -> dict[str, np.ndarray]:
    """Mann-Kendall trend test and Theil-Sen slope of every pixel (pymannkendall 1.4.3 semantics, vectorised).

    Formulas (METHODS.md "Trend"), over the n valid years of a pixel (missing years dropped):

    - S = sum over i < j of sign(x_j - x_i); tau = S / (n(n-1)/2) (Kendall's tau-a, pymannkendall's ``Tau``).
    - Var(S) = [n(n-1)(2n+5) - sum_g t_g(t_g-1)(2t_g+5)] / 18, t_g the size of each group of equal values.
    - Z = (S-1)/sqrt(Var) if S > 0, 0 if S = 0, (S+1)/sqrt(Var) if S < 0; p = 2(1 - Phi(|Z|)) two-sided,
      computed as 2 Phi(-|Z|) (identical up to 1e-16, and accurate for tiny p).
    - ``trend_sign`` = sign(Z) where |Z| > Phi^-1(1 - alpha/2) (pymannkendall's ``h``), else 0.
    - slope, intercept: :func:`sen_slope` (units of x per year; intercept at ``years[0]``).

    Variants (``test``), each as pymannkendall 1.4.3 computes it on the series of valid values:

    - ``"hamed_rao"``: the series is detrended with the Sen slope, d_k = x_k - slope * u_k, and ranked;
      rho_k = lag-k autocorrelation of the ranks; Var(S) is multiplied by
      n/n* = 1 + 2/(n(n-1)(n-2)) * sum_k (n-k)(n-k-1)(n-k-2) rho_k over the lags k = 1..``lag`` (default all,
      n-1) whose rho_k lies outside +/- Phi^-1(1 - alpha/2)/sqrt(n) (so the result depends on ``alpha``).
    - ``"yue_wang"``: Var(S) multiplied by n/n* = 1 + 2 sum_k (1 - k/n) rho_k, rho_k the autocorrelation of
      the detrended series d (not of its ranks), lags k = 1..``lag`` (default n-1), no significance screening.
    - ``"prewhitening"``: S and Var(S) of w_k = x_{k+1} - r1 x_k (n-1 values), r1 the lag-1 autocorrelation of x.
    - ``"trend_free_prewhitening"``: r1 of the detrended d, w_k = d_{k+1} - r1 d_k + slope * (u_{k+1} - 1); S, Var(S)
      and tau of w (n-1 values). For all variants slope and intercept are the Sen estimates of the original x.

    Autocorrelations are those of pymannkendall: acf_k = acov_k/acov_0, acov_k = sum (y_i - ybar)(y_{i+k} - ybar)/n,
    over the series of valid values in time order (a missing year is skipped, so lags count valid values).

    Where this differs from pymannkendall (documented decisions, checked by the tests):

    - Detrending uses real years: u_k = t_k - t_first_valid + 1, which is pymannkendall's 1..n when the valid
      years are consecutive (bit for bit), and keeps the Sen slope's unit (per year) when years have gaps or are
      not consecutive (pymannkendall then subtracts slope x position in the compressed list).
    - Hamed-Rao and Yue-Wang: where the corrected variance factor n/n* is not a positive finite number
      (negative or zero because of estimated negative autocorrelation, pymannkendall issue 29; or undefined
      because the detrended series is constant, e.g. a perfectly linear series, where pymannkendall returns NaN),
      the uncorrected variance is used (factor 1): the test falls back to the original Mann-Kendall test instead of
      returning NaN. This is conservative: a factor below 1 would make the trend look more significant.
      ``var_fallback`` marks these pixels.
    - Pre-whitening and trend-free pre-whitening: where r1 is undefined (the series, or its detrended version, is
      constant) r1 = 0 is used (no whitening). For a constant series Z = 0 and p = 1 as in pymannkendall (whose
      NaN-filled series gives Var(S) of n-1 untied values where this gives 0); for a perfectly linear series the
      trend is tested on x_{k+1} (pymannkendall returns S = 0, p = 1 there). The whitened values depend on the
      last bit of r1, whose rounding depends on the summation order (pymannkendall sums with BLAS): where two whitened
      values are equal to within rounding (heavily tied integer data), S may differ from pymannkendall's by up to 2
      per such pair (3 of 860 integer pixels with T = 24 in the tests; none on continuous data).

    Memory and speed: pixels are processed in internal chunks (see :func:`scratch_bytes_per_pixel`); the original
    test costs about 4.5 us per pixel at T = 24 on one core (pymannkendall's loop: about 600 us).

    Degenerate pixels: fewer than ``min_valid`` valid years -> NaN everywhere (except ``n``). A constant series
    gives S = 0, Var(S) = 0, Z = 0, p = 1, tau = 0, slope = 0 (as pymannkendall). n = 2 (only with
    ``min_valid=2``) gives S = +/-1 or 0, Var(S) = 1, Z = 0, p = 1 as pymannkendall's original test; the Hamed-Rao
    factor is then undefined (pymannkendall raises) and the fallback applies. The pre-whitening variants need
    3 valid years whatever ``min_valid`` says (their whitened series has n - 1 values).

    Parameters
    ----------
    x : array (T, ...)
        Annual values, NaN = missing. Time step: one value per year.
    years : array (T,), optional
        Year of each band (strictly increasing). ``None``: 0..T-1 (consecutive years).
    test : str
        One of ``TESTS``.
    alpha : float
        Significance level of ``trend_sign`` and of Hamed-Rao's lag screening.
    lag : int, optional
        Number of autocorrelation lags of Hamed-Rao / Yue-Wang (default: all, n - 1). Ignored by the others.
    min_valid : int, optional
        Minimum number of valid years (default 3; at least 2).

    Returns
    -------
    dict of float64 arrays with the trailing shape of x:
        ``s``, ``var_s`` (the variant's variance, corrected where applicable), ``z``, ``p``, ``tau``, ``slope``
        (units of x per year), ``intercept`` (units of x, at ``years[0]``), ``n`` (valid years, always filled),
        ``trend_sign`` (+1, -1, 0), ``var_factor`` (the factor applied to Var(S): n/n* or 1) and ``var_fallback``
        (bool: the variant's correction was replaced as described above).

    References: Mann (1945); Kendall (1975); Sen (1968); Hamed & Rao (1998); Yue & Wang (2002, 2004);
    Hussain & Mahmud (2019); seeds 000 and 002.
    """
    if test not in TESTS:
        raise InputError(f"unknown Mann-Kendall test '{test}': use one of {', '.join(TESTS)}")
    x2, trailing = _as_stack(x)
    n_times, npx = x2.shape
    t = _check_years(years, n_times)
    a = _check_alpha(alpha)
    if lag is not None and (int(lag) != lag or lag < 1):
        raise InputError(f"LAG must be a whole number of years >= 1 (or empty for all lags); got {lag}")
    mv = _check_min_valid(min_valid, n_times, 3, 2, "the Mann-Kendall test")
    if test in ("prewhitening", "trend_free_prewhitening"):
        mv = max(mv, 3)

    out = {k: np.full(npx, np.nan) for k in _OUT_KEYS}
    out["n"] = np.zeros(npx)
    out["var_fallback"] = np.zeros(npx, dtype=bool)
    step = _chunk_size(n_times)
    with np.errstate(invalid="ignore", divide="ignore"):
        for start in range(0, npx, step):
            sl = slice(start, min(start + step, npx))
            xt = np.ascontiguousarray(x2[:, sl].T)
            base = _sen_chunk(xt, t, want_s=True)
            n = base["n"]
            if test == "original":
                s, n_s, factor = base["s"], n, np.ones(n.shape)
                var = _var_s(n, base["ties"])
                fallback = np.zeros(n.shape, dtype=bool)
            else:
                res = _variant_chunk(xt, t, base, test, a, lag)
                s, var, n_s, factor, fallback = res["s"], res["var_s"], res["n_s"], res["factor"], res["fallback"]
            z = _z_score(s, var)
            ok = n >= mv
            vals = {
                "s": s,
                "var_s": var,
                "z": z,
                "p": _p_two_sided(z),
                "tau": s / (0.5 * n_s * (n_s - 1.0)),
                "slope": base["slope"],
                "intercept": base["intercept"],
                "trend_sign": _trend_sign(z, a),
                "var_factor": factor,
            }
            for k, v in vals.items():
                out[k][sl] = np.where(ok, v, np.nan)
            out["n"][sl] = n
            out["var_fallback"][sl] = fallback & ok
    return {k: _reshape_out(v, trailing) for k, v in out.items()}


def ols_trend(x: np.ndarray, years: np.ndarray, min_valid: Optional[int] = None) -> dict[str, np.ndarray]:
    """Ordinary least-squares linear trend of every pixel over its valid years.

    slope = [n sum(t x) - sum t sum x] / [n sum t^2 - (sum t)^2] (METHODS.md), computed in the equivalent centred
    form sum (t - tbar)(x - xbar) / sum (t - tbar)^2 (no cancellation with year values near 2000);
    intercept = xbar - slope (tbar - t_first): the line's value at ``years[0]``;
    r2 = r^2, r = Sxy / sqrt(Sxx Syy); p = two-sided t-test of the slope, t = r sqrt(n-2) / sqrt(1 - r^2) with
    n - 2 degrees of freedom (the same as slope / standard error).

    A constant series gives slope 0, r2 = 0 and p = 1 (as scipy.stats.linregress: no evidence of a trend);
    a perfect line gives p = 0. ``min_valid=2`` is allowed: slope and intercept are then given for n = 2 but
    p and r2 are NaN (no residual degree of freedom).

    Parameters
    ----------
    x : array (T, ...)
        Annual values, NaN = missing. Time step: one value per year.
    years : array (T,)
        Year of each band, strictly increasing; missing years keep their real year values.
    min_valid : int, optional
        Minimum number of valid years (default 3; at least 2).

    Returns
    -------
    dict of float64 arrays: ``slope`` (units of x per year), ``intercept`` (units of x, at ``years[0]``), ``r2``,
    ``p``, ``n`` (valid years, always filled).

    References: seeds 001 and 003; METHODS.md "Ordinary least squares".
    """
    x2, trailing = _as_stack(x)
    n_times = x2.shape[0]
    t = _check_years(years, n_times)
    mv = _check_min_valid(min_valid, n_times, 3, 2, "a least-squares trend")
    valid = ~np.isnan(x2)
    n = np.count_nonzero(valid, axis=0).astype(np.float64)
    tt = (t - t[0])[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        xz = np.where(valid, x2, 0.0)
        tz = np.where(valid, tt, 0.0)
        xbar = xz.sum(axis=0) / n
        tbar = tz.sum(axis=0) / n
        dx = np.where(valid, x2 - xbar, 0.0)
        dt = np.where(valid, tt - tbar, 0.0)
        sxx = np.einsum("ij,ij->j", dt, dt)
        sxy = np.einsum("ij,ij->j", dt, dx)
        syy = np.einsum("ij,ij->j", dx, dx)
        slope = sxy / sxx
        intercept = xbar - slope * tbar
        r = np.where(syy == 0.0, 0.0, sxy / np.sqrt(sxx * syy))
        r = np.clip(r, -1.0, 1.0)
        df = n - 2.0
        tstat = r * np.sqrt(df / ((1.0 - r) * (1.0 + r)))
        p = 2.0 * special.stdtr(df, -np.abs(tstat))
        p = np.where(np.isinf(tstat), 0.0, p)
        p = np.where(df >= 1, p, np.nan)
        r2 = np.where(df >= 1, r * r, np.nan)
    ok = n >= mv
    res = {
        "slope": np.where(ok, slope, np.nan),
        "intercept": np.where(ok, intercept, np.nan),
        "r2": np.where(ok, r2, np.nan),
        "p": np.where(ok, p, np.nan),
        "n": n,
    }
    return {k: _reshape_out(v, trailing) for k, v in res.items()}


# ----------------------------------------------------------------------------------------------------------------
# class schemes
# ----------------------------------------------------------------------------------------------------------------
_MK9_LABELS = {
    -4: "Extremely significant decrease",
    -3: "Significant decrease",
    -2: "Weakly significant decrease",
    -1: "Insignificant decrease",
    0: "Unchanged",
    1: "Insignificant increase",
    2: "Weakly significant increase",
    3: "Significant increase",
    4: "Extremely significant increase",
}

#: Seed 000 Table 1, read symmetrically (METHODS.md): +/-4 |Z| > 2.58, +/-3 1.96 < |Z| <= 2.58,
#: +/-2 1.64 < |Z| <= 1.96, +/-1 |Z| <= 1.64 with slope != 0, 0 slope = 0; sign from the Sen slope.
MK9_SCHEME = ClassScheme(
    codes=tuple(range(-4, 5)),
    labels=tuple(_MK9_LABELS[c] for c in range(-4, 5)),
    colors=tuple(DIVERGING[c] for c in range(-4, 5)),
    title="Sen slope and Mann-Kendall significance (seed 000, Table 1)",
    extra={"z_breaks": Z_BREAKS},
)


def mk5_scheme(alpha: float = 0.05) -> ClassScheme:
    """The five-class scheme at significance level ``alpha`` (labels name alpha)."""
    a = _check_alpha(alpha)
    labels = {
        -2: f"Significant decrease (p < {a:g})",
        -1: f"Non-significant decrease (p >= {a:g})",
        0: "No change (slope = 0)",
        1: f"Non-significant increase (p >= {a:g})",
        2: f"Significant increase (p < {a:g})",
    }
    colors = {-2: DIVERGING[-3], -1: DIVERGING[-1], 0: DIVERGING[0], 1: DIVERGING[1], 2: DIVERGING[3]}
    return ClassScheme(
        codes=tuple(range(-2, 3)),
        labels=tuple(labels[c] for c in range(-2, 3)),
        colors=tuple(colors[c] for c in range(-2, 3)),
        title=f"Sen slope and Mann-Kendall significance at alpha = {a:g}",
        extra={"alpha": a},
    )


#: Five classes at alpha = 0.05: +/-2 significant (p < alpha), +/-1 not significant, 0 slope = 0.
MK5_SCHEME = mk5_scheme(0.05)

_OLS6_LABELS = {
    -3: "Extremely significant decrease",
    -2: "Significant decrease",
    -1: "Nonsignificant decrease",
    0: "No change (slope = 0)",
    1: "Nonsignificant increase",
    2: "Significant increase",
    3: "Extremely significant increase",
}
_OLS6_COLORS = {
    -3: DIVERGING[-4],
    -2: DIVERGING[-3],
    -1: DIVERGING[-1],
    0: DIVERGING[0],
    1: DIVERGING[1],
    2: DIVERGING[3],
    3: DIVERGING[4],
}

#: Seed 003 Table 1: slope < 0 / > 0 crossed with p < 0.01 (extremely significant), 0.01 <= p < 0.05
#: (significant), p >= 0.05 (not significant); 0 only where the slope is exactly 0.
OLS6_SCHEME = ClassScheme(
    codes=tuple(range(-3, 4)),
    labels=tuple(_OLS6_LABELS[c] for c in range(-3, 4)),
    colors=tuple(_OLS6_COLORS[c] for c in range(-3, 4)),
    title="Least-squares trend and t-test significance (seed 003, Table 1)",
    extra={"p_breaks": (0.01, 0.05)},
)


def _signed_codes(level: np.ndarray, slope: np.ndarray, nan_mask: np.ndarray) -> np.ndarray:
    sign = np.sign(np.where(nan_mask, 0.0, slope)).astype(np.int16)
    codes = np.asarray(sign * level, dtype=np.int16)
    codes[nan_mask] = CLASS_NODATA
    return codes


def mk_classes_9(z: np.ndarray, slope: np.ndarray) -> np.ndarray:
    """Nine trend classes of seed 000 Table 1 (codes -4..4, int16; NaN input -> ``CLASS_NODATA``).

    Level from |Z|: 4 if |Z| > 2.58, 3 if 1.96 < |Z| <= 2.58, 2 if 1.64 < |Z| <= 1.96, 1 if |Z| <= 1.64;
    sign from the Sen slope; 0 where the slope is exactly 0 ("Unchanged"). See ``MK9_SCHEME``.
    """
    z = np.asarray(z, dtype=np.float64)
    slope = np.asarray(slope, dtype=np.float64)
    az = np.abs(z)
    with np.errstate(invalid="ignore"):
        level = 1 + (az > Z_BREAKS[0]).astype(np.int16) + (az > Z_BREAKS[1]) + (az > Z_BREAKS[2])
    return _signed_codes(level, slope, np.isnan(z) | np.isnan(slope))


def mk_classes_5(p: np.ndarray, slope: np.ndarray, alpha: float = 0.05) -> np.ndarray:
    """Five trend classes (codes -2..2, int16): +/-2 significant (p < alpha), +/-1 not (p >= alpha), 0 slope = 0.

    p < alpha is pymannkendall's decision |Z| > Phi^-1(1 - alpha/2). NaN input -> ``CLASS_NODATA``.
    See :func:`mk5_scheme`.
    """
    a = _check_alpha(alpha)
    p = np.asarray(p, dtype=np.float64)
    slope = np.asarray(slope, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        level = 1 + (p < a).astype(np.int16)
    return _signed_codes(level, slope, np.isnan(p) | np.isnan(slope))


def ols_classes_6(slope: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Six least-squares trend classes of seed 003 Table 1 (codes -3..3, int16).

    Level 3 if p < 0.01 (extremely significant), 2 if 0.01 <= p < 0.05 (significant), 1 if p >= 0.05
    (not significant); sign from the slope; 0 only where the slope is exactly 0. NaN input -> ``CLASS_NODATA``.
    """
    slope = np.asarray(slope, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        level = 1 + (p < 0.05).astype(np.int16) + (p < 0.01)
    return _signed_codes(level, slope, np.isnan(p) | np.isnan(slope))


# ----------------------------------------------------------------------------------------------------------------
# one series (zones) and memory
# ----------------------------------------------------------------------------------------------------------------
def series_trends(
    values: np.ndarray,
    years: np.ndarray,
    test: str = "original",
    alpha: float = 0.05,
    min_valid: Optional[int] = None,
) -> dict[str, float]:
    """Sen slope, Mann-Kendall and least-squares trend of one series (e.g. a zone's mean NEP per year).

    The same vectorised functions as for pixels (:func:`mann_kendall`, :func:`ols_trend`) applied to a (T, 1)
    array, so zone and pixel results agree exactly.

    Returns
    -------
    dict of floats: ``sen_slope`` (per year), ``intercept`` (at ``years[0]``), ``mk_z``, ``mk_p``, ``mk_tau``,
    ``ols_slope`` (per year), ``ols_intercept``, ``ols_p``, ``ols_r2``, ``n``.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise InputError(f"a zone series must be one-dimensional (one value per year); got shape {v.shape}")
    mk = mann_kendall(v[:, None], years, test=test, alpha=alpha, min_valid=min_valid)
    ols = ols_trend(v[:, None], years, min_valid=min_valid)
    return {
        "sen_slope": float(mk["slope"][0]),
        "intercept": float(mk["intercept"][0]),
        "mk_z": float(mk["z"][0]),
        "mk_p": float(mk["p"][0]),
        "mk_tau": float(mk["tau"][0]),
        "ols_slope": float(ols["slope"][0]),
        "ols_intercept": float(ols["intercept"][0]),
        "ols_p": float(ols["p"][0]),
        "ols_r2": float(ols["r2"][0]),
        "n": float(mk["n"][0]),
    }


def scratch_bytes_per_pixel(n_times: int, test: str = "original") -> int:
    """Upper bound of the peak scratch memory (bytes per pixel) of :func:`mann_kendall` / :func:`sen_slope`.

    The pairwise slopes take 8 T(T-1)/2 bytes per pixel, plus as much again for the copies of the pixels with
    missing years (worst case: every pixel) and one byte per pair for a sign mask; the per-year work arrays take
    a few times 8 T bytes. The variants run after the pairwise arrays are freed and need about 16 arrays of 8 T
    bytes. The outputs (12 values of 8 bytes per pixel) are included. The functions never hold the pairwise
    scratch of more than one internal chunk (``_CHUNK_BYTES`` of pairs) at a time, so this bounds the scratch of
    any block size; the engine sizes its blocks with it (plus its own input and output buffers).
    """
    if test not in TESTS:
        raise InputError(f"unknown Mann-Kendall test '{test}': use one of {', '.join(TESTS)}")
    t = int(n_times)
    npairs = t * (t - 1) // 2
    per_pairs = npairs * (8 + 8 + 1) + 8 * t * 8
    per_variant = 8 * t * 17 if test != "original" else 0
    return int(max(per_pairs, per_variant) + 12 * 8)
