"""What every Carbon Sink Toolbox algorithm shares: parameters, feedback and cancel wiring, error mapping,
sidecar ``.qml`` styles for class rasters, and table (feature sink) output.

Algorithms import ``core`` inside :meth:`CarbonSinkAlgorithm.run_algorithm` only, so the provider still loads when
a Python dependency is missing; :meth:`canExecute` then says in plain words what to install.
"""

from __future__ import annotations

import importlib
import math
import os
from typing import Any, Iterable, Sequence
from xml.sax.saxutils import quoteattr

from qgis.core import (
    Qgis,
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

ICONS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "icons")

GROUPS = {
    "carbon_balance": "Carbon balance",
    "trend": "Trend",
    "stability": "Stability and persistence",
    "drivers": "Climate drivers",
    "capacity": "Carrying capacity and resilience",
    "zones": "Zones and reports",
}

#: Python packages the core needs, with what to tell a user who lacks one.
DEPENDENCIES = {
    "numpy": "numpy",
    "scipy": "scipy",
    "rasterio": "rasterio",
}

INSTALL_HINT = (
    "Install the missing package(s) into the Python that QGIS uses: on Debian/Ubuntu "
    "'sudo apt install {debian}'; on Windows open the OSGeo4W Shell and run "
    "'python -m pip install {pip}'; on macOS run QGIS's own python3 with '-m pip install {pip}'. Then restart QGIS."
)

CLASS_AREA_COLUMNS = [("class", "int"), ("label", "string"), ("area_km2", "double"), ("share_pct", "double")]

MIN_VALID = "MIN_VALID"
MEMORY_MB = "MEMORY_MB"
THREADS = "THREADS"
FIRST_YEAR = "FIRST_YEAR"


def tr(text: str) -> str:
    return QCoreApplication.translate("CarbonSinkToolbox", text)


def _field_type(kind: str):
    """QGIS field types across versions (QVariant before 3.38, QMetaType after)."""
    if Qgis.QGIS_VERSION_INT >= 33800:
        from qgis.PyQt.QtCore import QMetaType

        return {"int": QMetaType.Type.Int, "double": QMetaType.Type.Double, "string": QMetaType.Type.QString}[kind]
    from qgis.PyQt.QtCore import QVariant

    return {"int": QVariant.Int, "double": QVariant.Double, "string": QVariant.String}[kind]


class Feedback:
    """Adapts ``QgsProcessingFeedback`` to the core's callbacks, over a sub-range of the progress bar."""

    def __init__(self, feedback, start: float = 0.0, span: float = 100.0):
        self.feedback = feedback
        self.start = start
        self.span = span

    def progress(self, fraction: float) -> None:
        self.feedback.setProgress(self.start + self.span * min(1.0, max(0.0, fraction)))

    def cancelled(self) -> bool:
        return self.feedback.isCanceled()

    def step(self, index: int, count: int) -> Feedback:
        """The sub-range for step ``index`` of ``count`` equal steps."""
        span = self.span / count
        return Feedback(self.feedback, self.start + index * span, span)

    def info(self, message: str) -> None:
        self.feedback.pushInfo(message)

    def warn(self, message: str) -> None:
        if hasattr(self.feedback, "pushWarning"):
            self.feedback.pushWarning(message)
        else:  # QGIS < 3.20
            self.feedback.reportError(message, False)


class StylePostProcessor(QgsProcessingLayerPostProcessorInterface):
    """Applies the sidecar ``.qml`` when QGIS loads an output layer at the end of a run (GUI, modeler)."""

    _keep: list = []  # QGIS does not own the post-processors: keep them alive

    def __init__(self, qml_path: str):
        super().__init__()
        self.qml_path = qml_path

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 (QGIS's name)
        if layer is not None and os.path.exists(self.qml_path):
            layer.loadNamedStyle(self.qml_path)
            layer.triggerRepaint()

    @classmethod
    def create(cls, qml_path: str) -> StylePostProcessor:
        processor = cls(qml_path)
        cls._keep.append(processor)
        return processor


def qml_for_classes(scheme, band: int = 1) -> str:
    """A QGIS style (paletted renderer) giving every class its label and color."""
    entries = "\n".join(
        f'        <paletteEntry value={quoteattr(str(code))} color={quoteattr(color)} alpha="255" '
        f"label={quoteattr(label)}/>"
        for code, label, color in zip(scheme.codes, scheme.labels, scheme.colors)
    )
    return f"""<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="{Qgis.QGIS_VERSION}" styleCategories="Symbology">
  <pipe>
    <rasterrenderer type="paletted" band="{band}" opacity="1" alphaBand="-1" nodataColor="">
      <rasterTransparency/>
      <colorPalette>
{entries}
      </colorPalette>
      <colorramp type="randomcolors" name="[source]"/>
    </rasterrenderer>
    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>
    <huesaturation saturation="0" grayscaleMode="0" colorizeOn="0" colorizeRed="255" colorizeGreen="128"
                   colorizeBlue="128" colorizeStrength="100" invertColors="0"/>
    <rasterresampler maxOversampling="2"/>
  </pipe>
  <blendMode>0</blendMode>
</qgis>
"""


def write_qml(raster_path: str, scheme) -> str:
    """Write ``<raster base name>.qml`` next to the raster (atomically); return its path."""
    qml_path = os.path.splitext(raster_path)[0] + ".qml"
    temp = qml_path + ".part"
    with open(temp, "w", encoding="utf-8") as f:
        f.write(qml_for_classes(scheme))
    os.replace(temp, qml_path)
    return qml_path


class CarbonSinkAlgorithm(QgsProcessingAlgorithm):
    """Base class: subclasses set ``ALG_ID``, ``DISPLAY_NAME``, ``GROUP``, ``HELP`` and implement
    ``initAlgorithm`` and ``run_algorithm(parameters, context, feedback: Feedback) -> dict``."""

    ALG_ID = ""
    DISPLAY_NAME = ""
    GROUP = ""
    HELP = ""
    #: extra Python modules this algorithm needs beyond DEPENDENCIES: {module: pip name}
    REQUIRES: dict[str, str] = {}

    # --- QGIS identity -------------------------------------------------------------------------------------
    def name(self):
        return self.ALG_ID

    def displayName(self):  # noqa: N802 (QGIS's name)
        return tr(self.DISPLAY_NAME)

    def group(self):
        return tr(GROUPS[self.GROUP])

    def groupId(self):  # noqa: N802 (QGIS's name)
        return self.GROUP

    def icon(self):
        return QIcon(os.path.join(ICONS, f"{self.GROUP}.svg"))

    def help_html(self) -> str:
        """The help as written (HTML); subclasses that fill in shared paragraphs override this."""
        return self.HELP

    def shortHelpString(self):  # noqa: N802 (QGIS's name)
        # QGIS's help panel turns every newline into a paragraph break: give it one line per paragraph
        return tr(" ".join(self.help_html().split()))

    def createInstance(self):  # noqa: N802 (QGIS's name)
        return type(self)()

    # --- dependencies ----------------------------------------------------------------------------------------
    @classmethod
    def missing_dependencies(cls) -> list[str]:
        missing = []
        for module, pip_name in {**DEPENDENCIES, **cls.REQUIRES}.items():
            try:
                importlib.import_module(module)
            except ImportError:
                missing.append(pip_name)
        return missing

    def canExecute(self):  # noqa: N802 (QGIS's name)
        missing = self.missing_dependencies()
        if missing:
            return False, (
                f"The Carbon Sink Toolbox needs the Python package(s) {', '.join(missing)}, which QGIS cannot "
                "import. "
                + INSTALL_HINT.format(pip=" ".join(missing), debian=" ".join(f"python3-{m}" for m in missing))
            )
        return True, ""

    # --- parameter helpers -----------------------------------------------------------------------------------
    def add(self, param, help_text: str, advanced: bool = False):
        """Add a parameter with its help (every parameter has one), optionally in the advanced section."""
        param.setHelp(tr(help_text))
        if advanced:
            param.setFlags(param.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(param)
        return param

    def add_series(self, name: str, description: str, help_text: str, optional: bool = False):
        self.add(
            QgsProcessingParameterMultipleLayers(name, tr(description), QgsProcessing.TypeRaster, optional=optional),
            help_text
            + " Give ONE multiband raster (one band per time step) or SEVERAL single-band rasters (one per time "
            "step, in time order).",
        )

    def add_first_year(self):
        self.add(
            QgsProcessingParameterNumber(
                FIRST_YEAR,
                tr("First year"),
                QgsProcessingParameterNumber.Integer,
                optional=True,
                minValue=1000,
                maxValue=3000,
            ),
            "The year of the first band. When empty, years are read from the band descriptions (e.g. '2000') or "
            "from 4-digit years in the file names (e.g. 'npp_2000.tif', MODIS 'A2000001'); if neither gives them "
            "the algorithm stops and asks for this parameter.",
        )

    def add_min_valid(self, help_text: str = "", description: str = "Minimum valid years (0 = all years)"):
        """The advanced MIN_VALID parameter (0 = every year must be valid, so results match the papers)."""
        self.add(
            QgsProcessingParameterNumber(MIN_VALID, tr(description), QgsProcessingParameterNumber.Integer,
                                         defaultValue=0, minValue=0),
            help_text or "Pixels with fewer valid years are nodata. 0 (default) requires every year, as the papers do.",
            advanced=True,
        )

    def add_raster_output(self, name: str, description: str, help_text: str, optional: bool = False):
        self.add(
            QgsProcessingParameterRasterDestination(
                name, tr(description), optional=optional, createByDefault=not optional
            ),
            help_text,
        )

    def add_table_output(self, name: str, description: str, help_text: str, optional: bool = True,
                         create_by_default: bool = False):
        """A table (feature sink without geometry). ``create_by_default``: the dialog and the modeler create it
        (a temporary table unless a file is chosen) while it stays optional, so ``qgis_process`` writes it only
        when asked."""
        self.add(
            QgsProcessingParameterFeatureSink(
                name, tr(description), QgsProcessing.TypeVector, optional=optional,
                createByDefault=create_by_default or not optional,
            ),
            help_text + " A table without geometry: save it as CSV, GeoPackage or any table format.",
        )

    def add_enum(
        self, name: str, description: str, options: Sequence[str], default: int, help_text: str, advanced: bool = False
    ):
        self.add(
            QgsProcessingParameterEnum(name, tr(description), [tr(o) for o in options], defaultValue=default),
            help_text,
            advanced,
        )

    def add_engine_parameters(self):
        self.add(
            QgsProcessingParameterNumber(
                MEMORY_MB,
                tr("Memory budget (MB)"),
                QgsProcessingParameterNumber.Integer,
                defaultValue=256,
                minValue=16,
                maxValue=1024 * 1024,
            ),
            "Memory for the blocks of data in flight at once, in megabytes. Larger blocks are slightly faster; "
            "the run never holds more than about this much raster data whatever the raster size. GDAL's own "
            "block cache (GDAL_CACHEMAX, by default 5% of the RAM, shared by all of QGIS) comes on top.",
            advanced=True,
        )
        self.add(
            QgsProcessingParameterNumber(
                THREADS,
                tr("Worker threads (0 = all processors)"),
                QgsProcessingParameterNumber.Integer,
                defaultValue=0,
                minValue=0,
                maxValue=256,
            ),
            "How many blocks are processed at once. 0 uses one thread per processor. Results do not depend on it.",
            advanced=True,
        )

    # --- run helpers ------------------------------------------------------------------------------------------
    def layer_paths(self, parameters, name: str, context) -> list[str]:
        """The files behind a raster (or multiple-raster) parameter, in the order given.

        Plain file paths are used as they are: loading them as QGIS layers would make GDAL write statistics
        (``.aux.xml``) next to the user's inputs. Layer ids and layer objects are resolved through QGIS.
        """
        value = parameters.get(name)
        items = value if isinstance(value, (list, tuple)) else ([] if value in (None, "") else [value])
        if items and all(isinstance(v, str) and os.path.isfile(v) for v in items):
            return [os.path.abspath(v) for v in items]
        paths = []
        for layer in self.parameterAsLayerList(parameters, name, context):
            if layer.providerType() != "gdal":
                raise QgsProcessingException(
                    f"{name}: layer '{layer.name()}' is not a file raster (provider '{layer.providerType()}'); save "
                    "it as a GeoTIFF first."
                )
            paths.append(layer.source())
        return paths

    def open_series(self, parameters, name: str, context, log: Feedback | None = None):
        from ..core.stack import open_series

        paths = self.layer_paths(parameters, name, context)
        series = open_series(name, paths)
        if log is not None:
            for w in series.warnings:
                log.warn(w)
        return series

    def first_year(self, parameters, context) -> int | None:
        if parameters.get(FIRST_YEAR) in (None, ""):
            return None
        return self.parameterAsInt(parameters, FIRST_YEAR, context)

    def series_with_years(self, parameters, context, feedback: Feedback, names: Sequence[str], monthly: bool = False,
                          opened=None):
        """Open the time series ``names`` (the first is the reference) and give their common years.

        Every series must have the reference's band count; years come from FIRST_YEAR or the reference's
        metadata, and a series whose own metadata gives other years is refused. ``opened``: the series already
        opened by the caller, in the order of ``names`` (not opened again).
        """
        from ..core.errors import InputError
        from ..core.stack import check_same_years, resolve_years

        first_year = self.first_year(parameters, context)
        series = list(opened) if opened is not None else [self.open_series(parameters, n, context, feedback)
                                                               for n in names]
        ref = series[0]
        step = "months" if monthly else "years"
        for other in series[1:]:
            if other.count != ref.count:
                raise InputError(
                    f"{other.name} has {other.count} bands but {ref.name} has {ref.count}: give one band per "
                    f"{step[:-1]} for the same {step}."
                )
        years = resolve_years(ref, first_year, monthly=monthly)
        for other in series[1:]:
            try:
                other_years = resolve_years(other, first_year, monthly=monthly)
            except InputError:
                feedback.info(f"{other.name} carries no years of its own: taking {ref.name}'s years.")
                continue
            check_same_years(ref, years, other, other_years)
        return series, years

    def output_path(self, parameters, name: str, context) -> str:
        path = self.parameterAsOutputLayer(parameters, name, context)
        if path and os.path.splitext(path)[1].lower() not in (".tif", ".tiff"):
            raise QgsProcessingException(
                f"{name}: the toolbox writes GeoTIFF files; give a file name ending in .tif (got '{path}')."
            )
        return path or ""

    def engine_options(self, parameters, context, feedback: Feedback) -> dict[str, Any]:
        threads = self.parameterAsInt(parameters, THREADS, context) if THREADS in parameters else 0
        memory = self.parameterAsInt(parameters, MEMORY_MB, context) if MEMORY_MB in parameters else 256
        return dict(
            memory_mb=memory or 256,
            threads=threads or None,
            progress=feedback.progress,
            is_cancelled=feedback.cancelled,
        )

    def transaction(self, grid, parameters):
        from ..core.writer import OutputTransaction

        return OutputTransaction(grid, algorithm=f"carbonsink:{self.ALG_ID}", parameters=_plain(parameters))

    def style_class_output(self, path: str, scheme, context) -> None:
        """Write the sidecar .qml and make QGIS apply it when it loads the output at the end of the run."""
        if not path:
            return
        qml = write_qml(path, scheme)
        if context.willLoadLayerOnCompletion(path):
            context.layerToLoadOnCompletionDetails(path).setPostProcessor(StylePostProcessor.create(qml))

    def write_table(
        self, parameters, name: str, context, columns: Sequence[tuple[str, str]], rows: Iterable[dict]
    ) -> str | None:
        """Write ``rows`` (dicts) into the feature sink ``name`` with ``columns`` [(name, 'int'|'double'|'string')]."""
        fields = QgsFields()
        for col, kind in columns:
            fields.append(QgsField(col, _field_type(kind)))
        sink, dest = self.parameterAsSink(
            parameters, name, context, fields, QgsWkbTypes.NoGeometry, QgsCoordinateReferenceSystem()
        )
        if sink is None:
            return None
        for row in rows:
            feature = QgsFeature(fields)
            feature.setAttributes([_attribute(row.get(col), kind) for col, kind in columns])
            sink.addFeature(feature, QgsFeatureSink.FastInsert)
        return dest

    def run_engine(
        self,
        parameters,
        context,
        feedback: Feedback,
        inputs,
        compute,
        specs,
        *,
        merge=None,
        scratch: int = 0,
        require_valid: str | None = None,
        what: str = "",
    ):
        """Run ``compute`` over the aligned ``inputs`` into the outputs ``specs`` (an all-or-nothing transaction).

        ``require_valid`` names an output that must receive at least one valid value, else the run fails with a
        message about all-nodata inputs (``what`` describes them) and writes nothing. Class outputs get their
        sidecar ``.qml``. Returns ``({key: path}, merged partial results)``.
        """
        from ..core.engine import run_blocks
        from ..core.errors import InputError
        from ..core.stack import check_aligned

        grid = check_aligned(inputs)
        counts: dict[str, int] = {}
        with self.transaction(grid, parameters) as tx:
            for spec in specs:
                tx.add(spec)
            merged = run_blocks(inputs, compute, tx, merge=merge, scratch_bytes_per_pixel=scratch,
                                valid_counts=counts, **self.engine_options(parameters, context, feedback))
            empty = [s for s in inputs if counts.get(s.name, 0) == 0]
            if empty:
                nodata = {src.nodata for src in empty[0].sources}
                raise InputError(f"{empty[0].label()} holds no valid data: every pixel is nodata (its nodata value: "
                                 f"{', '.join(str(v) for v in nodata)}). Check the file, its nodata value and extent.")
            if require_valid and require_valid in tx and tx.valid_count(require_valid) == 0:
                names = what or ", ".join(s.label() for s in inputs)
                raise InputError(f"No valid result: {names} hold(s) no valid data where it is needed (every pixel "
                                 "is nodata). Check the inputs' nodata values and extents.")
            done = tx.commit()
        for spec in specs:
            if spec.scheme is not None and spec.path:
                self.style_class_output(spec.path, spec.scheme, context)
        return done, merged

    def report_class_areas(self, parameters, name: str | None, context, feedback: Feedback, areas_m2, scheme,
                           what: str) -> str | None:
        """Log the area and share of every class (what users otherwise count by hand) and, when the table output
        ``name`` is requested, write the rows ``class, label, area_km2, share_pct`` there."""
        from ..core.classes import class_area_rows

        rows = class_area_rows(areas_m2, scheme)
        feedback.info(f"Area of each class of {what} (share of the classified area):")
        for row in rows:
            feedback.info(f"  {row['class']:>3}  {row['label']}: {row['area_km2']:,.1f} km2 ({row['share_pct']:.2f}%)")
        if name and parameters.get(name) not in (None, ""):
            return self.write_table(parameters, name, context, CLASS_AREA_COLUMNS, rows)
        return None

    # --- the run ---------------------------------------------------------------------------------------------
    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS's name)
        from ..core.errors import CarbonSinkError

        ok, message = self.canExecute()
        if not ok:
            raise QgsProcessingException(message)
        try:
            return self.run_algorithm(parameters, context, Feedback(feedback))
        except CarbonSinkError as exc:
            raise QgsProcessingException(str(exc)) from None
        except MemoryError:
            raise QgsProcessingException(
                "Out of memory: lower the memory budget (advanced parameter MEMORY_MB) or the number of threads."
            ) from None

    def run_algorithm(self, parameters, context, feedback: Feedback) -> dict:
        raise NotImplementedError


def _attribute(value, kind: str):
    if value is None:
        return None
    if kind == "double":
        value = float(value)
        return None if math.isnan(value) or math.isinf(value) else value
    if kind == "int":
        return int(value)
    return str(value)


def _plain(parameters: dict) -> dict:
    """Parameters as JSON-friendly values for the outputs' metadata tags."""
    out = {}
    for key, value in parameters.items():
        if isinstance(value, (list, tuple)):
            out[key] = [v if isinstance(v, (int, float, str)) else str(v) for v in value]
        elif isinstance(value, (int, float, str, bool)) or value is None:
            out[key] = value
        else:
            out[key] = str(value)
    return out
