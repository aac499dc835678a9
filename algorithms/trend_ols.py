"""trend_ols: least-squares linear trend per pixel with the t-test of the slope (seeds 001, 003)."""


from .base import CarbonSinkAlgorithm
from .trend_sen_mk import per_year_units

INPUT = "INPUT"
MIN_VALID = "MIN_VALID"
OUTPUT_SLOPE = "OUTPUT_SLOPE"
OUTPUT_P = "OUTPUT_P"
OUTPUT_CLASS = "OUTPUT_CLASS"
OUTPUT_R2 = "OUTPUT_R2"
OUTPUT_INTERCEPT = "OUTPUT_INTERCEPT"
OUTPUT_CLASS_AREA = "OUTPUT_CLASS_AREA"

HELP = """<p>Per pixel, the ordinary least-squares linear trend of an annual series against the year, as seeds 001
and 003 map it.</p>
<p><b>Slope</b> = [n sum(t x) - sum t sum x] / [n sum t^2 - (sum t)^2], t in years, over the valid years (units of
the input per year); <b>p</b>: two-sided t-test of the slope, t = r sqrt(n-2) / sqrt(1 - r^2) with n - 2 degrees
of freedom; <b>r2</b> the coefficient of determination. A constant series has slope 0 and p = 1.</p>
<p><b>Classes</b> (seed 003, Table 1): slope &lt; 0 or &gt; 0 crossed with p &lt; 0.01 (extremely significant),
0.01 &lt;= p &lt; 0.05 (significant) and p &gt;= 0.05 (not significant): codes -3..3, 0 only where the slope is
exactly 0. The class raster comes with its legend; the log (and the optional class-area table) gives each class's
area and share, area-weighted on the ellipsoid.</p>
<p><b>Time step</b>: annual, one band per year. <b>Minimum valid years</b>: by default every year must be valid.</p>
<p><b>References</b>: Wu et al. (2023) Front. For. Glob. Change 6:1266688 (seed 001); Jiao, NEP of Qilian
Mountain National Park 2000-2022 (seed 003).</p>"""


class TrendOlsAlgorithm(CarbonSinkAlgorithm):
    ALG_ID = "trend_ols"
    DISPLAY_NAME = "Linear trend (least squares)"
    GROUP = "trend"
    HELP = HELP

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS's name)
        self.add_series(INPUT, "Annual series", "The annual series to analyse (e.g. NEP or NPP), one band per year.")
        self.add_first_year()
        self.add_min_valid()
        self.add_raster_output(OUTPUT_SLOPE, "Slope (per year)", "Least-squares slope, input units per year.")
        self.add_raster_output(OUTPUT_P, "p-value of the slope", "Two-sided t-test p-value (n - 2 df).")
        self.add_raster_output(OUTPUT_CLASS, "Trend classes (seed 003)", "Six significance classes with legend.")
        self.add_raster_output(OUTPUT_R2, "r2", "Optional: coefficient of determination.", optional=True)
        self.add_raster_output(OUTPUT_INTERCEPT, "Intercept (value at the first year)",
                               "Optional: the fitted line's value at the first year.", optional=True)
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
        min_valid = resolve_min_valid(self.parameterAsInt(parameters, MIN_VALID, context), len(years))
        scheme = trend.OLS6_SCHEME
        span = f"{years[0]}-{years[-1]}"
        specs = [
            OutputSpec(OUTPUT_SLOPE, self.output_path(parameters, OUTPUT_SLOPE, context), [f"OLS slope {span}"],
                       units=per_year_units(series), description=f"Least-squares slope {span}"),
            OutputSpec(OUTPUT_P, self.output_path(parameters, OUTPUT_P, context), [f"p {span}"],
                       description="Two-sided t-test p-value of the least-squares slope"),
            OutputSpec(OUTPUT_CLASS, self.output_path(parameters, OUTPUT_CLASS, context), [f"trend class {span}"],
                       dtype="int16", scheme=scheme, description=scheme.title),
            OutputSpec(OUTPUT_R2, self.output_path(parameters, OUTPUT_R2, context), [f"r2 {span}"],
                       description="Coefficient of determination of the linear trend"),
            OutputSpec(OUTPUT_INTERCEPT, self.output_path(parameters, OUTPUT_INTERCEPT, context),
                       [f"intercept at {years[0]}"], units=series.units,
                       description="Value of the least-squares line at the first year"),
        ]

        def compute(block):
            res = trend.ols_trend(block.data[INPUT], years, min_valid=min_valid)
            classes = trend.ols_classes_6(res["slope"], res["p"])
            arrays = {OUTPUT_SLOPE: res["slope"], OUTPUT_P: res["p"], OUTPUT_CLASS: classes, OUTPUT_R2: res["r2"],
                      OUTPUT_INTERCEPT: res["intercept"]}
            return Result(arrays, partial=class_areas(classes, block.area_m2(), scheme))

        done, areas = self.run_engine(parameters, context, feedback, [series], compute, specs,
                                      require_valid=OUTPUT_SLOPE, merge=lambda a, b: a + b,
                                      what=f"{series.label()} (pixels with at least {min_valid} valid years)")
        results = {key: done.get(key) for key in (OUTPUT_SLOPE, OUTPUT_P, OUTPUT_CLASS, OUTPUT_R2, OUTPUT_INTERCEPT)}
        results[OUTPUT_CLASS_AREA] = self.report_class_areas(parameters, OUTPUT_CLASS_AREA, context, feedback, areas,
                                                             scheme, "the least-squares trend")
        return results
