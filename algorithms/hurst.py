"""hurst: Hurst exponent by rescaled-range (R/S) analysis per pixel (three named variants), its white-noise null
distribution, and the persistence overlay with a trend (seed 000, sections 2.4.4 and 3.3)."""

import json
import math
import threading

from qgis.core import (
    QgsProcessingParameterBoolean,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
)

from .base import CarbonSinkAlgorithm, tr

INPUT = "INPUT"
METHOD = "METHOD"
SLOPE = "SLOPE"
SIGNIFICANCE = "SIGNIFICANCE"
SIGNIFICANT_CLASSES = "SIGNIFICANT_CLASSES"
BEYOND_NULL = "BEYOND_NULL"
MIN_VALID = "MIN_VALID"
NULL_SIMULATIONS = "NULL_SIMULATIONS"
NULL_SEED = "NULL_SEED"
OUTPUT_H = "OUTPUT_H"
OUTPUT_CLASS = "OUTPUT_CLASS"
OUTPUT_FLAG = "OUTPUT_FLAG"
OUTPUT_NULL = "OUTPUT_NULL"
OUTPUT_CLASS_AREA = "OUTPUT_CLASS_AREA"

METHODS = [
    "blocks_alp: non-overlapping windows, Anis-Lloyd-Peters corrected (default)",
    "prefix: growing prefixes (the literature's usual form; biased upwards)",
    "prefix_diff: growing prefixes of the first differences (biased downwards)",
]

#: SIGNIFICANT_CLASSES options: None = read the class scheme from the raster's CLASSES tag.
SIGNIFICANT_OPTIONS = [
    ("Significant at 0.05, from the raster's class scheme (default)", None),
    ("|code| >= 1 (any non-zero trend class)", 1),
    ("|code| >= 2", 2),
    ("|code| >= 3", 3),
    ("|code| >= 4", 4),
]

#: The toolbox's trend class schemes (codes written in the CLASSES tag) and the smallest |code| significant at 0.05.
KNOWN_TREND_SCHEMES = {
    tuple(range(-4, 5)): (3, "the nine Sen + Mann-Kendall classes of seed 000 (|code| >= 3: |Z| > 1.96)"),
    tuple(range(-2, 3)): (2, "the five Sen + Mann-Kendall classes (|code| = 2: p < ALPHA)"),
    tuple(range(-3, 4)): (2, "the six least-squares classes of seed 003 (|code| >= 2: p < 0.05)"),
}

NULL_COLUMNS = [
    ("method", "string"),
    ("n", "int"),
    ("n_sim", "int"),
    ("seed", "int"),
    ("mean", "double"),
    ("std", "double"),
    ("q05", "double"),
    ("q95", "double"),
    ("frac_above_half", "double"),
    ("n_pixels", "int"),
]

HELP = """<p>Persistence of a time series (e.g. annual NEP) per pixel: the Hurst exponent H by rescaled-range (R/S)
analysis (seed 000, section 2.4.4, after Tong et al. 2018), compared with its distribution for white noise, and
overlaid with the trend (seed 000, section 3.3). H &gt; 0.5: persistent (the past trend tends to continue);
H &lt; 0.5: anti-persistent; H = 0.5: random. H is dimensionless; it uses the positions of the values, not their
dates. <b>Time step</b>: annual (one band per year) in seed 000; any regular step works.</p>
<p><b>Variants</b> (METHOD), named as such in every output. In each window or prefix of length L: the mean m,
cumulative deviations X<sub>t</sub> = sum<sub>u&lt;=t</sub> (x<sub>u</sub> - m), R = max X - min X, S = standard
deviation; only windows with R &gt; 0 and S &gt; 0 count.</p>
<ul>
<li><b>blocks_alp</b> (default): for every window size w = 4..floor(n/2), the first floor(n/w) non-overlapping
windows (the remainder at the end is dropped), S with ddof = 1, (R/S)<sub>w</sub> = mean R/S over the windows;
<b>H = 0.5 + slope of [log (R/S)<sub>w</sub> - log E(R/S)<sub>w</sub>] on log w</b> (least squares), with the
Anis-Lloyd-Peters expectation for white noise E(R/S)<sub>w</sub> = ((w - 0.5)/w) Gamma((w-1)/2) / (sqrt(pi)
Gamma(w/2)) sum<sub>i=1..w-1</sub> sqrt((w-i)/i). Needs n &gt;= 12 (three window sizes).</li>
<li><b>prefix</b> (the literature's usual form): for tau = 2..n the first tau values, S the population standard
deviation; <b>H = slope of log(R/S) on log(tau)</b> (least squares with intercept). Needs n &gt;= 4.</li>
<li><b>prefix_diff</b>: prefix on the first differences x<sub>t+1</sub> - x<sub>t</sub> (common in NDVI / NEP
papers). Needs n &gt;= 5.</li>
</ul>
<p>Fewer than 3 usable points (window sizes or prefixes) give nodata. <b>Minimum valid years</b>: by default every
year must be valid; with a lower MIN_VALID a pixel's valid values are analysed in time order with the gaps closed.</p>
<p><b>The bias of the uncorrected variants</b>: on white noise of length 24 (no persistence at all), the prefix form
calls 87% of pixels persistent (H &gt; 0.5; mean H 0.64), its first-difference form calls 91% anti-persistent
(mean H 0.39), and blocks_alp about 50% (mean 0.49). Seed 000 reports 84.91% of its 24-year NEP map as
anti-persistent: the share the first-difference form gives for pure noise. So 'H &gt; 0.5' maps from 20-40 years
are mostly artefacts of the variant. The algorithm therefore simulates, for the chosen variant and series length,
NULL_SIMULATIONS white-noise series (default 2,000, fixed NULL_SEED: the same numbers on every run), logs the
mean, standard deviation, 5% and 95% quantiles of their H and the share above 0.5, writes them to the optional
OUTPUT_NULL table (method, n, n_sim, seed, mean, std, q05, q95, frac_above_half, n_pixels; one row per series
length used), and flags in the optional OUTPUT_FLAG raster the pixels beyond them:</p>
<table border="1" cellpadding="2">
<tr><th>code</th><th>flag</th></tr>
<tr><td>-1</td><td>Anti-persistent beyond white noise (H &lt; 5% quantile)</td></tr>
<tr><td>0</td><td>Within the white-noise range of H (5% - 95%)</td></tr>
<tr><td>1</td><td>Persistent beyond white noise (H &gt; 95% quantile)</td></tr>
</table>
<p><b>Persistence overlay</b> (OUTPUT_CLASS, needs SLOPE: a single-band trend slope on the same grid, e.g.
OUTPUT_SLOPE of <i>Sen slope + Mann-Kendall</i> or <i>Linear trend</i>; only its sign is used), seed 000's classes:</p>
<table border="1" cellpadding="2">
<tr><th>code</th><th>class</th><th>rule</th></tr>
<tr><td>4</td><td>Continuous (persistent) increase</td><td>slope &gt; 0, H &gt; 0.5</td></tr>
<tr><td>3</td><td>Increase then decrease (anti-persistent)</td><td>slope &gt; 0, H &lt; 0.5</td></tr>
<tr><td>2</td><td>Decrease then increase (anti-persistent)</td><td>slope &lt; 0, H &lt; 0.5</td></tr>
<tr><td>1</td><td>Continuous (persistent) decrease</td><td>slope &lt; 0, H &gt; 0.5</td></tr>
<tr><td>0</td><td>None</td><td>slope = 0 or H = 0.5, or excluded by the restrictions below</td></tr>
</table>
<p>Restrictions (pixels excluded get 0): SIGNIFICANCE, a trend class raster of the same grid (signed codes, e.g.
OUTPUT_CLASS of the trend algorithms), keeps only significant trends: by default significant at 0.05, read from the
raster's class scheme (|code| &gt;= 3 for the nine Sen + Mann-Kendall classes, i.e. |Z| &gt; 1.96; |code| = 2 for the
five-class scheme; |code| &gt;= 2 for the six least-squares classes); for other class rasters choose the smallest
significant |code| in SIGNIFICANT_CLASSES. BEYOND_NULL keeps only pixels whose H is beyond the white-noise 5% / 95%
quantiles. Where the significance raster is nodata the overlay is nodata. The log (and the optional class-area
table) gives each class's area and share, area-weighted on the ellipsoid.</p>
<p><b>References</b>: Hurst (1951) Trans. Am. Soc. Civ. Eng. 116, 770-799; Anis and Lloyd (1976) Biometrika 63,
111-116; Peters (1994) Fractal Market Analysis, Wiley; Tong et al. (2018) Sci. Total Environ. 615, 1557-1565;
Zhang, Liu, Jiang (2025) Front. Environ. Sci. 13:1550501 (seed 000).</p>"""


def significance_threshold(path: str, choice, name: str = SIGNIFICANCE):
    """The smallest |code| counted as significant in the trend class raster ``path``, and a description.

    ``choice`` is an explicit threshold, or None to read the scheme from the ``CLASSES`` tag the toolbox writes
    (the nine-class, five-class and six-class trend schemes are known). Raises InputError otherwise.
    """
    import rasterio

    from ..core.errors import InputError

    with rasterio.open(path) as ds:
        tags = ds.tags()
    labels = {}
    try:
        for entry in json.loads(tags.get("CLASSES", "[]")):
            labels[int(entry["code"])] = str(entry.get("label", entry["code"]))
    except (ValueError, TypeError, KeyError):
        labels = {}
    if choice is not None:
        return int(choice), f"|code| >= {int(choice)} (SIGNIFICANT_CLASSES)", labels
    known = KNOWN_TREND_SCHEMES.get(tuple(sorted(labels)))
    if known is None:
        found = f"classes {sorted(labels)}" if labels else "no class scheme (no CLASSES tag)"
        raise InputError(
            f"{name}: '{path}' carries {found}, not one of the toolbox's trend class schemes (nine or five Sen + "
            f"Mann-Kendall classes, six least-squares classes), so which codes are significant is unknown: set "
            f"{SIGNIFICANT_CLASSES} to the smallest |code| that means 'significant'.")
    return known[0], known[1], labels


class HurstAlgorithm(CarbonSinkAlgorithm):
    ALG_ID = "hurst"
    DISPLAY_NAME = "Hurst exponent (R/S)"
    GROUP = "stability"
    HELP = HELP

    def initAlgorithm(self, config=None):
        from ..core.hurst import NULL_SEED as DEFAULT_NULL_SEED

        self.add_series(INPUT, "Time series", "The series whose persistence is measured (e.g. annual NEP).")
        self.add_first_year()
        self.add_enum(METHOD, "R/S variant", METHODS, 0,
                      "How R/S is computed (see help). blocks_alp is close to unbiased for white noise; prefix and "
                      "prefix_diff are the forms of many papers and are strongly biased for 20-40 years.")
        self.add(QgsProcessingParameterRasterLayer(SLOPE, tr("Trend slope (for the persistence overlay)"),
                                                   optional=True),
                 "A single-band trend slope on the same grid as INPUT (e.g. OUTPUT_SLOPE of 'Sen slope + "
                 "Mann-Kendall' or 'Linear trend'); only its sign is used. Needed by OUTPUT_CLASS.")
        self.add(QgsProcessingParameterRasterLayer(SIGNIFICANCE, tr("Trend classes (keep significant trends only)"),
                                                   optional=True),
                 "Optional: a trend class raster of the same grid (OUTPUT_CLASS of the trend algorithms, signed "
                 "codes). The overlay then classifies only pixels whose trend is significant (see "
                 "SIGNIFICANT_CLASSES); the others get 0.")
        self.add_enum(SIGNIFICANT_CLASSES, "Significant trend classes", [label for label, _ in SIGNIFICANT_OPTIONS],
                      0, "Which codes of SIGNIFICANCE mean a significant trend. Default: significant at 0.05, read "
                      "from the raster's class scheme (|code| >= 3 for nine classes, = 2 for five, >= 2 for the six "
                      "least-squares classes). Choose a threshold for class rasters made elsewhere.", advanced=True)
        self.add(QgsProcessingParameterBoolean(BEYOND_NULL, tr("Overlay only where H is beyond white noise"),
                                               defaultValue=False),
                 "Classify in the overlay only pixels whose H is below the 5% or above the 95% quantile of H for "
                 "white noise of the same length and variant; the others get 0.")
        self.add_min_valid(
            "Pixels with fewer valid years are nodata. 0 (default) requires every year, as the papers do. Pixels with "
            "gaps are analysed on their valid values in time order, and compared with white noise of their own "
            "length."
        )
        self.add(QgsProcessingParameterNumber(NULL_SIMULATIONS, tr("White-noise simulations"),
                                              QgsProcessingParameterNumber.Integer, defaultValue=2000,
                                              minValue=100, maxValue=20000),
                 "Number of simulated white-noise series for the null distribution of H (simulated at once: memory "
                 "grows with this number times the series length).", advanced=True)
        self.add(QgsProcessingParameterNumber(NULL_SEED, tr("White-noise seed"), QgsProcessingParameterNumber.Integer,
                                              defaultValue=DEFAULT_NULL_SEED, minValue=0),
                 "Seed of the white-noise simulation: the same seed gives the same quantiles.", advanced=True)
        self.add_raster_output(OUTPUT_H, "Hurst exponent", "H per pixel, dimensionless, float32.")
        self.add_raster_output(OUTPUT_CLASS, "Persistence overlay",
                               "Optional: trend x Hurst classes with their legend (needs SLOPE; see help).",
                               optional=True)
        self.add_raster_output(OUTPUT_FLAG, "H compared with white noise",
                               "Optional: -1 below the white-noise 5% quantile, 0 inside, +1 above the 95% "
                               "quantile; styled.", optional=True)
        self.add_table_output(OUTPUT_NULL, "White-noise null distribution of H",
                              "Optional: the white-noise mean, std, 5% and 95% quantiles of H used (one row per "
                              "series length).")
        self.add_table_output(OUTPUT_CLASS_AREA, "Persistence overlay class areas",
                              "Optional: area (km2) and share (%) of every overlay class.")
        self.add_engine_parameters()

    def run_algorithm(self, parameters, context, feedback):
        import numpy as np

        from ..core import hurst as hu
        from ..core.classes import CLASS_NODATA, class_areas
        from ..core.engine import Result
        from ..core.errors import InputError
        from ..core.series import resolve_min_valid
        from ..core.stack import resolve_years
        from ..core.writer import OutputSpec

        series = self.open_series(parameters, INPUT, context, feedback)
        n_times = series.count
        method = hu.HURST_METHODS[self.parameterAsEnum(parameters, METHOD, context)]
        need = hu.min_series_length(method)
        if n_times < need:
            hint = {"blocks_alp": " (window sizes 4, 5 and 6)", "prefix": "", "prefix_diff": " (3 differences + 1)"}
            raise InputError(
                f"{series.label()} has {n_times} time steps: the {method} Hurst exponent needs at least {need}"
                f"{hint[method]}. Give a longer series" + ("" if method == "prefix" else " or METHOD prefix") + ".")
        min_valid = resolve_min_valid(self.parameterAsInt(parameters, MIN_VALID, context), n_times)
        if min_valid < need:
            raise InputError(f"MIN_VALID = {min_valid} is too short for the {method} Hurst exponent: use at least "
                             f"{need} (or 0 for all years).")
        n_sim = self.parameterAsInt(parameters, NULL_SIMULATIONS, context)
        seed = self.parameterAsInt(parameters, NULL_SEED, context)
        beyond = self.parameterAsBool(parameters, BEYOND_NULL, context)
        class_path = self.output_path(parameters, OUTPUT_CLASS, context)
        flag_path = self.output_path(parameters, OUTPUT_FLAG, context)
        has_slope = parameters.get(SLOPE) not in (None, "")
        has_sig = parameters.get(SIGNIFICANCE) not in (None, "")
        if class_path and not has_slope:
            raise InputError(
                "OUTPUT_CLASS (the persistence overlay) needs SLOPE: give the trend slope raster (e.g. OUTPUT_SLOPE of "
                "trend_sen_mk or trend_ols, same grid as INPUT), or leave OUTPUT_CLASS empty.")
        if not class_path and parameters.get(OUTPUT_CLASS_AREA) not in (None, ""):
            raise InputError("OUTPUT_CLASS_AREA gives the areas of the persistence overlay: request OUTPUT_CLASS (and "
                             "give SLOPE) too, or leave OUTPUT_CLASS_AREA empty.")
        if not class_path:
            unused = [n for n, given in ((SLOPE, has_slope), (SIGNIFICANCE, has_sig), (BEYOND_NULL, beyond)) if given]
            if unused:
                feedback.warn(f"{', '.join(unused)} only shape(s) the persistence overlay, which was not requested "
                              "(OUTPUT_CLASS): not used.")
            has_slope = has_sig = beyond = False
        inputs = [series]
        threshold = None
        if has_slope:
            slope = self.open_series(parameters, SLOPE, context, feedback)
            if slope.count != 1:
                raise InputError(f"{slope.label()} has {slope.count} bands: give a single-band trend slope raster "
                                 "(e.g. OUTPUT_SLOPE of trend_sen_mk).")
            inputs.append(slope)
        if has_sig:
            sig = self.open_series(parameters, SIGNIFICANCE, context, feedback)
            if sig.count != 1:
                raise InputError(f"{sig.label()} has {sig.count} bands: give a single-band trend class raster "
                                 "(e.g. OUTPUT_CLASS of trend_sen_mk).")
            choice = SIGNIFICANT_OPTIONS[self.parameterAsEnum(parameters, SIGNIFICANT_CLASSES, context)][1]
            threshold, rule, labels = significance_threshold(sig.paths[0], choice)
            kept = [f"{c} {labels[c]}" for c in sorted(labels) if abs(c) >= threshold]
            feedback.info(f"Significant trends: {rule}" + (f": classes {'; '.join(kept)}." if kept else "."))
            inputs.append(sig)

        try:
            years = resolve_years(series, self.first_year(parameters, context))
            span = f"{years[0]}-{years[-1]}"
        except InputError:
            span = f"{n_times} time steps"
            feedback.info(f"The years of {series.label()} are unknown (set FIRST_YEAR to name them): they are only "
                          "used in the band names here.")

        # White-noise null of the full length now; with MIN_VALID < all years, that of each shorter length the
        # first time a block has a pixel of that length (same seed, so the same numbers whichever block asks).
        full = hu.white_noise_null(method, n_times, n_sim=n_sim, seed=seed)
        nulls = {n_times: full}
        null_lock = threading.Lock()

        def quantiles_of(lengths):
            with null_lock:
                for n in np.unique(lengths[lengths >= min_valid]).tolist():
                    if n not in nulls:
                        nulls[n] = hu.white_noise_null(method, n, n_sim=n_sim, seed=seed)
                q05_of = np.full(n_times + 1, np.nan)
                q95_of = np.full(n_times + 1, np.nan)
                for n, null in nulls.items():
                    q05_of[n], q95_of[n] = null["q05"], null["q95"]
            return q05_of[lengths], q95_of[lengths]

        scheme = hu.OVERLAY_SCHEME
        restrictions = []
        if has_sig:
            restrictions.append("significant trends only")
        if beyond:
            restrictions.append("H beyond the white-noise 5%/95% quantiles only")
        overlay_desc = scheme.title + (f" ({', '.join(restrictions)})" if restrictions else "")
        null_tags = {"hurst_method": method, "white_noise_n": n_times, "white_noise_n_sim": n_sim,
                     "white_noise_seed": seed, "white_noise_q05": full["q05"], "white_noise_q95": full["q95"]}
        specs = [
            OutputSpec(OUTPUT_H, self.output_path(parameters, OUTPUT_H, context), [f"H {method} {span}"],
                       units="dimensionless", tags=null_tags,
                       description=f"Hurst exponent by R/S analysis, variant {method} ({span})"),
            OutputSpec(OUTPUT_CLASS, class_path, [f"persistence {span}"], dtype="int16", scheme=scheme,
                       description=overlay_desc, tags=dict(null_tags, beyond_null=beyond,
                                                           significant_min_abs_code=threshold)),
            OutputSpec(OUTPUT_FLAG, flag_path, [f"H vs white noise {span}"], dtype="int16", scheme=hu.FLAG_SCHEME,
                       description=f"{hu.FLAG_SCHEME.title} ({method})", tags=null_tags),
        ]
        gappy = min_valid < n_times

        def compute(block):
            x = block.data[INPUT]
            h = hu.hurst(x, method, min_valid)
            if gappy:
                n_valid = np.count_nonzero(~np.isnan(x), axis=0)
                q05, q95 = quantiles_of(n_valid)
            else:
                n_valid = np.full(h.shape, n_times)
                q05, q95 = full["q05"], full["q95"]
            has_h = ~np.isnan(h)
            flag = hu.flag_beyond_null(h, q05, q95)
            arrays = {OUTPUT_H: h, OUTPUT_FLAG: flag}
            stats = np.array([has_h.sum(), (h > 0.5).sum(), (h < 0.5).sum(), (flag == 1).sum(), (flag == -1).sum(),
                              0], dtype=np.int64)
            lengths = np.bincount(n_valid[has_h].ravel(), minlength=n_times + 1)
            areas = np.zeros(len(scheme.codes))
            if has_slope:
                sl = block.data[SLOPE][0]
                significant = None
                if has_sig:
                    code = block.data[SIGNIFICANCE][0]
                    finite = ~np.isnan(code)
                    if np.any(code[finite] != np.round(code[finite])):
                        raise InputError(f"{SIGNIFICANCE} holds non-integer values: give a trend CLASS raster "
                                         "(signed integer codes, e.g. OUTPUT_CLASS of trend_sen_mk), not a "
                                         "p-value or Z raster.")
                    significant = finite & (np.abs(np.where(finite, code, 0.0)) >= threshold)
                    disagree = finite & (code != 0) & ~np.isnan(sl) & (np.sign(np.where(finite, code, 0.0))
                                                                        != np.sign(sl))
                    stats[5] = int(disagree.sum())
                if beyond:
                    cls = hu.persistence_overlay(sl, h, significant, q05, q95)
                else:
                    cls = hu.persistence_overlay(sl, h, significant)
                if has_sig:
                    cls[np.isnan(block.data[SIGNIFICANCE][0])] = CLASS_NODATA
                arrays[OUTPUT_CLASS] = cls
                areas = class_areas(cls, block.area_m2(), scheme)
            return Result(arrays, partial=(stats, lengths, areas))

        what = f"{series.label()} (pixels with at least {min_valid} valid years)"
        done, (stats, lengths, areas) = self.run_engine(
            parameters, context, feedback, inputs, compute, specs, require_valid=OUTPUT_H,
            merge=lambda a, b: (a[0] + b[0], a[1] + b[1], a[2] + b[2]),
            scratch=hu.scratch_bytes_per_pixel(n_times, method), what=what)

        # ---- the log: the white-noise null, the shares, the overlay -------------------------------------------
        used = [n for n in range(min_valid, n_times + 1) if lengths[n] > 0]  # each is in nulls
        rows = []
        for n in used:
            null = nulls[n]
            feedback.info(
                f"White noise, {method}, n = {n} ({null['n_sim']:,} simulated series, seed {null['seed']}): mean H "
                f"{null['mean']:.4f}, std {null['std']:.4f}, 5% quantile {null['q05']:.4f}, 95% quantile "
                f"{null['q95']:.4f}; {100 * null['frac_above_half']:.1f}% of white-noise series have H > 0.5"
                + (f" ({int(lengths[n]):,} pixels of this length)" if gappy else "") + ".")
            rows.append({**{k: null[k] for k in ("method", "n", "n_sim", "seed", "mean", "std", "q05", "q95",
                                                 "frac_above_half")}, "n_pixels": int(lengths[n])})
        n_h, above, below, beyond_hi, beyond_lo, disagree = (int(v) for v in stats)
        pct = (lambda k: 100.0 * k / n_h) if n_h else (lambda k: math.nan)
        feedback.info(f"{n_h:,} pixels have an H: H > 0.5 (persistent by the usual rule) in {pct(above):.2f}%, "
                      f"H < 0.5 (anti-persistent) in {pct(below):.2f}%; beyond white noise: "
                      f"{pct(beyond_hi):.2f}% above the 95% quantile, {pct(beyond_lo):.2f}% below the 5% quantile.")
        if method != "blocks_alp":
            frac = full["frac_above_half"]
            feedback.warn(
                f"The {method} variant is biased for short series: white noise of length {n_times} has H > 0.5 in "
                f"{100 * frac:.1f}% of series (H < 0.5 in {100 * (1 - frac):.1f}%). "
                "Read the H > 0.5 / H < 0.5 shares against these numbers; OUTPUT_FLAG and BEYOND_NULL use the "
                "white-noise quantiles instead.")
        if disagree:
            feedback.warn(f"{disagree:,} pixels: the sign of SLOPE disagrees with the sign of the SIGNIFICANCE class. "
                          "Give the slope and the class raster of the same trend run.")
        results = {OUTPUT_H: done[OUTPUT_H], OUTPUT_CLASS: done.get(OUTPUT_CLASS), OUTPUT_FLAG: done.get(OUTPUT_FLAG)}
        if parameters.get(OUTPUT_NULL) not in (None, ""):
            results[OUTPUT_NULL] = self.write_table(parameters, OUTPUT_NULL, context, NULL_COLUMNS, rows)
        if has_slope:
            results[OUTPUT_CLASS_AREA] = self.report_class_areas(parameters, OUTPUT_CLASS_AREA, context, feedback,
                                                                 areas, scheme, "the persistence overlay")
        return results
