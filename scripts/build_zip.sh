#!/usr/bin/env bash
# Build the zip that QGIS's Plugin Manager installs ("Install from ZIP"): only what the plugin needs to run
# (metadata, entry points, algorithms, core, icons, README), under the folder name carbon_sink_toolbox.
# Usage: bash scripts/build_zip.sh [OUTPUT_DIR]   (default: dist/)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$(realpath -m "${1:-$here/dist}")"
version="$(sed -n 's/^version=//p' "$here/metadata.txt")"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
dest="$stage/carbon_sink_toolbox"
mkdir -p "$dest" "$out"
cd "$here"
# tracked files only (no caches, no sample data, no virtual environment)
git ls-files metadata.txt __init__.py plugin.py README.md LICENSE algorithms core icons \
  | grep -vE '(^|/)(__pycache__|\.pytest_cache)/' \
  | while read -r f; do mkdir -p "$dest/$(dirname "$f")"; cp "$f" "$dest/$f"; done
zip_path="$out/carbon_sink_toolbox-$version.zip"
rm -f "$zip_path"
(cd "$stage" && /usr/bin/python3 -m zipfile -c "$zip_path" carbon_sink_toolbox)
echo "$zip_path"
