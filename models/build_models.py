"""Build the example Processing models of the Carbon Sink Toolbox (``models/*.model3``).

Run with Debian's python3 (QGIS's)::

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 models/build_models.py [OUTDIR]     # default: models/

The models are generated, never edited by hand: this script is their source. ``test/qgis/test_models.py``
regenerates them into a temporary folder and checks that the checked-in files are identical, so they cannot drift
from this script (or from the algorithms' parameters).

One graph describes the whole study; every model is a part of it:

- ``carbon_sink_full_study.model3``: the full chain, MODIS NPP digital numbers and monthly climate in, every map,
  table and report out;
- one model per stage (``carbon_balance``, ``trend_stability``, ``climate_drivers``, ``capacity_resilience``,
  ``zones_reports``), taking as model inputs what the full chain gets from earlier stages (e.g. an annual NEP
  stack).

A model output is named after the file the study writes it to (``nep_trend_class`` -> ``nep_trend_class.tif``);
``qgis_process`` calls it ``<child id>:<output name>`` (e.g. ``--trend:nep_trend_class=out/nep_trend_class.tif``).
Every stage is a group box on the modeler canvas, and ``scripts/study_index.py`` groups the outputs of a run the
same way.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
MODEL_GROUP = "Carbon Sink Toolbox examples"
FULL_MODEL = "carbon_sink_full_study"
MANIFEST = "models.json"
PLUGIN_NAME = "carbon_sink_toolbox"
CREATOR = "Carbon Sink Toolbox"

# ------------------------------------------------------------------------------------------------- model inputs
#: name -> (kind, description, help, options). Kinds: multi (raster stack: one multiband raster or several
#: single-band rasters), raster, polygons, field, year, optional_year, enum.
INPUTS: dict[str, tuple] = {
    "NPP_MODIS": (
        "multi",
        "MODIS NPP (MOD17A3HGF Npp_500m digital numbers)",
        "Annual MODIS NPP as distributed (int16 digital numbers, 0.0001 kg C m-2, land codes above 32700): "
        "ONE multiband raster (one band per year) or the yearly files in time order.",
    ),
    "TEMPERATURE_MONTHLY": (
        "multi",
        "Monthly mean air temperature (deg C)",
        "12 bands per year, January first, for the same years as the NPP.",
    ),
    "PRECIPITATION_MONTHLY": (
        "multi",
        "Monthly precipitation (mm)",
        "12 bands per year, January first, the same months as the temperature.",
    ),
    "NPP": (
        "multi",
        "Annual NPP (g C m-2 yr-1)",
        "Decoded annual net primary productivity, one band per year (e.g. the NPP output of the carbon balance model).",
    ),
    "NEP": (
        "multi",
        "Annual NEP (g C m-2 yr-1)",
        "Annual net ecosystem productivity NEP = NPP - Rh, one band per year (e.g. the NEP output of the carbon "
        "balance model).",
    ),
    "NEP_CLASSES": (
        "multi",
        "NEP classes per year",
        "The sink/source classes of every year (e.g. the NEP classes output of the carbon balance "
        "model), with their legend.",
    ),
    "NEP_TREND_CLASS": (
        "raster",
        "NEP trend classes",
        "The trend class raster of NEP (e.g. the trend classes output of the trend and stability "
        "model), with its legend.",
    ),
    "TEMPERATURE_ANNUAL": (
        "multi",
        "Annual mean air temperature (deg C)",
        "One band per year (the mean of the 12 months), the years of the NPP: climate factor 1.",
    ),
    "PRECIPITATION_ANNUAL": (
        "multi",
        "Annual precipitation (mm)",
        "One band per year (the sum of the 12 months), the years of the NPP: climate factor 2.",
    ),
    "REGIONS": (
        "polygons",
        "Regions (polygons)",
        "Polygons of the regions (provinces, counties, ecological zones ...) for the zonal tables, class "
        "areas and the resilience per region. A pixel belongs to the region that holds its centre.",
    ),
    "REGION_FIELD": (
        "field",
        "Region name field",
        "The attribute naming each region (e.g. 'name'); empty uses the feature id.",
    ),
    "LANDCOVER_START": (
        "raster",
        "Land cover at the start",
        "A land-cover class raster of the first year (e.g. CLCD 2000) on the grid of the NPP, for "
        "the transition matrix.",
    ),
    "LANDCOVER_END": (
        "raster",
        "Land cover at the end",
        "A land-cover class raster of the last year (e.g. CLCD 2022) on the same grid.",
    ),
    "REFERENCE_YEAR": (
        "year",
        "Resilience reference year t'",
        "The year from which the NPP trends are followed for the resilience (seed 001 used 2000 for "
        "1981-2018). It must be one of the years of the NPP and not the first.",
    ),
    "NEP_CLASS_PRESET": (
        "enum",
        "NEP class preset",
        "The NEP class table: source/sink only; seed 000 (source < 0, low 0-200, medium 200-400, "
        "high >= 400 g C m-2 yr-1); seed 004 (source < 0, weak sink 0-50, strong sink >= 50).",
        [
            "Source / sink (NEP < 0 / >= 0)",
            "Seed 000: source, low, medium, high sink",
            "Seed 004: source, weak sink, strong sink",
        ],
    ),
    "FIRST_YEAR": (
        "optional_year",
        "First year (optional)",
        "The year of the first band of every series. Empty: years come from band descriptions or from "
        "4-digit years (MODIS 'A2000001') in the file names.",
    ),
}

DEFAULTS = {"REFERENCE_YEAR": 2010, "NEP_CLASS_PRESET": 1}

#: Where a stage model gets, as a model input, what the full chain passes from a child of an earlier stage.
HANDOFFS = {
    ("decode_npp", "OUTPUT"): "NPP",  # also an input of the trend and stability model (the NPP trend)
    ("nep", "OUTPUT"): "NEP",
    ("nep", "OUTPUT_CLASSES"): "NEP_CLASSES",
    ("trend", "OUTPUT_CLASS"): "NEP_TREND_CLASS",
}


# ------------------------------------------------------------------------------------------------- the graph
def inp(name: str) -> tuple:
    return ("input", name)


def out(child_id: str, output: str) -> tuple:
    return ("child", child_id, output)


@dataclass
class Child:
    child_id: str
    alg: str
    description: str
    sources: dict  # parameter -> inp(...) | out(...) | a static value
    outputs: dict  # algorithm output -> (model output name = file base name, description)


@dataclass
class Stage:
    model: str
    title: str
    short: str
    description: str
    children: list = field(default_factory=list)


STAGES = [
    Stage(
        "carbon_balance",
        "1. Carbon balance",
        "MODIS NPP and monthly climate to NPP, Rh and NEP.",
        "Decodes MODIS NPP, computes heterotrophic respiration Rh (Pei et al. 2009, monthly) and NEP = NPP - Rh "
        "with sink/source classes and a per-year table.",
        [
            Child(
                "decode_npp",
                "modis_npp",
                "Decode MODIS NPP (g C m-2 yr-1)",
                {"INPUT": inp("NPP_MODIS"), "FIRST_YEAR": inp("FIRST_YEAR")},
                {
                    "OUTPUT": ("npp", "Annual NPP (g C m-2 yr-1), one band per year"),
                    "OUTPUT_CODES": (
                        "npp_land_codes",
                        "MODIS land code that masked each pixel (barren, water, urban, ...), styled",
                    ),
                },
            ),
            Child(
                "rh_pei",
                "rh_pei",
                "Heterotrophic respiration Rh (Pei, monthly)",
                {
                    "TEMPERATURE": inp("TEMPERATURE_MONTHLY"),
                    "PRECIPITATION": inp("PRECIPITATION_MONTHLY"),
                    "FIRST_YEAR": inp("FIRST_YEAR"),
                    "TIME_STEP": 0,
                },
                {"OUTPUT": ("rh", "Annual heterotrophic respiration Rh (g C m-2 yr-1), the sum of 12 monthly values")},
            ),
            Child(
                "nep",
                "nep",
                "NEP = NPP - Rh, sink / source classes",
                {
                    "NPP": out("decode_npp", "OUTPUT"),
                    "RH": out("rh_pei", "OUTPUT"),
                    "FIRST_YEAR": inp("FIRST_YEAR"),
                    "CLASS_PRESET": inp("NEP_CLASS_PRESET"),
                },
                {
                    "OUTPUT": ("nep", "Annual NEP = NPP - Rh (g C m-2 yr-1): > 0 carbon sink, < 0 carbon source"),
                    "OUTPUT_CLASSES": ("nep_classes", "NEP classes per year (carbon source / sink), styled"),
                    "OUTPUT_MEAN": ("nep_mean", "Multi-year mean NEP (g C m-2 yr-1)"),
                    "OUTPUT_TABLE": (
                        "nep_per_year",
                        "Per year: area-weighted mean NEP, sink and source areas (km2, %), total NEP (Tg C)",
                    ),
                },
            ),
        ],
    ),
    Stage(
        "trend_stability",
        "2. Trend, stability and persistence",
        "Trend of NEP and NPP, Cv and Hurst overlay of NEP.",
        "The Sen slope and Mann-Kendall trend of NEP with the nine classes of seed 000, the least-squares trend "
        "of NPP with the six classes of seed 003, the stability of NEP "
        "(coefficient of variation, natural-breaks classes) and its persistence (Hurst exponent, blocks_alp, "
        "overlaid with the significant trends).",
        [
            Child(
                "trend",
                "trend_sen_mk",
                "Sen slope + Mann-Kendall trend of NEP",
                {
                    "INPUT": out("nep", "OUTPUT"),
                    "FIRST_YEAR": inp("FIRST_YEAR"),
                    "TEST": 0,
                    "CLASS_SCHEME": 0,
                    "ALPHA": 0.05,
                },
                {
                    "OUTPUT_SLOPE": ("nep_sen_slope", "Sen slope of NEP (g C m-2 yr-1 per year)"),
                    "OUTPUT_Z": ("nep_mk_z", "Mann-Kendall Z of NEP"),
                    "OUTPUT_P": ("nep_mk_p", "Mann-Kendall two-sided p-value"),
                    "OUTPUT_CLASS": ("nep_trend_class", "NEP trend classes (seed 000, -4..4 by |Z|), styled"),
                    "OUTPUT_CLASS_AREA": ("nep_trend_class_areas", "Area (km2) and share (%) of every trend class"),
                },
            ),
            Child(
                "npp_trend",
                "trend_ols",
                "Least-squares trend of NPP (seed 003 classes)",
                {"INPUT": out("decode_npp", "OUTPUT"), "FIRST_YEAR": inp("FIRST_YEAR")},
                {
                    "OUTPUT_SLOPE": ("npp_ols_slope", "Least-squares slope of NPP (g C m-2 yr-1 per year)"),
                    "OUTPUT_P": ("npp_ols_p", "p-value of the NPP slope (t-test)"),
                    "OUTPUT_CLASS": (
                        "npp_ols_class",
                        "NPP trend classes (seed 003: sign x p < 0.01 / < 0.05 / not significant), styled",
                    ),
                    "OUTPUT_CLASS_AREA": ("npp_ols_class_areas", "Area (km2) and share (%) of every NPP trend class"),
                },
            ),
            Child(
                "cv",
                "cv",
                "Stability of NEP (coefficient of variation)",
                {
                    "INPUT": out("nep", "OUTPUT"),
                    "FIRST_YEAR": inp("FIRST_YEAR"),
                    "DDOF": 1,
                    "N_CLASSES": 5,
                    "SAMPLE_SIZE": 20000,
                    "SEED": 0,
                },
                {
                    "OUTPUT_CV": ("nep_cv", "Coefficient of variation of NEP, Cv = s / |mean|"),
                    "OUTPUT_CLASS": (
                        "nep_cv_class",
                        "Stability classes (natural breaks of Cv, low to high fluctuation), styled",
                    ),
                    "OUTPUT_CLASS_AREA": ("nep_cv_class_areas", "Area (km2) and share (%) of every stability class"),
                },
            ),
            Child(
                "hurst",
                "hurst",
                "Persistence of NEP (Hurst) x trend",
                {
                    "INPUT": out("nep", "OUTPUT"),
                    "FIRST_YEAR": inp("FIRST_YEAR"),
                    "METHOD": 0,
                    "SLOPE": out("trend", "OUTPUT_SLOPE"),
                    "SIGNIFICANCE": out("trend", "OUTPUT_CLASS"),
                    "BEYOND_NULL": False,
                },
                {
                    "OUTPUT_H": ("nep_hurst", "Hurst exponent H of NEP (R/S, blocks_alp): > 0.5 persistent"),
                    "OUTPUT_CLASS": (
                        "nep_persistence_class",
                        "Future of the significant NEP trends (trend x Hurst overlay), styled",
                    ),
                    "OUTPUT_FLAG": (
                        "nep_hurst_vs_white_noise",
                        "H below (-1) / within (0) / above (+1) the white-noise 5-95% range, styled",
                    ),
                    "OUTPUT_NULL": ("hurst_white_noise_null", "The white-noise quantiles of H used"),
                    "OUTPUT_CLASS_AREA": (
                        "nep_persistence_class_areas",
                        "Area (km2) and share (%) of every persistence class",
                    ),
                },
            ),
        ],
    ),
    Stage(
        "climate_drivers",
        "3. Climate drivers",
        "Partial correlation, dominant factor and attribution of NEP.",
        "Partial correlation of NEP with annual temperature and precipitation (Pearson), the dominant factor, "
        "and the split of the NEP trend into climate and other contributions (seed 002).",
        [
            Child(
                "partial_correlation",
                "partial_correlation",
                "Partial correlation of NEP with climate",
                {
                    "INPUT": out("nep", "OUTPUT"),
                    "FACTOR_1": inp("TEMPERATURE_ANNUAL"),
                    "FACTOR_2": inp("PRECIPITATION_ANNUAL"),
                    "FACTOR_NAMES": "Temperature,Precipitation",
                    "FIRST_YEAR": inp("FIRST_YEAR"),
                    "METHOD": 0,
                    "ALPHA": 0.05,
                },
                {
                    "OUTPUT_R": (
                        "nep_partial_r",
                        "Partial r of NEP with temperature (band 1) and precipitation (band 2)",
                    ),
                    "OUTPUT_P": ("nep_partial_p", "p-values of the partial correlations"),
                    "OUTPUT_CLASS": (
                        "nep_partial_class",
                        "Significant / not significant, positive / negative correlation per factor, styled",
                    ),
                    "OUTPUT_DOMINANT": ("nep_dominant_factor", "Dominant climate factor (largest |partial r|), styled"),
                    "OUTPUT_DOMINANT_AREA": (
                        "nep_dominant_factor_areas",
                        "Area (km2) and share (%) dominated by each factor",
                    ),
                },
            ),
            Child(
                "attribution",
                "attribution",
                "Climate vs other contributions to the NEP trend",
                {
                    "INPUT": out("nep", "OUTPUT"),
                    "FACTOR_1": inp("TEMPERATURE_ANNUAL"),
                    "FACTOR_2": inp("PRECIPITATION_ANNUAL"),
                    "FACTOR_NAMES": "Temperature,Precipitation",
                    "FIRST_YEAR": inp("FIRST_YEAR"),
                },
                {
                    "OUTPUT_CONTRIBUTIONS": (
                        "nep_trend_contributions",
                        "Contributions to the NEP trend "
                        "(g C m-2 yr-1 per year): temperature, "
                        "precipitation, climate, residual, "
                        "observed",
                    ),
                    "OUTPUT_CLASS": ("nep_attribution_class", "What drives the NEP trend (seed 002 Table 2), styled"),
                    "OUTPUT_CLIMATE_SHARE": (
                        "nep_climate_share",
                        "Relative contribution of climate to the NEP trend (%)",
                    ),
                    "OUTPUT_CLASS_AREA": (
                        "nep_attribution_class_areas",
                        "Area (km2) and share (%) of every attribution class",
                    ),
                },
            ),
        ],
    ),
    Stage(
        "capacity_resilience",
        "4. Carrying capacity and resilience",
        "Carbon sink carrying capacity and resilience of NPP.",
        "The carbon sink carrying capacity (maximum NPP, year of maximum, increase potential, saturation) and "
        "the resilience of the NPP trends from the reference year (probability attenuation, seed 001), for the "
        "whole area and per region.",
        [
            Child(
                "cscc",
                "cscc",
                "Carbon sink carrying capacity (NPP)",
                {"INPUT": out("decode_npp", "OUTPUT"), "FIRST_YEAR": inp("FIRST_YEAR")},
                {
                    "OUTPUT_MAX": ("cscc", "Carbon sink carrying capacity CSCC = maximum NPP (g C m-2 yr-1)"),
                    "OUTPUT_YEAR_OF_MAX": ("cscc_year_of_max", "Year the maximum NPP was reached"),
                    "OUTPUT_POTENTIAL": ("npp_potential", "Increase potential CSCC - NPP per year (g C m-2 yr-1)"),
                    "OUTPUT_SATURATION": ("npp_saturation", "Saturation 100 x NPP / CSCC per year (%)"),
                    "OUTPUT_TABLE": ("cscc_per_year", "Per year: total NPP, CSCC and potential (Tg C), saturation (%)"),
                },
            ),
            Child(
                "resilience",
                "resilience",
                "Resilience of the NPP trends",
                {
                    "INPUT": out("decode_npp", "OUTPUT"),
                    "FIRST_YEAR": inp("FIRST_YEAR"),
                    "REFERENCE_YEAR": inp("REFERENCE_YEAR"),
                    "FIX_LAMBDA": False,
                    "ZONES": inp("REGIONS"),
                    "ZONE_FIELD": inp("REGION_FIELD"),
                },
                {
                    "OUTPUT_TABLE": (
                        "resilience_counts",
                        "Per region and year: pixels keeping their positive / "
                        "negative trend (N+, N-) and q = N(t) / N(t')",
                    ),
                    "OUTPUT_FIT": (
                        "resilience_fit",
                        "Per region: decay times tau+ and tau-, RS = tau+ - tau-, fit R2 and resilience level",
                    ),
                    "OUTPUT_POSITIVE_YEARS": (
                        "resilience_positive_years",
                        "Years each pixel kept its positive NPP trend",
                    ),
                    "OUTPUT_NEGATIVE_YEARS": (
                        "resilience_negative_years",
                        "Years each pixel kept its negative NPP trend",
                    ),
                    "OUTPUT_REPORT": ("resilience_report", "Report: fit table and decay curves per region"),
                },
            ),
        ],
    ),
    Stage(
        "zones_reports",
        "5. Zones and reports",
        "Zonal tables, class areas and land-cover transitions.",
        "Per region: NEP statistics and trends per year, the areas of the NEP trend classes and of the "
        "sink/source classes of every year; the land-cover transition matrix. Every table comes with an HTML "
        "report.",
        [
            Child(
                "nep_by_region",
                "zonal_statistics",
                "NEP statistics per region",
                {
                    "INPUT": out("nep", "OUTPUT"),
                    "FIRST_YEAR": inp("FIRST_YEAR"),
                    "ZONES": inp("REGIONS"),
                    "ZONE_FIELD": inp("REGION_FIELD"),
                    "INCLUDE_ALL": True,
                    "TEST": 0,
                },
                {
                    "OUTPUT_TABLE": (
                        "nep_by_region",
                        "Per region and year: valid area, area-weighted mean, std, min, max NEP and total NEP (Tg C)",
                    ),
                    "OUTPUT_TREND": (
                        "nep_trend_by_region",
                        "Per region: Sen slope, Mann-Kendall Z and p, least-squares slope and p of the mean NEP",
                    ),
                    "OUTPUT_REPORT": ("nep_by_region_report", "Report: mean NEP series and trend lines per region"),
                },
            ),
            Child(
                "trend_class_by_region",
                "class_area",
                "NEP trend class areas per region",
                {
                    "INPUT": out("trend", "OUTPUT_CLASS"),
                    "ZONES": inp("REGIONS"),
                    "ZONE_FIELD": inp("REGION_FIELD"),
                    "INCLUDE_ALL": True,
                },
                {
                    "OUTPUT_TABLE": (
                        "nep_trend_class_by_region",
                        "Per region: area (km2) and share (%) of every NEP trend class",
                    ),
                    "OUTPUT_REPORT": ("nep_trend_class_by_region_report", "Report: trend class shares per region"),
                },
            ),
            Child(
                "nep_class_by_region",
                "class_area",
                "NEP class areas per region and year",
                {
                    "INPUT": out("nep", "OUTPUT_CLASSES"),
                    "FIRST_YEAR": inp("FIRST_YEAR"),
                    "ZONES": inp("REGIONS"),
                    "ZONE_FIELD": inp("REGION_FIELD"),
                    "INCLUDE_ALL": True,
                },
                {
                    "OUTPUT_TABLE": (
                        "nep_class_by_region",
                        "Per region and year: area (km2) and share (%) of every NEP class (carbon source / sink)",
                    ),
                    "OUTPUT_REPORT": ("nep_class_by_region_report", "Report: NEP class shares per region and year"),
                },
            ),
            Child(
                "landcover_transitions",
                "transition_matrix",
                "Land-cover transitions",
                {"FROM": inp("LANDCOVER_START"), "TO": inp("LANDCOVER_END")},
                {
                    "OUTPUT_TABLE": (
                        "landcover_transitions",
                        "Land-cover transition matrix: area (km2) from each class to each class",
                    ),
                    "OUTPUT_REPORT": ("landcover_transitions_report", "Report: transition matrix and flow chart"),
                },
            ),
        ],
    ),
]

USAGE = (
    " Command line: qgis_process.bin run models/{file} -- NAME=value ... child:output=path (a list repeats the "
    "argument; every output the model always writes must be named, TEMPORARY_OUTPUT allowed); "
    "qgis_process.bin help models/{file} lists the names. Generated by models/build_models.py (Carbon Sink "
    "Toolbox): edit that script rather than the file."
)
FULL_SHORT = "The whole carbon-sink study: MODIS NPP and climate in, every map, table and report out."
FULL_DESCRIPTION = (
    "The whole carbon-sink study of the Carbon Sink Toolbox in one run: MODIS NPP digital numbers and monthly "
    "climate in; NPP, Rh and NEP with sink/source classes; the Sen + Mann-Kendall trend, stability (Cv) and "
    "persistence (Hurst overlay) of NEP; its partial correlation with temperature and precipitation, dominant "
    "factor and climate contribution; the carbon sink carrying capacity and the resilience of the NPP trends; "
    "zonal tables, class areas and land-cover transitions per region, with HTML reports."
)


# ---------------------------------------------------------------------------------------------------- layout
INPUT_X = 140.0  # centre of the model inputs' column
INPUT_ROW = 75.0
COLUMN_X0 = 520.0  # centre of the first stage's algorithms
COLUMN_STEP = 680.0
OUTPUT_DX = 300.0  # from an algorithm to its outputs
ROW = 40.0  # between two outputs of one algorithm
CHILD_GAP = 60.0  # between the last output of an algorithm and the first of the next
TOP = 110.0
#: component sizes (width, height): wide enough for the descriptions (two lines) and output names
INPUT_SIZE = (240.0, 44.0)
CHILD_SIZE = (250.0, 50.0)
OUTPUT_SIZE = (270.0, 30.0)
MARGIN = 25.0  # between a group box and what it holds


def _layout(stages):
    """Centres of the children and outputs, and (centre, size) of the group boxes: one column per stage, left to
    right, each algorithm with its outputs stacked to its right."""
    children, outputs, boxes = {}, {}, []
    for column, stage in enumerate(stages):
        x = COLUMN_X0 + column * COLUMN_STEP
        y = TOP
        for child in stage.children:
            height = (max(1, len(child.outputs)) - 1) * ROW
            children[child.child_id] = (x, y + height / 2)
            for k, (name, _) in enumerate(child.outputs.values()):
                outputs[name] = (x + OUTPUT_DX, y + k * ROW)
            y += height + CHILD_GAP + OUTPUT_SIZE[1]
        left = x - CHILD_SIZE[0] / 2 - MARGIN
        right = x + OUTPUT_DX + OUTPUT_SIZE[0] / 2 + MARGIN
        top = TOP - OUTPUT_SIZE[1] / 2 - MARGIN - 30  # room for the title
        bottom = y - CHILD_GAP - OUTPUT_SIZE[1] / 2 + MARGIN + 10  # and for the child's "Out" links
        boxes.append((stage, ((left + right) / 2, (top + bottom) / 2), (right - left, bottom - top)))
    return children, outputs, boxes


# ----------------------------------------------------------------------------------------------- the models
def _parameter(name: str):
    from qgis.core import (
        QgsProcessing,
        QgsProcessingParameterDefinition,
        QgsProcessingParameterEnum,
        QgsProcessingParameterFeatureSource,
        QgsProcessingParameterField,
        QgsProcessingParameterMultipleLayers,
        QgsProcessingParameterNumber,
        QgsProcessingParameterRasterLayer,
    )

    kind, description, help_text, *rest = INPUTS[name]
    if kind == "multi":
        param = QgsProcessingParameterMultipleLayers(name, description, QgsProcessing.TypeRaster)
        if "ONE multiband" not in help_text:
            help_text += " Give ONE multiband raster (one band per time step) or SEVERAL single-band rasters."
    elif kind == "raster":
        param = QgsProcessingParameterRasterLayer(name, description)
    elif kind == "polygons":
        param = QgsProcessingParameterFeatureSource(name, description, [QgsProcessing.TypeVectorPolygon])
    elif kind == "field":
        param = QgsProcessingParameterField(name, description, parentLayerParameterName="REGIONS", optional=True)
    elif kind in ("year", "optional_year"):
        param = QgsProcessingParameterNumber(
            name,
            description,
            QgsProcessingParameterNumber.Integer,
            defaultValue=DEFAULTS.get(name),
            optional=kind == "optional_year",
            minValue=1000,
            maxValue=3000,
        )
    elif kind == "enum":
        param = QgsProcessingParameterEnum(name, description, rest[0], defaultValue=DEFAULTS.get(name))
    else:
        raise ValueError(kind)
    param.setHelp(help_text)
    if name == "FIRST_YEAR":
        param.setFlags(param.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
    return param


def _used_inputs(children) -> list[str]:
    ids = {c.child_id for c in children}
    used = set()
    for child in children:
        for source in child.sources.values():
            if isinstance(source, tuple) and source[0] == "input":
                used.add(source[1])
            elif isinstance(source, tuple) and source[0] == "child" and source[1] not in ids:
                used.add(HANDOFFS[source[1:]])
    if "REGION_FIELD" in used:
        used.add("REGIONS")
    return [name for name in INPUTS if name in used]  # INPUTS's order: the dialog's order


def _group_box(model_name: str, stage: Stage, position, size):
    from qgis.core import QgsProcessingModelGroupBox
    from qgis.PyQt.QtCore import QPointF, QSizeF

    box = QgsProcessingModelGroupBox(stage.title)
    box.setPosition(QPointF(*position))
    box.setSize(QSizeF(*size))
    variant = box.toVariant()
    # a fixed uuid (QGIS draws a random one): the same script gives the same file
    variant["uuid"] = "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"carbonsink/{model_name}/{stage.model}")) + "}"
    box.loadVariant(variant)
    return box


def build_model(name: str, title: str, short: str, description: str, stages: list):
    """A QgsProcessingModelAlgorithm for ``stages`` (their children; sources outside become model inputs)."""
    from qgis.core import (
        QgsProcessing,
        QgsProcessingModelAlgorithm,
        QgsProcessingModelChildAlgorithm,
        QgsProcessingModelChildParameterSource,
        QgsProcessingModelOutput,
        QgsProcessingModelParameter,
        QgsProcessingParameterDefinition,
    )
    from qgis.PyQt.QtCore import QPointF, QSizeF

    children = [c for s in stages for c in s.children]
    ids = {c.child_id for c in children}
    model = QgsProcessingModelAlgorithm(title, MODEL_GROUP)
    model.setName(title)

    inputs = _used_inputs(children)
    help_content = {
        "ALG_DESC": description + USAGE.format(file=f"{name}.model3"),
        "SHORT_DESCRIPTION": short,
        "ALG_CREATOR": CREATOR,
        "ALG_HELP_CREATOR": CREATOR,
    }
    for row, input_name in enumerate(inputs):
        param = _parameter(input_name)
        component = QgsProcessingModelParameter(input_name)
        component.setPosition(QPointF(INPUT_X, TOP + row * INPUT_ROW))
        component.setSize(QSizeF(*INPUT_SIZE))
        component.setDescription(param.description())
        model.addModelParameter(param, component)
        help_content[input_name] = param.help()
    model.setParameterOrder(inputs)

    child_pos, output_pos, boxes = _layout(stages)
    for child in children:
        component = QgsProcessingModelChildAlgorithm(f"carbonsink:{child.alg}")
        component.setChildId(child.child_id)
        component.setDescription(child.description)
        component.setPosition(QPointF(*child_pos[child.child_id]))
        component.setSize(QSizeF(*CHILD_SIZE))
        for param, source in child.sources.items():
            if isinstance(source, tuple) and source[0] == "input":
                sources = [QgsProcessingModelChildParameterSource.fromModelParameter(source[1])]
            elif isinstance(source, tuple) and source[0] == "child":
                if source[1] in ids:
                    sources = [QgsProcessingModelChildParameterSource.fromChildOutput(source[1], source[2])]
                else:
                    sources = [QgsProcessingModelChildParameterSource.fromModelParameter(HANDOFFS[source[1:]])]
            else:
                sources = [QgsProcessingModelChildParameterSource.fromStaticValue(source)]
            component.addParameterSources(param, sources)
        for param in component.algorithm().parameterDefinitions():
            # as the modeler does: every mandatory parameter gets a value, the algorithm's default
            optional = param.flags() & QgsProcessingParameterDefinition.FlagOptional
            if not param.isDestination() and not optional and param.name() not in child.sources:
                component.addParameterSources(
                    param.name(), [QgsProcessingModelChildParameterSource.fromStaticValue(param.defaultValue())]
                )
        model_outputs = {}
        for alg_output, (out_name, out_description) in child.outputs.items():
            output = QgsProcessingModelOutput(out_name, out_description)
            output.setChildId(child.child_id)
            output.setChildOutputName(alg_output)
            output.setPosition(QPointF(*output_pos[out_name]))
            output.setSize(QSizeF(*OUTPUT_SIZE))
            definition = component.algorithm().parameterDefinition(alg_output)
            if not definition.flags() & QgsProcessingParameterDefinition.FlagOptional:
                # an output the algorithm always writes: a temporary file unless the user names one (QGIS 3.22's
                # qgis_process still wants every such output named; TEMPORARY_OUTPUT is a valid value there)
                output.setDefaultValue(QgsProcessing.TEMPORARY_OUTPUT)
            model_outputs[out_name] = output
        component.setModelOutputs(model_outputs)
        model.addChildAlgorithm(component)
    for stage, position, size in boxes:
        model.addGroupBox(_group_box(name, stage, position, size))
    model.updateDestinationParameters()
    model.setHelpContent(help_content)
    return model


def all_models() -> dict:
    """``{file base name: model}`` for the full study and every stage."""
    models = {FULL_MODEL: build_model(FULL_MODEL, "Carbon sink full study", FULL_SHORT, FULL_DESCRIPTION, STAGES)}
    for stage in STAGES:
        title = "Carbon sink study - " + stage.title.split(". ", 1)[1].lower()
        models[stage.model] = build_model(stage.model, title, stage.short, stage.description, [stage])
    return models


def check(model) -> list[str]:
    """Problems QGIS finds in the model (every child's algorithm found and its parameters satisfied)."""
    ok, issues = model.validate()
    problems = [] if ok else list(issues)
    for child_id in model.childAlgorithms():
        ok, issues = model.validateChildAlgorithm(child_id)
        if not ok:
            problems += [f"{child_id}: {issue}" for issue in issues]
    return problems


_OPTION = re.compile(r'^(\s*)<Option((?:\s+\w+="[^"]*")*)\s*(/?)>$')
_ATTRIBUTE = re.compile(r'(\w+)="([^"]*)"')
_ORDER = {"name": 0, "type": 1, "value": 2}


def canonical(text: str) -> str:
    """The model file with every element's attributes in one order (name, type, value).

    Qt 5 writes XML attributes in hash order, which changes from run to run unless QT_HASH_SEED is fixed.
    """
    lines = []
    for line in text.splitlines():
        match = _OPTION.match(line)
        if match:
            indent, attributes, close = match.groups()
            pairs = sorted(_ATTRIBUTE.findall(attributes), key=lambda kv: (_ORDER.get(kv[0], 9), kv[0]))
            line = indent + "<Option" + "".join(f' {k}="{v}"' for k, v in pairs) + close + ">"
        lines.append(line)
    return "\n".join(lines) + "\n"


EXTENSIONS = {"rasterDestination": ("map", ".tif"), "sink": ("table", ".csv"), "fileDestination": ("report", ".html")}


def manifest(models: dict) -> dict:
    """What ``scripts/run_sample.sh`` and ``scripts/study_index.py`` need to know about each model without QGIS:
    its inputs and, for every output, the ``qgis_process`` parameter, the file name, kind, stage and description."""
    stage_of = {c.child_id: s for s in STAGES for c in s.children}
    result = {}
    for file_name, model in models.items():
        destinations = {d.name(): d for d in model.destinationParameterDefinitions()}
        outputs = []
        for child in (c for s in STAGES for c in s.children if c.child_id in model.childAlgorithms()):
            for alg_output, (out_name, description) in child.outputs.items():
                parameter = f"{child.child_id}:{out_name}"
                kind, extension = EXTENSIONS[destinations.pop(parameter).type()]
                outputs.append(
                    {
                        "parameter": parameter,
                        "file": out_name + extension,
                        "kind": kind,
                        "stage": stage_of[child.child_id].title,
                        "algorithm": f"carbonsink:{child.alg}",
                        "algorithm_output": alg_output,
                        "description": description,
                    }
                )
        assert not destinations, f"outputs missing from the manifest: {sorted(destinations)}"
        inputs = [
            {
                "name": p.name(),
                "type": p.type(),
                "description": p.description(),
                "optional": bool(p.flags() & p.FlagOptional),
            }
            for p in model.parameterDefinitions()
            if not p.isDestination()
        ]
        stages = [
            {"title": s.title, "description": s.description}
            for s in STAGES
            if any(c.child_id in model.childAlgorithms() for c in s.children)
        ]
        result[file_name] = {
            "file": f"{file_name}.model3",
            "name": model.name(),
            "description": model.shortDescription(),
            "stages": stages,
            "inputs": inputs,
            "outputs": outputs,
        }
    return result


def write_models(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    models = all_models()
    for file_name, model in models.items():
        problems = check(model)
        if problems:
            raise SystemExit(f"{file_name}: " + "; ".join(problems))
        path = folder / f"{file_name}.model3"
        if not model.toFile(str(path)):
            raise SystemExit(f"could not write {path}")
        path.write_text(canonical(path.read_text(encoding="utf-8")), encoding="utf-8")
        written.append(path)
    path = folder / MANIFEST
    path.write_text(json.dumps(manifest(models), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    written.append(path)
    return written


def _temporary_folder(prefix: str) -> str:
    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, True)
    return path


def load_provider():
    """A headless QGIS with the plugin loaded under its installed name (as QGIS loads it)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if "QGIS_CUSTOM_CONFIG_PATH" not in os.environ:
        os.environ["QGIS_CUSTOM_CONFIG_PATH"] = _temporary_folder("csink_models_")
    from qgis.core import QgsApplication

    QgsApplication.setPrefixPath("/usr", True)
    app = QgsApplication([], False)
    app.initQgis()
    plugins = Path(_temporary_folder("csink_plugin_"))
    (plugins / PLUGIN_NAME).symlink_to(ROOT, target_is_directory=True)
    sys.path.insert(0, str(plugins))
    package = __import__(PLUGIN_NAME)
    plugin = package.classFactory(None)
    plugin.initProcessing()
    return app, plugin


def main(argv: list[str]) -> None:
    folder = Path(argv[1]) if len(argv) > 1 else MODELS
    os.environ["QT_HASH_SEED"] = "0"  # before Qt starts: stable XML attribute order (canonical() also fixes it)
    _app, plugin = load_provider()
    for path in write_models(folder):
        print(path)
    plugin.unload()


if __name__ == "__main__":
    main(sys.argv)
