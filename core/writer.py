"""GeoTIFF outputs written atomically.

Every output is written to a hidden temporary file beside its destination and renamed into place only when the
whole run succeeded (:meth:`OutputTransaction.commit`). An error or a cancel deletes the temporary files, so no
half-written output is ever left behind, and inputs are never opened for writing.

Outputs are tiled (256 x 256), DEFLATE-compressed GeoTIFFs (BigTIFF when needed), band-interleaved, with band
descriptions (the year, or the factor name) and metadata tags naming the algorithm, its parameters, the units
and the toolbox version. Continuous outputs are float32 with nodata = NaN; class outputs are int16 with a declared
nodata value.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import rasterio
from rasterio.windows import Window

from . import __version__
from .classes import ClassScheme
from .errors import InputError
from .stack import Grid

TILE = 256


@dataclass
class OutputSpec:
    """What to write: one raster with ``len(band_names)`` bands.

    ``key`` is how the compute function names this output (usually the Processing parameter name).
    """

    key: str
    path: str
    band_names: Sequence[str]
    dtype: str = "float32"
    nodata: float | int | None = None
    units: str = ""
    description: str = ""
    scheme: ClassScheme | None = None
    tags: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.nodata is None:
            self.nodata = (
                float("nan")
                if np.dtype(self.dtype).kind == "f"
                else (self.scheme.nodata if self.scheme is not None else -128)
            )

    @property
    def count(self) -> int:
        return len(self.band_names)


class _Output:
    def __init__(self, spec: OutputSpec, grid: Grid, run_tags: dict[str, str]):
        self.spec = spec
        folder = os.path.dirname(os.path.abspath(spec.path)) or "."
        if not os.path.isdir(folder):
            raise InputError(f"Cannot write {spec.key}: folder '{folder}' does not exist.")
        base = os.path.basename(spec.path)
        self.temp_path = os.path.join(folder, f".{base}.{uuid.uuid4().hex[:8]}.part.tif")
        kind = np.dtype(spec.dtype).kind
        profile = dict(
            driver="GTiff",
            width=grid.width,
            height=grid.height,
            count=spec.count,
            dtype=spec.dtype,
            crs=grid.crs,
            transform=grid.transform,
            nodata=spec.nodata,
            compress="deflate",
            predictor=3 if kind == "f" else 2,
            interleave="band",
            bigtiff="if_safer",
            num_threads="all_cpus",
        )
        if grid.width >= TILE or grid.height >= TILE:
            profile.update(tiled=True, blockxsize=TILE, blockysize=TILE)
        else:  # small rasters: one tile covering the raster (tile sizes must be multiples of 16)
            profile.update(
                tiled=True,
                blockxsize=max(16, -(-grid.width // 16) * 16),
                blockysize=max(16, -(-grid.height // 16) * 16),
            )
        self.ds = rasterio.open(self.temp_path, "w", **profile)
        self.lock = threading.Lock()
        self.valid = np.zeros(spec.count, dtype=np.int64)
        self.run_tags = run_tags

    def write(self, data: np.ndarray, window: Window) -> None:
        spec = self.spec
        if data.ndim == 2:
            data = data[np.newaxis]
        if data.shape[0] != spec.count:
            raise ValueError(f"output {spec.key}: {data.shape[0]} bands computed, {spec.count} declared")
        if np.dtype(spec.dtype).kind == "f":
            arr = data.astype(spec.dtype, copy=False)
            valid = np.count_nonzero(np.isfinite(arr), axis=(1, 2))
            if not np.all(np.isfinite(arr) | np.isnan(arr)):
                arr = np.where(np.isfinite(arr), arr, np.nan).astype(spec.dtype)
        else:
            arr = data.astype(spec.dtype, copy=False)
            valid = np.count_nonzero(arr != spec.nodata, axis=(1, 2))
        with self.lock:
            self.ds.write(arr, window=window)
            self.valid += valid

    def finish(self) -> None:
        spec = self.spec
        for i, name in enumerate(spec.band_names, start=1):
            self.ds.set_band_description(i, str(name))
        tags = dict(self.run_tags)
        tags.update({k.upper(): _tag(v) for k, v in spec.tags.items()})
        if spec.units:
            tags["UNITS"] = spec.units
        if spec.description:
            tags["DESCRIPTION"] = spec.description
        if spec.scheme is not None:
            tags["CLASSES"] = json.dumps(
                [{"code": c, "label": lab, "color": col} for c, lab, col in zip(*_scheme_columns(spec.scheme))]
            )
        self.ds.update_tags(**tags)
        self.ds.close()

    def discard(self) -> None:
        try:
            if not self.ds.closed:
                self.ds.close()
        finally:
            for p in (self.temp_path, self.temp_path + ".aux.xml"):
                if os.path.exists(p):
                    os.remove(p)


def _scheme_columns(scheme: ClassScheme):
    return scheme.codes, scheme.labels, scheme.colors


def _tag(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


class OutputTransaction:
    """A set of outputs that appear together, or not at all.

    >>> with OutputTransaction(grid, algorithm="carbonsink:nep", parameters={...}) as tx:   # doctest: +SKIP
    ...     out = tx.add(OutputSpec("OUTPUT", "/data/nep.tif", ["2000", "2001"], units="g C m-2 yr-1"))
    ...     run_blocks(..., outputs=tx)
    ...     tx.commit()
    Leaving the ``with`` block without :meth:`commit` (an error, a cancel) deletes every temporary file.
    """

    def __init__(self, grid: Grid, algorithm: str = "", parameters: dict[str, Any] | None = None):
        self.grid = grid
        self.outputs: dict[str, _Output] = {}
        self.committed = False
        self.run_tags = {
            "ALGORITHM": algorithm,
            "PARAMETERS": json.dumps(parameters or {}, default=str, sort_keys=True),
            "TOOLBOX": "Carbon Sink Toolbox",
            "TOOLBOX_VERSION": __version__,
        }

    def add(self, spec: OutputSpec) -> OutputSpec:
        if not spec.path:
            return spec
        if spec.key in self.outputs:
            raise ValueError(f"output {spec.key} added twice")
        self.outputs[spec.key] = _Output(spec, self.grid, self.run_tags)
        return spec

    def __contains__(self, key: str) -> bool:
        return key in self.outputs

    def write(self, key: str, data: np.ndarray, window: Window) -> None:
        out = self.outputs.get(key)
        if out is not None:
            out.write(data, window)

    def valid_count(self, key: str) -> int:
        """How many valid (non-nodata) values have been written to ``key`` so far (all bands)."""
        return int(self.outputs[key].valid.sum())

    def commit(self) -> dict[str, str]:
        """Close every output and rename it into place; return ``{key: final path}``."""
        for out in self.outputs.values():
            out.finish()
        done = {}
        for key, out in self.outputs.items():
            final = out.spec.path
            for stale in (final + ".aux.xml",):
                if os.path.exists(stale):
                    os.remove(stale)
            os.replace(out.temp_path, final)
            done[key] = final
        self.committed = True
        return done

    def rollback(self) -> None:
        for out in self.outputs.values():
            out.discard()

    def __enter__(self) -> OutputTransaction:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self.committed:
            self.rollback()
