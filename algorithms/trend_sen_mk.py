"""trend_sen_mk: Theil-Sen slope and Mann-Kendall test per pixel, with the autocorrelation-corrected variants."""

from qgis.core import QgsProcessingParameterNumber

from .base import CarbonSinkAlgorithm, tr

INPUT = "INPUT"
TEST = "TEST"
CLASS_SCHEME = "CLASS_SCHEME"
ALPHA = "ALPHA"
MIN_VALID = "MIN_VALID"
LAG = "LAG"
OUTPUT_SLOPE = "OUTPUT_SLOPE"
OUTPUT_Z = "OUTPUT_Z"
OUTPUT_P = "OUTPUT_P"
OUTPUT_CLASS = "OUTPUT_CLASS"
OUTPUT_TAU = "OUTPUT_TAU"
OUTPUT_INTERCEPT = "OUTPUT_INTERCEPT"
OUTPUT_CLASS_AREA = "OUTPUT_CLASS_AREA"

TESTS = [
    ("Original Mann-Kendall (default)", "original"),
    ("Hamed-Rao variance correction", "hamed_rao"),
    ("Yue-Wang effective sample size", "yue_wang"),
    ("Pre-whitening", "prewhitening"),
    ("Trend-free pre-whitening", "trend_free_prewhitening"),
]

HELP = """<p>Per pixel, the Theil-Sen slope and the Mann-Kendall trend test of an annual series (seeds 000 and 002),
giving the same numbers as <i>pymannkendall</i> (1.4.3) without its per-pixel loop.</p>
<p><b>Sen slope</b> = median over valid pairs i &lt; j of (x_j - x_i) / (t_j - t_i), t in years: units of the input
per year (e.g. g C m-2 yr-1 per year). Missing years keep their real positions.</p>
<p><b>Mann-Kendall</b>: S = sum over i &lt; j of sign(x_j - x_i) over the n valid values;
Var(S) = [n(n-1)(2n+5) - sum_g t_g(t_g-1)(2t_g+5)] / 18 (t_g: sizes of groups of equal values);
Z = (S-1)/sqrt(Var) if S &gt; 0, 0 if S = 0, (S+1)/sqrt(Var) if S &lt; 0; p = 2(1 - Phi(|Z|));
tau = S / (n(n-1)/2).</p>
<p><b>Autocorrelation-corrected variants</b> (pymannkendall's semantics): Hamed-Rao (Var(S) multiplied by a factor
from the significant autocorrelation lags of the ranks of the Sen-detrended series), Yue-Wang (effective sample
size from the autocorrelation of the detrended series), pre-whitening (test on x_(k+1) - r1 x_k) and trend-free
pre-whitening. Where the Hamed-Rao or Yue-Wang correction factor is not a positive number (pymannkendall then
returns NaN p, its issue 29), the uncorrected variance is used and the log says for how many pixels: the
conservative choice.</p>
<p><b>Classes</b> (sign from the Sen slope): nine classes of seed 000 Table 1, read symmetrically: +/-4 extremely
significant |Z| &gt; 2.58; +/-3 significant 1.96 &lt; |Z| &lt;= 2.58; +/-2 weakly significant 1.64 &lt; |Z| &lt;= 1.96;
+/-1 insignificant |Z| &lt;= 1.64 with slope != 0; 0 unchanged (slope = 0). Or five classes: +/-2 significant
(p &lt; ALPHA), +/-1 not significant, 0 no change. The class raster comes with its legend, and the log (and the
optional class-area table) gives each class's area and share, area-weighted on the ellipsoid.</p>
<p><b>Time step</b>: annual, one band per year. <b>Minimum valid years</b>: by default every year must be valid
(results then match the papers); a lower MIN_VALID analyses pixels with gaps.</p>
<p><b>References</b>: Mann (1945); Kendall (1975); Sen (1968) J. Am. Stat. Assoc. 63, 1379-1389; Hamed &amp; Rao
(1998) J. Hydrol. 204, 182-196; Yue &amp; Wang (2004) Water Resour. Manag. 18, 201-218; Hussain &amp; Mahmud (2019)
pyMannKendall, JOSS 4(39), 1556; Zhang, Liu, Jiang (2025) (seed 000); Cui et al. (2025) (seed 002).</p>"""


def per_year_units(series) -> str:
    return f"{series.units} per year" if series.units else "input units per year"


class TrendSenMkAlgorithm(CarbonSinkAlgorithm):
    ALG_ID = "trend_sen_mk"
    DISPLAY_NAME = "Sen slope + Mann-Kendall"
    GROUP = "trend"
    HELP = HELP

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS's name)
        self.add_series(INPUT, "Annual series", "The annual series to analyse (e.g. NEP), one band per year.")
        self.add_first_year()
        self.add_enum(TEST, "Mann-Kendall test", [label for label, _ in TESTS], 0,
                      "The original test, or a variant corrected for serial correlation (pymannkendall's names: "
                      "hamed_rao_modification_test, yue_wang_modification_test, pre_whitening_modification_test, "
                      "trend_free_pre_whitening_modification_test).")
        self.add_enum(CLASS_SCHEME, "Class scheme",
                      ["Nine classes of seed 000 (Table 1, by |Z|)", "Five classes (significant at ALPHA or not)"],
                      0, "How the class raster groups slope sign and significance.")
        self.add(QgsProcessingParameterNumber(ALPHA, tr("Significance level (ALPHA)"),
                                              QgsProcessingParameterNumber.Double, defaultValue=0.05,
                                              minValue=0.0001, maxValue=0.5),
                 "Used by the five-class scheme and by the Hamed-Rao lag screening.")
        self.add_min_valid()
        self.add(QgsProcessingParameterNumber(LAG, tr("Autocorrelation lags (0 = all)"),
                                              QgsProcessingParameterNumber.Integer, defaultValue=0, minValue=0),
                 "Number of lags used by the Hamed-Rao and Yue-Wang variants; 0 uses all (pymannkendall's "
                 "default).", advanced=True)
        self.add_raster_output(OUTPUT_SLOPE, "Sen slope (per year)", "Theil-Sen slope, input units per year.")
        self.add_raster_output(OUTPUT_Z, "Mann-Kendall Z", "Standardised Mann-Kendall statistic Z.")
        self.add_raster_output(OUTPUT_P, "Mann-Kendall p-value", "Two-sided p-value of the test.")
        self.add_raster_output(OUTPUT_CLASS, "Trend classes", "Trend classes with their legend (see help).")
        self.add_raster_output(OUTPUT_TAU, "Kendall tau", "Optional: Kendall's tau.", optional=True)
        self.add_raster_output(OUTPUT_INTERCEPT, "Sen intercept (value at the first year)",
                               "Optional: the Sen line's value at the first year.", optional=True)
        self.add_table_output(OUTPUT_CLASS_AREA, "Trend class areas",
                              "Optional: area (km2) and share (%) of every trend class.")
        self.add_engine_parameters()

    def run_algorithm(self, parameters, context, feedback):
        from ..core import trend
        from ..core.classes import class_areas
        from ..core.engine import Result
        from ..core.series import resolve_min_valid
        from ..core.stack import resolve_years
        from ..core.writer import OutputSpec

        series = self.open_series(parameters, INPUT, context, feedback)
        years = resolve_years(series, self.first_year(parameters, context))
        test_label, test = TESTS[self.parameterAsEnum(parameters, TEST, context)]
        nine = self.parameterAsEnum(parameters, CLASS_SCHEME, context) == 0
        alpha = self.parameterAsDouble(parameters, ALPHA, context)
        lag = self.parameterAsInt(parameters, LAG, context) or None
        min_valid = resolve_min_valid(self.parameterAsInt(parameters, MIN_VALID, context), len(years))
        scheme = trend.MK9_SCHEME if nine else trend.mk5_scheme(alpha)
        span = f"{years[0]}-{years[-1]}"
        units = per_year_units(series)
        desc = f"{test_label}, {span}"
        specs = [
            OutputSpec(OUTPUT_SLOPE, self.output_path(parameters, OUTPUT_SLOPE, context), [f"Sen slope {span}"],
                       units=units, description=f"Theil-Sen slope ({desc})"),
            OutputSpec(OUTPUT_Z, self.output_path(parameters, OUTPUT_Z, context), [f"Z {span}"],
                       description=f"Mann-Kendall Z ({desc})"),
            OutputSpec(OUTPUT_P, self.output_path(parameters, OUTPUT_P, context), [f"p {span}"],
                       description=f"Mann-Kendall two-sided p-value ({desc})"),
            OutputSpec(OUTPUT_CLASS, self.output_path(parameters, OUTPUT_CLASS, context), [f"trend class {span}"],
                       dtype="int16", scheme=scheme, description=scheme.title),
            OutputSpec(OUTPUT_TAU, self.output_path(parameters, OUTPUT_TAU, context), [f"tau {span}"],
                       description=f"Kendall tau ({desc})"),
            OutputSpec(OUTPUT_INTERCEPT, self.output_path(parameters, OUTPUT_INTERCEPT, context),
                       [f"Sen intercept at {years[0]}"], units=series.units,
                       description="Value of the Sen line at the first year"),
        ]

        def compute(block):
            res = trend.mann_kendall(block.data[INPUT], years, test=test, alpha=alpha, lag=lag,
                                     min_valid=min_valid)
            if nine:
                classes = trend.mk_classes_9(res["z"], res["slope"])
            else:
                classes = trend.mk_classes_5(res["p"], res["slope"], alpha)
            arrays = {OUTPUT_SLOPE: res["slope"], OUTPUT_Z: res["z"], OUTPUT_P: res["p"], OUTPUT_CLASS: classes,
                      OUTPUT_TAU: res["tau"], OUTPUT_INTERCEPT: res["intercept"]}
            fallback = int(res["var_fallback"].sum()) if "var_fallback" in res else 0
            return Result(arrays, partial=(class_areas(classes, block.area_m2(), scheme), fallback))

        done, (areas, fallback) = self.run_engine(
            parameters, context, feedback, [series], compute, specs, require_valid=OUTPUT_SLOPE,
            merge=lambda a, b: (a[0] + b[0], a[1] + b[1]),
            scratch=trend.scratch_bytes_per_pixel(len(years), test),
            what=f"{series.label()} (pixels with at least {min_valid} valid years)")
        if fallback and test in ("hamed_rao", "yue_wang"):
            feedback.warn(f"{fallback} pixels: the {test_label} correction factor was not positive; the "
                          "uncorrected Mann-Kendall variance was used there (pymannkendall would give NaN).")
        elif fallback:
            feedback.info(f"{fallback} pixels: the lag-1 autocorrelation was undefined (constant series), so the "
                          "series was not whitened there.")
        results = {key: done.get(key) for key in (OUTPUT_SLOPE, OUTPUT_Z, OUTPUT_P, OUTPUT_CLASS, OUTPUT_TAU,
                                                  OUTPUT_INTERCEPT)}
        results[OUTPUT_CLASS_AREA] = self.report_class_areas(parameters, OUTPUT_CLASS_AREA, context, feedback, areas,
                                                             scheme, "the trend")
        return results

