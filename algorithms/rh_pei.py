"""rh_pei: heterotrophic respiration from monthly temperature and precipitation (Pei et al. 2009)."""

from .base import CarbonSinkAlgorithm

TEMPERATURE = "TEMPERATURE"
PRECIPITATION = "PRECIPITATION"
TIME_STEP = "TIME_STEP"
OUTPUT = "OUTPUT"
OUTPUT_MONTHLY = "OUTPUT_MONTHLY"

HELP = """<p>Soil heterotrophic respiration (Rh) from climate with the model of Pei et al. (2009), as used by
seeds 000, 002 and 003:</p>
<p><b>Rh = 0.22 x (exp(0.0912 T) + ln(0.3145 P + 1)) x 30 x 0.465</b></p>
<p>T: monthly mean air temperature (<b>deg C</b>); P: monthly precipitation (<b>mm</b>); Rh in
<b>g C m-2 month-1</b> (the 30 turns a daily rate into a month). <b>Annual Rh = sum of the 12 monthly values</b>
(g C m-2 yr-1); a year with a missing month is nodata. Seed 003 prints 0.913 for 0.0912: a typo.</p>
<p><b>Time step</b>: monthly (default). Inputs are monthly stacks, 12 bands per year, January first; years come
from FIRST_YEAR, band descriptions (e.g. '2000-01') or file names.</p>
<p><b>Annual inputs (as in some papers)</b>: evaluates the formula once a year on annual mean T and annual total
P. This gives values about 8 times lower than the monthly sum for a temperate year (for example 19 instead of
165 g C m-2 yr-1); the log repeats this warning. Use it only to reproduce such papers.</p>
<p><b>Checks</b>: a mean temperature above 100 is refused (it looks like Kelvin: subtract 273.15); negative
precipitation is refused (ln(0.3145 P + 1) needs P &gt; -3.18 mm); the two stacks must have the same bands and
grid.</p>
<p><b>Reference</b>: Pei, Z., Ouyang, H., Zhou, C., Xu, X. (2009) Carbon balance in an alpine steppe in the
Qinghai-Tibet Plateau. J. Integr. Plant Biol. 51, 521-526.</p>"""


def add_monthly_climate(alg: CarbonSinkAlgorithm, precipitation_note: str = "") -> None:
    """TEMPERATURE and PRECIPITATION: monthly stacks, 12 bands per year, January first."""
    alg.add_series(
        TEMPERATURE,
        "Monthly mean air temperature (deg C)",
        "Monthly mean air temperature in deg C, 12 bands per year, January first.",
    )
    alg.add_series(
        PRECIPITATION,
        "Monthly precipitation (mm)",
        f"Monthly precipitation totals in mm{precipitation_note}, the same months as TEMPERATURE.",
    )


class RhPeiAlgorithm(CarbonSinkAlgorithm):
    ALG_ID = "rh_pei"
    DISPLAY_NAME = "Heterotrophic respiration (Pei)"
    GROUP = "carbon_balance"
    HELP = HELP

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS's name)
        add_monthly_climate(self)
        self.add_first_year()
        self.add_enum(
            TIME_STEP,
            "Time step of the inputs",
            ["Monthly (default)", "Annual inputs (as in some papers)"],
            0,
            "Monthly: 12 bands per year, Rh summed over months (correct). Annual inputs: one band per "
            "year of annual mean T and annual total P, the formula applied once a year (about 8x lower; "
            "only to reproduce papers that did so).",
            advanced=True,
        )
        self.add_raster_output(
            OUTPUT, "Annual Rh (g C m-2 yr-1)", "Annual heterotrophic respiration, one band per year."
        )
        self.add_raster_output(
            OUTPUT_MONTHLY,
            "Monthly Rh (g C m-2 month-1)",
            "Optional: monthly heterotrophic respiration (monthly mode only).",
            optional=True,
        )
        self.add_engine_parameters()

    def run_algorithm(self, parameters, context, feedback):
        from ..core import respiration as rs
        from ..core.writer import OutputSpec

        monthly = self.parameterAsEnum(parameters, TIME_STEP, context) == 0
        (temp, prec), years = self.series_with_years(
            parameters, context, feedback, [TEMPERATURE, PRECIPITATION], monthly=monthly
        )
        monthly_path = self.output_path(parameters, OUTPUT_MONTHLY, context)
        if not monthly:
            feedback.warn(
                "Annual-input mode: the Pei formula is evaluated once a year on annual mean temperature and annual "
                "total precipitation. This gives values about 8x lower than the sum of monthly values for a "
                "temperate year (e.g. 19 instead of 165 g C m-2 yr-1). Use monthly inputs unless you are "
                "reproducing a paper that did this."
            )
            if monthly_path:
                feedback.warn("OUTPUT_MONTHLY is not written in annual-input mode.")
                monthly_path = ""
        months = [f"{y}-{m:02d}" for y in years for m in range(1, 13)]
        specs = [
            OutputSpec(
                OUTPUT,
                self.output_path(parameters, OUTPUT, context),
                [str(y) for y in years],
                units="g C m-2 yr-1",
                description="Heterotrophic respiration, Pei et al. (2009), "
                + ("sum of monthly values" if monthly else "annual-input mode"),
            ),
            OutputSpec(
                OUTPUT_MONTHLY,
                monthly_path,
                months,
                units="g C m-2 month-1",
                description="Monthly heterotrophic respiration, Pei et al. (2009)",
            ),
        ]

        def compute(block):
            t, p = block.data[TEMPERATURE], block.data[PRECIPITATION]
            rs.check_temperature(t, TEMPERATURE)
            rs.check_precipitation(p, PRECIPITATION)
            if not monthly:
                return {OUTPUT: rs.pei_rh_annual_inputs(t, p)}
            annual, per_month = rs.pei_rh_annual(t, p)
            return {OUTPUT: annual, OUTPUT_MONTHLY: per_month}

        done, _ = self.run_engine(
            parameters,
            context,
            feedback,
            [temp, prec],
            compute,
            specs,
            scratch=8 * temp.count * 2,
            require_valid=OUTPUT,
        )
        feedback.info(f"Rh for {len(years)} years ({years[0]}-{years[-1]}).")
        return {OUTPUT: done[OUTPUT], OUTPUT_MONTHLY: done.get(OUTPUT_MONTHLY)}
