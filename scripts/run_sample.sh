#!/usr/bin/env bash
# The whole carbon-sink study on the sample data, in one command:
#   bash scripts/run_sample.sh [OUTDIR]          (default OUTDIR: out/sample_study)
# 1. sets up QGIS and the Python packages (scripts/setup.sh), 2. writes the sample study area into sample/data,
# 3. runs the full study model (models/carbon_sink_full_study.model3) through qgis_process, writing every map
# (GeoTIFF, class maps with their .qml legend), table (CSV) and report (HTML) into OUTDIR, 4. writes
# OUTDIR/index.html (every output by stage, maps and small tables inline, the planted-signal checks).
# It starts from a fresh QGIS profile every time and replaces only its own files in OUTDIR: run it as often as you
# like. Exits non-zero when the model fails, an output is missing or a planted signal does not come out.
#
# Debian 12's /usr/bin/qgis_process wrapper passes --noversioncheck, which QGIS 3.22 rejects: call
# qgis_process.bin directly.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$(realpath -m "${1:-$here/out/sample_study}")"
model="$here/models/carbon_sink_full_study.model3"
cd "$here"
bash scripts/setup.sh

data="$(realpath -m "${CARBONSINK_SAMPLE_DATA:-$here/sample/data}")"  # the tests write it elsewhere
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
# QGIS computes statistics of the layers it opens; keep GDAL from caching them in .aux.xml files next to them.
export GDAL_PAM_ENABLED=NO
QP="$(command -v qgis_process.bin || command -v qgis_process)"
"$QP" plugins enable carbon_sink_toolbox >/dev/null 2>&1

# The model's outputs, as qgis_process arguments (child:output=OUTDIR/file), from models/models.json.
mapfile -t outputs < <(/usr/bin/python3 scripts/study_index.py --arguments "$out")
# Replace only our own files (and their legends / statistics) from an earlier run.
for arg in "${outputs[@]}"; do
  file="${arg#*=}"
  rm -f "$file" "${file%.*}.qml" "$file.aux.xml"
done
rm -f "$out/index.html" "$out/qgis_process.log"

inputs=()
for f in "$data"/npp_modis/MOD17A3HGF.A*.tif; do inputs+=("NPP_MODIS=$f"); done  # years from the MODIS names
inputs+=(
  "TEMPERATURE_MONTHLY=$data/temperature_monthly.tif" "PRECIPITATION_MONTHLY=$data/precipitation_monthly.tif"
  "TEMPERATURE_ANNUAL=$data/temperature_annual.tif" "PRECIPITATION_ANNUAL=$data/precipitation_annual.tif"
  "REGIONS=$data/regions.gpkg" "REGION_FIELD=name"
  "LANDCOVER_START=$data/landcover_2000.tif" "LANDCOVER_END=$data/landcover_2022.tif"
  "REFERENCE_YEAR=2010" "NEP_CLASS_PRESET=1"
)

echo "== running the full study model (${model#"$here"/}) through qgis_process"
log="$out/qgis_process.log"
start=$SECONDS
if ! "$QP" run "$model" -- "${inputs[@]}" "${outputs[@]}" > "$log" 2>&1; then
  tail -n 30 "$log" >&2
  echo "The model failed: the whole log is in $log" >&2
  exit 1
fi
echo "   $(grep -m1 -o 'Executed [0-9]* algorithms' "$log" || echo 'done') in $((SECONDS - start)) s"
grep -E '^WARNING' "$log" | head -n 5 | sed 's/^WARNING:\s*/   warning: /' || true

echo "== writing the index page"
status=0
/usr/bin/python3 scripts/study_index.py "$out" --data "$data" --inputs "${inputs[@]}" || status=$?

echo
echo "Open $out/index.html"
echo "  (every map, table and report of the study, by stage; maps open in QGIS with their legends)"
exit $status
