"""Constants and small helpers shared by the test modules."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_NAME = "carbon_sink_toolbox"
