"""Constants and small helpers shared by the test modules."""

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_NAME = "carbon_sink_toolbox"
# Debian's /usr/bin/qgis_process wrapper passes --noversioncheck, which QGIS 3.22 rejects: call the binary.
QGIS_PROCESS = shutil.which("qgis_process.bin") or shutil.which("qgis_process")


def planted(sample_data, name: str) -> dict:
    """The description of a planted signal of the sample data (``signals.json``)."""
    import json

    signals = json.loads((Path(sample_data) / "signals.json").read_text())
    for area in signals["areas"]:
        if area["name"] == name:
            return area
    raise KeyError(name)


def planted_box(sample_data, name: str) -> tuple[slice, slice]:
    """Row and column slices of a planted signal's pixel box."""
    b = planted(sample_data, name)["pixel_box"]
    return slice(b["row0"], b["row1"]), slice(b["col0"], b["col1"])


def write_raster(path, array, descriptions=None, nodata=None, transform=None, crs="EPSG:4326", dtype=None,
                 units=None, **profile) -> str:
    """Write ``array`` ((bands, rows, cols) or (rows, cols)) as a GeoTIFF with band descriptions; return its path."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    array = np.asarray(array)
    if array.ndim == 2:
        array = array[np.newaxis]
    dtype = dtype or array.dtype
    with rasterio.open(path, "w", driver="GTiff", width=array.shape[2], height=array.shape[1], count=array.shape[0],
                       dtype=dtype, nodata=nodata, transform=transform or from_origin(100.0, 45.0, 0.1, 0.1),
                       crs=crs, **profile) as ds:
        ds.write(array.astype(dtype))
        for i, d in enumerate(descriptions or [], start=1):
            ds.set_band_description(i, d)
        if units:
            ds.update_tags(UNITS=units)
    return str(path)


def ellipsoid_row_areas(transform, height):
    """m2 of one cell per row on WGS84, from the authalic-latitude formula (written here independently of core)."""
    import math

    import numpy as np

    a, f = 6378137.0, 1 / 298.257223563
    e2 = f * (2 - f)
    e = math.sqrt(e2)

    def q(phi):
        s = math.sin(phi)
        return s / (1 - e2 * s * s) + math.log((1 + e * s) / (1 - e * s)) / (2 * e)

    b2 = a * a * (1 - e2)
    out = []
    for r in range(height):
        north = math.radians(transform.f + r * transform.e)
        south = math.radians(transform.f + (r + 1) * transform.e)
        out.append(b2 * math.radians(transform.a) / 2 * (q(north) - q(south)))
    return np.array(out)


def pairwise(seq):
    """``itertools.pairwise`` (Python 3.10+), for the Python 3.9 that QGIS 3.22 embeds on Windows."""
    seq = list(seq)
    return zip(seq, seq[1:])
