"""class_area: area and share of every class of a class raster (or a stack of them, one band per year) per zone,
labelled with the raster's own legend, and an optional HTML report of class-share bars."""

from __future__ import annotations

import os

from .base import CarbonSinkAlgorithm
from .zoning import (
    CODE_NODATA,
    OUTPUT_REPORT,
    add_report_output,
    add_zone_inputs,
    band_labels,
    check_class_count,
    class_codes,
    legend_of_files,
    open_zones,
    rasterize_help,
    report_destination,
    warn_area,
    warn_no_output,
    warn_overlap,
    with_overlap,
    year_of_single_band,
    zones_help,
)

INPUT = "INPUT"
OUTPUT_TABLE = "OUTPUT_TABLE"

TABLE_COLUMNS = [
    ("zone", "string"),
    ("year", "int"),
    ("class", "int"),
    ("label", "string"),
    ("area_km2", "double"),
    ("share_pct", "double"),
    ("band", "string"),
]

HELP = """<p>Area and share of every class of a class raster per zone: land cover, NEP classes, trend classes, or a
stack of class rasters (one band per year, e.g. land-cover maps of several years).</p>
<p><b>area_km2</b> = sum of the areas of the zone's pixels in the class (km2); <b>share_pct</b> = 100 x area / the
zone's classified area that band (pixels that are nodata are not classified), so the shares of a zone and year sum
to 100. Every class found, or named in the raster's legend, gets a row (area 0 where absent). Pixel areas are exact
on the ellipsoid for geographic grids (they shrink with latitude; Snyder 1987) and |det(transform)| for projected
grids (a warning is logged when the projection is not equal-area).</p>
<p><b>Labels</b> come from the raster's own legend: the CLASSES tag and sidecar .qml style the toolbox writes with
every class output (e.g. <i>trend_ols</i> OUTPUT_CLASS, <i>nep</i> OUTPUT_CLASSES), a .qml QGIS saved as the layer's
default style (paletted or exact color-ramp entries), or a tag CLASSES = '1 cropland; 2 forest; ...'; else the code
is the label.</p>
<p><b>Input</b>: whole-number class codes (a continuous raster is refused), nodata declared as the raster's nodata
value. ONE raster (one band, or one band per year) or SEVERAL single-band rasters (one per year, in order).
<b>Years</b> from FIRST_YEAR, the band descriptions or 4-digit years in the file names; a single band without any
year gives an empty year (the band column names the band).</p>
{zones}
<p><b>Outputs</b>: OUTPUT_TABLE (zone, year, class, label, area_km2, share_pct, band) and an optional self-contained
HTML report (OUTPUT_REPORT): stacked bars of the class shares per zone and year, and the table.</p>
<p><b>References</b>: class areas and their shares per land-cover type and year as in Zhang, Liu, Jiang (2025)
Front. Environ. Sci. 13:1550501 (seed 000, CLCD land cover 2000, 2011, 2022) and Jiao (seed 003, carbon source area
share); Snyder (1987) Map Projections - A Working Manual, USGS PP 1395 (ellipsoidal areas).</p>"""


# ------------------------------------------------------------------------------------------------ algorithm


class ClassAreaAlgorithm(CarbonSinkAlgorithm):
    ALG_ID = "class_area"
    DISPLAY_NAME = "Class areas by zone"
    GROUP = "zones"
    HELP = HELP

    def help_html(self) -> str:
        return self.HELP.replace("{zones}", zones_help())

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS's name)
        self.add_series(INPUT, "Class raster (or one per year)",
                        "Class codes (land cover, NEP or trend classes, ...): one band, or one band per year.")
        self.add_first_year()
        add_zone_inputs(self, "class areas")
        self.add_table_output(OUTPUT_TABLE, "Class areas",
                                     "Per zone, year and class: label, area (km2) and share of the zone's classified "
                                     "area (%).", create_by_default=True)
        add_report_output(self, "Optional: stacked bars of the class shares per zone and year, and the table.")
        self.add_engine_parameters()

    def run_algorithm(self, parameters, context, feedback):
        from ..core import zones as zn
        from ..core.engine import Result
        from ..core.errors import InputError
        from ..core.stack import resolve_years

        series = self.open_series(parameters, INPUT, context, feedback)
        first_year = self.first_year(parameters, context)
        try:
            years = [int(y) for y in resolve_years(series, first_year)]
        except InputError:
            if series.count != 1:
                raise
            years = [year_of_single_band(series)]
        if years[0] is None:
            feedback.info(f"{series.label()} is one band without a year: the year column stays empty.")
        bands = band_labels(series)
        labels, colors = legend_of_files(series.paths)
        if labels:
            feedback.info(f"Class labels from the legend of {series.label()}: "
                          + ", ".join(f"{c} {lab}" for c, lab in sorted(labels.items())[:30]))
        else:
            feedback.info(f"{series.label()} has no legend (no CLASSES tag, no .qml): classes are labelled by code.")
        report_path = report_destination(self, parameters, context)
        warn_no_output(parameters, [OUTPUT_TABLE, OUTPUT_REPORT], feedback)
        warn_area(series.grid, feedback)
        zones, two_passes = open_zones(self, parameters, context, feedback, series)

        def compute(block):
            zone_index, overlap = zones.block(block)
            codes = class_codes(block.data[INPUT], INPUT)
            sums = zn.class_area_partials(codes, zone_index, zones.n_zones, block.area_m2(), nodata=CODE_NODATA,
                                          include_all=zones.include_all)
            check_class_count(sums["codes"].size, INPUT)
            return Result({}, {"sums": sums, "overlap": overlap})

        def merge(a, b):
            merged = zn.merge_class_area(a, b)
            check_class_count(merged["codes"].size, INPUT)
            return merged

        step = feedback.step(1, 2) if two_passes else feedback
        _, merged = self.run_engine(parameters, context, step, [series] + zones.inputs, compute, [],
                                    merge=with_overlap(merge),
                                    scratch=zn.scratch_bytes_per_pixel(series.count) + 13 * series.count + 12)
        warn_overlap(zones, merged["overlap"] if merged else 0, feedback)
        table_years = [0 if y is None else y for y in years]
        rows = zn.class_area_table(merged["sums"] if merged else None, table_years, zones.names, labels=labels,
                                   include_all=zones.include_all)
        band_of = dict(zip(table_years, bands))
        for row in rows:
            row["band"] = band_of[row["year"]]
            if years[0] is None:
                row["year"] = None
        self.log_summary(rows, feedback)

        results = {}
        if report_path:
            description = [
                f"Input: {series.label()}, {len(bands)} band(s) ({', '.join(bands[:12])}"
                f"{', ...' if len(bands) > 12 else ''}); zones: {zones.description}"
                f"{' plus the whole raster (all)' if zones.include_all else ''}.",
                "Class area = sum of the pixel areas of the class in the zone (km2, ellipsoidal areas for geographic "
                "grids); share = 100 x class area / the zone's classified area (nodata pixels excluded).",
                "Labels: " + ("the raster's legend." if labels else "the class codes (the raster has no legend)."),
            ]
            if zones.kind == "polygons":
                description.append(rasterize_help())
            results[OUTPUT_REPORT] = write_report(report_path, rows, colors, years[0] is not None, description,
                                                  f"Class areas of {os.path.basename(series.paths[0])}")
            feedback.info(f"Report written to {report_path}")
        results[OUTPUT_TABLE] = self.write_table(parameters, OUTPUT_TABLE, context, TABLE_COLUMNS, rows)
        return results

    @staticmethod
    def log_summary(rows, feedback, max_zones: int = 20) -> None:
        """Per zone (the first ``max_zones``), for the last band: classified area and the largest classes."""
        last = rows[-1]["band"] if rows else None
        zones: dict = {}
        for row in rows:
            if row["band"] == last:
                zones.setdefault(row["zone"], []).append(row)
        for zone, zone_rows in list(zones.items())[:max_zones]:
            total = sum(r["area_km2"] for r in zone_rows)
            top = sorted((r for r in zone_rows if r["area_km2"] > 0), key=lambda r: -r["area_km2"])[:4]
            text = ", ".join(f"{r['label']} {r['share_pct']:.1f}%" for r in top) or "no classified pixel"
            feedback.info(f"Zone {zone}, {last}: classified area {total:,.1f} km2; {text}.")


def write_report(path: str, rows, colors, years_known: bool, description, title: str) -> str:
    """The class-area report: stacked class-share bars per zone and year, then the table."""
    from ..core.report import Report, class_share_figure
    from ..core.zones import CLASS_AREA_COLUMNS

    rep = Report(title)
    for text in description:
        rep.add_paragraph(text)
    if rows:
        chart_rows = rows if years_known else [dict(r, year=0) for r in rows]
        fig = class_share_figure(chart_rows, colors)
        if not years_known:  # one band without a year: name the bar by the band
            for ax in fig.axes:
                if ax.get_visible() and ax.axison and len(ax.get_xticks()):
                    ax.set_xticklabels([str(rows[0]["band"])], fontsize=7)
        rep.add_heading("Class shares")
        rep.add_figure(fig, "Share of each class in the zone's classified area (%), per year.")
    rep.add_heading("Class areas")
    rep.add_table(rows, list(CLASS_AREA_COLUMNS) + ["band"])
    return rep.write(path)
