"""partial_correlation: (partial) correlation of a target stack with up to five climate factors, per pixel, with
significance classes and the dominant factor.

Also holds the factor-stack parameters shared with ``attribution`` (FACTOR_1 .. FACTOR_5, FACTOR_NAMES): opening
them with the target's years, refusing gaps and monthly stacks, and naming the factors.
"""

from __future__ import annotations

import os
import re

from qgis.core import QgsProcessingParameterBoolean, QgsProcessingParameterNumber, QgsProcessingParameterString

from .base import CarbonSinkAlgorithm, tr

INPUT = "INPUT"
FACTORS = ["FACTOR_1", "FACTOR_2", "FACTOR_3", "FACTOR_4", "FACTOR_5"]
FACTOR_NAMES = "FACTOR_NAMES"
METHOD = "METHOD"
ALPHA = "ALPHA"
MIN_VALID = "MIN_VALID"
DOMINANT_SIGNIFICANT_ONLY = "DOMINANT_SIGNIFICANT_ONLY"
OUTPUT_R = "OUTPUT_R"
OUTPUT_P = "OUTPUT_P"
OUTPUT_CLASS = "OUTPUT_CLASS"
OUTPUT_DOMINANT = "OUTPUT_DOMINANT"
OUTPUT_DOMINANT_AREA = "OUTPUT_DOMINANT_AREA"

METHODS = [("Pearson", "pearson"), ("Spearman (Pearson on ranks)", "spearman")]

# a MODIS date (A2000001) or a free-standing 4-digit year, removed from file names to name a list-of-files factor
_YEAR_IN_NAME = re.compile(r"A(?:19|20|21)\d{5}(?!\d)|(?<!\d)(?:19|20|21)\d{2}(?!\d)")

TIME_STEP_HELP = """<p><b>Time step</b>: annual series, one band (or one file) per year, the target and every
factor for the same years on the same grid. Monthly climate must be aggregated to annual values first: mean
temperature (mean of the 12 months), total precipitation (sum of the 12 months). A factor with 12 bands per target
year is refused with this advice.</p>"""

FACTOR_HELP = """<p><b>Factors</b>: FACTOR_1 (required) to FACTOR_5, filled in order without gaps. Each is ONE
multiband raster (one band per year) or a list of single-band rasters (one per year). Years come from FIRST_YEAR,
else from the target's band descriptions or file names; a factor whose own band descriptions or file names give
other years is refused. FACTOR_NAMES names the factors, comma separated in factor order (e.g.
'Temperature, Precipitation'); they become the band descriptions and the legend entries. Empty: the factors' file
names (without the year), or 'factor 1', 'factor 2', ...</p>"""


# --------------------------------------------------------------------------------------------------------------
# Factor stacks shared with attribution
# --------------------------------------------------------------------------------------------------------------


def add_factor_parameters(alg: CarbonSinkAlgorithm) -> None:
    """FACTOR_1 (required) .. FACTOR_5 (optional) and FACTOR_NAMES."""
    for i, name in enumerate(FACTORS, start=1):
        alg.add_series(
            name,
            f"Factor {i}" + ("" if i == 1 else " (optional)"),
            f"Climate factor {i} (e.g. annual mean temperature, annual precipitation), one band per year for the "
            "target's years." + ("" if i == 1 else f" Give it only when FACTOR_{i - 1} is given."),
            optional=i > 1,
        )
    alg.add(
        QgsProcessingParameterString(
            FACTOR_NAMES, tr("Factor names (comma separated)"), defaultValue="", optional=True
        ),
        "One name per factor given, in order, separated by commas (e.g. 'Temperature, Precipitation'). They name "
        "the output bands and the legend entries. Empty: the factors' file names without the year, else "
        "'factor 1', 'factor 2', ...",
    )


def given_factors(alg: CarbonSinkAlgorithm, parameters, context) -> list[str]:
    """The factor parameters given (FACTOR_1 .. FACTOR_k); refuses a missing FACTOR_1 and gaps."""
    from ..core.errors import InputError

    given = [name for name in FACTORS if alg.layer_paths(parameters, name, context)]
    if not given or given[0] != FACTORS[0]:
        raise InputError("FACTOR_1 is empty: give at least one factor stack, starting with FACTOR_1.")
    for i, name in enumerate(given):
        if name != FACTORS[i]:
            raise InputError(
                f"{name} is given but {FACTORS[i]} is empty: fill the factors in order (FACTOR_1, FACTOR_2, ...) "
                "without gaps."
            )
    return given


def _default_name(paths: list[str]) -> str:
    bases = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    if len(bases) == 1:
        return bases[0].strip()
    stripped = {_YEAR_IN_NAME.sub("", b).strip(" _-.") for b in bases}
    return stripped.pop() if len(stripped) == 1 else ""


def factor_names(alg: CarbonSinkAlgorithm, parameters, context, factors: list[str]) -> list[str]:
    """FACTOR_NAMES split on commas (one distinct, non-empty name per factor), or default names."""
    from ..core.errors import InputError

    text = alg.parameterAsString(parameters, FACTOR_NAMES, context) if FACTOR_NAMES in parameters else ""
    text = (text or "").strip()
    if text:
        names = [n.strip() for n in text.split(",")]
        if len(names) != len(factors):
            raise InputError(
                f"FACTOR_NAMES gives {len(names)} name(s) ({', '.join(repr(n) for n in names)}) but "
                f"{len(factors)} factor(s) are given ({', '.join(factors)}): give one name per factor, in factor "
                "order, separated by commas."
            )
        if any(not n for n in names):
            raise InputError(f"FACTOR_NAMES '{text}' has an empty name: give one non-empty name per factor.")
        seen = set()
        for n in names:
            if n in seen:
                raise InputError(f"FACTOR_NAMES gives the name '{n}' twice: give every factor its own name.")
            seen.add(n)
        return names
    names = [_default_name(alg.layer_paths(parameters, f, context)) for f in factors]
    if any(not n for n in names) or len(set(names)) != len(names):
        names = [f"factor {i}" for i in range(1, len(factors) + 1)]
    return names


def open_target_and_factors(alg: CarbonSinkAlgorithm, parameters, context, feedback, factors: list[str]):
    """Open INPUT and the factors with their common years; a monthly factor is refused with the fix."""
    from ..core.errors import InputError

    names = [INPUT, *factors]
    series = [alg.open_series(parameters, name, context, feedback) for name in names]
    target = series[0]
    for name, other in zip(factors, series[1:]):
        if other.count == 12 * target.count and other.count != target.count:
            raise InputError(
                f"{name} has {other.count} bands, 12 per band of INPUT ({target.count}): it looks like a monthly "
                "stack. The analysis is annual: aggregate the months to annual values first (mean temperature, "
                "total precipitation), e.g. with the Raster calculator, then give the annual stack."
            )
    return alg.series_with_years(parameters, context, feedback, names, opened=series)


def open_factor_run(alg: CarbonSinkAlgorithm, parameters, context, feedback):
    """What both driver algorithms start with: the factor parameters given, their names, the opened target and
    factors with their common years, and MIN_VALID as a count. Returns (factors, names, series, years, min_valid)."""
    from ..core.series import resolve_min_valid

    factors = given_factors(alg, parameters, context)
    names = factor_names(alg, parameters, context, factors)
    series, years = open_target_and_factors(alg, parameters, context, feedback, factors)
    min_valid = resolve_min_valid(alg.parameterAsInt(parameters, MIN_VALID, context), len(years))
    log_factors(feedback, names, series[1:])
    return factors, names, series, years, min_valid


def log_factors(feedback, names: list[str], factor_series) -> None:
    feedback.info(
        "Factors: "
        + "; ".join(f"'{n}' = {s.label()}" + (f" [{s.units}]" if s.units else "") for n, s in zip(names, factor_series))
    )


# --------------------------------------------------------------------------------------------------------------
# The algorithm
# --------------------------------------------------------------------------------------------------------------

HELP = (
    """<p>Per pixel, the correlation of a target series (e.g. annual NEP) with each of 1 to 5 climate factors
(e.g. annual temperature, precipitation, radiation), controlling for the other factors: partial correlation, as in
seeds 000 and 004; with a single factor, the plain correlation (seed 002).</p>
<p>Per pixel only the <b>complete years</b> are used: years where the target and every factor are valid (n of
them). <b>Pearson</b>: r = sum (x - x_mean)(y - y_mean) / sqrt(sum (x - x_mean)^2 sum (y - y_mean)^2).
<b>Spearman</b>: the same on the ranks of each series over the complete years (ties get their average rank).</p>
<p><b>Partial r</b>: with R the correlation matrix of [target, factor 1 .. factor k] and P = R^-1 its inverse,
r_j = -P_0j / sqrt(P_00 P_jj) (equal to seed 000's recursive formula, eq. 4). With one factor r_1 is the plain
correlation.</p>
<p><b>Test</b>: t = r sqrt(df) / sqrt(1 - r^2), two-sided p from Student's t with df = n - 2 - (k - 1) degrees of
freedom, k = number of factors given. Each partial correlation controls for the k - 1 OTHER factors, and each
controlled factor costs one degree of freedom; with one factor df = n - 2, the plain correlation test (seed 002).
METHODS.md writes df = n - 2 - k with its k counting the controlled (other) factors: the same number.
pingouin.partial_corr uses the same df.</p>
<p><b>Classes</b> (OUTPUT_CLASS, one band per factor, band descriptions = factor names): 1 significant negative
(r &lt; 0, p &lt; ALPHA), 2 not significant negative (r &lt; 0, p &gt;= ALPHA), 3 not significant positive
(r &gt; 0, p &gt;= ALPHA), 4 significant positive (r &gt; 0, p &lt; ALPHA), 0 r = 0 exactly. The legend is styled
on band 1; every band uses the same codes. The log gives each class's area per factor.</p>
<p><b>Dominant factor</b> (OUTPUT_DOMINANT, legend with the factor names): the code j (1..k) of the factor with
the largest |partial r| (seed 004, Figure 7; ties go to the lower factor number); 0 'None' where every r is 0 or,
with DOMINANT_SIGNIFICANT_ONLY, where no factor is significant at ALPHA (only significant factors compete then).
</p>
<p><b>Nodata</b>: pixels with fewer than MIN_VALID complete years (default: all years) or fewer than k + 2, a
constant target or factor over the complete years, or (k &gt;= 2) a singular correlation matrix (a factor that is
a linear combination of the others, or a target that is an exact linear combination of the factors). The log
says how many pixels with data got no result.</p>
<p><b>Units</b>: r and p are unitless.</p>"""
    + TIME_STEP_HELP
    + FACTOR_HELP
    + """<p><b>References</b>: Zhang, Liu, Jiang (2025) Front. Environ. Sci. 13:1550501 (seed 000, section 2.4.5);
Cui et al. (2025) Front. Environ. Sci. 13:1581983 (seed 002, correlation t-test); Li, Li, Su, Li, Pang (2026)
Terrestrial NEP on the Tibetan Plateau: characteristics, climate drivers and future changes (seed 004, partial
correlation and dominant drivers, Figure 7); Whittaker (1990) Graphical Models in Applied Multivariate Statistics
(partial correlation from the inverse correlation matrix); Vallat (2018) Pingouin, JOSS 3(31), 1026.</p>"""
)


class PartialCorrelationAlgorithm(CarbonSinkAlgorithm):
    ALG_ID = "partial_correlation"
    DISPLAY_NAME = "Correlation with climate factors"
    GROUP = "drivers"
    HELP = HELP

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS's name)
        self.add_series(INPUT, "Target series (e.g. annual NEP)", "The annual series to explain, e.g. NEP or NPP.")
        add_factor_parameters(self)
        self.add_enum(
            METHOD,
            "Correlation",
            [label for label, _ in METHODS],
            0,
            "Pearson (linear), or Spearman (Pearson on the ranks of each series: monotonic relations, "
            "robust to outliers).",
        )
        self.add(
            QgsProcessingParameterNumber(
                ALPHA,
                tr("Significance level (ALPHA)"),
                QgsProcessingParameterNumber.Double,
                defaultValue=0.05,
                minValue=0.0001,
                maxValue=0.5,
            ),
            "p below ALPHA counts as significant in the classes (and in the dominant factor when "
            "DOMINANT_SIGNIFICANT_ONLY is set).",
        )
        self.add_first_year()
        self.add_min_valid(
            "A pixel is analysed when the target and EVERY factor are valid in at least this many years (the other "
            "years are left out for that pixel). 0 (default) requires every year, as the papers do.",
            "Minimum complete years (0 = all years)")
        self.add(
            QgsProcessingParameterBoolean(
                DOMINANT_SIGNIFICANT_ONLY, tr("Dominant factor among significant factors only"), defaultValue=False
            ),
            "When set, only factors with p < ALPHA compete for the dominant factor; a pixel without any gets "
            "0 'None'. Off: the largest |r| wins whatever its p.",
            advanced=True,
        )
        self.add_raster_output(
            OUTPUT_R,
            "Correlation r",
            "Partial r of the target with each factor (plain r with one factor), one band per factor named after it.",
        )
        self.add_raster_output(OUTPUT_P, "p-value", "Two-sided p-value of each r, one band per factor.")
        self.add_raster_output(
            OUTPUT_CLASS,
            "Correlation classes",
            "Significant / not significant, positive / negative, one band per factor, with a legend.",
        )
        self.add_raster_output(
            OUTPUT_DOMINANT,
            "Dominant factor",
            "1..k: the factor with the largest |r|, 0 none; the legend carries the factor names.",
        )
        self.add_table_output(
            OUTPUT_DOMINANT_AREA,
            "Dominant factor areas",
            "Optional: area (km2) and share (%) of the pixels each factor dominates.",
        )
        self.add_engine_parameters()

    def run_algorithm(self, parameters, context, feedback):
        import numpy as np

        from ..core import drivers
        from ..core.classes import class_areas
        from ..core.engine import Result
        from ..core.writer import OutputSpec

        factors, names, series, years, min_valid = open_factor_run(self, parameters, context, feedback)
        k = len(factors)
        method_label, method = METHODS[self.parameterAsEnum(parameters, METHOD, context)]
        alpha = self.parameterAsDouble(parameters, ALPHA, context)
        significant_only = self.parameterAsBool(parameters, DOMINANT_SIGNIFICANT_ONLY, context)
        dom_scheme = drivers.dominant_scheme(names)
        class_scheme = drivers.CORRELATION_SCHEME
        span = f"{years[0]}-{years[-1]}"
        kind = "plain" if k == 1 else "partial"
        what = f"{kind} {method_label} correlation of {series[0].label()} with {', '.join(names)}, {span}"
        tags = {
            "factors": names,
            "method": method,
            "alpha": alpha,
            "min_valid": min_valid,
            "years": span,
            "df": f"n - 2 - {k - 1} (n = complete years of the pixel)",
        }
        specs = [
            OutputSpec(
                OUTPUT_R, self.output_path(parameters, OUTPUT_R, context), names, description=f"{what}: r", tags=tags
            ),
            OutputSpec(
                OUTPUT_P,
                self.output_path(parameters, OUTPUT_P, context),
                names,
                description=f"{what}: two-sided p",
                tags=tags,
            ),
            OutputSpec(
                OUTPUT_CLASS,
                self.output_path(parameters, OUTPUT_CLASS, context),
                names,
                dtype="int16",
                scheme=class_scheme,
                description=f"{what}: classes at ALPHA = {alpha:g}",
                tags=tags,
            ),
            OutputSpec(
                OUTPUT_DOMINANT,
                self.output_path(parameters, OUTPUT_DOMINANT, context),
                [f"dominant factor {span}"],
                dtype="int16",
                scheme=dom_scheme,
                description=f"Dominant factor (largest |{kind} r|"
                + (f", significant at {alpha:g} only)" if significant_only else ")"),
                tags=tags,
            ),
        ]

        def compute(block):
            target = block.data[INPUT]
            res = drivers.partial_correlation(
                target, [block.data[f] for f in factors], method=method, min_valid=min_valid
            )
            r, p = res["r"], res["p"]
            classes = drivers.correlation_classes(r, p, alpha)
            dominant = drivers.dominant_factor(r, p, alpha=alpha, significant_only=significant_only)
            area = block.area_m2()
            per_factor = np.stack([class_areas(classes[j], area, class_scheme) for j in range(k)])
            no_result = int(np.count_nonzero(np.isnan(r).all(axis=0) & ~np.isnan(target).all(axis=0)))
            return Result(
                {OUTPUT_R: r, OUTPUT_P: p, OUTPUT_CLASS: classes, OUTPUT_DOMINANT: dominant},
                partial=(per_factor, class_areas(dominant, area, dom_scheme), no_result),
            )

        done, (per_factor, dom_areas, no_result) = self.run_engine(
            parameters,
            context,
            feedback,
            series,
            compute,
            specs,
            require_valid=OUTPUT_R,
            merge=lambda a, b: (a[0] + b[0], a[1] + b[1], a[2] + b[2]),
            scratch=drivers.scratch_bytes_per_pixel(len(years), k, method),
            what=f"{series[0].label()} and the factors (pixels with at least {min_valid} complete years)",
        )
        if no_result:
            feedback.warn(
                f"{no_result} pixel(s) with target data got no result: fewer than {min_valid} complete "
                "years (target and every factor valid), a constant series, or collinear factors."
            )
        for j, name in enumerate(names):
            self.report_class_areas(
                parameters, None, context, feedback, per_factor[j], class_scheme, f"the correlation with {name}"
            )
        results = {key: done.get(key) for key in (OUTPUT_R, OUTPUT_P, OUTPUT_CLASS, OUTPUT_DOMINANT)}
        results[OUTPUT_DOMINANT_AREA] = self.report_class_areas(
            parameters, OUTPUT_DOMINANT_AREA, context, feedback, dom_areas, dom_scheme, "the dominant factor"
        )
        return results
