"""cscc: carbon sink carrying capacity (per-pixel maximum NPP), its year, the increase potential and the saturation
per year, and the yearly totals in Tg C (seed 001, section 3.1)."""


from .base import CarbonSinkAlgorithm

INPUT = "INPUT"
OUTPUT_MAX = "OUTPUT_MAX"
OUTPUT_YEAR_OF_MAX = "OUTPUT_YEAR_OF_MAX"
OUTPUT_POTENTIAL = "OUTPUT_POTENTIAL"
OUTPUT_SATURATION = "OUTPUT_SATURATION"
OUTPUT_TABLE = "OUTPUT_TABLE"

TABLE_COLUMNS = [
    ("year", "int"),
    ("total_npp_tgc", "double"),
    ("total_cscc_tgc", "double"),
    ("potential_tgc", "double"),
    ("saturation_pct", "double"),
]


HELP = """<p>Carbon sink carrying capacity (CSCC) by the maximum synthesis method of seed 001, per pixel of an annual
NPP stack:</p>
<p><b>CSCC = max<sub>i</sub> NPP<sub>i</sub></b> over all years (g C m-2 yr-1, seed 001 eq. 4), and the <b>year of
the maximum</b> (the earliest one on ties);<br/>
<b>increase potential PCS<sub>i</sub> = CSCC - NPP<sub>i</sub></b> for every year (g C m-2 yr-1, eq. 5, &gt;= 0);<br/>
<b>saturation<sub>i</sub> = 100 x NPP<sub>i</sub> / CSCC</b> (%, 100 in the year of the maximum; nodata where
CSCC &lt;= 0, where the ratio has no meaning).</p>
<p>Missing years (nodata) are skipped: the maximum is taken over the valid years and the potential and saturation
of a missing year are nodata. A pixel without any valid year is nodata everywhere.</p>
<p><b>Table</b>, one row per year, summed over the pixels valid that year: total NPP, total CSCC and total
potential (= total CSCC - total NPP) in Tg C yr-1 = sum(value [g C m-2] x pixel area [m2]) x 1e-12, and the
saturation of the area, 100 x total NPP / total CSCC (%). Pixel areas are exact on the ellipsoid for geographic
grids (they shrink with latitude) and |det(transform)| for projected grids (a warning is logged when the
projection is not equal-area).</p>
<p><b>Input</b>: annual NPP, decoded, in g C m-2 yr-1 (use <i>Decode MODIS NPP</i> first for MOD17A3HGF). Values
above 3,500 g C m-2 yr-1 are refused: they look like raw MODIS numbers. <b>Time step</b>: annual, one band per
year.</p>
<p><b>Outputs</b>: CSCC (float32), year of the maximum (int16, nodata -9999), potential and saturation (float32,
one band per year).</p>
<p><b>References</b>: Wu, L. et al. (2023) Characteristics of vegetation carbon sink carrying capacity and
restoration potential of China in recent 40 years. Front. For. Glob. Change 6:1266688 (seed 001).</p>"""


class CsccAlgorithm(CarbonSinkAlgorithm):
    ALG_ID = "cscc"
    DISPLAY_NAME = "Carbon sink carrying capacity"
    GROUP = "capacity"
    HELP = HELP

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS's name)
        self.add_series(INPUT, "Annual NPP (g C m-2 yr-1)", "Annual net primary productivity, decoded.")
        self.add_first_year()
        self.add_raster_output(OUTPUT_MAX, "Carrying capacity CSCC (g C m-2 yr-1)",
                               "The per-pixel maximum of annual NPP over all years (seed 001 eq. 4), float32.")
        self.add_raster_output(OUTPUT_YEAR_OF_MAX, "Year of the maximum",
                               "The year in which the maximum was reached (the earliest on ties); int16, nodata "
                               "-9999.")
        self.add_raster_output(OUTPUT_POTENTIAL, "Increase potential (g C m-2 yr-1)",
                               "CSCC - NPP for every year (seed 001 eq. 5), one band per year.")
        self.add_raster_output(OUTPUT_SATURATION, "Saturation (%)",
                               "100 x NPP / CSCC for every year, one band per year; nodata where CSCC <= 0.")
        self.add_table_output(OUTPUT_TABLE, "CSCC totals per year",
                              "Per year: total NPP, total CSCC and total potential (Tg C yr-1) over the pixels valid "
                              "that year, and the saturation of the whole area (%).", create_by_default=True)
        self.add_engine_parameters()

    def run_algorithm(self, parameters, context, feedback):
        from ..core import area, capacity
        from ..core.engine import Result
        from ..core.modis import check_decoded_npp
        from ..core.stack import resolve_years
        from ..core.writer import OutputSpec

        series = self.open_series(parameters, INPUT, context, feedback)
        years = resolve_years(series, self.first_year(parameters, context))
        warning = area.area_warning(series.grid.crs)
        if warning:
            feedback.warn(warning)
        span = f"{years[0]}-{years[-1]}"
        band_names = [str(y) for y in years]
        specs = [
            OutputSpec(OUTPUT_MAX, self.output_path(parameters, OUTPUT_MAX, context), [f"CSCC {span}"],
                       units="g C m-2 yr-1",
                       description=f"Carbon sink carrying capacity: maximum annual NPP {span} (seed 001 eq. 4)"),
            OutputSpec(OUTPUT_YEAR_OF_MAX, self.output_path(parameters, OUTPUT_YEAR_OF_MAX, context),
                       [f"year of maximum {span}"], dtype="int16", nodata=capacity.YEAR_NODATA, units="year",
                       description="Year in which annual NPP reached its maximum (earliest on ties)"),
            OutputSpec(OUTPUT_POTENTIAL, self.output_path(parameters, OUTPUT_POTENTIAL, context), band_names,
                       units="g C m-2 yr-1", description="Increase potential CSCC - NPP (seed 001 eq. 5)"),
            OutputSpec(OUTPUT_SATURATION, self.output_path(parameters, OUTPUT_SATURATION, context), band_names,
                       units="%", description="Saturation 100 x NPP / CSCC"),
        ]

        def compute(block):
            npp = block.data[INPUT]
            check_decoded_npp(npp, INPUT)
            res = capacity.cscc(npp, years)
            arrays = {
                OUTPUT_MAX: res["max"],
                OUTPUT_YEAR_OF_MAX: res["year_of_max"],
                OUTPUT_POTENTIAL: res["potential"],
                OUTPUT_SATURATION: res["saturation"],
            }
            return Result(arrays, capacity.cscc_year_partials(npp, res["max"], block.area_m2()))

        done, partials = self.run_engine(
            parameters, context, feedback, [series], compute, specs, merge=capacity.merge_partials,
            require_valid=OUTPUT_MAX, what=series.label(),
        )
        rows = capacity.cscc_year_table(partials, years)
        for row in rows:
            feedback.info(
                f"{row['year']}: total NPP {row['total_npp_tgc']:.4f} Tg C, CSCC {row['total_cscc_tgc']:.4f} Tg C, "
                f"potential {row['potential_tgc']:.4f} Tg C, saturation {row['saturation_pct']:.2f}%"
            )
        results = {key: done.get(key) for key in (OUTPUT_MAX, OUTPUT_YEAR_OF_MAX, OUTPUT_POTENTIAL, OUTPUT_SATURATION)}
        results[OUTPUT_TABLE] = self.write_table(parameters, OUTPUT_TABLE, context, TABLE_COLUMNS, rows)
        return results
