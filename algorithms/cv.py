"""cv: per-pixel coefficient of variation Cv = s / |mean| of a time series and its natural-breaks stability classes
(seed 000), with breaks that are the same on every run."""

from qgis.core import QgsProcessingParameterNumber, QgsProcessingParameterString

from .base import CarbonSinkAlgorithm, tr

INPUT = "INPUT"
DDOF = "DDOF"
N_CLASSES = "N_CLASSES"
BREAKS = "BREAKS"
SAMPLE_SIZE = "SAMPLE_SIZE"
SEED = "SEED"
MIN_ABS_MEAN = "MIN_ABS_MEAN"
MIN_VALID = "MIN_VALID"
OUTPUT_CV = "OUTPUT_CV"
OUTPUT_CLASS = "OUTPUT_CLASS"
OUTPUT_MEAN = "OUTPUT_MEAN"
OUTPUT_STD = "OUTPUT_STD"
OUTPUT_CLASS_AREA = "OUTPUT_CLASS_AREA"

HELP = """<p>Interannual stability of a time series (e.g. annual NEP), per pixel, by the coefficient of variation
(seed 000, section 2.4.3, eq. 3, after Milich and Weiss 2010), mapped in natural-breaks classes.</p>
<p><b>Cv = s / |mean|</b> over the n valid years of a pixel: mean = sum(x<sub>t</sub>) / n,
s = sqrt(sum (x<sub>t</sub> - mean)<sup>2</sup> / (n - DDOF)); DDOF = 1 (sample standard deviation, default) or 0
(population). Cv is dimensionless; the optional mean and standard deviation outputs are in the input's units
(g C m-2 yr-1 for annual NEP). The absolute value keeps the Cv of a carbon source (mean NEP &lt; 0) positive.
Where |mean| &lt; MIN_ABS_MEAN (default 1, in the input's units) Cv would explode: the pixel is nodata in the Cv
and class rasters, and the log says how many pixels that removed. <b>Time step</b>: any (annual in seed 000);
Cv does not depend on it. <b>Minimum valid years</b>: by default every year must be valid; a lower MIN_VALID
analyses pixels with gaps over their valid years.</p>
<p><b>Classes</b>: natural breaks (Fisher-Jenks: the exact partition minimising the within-class sum of squared
deviations, the criterion of jenkspy and of QGIS's 'Natural Breaks (Jenks)') into N_CLASSES classes (default 5),
computed on a random sample of SAMPLE_SIZE valid pixels (default 20,000) drawn with SEED. The sample is a
function of the pixel positions and the seed only, so the same input always gives the same breaks, whatever the
block layout, the thread count, or whether the stack is one multiband raster or a list of files (QGIS's own Jenks
samples at random and differs from run to run). Or give your own increasing breaks in BREAKS (e.g.
'0.05, 0.1, 0.2, 0.3'): no sampling is done then. A Cv equal to a break goes to the class above it. Codes run
from 1 (most stable) upwards; five classes carry seed 000's wording (section 3.2.3):</p>
<table border="1" cellpadding="2">
<tr><th>code</th><th>class</th></tr>
<tr><td>1</td><td>Low fluctuation</td></tr>
<tr><td>2</td><td>Lower fluctuation</td></tr>
<tr><td>3</td><td>Medium fluctuation</td></tr>
<tr><td>4</td><td>Higher fluctuation</td></tr>
<tr><td>5</td><td>High fluctuation</td></tr>
</table>
<p>Other class counts are labelled 'Fluctuation class i of k'. Every label carries its Cv range; the breaks are
logged and stored in the class raster's BREAKS tag, so a later run can reuse them through BREAKS (e.g. to compare
two periods with the same classes). The log (and the optional class-area table) gives each class's area and share,
area-weighted on the ellipsoid.</p>
<p><b>References</b>: Zhang, Liu, Jiang (2025) Front. Environ. Sci. 13:1550501 (seed 000); Milich and Weiss (2000,
cited as 2010 in seed 000) Int. J. Remote Sens. 21(2), 235-260; Fisher (1958) J. Am. Stat. Assoc. 53, 789-798;
Jenks (1977) Optimal data classification for choropleth maps.</p>"""


def _fmt_breaks(breaks) -> str:
    return ", ".join(f"{b:.6g}" for b in breaks)


class CvAlgorithm(CarbonSinkAlgorithm):
    ALG_ID = "cv"
    DISPLAY_NAME = "Coefficient of variation"
    GROUP = "stability"
    HELP = HELP

    def initAlgorithm(self, config=None):
        self.add_series(INPUT, "Time series", "The series whose stability is measured (e.g. annual NEP).")
        self.add_first_year()
        self.add(QgsProcessingParameterNumber(DDOF, tr("Delta degrees of freedom of s (DDOF)"),
                                              QgsProcessingParameterNumber.Integer, defaultValue=1, minValue=0,
                                              maxValue=1),
                 "1: sample standard deviation (divides by n - 1, default); 0: population standard deviation.")
        self.add(QgsProcessingParameterNumber(N_CLASSES, tr("Number of natural-breaks classes"),
                                              QgsProcessingParameterNumber.Integer, defaultValue=5, minValue=2,
                                              maxValue=20),
                 "How many Fisher-Jenks classes (5 as in seed 000: low, lower, medium, higher, high fluctuation). "
                 "Ignored when BREAKS is given.")
        self.add(QgsProcessingParameterString(BREAKS, tr("Class breaks (optional, replaces natural breaks)"),
                                              optional=True),
                 "Comma-separated, strictly increasing Cv values, e.g. '0.05, 0.1, 0.2, 0.3' (k breaks give k + 1 "
                 "classes). Empty (default): natural breaks computed on a seeded sample.")
        self.add(QgsProcessingParameterNumber(SAMPLE_SIZE, tr("Sample size for the natural breaks"),
                                              QgsProcessingParameterNumber.Integer, defaultValue=20000, minValue=10),
                 "Number of valid pixels sampled to compute the natural breaks (all of them when the raster has "
                 "fewer).")
        self.add(QgsProcessingParameterNumber(SEED, tr("Random seed of the sample"),
                                              QgsProcessingParameterNumber.Integer, defaultValue=0),
                 "The sample, hence the breaks, depends only on this seed and the data: the same seed gives the "
                 "same breaks on every run.")
        self.add(QgsProcessingParameterNumber(MIN_ABS_MEAN, tr("Minimum |mean| (input units)"),
                                              QgsProcessingParameterNumber.Double, defaultValue=1.0, minValue=0.0),
                 "Pixels whose |mean| is below this value are nodata in the Cv and class rasters (a mean near 0 "
                 "makes Cv explode). In the input's units: 1 means 1 g C m-2 yr-1 for annual NEP. 0 keeps every "
                 "pixel except an exactly zero mean.", advanced=True)
        self.add_min_valid()
        self.add_raster_output(OUTPUT_CV, "Coefficient of variation", "Cv = s / |mean|, dimensionless, float32.")
        self.add_raster_output(OUTPUT_CLASS, "Stability classes", "Cv classes with their legend (see help).")
        self.add_raster_output(OUTPUT_MEAN, "Mean", "Optional: the mean over the valid years, input units.",
                               optional=True)
        self.add_raster_output(OUTPUT_STD, "Standard deviation",
                               "Optional: the standard deviation s (with DDOF), input units.", optional=True)
        self.add_table_output(OUTPUT_CLASS_AREA, "Stability class areas",
                              "Optional: area (km2) and share (%) of every Cv class.")
        self.add_engine_parameters()

    def run_algorithm(self, parameters, context, feedback):
        import numpy as np

        from ..core.classes import class_areas, classify_by_breaks, parse_breaks
        from ..core.engine import Result
        from ..core.errors import InputError
        from ..core.series import resolve_min_valid
        from ..core.stability import SampleCollector, coefficient_of_variation, cv_class_scheme, fisher_jenks
        from ..core.stack import resolve_years
        from ..core.writer import OutputSpec

        series = self.open_series(parameters, INPUT, context, feedback)
        n_times = series.count
        if n_times < 2:
            raise InputError(f"{series.label()} has {n_times} band: the coefficient of variation needs at least 2 "
                             "time steps.")
        ddof = self.parameterAsInt(parameters, DDOF, context)
        n_classes = self.parameterAsInt(parameters, N_CLASSES, context)
        breaks_text = (self.parameterAsString(parameters, BREAKS, context) or "").strip()
        sample_size = self.parameterAsInt(parameters, SAMPLE_SIZE, context)
        seed = self.parameterAsInt(parameters, SEED, context)
        min_abs_mean = self.parameterAsDouble(parameters, MIN_ABS_MEAN, context)
        min_valid = resolve_min_valid(self.parameterAsInt(parameters, MIN_VALID, context), n_times)
        if min_valid <= ddof:
            raise InputError(f"MIN_VALID = {min_valid} must exceed DDOF = {ddof}.")
        given = parse_breaks(breaks_text, BREAKS) if breaks_text else None
        try:
            years = resolve_years(series, self.first_year(parameters, context))
            span = f"{years[0]}-{years[-1]}"
        except InputError:
            span = f"{n_times} time steps"
            feedback.info(f"The years of {series.label()} are unknown (set FIRST_YEAR to name them): they are only "
                          "used in the band names here.")
        units = series.units or "input units"
        small_mean_words = f"|mean| < {min_abs_mean:g} {units}"

        def cv_of(block):
            return coefficient_of_variation(block.data[INPUT], ddof=ddof, min_abs_mean=min_abs_mean,
                                            min_valid=min_valid)

        # ---- pass 1: the seeded sample of Cv and its natural breaks --------------------------------------------
        if given is None:
            def sample_block(block):
                res = cv_of(block)
                collector = SampleCollector(sample_size, seed)
                collector.add(res["cv"], block.row_off, block.col_off)
                return Result({}, partial=(collector, res["n_small_mean"]))

            def merge_samples(a, b):
                a[0].merge(b[0])
                return a[0], a[1] + b[1]

            _, (collector, n_small) = self.run_engine(
                parameters, context, feedback.step(0, 2), [series], sample_block, [], merge=merge_samples,
                scratch=24 * n_times)
            if len(collector) == 0:
                raise InputError(
                    f"No valid Cv: every pixel of {series.label()} is nodata, has fewer than {min_valid} valid "
                    f"years, or has {small_mean_words} ({n_small} pixels). Check the input's nodata, lower "
                    "MIN_VALID or MIN_ABS_MEAN.")
            sample = collector.values()
            jenks = fisher_jenks(sample, n_classes)
            breaks = jenks["breaks"]
            feedback.info(
                f"Natural breaks (Fisher-Jenks) of Cv into {n_classes} classes, on a sample of {len(collector):,} of "
                f"{collector.n_seen:,} valid pixels (SEED {seed}): {_fmt_breaks(breaks)} (the lowest sampled Cv of "
                f"classes 2..{n_classes}; as upper bounds of classes 1..{n_classes - 1}, the way jenkspy and QGIS "
                f"print them: {_fmt_breaks(jenks['upper_bounds'])}); goodness of variance fit "
                f"{jenks['gvf']:.4f}.")
            source = "natural breaks (Fisher-Jenks) on a seeded sample"
            run_feedback = feedback.step(1, 2)
        else:
            breaks = given
            if n_classes != len(breaks) + 1 and parameters.get(N_CLASSES) not in (None, ""):
                feedback.info(f"BREAKS given: {len(breaks) + 1} classes, N_CLASSES is not used.")
            if breaks[0] <= 0:
                feedback.warn(f"Cv is never negative: class 1 (Cv < {breaks[0]:g}) stays empty.")
            feedback.info(f"Class breaks given in BREAKS: {_fmt_breaks(breaks)} (no sampling).")
            source = "given in BREAKS"
            run_feedback = feedback
        scheme = cv_class_scheme(breaks)

        # ---- pass 2 (or the only pass): Cv and its classes ---------------------------------------------------
        desc = f"DDOF {ddof}, {span}"
        tags = {"breaks": list(breaks), "breaks_source": source}
        if given is None:
            tags.update(sample_size=sample_size, seed=seed)
        specs = [
            OutputSpec(OUTPUT_CV, self.output_path(parameters, OUTPUT_CV, context), [f"Cv {span}"],
                       units="dimensionless",
                       description=f"Coefficient of variation s / |mean| ({desc}); nodata where {small_mean_words}",
                       tags={"min_abs_mean": min_abs_mean}),
            OutputSpec(OUTPUT_CLASS, self.output_path(parameters, OUTPUT_CLASS, context), [f"Cv class {span}"],
                       dtype="int16", scheme=scheme, description=scheme.title, tags=tags),
            OutputSpec(OUTPUT_MEAN, self.output_path(parameters, OUTPUT_MEAN, context), [f"mean {span}"],
                       units=series.units, description=f"Mean over the valid years ({span})"),
            OutputSpec(OUTPUT_STD, self.output_path(parameters, OUTPUT_STD, context), [f"std {span}"],
                       units=series.units, description=f"Standard deviation ({desc})"),
        ]

        def compute(block):
            res = cv_of(block)
            classes = classify_by_breaks(res["cv"], breaks, scheme.nodata)
            area = block.area_m2()
            valid = ~np.isnan(res["cv"])
            weights = area * valid
            cv_sum = float((np.where(valid, res["cv"], 0.0) * area).sum())
            arrays = {OUTPUT_CV: res["cv"], OUTPUT_CLASS: classes, OUTPUT_MEAN: res["mean"], OUTPUT_STD: res["std"]}
            return Result(arrays, partial=(class_areas(classes, area, scheme), res["n_small_mean"], cv_sum,
                                           float(weights.sum())))

        done, (areas, n_small, cv_sum, weight) = self.run_engine(
            parameters, context, run_feedback, [series], compute, specs, require_valid=OUTPUT_CV,
            merge=lambda a, b: (a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]), scratch=24 * n_times,
            what=f"{series.label()} (pixels with at least {min_valid} valid years and |mean| >= {min_abs_mean:g})")
        if n_small:
            feedback.warn(f"{n_small:,} pixels with {small_mean_words} were set to nodata in the Cv and class "
                          "rasters (Cv would explode near a zero mean; their mean and std are kept). Lower "
                          "MIN_ABS_MEAN to keep them.")
        else:
            feedback.info(f"No pixel had {small_mean_words}.")
        if weight > 0:
            feedback.info(f"Area-weighted mean Cv: {cv_sum / weight:.4f}.")
        results = {key: done.get(key) for key in (OUTPUT_CV, OUTPUT_CLASS, OUTPUT_MEAN, OUTPUT_STD)}
        results[OUTPUT_CLASS_AREA] = self.report_class_areas(parameters, OUTPUT_CLASS_AREA, context, feedback, areas,
                                                             scheme, "the coefficient of variation")
        return results
