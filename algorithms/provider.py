"""The ``carbonsink`` Processing provider."""

from __future__ import annotations

import importlib
import os

from qgis.core import Qgis, QgsMessageLog, QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .base import ICONS

#: (module, class) of every algorithm, in catalog order (ALGORITHMS.md).
ALGORITHMS = [
    ("modis_npp", "ModisNppAlgorithm"),
    ("rh_pei", "RhPeiAlgorithm"),
    ("rh_gsmsr", "RhGsmsrAlgorithm"),
    ("nep", "NepAlgorithm"),
    ("trend_sen_mk", "TrendSenMkAlgorithm"),
    ("trend_ols", "TrendOlsAlgorithm"),
    ("cv", "CvAlgorithm"),
    ("hurst", "HurstAlgorithm"),
    ("partial_correlation", "PartialCorrelationAlgorithm"),
    ("attribution", "AttributionAlgorithm"),
    ("cscc", "CsccAlgorithm"),
    ("resilience", "ResilienceAlgorithm"),
    ("zonal_statistics", "ZonalStatisticsAlgorithm"),
    ("class_area", "ClassAreaAlgorithm"),
    ("transition_matrix", "TransitionMatrixAlgorithm"),
]


def _version() -> str:
    path = os.path.join(os.path.dirname(os.path.dirname(__file__)), "metadata.txt")
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("version="):
                return line.split("=", 1)[1].strip()
    return ""


class CarbonSinkProvider(QgsProcessingProvider):
    def id(self):
        return "carbonsink"

    def name(self):
        return "Carbon Sink Toolbox"

    def longName(self):  # noqa: N802 (QGIS's name)
        return f"Carbon Sink Toolbox {_version()}"

    def icon(self):
        return QIcon(os.path.join(ICONS, "provider.svg"))

    def svgIconPath(self):  # noqa: N802 (QGIS's name)
        return os.path.join(ICONS, "provider.svg")

    def versionInfo(self):  # noqa: N802 (QGIS's name)
        return _version()

    def supportedOutputRasterLayerExtensions(self):  # noqa: N802 (QGIS's name)
        return ["tif"]

    def defaultRasterFileExtension(self):  # noqa: N802 (QGIS's name)
        return "tif"

    def loadAlgorithms(self):  # noqa: N802 (QGIS's name)
        for module_name, class_name in ALGORITHMS:
            try:
                module = importlib.import_module(f".{module_name}", __package__)
                self.addAlgorithm(getattr(module, class_name)())
            except Exception as exc:  # one broken algorithm must not hide the others
                QgsMessageLog.logMessage(
                    f"Could not load algorithm {module_name}: {exc!r}", "Carbon Sink Toolbox", Qgis.Critical
                )
