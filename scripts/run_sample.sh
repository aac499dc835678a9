#!/usr/bin/env bash
# Set up everything, generate the sample study area and run the toolbox on it through qgis_process,
# writing maps (GeoTIFF + .qml legends) and tables (CSV) into one folder (default: out/sample_study).
#
# Note: Debian 12's /usr/bin/qgis_process wrapper passes --noversioncheck, which QGIS 3.22 rejects;
# this script calls qgis_process.bin directly.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$(realpath -m "${1:-$here/out/sample_study}")"
cd "$here"
bash scripts/setup.sh

data="$here/sample/data"
echo "== generating the sample study area in $data"
/usr/bin/python3 sample/make_sample_data.py "$data" >/dev/null

# A QGIS profile of our own, with the plugin linked in under its installed folder name.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/plugins" "$work/profile" "$out"
ln -s "$here" "$work/plugins/carbon_sink_toolbox"
export QT_QPA_PLATFORM=offscreen QGIS_CUSTOM_CONFIG_PATH="$work/profile" QGIS_PLUGINPATH="$work/plugins"
# QGIS's embedded Python finds its home through the first python3 on PATH: make it Debian's one.
export PATH="/usr/bin:/bin:$PATH"
QP="$(command -v qgis_process.bin || command -v qgis_process)"
"$QP" plugins enable carbon_sink_toolbox >/dev/null 2>&1

run() {
  local alg="$1"; shift
  echo "== carbonsink:$alg"
  if ! "$QP" run "carbonsink:$alg" -- "$@" > "$work/$alg.log" 2>&1; then
    cat "$work/$alg.log" >&2
    echo "carbonsink:$alg failed" >&2
    exit 1
  fi
  grep -E '^(WARNING|ERROR)' "$work/$alg.log" | sed 's/^/   /' || true
}

npp_files=()
for f in "$data"/npp_modis/MOD17A3HGF.A*.tif; do npp_files+=("INPUT=$f"); done
run modis_npp "${npp_files[@]}" "OUTPUT=$out/npp.tif" "OUTPUT_CODES=$out/npp_land_codes.tif"
run rh_pei "TEMPERATURE=$data/temperature_monthly.tif" "PRECIPITATION=$data/precipitation_monthly.tif" \
  "OUTPUT=$out/rh_pei.tif"
run rh_gsmsr "TEMPERATURE=$data/temperature_monthly.tif" "PRECIPITATION=$data/precipitation_monthly.tif" \
  "SOIL_CARBON=$data/soil_carbon.tif" "OUTPUT=$out/rh_gsmsr.tif" "OUTPUT_RS=$out/rs_gsmsr.tif"
run nep "NPP=$out/npp.tif" "RH=$out/rh_pei.tif" "CLASS_PRESET=1" "OUTPUT=$out/nep.tif" \
  "OUTPUT_CLASSES=$out/nep_classes.tif" "OUTPUT_MEAN=$out/nep_mean.tif" "OUTPUT_TABLE=$out/nep_per_year.csv"

echo
echo "Done. Maps (open the .tif files in QGIS: class maps come with their legend) and tables are in:"
echo "  $out"
ls -1 "$out" | sed 's/^/    /'
