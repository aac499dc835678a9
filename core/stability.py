"""Stability of a carbon-flux time series: coefficient of variation and its natural-breaks classes (seed 000).

Seed 000 (section 2.4.3, eq. 3, after Milich and Weiss 2010) measures the interannual stability of NEP with the
pixel-wise coefficient of variation ``Cv = sigma / mean`` and maps it in five natural-breaks classes (low, lower,
medium, higher and high fluctuation, section 3.2.3). ``METHODS.md`` ("Stability") settles what the paper leaves
open:

- ``Cv = s / |mean|`` (the absolute value keeps the Cv of a carbon source, NEP < 0, positive), ``s`` with
  ``ddof = 1`` by default (``ddof = 0`` offered);
- where ``|mean|`` is below a small threshold the pixel is nodata (NEP near zero would make Cv explode) and the
  caller logs how many pixels that removed;
- the natural breaks (Fisher-Jenks) are computed on a *seeded* random sample of valid pixels, so the same input
  always gives the same breaks (QGIS's own Jenks samples at random and differs from run to run). The sample is
  drawn with a hash of ``(seed, row, col)``, so it does not depend on the block layout, the thread count, the
  order in which blocks arrive or on whether the stack came as one multiband raster or a list of files.

All functions are pure numpy; the Fisher-Jenks optimisation is implemented here (exact dynamic programming), so
the classification does not depend on a compiled extension being installed in QGIS's Python. The test suite
checks it against ``jenkspy`` and against brute force.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .classes import CLASS_NODATA, ClassScheme, interval_labels, ramp
from .errors import InputError

__all__ = [
    "DEFAULT_MIN_ABS_MEAN",
    "DEFAULT_SAMPLE_SIZE",
    "FLUCTUATION_LABELS_5",
    "SampleCollector",
    "coefficient_of_variation",
    "cv_class_scheme",
    "fisher_jenks",
    "natural_breaks",
    "pixel_keys",
]

#: Default |mean| threshold of :func:`coefficient_of_variation`, in the units of the input
#: (1 g C m-2 yr-1 for an annual NEP stack).
DEFAULT_MIN_ABS_MEAN = 1.0

#: Default number of valid pixels sampled for the natural breaks (METHODS.md "Stability").
DEFAULT_SAMPLE_SIZE = 20000

#: Seed 000's wording of the five Cv classes (section 3.2.3), from stable to fluctuating.
FLUCTUATION_LABELS_5 = (
    "Low fluctuation",
    "Lower fluctuation",
    "Medium fluctuation",
    "Higher fluctuation",
    "High fluctuation",
)


# ----------------------------------------------------------------------------------------------------------------
# Coefficient of variation
# ----------------------------------------------------------------------------------------------------------------
def coefficient_of_variation(
    x: np.ndarray,
    ddof: int = 1,
    min_abs_mean: float = DEFAULT_MIN_ABS_MEAN,
    min_valid: int | None = None,
) -> dict:
    """Per-pixel coefficient of variation ``Cv = s / |mean|`` of a time series (seed 000, eq. 3).

    Formula (METHODS.md "Stability"), over the ``n`` valid (non-NaN) values ``x_t`` of a pixel::

        mean = sum(x_t) / n
        s    = sqrt( sum((x_t - mean)^2) / (n - ddof) )
        Cv   = s / |mean|

    Parameters
    ----------
    x : array (T, ...)
        The series, time on axis 0 (any time step: annual NEP in g C m-2 yr-1 in seed 000; ``Cv`` itself is
        dimensionless and does not depend on the step). NaN is missing.
    ddof : int
        Delta degrees of freedom of ``s``: 1 (sample standard deviation, default) or 0 (population).
    min_abs_mean : float
        Pixels whose ``|mean|`` is below this value get ``Cv = NaN`` (a NEP mean near zero would make ``Cv``
        explode). In the units of the input: the default 1.0 means 1 g C m-2 yr-1 for an annual NEP stack.
        0 disables the threshold except for an exactly zero mean, which always gives NaN.
    min_valid : int, optional
        Minimum number of valid values for a pixel to get a result; default: all ``T`` (METHODS.md
        "Conventions"). At least 2 and more than ``ddof``.

    Returns
    -------
    dict
        ``cv``, ``mean``, ``std`` : float64 arrays of shape ``x.shape[1:]``; NaN where the pixel has fewer than
        ``min_valid`` valid values. ``cv`` is also NaN where ``|mean| < min_abs_mean`` (``mean`` and ``std``
        are kept there). ``n_small_mean`` : int, the number of pixels that had enough valid values but were
        set to nodata because of the ``|mean|`` threshold (for the log).

    Notes
    -----
    A carbon source (negative mean NEP) gets a positive ``Cv`` equal to ``s / |mean|``. ``Cv`` is never
    infinite: an exactly zero mean is always below the threshold.

    References
    ----------
    Seed 000, section 2.4.3, eq. 3 (after Milich and Weiss 2010); METHODS.md "Stability".
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 1:
        raise InputError("the coefficient of variation needs a time series: an array with time on axis 0")
    n_times = x.shape[0]
    if isinstance(ddof, bool) or not isinstance(ddof, (int, np.integer)) or ddof not in (0, 1):
        raise InputError(f"DDOF must be 0 (population) or 1 (sample standard deviation), got {ddof!r}")
    ddof = int(ddof)
    try:
        min_abs_mean = float(min_abs_mean)
    except (TypeError, ValueError):
        raise InputError(f"the |mean| threshold must be a number, got {min_abs_mean!r}") from None
    if not math.isfinite(min_abs_mean) or min_abs_mean < 0:
        raise InputError(f"the |mean| threshold must be a finite number >= 0, got {min_abs_mean!r}")
    if min_valid is None:
        min_valid = n_times
    if isinstance(min_valid, bool) or not isinstance(min_valid, (int, np.integer)):
        raise InputError(f"MIN_VALID must be an integer, got {min_valid!r}")
    min_valid = int(min_valid)
    if n_times < 2:
        raise InputError(f"the coefficient of variation needs at least 2 time steps, the input has {n_times}")
    if min_valid < 2 or min_valid <= ddof or min_valid > n_times:
        raise InputError(
            f"MIN_VALID must be between {max(2, ddof + 1)} and the number of time steps ({n_times}), got {min_valid}"
        )
    out_shape = x.shape[1:]
    flat = x.reshape(n_times, -1)
    valid = np.isfinite(flat)
    all_finite = bool(valid.all())
    if not all_finite and np.isinf(flat).any():
        raise InputError("the input contains infinite values: set them to nodata (NaN) or fix the input")
    skip_gaps = not all_finite and min_valid < n_times
    if skip_gaps:
        n = np.count_nonzero(valid, axis=0)  # no inf: finite means not NaN
        filled = np.where(valid, flat, 0.0)
    else:
        # No gaps to skip: with min_valid = T a pixel with a NaN must give NaN, which propagation does for free.
        n = np.full(flat.shape[1], n_times)
        filled = flat
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        mean = filled.sum(axis=0) / n
        dev = filled - mean  # two-pass variance: no cancellation for large means
        if skip_gaps:
            np.multiply(dev, valid, out=dev)  # missing values contribute nothing
        std = np.sqrt(np.einsum("tn,tn->n", dev, dev) / (n - ddof))
        ok = (n >= min_valid) & ~np.isnan(mean)
        mean = np.where(ok, mean, np.nan)
        std = np.where(ok, std, np.nan)
        abs_mean = np.abs(mean)
        small = ok & ((abs_mean < min_abs_mean) | (abs_mean == 0.0))
        cv = np.where(ok & ~small, std / np.where(small | ~ok, 1.0, abs_mean), np.nan)
    return {
        "cv": cv.reshape(out_shape),
        "mean": mean.reshape(out_shape),
        "std": std.reshape(out_shape),
        "n_small_mean": int(small.sum()),
    }


# ----------------------------------------------------------------------------------------------------------------
# Deterministic sampling
# ----------------------------------------------------------------------------------------------------------------
_U64 = np.uint64
_MASK64 = (1 << 64) - 1


def _splitmix64(z: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser (Steele, Lea and Flood 2014), a bijection of uint64, applied elementwise."""
    with np.errstate(over="ignore"):
        z = z + _U64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> _U64(27))) * _U64(0x94D049BB133111EB)
        return z ^ (z >> _U64(31))


def pixel_keys(seed: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Pseudo-random uint64 key of each pixel, a function of ``(seed, row, col)`` only.

    ``key = splitmix64(splitmix64(seed) XOR (row * 2^32 + col))``. For a fixed seed the map from
    ``(row, col)`` to the key is a bijection (splitmix64 is one), so two pixels never share a key. Keeping the
    pixels with the smallest keys gives a simple random sample that does not depend on how the raster was cut
    into blocks, on the order they were processed or on the thread count.

    Parameters
    ----------
    seed : int
        Any integer (taken modulo 2^64).
    rows, cols : integer arrays (broadcastable)
        Pixel row and column in the full raster, 0 <= value < 2^32.

    Returns
    -------
    np.ndarray of uint64, the broadcast shape of ``rows`` and ``cols``.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise InputError(f"SEED must be an integer, got {seed!r}")
    rows = np.asarray(rows)
    cols = np.asarray(cols)
    for name, a in (("rows", rows), ("cols", cols)):
        if a.size and not np.issubdtype(a.dtype, np.integer):
            raise InputError(f"pixel {name} must be integers")
        if a.size and (a.min() < 0 or a.max() >= 2**32):
            raise InputError(f"pixel {name} must lie in 0 .. 2^32 - 1")
    seed_key = _splitmix64(np.array([int(seed) & _MASK64], dtype=np.uint64))[0]
    r = rows.astype(np.uint64)
    c = cols.astype(np.uint64)
    return _splitmix64(((r << _U64(32)) | c) ^ seed_key)


class SampleCollector:
    """Deterministic simple random sample of the valid pixels of a raster, fed block by block.

    Keeps the ``size`` valid (non-NaN) pixels with the smallest :func:`pixel_keys`; memory is O(``size``) plus
    one block. The result depends only on the pixel values, their positions and ``seed``: not on the block
    layout, on the order in which blocks are added, or on the thread count (add blocks from one thread, or
    collect per thread and :meth:`merge`).

    Parameters
    ----------
    size : int
        Number of pixels to keep (METHODS.md default 20,000).
    seed : int
        Seed of the pixel keys.

    Examples
    --------
    >>> sc = SampleCollector(size=3, seed=0)
    >>> sc.add(np.array([[1.0, np.nan], [2.0, 3.0]]), row_off=0, col_off=0)
    >>> sorted(sc.values().tolist())
    [1.0, 2.0, 3.0]
    """

    def __init__(self, size: int = DEFAULT_SAMPLE_SIZE, seed: int = 0) -> None:
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise InputError(f"SAMPLE_SIZE must be a positive integer, got {size!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise InputError(f"SEED must be an integer, got {seed!r}")
        self.size = int(size)
        self.seed = int(seed)
        self.n_seen = 0  # valid pixels offered so far
        self._keys = np.empty(0, dtype=np.uint64)
        self._values = np.empty(0, dtype=np.float64)

    def add(self, values_2d: np.ndarray, row_off: int, col_off: int) -> None:
        """Offer a block of pixel values whose top-left pixel is at ``(row_off, col_off)`` in the raster.

        NaN values are ignored. Each pixel must be offered at most once.
        """
        v = np.asarray(values_2d, dtype=np.float64)
        if v.ndim != 2:
            raise InputError(f"SampleCollector.add expects a 2-D block (rows, cols), got shape {v.shape}")
        if int(row_off) < 0 or int(col_off) < 0:
            raise InputError("block offsets must be >= 0")
        r, c = np.nonzero(~np.isnan(v))
        if r.size == 0:
            return
        self.n_seen += int(r.size)
        keys = pixel_keys(self.seed, r.astype(np.int64) + int(row_off), c.astype(np.int64) + int(col_off))
        vals = v[r, c]
        self._merge(keys, vals)

    def merge(self, other: SampleCollector) -> None:
        """Merge another collector with the same ``seed`` (e.g. one filled by another thread)."""
        if other.seed != self.seed:
            raise InputError("cannot merge samples drawn with different seeds")
        self.n_seen += other.n_seen
        self._merge(other._keys, other._values)

    def _merge(self, keys: np.ndarray, vals: np.ndarray) -> None:
        if self._keys.size >= self.size:
            # Only keys below the current largest kept key can enter the sample.
            keep = keys < self._keys.max()
            keys, vals = keys[keep], vals[keep]
            if keys.size == 0:
                return
        keys = np.concatenate([self._keys, keys])
        vals = np.concatenate([self._values, vals])
        if keys.size > self.size:
            # Keys are unique (pixel_keys is a bijection), so the kept set is well defined.
            idx = np.argpartition(keys, self.size - 1)[: self.size]
            keys, vals = keys[idx], vals[idx]
        self._keys, self._values = keys, vals

    def __len__(self) -> int:
        return int(self._keys.size)

    def values(self) -> np.ndarray:
        """The sampled values (float64), ordered by pixel key: identical whatever the order of :meth:`add`."""
        order = np.argsort(self._keys, kind="stable")
        return self._values[order].copy()


# ----------------------------------------------------------------------------------------------------------------
# Natural breaks (Fisher-Jenks)
# ----------------------------------------------------------------------------------------------------------------
def _segment_cost(p1: np.ndarray, p2: np.ndarray, pw: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Sum of squared deviations from the class mean of the sorted distinct values ``i..j`` (inclusive)."""
    s1 = p1[j + 1] - p1[i]
    s2 = p2[j + 1] - p2[i]
    sw = pw[j + 1] - pw[i]
    return s2 - s1 * s1 / sw


def _fisher_jenks_starts(v: np.ndarray, w: np.ndarray, k: int) -> np.ndarray:
    """Start indices (into the sorted distinct values ``v`` with counts ``w``) of classes 2..k.

    Exact optimum of the total within-class sum of squared deviations (Fisher 1958), computed by dynamic
    programming over the prefixes of ``v``: ``D_c[j] = min_{i} D_{c-1}[i-1] + SSD(i..j)``. The smallest optimal
    ``i`` is non-decreasing in ``j`` (the SSD of intervals satisfies the quadrangle inequality), so each level is
    solved by divide and conquer in O(m log m), vectorised over all sub-problems of one recursion depth.
    """
    m = v.size
    p1 = np.concatenate([[0.0], np.cumsum(w * v)])
    p2 = np.concatenate([[0.0], np.cumsum(w * v * v)])
    pw = np.concatenate([[0.0], np.cumsum(w)])
    all_j = np.arange(m)
    d_prev = _segment_cost(p1, p2, pw, np.zeros(m, dtype=np.int64), all_j)
    opts: list[np.ndarray] = []
    for c in range(2, k):
        d_cur = np.full(m, np.inf)
        opt = np.full(m, -1, dtype=np.int64)
        jl = np.array([c - 1])
        jr = np.array([m - 1])
        il = np.array([c - 1])
        ir = np.array([m - 1])
        while jl.size:
            mid = (jl + jr) // 2
            hi = np.minimum(ir, mid)
            lens = hi - il + 1
            offs = np.cumsum(lens) - lens
            seg = np.repeat(np.arange(jl.size), lens)
            i = il[seg] + (np.arange(seg.size) - offs[seg])
            jj = mid[seg]
            val = d_prev[i - 1] + _segment_cost(p1, p2, pw, i, jj)
            segmin = np.minimum.reduceat(val, offs)
            hit = np.flatnonzero(val == segmin[seg])
            _, first = np.unique(seg[hit], return_index=True)
            best = i[hit[first]]
            d_cur[mid] = segmin
            opt[mid] = best
            left = jl <= mid - 1
            right = mid + 1 <= jr
            jl, jr, il, ir = (
                np.concatenate([jl[left], mid[right] + 1]),
                np.concatenate([mid[left] - 1, jr[right]]),
                np.concatenate([il[left], best[right]]),
                np.concatenate([best[left], ir[right]]),
            )
        opts.append(opt)
        d_prev = d_cur
    # Last level: only the full series (j = m - 1) is needed.
    i = np.arange(k - 1, m)
    val = d_prev[i - 1] + _segment_cost(p1, p2, pw, i, np.full(i.size, m - 1))
    starts = [int(i[np.argmin(val)])]
    for opt in reversed(opts):
        starts.append(int(opt[starts[-1] - 1]))
    return np.array(starts[::-1], dtype=np.int64)


def fisher_jenks(sample: np.ndarray, n_classes: int) -> dict:
    """Fisher-Jenks natural breaks of a sample: the exact optimal partition into ``n_classes`` classes.

    The classes are intervals of the sorted values that minimise the total sum of squared deviations from the
    class means (SDCM), i.e. the exact 1-D k-means optimum (Fisher 1958; Jenks 1977), the criterion of
    ``jenkspy`` and of QGIS's "Natural Breaks (Jenks)". Equal values always fall in the same class.

    Parameters
    ----------
    sample : array
        The values (any shape, flattened); NaN is ignored.
    n_classes : int
        Number of classes k >= 2; the sample needs at least k distinct values.

    Returns
    -------
    dict
        ``breaks``: the k-1 inner breaks for :func:`core.classes.classify_by_breaks` (each is the smallest
        sample value of classes 2..k, so that classification reproduces the optimal partition of the sample
        exactly: a value equal to a break falls in the class above it); ``upper_bounds``: the largest sample
        value of classes 1..k-1 (what ``jenkspy`` and QGIS print as the inner breaks); ``counts``: sample
        values per class; ``gvf``: goodness of variance fit ``1 - SDCM / SDAM``; ``sdcm``: the minimised SDCM.

    Raises
    ------
    InputError
        Fewer distinct values than classes, infinite values, or ``n_classes`` < 2.
    """
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 2:
        raise InputError(f"N_CLASSES must be an integer >= 2, got {n_classes!r}")
    k = int(n_classes)
    x = np.asarray(sample, dtype=np.float64).ravel()
    x = x[~np.isnan(x)]
    if np.isinf(x).any():
        raise InputError("the values to classify contain infinite values")
    v, counts = np.unique(x, return_counts=True)
    if v.size < k:
        raise InputError(
            f"natural breaks into {k} classes need at least {k} distinct values, but the sample of valid pixels "
            f"has {v.size}: ask for at most {v.size} classes or give the class breaks yourself"
        )
    w = counts.astype(np.float64)
    centre = float(np.sum(w * v) / np.sum(w))
    starts = _fisher_jenks_starts(v - centre, w, k)
    bounds = np.concatenate([[0], starts, [v.size]])
    class_counts = np.add.reduceat(counts, bounds[:-1])
    xc = x - centre
    sdam = float(np.sum((xc - xc.mean()) ** 2))
    sdcm = 0.0
    for a, b in zip(bounds, bounds[1:]):
        cls_v, cls_w = v[a:b] - centre, w[a:b]
        mu = np.sum(cls_w * cls_v) / np.sum(cls_w)
        sdcm += float(np.sum(cls_w * (cls_v - mu) ** 2))
    return {
        "breaks": [float(v[s]) for s in starts],
        "upper_bounds": [float(v[s - 1]) for s in starts],
        "counts": [int(c) for c in class_counts],
        "gvf": 1.0 - sdcm / sdam if sdam > 0 else 1.0,
        "sdcm": sdcm,
    }


def natural_breaks(sample: np.ndarray, n_classes: int) -> list[float]:
    """The k-1 inner natural breaks (Fisher-Jenks) of a sample, for :func:`core.classes.classify_by_breaks`.

    ``classify_by_breaks(values, natural_breaks(sample, k))`` gives codes 1..k and reproduces the optimal
    Fisher-Jenks partition of ``sample`` exactly. Each break is the smallest sample value of classes 2..k
    (``classify_by_breaks`` puts a value equal to a break in the class above). ``jenkspy`` and QGIS print the
    *largest* value of classes 1..k-1 instead; both describe the same partition of the sample (see
    :func:`fisher_jenks`, which returns both). Deterministic: the same sample gives the same breaks.

    Parameters
    ----------
    sample : array
        Values to classify (e.g. ``SampleCollector.values()`` of the Cv raster); NaN is ignored.
    n_classes : int
        Number of classes k >= 2.

    Raises
    ------
    InputError
        If the sample has fewer than ``n_classes`` distinct values (the message says to ask for fewer classes
        or to give the breaks).

    References
    ----------
    Fisher (1958) "On grouping for maximum homogeneity", JASA 53; Jenks (1977); seed 000 section 3.2.3;
    METHODS.md "Stability".
    """
    return fisher_jenks(sample, n_classes)["breaks"]


def cv_class_scheme(breaks: Sequence[float]) -> ClassScheme:
    """Class scheme of the Cv classes made by ``classify_by_breaks(cv, breaks)``: codes 1..k, k = len(breaks)+1.

    Five classes use seed 000's wording (low, lower, medium, higher, high fluctuation); any other k gets
    ordinal labels ("Fluctuation class i of k"). Every label carries its Cv range. Colors run from green
    (stable) through yellow to red (fluctuating).
    """
    b = [float(v) for v in breaks]
    if not b:
        raise InputError("Cv classes need at least one break")
    if any(not math.isfinite(v) for v in b) or any(q <= p for p, q in zip(b, b[1:])):
        raise InputError(f"Cv class breaks must be finite and strictly increasing, got {list(breaks)!r}")
    k = len(b) + 1
    ranges = interval_labels(b)
    if k == 5:
        names = list(FLUCTUATION_LABELS_5)
    else:
        names = [f"Fluctuation class {i} of {k}" for i in range(1, k + 1)]
        names[0] += " (most stable)"
        names[-1] += " (most fluctuating)"
    labels = tuple(f"{name} (Cv {rng})" for name, rng in zip(names, ranges))
    return ClassScheme(
        codes=tuple(range(1, k + 1)),
        labels=labels,
        colors=tuple(ramp(k, start="#1a9641", end="#d7191c", middle="#ffffbf")),
        nodata=CLASS_NODATA,
        title="Stability: coefficient of variation (natural breaks)",
        extra={"breaks": b},
    )
