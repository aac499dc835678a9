"""rh_gsmsr: heterotrophic respiration from the GSMSR soil-respiration model (Yu et al. 2010), seed 002."""

import operator

from qgis.core import QgsProcessingParameterNumber, QgsProcessingParameterRasterLayer

from .base import CarbonSinkAlgorithm, tr
from .rh_pei import PRECIPITATION, TEMPERATURE, add_monthly_climate

SOIL_CARBON = "SOIL_CARBON"
SOIL_CARBON_CONSTANT = "SOIL_CARBON_CONSTANT"
CONVERSION = "CONVERSION"
OUTPUT = "OUTPUT"
OUTPUT_RS = "OUTPUT_RS"
#: (parameter name, core keyword, display name)
PARAMS = [
    ("R0", "r0", "GSMSR R0: basal soil respiration (g C m-2 day-1)"),
    ("M", "m", "GSMSR M: effect of soil carbon density (g C m-2 day-1 per kg C m-2)"),
    ("ALPHA", "alpha", "GSMSR alpha: temperature sensitivity"),
    ("BETA", "beta", "GSMSR beta: change of sensitivity with temperature (per deg C)"),
    ("P0", "p0", "GSMSR P0: precipitation at zero moisture limitation (cm)"),
    ("K", "k", "GSMSR K: half-saturation precipitation (cm)"),
]

HELP = """<p>Heterotrophic respiration (Rh) from soil respiration (Rs) modelled with GSMSR (Yu et al. 2010), as in
seed 002 (Cui et al. 2025).</p>
<p><b>Rs = (R0 + M Ds) x exp(ln(alpha exp(beta T)) x T / 10) x (P + P0) / (P + K)</b></p>
<p>T: monthly mean air temperature (<b>deg C</b>); P: monthly precipitation in <b>cm</b> (the algorithm takes mm
and divides by 10); Ds: soil organic carbon density of the top 20 cm (<b>kg C m-2</b>), a raster or a constant.
Rs is a daily rate (g C m-2 day-1), like Raich et al. (2002) which GSMSR modifies: <b>monthly Rs = daily rate x
days in that month</b> (leap years counted); annual Rs = sum of the 12 months.</p>
<p><b>Rs to Rh</b>: Bond-Lamberty et al. (2004), ln(Rh) = 1.22 + 0.73 ln(Rs), fitted on annual totals, so it is
applied to annual Rs (default; applied to monthly Rs it would return Rh &gt; Rs whenever Rs &lt; 91.7). Or Shi's
relation Rh = -0.0009 Rs^2 + 0.6011 Rs + 4.8874, whose shape (maximum at Rs = 334, negative above about 676)
only makes sense for monthly Rs: applied to each month, then summed; monthly Rs outside 0..600 is outside its
range and the log says how often that happened.</p>
<p><b>Parameters</b> (advanced): R0 = 0.588, M = 0.118, alpha = 1.83, beta = -0.006, P0 = 2.972, K = 5.657 (Yu et
al. 2010). Seed 002 prints beta = -0.0006, P0 = 2.97 and K = 5.66: the first is a typo, the others rounded.</p>
<p><b>Output units</b>: g C m-2 yr-1 (annual Rh and Rs), one band per year. <b>Time step of the inputs</b>:
monthly, 12 bands per year, January first.</p>
<p><b>Checks</b>: Kelvin temperatures, negative precipitation, soil carbon outside 0..200 kg C m-2, stacks of
different lengths or grids are refused with a message.</p>
<p><b>References</b>: Yu, G. et al. (2010) Global Change Biology; Bond-Lamberty, B., Wang, C., Gower, S.T. (2004)
Global Change Biology 10, 1756-1766; Cui et al. (2025) Front. Environ. Sci. 13:1581983 (seed 002).</p>"""


class RhGsmsrAlgorithm(CarbonSinkAlgorithm):
    ALG_ID = "rh_gsmsr"
    DISPLAY_NAME = "Heterotrophic respiration (GSMSR)"
    GROUP = "carbon_balance"
    HELP = HELP

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS's name)
        from ..core.respiration import GSMSR_DEFAULTS

        add_monthly_climate(self, " (converted to cm for GSMSR)")
        self.add(
            QgsProcessingParameterRasterLayer(SOIL_CARBON, tr("Soil organic carbon density (kg C m-2)"), optional=True),
            "Soil organic carbon density of the top 20 cm in kg C m-2 (t/ha / 10), one band on the same grid. "
            "Leave empty to use the constant below.",
        )
        self.add(
            QgsProcessingParameterNumber(
                SOIL_CARBON_CONSTANT,
                tr("Constant soil carbon density (kg C m-2)"),
                QgsProcessingParameterNumber.Double,
                optional=True,
                minValue=0,
                maxValue=200,
            ),
            "Used when no soil carbon raster is given: one density for every pixel, kg C m-2 (top 20 cm).",
        )
        self.add_first_year()
        self.add_enum(
            CONVERSION,
            "Rs to Rh conversion",
            ["Bond-Lamberty et al. 2004 (annual Rs)", "Shi (monthly Rs)"],
            0,
            "Bond-Lamberty: ln(Rh) = 1.22 + 0.73 ln(Rs) on annual totals. Shi: quadratic on monthly Rs.",
        )
        for name, key, display in PARAMS:
            self.add(
                QgsProcessingParameterNumber(
                    name, tr(display), QgsProcessingParameterNumber.Double, defaultValue=GSMSR_DEFAULTS[key]
                ),
                f"GSMSR parameter {name} (default {GSMSR_DEFAULTS[key]}, Yu et al. 2010). Seed 002 prints "
                "beta = -0.0006 (typo), P0 = 2.97, K = 5.66 (rounded).",
                advanced=True,
            )
        self.add_raster_output(
            OUTPUT, "Annual Rh (g C m-2 yr-1)", "Annual heterotrophic respiration, one band per year."
        )
        self.add_raster_output(
            OUTPUT_RS,
            "Annual soil respiration Rs (g C m-2 yr-1)",
            "Optional: annual soil respiration from GSMSR.",
            optional=True,
        )
        self.add_engine_parameters()

    def run_algorithm(self, parameters, context, feedback):
        from ..core import respiration as rs
        from ..core.errors import InputError
        from ..core.writer import OutputSpec

        (temp, prec), years = self.series_with_years(
            parameters, context, feedback, [TEMPERATURE, PRECIPITATION], monthly=True
        )
        inputs = [temp, prec]
        soil_paths = self.layer_paths(parameters, SOIL_CARBON, context)
        constant = parameters.get(SOIL_CARBON_CONSTANT)
        if soil_paths:
            from ..core.stack import open_series

            soil = open_series(SOIL_CARBON, soil_paths)
            if soil.count != 1:
                raise InputError(f"{soil.label()} has {soil.count} bands: give one band of soil carbon density.")
            inputs.append(soil)
        elif constant in (None, ""):
            raise InputError(
                "Give SOIL_CARBON (a raster of soil organic carbon density, kg C m-2) or "
                "SOIL_CARBON_CONSTANT (one value for every pixel)."
            )
        else:
            constant = self.parameterAsDouble(parameters, SOIL_CARBON_CONSTANT, context)
            rs.check_soil_carbon(constant, SOIL_CARBON_CONSTANT)
        conversion = ["bond_lamberty", "shi"][self.parameterAsEnum(parameters, CONVERSION, context)]
        params = {key: self.parameterAsDouble(parameters, name, context) for name, key, _ in PARAMS}
        band_names = [str(y) for y in years]
        specs = [
            OutputSpec(
                OUTPUT,
                self.output_path(parameters, OUTPUT, context),
                band_names,
                units="g C m-2 yr-1",
                description=f"Heterotrophic respiration, GSMSR Rs with {conversion} conversion",
                tags={"gsmsr_parameters": params},
            ),
            OutputSpec(
                OUTPUT_RS,
                self.output_path(parameters, OUTPUT_RS, context),
                band_names,
                units="g C m-2 yr-1",
                description="Soil respiration, GSMSR (Yu et al. 2010)",
                tags={"gsmsr_parameters": params},
            ),
        ]

        def compute(block):
            from ..core.engine import Result

            t, p = block.data[TEMPERATURE], block.data[PRECIPITATION]
            rs.check_temperature(t, TEMPERATURE)
            rs.check_precipitation(p, PRECIPITATION)
            if SOIL_CARBON in block.data:
                ds = block.data[SOIL_CARBON][0]
                rs.check_soil_carbon(ds, SOIL_CARBON)
            else:
                ds = constant
            rh, rs_annual, n_out = rs.gsmsr_rh(t, p, ds, years, conversion=conversion, **params)
            return Result({OUTPUT: rh, OUTPUT_RS: rs_annual}, partial=int(n_out))

        done, n_out = self.run_engine(
            parameters,
            context,
            feedback,
            inputs,
            compute,
            specs,
            merge=operator.add,
            scratch=8 * temp.count * 3,
            require_valid=OUTPUT,
        )
        if conversion == "shi" and n_out:
            feedback.warn(
                f"{n_out} monthly Rs values fell outside 0..600 g C m-2 month-1, the range where Shi's "
                "relation is meaningful."
            )
        feedback.info(f"Rh for {len(years)} years ({years[0]}-{years[-1]}), conversion: {conversion}.")
        return {OUTPUT: done[OUTPUT], OUTPUT_RS: done.get(OUTPUT_RS)}
