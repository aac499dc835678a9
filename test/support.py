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
