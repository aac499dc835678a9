"""Zones and reports shared by the algorithms that summarise by zone (zonal_statistics, class_area,
transition_matrix, resilience): polygon zones (one geometry per feature, pixel centres, the last feature wins) or a
categorical zone raster, the HTML report output, and the area and overlap warnings."""

from __future__ import annotations

import json
import os

from qgis.core import (
    QgsProcessing,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterRasterLayer,
)

from .base import CarbonSinkAlgorithm, tr

ZONES = "ZONES"
ZONE_FIELD = "ZONE_FIELD"
ZONE_RASTER = "ZONE_RASTER"
INCLUDE_ALL = "INCLUDE_ALL"
OUTPUT_REPORT = "OUTPUT_REPORT"

#: A zone raster with more distinct values than this is not categorical (the tables would explode).
MAX_ZONE_VALUES = 10000
#: A class raster with more distinct codes than this is not a class raster (the tables would explode).
MAX_CLASSES = 1000
#: int32 code of unclassified pixels (NaN / nodata) once class values are turned into integers.
CODE_NODATA = -(2**31)

ZONES_HELP = """<p><b>Zones</b>: polygons (ZONES, named by ZONE_FIELD) or a categorical raster (ZONE_RASTER, one zone
per distinct value, named by the raster's legend when it has one (sidecar .qml or CLASSES tag), else by the value;
nodata = outside every zone; it must be on the input's grid), not both. Without either, the whole raster is one
zone named "all"; the advanced option INCLUDE_ALL adds the "all" rows (every pixel, inside a zone or not) to the
zone rows. {rasterize}</p>"""


def add_polygon_zones(alg: CarbonSinkAlgorithm, optional: bool = True) -> None:
    """ZONES (polygons) and ZONE_FIELD (the attribute naming them)."""
    alg.add(QgsProcessingParameterFeatureSource(ZONES, tr("Zones (polygons)"), [QgsProcessing.TypeVectorPolygon],
                                                optional=optional),
            "Polygons defining zones (provinces, regions, ...). A pixel belongs to a zone when its centre lies "
            "inside the polygon (polygons are rasterized on the data grid); features sharing a name form one "
            "zone. Reprojected to the raster's CRS on the fly.")
    alg.add(QgsProcessingParameterField(ZONE_FIELD, tr("Zone name field"), parentLayerParameterName=ZONES,
                                        optional=True),
            "The attribute naming each zone; empty uses the feature id.")


def rasterize_help() -> str:
    try:
        from ..core.zones import RASTERIZE_HELP
    except ImportError:  # a missing dependency: canExecute() says what to install
        return "A pixel belongs to a polygon when its centre lies inside it."
    return RASTERIZE_HELP


def zones_help() -> str:
    return ZONES_HELP.format(rasterize=rasterize_help())


# ----------------------------------------------------------------------------------------- shared parameters


def add_zone_inputs(alg: CarbonSinkAlgorithm, what: str) -> None:
    """ZONES + ZONE_FIELD (polygons), ZONE_RASTER (categorical raster) and the advanced INCLUDE_ALL."""
    add_polygon_zones(alg)
    alg.add(
        QgsProcessingParameterRasterLayer(ZONE_RASTER, tr("Zone raster (categorical)"), optional=True),
        "Instead of ZONES: a single-band raster of zone codes on the grid of the input (same CRS, extent and pixel "
        "size), e.g. a land-cover map or a province raster. Every distinct value is a zone, named by the raster's "
        "legend (sidecar .qml or CLASSES tag) when it has one, else by the value; nodata is outside every zone.",
    )
    alg.add(
        QgsProcessingParameterBoolean(INCLUDE_ALL, tr("Add the whole raster as zone 'all'"), defaultValue=False),
        f"With ZONES or ZONE_RASTER: also give the {what} of the whole raster (every pixel, inside a zone or not) "
        "as zone 'all', after the zones. Without zones the whole raster is always the one zone 'all'.",
        advanced=True,
    )


def add_report_output(alg: CarbonSinkAlgorithm, help_text: str) -> None:
    alg.add(
        QgsProcessingParameterFileDestination(OUTPUT_REPORT, tr("Report (HTML)"), tr("HTML files (*.html)"),
                                              optional=True, createByDefault=False),
        help_text + " One self-contained HTML file (charts embedded), needs matplotlib.",
    )


def report_destination(alg: CarbonSinkAlgorithm, parameters, context) -> str:
    """The OUTPUT_REPORT path ('' when no report is asked for); refuses early when matplotlib is missing."""
    from ..core.errors import InputError

    if parameters.get(OUTPUT_REPORT) in (None, ""):
        return ""
    path = alg.parameterAsFileOutput(parameters, OUTPUT_REPORT, context)
    if path:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise InputError(
                "OUTPUT_REPORT needs the Python package matplotlib, which QGIS cannot import: install it "
                "(Debian/Ubuntu: sudo apt install python3-matplotlib; Windows: OSGeo4W Shell, python -m pip "
                "install matplotlib) or leave the report empty."
            ) from None
    return path or ""


def warn_no_output(parameters, names, feedback) -> None:
    """Say so when none of the outputs ``names`` was asked for (qgis_process writes only the outputs given)."""
    if all(parameters.get(name) in (None, "") for name in names):
        feedback.warn(f"No output was asked for ({', '.join(names)}): the results are only written to this log.")


def warn_area(grid, feedback) -> None:
    """Log the core's warning when the grid's CRS gives wrong pixel areas (not equal-area)."""
    from ..core import area

    if grid.crs is None:
        return
    warning = area.area_warning(grid.crs)
    if warning:
        feedback.warn(warning)


# ---------------------------------------------------------------------------------------------------- zones


def _is_null(value) -> bool:
    return value is None or (hasattr(value, "isNull") and value.isNull())


class Zones:
    """The zones of a run: none (the whole raster is the zone 'all'), polygons, or a categorical raster.

    ``names`` are the zone names in zone index order; ``n_zones`` is None for the whole raster; ``inputs`` are the
    extra engine inputs (the zone raster); :meth:`block` gives a block's zone index (-1 outside) and the number of
    its pixels claimed by more than one polygon zone.
    """

    def __init__(self, kind: str, names, include_all: bool = False, description: str = ""):
        self.kind = kind
        self.names = [str(n) for n in names]
        self.include_all = include_all
        self.description = description
        self.inputs: list = []
        self.feature_geometries: list = []
        self.feature_ids = None
        self.zone_geometries: list = []
        self.zone_values = None

    @property
    def n_zones(self):
        return None if self.kind == "none" else len(self.names)

    @property
    def table_names(self) -> list:
        """The zone names of the tables (with 'all' last when the whole raster is added)."""
        from ..core.zones import ALL_ZONE

        return self.names + ([ALL_ZONE] if self.include_all else [])

    def block(self, block):
        if self.kind == "none":
            return None, 0
        if self.kind == "raster":
            from ..core.zones import zones_from_raster

            return zones_from_raster(block.data[ZONE_RASTER], zone_values=self.zone_values)[0], 0
        from rasterio.windows import transform as window_transform

        from ..core.zones import overlap_pixels, rasterize_zones

        transform = window_transform(block.window, block.grid.transform)
        zones = rasterize_zones(self.feature_geometries, transform, block.shape, zone_ids=self.feature_ids)
        overlap = overlap_pixels(self.zone_geometries, transform, block.shape) if len(self.names) > 1 else 0
        return zones, overlap


def polygon_zones(alg: CarbonSinkAlgorithm, parameters, context, grid) -> Zones | None:
    """The polygons of ZONES in the raster's CRS, one geometry per feature (the last feature burnt wins, as
    RASTERIZE_HELP says) and, for the overlap warning, one union per zone name. None when ZONES is empty."""
    from qgis.core import QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsGeometry

    from ..core.errors import InputError
    from ..core.zones import zone_ids_from_names

    source = alg.parameterAsSource(parameters, ZONES, context)
    if source is None:
        return None
    field_name = alg.parameterAsString(parameters, ZONE_FIELD, context)
    raster_crs = QgsCoordinateReferenceSystem.fromWkt(grid.crs.to_wkt()) if grid.crs else source.sourceCrs()
    transform = QgsCoordinateTransform(source.sourceCrs(), raster_crs, context.transformContext())
    values, geometries = [], []
    for feature in source.getFeatures():
        geometry = feature.geometry()
        if geometry is None or geometry.isEmpty():
            continue
        value = feature[field_name] if field_name else feature.id()
        geometry = QgsGeometry(geometry)
        geometry.transform(transform)
        values.append(None if _is_null(value) else value)
        geometries.append(geometry)
    if not geometries:
        raise InputError("ZONES has no polygon with a geometry: give a polygon layer with features.")
    ids, names = zone_ids_from_names(values)
    parts: list[list] = [[] for _ in names]
    for geometry, zone in zip(geometries, ids):
        parts[int(zone)].append(geometry)
    unions = []
    for group in parts:
        union = QgsGeometry.unaryUnion(group) if len(group) > 1 else group[0]
        if union is None or union.isEmpty():  # invalid polygons GEOS cannot union: count their parts as they are
            union = QgsGeometry.collectGeometry(group)
        unions.append(json.loads(union.asJson()))
    by = f"field '{field_name}'" if field_name else "feature id"
    zones = Zones("polygons", names, description=f"{len(names)} polygon zone(s) of ZONES named by {by}")
    zones.feature_geometries = [json.loads(g.asJson()) for g in geometries]
    zones.feature_ids = ids
    zones.zone_geometries = unions
    return zones


def raster_zones(alg: CarbonSinkAlgorithm, parameters, context, feedback, reference) -> Zones:
    """The categorical ZONE_RASTER: checked against the ``reference`` input's grid, then a first engine pass
    collecting its distinct values (the zones, in increasing order)."""
    from ..core.engine import Result
    from ..core.errors import InputError
    from ..core.stack import check_aligned, open_series
    from ..core.zones import distinct_values_partial, merge_distinct_values, zone_value_names

    paths = alg.layer_paths(parameters, ZONE_RASTER, context)
    series = open_series(ZONE_RASTER, paths)
    if series.count != 1:
        raise InputError(f"ZONE_RASTER has {series.count} bands: give a single-band categorical raster (one zone "
                         "code per pixel).")
    check_aligned([reference, series])

    def too_many(n: int) -> InputError:
        return InputError(f"ZONE_RASTER has more than {MAX_ZONE_VALUES} distinct values ({n} found so far): it does "
                          "not look categorical. Give a raster of zone codes (e.g. provinces or land-cover classes), "
                          "or polygons as ZONES.")

    def merge(a, b):
        merged = merge_distinct_values(a, b)
        if merged.size > MAX_ZONE_VALUES:
            raise too_many(merged.size)
        return merged

    def distinct(block):
        return Result({}, distinct_values_partial(block.data[ZONE_RASTER]))

    _, values = alg.run_engine(parameters, context, feedback, [series], distinct, [], merge=merge)
    if values is None or values.size == 0:
        raise InputError(f"{series.label()} holds no zone (every pixel is nodata): check its nodata value.")
    if values.size > MAX_ZONE_VALUES:
        raise too_many(values.size)
    codes = zone_value_names(values)
    names = list(codes)
    labels, _ = class_legend(paths[0])
    if labels:
        named = [labels.get(int(v), code) if float(v).is_integer() else code for v, code in zip(values, codes)]
        if len(set(named)) == len(named):
            names = named
            feedback.info("Zones named by the legend of ZONE_RASTER: " + ", ".join(
                f"{c} = {n}" for c, n in zip(codes[:30], names[:30])) + (", ..." if len(names) > 30 else ""))
        else:
            feedback.warn("ZONE_RASTER's legend gives two zones the same label: zones are named by their codes.")
    zones = Zones("raster", names, description=f"{len(names)} zone(s) of ZONE_RASTER ('{os.path.basename(paths[0])}')")
    zones.inputs = [series]
    zones.zone_values = values
    return zones


def open_zones(alg: CarbonSinkAlgorithm, parameters, context, feedback, reference) -> tuple[Zones, bool]:
    """The run's zones and whether a first pass over ZONE_RASTER was made (progress then has two steps).

    ``feedback`` gets the first half of the progress bar when the zone raster needs its own pass.
    """
    from ..core.errors import InputError
    from ..core.zones import ALL_ZONE

    has_polygons = parameters.get(ZONES) not in (None, "")
    has_raster = parameters.get(ZONE_RASTER) not in (None, "")
    if has_polygons and has_raster:
        raise InputError("Both ZONES (polygons) and ZONE_RASTER (a categorical raster) were given: give one of "
                         "them, or neither for the whole raster.")
    include_all = alg.parameterAsBoolean(parameters, INCLUDE_ALL, context)
    zones = None
    two_passes = False
    if has_raster:
        zones = raster_zones(alg, parameters, context, feedback.step(0, 2), reference)
        two_passes = True
    elif has_polygons:
        zones = polygon_zones(alg, parameters, context, reference.grid)
    if zones is None:
        return Zones("none", [ALL_ZONE], description="the whole raster as one zone 'all'"), False
    zones.include_all = include_all
    if include_all and ALL_ZONE in zones.names:
        feedback.warn(f"A zone is named '{ALL_ZONE}', like the whole-raster rows added by INCLUDE_ALL: the "
                      "whole raster's rows come last.")
    return zones, two_passes


def with_overlap(merge):
    """A merge of ``{"sums": partial, "overlap": pixels}`` results from the core's ``merge`` of partials."""

    def merged(a, b):
        return {"sums": merge(a["sums"], b["sums"]), "overlap": a["overlap"] + b["overlap"]}

    return merged


def warn_overlap(zones: Zones, overlap: int, feedback) -> None:
    if overlap:
        feedback.warn(f"{overlap} pixel(s) have their centre in polygons of more than one zone: each is counted once, "
                      "in the zone of the feature that comes last in ZONES. Make the polygons disjoint if that is "
                      "not what you want.")


# ------------------------------------------------------------------------------------------------ algorithm


# ---------------------------------------------------------------------------------------------- classes


def class_legend(path: str):
    """``({code: label} or None, {code: color} or None)`` of a class raster: its CLASSES tag (the toolbox's JSON, or
    '1 cropland; 2 forest; ...') or its sidecar .qml (core.zones.class_legend_from_raster)."""
    from ..core.zones import class_legend_from_raster

    legend = class_legend_from_raster(path)
    if legend:
        return {c: lab for c, lab, _ in legend}, ({c: col for c, _, col in legend if col} or None)
    return None, None


def legend_of_files(paths):
    """The legend of several class rasters (the first file naming a code wins)."""
    labels, colors = {}, {}
    for path in dict.fromkeys(paths):
        lab, col = class_legend(path)
        for code, text in (lab or {}).items():
            labels.setdefault(code, text)
        for code, color in (col or {}).items():
            colors.setdefault(code, color)
    return labels or None, colors or None


def class_codes(values, name: str):
    """Class values read by the engine (float64, NaN = nodata) as int32 codes, nodata -> CODE_NODATA.

    Refuses values that are not whole numbers (a continuous raster given as classes), naming the parameter.
    """
    import numpy as np

    from ..core.errors import InputError

    v = np.asarray(values, dtype=np.float64)
    valid = ~np.isnan(v)
    x = v[valid]
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(x) | (x != np.floor(x)) | (np.abs(x) >= 2**31 - 1)
    if bad.any():
        raise InputError(
            f"{name} holds the value {x[bad][0]!r}, which is not a class code: give a class raster (whole-number "
            "codes, e.g. a land-cover map or a toolbox class output) with its nodata value declared."
        )
    out = np.full(v.shape, CODE_NODATA, dtype=np.int32)
    out[valid] = x.astype(np.int32)
    return out


def check_class_count(n: int, name: str) -> None:
    from ..core.errors import InputError

    if n > MAX_CLASSES:
        raise InputError(
            f"{name} has more than {MAX_CLASSES} distinct class codes ({n} found so far): it does not look like a "
            "class raster. Classify it first (e.g. with the trend or NEP class outputs, or Reclassify by table)."
        )


def year_of_single_band(series):
    """The year of a single-band class raster from its band description or file name, else None."""
    from ..core.stack import _year_from_text

    source = series.sources[0]
    for text in (source.description, os.path.splitext(os.path.basename(source.path))[0]):
        year = _year_from_text(text) if text else None
        if year is not None:
            return year
    return None


def band_labels(series) -> list:
    """A name for every band: its description, else its file name (and band number in a multiband file)."""
    out = []
    for src in series.sources:
        base = os.path.splitext(os.path.basename(src.path))[0]
        in_file = f"{base} band {src.band}" if series.is_multiband and series.count > 1 else base
        out.append(src.description or in_file)
    return out
