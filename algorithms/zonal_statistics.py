"""zonal_statistics: area-weighted statistics of a stack per zone and year, the trend of every zone's mean series,
and an optional HTML report."""

from __future__ import annotations

import os

from qgis.core import (
    QgsProcessingParameterNumber,
)

from .base import CarbonSinkAlgorithm, tr
from .trend_sen_mk import TESTS
from .zoning import (
    OUTPUT_REPORT,
    add_report_output,
    add_zone_inputs,
    open_zones,
    rasterize_help,
    report_destination,
    warn_area,
    warn_no_output,
    warn_overlap,
    with_overlap,
    zones_help,
)

INPUT = "INPUT"
TEST = "TEST"
MIN_VALID = "MIN_VALID"
OUTPUT_TABLE = "OUTPUT_TABLE"
OUTPUT_TREND = "OUTPUT_TREND"

TABLE_COLUMNS = [
    ("zone", "string"),
    ("year", "int"),
    ("valid_area_km2", "double"),
    ("mean", "double"),
    ("std", "double"),
    ("min", "double"),
    ("max", "double"),
    ("total_tgc", "double"),
]
TREND_COLUMNS = [
    ("zone", "string"),
    ("sen_slope", "double"),
    ("mk_z", "double"),
    ("mk_p", "double"),
    ("ols_slope", "double"),
    ("ols_p", "double"),
    ("sen_intercept", "double"),
    ("ols_intercept", "double"),
    ("n_years", "int"),
]

HELP = """<p>Area-weighted statistics of an annual stack (e.g. NEP or NPP) per zone and year, and the trend of
every zone's mean series.</p>
<p><b>Per zone and year</b>, over the zone's pixels with a valid value that year, with w<sub>i</sub> the pixel area:
valid area A = sum w<sub>i</sub> (km2); <b>mean</b> = sum w<sub>i</sub> x<sub>i</sub> / A; <b>std</b> = sqrt(sum
w<sub>i</sub> (x<sub>i</sub> - mean)<sup>2</sup> / A) (area-weighted population standard deviation); <b>min</b>,
<b>max</b>; <b>total</b> (Tg C) = sum(x<sub>i</sub> [g C m-2] x w<sub>i</sub> [m2]) x 1e-12, per year for annual
fluxes (meaningful for carbon densities in g C m-2). A zone-year without any valid pixel has valid area 0, total 0
and empty statistics. Pixel areas are exact on the ellipsoid for geographic grids (they shrink with latitude;
Snyder 1987) and |det(transform)| for projected grids (a warning is logged when the projection is not equal-area).
Block results are merged with the pairwise variance update of Chan, Golub &amp; LeVeque (1979).</p>
<p><b>Trend of each zone's mean series</b> (one row per zone): Theil-Sen slope = median over pairs of years i &lt; j
of (m<sub>j</sub> - m<sub>i</sub>) / (t<sub>j</sub> - t<sub>i</sub>) (input units per year), Mann-Kendall Z and
two-sided p (TEST: the original test or an autocorrelation-corrected variant, as pymannkendall), least-squares
slope and the p of its t-test (n - 2 df). Years in which the zone has no valid pixel are missing and keep their
real positions; a zone with fewer than MIN_VALID valid years has no trend. The columns sen_intercept and
ols_intercept give the lines' values at the first year.</p>
{zones}
<p><b>Time step</b>: annual, one band per year; years from FIRST_YEAR, the band descriptions or the file names.</p>
<p><b>Outputs</b>: OUTPUT_TABLE (zone, year, valid_area_km2, mean, std, min, max, total_tgc), OUTPUT_TREND (zone,
sen_slope, mk_z, mk_p, ols_slope, ols_p, sen_intercept, ols_intercept, n_years) and an optional self-contained
HTML report (OUTPUT_REPORT): every zone's series with its Sen line and its least-squares line, and both tables.</p>
<p><b>References</b>: Sen (1968) J. Am. Stat. Assoc. 63, 1379-1389; Mann (1945) Econometrica 13, 245-259; Kendall
(1975) Rank Correlation Methods; Chan, Golub &amp; LeVeque (1979) Updating formulae and a pairwise algorithm for
computing sample variances, Stanford CS-79-773; Snyder (1987) Map Projections - A Working Manual, USGS PP 1395;
zone series as in Zhang, Liu, Jiang (2025) (seed 000) and Jiao (seed 003).</p>"""


class ZonalStatisticsAlgorithm(CarbonSinkAlgorithm):
    ALG_ID = "zonal_statistics"
    DISPLAY_NAME = "Zonal statistics of a stack"
    GROUP = "zones"
    HELP = HELP

    def help_html(self) -> str:
        return self.HELP.replace("{zones}", zones_help())

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS's name)
        self.add_series(INPUT, "Annual stack", "The annual series to summarise per zone (e.g. NEP or NPP in "
                        "g C m-2 yr-1), one band per year.")
        self.add_first_year()
        add_zone_inputs(self, "statistics")
        self.add_enum(TEST, "Mann-Kendall test of the zone trends", [label for label, _ in TESTS], 0,
                      "The Mann-Kendall variant applied to each zone's mean series (see 'Sen slope + Mann-Kendall').",
                      advanced=True)
        self.add(
            QgsProcessingParameterNumber(MIN_VALID, tr("Minimum valid years for a zone trend"),
                                         QgsProcessingParameterNumber.Integer, defaultValue=3, minValue=2),
            "A zone whose mean series has fewer valid years (years with at least one valid pixel) gets no trend.",
            advanced=True,
        )
        self.add_table_output(OUTPUT_TABLE, "Statistics per zone and year",
                                     "Per zone and year: valid area (km2), area-weighted mean, std, min, max and "
                                     "total (Tg C).", create_by_default=True)
        self.add_table_output(OUTPUT_TREND, "Trend per zone",
                                     "Per zone, the trend of its area-weighted mean series: Sen slope, Mann-Kendall "
                                     "Z and p, least-squares slope and p (slopes in input units per year).",
                              create_by_default=True)
        add_report_output(self, "Optional: every zone's mean series with its Sen and least-squares lines, and both "
                                "tables.")
        self.add_engine_parameters()

    def run_algorithm(self, parameters, context, feedback):
        from ..core import zones as zn
        from ..core.engine import Result
        from ..core.errors import InputError
        from ..core.stack import resolve_years

        series = self.open_series(parameters, INPUT, context, feedback)
        try:
            years = resolve_years(series, self.first_year(parameters, context))
            year_known = True
        except InputError:
            if series.count != 1:
                raise
            years, year_known = [0], False  # one map without a year (a mean, a CSCC, a Cv...): year left empty
        test = TESTS[self.parameterAsEnum(parameters, TEST, context)][1]
        min_valid = self.parameterAsInt(parameters, MIN_VALID, context)
        with_trend = len(years) >= max(3, min_valid)
        if len(years) > 1 and min_valid > len(years):
            raise InputError(f"MIN_VALID is {min_valid}, but {series.label()} has only {len(years)} years: give a "
                             f"value between 2 and {len(years)}.")
        report_path = report_destination(self, parameters, context)
        warn_no_output(parameters, [OUTPUT_TABLE, OUTPUT_TREND, OUTPUT_REPORT], feedback)
        warn_area(series.grid, feedback)
        zones, two_passes = open_zones(self, parameters, context, feedback, series)
        span = f"years {years[0]}-{years[-1]}" if year_known else "one band without a year"
        feedback.info(f"{series.label()}: {span}; zones: {zones.description}"
                      f"{' plus the whole raster' if zones.include_all else ''}.")

        def compute(block):
            zone_index, overlap = zones.block(block)
            sums = zn.zonal_partials(block.data[INPUT], zone_index, zones.n_zones, block.area_m2(),
                                     include_all=zones.include_all)
            return Result({}, {"sums": sums, "overlap": overlap})

        step = feedback.step(1, 2) if two_passes else feedback
        _, merged = self.run_engine(parameters, context, step, [series] + zones.inputs, compute, [],
                                    merge=with_overlap(zn.merge_zonal),
                                    scratch=zn.scratch_bytes_per_pixel(len(years)) + 12)
        warn_overlap(zones, merged["overlap"] if merged else 0, feedback)
        rows = zn.zonal_table(merged["sums"] if merged else None, years, zones.names, include_all=zones.include_all)
        if not year_known:
            for row in rows:
                row["year"] = None
        if not with_trend:
            trends = []
            if parameters.get(OUTPUT_TREND) not in (None, ""):
                feedback.warn(f"A zone trend needs at least {max(3, min_valid)} years; {series.label()} has "
                              f"{len(years)}: OUTPUT_TREND is left empty.")
        else:
            trends = zn.zone_trends(rows, years, test=test, min_valid=min_valid)
        empty = [t["zone"] for t in trends if t["n_years"] == 0]
        if empty:
            feedback.warn(f"{len(empty)} zone(s) have no valid pixel in any year (no pixel in the zone, or only "
                          f"nodata): {', '.join(empty[:10])}{', ...' if len(empty) > 10 else ''}.")
        for t in trends[:50]:
            if t["n_years"]:
                feedback.info(f"Zone {t['zone']}: Sen slope {t['sen_slope']:.4g} per year (MK Z {t['mk_z']:.3f}, "
                              f"p {t['mk_p']:.4f}); least squares {t['ols_slope']:.4g} per year (p {t['ols_p']:.4f}); "
                              f"{t['n_years']} valid years.")

        results = {}
        if report_path and not with_trend:
            feedback.warn("The report charts zone series over the years: with fewer than 3 years it is not written; "
                          "the tables hold the statistics.")
            report_path = ""
        if report_path:
            from ..core.report import zonal_report

            units = series.units or "input units"
            description = [
                f"Input: {series.label()}, years {years[0]}-{years[-1]} ({units}); zones: {zones.description}"
                f"{' plus the whole raster (all)' if zones.include_all else ''}.",
                "Per zone and year: area-weighted mean, std (population), min, max over the valid pixels; total "
                "(Tg C) = sum(value [g C m-2] x pixel area [m2]) x 1e-12. Trends of the zone means: Theil-Sen slope "
                f"with the Mann-Kendall test ({test}), and the least-squares slope with its t-test.",
            ]
            if zones.kind == "polygons":
                description.append(rasterize_help())
            results[OUTPUT_REPORT] = zonal_report(report_path, [int(y) for y in years], rows, trends, units=units,
                                                  title=f"Zonal statistics of {os.path.basename(series.paths[0])}",
                                                  description=description)
            feedback.info(f"Report written to {report_path}")
        results[OUTPUT_TABLE] = self.write_table(parameters, OUTPUT_TABLE, context, TABLE_COLUMNS, rows)
        results[OUTPUT_TREND] = self.write_table(parameters, OUTPUT_TREND, context, TREND_COLUMNS, trends)
        return results
