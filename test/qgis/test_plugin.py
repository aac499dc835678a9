"""The plugin as QGIS loads it: classFactory(None) + initProcessing(), the provider, its algorithms and their
parameters; algorithms run in process through ``processing.run`` (the GUI's and the modeler's code path),
cancelled runs and output styles."""

from __future__ import annotations

import os
from functools import partial

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from support import write_raster

pytestmark = pytest.mark.qgis

write = partial(write_raster, transform=from_origin(10, 60, 0.5, 0.5), dtype="float32")

CATALOG = {  # ALGORITHMS.md
    "modis_npp", "rh_pei", "rh_gsmsr", "nep", "trend_sen_mk", "trend_ols", "cv", "hurst", "partial_correlation",
    "attribution", "cscc", "resilience", "zonal_statistics", "class_area", "transition_matrix",
}


def test_provider_and_algorithms_registered(qgis_app):
    from qgis.core import QgsApplication

    provider = QgsApplication.processingRegistry().providerById("carbonsink")
    assert provider is not None and provider.name() == "Carbon Sink Toolbox"
    assert os.path.exists(provider.svgIconPath())
    ids = {alg.name() for alg in provider.algorithms()}
    assert ids == CATALOG
    for alg in provider.algorithms():
        assert alg.groupId() in {"carbon_balance", "trend", "stability", "drivers", "capacity", "zones"}
        assert "Reference" in alg.shortHelpString() or "References" in alg.shortHelpString()
        for param in alg.parameterDefinitions():
            assert param.help(), f"{alg.name()}: parameter {param.name()} has no help"
        ok, message = alg.canExecute()
        assert ok, message


def test_advanced_parameters_are_flagged(qgis_app):
    from qgis.core import QgsApplication, QgsProcessingParameterDefinition

    alg = QgsApplication.processingRegistry().algorithmById("carbonsink:rh_gsmsr")
    for name in ("R0", "M", "ALPHA", "BETA", "P0", "K", "MEMORY_MB", "THREADS"):
        assert alg.parameterDefinition(name).flags() & QgsProcessingParameterDefinition.FlagAdvanced


def test_processing_run_in_process_and_styled_classes(qgis_app, tmp_path):
    import processing
    from qgis.core import QgsRasterLayer

    rng = np.random.default_rng(11)
    npp = write(tmp_path / "npp.tif", rng.uniform(0, 600, (3, 8, 9)), ["2000", "2001", "2002"])
    rh = write(tmp_path / "rh.tif", rng.uniform(100, 400, (3, 8, 9)), ["2000", "2001", "2002"])
    result = processing.run(
        "carbonsink:nep",
        {
            "NPP": [npp],
            "RH": [rh],
            "CLASS_PRESET": 2,
            "OUTPUT": str(tmp_path / "nep.tif"),
            "OUTPUT_CLASSES": str(tmp_path / "classes.tif"),
            "OUTPUT_TABLE": "TEMPORARY_OUTPUT",
        },
    )
    assert os.path.exists(result["OUTPUT"])
    layer = QgsRasterLayer(result["OUTPUT_CLASSES"], "classes")
    assert layer.isValid()
    renderer = layer.renderer()
    assert renderer.type() == "paletted"  # the sidecar .qml was applied when the layer was opened
    labels = {c.value: c.label for c in renderer.classes()}
    assert labels == {
        1: "Carbon source (NEP < 0)",
        2: "Weak carbon sink (0 <= NEP < 50)",
        3: "Strong carbon sink (NEP >= 50)",
    }
    table = result["OUTPUT_TABLE"]
    if isinstance(table, str):
        from qgis.core import QgsProcessingContext, QgsProcessingUtils

        table = QgsProcessingUtils.mapLayerFromString(table, QgsProcessingContext())
    assert table.featureCount() == 3
    assert [f.name() for f in table.fields()][:3] == ["year", "mean_nep", "sink_area_km2"]


def test_cancel_through_qgis_feedback_leaves_nothing(qgis_app, tmp_path):
    import processing
    from qgis.core import QgsProcessingException, QgsProcessingFeedback

    rng = np.random.default_rng(12)
    months = [f"{y}-{m:02d}" for y in (2000, 2001) for m in range(1, 13)]
    t = write(tmp_path / "t.tif", rng.normal(10, 5, (24, 300, 200)), months)
    p = write(tmp_path / "p.tif", rng.gamma(2, 20, (24, 300, 200)), months)
    feedback = QgsProcessingFeedback()
    feedback.progressChanged.connect(lambda value: feedback.cancel() if value > 0 else None)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        processing.run(
            "carbonsink:rh_pei",
            {"TEMPERATURE": [t], "PRECIPITATION": [p], "MEMORY_MB": 16, "THREADS": 1, "OUTPUT": str(out / "rh.tif")},
            feedback=feedback,
        )
    assert os.listdir(out) == []


def test_chained_in_the_graphical_modeler(qgis_app, tmp_path):
    """rh_pei's output feeds nep's RH (a multiple-raster parameter) inside a model, as the modeler builds it."""
    import processing
    from qgis.core import (
        QgsProcessing,
        QgsProcessingModelAlgorithm,
        QgsProcessingModelChildAlgorithm,
        QgsProcessingModelChildParameterSource,
        QgsProcessingModelOutput,
        QgsProcessingModelParameter,
        QgsProcessingParameterMultipleLayers,
    )

    rng = np.random.default_rng(5)
    months = [f"{y}-{m:02d}" for y in (2000, 2001) for m in range(1, 13)]
    t = write(tmp_path / "t.tif", rng.normal(8, 6, (24, 6, 7)), months)
    p = write(tmp_path / "p.tif", rng.gamma(2, 20, (24, 6, 7)), months)
    npp = write(tmp_path / "npp.tif", rng.uniform(100, 700, (2, 6, 7)), ["2000", "2001"])

    model = QgsProcessingModelAlgorithm("carbon balance", "tests")
    for name in ("T", "P", "NPP"):
        model.addModelParameter(
            QgsProcessingParameterMultipleLayers(name, name, QgsProcessing.TypeRaster),
            QgsProcessingModelParameter(name),
        )
    rh = QgsProcessingModelChildAlgorithm("carbonsink:rh_pei")
    rh.setChildId("rh")
    rh.addParameterSources("TEMPERATURE", [QgsProcessingModelChildParameterSource.fromModelParameter("T")])
    rh.addParameterSources("PRECIPITATION", [QgsProcessingModelChildParameterSource.fromModelParameter("P")])
    model.addChildAlgorithm(rh)
    nep = QgsProcessingModelChildAlgorithm("carbonsink:nep")
    nep.setChildId("nep")
    nep.addParameterSources("NPP", [QgsProcessingModelChildParameterSource.fromModelParameter("NPP")])
    nep.addParameterSources("RH", [QgsProcessingModelChildParameterSource.fromChildOutput("rh", "OUTPUT")])
    out = QgsProcessingModelOutput("nep_out")
    out.setChildOutputName("OUTPUT")
    out.setChildId("nep")
    nep.setModelOutputs({"nep_out": out})
    model.addChildAlgorithm(nep)
    model.updateDestinationParameters()
    assert "nep:nep_out" in [d.name() for d in model.destinationParameterDefinitions()]

    result = processing.run(model, {"T": [t], "P": [p], "NPP": [npp], "nep:nep_out": str(tmp_path / "nep.tif")})
    with rasterio.open(result["nep:nep_out"]) as ds:
        nep_values = ds.read()
    with rasterio.open(t) as a, rasterio.open(p) as b, rasterio.open(npp) as c:
        tv, pv, nv = a.read().astype(float), b.read().astype(float), c.read().astype(float)
    rh_ref = (0.22 * (np.exp(0.0912 * tv) + np.log(0.3145 * pv + 1)) * 30 * 0.465).reshape(2, 12, 6, 7).sum(1)
    np.testing.assert_allclose(nep_values, (nv - rh_ref).astype("float32"), rtol=1e-5, atol=1e-3)
