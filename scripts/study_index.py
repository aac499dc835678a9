"""The index page of a carbon-sink study run, and the planted-signal checks of the sample data.

    /usr/bin/python3 scripts/study_index.py OUTDIR [--data sample/data] [--model carbon_sink_full_study]
                                              [--inputs NAME=VALUE ...]
        writes OUTDIR/index.html: one self-contained page listing the run's inputs and every output of the model
        grouped by stage, with a one-line description, a thumbnail of every map drawn with its legend (the .qml
        QGIS uses), the small tables inline, links to every file and report, and, when DATA holds the sample
        data's signals.json, the planted-signal checks. Exits with 1 when an output is missing or a planted signal
        does not come out.

    /usr/bin/python3 scripts/study_index.py --arguments OUTDIR [--model carbon_sink_full_study]
        prints the model's output arguments for ``qgis_process run`` (``child:output=OUTDIR/file``), one per line.

What the model writes, and where, comes from ``models/models.json`` (generated with the models by
``models/build_models.py``). Needs numpy, rasterio and matplotlib (no QGIS).
"""

from __future__ import annotations

import argparse
import base64
import csv
import html
import io
import json
import sys
import textwrap
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "models" / "models.json"
DEFAULT_MODEL = "carbon_sink_full_study"
INLINE_ROWS = 30  # tables up to this many rows are shown in the page
LOG_NAME = "qgis_process.log"


def load_model(name: str) -> dict:
    models = json.loads(MANIFEST.read_text(encoding="utf-8"))
    if name not in models:
        raise SystemExit(f"no model '{name}' in {MANIFEST} (models: {', '.join(models)})")
    return models[name]


def arguments(model: dict, outdir: Path) -> list[str]:
    return [f"{o['parameter']}={outdir / o['file']}" for o in model["outputs"]]


# ------------------------------------------------------------------------------------------------ reading
def read_table(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def read_raster(path: Path):
    """(float array (bands, rows, cols) with NaN nodata, band descriptions, tags)."""
    import numpy as np
    import rasterio

    with rasterio.open(path) as ds:
        data = ds.read(masked=True).astype("float64").filled(np.nan)
        return data, list(ds.descriptions), ds.tags()


def palette(path: Path) -> list[tuple[int, str, str]] | None:
    """[(code, color, label)] from the .qml legend next to a class raster (what QGIS shows), else None."""
    qml = path.with_suffix(".qml")
    if not qml.exists():
        return None
    entries = ET.parse(qml).getroot().iter("paletteEntry")
    return [(int(float(e.get("value"))), e.get("color"), e.get("label")) for e in entries] or None


def class_code(path: Path, *words: str) -> int:
    """The code of the class whose legend label contains every word (case-insensitive)."""
    _, _, tags = read_raster(path)
    classes = json.loads(tags["CLASSES"])
    for c in classes:
        if all(w.lower() in c["label"].lower() for w in words):
            return int(c["code"])
    raise KeyError(f"no class {' '.join(words)} in the legend of {path.name}: {classes}")


# ------------------------------------------------------------------------------------------------ the checks
def planted_checks(outdir: Path, data: Path) -> list[dict]:
    """The planted signals of the sample data (signals.json), measured on the study's outputs.

    Each check: area, what was planted, the condition checked, what was measured, passed. The trend, Cv and Hurst
    stage analyses NEP = NPP - Rh, while the signals are planted in NPP: where the two differ (the noisy area) the
    planted NPP condition is checked on the NPP trend, and NEP gets the condition that NEP can promise.
    """
    import numpy as np

    signals = json.loads((data / "signals.json").read_text(encoding="utf-8"))
    areas = {a["name"]: a for a in signals["areas"]}

    def box(name):
        b = areas[name]["pixel_box"]
        return slice(b["row0"], b["row1"]), slice(b["col0"], b["col1"])

    def band(file, index=0):
        return read_raster(outdir / file)[0][index]

    def counts(values):
        codes, n = np.unique(values[np.isfinite(values)].astype(int), return_counts=True)
        return ", ".join(f"{c}: {k}" for c, k in zip(codes, n)) or "no valid pixel"

    checks = []

    def add(area, planted, condition, measured, passed):
        checks.append(
            {"area": area, "planted": planted, "condition": condition, "measured": measured, "passed": bool(passed)}
        )

    nep_trend = band("nep_trend_class.tif")
    npp_ols = band("npp_ols_class.tif")
    for name, code, ols_code in (("greening", 4, 3), ("degradation", -4, -3)):
        exp = areas[name]["expected"]
        assert exp["trend_class_seed000"] == code and exp["ols_class_seed003"] == ols_code
        values = nep_trend[box(name)]
        add(
            name,
            exp["description"],
            f"NEP Sen + Mann-Kendall class {code:+d} (|Z| > 2.58) in every pixel",
            f"classes (code: pixels) {counts(values)}",
            (values == code).all(),
        )
        values = npp_ols[box(name)]
        add(
            name,
            exp["description"],
            f"NPP least-squares class {ols_code:+d} (p < 0.01, seed 003) in every pixel",
            f"classes {counts(values)}",
            (values == ols_code).all(),
        )

    exp = areas["desert_edge"]["expected"]
    nep = read_raster(outdir / "nep.tif")[0][(slice(None), *box("desert_edge"))]
    add(
        "desert_edge",
        exp["description"],
        "NEP < 0 (carbon source) in every pixel and year",
        f"NEP {np.nanmin(nep):.1f} to {np.nanmax(nep):.1f} g C m-2 yr-1, mean {np.nanmean(nep):.1f}",
        np.isfinite(nep).all() and (nep < 0).all(),
    )
    source = class_code(outdir / "nep_classes.tif", "source")
    classes = read_raster(outdir / "nep_classes.tif")[0][(slice(None), *box("desert_edge"))]
    add(
        "desert_edge",
        exp["description"],
        f"NEP class 'carbon source' (code {source}) in every pixel and year",
        f"classes {counts(classes)} (pixel-years)",
        (classes == source).all(),
    )

    exp = areas["persistent"]["expected"]
    h = band("nep_hurst.tif")[box("persistent")]
    above = float(np.mean(h > 0.5))
    add(
        "persistent",
        exp["description"],
        "Hurst H of NEP > 0.5 (persistent) in most (>= 90%) pixels",
        f"H > 0.5 in {100 * above:.1f}% of pixels, mean H {np.nanmean(h):.3f}",
        above >= 0.9,
    )

    exp = areas["noisy"]["expected"]
    values = npp_ols[box("noisy")]
    add(
        "noisy",
        exp["description"],
        "no NPP trend: least-squares class within +/-1 (not significant) everywhere",
        f"classes {counts(values)}",
        np.isin(values, exp["ols_class_seed003_in"]).all(),
    )
    values = nep_trend[box("noisy")]
    n_weak = int(np.sum(np.abs(values) == 2))
    add(
        "noisy",
        exp["description"],
        "no NEP trend significant at 0.05: Sen + Mann-Kendall class within +/-2 (|Z| <= 1.96) everywhere",
        f"classes {counts(values)}"
        + (
            f"; {n_weak} pixel(s) weakly significant (1.64 < |Z| <= 1.96): Rh adds "
            "its own small trend and weather to the planted NPP noise"
            if n_weak
            else ""
        ),
        (np.abs(values) <= 2).all(),
    )

    exp = areas["climate_driven"]["expected"]
    precipitation = class_code(outdir / "nep_dominant_factor.tif", "precipitation")
    values = band("nep_dominant_factor.tif")[box("climate_driven")]
    add(
        "climate_driven",
        exp["description"],
        f"dominant climate factor of NEP = precipitation (code {precipitation}) in every pixel",
        f"dominant factor {counts(values)}",
        (values == precipitation).all(),
    )

    exp = areas["peak_2010"]["expected"]
    values = band("cscc_year_of_max.tif")[box("peak_2010")]
    add(
        "peak_2010",
        exp["description"],
        f"year of maximum NPP = {exp['year_of_max']} in every pixel",
        f"years {counts(values)}",
        (values == exp["year_of_max"]).all(),
    )

    exp = areas["stable"]["expected"]
    cv_class = band("nep_cv_class.tif")[box("stable")]
    cv = band("nep_cv.tif")
    add(
        "stable",
        exp["description"],
        "lowest NEP stability class (1, low fluctuation) in every pixel",
        f"classes {counts(cv_class)}; Cv of NEP {np.nanmin(cv[box('stable')]):.4f} to "
        f"{np.nanmax(cv[box('stable')]):.4f} (noisy area from {np.nanmin(cv[box('noisy')]):.3f})",
        (cv_class == 1).all() and np.nanmax(cv[box("stable")]) < np.nanmin(cv[box("noisy")]),
    )
    return checks


# ------------------------------------------------------------------------------------------------ rendering
def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def thumbnail(path: Path) -> tuple[str, str]:
    """A small picture of a map (classes in the colors of its .qml legend) and a caption saying what it shows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.colors import BoundaryNorm, ListedColormap, TwoSlopeNorm
    from matplotlib.patches import Patch

    data, descriptions, _ = read_raster(path)
    legend = palette(path)
    yearly = len(descriptions) > 1 and all((d or "").isdigit() and len(d) == 4 for d in descriptions)
    if yearly and legend:
        panels, caption = [(data[-1], descriptions[-1])], f"last year ({descriptions[-1]}) of {len(data)}"
    elif yearly:
        with warnings.catch_warnings():  # all-nodata pixels: NaN mean, as wanted
            warnings.simplefilter("ignore", RuntimeWarning)
            panels = [(np.nanmean(data, axis=0), f"mean {descriptions[0]}-{descriptions[-1]}")]
        caption = f"mean of the {len(data)} years"
    else:
        panels = [(data[i], descriptions[i] or f"band {i + 1}") for i in range(min(len(data), 5))]
        caption = "" if len(data) == 1 else f"{len(data)} bands"
    figure, axes = plt.subplots(1, len(panels), figsize=(2.4 * len(panels), 2.1), squeeze=False)
    image = None
    for ax, (values, title) in zip(axes[0], panels):
        if legend:
            entries = sorted(legend)
            codes = np.array([c for c, _, _ in entries])
            cmap = ListedColormap([color for _, color, _ in entries])
            index = np.full(values.shape, np.nan)  # each pixel's position in the legend (codes need not be 0..n-1)
            known = np.isfinite(values) & np.isin(values, codes)
            index[known] = np.searchsorted(codes, values[known])
            bounds = np.arange(len(codes) + 1) - 0.5
            image = ax.imshow(index, cmap=cmap, norm=BoundaryNorm(bounds, cmap.N), interpolation="nearest")
        else:
            finite = values[np.isfinite(values)]
            low, high = np.percentile(finite, [2, 98]) if finite.size else (0.0, 1.0)
            if low < 0 < high:
                image = ax.imshow(values, cmap="RdYlGn", norm=TwoSlopeNorm(0.0, low, high), interpolation="nearest")
            else:
                image = ax.imshow(
                    values, cmap="viridis", vmin=low, vmax=high if high > low else low + 1, interpolation="nearest"
                )
        ax.set_title(textwrap.fill(title, 24), fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    if legend:
        present = set(np.unique(np.concatenate([v[np.isfinite(v)] for v, _ in panels])).astype(int))
        handles = [Patch(color=color, label=label) for code, color, label in legend if code in present]
        axes[0][-1].legend(
            handles=handles, loc="center left", bbox_to_anchor=(1.03, 0.5), fontsize=7, frameon=False, handlelength=1.2
        )
    elif image is not None:
        figure.colorbar(image, ax=axes[0].tolist(), shrink=0.85, pad=0.03).ax.tick_params(labelsize=7)
    uri = _png(figure)
    plt.close(figure)
    return uri, caption


def _cell(text: str | None) -> str:
    """A table cell: numbers right-aligned with a sensible precision, text as it is."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return f"<td>{html.escape(text or '')}</td>"
    if value.is_integer() and abs(value) < 1e15:
        shown = str(int(value))
    elif value == 0 or 0.01 <= abs(value) < 1e6:
        shown = f"{value:,.2f}"
    else:
        shown = f"{value:.3g}"
    return f"<td class='n'>{shown}</td>"


def table_html(path: Path) -> str:
    columns, rows = read_table(path)
    if len(rows) > INLINE_ROWS:
        return f"<p class='note'>{len(rows)} rows: open the file.</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(_cell(r.get(c)) for c in columns) + "</tr>" for r in rows)
    return f"<details open><summary>{len(rows)} rows</summary><table><tr>{head}</tr>{body}</table></details>"


STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 2px solid #1a9850; padding-bottom: 0.2em; margin-top: 2em; }
h3 { margin: 1.2em 0 0.3em; font-size: 1.05em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.4em 0; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: left; } th { background: #f0f0f0; }
td.n { text-align: right; }
.checks td, .checks th { text-align: left; vertical-align: top; }
.pass { color: #1a7f37; font-weight: bold; } .fail { color: #c00; font-weight: bold; }
.output { margin: 0.8em 0 1.2em; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; }
.card { border: 1px solid #ddd; border-radius: 4px; padding: 6px 10px; max-width: 100%; }
.card h3 { margin-top: 0.3em; max-width: 420px; font-size: 0.95em; }
.file { font-family: monospace; } .note { color: #666; font-size: 0.9em; }
.missing { color: #c00; font-weight: bold; } img { display: block; margin: 0.3em 0; }
"""


def _output_html(outdir: Path, o: dict) -> str:
    path = outdir / o["file"]
    link = f"<a class='file' href='{html.escape(o['file'])}'>{html.escape(o['file'])}</a>"
    qml = path.with_suffix(".qml")
    if o["kind"] == "map" and qml.exists():
        link += f" + legend <a class='file' href='{html.escape(qml.name)}'>{html.escape(qml.name)}</a>"
    parts = [
        f"<div class='{'card' if o['kind'] == 'map' else 'output'}'><h3>{html.escape(o['description'])}</h3>"
        f"{link} <span class='note'>({html.escape(o['kind'])}, {html.escape(o['algorithm'])})</span>"
    ]
    if not path.exists():
        parts.append(" <span class='missing'>missing</span>")
    elif o["kind"] == "map":
        uri, caption = thumbnail(path)
        parts.append(
            f"<img src='{uri}' alt='{html.escape(o['file'])}'>"
            + (f"<span class='note'>{html.escape(caption)}</span>" if caption else "")
        )
    elif o["kind"] == "table":
        parts.append(table_html(path))
    elif o["kind"] == "report":
        parts.append(" <span class='note'>open the report for its charts and tables</span>")
    parts.append("</div>")
    return "".join(parts)


def inputs_html(model: dict, inputs: list[str]) -> str:
    """The model inputs of the run (``NAME=value`` as given to qgis_process; a list repeats the name)."""
    values: dict[str, list[str]] = {}
    for item in inputs:
        name, _, value = item.partition("=")
        values.setdefault(name, []).append(value)
    rows = []
    for i in model["inputs"]:
        given = values.get(i["name"])
        if not given:
            shown = "(not given)"
        elif len(given) == 1:
            shown = given[0]
        else:
            shown = f"{len(given)} files in {Path(given[0]).parent}: {Path(given[0]).name} ... {Path(given[-1]).name}"
        rows.append(
            f"<tr><td class='file'>{html.escape(i['name'])}</td><td>{html.escape(i['description'])}</td>"
            f"<td class='file'>{html.escape(shown)}</td></tr>"
        )
    return "<h2>Inputs</h2><table><tr><th>input</th><th>what</th><th>value</th></tr>" + "".join(rows) + "</table>"


def write_index(
    outdir: Path, model: dict, checks: list[dict] | None, inputs: list[str] | None = None
) -> tuple[Path, list[str]]:
    """Write OUTDIR/index.html; return its path and the outputs that are missing."""
    missing = [o["file"] for o in model["outputs"] if not (outdir / o["file"]).exists()]
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(model['name'])}</title>"
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(model['name'])}</h1><p>{html.escape(model['description'])}</p>",
        f"<p class='note'>Model <span class='file'>models/{html.escape(model['file'])}</span> (open it in "
        "the Processing modeler to see or change the chain). Maps are GeoTIFFs: open them in QGIS; class maps "
        "load with their legend (the .qml next to them). Tables are CSV, reports self-contained HTML.",
    ]
    if (outdir / LOG_NAME).exists():
        parts.append(f" The run's log: <a href='{LOG_NAME}'>{LOG_NAME}</a>.")
    parts.append("</p>")
    if missing:
        parts.append(f"<p class='missing'>Missing outputs: {html.escape(', '.join(missing))}</p>")
    if inputs:
        parts.append(inputs_html(model, inputs))
    if checks is not None:
        n_pass = sum(c["passed"] for c in checks)
        parts.append(
            f"<h2>Planted signals of the sample data: {n_pass} of {len(checks)} checks pass</h2>"
            "<table class='checks'><tr><th>area</th><th>planted</th><th>checked</th><th>measured</th>"
            "<th>result</th></tr>"
        )
        for c in checks:
            result = "<span class='pass'>PASS</span>" if c["passed"] else "<span class='fail'>FAIL</span>"
            parts.append(
                f"<tr><td>{html.escape(c['area'])}</td><td>{html.escape(c['planted'])}</td>"
                f"<td>{html.escape(c['condition'])}</td><td>{html.escape(c['measured'])}</td>"
                f"<td>{result}</td></tr>"
            )
        parts.append("</table>")
    for stage in model["stages"]:
        parts.append(f"<h2>{html.escape(stage['title'])}</h2><p>{html.escape(stage['description'])}</p>")
        stage_outputs = [o for o in model["outputs"] if o["stage"] == stage["title"]]
        parts.append("<div class='cards'>")
        for o in (o for o in stage_outputs if o["kind"] == "map"):
            parts.append(_output_html(outdir, o))
        parts.append("</div>")
        for o in (o for o in stage_outputs if o["kind"] != "map"):
            parts.append(_output_html(outdir, o))
    parts.append("</body></html>\n")
    index = outdir / "index.html"
    index.write_text("".join(parts), encoding="utf-8")
    return index, missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", type=Path, help="the folder the model wrote its outputs into")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="the model (name in models/models.json)")
    parser.add_argument("--data", type=Path, help="the sample data folder (with signals.json) for the checks")
    parser.add_argument(
        "--arguments", action="store_true", help="print the model's output arguments for qgis_process instead"
    )
    parser.add_argument(
        "--inputs", nargs="*", default=[], metavar="NAME=VALUE", help="the model inputs of the run, for the page"
    )
    args = parser.parse_args(argv)
    model = load_model(args.model)
    outdir = args.outdir.resolve()
    if args.arguments:
        print("\n".join(arguments(model, outdir)))
        return 0
    signals = args.data is not None and (args.data / "signals.json").exists()
    missing = [o["file"] for o in model["outputs"] if not (outdir / o["file"]).exists()]
    checks = planted_checks(outdir, args.data) if signals and not missing else None
    index, missing = write_index(outdir, model, checks, args.inputs)
    print(
        f"   {len(model['outputs']) - len(missing)} of {len(model['outputs'])} outputs written"
        + (f"; MISSING: {', '.join(missing)}" if missing else "")
    )
    failed = [c for c in checks or [] if not c["passed"]]
    if checks is not None:
        print(f"   planted signals: {len(checks) - len(failed)} of {len(checks)} checks pass")
        for c in failed:
            print(f"   FAILED {c['area']}: {c['condition']} -- measured {c['measured']}")
    return 1 if missing or failed else 0


if __name__ == "__main__":
    sys.exit(main())
