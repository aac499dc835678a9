"""Climate drivers: correlation, partial correlation, dominant factor and contribution (attribution) analysis.

Every function works on whole blocks of pixels at once: the target has shape ``(T, ...)`` (time on axis 0, any
trailing pixel shape) and the factors ``(k, T, ...)`` with ``k = 1..5`` (a sequence of ``k`` arrays of shape
``(T, ...)`` is accepted too). NaN is missing. Per pixel, only the years where the target **and every factor**
are valid are used ("complete cases"), so the correlation matrix of a pixel is always positive semi-definite.

Formulas (``METHODS.md``, "Climate drivers"):

- Pearson r between two series, ``t = r sqrt(n - 2) / sqrt(1 - r^2)`` with ``n - 2`` degrees of freedom, two-sided
  p (seed 002, Cui et al. 2025). Spearman: the same on the average ranks of the valid values (ties averaged, as
  ``scipy.stats.spearmanr``).
- Partial correlation of the target with factor ``j`` controlling for the ``q = k - 1`` other factors: with ``P``
  the inverse of the correlation matrix of ``[target, factor_1 .. factor_k]``,
  ``r_j = -P_0j / sqrt(P_00 P_jj)``; t-test with ``df = n - 2 - q`` (seeds 000 and 004; ``pingouin.partial_corr``
  uses the same ``df``). With one factor (``q = 0``) this is the plain correlation.
- Dominant factor: the factor with the largest ``|partial r|`` (seed 004, Figure 7), optionally among the
  significant ones only.
- Contribution analysis (seed 002, eq. 21-22 and Table 2): per-pixel multiple linear regression of the target on
  the factors; ``contribution_k = b_k x trend_k`` (OLS slope of factor k against the year, per year);
  ``climate = sum_k contribution_k``; ``residual = observed - climate`` ("human activities and other") with
  ``observed`` the OLS trend of the target.

The correlation matrix is inverted per pixel by a Gauss-Jordan elimination vectorised over the pixels (the
matrices are symmetric positive semi-definite, so no pivoting is needed). Each pivot equals ``1 - R^2`` of one
variable on the variables eliminated before it; a pivot below :data:`COLLINEARITY_TOLERANCE` means the
variables are (numerically) collinear and the pixel becomes nodata instead of returning noise.

Units: r and p are unitless; contributions, climate, residual and observed trends are in target units per year
(g C m-2 yr-1 per year for an annual NEP stack); regression coefficients in target units per factor unit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import special

from .classes import CLASS_NODATA, DIVERGING, ClassScheme
from .errors import InputError

#: Most factors a partial correlation or attribution accepts (``FACTOR_1`` .. ``FACTOR_5``).
MAX_FACTORS = 5

#: Smallest accepted Gauss-Jordan pivot of a correlation matrix, i.e. ``1 - R^2`` of one variable on the others
#: eliminated before it. Below it the pixel's variables are treated as collinear (nodata).
COLLINEARITY_TOLERANCE = 1e-10

#: Relative tolerance under which a trend or contribution counts as zero in :func:`attribution_classes`.
ZERO_RTOL = 1e-9

_METHODS = ("pearson", "spearman")

# --------------------------------------------------------------------------------------------------------------
# Class schemes
# --------------------------------------------------------------------------------------------------------------

#: Correlation classes, numbered in increasing order of r (``ALGORITHMS.md``): 1 significant negative,
#: 2 not significant negative, 3 not significant positive, 4 significant positive; 0 where r is exactly 0.
CORRELATION_SCHEME = ClassScheme(
    codes=(0, 1, 2, 3, 4),
    labels=(
        "No correlation (r = 0)",
        "Significant negative",
        "Not significant negative",
        "Not significant positive",
        "Significant positive",
    ),
    colors=(DIVERGING[0], DIVERGING[-3], DIVERGING[-1], DIVERGING[1], DIVERGING[3]),
    nodata=CLASS_NODATA,
    title="Correlation with the factor",
)

#: Seed 002 Table 2 / Figure 12 classes (codes as in the paper's Figure 12); 0 where the observed trend is 0.
ATTRIBUTION_SCHEME = ClassScheme(
    codes=(0, 1, 2, 3, 4, 5, 6),
    labels=(
        "No change",
        "Increase: climate and human activities",
        "Increase: climate",
        "Increase: human activities and other",
        "Decrease: climate and human activities",
        "Decrease: climate",
        "Decrease: human activities and other",
    ),
    colors=("#e0e0e0", "#1a9850", "#91cf60", "#d9ef8b", "#d73027", "#fc8d59", "#fee08b"),
    nodata=CLASS_NODATA,
    title="Dominant cause of the trend (seed 002, Table 2)",
)

_QUALITATIVE = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e")


def dominant_scheme(factor_names: Sequence[str]) -> ClassScheme:
    """Class scheme of :func:`dominant_factor`: code ``j`` (1..k) is ``factor_names[j-1]``, 0 is "None".

    Raises :class:`InputError` unless there are 1..5 distinct, non-empty names.
    """
    names = [str(n).strip() for n in factor_names]
    if not 1 <= len(names) <= MAX_FACTORS:
        raise InputError(f"give 1 to {MAX_FACTORS} factor names, got {len(names)}")
    if any(not n for n in names):
        raise InputError("factor names must not be empty: give one name per factor, e.g. 'Temperature, Precipitation'")
    if len(set(names)) != len(names):
        raise InputError(f"factor names must differ from each other, got {', '.join(names)}")
    return ClassScheme(
        codes=tuple(range(len(names) + 1)),
        labels=("None", *names),
        colors=("#e0e0e0", *_QUALITATIVE[: len(names)]),
        nodata=CLASS_NODATA,
        title="Dominant factor (largest |partial r|)",
    )


# --------------------------------------------------------------------------------------------------------------
# Input checks and helpers
# --------------------------------------------------------------------------------------------------------------


def _as_series(a: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim < 1 or arr.shape[0] < 1:
        raise InputError(f"{name} must have time on the first axis (shape (T, ...)), got shape {arr.shape}")
    if np.isinf(arr).any():
        raise InputError(f"{name} contains infinite values: set missing values to nodata (NaN) instead")
    return arr


def _prepare(target: np.ndarray, factors: np.ndarray | Sequence[np.ndarray]) -> tuple[np.ndarray, tuple]:
    """Stack ``[target, factor_1 .. factor_k]`` into ``(k + 1, T, N)``; return it and the pixel shape."""
    y = _as_series(target, "the target")
    if isinstance(factors, np.ndarray):
        f = _as_series(factors, "the factors")
        if f.ndim == y.ndim:  # a single factor given as (T, ...)
            f = f[None]
    else:
        f = [_as_series(x, f"factor {i + 1}") for i, x in enumerate(factors)]
        if not f:
            raise InputError(f"give 1 to {MAX_FACTORS} factors, got none")
        shapes = {x.shape for x in f}
        if len(shapes) != 1:
            raise InputError(f"the factors have different shapes {sorted(shapes)}: give the same years and grid")
        f = np.stack(f)
    k = f.shape[0]
    if not 1 <= k <= MAX_FACTORS:
        raise InputError(f"give 1 to {MAX_FACTORS} factors, got {k}")
    if f.shape[1:] != y.shape:
        if f.shape[1] != y.shape[0]:
            raise InputError(
                f"the target has {y.shape[0]} time steps but the factors have {f.shape[1]}: "
                "give one band per year for the same years"
            )
        raise InputError(f"the factors' pixel shape {f.shape[2:]} differs from the target's {y.shape[1:]}")
    pixel_shape = y.shape[1:]
    t = y.shape[0]
    data = np.empty((k + 1, t, int(np.prod(pixel_shape, dtype=np.int64))), dtype=np.float64)
    data[0] = y.reshape(t, -1)
    data[1:] = f.reshape(k, t, -1)
    return data, pixel_shape


def _check_min_valid(min_valid: int | None, n_times: int) -> int:
    if min_valid is None:
        return n_times
    if int(min_valid) != min_valid or not 1 <= min_valid <= n_times:
        raise InputError(f"MIN_VALID must be a whole number of years from 1 to {n_times} (the series length)")
    return int(min_valid)


def _check_method(method: str) -> str:
    m = str(method).lower()
    if m not in _METHODS:
        raise InputError(f"method '{method}' is not known: use 'pearson' or 'spearman'")
    return m


def _check_alpha(alpha: float) -> float:
    if not 0.0 < float(alpha) < 1.0:
        raise InputError(f"ALPHA must be between 0 and 1 (e.g. 0.05), got {alpha}")
    return float(alpha)


def _average_ranks(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Ranks 1..n of the valid values of each column of ``x`` (T, N), ties averaged; NaN elsewhere.

    Same ranks as ``scipy.stats.rankdata(..., method="average")`` on the valid values of each pixel.
    """
    t = x.shape[0]
    xs = np.where(valid, x, np.nan).T  # (N, T): contiguous rows for the sort
    order = np.argsort(xs, axis=1, kind="stable")  # NaN (invalid) last
    s = np.take_along_axis(xs, order, axis=1)
    pos = np.arange(t)
    new = np.ones(s.shape, dtype=bool)
    new[:, 1:] = s[:, 1:] != s[:, :-1]  # NaN != NaN: each invalid value is its own group (ranks discarded)
    start = np.maximum.accumulate(np.where(new, pos, 0), axis=1)
    last = np.ones(s.shape, dtype=bool)
    last[:, :-1] = new[:, 1:]
    end = np.minimum.accumulate(np.where(last, pos, t - 1)[:, ::-1], axis=1)[:, ::-1]
    avg = (start + end) * 0.5 + 1.0
    ranks = np.empty_like(avg)
    np.put_along_axis(ranks, order, avg, axis=1)
    ranks = ranks.T
    ranks[~valid] = np.nan
    return ranks


def _centered(data: np.ndarray, valid: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Deviations from the per-pixel mean over the valid years; 0 at invalid years. ``data`` (m, T, N)."""
    filled = np.where(valid, data, 0.0)
    mean = filled.sum(axis=1) / np.maximum(n, 1)
    filled -= mean[:, None, :]
    filled[:, ~valid] = 0.0
    return filled


def _constant(data: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(m, N) True where a variable's valid values are all equal (or there are none)."""
    hi = np.where(valid, data, -np.inf).max(axis=1)
    lo = np.where(valid, data, np.inf).min(axis=1)
    return ~(hi > lo)


def _cross_products(dev: np.ndarray) -> np.ndarray:
    """Sums of products of deviations: (m, m, N) from (m, T, N)."""
    m = dev.shape[0]
    c = np.empty((m, m, dev.shape[2]), dtype=np.float64)
    for i in range(m):
        for j in range(i, m):
            c[i, j] = np.einsum("tn,tn->n", dev[i], dev[j])
            c[j, i] = c[i, j]
    return c


def _to_correlation(c: np.ndarray) -> np.ndarray:
    """Correlation matrices (m, m, N) from cross-product matrices; NaN rows where a variance is 0."""
    m = c.shape[0]
    s = np.sqrt(np.stack([c[i, i] for i in range(m)]))
    r = c / (s[:, None, :] * s[None, :, :])
    for i in range(m):
        r[i, i] = 1.0
    return np.clip(r, -1.0, 1.0)


def _invert_spd(a: np.ndarray, tol: float = COLLINEARITY_TOLERANCE) -> tuple[np.ndarray, np.ndarray]:
    """Invert symmetric positive semi-definite matrices ``a`` (m, m, N) with unit diagonal, all pixels at once.

    Gauss-Jordan elimination without pivoting (stable for SPD matrices). The k-th pivot is ``1 - R^2`` of variable
    k regressed on variables 0..k-1; where any pivot is below ``tol`` (or NaN) the matrix counts as singular:
    ``ok`` is False there and the inverse is meaningless.
    """
    a = np.array(a, dtype=np.float64)  # a copy
    m = a.shape[0]
    ok = np.ones(a.shape[2], dtype=bool)
    for k in range(m):
        piv = a[k, k].copy()
        ok &= piv > tol
        piv[~ok] = 1.0
        a[k, k] = 1.0
        a[k] /= piv
        for i in range(m):
            if i != k:
                f = a[i, k].copy()
                a[i, k] = 0.0
                a[i] -= f * a[k]
    return a, ok


def _t_test_p(r: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Two-sided p of ``t = r sqrt(df / (1 - r^2))`` with ``df`` degrees of freedom (Student t).

    Uses ``p = I_{1 - r^2}(df / 2, 1 / 2)`` (regularized incomplete beta), the same value as
    ``2 * scipy.stats.t.sf(|t|, df)`` but exact at ``|r| = 1`` (p = 0) without dividing by zero.
    """
    x = np.clip(1.0 - r * r, 0.0, 1.0)
    dfb = np.broadcast_to(df, r.shape).astype(np.float64)
    p = special.betainc(dfb / 2.0, 0.5, x)
    p[~(dfb >= 1) | np.isnan(r)] = np.nan
    return p


def _pixel_stats(
    data: np.ndarray, min_valid: int, n_factors: int, method: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Joint validity, counts, correlation matrices and "usable" mask for ``data`` (k + 1, T, N)."""
    valid = ~np.isnan(data).any(axis=0)
    n = valid.sum(axis=0)
    usable = (n >= min_valid) & (n >= n_factors + 2) & ~_constant(data, valid).any(axis=0)
    if method == "spearman":
        values = np.stack([_average_ranks(x, valid) for x in data])
    else:
        values = data
    dev = _centered(values, valid, n)
    corr = _to_correlation(_cross_products(dev))
    return valid, n, corr, usable


# --------------------------------------------------------------------------------------------------------------
# Correlation
# --------------------------------------------------------------------------------------------------------------


def partial_correlation(
    target: np.ndarray,
    factors: np.ndarray | Sequence[np.ndarray],
    method: str = "pearson",
    min_valid: int | None = None,
) -> dict[str, np.ndarray]:
    """Partial correlation of the target with each factor, controlling for the other factors, per pixel.

    Parameters
    ----------
    target : (T, ...) array, e.g. annual NEP (g C m-2 yr-1); NaN = missing. Any time step (annual, monthly) as
        long as target and factors share it.
    factors : (k, T, ...) array or sequence of k (T, ...) arrays, k = 1..5 (e.g. temperature, precipitation).
    method : ``"pearson"`` or ``"spearman"`` (Pearson on the average ranks of each pixel's valid values).
    min_valid : fewest complete years (target and all factors valid) a pixel needs; default all T.

    Returns
    -------
    dict with ``r`` (k, ...) partial r (plain r when k = 1), ``p`` (k, ...) two-sided p, ``n`` (...) complete
    years used, ``df`` (...) degrees of freedom ``n - 2 - (k - 1)`` (may be < 1 where r is nodata).

    Notes
    -----
    With ``R`` the correlation matrix of ``[target, factor_1 .. factor_k]`` over a pixel's complete years and
    ``P = R^-1``::

        r_j = -P_0j / sqrt(P_00 P_jj)
        t_j = r_j sqrt(df / (1 - r_j^2)),   df = n - 2 - q,   q = k - 1 (the factors controlled for)
        p_j = 2 P(T_df > |t_j|)

    ``METHODS.md`` writes ``df = n - 2 - k`` with k the number of factors *controlled for*, i.e. ``q`` here
    (the same convention as ``pingouin.partial_corr``). With one factor (q = 0) the result is the plain
    correlation with ``df = n - 2``, computed directly as ``r = S_xy / sqrt(S_xx S_yy)`` (so an exact linear
    relation gives r = +/-1, p = 0).

    Nodata (NaN) where a pixel has fewer than ``min_valid`` or fewer than ``k + 2`` complete years, where the
    target or a factor is constant over them, or (k >= 2) where the correlation matrix is singular: a factor is
    a linear combination of the others, or the target an exact linear combination of the factors (``1 - R^2``
    below :data:`COLLINEARITY_TOLERANCE`). No warning is emitted for such pixels.

    References: seed 000 (Zhang et al. 2025, eq. 4), seed 004 (Li et al. 2026, section 2.5), seed 002 (t-test).
    """
    method = _check_method(method)
    data, pixel_shape = _prepare(target, factors)
    k = data.shape[0] - 1
    min_valid = _check_min_valid(min_valid, data.shape[1])
    with np.errstate(all="ignore"):
        _, n, corr, usable = _pixel_stats(data, min_valid, k, method)
        if k == 1:
            r = corr[0, 1][None].copy()
        else:
            prec, ok = _invert_spd(corr)
            usable &= ok
            d = np.sqrt(np.stack([prec[i, i] for i in range(k + 1)]))
            r = -prec[0, 1:] / (d[0][None, :] * d[1:])
        r = np.clip(r, -1.0, 1.0)
        r[:, ~usable] = np.nan
        df = n - 1 - k
        p = _t_test_p(r, df[None, :])
    out_shape = (k, *pixel_shape)
    return {
        "r": r.reshape(out_shape),
        "p": p.reshape(out_shape),
        "n": n.reshape(pixel_shape),
        "df": df.reshape(pixel_shape),
    }


def correlation(
    target: np.ndarray, factor: np.ndarray, method: str = "pearson", min_valid: int | None = None
) -> dict[str, np.ndarray]:
    """Pearson or Spearman correlation of two series per pixel, with its t-test.

    Parameters
    ----------
    target, factor : (T, ...) arrays sharing the time step (e.g. annual NEP and annual precipitation); NaN =
        missing. Years where either is NaN are dropped per pixel.
    method : ``"pearson"`` or ``"spearman"`` (Pearson on average ranks of the valid pairs, as
        ``scipy.stats.spearmanr``).
    min_valid : fewest valid pairs a pixel needs (default all T; at least 3 are always needed).

    Returns
    -------
    dict with ``r`` (...), ``p`` (...) two-sided, ``n`` (...) valid pairs.

    Notes
    -----
    ``r = S_xy / sqrt(S_xx S_yy)`` (sums of products of deviations from the means over the valid pairs);
    ``t = r sqrt(n - 2) / sqrt(1 - r^2)`` with ``n - 2`` degrees of freedom (seed 002, Cui et al. 2025).
    Constant series and pixels with too few pairs give NaN.
    """
    f = np.asarray(factor, dtype=np.float64)
    if np.shape(target) != f.shape:
        raise InputError(
            f"the target has shape {np.shape(target)} but the factor {f.shape}: give the same years and grid"
        )
    res = partial_correlation(target, f[None], method=method, min_valid=min_valid)
    return {"r": res["r"][0], "p": res["p"][0], "n": res["n"]}


def correlation_classes(r: np.ndarray, p: np.ndarray, alpha: float = 0.05) -> np.ndarray:
    """Classes of :data:`CORRELATION_SCHEME` (int16) from r and its p-value.

    1 significant negative (r < 0, p < alpha), 2 not significant negative (r < 0, p >= alpha), 3 not significant
    positive (r > 0, p >= alpha), 4 significant positive (r > 0, p < alpha), 0 where r = 0 exactly,
    ``CLASS_NODATA`` where r or p is NaN.
    """
    alpha = _check_alpha(alpha)
    r = np.asarray(r, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if r.shape != p.shape:
        raise InputError(f"r has shape {r.shape} but p {p.shape}: give both from the same correlation")
    sig = p < alpha
    out = np.zeros(r.shape, dtype=np.int16)
    out[(r < 0) & sig] = 1
    out[(r < 0) & ~sig] = 2
    out[(r > 0) & ~sig] = 3
    out[(r > 0) & sig] = 4
    out[np.isnan(r) | np.isnan(p)] = CLASS_NODATA
    return out


def dominant_factor(
    r: np.ndarray, p: np.ndarray | None = None, alpha: float = 0.05, significant_only: bool = False
) -> np.ndarray:
    """Dominant factor per pixel: code j (1..k) of the factor with the largest ``|r|`` (int16).

    Parameters
    ----------
    r : (k, ...) partial (or plain) correlation coefficients, one row per factor.
    p : (k, ...) their p-values; needed when ``significant_only``.
    alpha : significance level for ``significant_only``.
    significant_only : consider only factors with ``p < alpha``; a pixel with none gets 0 ("None").

    Returns
    -------
    (...) int16: 1..k, 0 "None" (no significant factor, or every |r| is 0), ``CLASS_NODATA`` where every r is NaN.
    Factors with NaN r are skipped; ties go to the lower factor number. Scheme: :func:`dominant_scheme`.
    Reference: seed 004 (Li et al. 2026, Figure 7), seed 000.
    """
    r = np.asarray(r, dtype=np.float64)
    if r.ndim < 1 or not 1 <= r.shape[0] <= MAX_FACTORS:
        raise InputError(f"r must have one row per factor (1 to {MAX_FACTORS}), got shape {r.shape}")
    score = np.abs(r)
    score[np.isnan(r)] = -1.0
    if significant_only:
        if p is None:
            raise InputError("significant_only needs the p-values: give p")
        p = np.asarray(p, dtype=np.float64)
        if p.shape != r.shape:
            raise InputError(f"r has shape {r.shape} but p {p.shape}: give both from the same correlation")
        alpha = _check_alpha(alpha)
        score[~(p < alpha) & ~np.isnan(r)] = 0.0
    best = np.argmax(score, axis=0)
    top = np.take_along_axis(score, best[None], axis=0)[0]
    out = (best + 1).astype(np.int16)
    out[top <= 0.0] = 0
    out[np.isnan(r).all(axis=0)] = CLASS_NODATA
    return out


# --------------------------------------------------------------------------------------------------------------
# Contribution analysis
# --------------------------------------------------------------------------------------------------------------


def attribution_classes(
    observed: np.ndarray, climate: np.ndarray, residual: np.ndarray, rtol: float = ZERO_RTOL
) -> np.ndarray:
    """Seed 002 Table 2 classes (:data:`ATTRIBUTION_SCHEME`, int16) from the observed trend and its two parts.

    With ``obs`` the observed trend, ``C`` the climate contribution and ``H = obs - C`` the residual ("human
    activities and other"), all per year:

    ====  ========  =========  =========  ============================================
    code  obs       C          H          label
    ====  ========  =========  =========  ============================================
    1     > 0       > 0        > 0        Increase: climate and human activities
    2     > 0       > 0        <= 0       Increase: climate
    3     > 0       <= 0       > 0        Increase: human activities and other
    4     < 0       < 0        < 0        Decrease: climate and human activities
    5     < 0       < 0        >= 0       Decrease: climate
    6     < 0       >= 0       < 0        Decrease: human activities and other
    0     = 0                             No change
    ====  ========  =========  =========  ============================================

    Because ``obs = C + H``, these cases cover every pixel (``obs > 0`` with ``C <= 0`` forces ``H > 0``). The
    paper's table lists only strict signs; a part that is exactly 0 goes to the class of the other part
    (its share is 0 %, the same as the combined formula gives). A value counts as 0 when
    ``|x| <= rtol * max(|obs|, |C|, |H|)`` (round-off of ``obs - C``). NaN in any input gives ``CLASS_NODATA``.
    """
    obs = np.asarray(observed, dtype=np.float64)
    c = np.asarray(climate, dtype=np.float64)
    h = np.asarray(residual, dtype=np.float64)
    if not obs.shape == c.shape == h.shape:
        raise InputError("observed, climate and residual must have the same shape")
    with np.errstate(invalid="ignore"):
        scale = np.maximum(np.maximum(np.abs(obs), np.abs(c)), np.abs(h)) * rtol
        so = np.where(np.abs(obs) <= scale, 0.0, np.sign(obs))
        sc = np.where(np.abs(c) <= scale, 0.0, np.sign(c))
        sh = np.where(np.abs(h) <= scale, 0.0, np.sign(h))
    out = np.zeros(obs.shape, dtype=np.int16)
    up = so > 0
    down = so < 0
    out[up & (sc > 0) & (sh > 0)] = 1
    out[up & (sc > 0) & (sh <= 0)] = 2
    out[up & (sc <= 0)] = 3
    out[down & (sc < 0) & (sh < 0)] = 4
    out[down & (sc < 0) & (sh >= 0)] = 5
    out[down & (sc >= 0)] = 6
    out[np.isnan(obs) | np.isnan(c) | np.isnan(h)] = CLASS_NODATA
    return out


def attribution_shares(
    observed: np.ndarray, climate: np.ndarray, residual: np.ndarray, rtol: float = ZERO_RTOL
) -> tuple[np.ndarray, np.ndarray]:
    """Relative contributions (%) of climate and of human activities and other, seed 002 Table 2.

    Classes 1 and 4 (both parts push the same way as the observed trend): ``climate_share = 100 C / (C + H)``,
    ``human_share = 100 H / (C + H)`` (``C + H`` = the observed trend, so both lie in 0..100 and add up to 100).
    Classes 2 and 5 (only climate pushes that way): 100 and 0. Classes 3 and 6: 0 and 100. No change (class 0)
    and nodata: NaN. Returns ``(climate_share, human_share)`` as float64.
    """
    cls = attribution_classes(observed, climate, residual, rtol=rtol)
    c = np.asarray(climate, dtype=np.float64)
    h = np.asarray(residual, dtype=np.float64)
    share = np.full(cls.shape, np.nan)
    both = (cls == 1) | (cls == 4)
    with np.errstate(all="ignore"):
        share[both] = 100.0 * c[both] / (c[both] + h[both])
    share[(cls == 2) | (cls == 5)] = 100.0
    share[(cls == 3) | (cls == 6)] = 0.0
    share = np.clip(share, 0.0, 100.0)
    return share, 100.0 - share


def attribution(
    target: np.ndarray,
    factors: np.ndarray | Sequence[np.ndarray],
    years: Sequence[float] | np.ndarray,
    min_valid: int | None = None,
    use_correlation: bool = False,
) -> dict[str, np.ndarray]:
    """Contributions of climate factors and of "human activities and other" to the target's trend (seed 002).

    Parameters
    ----------
    target : (T, ...) annual series, e.g. NEP in g C m-2 yr-1; NaN = missing.
    factors : (k, T, ...) array or sequence of k (T, ...) arrays, k = 1..5, the climate factors for the same years
        (e.g. temperature deg C, precipitation mm).
    years : the T years (strictly increasing; missing years keep their real positions).
    min_valid : fewest complete years (target and every factor valid) a pixel needs; default all T. At least
        ``k + 2`` are always needed (one residual degree of freedom).
    use_correlation : seed 002's variant: use the partial Pearson correlation coefficients of the target with the
        factors (plain r when k = 1) instead of the regression coefficients. **Not the default**: r is unitless,
        so ``r_k x trend_k`` is in factor units per year and cannot be added to, or subtracted from, the target's
        trend (the sum of "contributions" of temperature in deg C/yr and precipitation in mm/yr has no meaning,
        and the residual changes with the units the factors are given in).

    Returns
    -------
    dict of float64 arrays:
    ``coefficients`` (k, ...) b_k (target units per factor unit; partial r with ``use_correlation``),
    ``factor_trends`` (k, ...) OLS slope of each factor (factor units per year),
    ``contributions`` (k, ...) ``b_k x trend_k`` (target units per year),
    ``climate`` (...) sum of the contributions, ``observed`` (...) OLS slope of the target (target units per
    year), ``residual`` (...) ``observed - climate``, ``climate_share`` and ``human_share`` (...) in %
    (:func:`attribution_shares`), ``classes`` (...) int16 (:func:`attribution_classes`), ``n`` (...) years used.

    Notes
    -----
    Per pixel, over the years where the target and every factor are valid (all trends use the same years, so the
    decomposition is exact; ``residual`` equals the OLS trend of the regression residuals)::

        target(t) = b_0 + sum_k b_k factor_k(t) + e(t)            (OLS, eq. 21 with dNEP/dPRE ~ b_PRE)
        trend_x   = sum (t - tm)(x - xm) / sum (t - tm)^2          (eq. 22, t in years)
        contribution_k = b_k trend_k;  climate = sum_k contribution_k;  residual = trend_target - climate

    The regression is solved from the factors' correlation matrix (scaled normal equations) by the same
    elimination as the partial correlation; a constant factor or collinear factors (``1 - R^2`` below
    :data:`COLLINEARITY_TOLERANCE`) give NaN. A constant target is well defined: every coefficient, contribution
    and trend is 0 and the class is 0 "No change" (with ``use_correlation`` it is NaN, r being undefined).

    Classes and shares follow seed 002 Table 2 (see :func:`attribution_classes` and :func:`attribution_shares`):
    ``climate_share = 100 C / (C + H)`` when climate and residual push the trend the same way, 100 when only
    climate does, 0 when only the residual does.

    Reference: Cui et al. (2025), seed 002, eq. 21-22 and Table 2; ``METHODS.md`` "Contribution analysis".
    """
    data, pixel_shape = _prepare(target, factors)
    k = data.shape[0] - 1
    t_len = data.shape[1]
    yrs = np.asarray(years, dtype=np.float64).ravel()
    if yrs.shape[0] != t_len:
        raise InputError(f"got {yrs.shape[0]} years for {t_len} time steps: give one year per band")
    if not np.isfinite(yrs).all() or (np.diff(yrs) <= 0).any():
        raise InputError("the years must be finite and strictly increasing, one per band (e.g. 2001, 2002, ...)")
    min_valid = _check_min_valid(min_valid, t_len)
    yrs = yrs - yrs.mean()

    with np.errstate(all="ignore"):
        valid = ~np.isnan(data).any(axis=0)
        n = valid.sum(axis=0)
        const = _constant(data, valid)
        usable = (n >= min_valid) & (n >= k + 2) & ~const[1:].any(axis=0)
        dev = _centered(data, valid, n)  # (k + 1, T, N)
        dev[0][:, const[0]] = 0.0  # a constant target has no deviations (not the round-off of its mean)
        tdev = _centered(np.broadcast_to(yrs[:, None], valid.shape)[None], valid, n)[0]
        stt = np.einsum("tn,tn->n", tdev, tdev)
        trends = np.einsum("mtn,tn->mn", dev, tdev) / stt  # (k + 1, N): target, then factors
        trends[:, ~usable] = np.nan

        if use_correlation:
            corr = _to_correlation(_cross_products(dev))
            if k == 1:
                coef = corr[0, 1][None].copy()
            else:
                prec, ok = _invert_spd(corr)
                usable &= ok
                d = np.sqrt(np.stack([prec[i, i] for i in range(k + 1)]))
                coef = -prec[0, 1:] / (d[0][None, :] * d[1:])
            usable &= ~const[0]
            coef = np.clip(coef, -1.0, 1.0)
        else:
            cp = _cross_products(dev)
            s = np.sqrt(np.stack([cp[i, i] for i in range(1, k + 1)]))  # factor std * sqrt(n - 1)
            rff = _to_correlation(cp[1:, 1:])
            inv, ok = _invert_spd(rff)
            usable &= ok
            rhs = cp[1:, 0] / s  # (k, N)
            coef = np.einsum("ijn,jn->in", inv, rhs) / s
        coef[:, ~usable] = np.nan
        trends[:, ~usable] = np.nan

        contributions = coef * trends[1:]
        climate = contributions.sum(axis=0)
        observed = trends[0]
        residual = observed - climate
    classes = attribution_classes(observed, climate, residual)
    climate_share, human_share = attribution_shares(observed, climate, residual)
    kshape = (k, *pixel_shape)
    return {
        "coefficients": coef.reshape(kshape),
        "factor_trends": trends[1:].reshape(kshape),
        "contributions": contributions.reshape(kshape),
        "climate": climate.reshape(pixel_shape),
        "residual": residual.reshape(pixel_shape),
        "observed": observed.reshape(pixel_shape),
        "climate_share": climate_share.reshape(pixel_shape),
        "human_share": human_share.reshape(pixel_shape),
        "classes": classes.reshape(pixel_shape),
        "n": n.reshape(pixel_shape),
    }


def scratch_bytes_per_pixel(n_times: int, n_factors: int, method: str = "spearman") -> int:
    """Peak extra memory (bytes per pixel) of :func:`partial_correlation` / :func:`attribution`.

    Beyond the caller's own float64 inputs: about three float64 copies of the stacked ``(k + 1, T)`` data
    (stack, deviations, temporaries), per-year masks, and the ``(k + 1)^2`` correlation and inverse matrices;
    Spearman adds the ranks and the sort work of one series at a time (about 12 float64 of ``T``). Linear in T;
    an upper bound (within a factor 3 of the peak measured with ``tracemalloc`` in the tests). Use
    ``method="pearson"`` for :func:`attribution`.
    """
    m = int(n_factors) + 1
    t = int(n_times)
    total = 3 * 8 * m * t + 3 * 8 * t + 4 * 8 * m * m + 256
    if str(method).lower() == "spearman":
        total += 8 * m * t + 12 * 8 * t
    return total
