#!/usr/bin/env bash
# Set up everything the toolbox and its tests need on a fresh Debian 12 / Ubuntu machine (idempotent):
#  1. Debian packages: QGIS 3.22 with its Python bindings, and the Python packages the plugin uses
#     (numpy, scipy, rasterio, matplotlib) from Debian, so the plugin runs on the very Python QGIS embeds;
#  2. .venv: Debian's python3 with --system-site-packages plus the test-only packages from PyPI
#     (pymannkendall, ...), installed under a constraints file that pins Debian's numpy and scipy so pip never
#     replaces them.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

DEBIAN_PACKAGES=(
  qgis python3-qgis qgis-providers
  python3-numpy python3-scipy python3-rasterio python3-gdal python3-matplotlib
  python3-pytest python3-hypothesis python3-venv python3-pip
  xvfb xauth chromium
)
missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=/usr/bin/python3
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv (Debian python3 + system site packages)"
  "$PY" -m venv --system-site-packages .venv
fi
.venv/bin/python - > .venv/constraints.txt <<'PYEOF'
import numpy, scipy
print(f"numpy=={numpy.__version__}\nscipy=={scipy.__version__}")
PYEOF
if ! .venv/bin/python -c "import pymannkendall" 2>/dev/null || \
   ! cmp -s requirements-test.txt .venv/requirements-test.installed; then
  echo "== installing test packages from PyPI (numpy/scipy pinned to Debian's)"
  .venv/bin/pip install -q --disable-pip-version-check -c .venv/constraints.txt -r requirements-test.txt
  cp requirements-test.txt .venv/requirements-test.installed
fi
echo "== ready: $(QT_QPA_PLATFORM=offscreen qgis_process.bin --version 2>/dev/null | grep -m1 '^QGIS' || true)"
