"""resilience: carbon sink resilience by probability attenuation (seed 001, section 3.3), for the whole raster and
per zone, with the years each pixel kept its trend and an optional HTML report of the decay curves."""

import math

from qgis.core import (
    QgsProcessingParameterBoolean,
    QgsProcessingParameterNumber,
)

from .base import CarbonSinkAlgorithm, tr
from .zoning import (
    OUTPUT_REPORT,
    add_polygon_zones,
    add_report_output,
    polygon_zones,
    rasterize_help,
    report_destination,
)

INPUT = "INPUT"
REFERENCE_YEAR = "REFERENCE_YEAR"
FIX_LAMBDA = "FIX_LAMBDA"
MIN_VALID = "MIN_VALID"
OUTPUT_TABLE = "OUTPUT_TABLE"
OUTPUT_FIT = "OUTPUT_FIT"
OUTPUT_POSITIVE_YEARS = "OUTPUT_POSITIVE_YEARS"
OUTPUT_NEGATIVE_YEARS = "OUTPUT_NEGATIVE_YEARS"

#: Nodata of the years-maintained rasters (int16): pixels not analysed.
YEARS_NODATA = -1

TABLE_COLUMNS = [
    ("zone", "string"),
    ("year", "int"),
    ("n_positive", "int"),
    ("n_negative", "int"),
    ("q_positive", "double"),
    ("q_negative", "double"),
]
FIT_COLUMNS = [
    ("zone", "string"),
    ("tau_positive", "double"),
    ("tau_negative", "double"),
    ("rs", "double"),
    ("lambda_positive", "double"),
    ("lambda_negative", "double"),
    ("r2_positive", "double"),
    ("r2_negative", "double"),
    ("level", "string"),
    ("status_positive", "string"),
    ("status_negative", "string"),
]

HELP = """<p>Carbon sink resilience (CSR) by the probability attenuation method of seed 001 (section 3.3): how long
pixels keep the NPP trend they had at a reference year, for increasing and for decreasing pixels.</p>
<p><b>Years</b>: first year t0, reference year t' (REFERENCE_YEAR; the seed uses 2000 for 1981-2018), evaluation
years t<sub>i</sub> = t' .. last year. Time step: annual, one band per year.</p>
<p><b>1. Slopes</b> K(t<sub>i</sub>) = least-squares slope of NPP on the year over the growing window t0 ..
t<sub>i</sub> (eq. 6; g C m-2 yr-2), on the valid years of the window (missing years keep their real positions).
<b>2. Signs</b> S = +1 if K &gt; 0, -1 if K &lt; 0, 0 if K = 0 or undefined (eq. 8). <b>3. Maintenance</b>
P(t') = S(t'); P(t<sub>i</sub>) = P(t<sub>i-1</sub>) if S(t<sub>i</sub>) = P(t<sub>i-1</sub>), else 0, and once 0 it
stays 0 (eq. 9). <b>4. Counts</b> N+(t), N-(t): pixels with P = +1 / -1; <b>q(t) = N(t) / N(t')</b> (eq. 10).
<b>5. Fit</b> q(t) = lambda exp(-(t - t') / tau) by nonlinear least squares (eq. 11), separately for the positive
and the negative trend: tau+ and tau- are decay times in years; lambda is free by default, or fixed to 1 with
FIX_LAMBDA. <b>6. RS = tau+ - tau-</b> (years, eq. 12).</p>
<p><b>Levels</b> (seed 001 section 4.4): RS &gt; 500 extremely strong; 100 &lt; RS &lt;= 500 stronger;
0 &lt;= RS &lt;= 100 strong; -100 &lt;= RS &lt; 0 weak; RS &lt; -100 weaker.</p>
<p><b>Special cases</b>: when q never falls below its first value there is no decay: tau is infinite, the table
leaves it empty and the status column says "no decay" (RS is then +infinite or -infinite, or undefined when both
trends never decay). A zone without any pixel of a trend at t' has no q for it (status "no pixels"), so its RS and
level are undetermined. The fit's R2 (1 - SSR/SST on q) tells how well an exponential describes the decay.</p>
<p><b>Zones</b> (optional polygons, e.g. provinces): every zone gets its own counts, q, fit and RS; the row "all"
is the whole raster (every analysed pixel, inside a zone or not). """ + "{zones}" + """</p>
<p><b>Pixels analysed</b>: a pixel enters when its slope at t' is defined. By default (MIN_VALID = 0) every year from
t0 to t' must be valid; later gaps are skipped. A MIN_VALID of n &gt;= 2 instead asks for n valid years in each
window.</p>
<p><b>Outputs</b>: the per-year table (zone, year, n_positive, n_negative, q_positive, q_negative), the fit table
(zone, tau_positive, tau_negative, rs, lambda_positive, lambda_negative, r2_positive, r2_negative, level, then the
fit statuses), and two rasters giving, per pixel, the number of evaluation years (t' included) it kept its positive
/ negative trend (0 for the trend it did not have; int16, nodata -1 where not analysed). The optional HTML report
draws, per zone, the observed q and the fitted curves of both trends.</p>
<p><b>Input</b>: annual NPP in g C m-2 yr-1 (decoded; values above 3,500 look like raw MODIS numbers and are
refused). Any annual series can be analysed the same way.</p>
<p><b>References</b>: Wu, L. et al. (2023) Characteristics of vegetation carbon sink carrying capacity and
restoration potential of China in recent 40 years. Front. For. Glob. Change 6:1266688 (seed 001).</p>"""


def decay_curve(eval_years, lambda_: float, tau: float) -> list:
    """The fitted q(t) = lambda exp(-(t - t')/tau) at the evaluation years, for drawing (NaN when undefined).

    tau = inf ("no decay") gives the constant lambda; tau = 0 gives lambda at t' and 0 after.
    """
    t0 = float(eval_years[0])
    out = []
    for t in eval_years:
        dt = float(t) - t0
        if math.isnan(lambda_) or math.isnan(tau):
            out.append(float("nan"))
        elif math.isinf(tau):
            out.append(lambda_)
        elif tau == 0.0:
            out.append(lambda_ if dt == 0 else 0.0)
        else:
            out.append(lambda_ * math.exp(-dt / tau))
    return out


def _years_text(value: float) -> str:
    if math.isnan(value):
        return "undefined"
    if math.isinf(value):
        return "infinite (no decay)" if value > 0 else "-infinite"
    return f"{value:.2f} years"


class ResilienceAlgorithm(CarbonSinkAlgorithm):
    ALG_ID = "resilience"
    DISPLAY_NAME = "Carbon sink resilience (probability attenuation)"
    GROUP = "capacity"
    HELP = HELP

    def help_html(self) -> str:
        return self.HELP.replace("{zones}", rasterize_help())

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS's name)
        self.add_series(INPUT, "Annual NPP (g C m-2 yr-1)", "Annual net primary productivity, decoded.")
        self.add_first_year()
        self.add(
            QgsProcessingParameterNumber(REFERENCE_YEAR, tr("Reference year t'"), QgsProcessingParameterNumber.Integer,
                                         defaultValue=2000, minValue=1000, maxValue=3000),
            "The year t' from which the trends are followed (seed 001: 2000, for 1981-2018). It must be one of the "
            "years of the input and not the first: the years before it form the starting period of the slopes.",
        )
        self.add(
            QgsProcessingParameterBoolean(FIX_LAMBDA, tr("Fix lambda to 1"), defaultValue=False),
            "Fit q(t) = exp(-(t - t')/tau) (the curve starts at q(t') = 1) instead of lambda exp(-(t - t')/tau) "
            "with lambda free (default).",
        )
        add_polygon_zones(self)
        self.add_min_valid(
            "0 (default): a pixel is analysed when every year from the first year to the reference year is valid; "
            "later missing years are skipped. n >= 2: a growing window needs at least n valid years for a slope.",
            "Minimum valid years per window (0 = all years to t')",
        )
        self.add_table_output(OUTPUT_TABLE, "Maintained pixels per year",
                              "Per zone and evaluation year: N+ and N- (pixels keeping their positive / negative "
                              "trend) and q = N(t) / N(t').", create_by_default=True)
        self.add_table_output(OUTPUT_FIT, "Decay fit and resilience",
                              "Per zone: tau+, tau- (years), RS = tau+ - tau-, lambda+, lambda-, R2 of both fits, "
                              "the resilience level and the fit statuses.", create_by_default=True)
        self.add_raster_output(OUTPUT_POSITIVE_YEARS, "Years the positive trend was kept",
                               "Per pixel, the number of evaluation years (t' included) with P = +1; int16, nodata -1.")
        self.add_raster_output(OUTPUT_NEGATIVE_YEARS, "Years the negative trend was kept",
                               "Per pixel, the number of evaluation years (t' included) with P = -1; int16, nodata -1.")
        add_report_output(self, "Optional: the fit table and, per zone, the observed q and the fitted decay curves "
                                "of both trends.")
        self.add_engine_parameters()

    def run_algorithm(self, parameters, context, feedback):
        import numpy as np

        from ..core import resilience
        from ..core.engine import Result
        from ..core.modis import check_decoded_npp
        from ..core.series import resolve_min_valid
        from ..core.stack import resolve_years
        from ..core.writer import OutputSpec

        series = self.open_series(parameters, INPUT, context, feedback)
        years = resolve_years(series, self.first_year(parameters, context))
        reference_year = self.parameterAsInt(parameters, REFERENCE_YEAR, context)
        eval_years = resilience.evaluation_years(years, reference_year)
        n_start = int(np.count_nonzero(years <= reference_year))
        given = self.parameterAsInt(parameters, MIN_VALID, context)
        min_valid = resolve_min_valid(given, len(years)) if given else n_start
        fix_lambda = self.parameterAsBoolean(parameters, FIX_LAMBDA, context)
        report_path = report_destination(self, parameters, context)

        zones = polygon_zones(self, parameters, context, series.grid)
        zone_names = zones.names if zones is not None else []
        n_zones = len(zone_names)
        if resilience.ALL_ZONE in zone_names:
            feedback.warn(f"A zone is named '{resilience.ALL_ZONE}', like the whole-raster rows of the tables: tell "
                          "them apart by their order (the whole raster comes first).")
        feedback.info(f"Years {years[0]}-{years[-1]}, reference year {reference_year}, {eval_years.size} evaluation "
                      f"years {int(eval_years[0])}-{int(eval_years[-1])}; a window needs {min_valid} valid years; "
                      f"{n_zones} zone(s) besides the whole raster.")

        eval_span = f"{int(eval_years[0])}-{int(eval_years[-1])}"
        specs = [
            OutputSpec(OUTPUT_POSITIVE_YEARS, self.output_path(parameters, OUTPUT_POSITIVE_YEARS, context),
                       [f"years positive trend kept {eval_span}"], dtype="int16", nodata=YEARS_NODATA, units="years",
                       description=f"Evaluation years ({eval_span}) the pixel kept the positive NPP trend it had at "
                                   f"{reference_year} (seed 001 eq. 9)",
                       tags={"reference_year": reference_year, "first_year": int(years[0])}),
            OutputSpec(OUTPUT_NEGATIVE_YEARS, self.output_path(parameters, OUTPUT_NEGATIVE_YEARS, context),
                       [f"years negative trend kept {eval_span}"], dtype="int16", nodata=YEARS_NODATA, units="years",
                       description=f"Evaluation years ({eval_span}) the pixel kept the negative NPP trend it had at "
                                   f"{reference_year} (seed 001 eq. 9)",
                       tags={"reference_year": reference_year, "first_year": int(years[0])}),
        ]

        def as_int16(values):
            return np.where(np.isnan(values), YEARS_NODATA, values).astype(np.int16)

        def compute(block):
            npp = block.data[INPUT]
            check_decoded_npp(npp, INPUT)
            zone_index = zones.block(block)[0] if zones is not None else None
            res = resilience.resilience_block(npp, years, eval_years, zone_index, n_zones if n_zones else None,
                                              min_valid=min_valid)
            arrays = {OUTPUT_POSITIVE_YEARS: as_int16(res["positive_years"]),
                      OUTPUT_NEGATIVE_YEARS: as_int16(res["negative_years"])}
            return Result(arrays, res["counts"])

        done, counts = self.run_engine(
            parameters, context, feedback, [series], compute, specs, merge=resilience.merge_counts,
            scratch=resilience.scratch_bytes_per_pixel(eval_years.size) + 4,
            require_valid=OUTPUT_POSITIVE_YEARS,
            what=f"{series.label()} (pixels whose slope from {years[0]} to {reference_year} is defined)",
        )
        table, fits = resilience.resilience_tables(counts, eval_years, zone_names, fix_lambda=fix_lambda)
        for index, fit in enumerate(fits):
            n_pos = int(counts["n_positive"][index, 0])
            n_neg = int(counts["n_negative"][index, 0])
            feedback.info(
                f"Zone {fit['zone']}: {n_pos} positive / {n_neg} negative pixels at {reference_year}; tau+ "
                f"{_years_text(fit['tau_positive'])} ({fit['status_positive']}), tau- "
                f"{_years_text(fit['tau_negative'])} ({fit['status_negative']}); RS {_years_text(fit['rs'])}: "
                f"{fit['level']}"
            )
        results = dict(done)
        results[OUTPUT_TABLE] = self.write_table(parameters, OUTPUT_TABLE, context, TABLE_COLUMNS, table)
        results[OUTPUT_FIT] = self.write_table(parameters, OUTPUT_FIT, context, FIT_COLUMNS, fits)
        if report_path:
            description = [
                f"Input: {series.label()}, years {years[0]}-{years[-1]}; reference year t' = {reference_year}; "
                f"evaluation years {eval_span}; lambda {'fixed to 1' if fix_lambda else 'free'}; a growing window "
                f"needs {min_valid} valid years.",
                "q(t) = N(t) / N(t'), the share of the pixels that had a positive (negative) trend at t' and kept it "
                "through t; fitted with q(t) = lambda exp(-(t - t')/tau) by nonlinear least squares; RS = tau+ - tau- "
                "(years). Seed 001: Wu et al. (2023), Front. For. Glob. Change 6:1266688.",
            ]
            results[OUTPUT_REPORT] = write_report(report_path, eval_years, table, fits, description)
            feedback.info(f"Report written to {report_path}")
        return results


def write_report(path: str, eval_years, table_rows, fit_rows, description) -> str:
    """The HTML report: description, fit table, per-zone decay charts (observed q and fitted curves), counts."""
    from ..core import report as rep_mod
    from ..core.resilience import FIT_COLUMNS as CORE_FIT_COLUMNS
    from ..core.resilience import FIT_EXTRA_COLUMNS
    from ..core.resilience import TABLE_COLUMNS as CORE_TABLE_COLUMNS

    years = [int(y) for y in eval_years]
    rep = rep_mod.Report("Carbon sink resilience (probability attenuation)")
    for text in description:
        rep.add_paragraph(text)
    rep.add_heading("Decay times and resilience per zone")
    rep.add_table(fit_rows, list(CORE_FIT_COLUMNS) + list(FIT_EXTRA_COLUMNS))
    rep.add_note("tau in years; \u221e: q never decays (no decay); \u2013: undefined (no pixel with that trend at "
                 "t', or too few points).")
    rep.add_heading("Decay curves")
    if len(fit_rows) > rep_mod.MAX_ZONES:
        rep.add_note(f"Charts for the first {rep_mod.MAX_ZONES} of {len(fit_rows)} zones; the tables have them all.")
    n_years = len(years)
    for index, fit in enumerate(fit_rows[: rep_mod.MAX_ZONES]):
        rows = table_rows[index * n_years : (index + 1) * n_years]  # the table is zone by zone, in the fits' order
        observed, fitted, missing = {}, {}, []
        for key in ("positive", "negative"):
            q = [r[f"q_{key}"] for r in rows]
            if not any(math.isfinite(v) for v in q):  # no pixel had this trend at t': nothing to draw
                missing.append(key)
                continue
            observed[f"{key} trend"] = q
            fitted[f"{key} trend"] = decay_curve(years, fit[f"lambda_{key}"], fit[f"tau_{key}"])
        none = f" No pixel had a {' or a '.join(missing)} trend at t'." if missing else ""
        if not observed:
            rep.add_note(f"Zone {fit['zone']}: no pixel had a positive or a negative trend at t': no chart.")
            continue
        rep.add_figure(
            rep_mod.decay_figure(years, observed, fitted, title=f"Zone {fit['zone']}"),
            f"Zone {fit['zone']}: observed q (points) and fitted lambda exp(-(t - t')/tau) (lines); tau+ = "
            f"{_years_text(fit['tau_positive'])}, tau- = {_years_text(fit['tau_negative'])}, RS = "
            f"{_years_text(fit['rs'])} ({fit['level']}).{none}",
        )
    rep.add_heading("Maintained pixels per year")
    rep.add_table(table_rows, list(CORE_TABLE_COLUMNS))
    return rep.write(path)
