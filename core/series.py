"""Small per-pixel helpers shared by the science modules: valid counts and the MIN_VALID rule."""

from __future__ import annotations

import numpy as np

from .errors import InputError


def resolve_min_valid(min_valid: int | None, n_times: int, name: str = "MIN_VALID") -> int:
    """``MIN_VALID`` as a count: None or 0 means all ``n_times`` (METHODS.md: results then match the papers)."""
    if not min_valid:
        return n_times
    if min_valid < 2 or min_valid > n_times:
        raise InputError(f"{name} = {min_valid} must lie between 2 and the number of years ({n_times}).")
    return int(min_valid)


def valid_mean(x: np.ndarray, min_valid: int | None = None) -> np.ndarray:
    """Mean over time (axis 0) of the valid values of pixels having at least ``min_valid`` of them, else NaN.

    ``min_valid`` None means every time step must be valid.
    """
    x = np.asarray(x, dtype=np.float64)
    need = resolve_min_valid(min_valid, x.shape[0])
    valid = ~np.isnan(x)
    n = valid.sum(axis=0)
    total = np.where(valid, x, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / n
    return np.where(n >= need, mean, np.nan)
