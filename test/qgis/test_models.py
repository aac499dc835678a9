"""The example Processing models (``models/*.model3``) and the one-command study on the sample data.

- The checked-in models are exactly what ``models/build_models.py`` writes (they cannot drift from it, nor from
  the algorithms' parameters), load back, validate, and open in the graphical modeler with a legible layout.
- Every stage model runs through the real ``qgis_process`` on the sample data (chained: each takes the outputs
  of the ones before), writes every output it declares, and gives exactly what the full study gives.
- ``bash scripts/run_sample.sh OUTDIR`` runs the full model and writes every map (with its legend), table and
  report plus ``index.html``; the planted signals of the sample data come out of those files, read back here
  with rasterio and checked against ``signals.json`` and independent references.
"""

from __future__ import annotations

import csv
import html
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import rasterio
from support import ROOT, planted, planted_box

pytestmark = pytest.mark.qgis

MODELS = ROOT / "models"
MANIFEST = json.loads((MODELS / "models.json").read_text(encoding="utf-8"))
FULL = "carbon_sink_full_study"
STAGES = ["carbon_balance", "trend_stability", "climate_drivers", "capacity_resilience", "zones_reports"]


def read(path):
    with rasterio.open(path) as ds:
        return ds.read(masked=True).astype("float64").filled(np.nan), ds.descriptions, ds.tags()


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def legend_code(path, *words):
    """The class code whose legend label (the CLASSES tag) contains every word."""
    classes = json.loads(read(path)[2]["CLASSES"])
    codes = [c["code"] for c in classes if all(w.lower() in c["label"].lower() for w in words)]
    assert len(codes) == 1, (words, classes)
    return codes[0]


def box_area_km2(row0, row1, col0, col1, x0=96.0, y0=44.0, step=0.1):
    """Area of a box of 0.1-degree pixels on the WGS84 ellipsoid, from METHODS.md's formula, row by row:
    A = (b^2 dlambda / 2) [q(phi2) - q(phi1)], q(phi) = sin/(1 - e^2 sin^2) + ln((1 + e sin)/(1 - e sin)) / (2e)."""
    a, f = 6378137.0, 1 / 298.257223563
    e2 = f * (2 - f)
    e, b2 = math.sqrt(e2), a * a * (1 - e2)

    def q(phi):
        s = math.sin(math.radians(phi))
        return s / (1 - e2 * s * s) + math.log((1 + e * s) / (1 - e * s)) / (2 * e)

    total = 0.0
    for row in range(row0, row1):
        north, south = y0 - step * row, y0 - step * (row + 1)
        total += (col1 - col0) * b2 * math.radians(step) / 2 * (q(north) - q(south))
    return total / 1e6


# ============================================================================================ the model files
def test_checked_in_models_are_what_build_models_writes(tmp_path):
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        QGIS_CUSTOM_CONFIG_PATH=str(tmp_path / "profile"),
        PATH="/usr/bin:/bin:" + os.environ.get("PATH", ""),
    )
    proc = subprocess.run(
        [sys.executable, str(MODELS / "build_models.py"), str(tmp_path / "models")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    generated = sorted(p.name for p in (tmp_path / "models").iterdir())
    checked_in = sorted(p.name for p in MODELS.iterdir() if p.suffix in (".model3", ".json"))
    assert generated == checked_in == sorted([f"{m}.model3" for m in [FULL, *STAGES]] + ["models.json"])
    for name in generated:
        assert (tmp_path / "models" / name).read_bytes() == (MODELS / name).read_bytes(), (
            f"models/{name} differs from what models/build_models.py writes: run "
            "'QT_QPA_PLATFORM=offscreen /usr/bin/python3 models/build_models.py' and commit the result"
        )


def _rect(component):
    p, s = component.position(), component.size()
    return (p.x() - s.width() / 2, p.y() - s.height() / 2, p.x() + s.width() / 2, p.y() + s.height() / 2)


def _overlap(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _inside(inner, outer):
    return outer[0] <= inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2] and inner[3] <= outer[3]


@pytest.mark.parametrize("name", [FULL, *STAGES])
def test_model_loads_validates_and_opens_in_the_modeler(qgis_app, name):
    from processing.modeler.ModelerDialog import ModelerDialog
    from qgis.core import QgsProcessingModelAlgorithm
    from qgis.gui import QgsModelChildAlgorithmGraphicItem, QgsModelOutputGraphicItem, QgsModelParameterGraphicItem

    model = QgsProcessingModelAlgorithm()
    assert model.fromFile(str(MODELS / f"{name}.model3"))
    ok, issues = model.validate()
    assert ok, issues
    manifest = MANIFEST[name]
    assert model.name() == manifest["name"] and model.group() == "Carbon Sink Toolbox examples"
    assert model.shortDescription() == manifest["description"] and len(model.shortHelpString()) > 200

    # what the manifest (used by run_sample.sh and study_index.py) says matches the model
    inputs = [p for p in model.parameterDefinitions() if not p.isDestination()]
    assert [p.name() for p in inputs] == [i["name"] for i in manifest["inputs"]]
    assert all(p.help() and p.help() in model.shortHelpString() for p in inputs)  # documented in the dialog
    destinations = {d.name(): d for d in model.destinationParameterDefinitions()}
    assert sorted(destinations) == sorted(o["parameter"] for o in manifest["outputs"])
    for o in manifest["outputs"]:
        child_id, output = o["parameter"].split(":")
        child = model.childAlgorithm(child_id)
        assert child.algorithm() is not None and child.algorithm().id() == o["algorithm"]
        assert child.modelOutput(output).childOutputName() == o["algorithm_output"]
        assert destinations[o["parameter"]].description() == o["description"]

    # legible canvas: nothing overlaps; each stage is a titled group box holding its algorithms and their outputs
    components = [model.parameterComponent(p.name()) for p in inputs]
    children = [model.childAlgorithm(c) for c in model.childAlgorithms()]
    components += children + [out for c in children for out in c.modelOutputs().values()]
    rects = [_rect(c) for c in components]
    for i in range(len(rects)):
        for j in range(i + 1, len(rects)):
            assert not _overlap(rects[i], rects[j]), (components[i].description(), components[j].description())
    boxes = model.groupBoxes()
    assert sorted(b.description() for b in boxes) == sorted(s["title"] for s in manifest["stages"])
    stage_of = {o["parameter"].split(":")[0]: o["stage"] for o in manifest["outputs"]}
    for child in children:
        holding = [b for b in boxes if _inside(_rect(child), _rect(b))]
        assert [b.description() for b in holding] == [stage_of[child.childId()]]
        assert all(_inside(_rect(out), _rect(holding[0])) for out in child.modelOutputs().values())

    # the graphical modeler opens it: one item per input, algorithm and output
    dialog = ModelerDialog.create(model)
    try:
        items = dialog.view().scene().items()
        assert sum(isinstance(i, QgsModelParameterGraphicItem) for i in items) == len(inputs)
        assert sum(isinstance(i, QgsModelChildAlgorithmGraphicItem) for i in items) == len(children)
        assert sum(isinstance(i, QgsModelOutputGraphicItem) for i in items) == len(destinations)
    finally:
        dialog.close()


# ========================================================================== the full study (run_sample.sh)
@pytest.fixture(scope="module")
def full_study(tmp_path_factory):
    """``bash scripts/run_sample.sh OUTDIR``, as the README runs it (the sample data written to a temporary
    folder instead of sample/data)."""
    out = tmp_path_factory.mktemp("study") / "sample study"  # a space: paths must be quoted everywhere
    data = tmp_path_factory.mktemp("study_data") / "data"
    env = dict(os.environ, CARBONSINK_SAMPLE_DATA=str(data))
    for key in ("QGIS_CUSTOM_CONFIG_PATH", "QGIS_PLUGINPATH"):
        env.pop(key, None)
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "run_sample.sh"), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    return out, data, proc


def test_run_sample_writes_every_output_and_the_index(full_study):
    out, _, proc = full_study
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    ours = lines[next(i for i, line in enumerate(lines) if line.startswith("== generating")) :]
    assert len(ours) <= 12, proc.stdout  # short and readable (after the set-up's own lines)
    assert any(str(out / "index.html") in line for line in lines[-3:])
    assert "planted signals: 12 of 12 checks pass" in proc.stdout

    outputs = MANIFEST[FULL]["outputs"]
    assert {o["stage"] for o in outputs} == {s["title"] for s in MANIFEST[FULL]["stages"]}
    for o in outputs:
        assert (out / o["file"]).is_file(), o["file"]
    names = {p.name for p in out.iterdir()}
    expected = {o["file"] for o in outputs} | {"index.html", "qgis_process.log"}
    class_maps = []
    for o in (o for o in outputs if o["kind"] == "map"):
        tags = read(out / o["file"])[2]
        assert tags["ALGORITHM"] == o["algorithm"]
        if "CLASSES" in tags:  # a class map: its legend is written next to it, with every class
            class_maps.append(o["file"])
            qml = out / (o["file"][:-4] + ".qml")
            expected.add(qml.name)
            text = qml.read_text(encoding="utf-8")
            for c in json.loads(tags["CLASSES"]):
                assert f'value="{c["code"]}"' in text
    assert names == expected  # nothing else (no .aux.xml statistics, no stale files)
    assert sorted(class_maps) == sorted(
        f"{n}.tif"
        for n in (
            "npp_land_codes",
            "nep_classes",
            "nep_trend_class",
            "npp_ols_class",
            "nep_cv_class",
            "nep_persistence_class",
            "nep_hurst_vs_white_noise",
            "nep_partial_class",
            "nep_dominant_factor",
            "nep_attribution_class",
        )
    )
    for o in (o for o in outputs if o["kind"] == "report"):
        text = (out / o["file"]).read_text(encoding="utf-8")
        assert "data:image/png;base64," in text and "http://" not in text and "https://" not in text
    for o in (o for o in outputs if o["kind"] == "table"):
        assert len(read_csv(out / o["file"])) > 0, o["file"]

    index = (out / "index.html").read_text(encoding="utf-8")
    for o in outputs:
        assert f"href='{o['file']}'" in index and html.escape(o["description"]) in index
    for s in MANIFEST[FULL]["stages"]:
        assert f"<h2>{s['title']}</h2>" in index
    for name in class_maps:
        assert f"href='{name[:-4]}.qml'" in index
    assert index.count("<img src='data:image/png;base64,") == sum(o["kind"] == "map" for o in outputs)
    assert "http://" not in index and "https://" not in index  # self-contained
    assert "<th>mean_nep</th>" in index and "<th>total_tgc</th>" in index  # NEP per year, inline
    assert "12 of 12 checks pass" in index and "FAIL" not in index


def test_the_planted_signals_come_out_of_the_full_study(full_study):
    out, data, proc = full_study
    assert proc.returncode == 0, proc.stdout + proc.stderr

    trend = read(out / "nep_trend_class.tif")[0][0]  # Sen + Mann-Kendall of NEP, seed 000 classes
    ols = read(out / "npp_ols_class.tif")[0][0]  # least-squares trend of NPP, seed 003 classes
    for name in ("greening", "degradation"):
        expected = planted(data, name)["expected"]
        assert (trend[planted_box(data, name)] == expected["trend_class_seed000"]).all(), name  # +4 / -4
        assert (ols[planted_box(data, name)] == expected["ols_class_seed003"]).all(), name  # +3 / -3

    desert = planted_box(data, "desert_edge")
    assert planted(data, "desert_edge")["expected"]["nep_sign"] == -1
    nep = read(out / "nep.tif")[0]
    assert (nep[(slice(None), *desert)] < 0).all()  # a carbon source in every pixel and year
    source = legend_code(out / "nep_classes.tif", "source")
    assert (read(out / "nep_classes.tif")[0][(slice(None), *desert)] == source).all()

    h = read(out / "nep_hurst.tif")[0][0]
    persistent, noisy = planted_box(data, "persistent"), planted_box(data, "noisy")
    assert (h[persistent] > 0.5).mean() >= 0.9  # persistent in most pixels (planted: H(NPP) > 0.6 in all)
    assert h[persistent].mean() > 0.7 and 0.4 < h[noisy].mean() < 0.6

    # noisy: the planted NPP has no trend (by construction: OLS p >= 0.1 everywhere) ...
    assert np.isin(ols[noisy], planted(data, "noisy")["expected"]["ols_class_seed003_in"]).all()
    # ... and NEP = NPP - Rh has none significant at 0.05 (|class| <= 2) anywhere; Rh's own small trend and
    # weather push a few pixels into the weakly significant class (1.64 < |Z| <= 1.96)
    assert (np.abs(trend[noisy]) <= 2).all() and (np.abs(trend[noisy]) <= 1).mean() >= 0.95

    precipitation = legend_code(out / "nep_dominant_factor.tif", "precipitation")
    assert (read(out / "nep_dominant_factor.tif")[0][0][planted_box(data, "climate_driven")] == precipitation).all()
    r = read(out / "nep_partial_r.tif")
    band = {d: i for i, d in enumerate(r[1])}
    assert (r[0][band["Precipitation"]][planted_box(data, "climate_driven")] > 0.8).all()

    year_of_max = read(out / "cscc_year_of_max.tif")[0][0]
    assert (year_of_max[planted_box(data, "peak_2010")] == planted(data, "peak_2010")["expected"]["year_of_max"]).all()

    stable = planted_box(data, "stable")
    cv = read(out / "nep_cv.tif")[0][0]
    assert (read(out / "nep_cv_class.tif")[0][0][stable] == 1).all()  # the lowest class: low fluctuation
    assert np.nanmax(cv[stable]) < np.nanmin(cv[noisy])


def test_the_full_study_tables_agree_with_each_other_and_the_sample(full_study):
    out, data, proc = full_study
    assert proc.returncode == 0, proc.stdout + proc.stderr
    signals = json.loads((data / "signals.json").read_text(encoding="utf-8"))

    per_year = read_csv(out / "nep_per_year.csv")
    assert [int(r["year"]) for r in per_year] == list(range(2000, 2024))
    by_region = read_csv(out / "nep_by_region.csv")
    regions = [r["name"] for r in signals["regions"]]
    assert [r["zone"] for r in by_region[::24]] == [*regions, "all"]
    classes = read_csv(out / "nep_class_by_region.csv")
    source = legend_code(out / "nep_classes.tif", "source")
    for row in per_year:  # the same area-weighted numbers from nep, zonal_statistics and class_area
        year = row["year"]
        everything = next(r for r in by_region if r["zone"] == "all" and r["year"] == year)
        assert float(everything["mean"]) == pytest.approx(float(row["mean_nep"]), rel=1e-9)
        assert float(everything["total_tgc"]) == pytest.approx(float(row["total_tgc"]), rel=1e-9)
        zones = [r for r in by_region if r["zone"] in regions and r["year"] == year]
        assert sum(float(r["total_tgc"]) for r in zones) == pytest.approx(float(row["total_tgc"]), rel=1e-9)
        sources = next(r for r in classes if r["zone"] == "all" and r["year"] == year and int(r["class"]) == source)
        assert float(sources["area_km2"]) == pytest.approx(float(row["source_area_km2"]), rel=1e-9)

    shares = [float(r["share_pct"]) for r in read_csv(out / "nep_trend_class_areas.csv")]
    assert sum(shares) == pytest.approx(100.0)
    assert [r["zone"] for r in read_csv(out / "resilience_fit.csv")] == ["all", *regions]
    assert len(read_csv(out / "cscc_per_year.csv")) == 24

    # land-cover transitions: each planted transition's area, against the box's area on the ellipsoid
    transitions = {
        (int(r["from_class"]), int(r["to_class"])): float(r["area_km2"])
        for r in read_csv(out / "landcover_transitions.csv")
    }
    for t in signals["land_cover_transitions"]:
        b = t["pixel_box"]
        expected = box_area_km2(b["row0"], b["row1"], b["col0"], b["col1"])
        assert transitions[(t["from_class"], t["to_class"])] == pytest.approx(expected, rel=1e-9), t["name"]


# ======================================================================== the stage models, chained
def _stage_inputs(name, data, done):
    """Model inputs of a stage model: sample data, and the outputs of the stages run before."""
    regions = {"REGIONS": data / "regions.gpkg", "REGION_FIELD": "name"}
    if name == "carbon_balance":  # the MODIS stack this time (the full study gets the 24 yearly files)
        return {
            "NPP_MODIS": data / "npp_modis_stack.tif",
            "TEMPERATURE_MONTHLY": data / "temperature_monthly.tif",
            "PRECIPITATION_MONTHLY": data / "precipitation_monthly.tif",
            "NEP_CLASS_PRESET": 1,
        }
    first = done["carbon_balance"]
    if name == "trend_stability":  # FIRST_YEAR given: the same years as the band descriptions
        return {"NEP": first / "nep.tif", "NPP": first / "npp.tif", "FIRST_YEAR": 2000}
    if name == "climate_drivers":
        return {
            "NEP": first / "nep.tif",
            "TEMPERATURE_ANNUAL": data / "temperature_annual.tif",
            "PRECIPITATION_ANNUAL": data / "precipitation_annual.tif",
        }
    if name == "capacity_resilience":
        return {"NPP": first / "npp.tif", "REFERENCE_YEAR": 2010, **regions}
    return {
        "NEP": first / "nep.tif",
        "NEP_CLASSES": first / "nep_classes.tif",
        "NEP_TREND_CLASS": done["trend_stability"] / "nep_trend_class.tif",
        "LANDCOVER_START": data / "landcover_2000.tif",
        "LANDCOVER_END": data / "landcover_2022.tif",
        **regions,
    }


@pytest.fixture(scope="module")
def stage_runs(qgis_process, sample_data, tmp_path_factory):
    """Every stage model run once through qgis_process, in chain order: {model: (outdir, JSON answer)}."""
    runs, done = {}, {}
    for name in STAGES:
        out = tmp_path_factory.mktemp(name)
        args = ["run", str(MODELS / f"{name}.model3"), "--json", "--"]
        args += [f"{k}={v}" for k, v in _stage_inputs(name, sample_data, done).items()]
        args += [f"{o['parameter']}={out / o['file']}" for o in MANIFEST[name]["outputs"]]
        proc = qgis_process(*args, check=False)
        runs[name] = (out, proc)
        done[name] = out
    return runs


@pytest.mark.parametrize("name", STAGES)
def test_stage_model_runs_through_qgis_process(stage_runs, name):
    out, proc = stage_runs[name]
    assert proc.returncode == 0, f"{name}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    answer = json.loads(proc.stdout[proc.stdout.index("{") :])
    for o in MANIFEST[name]["outputs"]:
        assert answer["results"][o["parameter"]] == str(out / o["file"])
        assert (out / o["file"]).is_file(), o["file"]
        if o["kind"] == "map" and "CLASSES" in read(out / o["file"])[2]:
            assert (out / (o["file"][:-4] + ".qml")).is_file(), o["file"]


@pytest.mark.parametrize("name", STAGES)
def test_stage_model_gives_what_the_full_study_gives(stage_runs, full_study, name):
    out, proc = stage_runs[name]
    full, _, full_proc = full_study
    assert proc.returncode == 0 and full_proc.returncode == 0
    for o in MANIFEST[name]["outputs"]:
        assert o in MANIFEST[FULL]["outputs"]  # same child, algorithm, output, file name and description
        if o["kind"] == "map":
            mine, descriptions, _ = read(out / o["file"])
            theirs, full_descriptions, _ = read(full / o["file"])
            np.testing.assert_array_equal(mine, theirs, err_msg=o["file"])
            assert descriptions == full_descriptions
        elif o["kind"] == "table":
            assert read_csv(out / o["file"]) == read_csv(full / o["file"]), o["file"]
