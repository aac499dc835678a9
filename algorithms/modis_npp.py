"""modis_npp: decode MOD17A3HGF Npp_500m digital numbers into NPP in g C m-2 yr-1."""

from .base import CarbonSinkAlgorithm

INPUT = "INPUT"
OUTPUT = "OUTPUT"
OUTPUT_CODES = "OUTPUT_CODES"

HELP = """<p>Decodes MODIS annual NPP (MOD17A3HGF, collections 6 and 6.1, layer <b>Npp_500m</b>) into net primary
productivity in <b>g C m-2 yr-1</b>, one band per year.</p>
<p><b>Formula</b>: NPP [g C m-2 yr-1] = DN x 0.1 (the product stores kg C m-2 with scale 0.0001; 1 kg = 1000 g).
Valid digital numbers are -30000..32700. Codes above 32700 are not data and become nodata:
32761 unclassified, 32762 urban/built-up, 32763 permanent wetland, 32764 permanent snow/ice,
32765 barren/sparse vegetation, 32766 water, 32767 fill.</p>
<p><b>Time step</b>: annual (one band or one file per year). Years come from FIRST_YEAR, band descriptions or the
file names (MODIS names such as <i>MOD17A3HGF.A2001001...</i> are understood).</p>
<p><b>Land codes</b>: the optional land-code raster gives, per pixel, the code 32761-32766 that masked it most
often over the years (ties: the lower code; 0 = never masked), so you can see which pixels were left out as
barren, water or urban (seed 000, section 2.3.1, masks them on purpose).</p>
<p><b>Checks</b>: the input must hold integer digital numbers; decimal values mean the data were already decoded.</p>
<p><b>References</b>: Running, S., Zhao, M. (2021) MOD17A3HGF v061 user guide; Zhang, Liu, Jiang (2025) Front.
Environ. Sci. 13:1550501 (seed 000); Cui et al. (2025) Front. Environ. Sci. 13:1581983 (seed 002).</p>"""


class ModisNppAlgorithm(CarbonSinkAlgorithm):
    ALG_ID = "modis_npp"
    DISPLAY_NAME = "Decode MODIS NPP"
    GROUP = "carbon_balance"
    HELP = HELP

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS's name)
        self.add_series(INPUT, "MOD17A3HGF Npp_500m digital numbers", "Annual MODIS NPP as stored (int16 DN).")
        self.add_first_year()
        self.add_raster_output(OUTPUT, "NPP (g C m-2 yr-1)", "Decoded NPP, float32, one band per year, nodata NaN.")
        self.add_raster_output(
            OUTPUT_CODES,
            "Land codes that masked pixels",
            "Optional: per pixel the MODIS land code (32761-32766) seen most often, 0 where none; styled legend.",
            optional=True,
        )
        self.add_engine_parameters()

    def run_algorithm(self, parameters, context, feedback):
        from ..core import modis
        from ..core.stack import resolve_years
        from ..core.writer import OutputSpec

        series = self.open_series(parameters, INPUT, context, feedback)
        years = resolve_years(series, self.first_year(parameters, context))
        codes_path = self.output_path(parameters, OUTPUT_CODES, context)
        specs = [
            OutputSpec(
                OUTPUT,
                self.output_path(parameters, OUTPUT, context),
                [str(y) for y in years],
                units="g C m-2 yr-1",
                description="NPP decoded from MOD17A3HGF Npp_500m (DN x 0.1)",
            ),
            OutputSpec(
                OUTPUT_CODES,
                codes_path,
                ["MODIS land code"],
                dtype="int16",
                scheme=modis.land_code_scheme(),
                description="MODIS land code that masked the pixel most often (0 none)",
            ),
        ]

        def compute(block):
            dn = block.data[INPUT]
            modis.check_raw_dn(dn, INPUT)
            arrays = {OUTPUT: modis.decode_npp(dn)}
            if codes_path:
                arrays[OUTPUT_CODES] = modis.land_code_mode(dn)
            return arrays

        done, _ = self.run_engine(
            parameters,
            context,
            feedback,
            [series],
            compute,
            specs,
            require_valid=OUTPUT,
            what=f"{series.label()} (valid NPP digital numbers)",
        )
        feedback.info(f"Decoded {len(years)} years of MODIS NPP ({years[0]}-{years[-1]}) into g C m-2 yr-1.")
        return {OUTPUT: done[OUTPUT], OUTPUT_CODES: done.get(OUTPUT_CODES)}
