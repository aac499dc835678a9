"""attribution: contributions of climate factors and of "human activities and other" to a target's trend
(seed 002, eq. 21-22 and Table 2), per pixel."""

from __future__ import annotations

from qgis.core import QgsProcessingParameterBoolean

from .base import CarbonSinkAlgorithm, tr
from .partial_correlation import (
    FACTOR_HELP,
    INPUT,
    TIME_STEP_HELP,
    add_factor_parameters,
    open_factor_run,
)

USE_CORRELATION = "USE_CORRELATION"
OUTPUT_CONTRIBUTIONS = "OUTPUT_CONTRIBUTIONS"
OUTPUT_CLASS = "OUTPUT_CLASS"
OUTPUT_CLIMATE_SHARE = "OUTPUT_CLIMATE_SHARE"
OUTPUT_COEFFICIENTS = "OUTPUT_COEFFICIENTS"
OUTPUT_FACTOR_TRENDS = "OUTPUT_FACTOR_TRENDS"
OUTPUT_CLASS_AREA = "OUTPUT_CLASS_AREA"

#: band descriptions of OUTPUT_CONTRIBUTIONS after the factors' own bands
CLIMATE_BAND = "climate (sum of the factors)"
RESIDUAL_BAND = "residual (human activities and other)"
OBSERVED_BAND = "observed trend"

HELP = (
    """<p>Splits the trend of a target series (e.g. annual NEP) into the contributions of 1 to 5 climate factors
and a residual attributed to "human activities and other" (seed 002, Cui et al. 2025, eq. 21-22 and Table 2),
per pixel.</p>
<p>Per pixel, over the <b>complete years</b> (target and every factor valid; all trends use the same years, so
the parts add up exactly):</p>
<ul>
<li><b>Regression</b> (multiple linear, ordinary least squares): target(t) = b_0 + sum_k b_k factor_k(t) + e(t).
b_k (OUTPUT_COEFFICIENTS) is dNEP/dfactor_k of eq. 21, in target units per factor unit.</li>
<li><b>Trends</b> (eq. 22, OLS slope on the year): trend_x = sum (t - t_mean)(x - x_mean) / sum (t - t_mean)^2,
t in years (missing years keep their real positions), per year (OUTPUT_FACTOR_TRENDS for the factors).</li>
<li><b>Contribution</b> of factor k = b_k x trend_k; <b>climate</b> C = sum of the factors' contributions;
<b>observed</b> = the target's trend; <b>residual</b> H = observed - C ("human activities and other"). All in
target units per year (g C m-2 yr-1 per year for annual NEP).</li>
</ul>
<p>OUTPUT_CONTRIBUTIONS bands: one per factor (named after it), then climate, residual, observed trend.</p>
<p><b>Classes</b> (OUTPUT_CLASS, seed 002 Table 2 / Figure 12): observed &gt; 0: 1 increase by climate and human
activities (C &gt; 0, H &gt; 0), 2 increase by climate (C &gt; 0, H &lt;= 0), 3 increase by human activities and
other (C &lt;= 0, H &gt; 0); observed &lt; 0: 4 decrease by both (C &lt; 0, H &lt; 0), 5 decrease by climate
(C &lt; 0, H &gt;= 0), 6 decrease by human activities and other (C &gt;= 0, H &lt; 0); 0 no change (observed = 0).
A part that is exactly 0 goes to the class of the other part (its share is 0 %).</p>
<p><b>Climate share</b> (OUTPUT_CLIMATE_SHARE, %): classes 1 and 4: 100 C / (C + H) (the human share is
100 H / (C + H) = 100 - climate share); classes 2 and 5: 100; classes 3 and 6: 0; no change: nodata. The log (and
the optional class-area table) gives each class's area and share, and the area-weighted mean of every band of
OUTPUT_CONTRIBUTIONS (seed 002 Table 3).</p>
<p><b>USE_CORRELATION</b> (advanced, off): seed 002 replaces b_k by the (partial) correlation coefficient of the
target with factor k ("each partial derivative is equal to the corresponding correlation coefficient"). This is
not dimensionally consistent: r is unitless, so r_k x trend_k is in the factor's units per year (deg C per year,
mm per year), cannot be added to the target's trend, and the residual then changes with the units the factors are
given in (mm or cm of precipitation give different answers). Offered only to reproduce the paper.</p>
<p><b>Nodata</b>: pixels with fewer than MIN_VALID complete years (default: all years) or fewer than k + 2, a
constant factor, or collinear factors (one a linear combination of the others). A constant target is valid: every
trend and contribution is 0, class 0.</p>"""
    + TIME_STEP_HELP
    + FACTOR_HELP
    + """<p><b>References</b>: Cui et al. (2025) Modelling and evaluation of net ecosystem productivity and its
driving factors in Inner Mongolia, Front. Environ. Sci. 13:1581983 (seed 002, eq. 21-22, Tables 2-3); Liu and Sun
(2016) (the partial-derivative method seed 002 cites); Zhang, Liu, Jiang (2025) Front. Environ. Sci. 13:1550501
(seed 000) and Li et al. (2026) NEP of the Tibetan Plateau (seed 004) for the climate factors and their partial
correlations.</p>"""
)


class AttributionAlgorithm(CarbonSinkAlgorithm):
    ALG_ID = "attribution"
    DISPLAY_NAME = "Climate vs other contributions"
    GROUP = "drivers"
    HELP = HELP

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS's name)
        self.add_series(INPUT, "Target series (e.g. annual NEP)", "The annual series whose trend is split, e.g. NEP.")
        add_factor_parameters(self)
        self.add_first_year()
        self.add_min_valid(
            "A pixel is analysed when the target and EVERY factor are valid in at least this many years (the other "
            "years are left out for that pixel). 0 (default) requires every year, as the papers do.",
            "Minimum complete years (0 = all years)")
        self.add(
            QgsProcessingParameterBoolean(
                USE_CORRELATION, tr("Use correlation coefficients (seed 002's variant)"), defaultValue=False
            ),
            "Off (default): contributions = regression coefficient x factor trend, in target units per year. "
            "On: seed 002's correlation coefficient x factor trend, which is in the factor's units per year "
            "and cannot be added to or subtracted from the target's trend (dimensionally inconsistent); only "
            "to reproduce the paper.",
            advanced=True,
        )
        self.add_raster_output(
            OUTPUT_CONTRIBUTIONS,
            "Contributions (target units per year)",
            "Bands: each factor's contribution (named after it), climate (their sum), residual "
            "(human activities and other) and the observed trend, target units per year.",
        )
        self.add_raster_output(
            OUTPUT_CLASS,
            "Attribution classes (seed 002 Table 2)",
            "What drives the trend: climate, human activities and other, or both; with a legend.",
        )
        self.add_raster_output(
            OUTPUT_CLIMATE_SHARE,
            "Climate share (%)",
            "Relative contribution of climate to the trend, % (seed 002 Table 2).",
        )
        self.add_raster_output(
            OUTPUT_COEFFICIENTS,
            "Regression coefficients",
            "Optional: b_k per factor (target units per factor unit; r with USE_CORRELATION).",
            optional=True,
        )
        self.add_raster_output(
            OUTPUT_FACTOR_TRENDS,
            "Factor trends (per year)",
            "Optional: OLS trend of each factor, factor units per year.",
            optional=True,
        )
        self.add_table_output(
            OUTPUT_CLASS_AREA,
            "Attribution class areas",
            "Optional: area (km2) and share (%) of every attribution class.",
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
        use_correlation = self.parameterAsBool(parameters, USE_CORRELATION, context)
        scheme = drivers.ATTRIBUTION_SCHEME
        span = f"{years[0]}-{years[-1]}"
        target_units = series[0].units or "target units"
        per_year = f"{target_units} per year"
        if use_correlation:
            feedback.warn(
                "USE_CORRELATION: contributions are correlation coefficient x factor trend (seed 002), in "
                "each factor's units per year, not the target's: climate and residual mix units and "
                "change with the units the factors are given in."
            )
            contribution_units = "mixed: correlation x factor units per year (USE_CORRELATION)"
            coefficient_units = "unitless (partial correlation)"
        else:
            contribution_units = per_year
            coefficient_units = ", ".join(
                f"{target_units} per {s.units or 'unit of ' + n}" for n, s in zip(names, series[1:])
            )
        trend_units = ", ".join(f"{s.units or 'units of ' + n} per year" for n, s in zip(names, series[1:]))
        tags = {"factors": names, "use_correlation": use_correlation, "min_valid": min_valid, "years": span}
        band_names = [*names, CLIMATE_BAND, RESIDUAL_BAND, OBSERVED_BAND]
        basis = "correlation coefficient" if use_correlation else "regression coefficient"
        specs = [
            OutputSpec(
                OUTPUT_CONTRIBUTIONS,
                self.output_path(parameters, OUTPUT_CONTRIBUTIONS, context),
                band_names,
                units=contribution_units,
                tags=tags,
                description=f"Contributions to the trend of {series[0].label()}, {span}: {basis} x factor "
                "trend per factor, climate = their sum, residual = observed - climate, observed trend",
            ),
            OutputSpec(
                OUTPUT_CLASS,
                self.output_path(parameters, OUTPUT_CLASS, context),
                [f"attribution {span}"],
                dtype="int16",
                scheme=scheme,
                description=scheme.title,
                tags=tags,
            ),
            OutputSpec(
                OUTPUT_CLIMATE_SHARE,
                self.output_path(parameters, OUTPUT_CLIMATE_SHARE, context),
                [f"climate share {span}"],
                units="%",
                tags=tags,
                description="Relative contribution of climate to the trend (seed 002 Table 2)",
            ),
            OutputSpec(
                OUTPUT_COEFFICIENTS,
                self.output_path(parameters, OUTPUT_COEFFICIENTS, context),
                names,
                units=coefficient_units,
                tags=tags,
                description=f"{basis.capitalize()} of the target on each factor",
            ),
            OutputSpec(
                OUTPUT_FACTOR_TRENDS,
                self.output_path(parameters, OUTPUT_FACTOR_TRENDS, context),
                names,
                units=trend_units,
                tags=tags,
                description="OLS trend of each factor over the complete years",
            ),
        ]

        def compute(block):
            res = drivers.attribution(
                block.data[INPUT],
                [block.data[f] for f in factors],
                years,
                min_valid=min_valid,
                use_correlation=use_correlation,
            )
            bands = np.concatenate(
                [res["contributions"], res["climate"][None], res["residual"][None], res["observed"][None]]
            )
            area = block.area_m2()
            ok = np.isfinite(bands).all(axis=0)
            weights = np.where(ok, np.broadcast_to(area, ok.shape), 0.0)
            sums = np.where(ok, bands, 0.0).reshape(len(band_names), -1) @ weights.ravel()
            partial = (class_areas(res["classes"], area, scheme), sums, float(weights.sum()))
            arrays = {
                OUTPUT_CONTRIBUTIONS: bands,
                OUTPUT_CLASS: res["classes"],
                OUTPUT_CLIMATE_SHARE: res["climate_share"],
                OUTPUT_COEFFICIENTS: res["coefficients"],
                OUTPUT_FACTOR_TRENDS: res["factor_trends"],
            }
            return Result(arrays, partial)

        done, (areas, sums, weight) = self.run_engine(
            parameters,
            context,
            feedback,
            series,
            compute,
            specs,
            require_valid=OUTPUT_CONTRIBUTIONS,
            merge=lambda a, b: (a[0] + b[0], a[1] + b[1], a[2] + b[2]),
            scratch=drivers.scratch_bytes_per_pixel(len(years), k, "pearson"),
            what=f"{series[0].label()} and the factors (pixels with at least {min_valid} complete years)",
        )
        if weight > 0:
            feedback.info(f"Area-weighted mean over the pixels with a result ({contribution_units}):")
            for name, total in zip(band_names, sums):
                feedback.info(f"  {name}: {total / weight:.6g}")
        results = {
            key: done.get(key)
            for key in (
                OUTPUT_CONTRIBUTIONS,
                OUTPUT_CLASS,
                OUTPUT_CLIMATE_SHARE,
                OUTPUT_COEFFICIENTS,
                OUTPUT_FACTOR_TRENDS,
            )
        }
        results[OUTPUT_CLASS_AREA] = self.report_class_areas(
            parameters, OUTPUT_CLASS_AREA, context, feedback, areas, scheme, "the attribution"
        )
        return results
