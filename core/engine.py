"""The block engine: read aligned time series window by window, compute in worker threads, write the same window.

Memory stays bounded whatever the raster size: the block size is chosen so that the data held by all workers at
once (inputs as float64, outputs, and the compute function's own scratch) fits in ``memory_mb``. Windows follow
the first input's internal tiling (whole tiles, or groups of strips) and the 256-pixel output tiles, so no tile is
read or compressed twice. At most ``threads`` blocks are in flight; the main thread checks for cancellation and
reports progress between blocks, and merges the blocks' partial results (for tables) in window order, so results
are identical whatever the thread count.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from rasterio.windows import Window

from .area import pixel_area_m2
from .errors import Cancelled
from .stack import Grid, SeriesReader, TimeSeries
from .writer import TILE, OutputTransaction

DEFAULT_MEMORY_MB = 256


@dataclass
class Block:
    """One window of every input, as float64 arrays with NaN for nodata."""

    index: int
    window: Window
    data: dict[str, np.ndarray]
    grid: Grid

    @property
    def row_off(self) -> int:
        return int(self.window.row_off)

    @property
    def col_off(self) -> int:
        return int(self.window.col_off)

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.window.height), int(self.window.width)

    def area_m2(self) -> np.ndarray:
        """Pixel areas of this block's rows, shape (rows, 1), m2 (METHODS.md "Areas and totals")."""
        return pixel_area_m2(self.grid.transform, self.grid.crs, self.row_off, self.shape[0])


@dataclass
class Result:
    """What a compute function returns for a block: arrays per output key, and an optional partial result."""

    arrays: Mapping[str, np.ndarray]
    partial: Any = None


ComputeFn = Callable[[Block], "Result | Mapping[str, np.ndarray]"]


def _fit(limit: int, units: Sequence[int]) -> int:
    """The largest multiple of the first unit (tried in order) that is <= ``limit``; else ``limit`` (>= 1)."""
    for unit in units:
        if 0 < unit <= limit:
            return limit // unit * unit
    return max(1, limit)


def block_windows(grid: Grid, block_shape: tuple[int, int], max_pixels: int) -> list[Window]:
    """Windows of at most ``max_pixels`` pixels aligned to the input's blocks and the 256-pixel output tiles.

    Full-width windows when a whole row of input blocks fits (or, for a striped input, when a row of pixels fits):
    their height is a multiple of ``lcm(input block height, 256)`` when that fits, else of the input block height.
    Otherwise (a tiled input whose row of tiles is larger than the budget) windows one block high and as many whole
    blocks wide as fit, so every input tile is decoded once and every output tile written whole.
    """
    height, width = grid.height, grid.width
    bh, bw = max(1, min(int(block_shape[0]), height)), max(1, min(int(block_shape[1]), width))
    max_pixels = max(1, int(max_pixels))
    tiled = bw < width
    if width * bh <= max_pixels or (not tiled and width <= max_pixels):
        rows = min(height, _fit(max_pixels // width, (math.lcm(bh, TILE), bh)))
        return [Window(0, r, width, min(rows, height - r)) for r in range(0, height, rows)]
    rows = bh if bh * bw <= max_pixels else max(1, max_pixels // bw)
    cols = min(width, _fit(max_pixels // rows, (math.lcm(bw, TILE), bw)))
    return [
        Window(c, r, min(cols, width - c), min(rows, height - r))
        for r in range(0, height, rows)
        for c in range(0, width, cols)
    ]


def bytes_per_pixel(inputs: Sequence[TimeSeries], out_bands: int, scratch: int = 0) -> int:
    """Bytes one pixel of a block costs: float64 inputs, float64 results before the float32 cast, scratch."""
    return 8 * sum(s.count for s in inputs) + 12 * out_bands + int(scratch)


def run_blocks(
    inputs: Sequence[TimeSeries],
    compute: ComputeFn,
    outputs: OutputTransaction | None = None,
    *,
    merge: Callable[[Any, Any], Any] | None = None,
    memory_mb: float = DEFAULT_MEMORY_MB,
    threads: int | None = None,
    scratch_bytes_per_pixel: int = 0,
    progress: Callable[[float], None] | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    max_pixels: int | None = None,
    valid_counts: dict[str, int] | None = None,
) -> Any:
    """Run ``compute`` on every block of the aligned ``inputs`` and write its arrays into ``outputs``.

    Parameters
    ----------
    inputs : the time series of the run, already checked for alignment (:func:`core.stack.check_aligned`).
    compute : called with a :class:`Block` (in a worker thread); returns ``{output key: array}`` or a
        :class:`Result` carrying a partial result too. Arrays are (bands, rows, cols) or (rows, cols).
    outputs : where to write; keys absent from it are ignored (optional outputs the user did not ask for).
    merge : combines partial results; called in window order in the main thread. Returns the merged result.
    memory_mb : budget for the data of all blocks in flight.
    threads : worker threads (default: the CPU count).
    scratch_bytes_per_pixel : extra memory the compute function needs per pixel (e.g. pairwise trend work).
    progress : called with the fraction done (0..1) after each block.
    is_cancelled : polled between blocks; when it returns True the run stops and raises :class:`Cancelled`.
    max_pixels : force the block size (tests).
    valid_counts : when given, filled with the number of valid (non-NaN) values read from each input, by name.
    """
    if not inputs:
        raise ValueError("run_blocks needs at least one input")
    grid = inputs[0].grid
    threads = max(1, int(threads or os.cpu_count() or 1))
    out_bands = sum(o.spec.count for o in outputs.outputs.values()) if outputs is not None else 0
    per_pixel = bytes_per_pixel(inputs, out_bands, scratch_bytes_per_pixel)
    if max_pixels is None:
        max_pixels = int(memory_mb * 1024 * 1024 // (per_pixel * threads))
    windows = block_windows(grid, inputs[0].block_shape, max_pixels)
    readers = [SeriesReader(s) for s in inputs]
    total_pixels = float(grid.width * grid.height)

    def work(index: int, window: Window) -> Any:
        data = {s.name: r.read(window) for s, r in zip(inputs, readers)}
        counts = {name: int(np.count_nonzero(~np.isnan(a))) for name, a in data.items()} if valid_counts is not None \
            else None
        result = compute(Block(index, window, data, grid))
        if not isinstance(result, Result):
            result = Result(result)
        if outputs is not None:
            for key, arr in result.arrays.items():
                outputs.write(key, arr, window)
        return result.partial, counts

    merged: Any = None
    pending: dict[int, Any] = {}
    next_to_merge = 0
    done_pixels = 0.0
    in_flight: dict[Future, tuple[int, Window]] = {}
    queue = list(enumerate(windows))[::-1]
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="carbonsink")
    try:
        while queue or in_flight:
            if is_cancelled is not None and is_cancelled():
                raise Cancelled("Cancelled by the user; no output was written.")
            while queue and len(in_flight) < threads:
                i, w = queue.pop()
                in_flight[pool.submit(work, i, w)] = (i, w)
            finished, _ = wait(list(in_flight), timeout=0.25, return_when=FIRST_COMPLETED)
            for fut in finished:
                i, w = in_flight.pop(fut)
                pending[i], counts = fut.result()  # re-raises a worker's error here
                done_pixels += w.width * w.height
                if counts is not None:
                    for name, n in counts.items():
                        valid_counts[name] = valid_counts.get(name, 0) + n
            while next_to_merge in pending:
                part = pending.pop(next_to_merge)
                if merge is not None and part is not None:
                    merged = part if merged is None else merge(merged, part)
                next_to_merge += 1
            if finished and progress is not None:
                progress(done_pixels / total_pixels)
    finally:
        for fut in in_flight:
            fut.cancel()
        pool.shutdown(wait=True)
        for r in readers:
            r.close()
    return merged
