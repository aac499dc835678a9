"""nep: net ecosystem productivity NEP = NPP - Rh, sink/source classes and per-year area-weighted totals."""

from qgis.core import QgsProcessingParameterNumber, QgsProcessingParameterString

from .base import CarbonSinkAlgorithm, tr

NPP = "NPP"
RH = "RH"
CLASS_PRESET = "CLASS_PRESET"
CLASS_BREAKS = "CLASS_BREAKS"
MIN_VALID = "MIN_VALID"
OUTPUT = "OUTPUT"
OUTPUT_CLASSES = "OUTPUT_CLASSES"
OUTPUT_MEAN = "OUTPUT_MEAN"
OUTPUT_TABLE = "OUTPUT_TABLE"

PRESETS = [
    ("Breaks from CLASS_BREAKS (default '0': source / sink)", None),
    ("Seed 000: source < 0, low 0-200, medium 200-400, high >= 400", "seed000"),
    ("Seed 004: source < 0, weak sink 0-50, strong sink >= 50", "seed004"),
]

TABLE_COLUMNS = [
    ("year", "int"),
    ("mean_nep", "double"),
    ("sink_area_km2", "double"),
    ("sink_pct", "double"),
    ("source_area_km2", "double"),
    ("source_pct", "double"),
    ("total_tgc", "double"),
]

HELP = """<p>Net ecosystem productivity, per pixel and year:</p>
<p><b>NEP = NPP - Rh</b> (g C m-2 yr-1). NEP &gt; 0: carbon sink; NEP &lt; 0: carbon source. Negative values are
valid data, never dropped.</p>
<p><b>Inputs</b>: annual NPP (decoded, g C m-2 yr-1: use <i>Decode MODIS NPP</i> first for MOD17A3HGF) and annual Rh
(from <i>Heterotrophic respiration (Pei)</i> or <i>(GSMSR)</i>), the same years on the same grid. NPP above
3,500 g C m-2 yr-1 is refused: it looks like raw MODIS numbers.</p>
<p><b>Classes</b> (a value equal to a break goes to the class above): sign only (CLASS_BREAKS '0': source / sink,
default); seed 000: source &lt; 0, low sink 0-200, medium 200-400, high &gt;= 400; seed 004: source &lt; 0, weak sink
0-50, strong sink &gt;= 50; or your own breaks, e.g. '-100, 0, 100'. Codes run from 1 (lowest NEP) upwards; the class
raster has one band per year and a legend.</p>
<p><b>Multi-year mean</b>: the mean NEP of pixels with at least MIN_VALID valid years (default: all years).</p>
<p><b>Table</b>, one row per year: area-weighted mean NEP (g C m-2 yr-1), sink area (NEP &gt; 0) and source area
(NEP &lt; 0) in km2 and in % of the valid area, and total NEP in Tg C = sum(NEP x pixel area) x 1e-12. Pixel areas
are exact on the ellipsoid for geographic grids (they shrink with latitude) and |det(transform)| for projected
grids (a warning is logged when the projection is not equal-area).</p>
<p><b>References</b>: Zhang, Liu, Jiang (2025) Front. Environ. Sci. 13:1550501 (seed 000); Jiao (seed 003);
Li et al. (2026) NEP of the Tibetan Plateau (seed 004).</p>"""


class NepAlgorithm(CarbonSinkAlgorithm):
    ALG_ID = "nep"
    DISPLAY_NAME = "Net ecosystem productivity"
    GROUP = "carbon_balance"
    HELP = HELP

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS's name)
        self.add_series(NPP, "Annual NPP (g C m-2 yr-1)", "Annual net primary productivity, decoded.")
        self.add_series(RH, "Annual Rh (g C m-2 yr-1)", "Annual heterotrophic respiration for the same years.")
        self.add_first_year()
        self.add(
            QgsProcessingParameterString(CLASS_BREAKS, tr("Class breaks (g C m-2 yr-1)"), defaultValue="0"),
            "Comma-separated, increasing NEP breaks used when CLASS_PRESET is 'Breaks from CLASS_BREAKS'. "
            "'0' gives carbon source / carbon sink.",
        )
        self.add_enum(
            CLASS_PRESET,
            "Class preset",
            [label for label, _ in PRESETS],
            0,
            "The class table of a paper, or your own breaks from CLASS_BREAKS.",
        )
        self.add(
            QgsProcessingParameterNumber(
                MIN_VALID,
                tr("Minimum valid years for the mean (0 = all)"),
                QgsProcessingParameterNumber.Integer,
                defaultValue=0,
                minValue=0,
            ),
            "A pixel's multi-year mean is computed when it has at least this many valid years; 0 requires every year.",
            advanced=True,
        )
        self.add_raster_output(OUTPUT, "NEP (g C m-2 yr-1)", "NEP, float32, one band per year, nodata NaN.")
        self.add_raster_output(
            OUTPUT_CLASSES, "NEP classes", "Optional: sink/source classes per year, styled.", optional=True
        )
        self.add_raster_output(OUTPUT_MEAN, "Mean NEP (g C m-2 yr-1)", "Optional: multi-year mean NEP.", optional=True)
        self.add_table_output(
            OUTPUT_TABLE,
            "NEP per year",
            "Optional: per year area-weighted mean NEP, sink and source areas (km2, %) and total NEP (Tg C).",
        )
        self.add_engine_parameters()

    def run_algorithm(self, parameters, context, feedback):
        from ..core import area, nep
        from ..core.classes import classify_by_breaks, parse_breaks
        from ..core.engine import Result
        from ..core.modis import check_decoded_npp
        from ..core.series import resolve_min_valid, valid_mean
        from ..core.writer import OutputSpec

        (npp, rh), years = self.series_with_years(parameters, context, feedback, [NPP, RH])
        preset = PRESETS[self.parameterAsEnum(parameters, CLASS_PRESET, context)][1]
        if preset is None:
            breaks = parse_breaks(self.parameterAsString(parameters, CLASS_BREAKS, context), CLASS_BREAKS)
            preset = "sign" if breaks == [0.0] else None
        else:
            breaks = nep.NEP_PRESETS[preset][0]
        scheme = nep.nep_class_scheme(breaks, preset)
        min_valid = resolve_min_valid(self.parameterAsInt(parameters, MIN_VALID, context), len(years))
        warning = area.area_warning(npp.grid.crs)
        if warning:
            feedback.warn(warning)
        band_names = [str(y) for y in years]
        classes_path = self.output_path(parameters, OUTPUT_CLASSES, context)
        mean_path = self.output_path(parameters, OUTPUT_MEAN, context)
        want_table = parameters.get(OUTPUT_TABLE) not in (None, "")
        specs = [
            OutputSpec(
                OUTPUT,
                self.output_path(parameters, OUTPUT, context),
                band_names,
                units="g C m-2 yr-1",
                description="Net ecosystem productivity NEP = NPP - Rh (> 0 sink, < 0 source)",
            ),
            OutputSpec(
                OUTPUT_CLASSES,
                classes_path,
                band_names,
                dtype="int16",
                scheme=scheme,
                description="NEP classes",
                tags={"breaks": breaks},
            ),
            OutputSpec(
                OUTPUT_MEAN,
                mean_path,
                [f"mean {years[0]}-{years[-1]}"],
                units="g C m-2 yr-1",
                description=f"Mean NEP over years with at least {min_valid} valid years",
            ),
        ]

        def compute(block):
            npp_values = block.data[NPP]
            check_decoded_npp(npp_values, NPP)
            values = nep.nep(npp_values, block.data[RH])
            arrays = {OUTPUT: values}
            if classes_path:
                arrays[OUTPUT_CLASSES] = classify_by_breaks(values, breaks, scheme.nodata)
            if mean_path:
                arrays[OUTPUT_MEAN] = valid_mean(values, min_valid)
            partial = nep.nep_year_partials(values, block.area_m2()) if want_table else None
            return Result(arrays, partial)

        done, partials = self.run_engine(
            parameters,
            context,
            feedback,
            [npp, rh],
            compute,
            specs,
            merge=nep.merge_partials,
            require_valid=OUTPUT,
            what=f"{npp.label()} and {rh.label()}",
        )
        results = {OUTPUT: done[OUTPUT], OUTPUT_CLASSES: done.get(OUTPUT_CLASSES), OUTPUT_MEAN: done.get(OUTPUT_MEAN)}
        if want_table:
            rows = nep.nep_year_table(partials, years)
            results[OUTPUT_TABLE] = self.write_table(parameters, OUTPUT_TABLE, context, TABLE_COLUMNS, rows)
            for row in rows:
                feedback.info(
                    f"{row['year']}: mean NEP {row['mean_nep']:.1f} g C m-2 yr-1, sink {row['sink_pct']:.1f}% / "
                    f"source {row['source_pct']:.1f}% of the valid area, total {row['total_tgc']:.4f} Tg C"
                )
        return results
