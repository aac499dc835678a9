"""transition_matrix: the area moving from each class of one class raster (e.g. land cover 2000) to each class of
another (land cover 2022), labelled with the rasters' legends, with an optional HTML report (matrix, heat map and
Sankey-style flow chart)."""

from __future__ import annotations

import os

from qgis.core import QgsProcessingParameterRasterLayer

from .base import CarbonSinkAlgorithm, tr
from .zoning import (
    CODE_NODATA,
    OUTPUT_REPORT,
    add_report_output,
    check_class_count,
    class_codes,
    legend_of_files,
    report_destination,
    warn_area,
    warn_no_output,
    year_of_single_band,
)

FROM = "FROM"
TO = "TO"
OUTPUT_TABLE = "OUTPUT_TABLE"

TABLE_COLUMNS = [
    ("from_class", "int"),
    ("to_class", "int"),
    ("area_km2", "double"),
    ("from_label", "string"),
    ("to_label", "string"),
]

HELP = """<p>Land-cover (or any class) transitions between two class rasters of the same grid, e.g. land cover 2000
(FROM) and 2022 (TO): the transition (transfer) matrix.</p>
<p><b>area_km2</b>(i, j) = sum of the areas of the pixels of class i in FROM and class j in TO (km2), over the
pixels classified in both rasters (a pixel that is nodata in either is left out). The diagonal (i = j) is the area
that kept its class; row sums are the FROM class areas, column sums the TO class areas. One row per pair of codes
(every code found, or named in a legend), area 0 where nothing moved. Pixel areas are exact on the ellipsoid for
geographic grids (they shrink with latitude; Snyder 1987) and |det(transform)| for projected grids (a warning is
logged when the projection is not equal-area).</p>
<p><b>Labels</b> (from_label, to_label) come from each raster's own legend: the CLASSES tag and sidecar .qml style
the toolbox writes with its class outputs, a .qml QGIS saved as the layer's default style, or a tag CLASSES =
'1 cropland; 2 forest; ...'; else the code is the label.</p>
<p><b>Inputs</b>: two single-band rasters of whole-number class codes on the same grid (same CRS, extent and pixel
size: use Raster &gt; Align Rasters first otherwise), each with its nodata value declared.</p>
<p><b>Outputs</b>: OUTPUT_TABLE (from_class, to_class, area_km2, from_label, to_label) and an optional
self-contained HTML report (OUTPUT_REPORT): the matrix as a table with totals and as a heat map, and a
Sankey-style flow chart (class boxes as tall as their areas, joined by bands as wide as the area that moved).</p>
<p><b>References</b>: land-cover transitions between 2000, 2011 and 2022 shown as a Sankey diagram in Zhang, Liu,
Jiang (2025) Front. Environ. Sci. 13:1550501 (seed 000; Cuba 2015); Pontius, Shusas &amp; McEachern (2004)
Detecting important categorical land changes while accounting for persistence, Agric. Ecosyst. Environ. 101,
251-268 (the cross-tabulation matrix).</p>"""


def _title(series) -> str:
    """What to call a class raster in the chart: its year when it has one, else its file name."""
    year = year_of_single_band(series)
    name = os.path.splitext(os.path.basename(series.paths[0]))[0]
    return str(year) if year is not None else name


class TransitionMatrixAlgorithm(CarbonSinkAlgorithm):
    ALG_ID = "transition_matrix"
    DISPLAY_NAME = "Land-cover transitions"
    GROUP = "zones"
    HELP = HELP

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS's name)
        self.add(QgsProcessingParameterRasterLayer(FROM, tr("Class raster at the start (FROM)")),
                 "The earlier class raster (e.g. land cover 2000): one band of class codes.")
        self.add(QgsProcessingParameterRasterLayer(TO, tr("Class raster at the end (TO)")),
                 "The later class raster (e.g. land cover 2022) on the same grid as FROM: one band of class codes.")
        self.add_table_output(OUTPUT_TABLE, "Transition matrix",
                                     "One row per pair of classes: from_class, to_class, area_km2 (the area that "
                                     "moved from the one to the other), from_label, to_label.", create_by_default=True)
        add_report_output(self, "Optional: the transition matrix (table and heat map) and a Sankey-style flow chart.")
        self.add_engine_parameters()

    def open_class_raster(self, parameters, name: str, context, feedback):
        from ..core.errors import InputError

        series = self.open_series(parameters, name, context, feedback)
        if series.count != 1:
            raise InputError(f"{name} ('{os.path.basename(series.paths[0])}') has {series.count} bands: give a "
                             "single-band class raster (one map of class codes).")
        return series

    def run_algorithm(self, parameters, context, feedback):
        from ..core import zones as zn
        from ..core.engine import Result
        from ..core.errors import InputError
        from ..core.stack import check_aligned

        source = self.open_class_raster(parameters, FROM, context, feedback)
        target = self.open_class_raster(parameters, TO, context, feedback)
        check_aligned([source, target])
        labels_from, colors_from = legend_of_files(source.paths)
        labels_to, colors_to = legend_of_files(target.paths)
        for name, series, labels in ((FROM, source, labels_from), (TO, target, labels_to)):
            if labels:
                feedback.info(f"{name} labels from the legend of {series.label()}: "
                              + ", ".join(f"{c} {lab}" for c, lab in sorted(labels.items())[:30]))
            else:
                feedback.info(f"{series.label()} has no legend (no CLASSES tag, no .qml): its classes are labelled "
                              "by code.")
        report_path = report_destination(self, parameters, context)
        warn_no_output(parameters, [OUTPUT_TABLE, OUTPUT_REPORT], feedback)
        warn_area(source.grid, feedback)

        def compute(block):
            partial = zn.transition_partials(class_codes(block.data[FROM], FROM), class_codes(block.data[TO], TO),
                                             block.area_m2(), nodata_from=CODE_NODATA, nodata_to=CODE_NODATA)
            check_class_count(partial["from_codes"].size, FROM)
            check_class_count(partial["to_codes"].size, TO)
            return Result({}, partial)

        def merge(a, b):
            merged = zn.merge_transitions(a, b)
            check_class_count(merged["from_codes"].size, FROM)
            check_class_count(merged["to_codes"].size, TO)
            return merged

        _, merged = self.run_engine(parameters, context, feedback, [source, target], compute, [], merge=merge,
                                    scratch=4 * 2 + 8 * 8)
        if merged is None or int(merged["count"].sum()) == 0:
            raise InputError(f"No pixel is classified in both {source.label()} and {target.label()} (every pixel is "
                             "nodata in one of them): check their nodata values and extents.")
        rows = zn.transition_table(merged, labels_from, labels_to)
        self.log_summary(rows, feedback)

        results = {}
        if report_path:
            from ..core.report import transition_report

            colors = dict(colors_to or {})
            colors.update(colors_from or {})
            description = [
                f"FROM: {source.label()}; TO: {target.label()}.",
                "Area (km2) of the pixels classified in both rasters, by class in FROM (rows) and class in TO "
                "(columns); ellipsoidal pixel areas for geographic grids. The diagonal is the area that kept its "
                "class.",
            ]
            results[OUTPUT_REPORT] = transition_report(
                report_path, rows, colors=colors or None,
                title=f"Transitions from {_title(source)} to {_title(target)}",
                from_title=_title(source), to_title=_title(target), description=description,
            )
            feedback.info(f"Report written to {report_path}")
        results[OUTPUT_TABLE] = self.write_table(parameters, OUTPUT_TABLE, context, TABLE_COLUMNS, rows)
        return results

    @staticmethod
    def log_summary(rows, feedback, top: int = 8) -> None:
        total = sum(r["area_km2"] for r in rows)
        kept = sum(r["area_km2"] for r in rows if r["from_class"] == r["to_class"])
        share = f" ({100 * kept / total:.2f}%)" if total > 0 else ""
        feedback.info(f"Area classified in both rasters: {total:,.1f} km2; kept its class: {kept:,.1f} km2{share}; "
                      f"changed: {total - kept:,.1f} km2.")
        changes = sorted((r for r in rows if r["from_class"] != r["to_class"] and r["area_km2"] > 0),
                         key=lambda r: -r["area_km2"])
        for r in changes[:top]:
            feedback.info(f"  {r['from_class']} {r['from_label']} -> {r['to_class']} {r['to_label']}: "
                          f"{r['area_km2']:,.1f} km2")
