#!/usr/bin/env bash
# Set up (QGIS + Python packages, see scripts/setup.sh) and run the whole test suite:
# the core tests, the plugin loaded the way QGIS loads it, and every algorithm through the real qgis_process.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
bash scripts/setup.sh
export QT_QPA_PLATFORM=offscreen
exec .venv/bin/python -m pytest "$@"
