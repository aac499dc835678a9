"""Self-contained HTML reports with embedded charts: zone series and trends, class shares, transitions, decay.

A :class:`Report` collects headings, paragraphs, tables and matplotlib figures and writes ONE HTML file: inline
CSS, charts as base64 PNG ``data:`` URIs, no script and no external resource, so it opens anywhere (a browser,
QGIS's help viewer, an e-mail attachment) and can be archived with the outputs it describes.

Charts are drawn with :class:`matplotlib.figure.Figure` on an Agg canvas (:class:`FigureCanvasAgg`), never through
``pyplot``: no global backend switch, no figure registry, nothing that touches the matplotlib state of a running
QGIS session, and safe in worker threads.

Chart builders (each returns a Figure to pass to :meth:`Report.add_figure`):

- :func:`zone_series_figure`: per-zone series (small multiples) with the Sen line and the least-squares line;
- :func:`class_share_figure`: stacked bars of class shares per zone and year;
- :func:`transition_heatmap_figure` and :func:`sankey_figure`: the transition matrix as a heat map, and as
  two columns of stacked class boxes joined by bands proportional to the area that moved;
- :func:`decay_figure`: observed maintained fractions q(t) and the fitted decay curves (resilience).

Report builders (:func:`zonal_report`, :func:`class_area_report`, :func:`transition_report`) assemble the usual
report of each algorithm from its table rows.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import math
import os
import struct
import tempfile
from typing import Any, Mapping, Optional, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.patches import PathPatch, Rectangle
from matplotlib.path import Path
from matplotlib.ticker import MaxNLocator

from . import __version__
from .errors import InputError

#: Resolution of the embedded PNGs (the page shows them at their pixel size, scaled down to fit).
DPI = 100

#: Charts show at most this many zones (the tables keep them all); the report says when zones were left out.
MAX_ZONES = 24

#: Tables show at most this many rows (the full table is the algorithm's OUTPUT_TABLE).
MAX_TABLE_ROWS = 500

_SEN_COLOR = "#d95f02"
_OLS_COLOR = "#1b9e77"
_OBS_COLOR = "#3b4cc0"

_CSS = """
body { font-family: "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; color: #222; background: #fff;
       max-width: 1150px; margin: 24px auto; padding: 0 16px; line-height: 1.45; }
h1 { font-size: 1.6em; border-bottom: 2px solid #1a9850; padding-bottom: 6px; }
h2 { font-size: 1.3em; margin-top: 1.6em; color: #1a5e34; }
h3 { font-size: 1.1em; margin-top: 1.2em; }
p.meta { color: #666; font-size: 0.9em; }
p.note { color: #555; font-style: italic; }
figure { margin: 16px 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { color: #444; font-size: 0.9em; margin-top: 4px; }
div.table { overflow-x: auto; margin: 12px 0; }
table { border-collapse: collapse; font-size: 0.85em; }
caption { text-align: left; font-weight: bold; padding: 4px 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; }
th { background: #eef5ee; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #fafafa; }
"""


# ---------------------------------------------------------------------------------------------- formatting


def format_value(v: Any) -> str:
    """Table cell text: integers as is, floats with 4 significant digits (thousands separated), NaN as a dash."""
    if v is None:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isnan(f):
            return "\u2013"
        if math.isinf(f):
            return "\u221e" if f > 0 else "-\u221e"
        if f == 0.0:
            return "0"
        a = abs(f)
        if a >= 1000.0:
            return f"{f:,.1f}"
        if a >= 0.01:
            return f"{f:.4g}"
        return f"{f:.3g}"
    return str(v)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _png_size(png: bytes) -> tuple[int, int]:
    """(width, height) of a PNG from its IHDR chunk."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG image")
    return struct.unpack(">II", png[16:24])


def figure_png(fig: Figure, dpi: int = DPI) -> bytes:
    """The figure rendered as PNG bytes on an Agg canvas (no pyplot)."""
    FigureCanvasAgg(fig)  # attaches an Agg canvas to the figure (no pyplot, no global backend)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()


# --------------------------------------------------------------------------------------------------- Report


class Report:
    """An HTML report: call ``add_*`` in reading order, then :meth:`write`.

    >>> r = Report("Zonal statistics of NEP")                                    # doctest: +SKIP
    >>> r.add_paragraph("Input: nep.tif, 2001-2020, zones: provinces.gpkg")     # doctest: +SKIP
    >>> r.add_figure(zone_series_figure(years, series, trends, "g C m-2 yr-1"), "Mean NEP per zone")
    >>> r.write("/data/report.html")                                             # doctest: +SKIP
    """

    def __init__(self, title: str):
        self.title = str(title)
        self._parts: list[str] = []
        self.n_figures = 0

    def add_heading(self, text: str, level: int = 2) -> None:
        """A section heading (``level`` 2 or 3; the title is the only level 1)."""
        lvl = min(max(int(level), 2), 6)
        self._parts.append(f"<h{lvl}>{html.escape(str(text))}</h{lvl}>")

    def add_paragraph(self, text: str, css_class: Optional[str] = None) -> None:
        """A paragraph of plain text (escaped; blank lines are not interpreted)."""
        cls = f' class="{html.escape(css_class)}"' if css_class else ""
        self._parts.append(f"<p{cls}>{html.escape(str(text))}</p>")

    def add_note(self, text: str) -> None:
        """A paragraph in the note style (e.g. 'first 24 of 130 zones shown')."""
        self.add_paragraph(text, "note")

    def add_table(
        self,
        rows: Sequence[Mapping[str, Any]],
        columns: Optional[Sequence[str]] = None,
        caption: Optional[str] = None,
        max_rows: int = MAX_TABLE_ROWS,
    ) -> None:
        """A table of ``rows`` (dicts) with ``columns`` (default: the keys of the first row) in that order.

        Numbers are right-aligned and formatted with :func:`format_value`; beyond ``max_rows`` rows a note says
        how many were left out.
        """
        cols = list(columns) if columns is not None else (list(rows[0]) if rows else [])
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
        body = []
        for row in list(rows)[: max(int(max_rows), 0)]:
            cells = []
            for c in cols:
                v = row.get(c)
                cls = ' class="num"' if _is_number(v) else ""
                cells.append(f"<td{cls}>{html.escape(format_value(v))}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        self._parts.append(
            f'<div class="table"><table>{cap}<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'
        )
        if len(rows) > max_rows:
            self.add_note(f"First {max_rows} of {len(rows)} rows shown; the output table has them all.")

    def add_figure(self, fig: Figure, caption: Optional[str] = None, dpi: int = DPI) -> None:
        """A matplotlib figure embedded as a base64 PNG (``data:`` URI), with an optional caption."""
        png = figure_png(fig, dpi)
        width, height = _png_size(png)
        data = base64.b64encode(png).decode("ascii")
        alt = html.escape(caption or f"Figure {self.n_figures + 1}", quote=True)
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        self._parts.append(
            f'<figure><img class="chart" width="{width}" height="{height}" alt="{alt}" '
            f'src="data:image/png;base64,{data}"/>{cap}</figure>'
        )
        self.n_figures += 1

    def to_html(self) -> str:
        """The whole document as a string."""
        stamp = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
        title = html.escape(self.title)
        return (
            "<!DOCTYPE html>\n"
            '<html lang="en">\n<head>\n<meta charset="utf-8"/>\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1"/>\n'
            f"<title>{title}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            f"<h1>{title}</h1>\n"
            f'<p class="meta">Carbon Sink Toolbox {html.escape(__version__)}, {stamp}</p>\n'
            + "\n".join(self._parts)
            + "\n</body>\n</html>\n"
        )

    def write(self, path: str) -> str:
        """Write the report to ``path`` atomically (a temporary file in the same folder, then ``os.replace``)."""
        path = os.fspath(path)
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise InputError(f"the folder of the report {path} does not exist: choose an existing folder")
        text = self.to_html()
        fd, temp = tempfile.mkstemp(prefix=".report-", suffix=".part", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(temp, path)
        except BaseException:
            if os.path.exists(temp):
                os.remove(temp)
            raise
        return path


# ----------------------------------------------------------------------------------------------------- charts


def _grid(n: int, ncols: int) -> tuple[int, int]:
    ncols = max(1, min(ncols, n))
    return int(math.ceil(n / ncols)), ncols


def _class_colors(codes: Sequence[int], colors: Optional[Mapping[int, str]] = None) -> dict[int, str]:
    """A color per class code: the given ones, else the 'tab10' ('tab20' above 10 classes) palette in code order."""
    import matplotlib

    n = 10 if len(codes) <= 10 else 20
    cmap = matplotlib.colormaps[f"tab{n}"]
    out = {}
    for i, c in enumerate(codes):
        given = colors.get(int(c)) if colors else None
        out[int(c)] = given if given else to_hex(cmap(i % n))
    return out


def zone_series_figure(
    years: Sequence[int],
    series_by_zone: Mapping[str, Sequence[float]],
    trends_by_zone: Optional[Mapping[str, Mapping[str, float]]] = None,
    units: str = "",
    ncols: int = 3,
    max_zones: int = MAX_ZONES,
) -> Figure:
    """Small multiples: each zone's series (observed), its Sen line and its least-squares line.

    Parameters
    ----------
    years : the years (x axis).
    series_by_zone : ``{zone: (Y,) values}`` (e.g. the area-weighted means of :func:`core.zones.zone_series`).
    trends_by_zone : ``{zone: row}`` with ``sen_slope`` and ``sen_intercept`` (or ``intercept``), ``ols_slope`` and
        ``ols_intercept`` (intercepts = the lines' values at ``years[0]``, as :func:`core.zones.zone_trends` and
        :func:`core.trend.series_trends` give them); the legend shows the slopes per year and the p values.
    units : units of the values (y axis label).
    max_zones : the first ``max_zones`` zones are drawn.
    """
    t = np.asarray([float(y) for y in years])
    zones = list(series_by_zone)[: max(int(max_zones), 1)]
    if not zones:
        raise InputError("no zone series to draw")
    nrows, nc = _grid(len(zones), ncols)
    fig = Figure(figsize=(3.8 * nc, 2.7 * nrows + 0.4), layout="constrained")
    axes = fig.subplots(nrows, nc, squeeze=False)
    for ax in axes.ravel()[len(zones) :]:
        ax.set_visible(False)
    for ax, zone in zip(axes.ravel(), zones):
        y = np.asarray(series_by_zone[zone], dtype=np.float64)
        ax.plot(t, y, "o-", color=_OBS_COLOR, lw=1.2, ms=3.5, label="observed")
        tr = (trends_by_zone or {}).get(zone)
        if tr is not None and t.size:
            sen_b = tr.get("sen_intercept", tr.get("intercept"))
            sen_m = tr.get("sen_slope")
            if sen_m is not None and sen_b is not None and np.isfinite(sen_m) and np.isfinite(sen_b):
                lab = f"Sen {format_value(float(sen_m))}/yr"
                if tr.get("mk_p") is not None and np.isfinite(tr["mk_p"]):
                    lab += f" (MK p={format_value(float(tr['mk_p']))})"
                ax.plot(t, sen_b + sen_m * (t - t[0]), "-", color=_SEN_COLOR, lw=2.0, label=lab)
            ols_b, ols_m = tr.get("ols_intercept"), tr.get("ols_slope")
            if ols_m is not None and ols_b is not None and np.isfinite(ols_m) and np.isfinite(ols_b):
                lab = f"OLS {format_value(float(ols_m))}/yr"
                if tr.get("ols_p") is not None and np.isfinite(tr["ols_p"]):
                    lab += f" (p={format_value(float(tr['ols_p']))})"
                ax.plot(t, ols_b + ols_m * (t - t[0]), "--", color=_OLS_COLOR, lw=1.8, label=lab)
        ax.set_title(str(zone), fontsize=10)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, color="#e5e5e5", lw=0.6)
        ax.tick_params(labelsize=8)
        if units:
            ax.set_ylabel(units, fontsize=8)
        ax.legend(fontsize=7, loc="best", frameon=False)
    if len(series_by_zone) > len(zones):
        fig.suptitle(f"first {len(zones)} of {len(series_by_zone)} zones", fontsize=9)
    return fig


def class_share_figure(
    rows: Sequence[Mapping[str, Any]],
    colors: Optional[Mapping[int, str]] = None,
    ncols: int = 2,
    max_zones: int = MAX_ZONES,
) -> Figure:
    """Stacked bars of class shares (%) per year, one panel per zone, from ``class_area`` table rows.

    ``rows`` have ``zone, year, class, label, share_pct`` (:func:`core.zones.class_area_table`); ``colors`` maps
    class codes to colors (e.g. :func:`core.zones.class_colors_from_raster`), else a qualitative palette.
    """
    zones: list[str] = []
    years: list[int] = []
    labels: dict[int, str] = {}
    share: dict[tuple[str, int, int], float] = {}
    for r in rows:
        z, y, c = str(r["zone"]), int(r["year"]), int(r["class"])
        if z not in zones:
            zones.append(z)
        if y not in years:
            years.append(y)
        labels.setdefault(c, str(r.get("label", c)))
        v = r.get("share_pct")
        share[(z, y, c)] = float(v) if v is not None and np.isfinite(v) else 0.0
    if not zones:
        raise InputError("no class-area rows to draw")
    codes = sorted(labels)
    col = _class_colors(codes, colors)
    shown = zones[: max(int(max_zones), 1)]
    nrows, nc = _grid(len(shown), ncols)
    fig = Figure(figsize=(5.2 * nc + 2.6, 2.8 * nrows + 0.4), layout="constrained")
    grid = fig.subplots(nrows, nc + 1, squeeze=False, gridspec_kw={"width_ratios": [5.2] * nc + [2.4]})
    legend_ax = grid[0, nc]
    for ax in grid[:, nc]:
        ax.axis("off")
    axes = grid[:, :nc]
    for ax in axes.ravel()[len(shown) :]:
        ax.set_visible(False)
    x = np.arange(len(years))
    for ax, zone in zip(axes.ravel(), shown):
        bottom = np.zeros(len(years))
        for c in codes:
            h = np.array([share.get((zone, y, c), 0.0) for y in years])
            ax.bar(x, h, bottom=bottom, color=col[c], edgecolor="white", linewidth=0.4, width=0.8, label=labels[c])
            bottom += h
        ax.set_title(zone, fontsize=10)
        ax.set_ylim(0, 100)
        ax.set_ylabel("share of classified area (%)", fontsize=8)
        ax.set_xticks(x)
        ax.set_xticklabels([str(y) for y in years], rotation=90 if len(years) > 8 else 0, fontsize=7)
        ax.tick_params(axis="y", labelsize=8)
    handles, leg_labels = axes.ravel()[0].get_legend_handles_labels()
    legend_ax.legend(handles[::-1], leg_labels[::-1], loc="upper left", fontsize=8, frameon=False, title="class")
    if len(zones) > len(shown):
        fig.suptitle(f"first {len(shown)} of {len(zones)} zones", fontsize=9)
    return fig


def _transition_arrays(
    transition_rows: Sequence[Mapping[str, Any]],
) -> tuple[list[int], list[int], np.ndarray, dict[int, str], dict[int, str]]:
    fc: list[int] = []
    tc: list[int] = []
    lf: dict[int, str] = {}
    lt: dict[int, str] = {}
    for r in transition_rows:
        f, t = int(r["from_class"]), int(r["to_class"])
        if f not in fc:
            fc.append(f)
        if t not in tc:
            tc.append(t)
        lf.setdefault(f, str(r.get("from_label", f)))
        lt.setdefault(t, str(r.get("to_label", t)))
    fc.sort()
    tc.sort()
    m = np.zeros((len(fc), len(tc)))
    fi = {c: i for i, c in enumerate(fc)}
    ti = {c: i for i, c in enumerate(tc)}
    for r in transition_rows:
        v = float(r["area_km2"])
        m[fi[int(r["from_class"])], ti[int(r["to_class"])]] += v if np.isfinite(v) else 0.0
    return fc, tc, m, lf, lt


def transition_matrix_table(transition_rows: Sequence[Mapping[str, Any]]) -> tuple[list[dict], list[str]]:
    """The transition rows as a matrix for :meth:`Report.add_table`: (rows, columns).

    One row per from-class, one column per to-class (area km2), a ``total`` column and a ``total`` row; the first
    column names the from-class (``from \\ to``).
    """
    fc, tc, m, lf, lt = _transition_arrays(transition_rows)
    first = "from \\ to (km2)"
    to_names = [f"{c} {lt[c]}" if lt[c] != str(c) else str(c) for c in tc]
    columns = [first] + to_names + ["total"]
    rows = []
    for i, c in enumerate(fc):
        row: dict[str, Any] = {first: f"{c} {lf[c]}" if lf[c] != str(c) else str(c)}
        for j, name in enumerate(to_names):
            row[name] = float(m[i, j])
        row["total"] = float(m[i].sum())
        rows.append(row)
    total: dict[str, Any] = {first: "total"}
    for j, name in enumerate(to_names):
        total[name] = float(m[:, j].sum())
    total["total"] = float(m.sum())
    rows.append(total)
    return rows, columns


def transition_heatmap_figure(transition_rows: Sequence[Mapping[str, Any]], units: str = "km2") -> Figure:
    """The transition matrix as a heat map (rows: from-classes, columns: to-classes), areas written in the cells."""
    fc, tc, m, lf, lt = _transition_arrays(transition_rows)
    if not fc or not tc:
        raise InputError("no transitions to draw")
    fig = Figure(figsize=(1.0 * len(tc) + 3.5, 0.6 * len(fc) + 2.2), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(m, cmap="YlGn", aspect="auto")
    ax.set_xticks(np.arange(len(tc)))
    ax.set_xticklabels([lt[c] for c in tc], rotation=30, ha="right", fontsize=8)
    ax.set_yticks(np.arange(len(fc)))
    ax.set_yticklabels([lf[c] for c in fc], fontsize=8)
    ax.set_xlabel("to class")
    ax.set_ylabel("from class")
    lo, hi = (float(m.min()), float(m.max())) if m.size else (0.0, 0.0)
    for i in range(len(fc)):
        for j in range(len(tc)):
            dark = hi > lo and (m[i, j] - lo) / (hi - lo) > 0.6
            ax.text(
                j, i, format_value(float(m[i, j])), ha="center", va="center", fontsize=7,
                color="white" if dark else "black",
            )  # fmt: skip
    fig.colorbar(im, ax=ax, label=units)
    return fig


def _band(x0: float, x1: float, y0_top: float, y0_bot: float, y1_top: float, y1_bot: float) -> Path:
    """A filled band between two vertical segments, its edges cubic Bezier curves (horizontal tangents)."""
    xm = (x0 + x1) / 2.0
    verts = [
        (x0, y0_top),
        (xm, y0_top),
        (xm, y1_top),
        (x1, y1_top),
        (x1, y1_bot),
        (xm, y1_bot),
        (xm, y0_bot),
        (x0, y0_bot),
        (x0, y0_top),
    ]
    codes = [Path.MOVETO, Path.CURVE4, Path.CURVE4, Path.CURVE4, Path.LINETO]
    codes += [Path.CURVE4, Path.CURVE4, Path.CURVE4, Path.CLOSEPOLY]
    return Path(verts, codes)


def sankey_figure(
    transition_rows: Sequence[Mapping[str, Any]],
    labels: Optional[Mapping[int, str]] = None,
    colors: Optional[Mapping[int, str]] = None,
    from_title: str = "from",
    to_title: str = "to",
    units: str = "km2",
) -> Figure:
    """Sankey-style flow chart of a transition matrix.

    Two columns of stacked class boxes (left: the from-classes, right: the to-classes), each box as tall as the
    class's area; every transition is a filled band whose width at both ends is its area, drawn with cubic Bezier
    edges and colored like its from-class. Classes without area are left out. ``labels`` overrides the labels of
    the rows; ``colors`` maps codes to colors (both columns share them, so a kept class has the same color).
    """
    fc, tc, m, lf, lt = _transition_arrays(transition_rows)
    if labels:
        lf = {c: str(labels.get(c, lf[c])) for c in fc}
        lt = {c: str(labels.get(c, lt[c])) for c in tc}
    total = float(m.sum())
    if not (total > 0.0):
        raise InputError("the transition matrix has no area: nothing to draw")
    out_area = m.sum(axis=1)
    in_area = m.sum(axis=0)
    left = [i for i in range(len(fc)) if out_area[i] > 0]
    right = [j for j in range(len(tc)) if in_area[j] > 0]
    col = _class_colors(sorted(set(fc) | set(tc)), colors)
    gap = 0.02 * total
    height = total + gap * (max(len(left), len(right)) - 1)

    def stack(indices: list[int], sizes: np.ndarray, n_boxes: int) -> dict[int, float]:
        # boxes from the top; the shorter column is centred vertically
        pad = (height - (sizes[indices].sum() + gap * (n_boxes - 1))) / 2.0
        tops, y = {}, height - pad
        for k in indices:
            tops[k] = y
            y -= sizes[k] + gap
        return tops

    ltop = stack(left, out_area, len(left))
    rtop = stack(right, in_area, len(right))
    fig = Figure(figsize=(9.0, max(4.0, 0.55 * max(len(left), len(right)) + 2.5)), layout="constrained")
    ax = fig.subplots()
    x0, x1, bw = 0.0, 1.0, 0.06
    lcursor = dict(ltop)
    rcursor = dict(rtop)
    for i in left:  # flows in from-class order, then to-class order, so bands never cross inside a box
        for j in right:
            a = m[i, j]
            if a <= 0:
                continue
            path = _band(x0 + bw, x1 - bw, lcursor[i], lcursor[i] - a, rcursor[j], rcursor[j] - a)
            ax.add_patch(PathPatch(path, facecolor=col[fc[i]], edgecolor="none", alpha=0.55))
            lcursor[i] -= a
            rcursor[j] -= a
    for i in left:
        ax.add_patch(
            Rectangle((x0, ltop[i] - out_area[i]), bw, out_area[i], facecolor=col[fc[i]], edgecolor="k", lw=0.5)
        )
        ax.text(
            x0 - 0.01, ltop[i] - out_area[i] / 2, f"{lf[fc[i]]}\n{format_value(float(out_area[i]))} {units}",
            ha="right", va="center", fontsize=8,
        )  # fmt: skip
    for j in right:
        ax.add_patch(
            Rectangle((x1 - bw, rtop[j] - in_area[j]), bw, in_area[j], facecolor=col[tc[j]], edgecolor="k", lw=0.5)
        )
        ax.text(
            x1 + 0.01, rtop[j] - in_area[j] / 2, f"{lt[tc[j]]}\n{format_value(float(in_area[j]))} {units}",
            ha="left", va="center", fontsize=8,
        )  # fmt: skip
    ax.text(x0 + bw / 2, height * 1.02, from_title, ha="center", va="bottom", fontsize=10, fontweight="bold")
    ax.text(x1 - bw / 2, height * 1.02, to_title, ha="center", va="bottom", fontsize=10, fontweight="bold")
    ax.set_xlim(-0.45, 1.45)
    ax.set_ylim(-0.02 * height, height * 1.08)
    ax.axis("off")
    return fig


def decay_figure(
    years: Sequence[float],
    observed: Mapping[str, Sequence[float]],
    fitted: Optional[Mapping[str, Sequence[float]]] = None,
    title: str = "",
    ylabel: str = "q(t) = N(t) / N(t')",
) -> Figure:
    """Observed maintained fractions and fitted decay curves (resilience, seed 001 eq. 10-11).

    ``observed`` maps a series name (e.g. ``"positive trend"``) to its q per year (NaN where undefined);
    ``fitted`` maps the same names to the fitted ``lambda exp(-(t - t')/tau)`` at the same years (drawn as lines).
    """
    t = np.asarray([float(y) for y in years])
    if not observed:
        raise InputError("no series to draw")
    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.subplots()
    palette = ["#1a9850", "#d73027", "#4575b4", "#fdae61", "#762a83"]
    for k, (name, q) in enumerate(observed.items()):
        c = palette[k % len(palette)]
        ax.plot(t, np.asarray(q, dtype=np.float64), "o", color=c, ms=5, label=f"{name} (observed)")
        if fitted and name in fitted:
            ax.plot(t, np.asarray(fitted[name], dtype=np.float64), "-", color=c, lw=2, label=f"{name} (fit)")
    ax.set_xlabel("year")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    ax.grid(True, color="#e5e5e5", lw=0.6)
    ax.legend(fontsize=8, frameon=False)
    if title:
        ax.set_title(title, fontsize=11)
    return fig


# ---------------------------------------------------------------------------------------------- report builders


def zonal_report(
    path: str,
    years: Sequence[int],
    table_rows: Sequence[Mapping[str, Any]],
    trend_rows: Sequence[Mapping[str, Any]],
    units: str = "",
    title: str = "Zonal statistics",
    description: Sequence[str] = (),
) -> str:
    """Write the ``zonal_statistics`` report: per-zone series with Sen and least-squares lines, trend table, table.

    ``table_rows`` / ``trend_rows`` are the rows of :func:`core.zones.zonal_table` / :func:`core.zones.zone_trends`;
    ``description`` paragraphs (inputs, method, zone rule) come first.
    """
    from .zones import TREND_COLUMNS, ZONAL_COLUMNS, zone_series

    rep = Report(title)
    for text in description:
        rep.add_paragraph(text)
    series = zone_series(table_rows, years, "mean")
    trends = {str(r["zone"]): r for r in trend_rows}
    if series:
        rep.add_heading("Area-weighted mean per zone and year")
        if len(series) > MAX_ZONES:
            rep.add_note(f"The chart shows the first {MAX_ZONES} of {len(series)} zones; the tables have them all.")
        rep.add_figure(
            zone_series_figure(years, series, trends, units),
            "Observed area-weighted mean (points), Theil-Sen line (solid) and least-squares line (dashed).",
        )
    rep.add_heading("Trends of the zone means")
    rep.add_table(trend_rows, list(TREND_COLUMNS) + ["n_years"] if trend_rows and "n_years" in trend_rows[0] else None)
    rep.add_heading("Statistics per zone and year")
    rep.add_table(table_rows, list(ZONAL_COLUMNS))
    return rep.write(path)


def class_area_report(
    path: str,
    rows: Sequence[Mapping[str, Any]],
    colors: Optional[Mapping[int, str]] = None,
    title: str = "Class areas",
    description: Sequence[str] = (),
) -> str:
    """Write a class-area report: stacked class-share bars per zone and year, and the table."""
    from .zones import CLASS_AREA_COLUMNS

    rep = Report(title)
    for text in description:
        rep.add_paragraph(text)
    if rows:
        rep.add_heading("Class shares")
        rep.add_figure(class_share_figure(rows, colors), "Share of each class in the classified area (%).")
    rep.add_heading("Class areas")
    rep.add_table(rows, list(CLASS_AREA_COLUMNS))
    return rep.write(path)


def transition_report(
    path: str,
    rows: Sequence[Mapping[str, Any]],
    colors: Optional[Mapping[int, str]] = None,
    title: str = "Land-cover transitions",
    from_title: str = "from",
    to_title: str = "to",
    description: Sequence[str] = (),
) -> str:
    """Write the ``transition_matrix`` report: the matrix (table and heat map) and the Sankey-style chart."""
    rep = Report(title)
    for text in description:
        rep.add_paragraph(text)
    rep.add_heading("Transition matrix (km2)")
    matrix_rows, columns = transition_matrix_table(rows)
    rep.add_table(matrix_rows, columns)
    total = sum(float(r["area_km2"]) for r in rows if np.isfinite(float(r["area_km2"])))
    if total > 0:
        rep.add_figure(transition_heatmap_figure(rows), "Area (km2) moving from each class (rows) to each class.")
        rep.add_heading("Flows")
        rep.add_figure(
            sankey_figure(rows, colors=colors, from_title=from_title, to_title=to_title),
            "Each band is the area that moved from a class (left) to a class (right); box heights are class areas.",
        )
    else:
        rep.add_note("No pixel is classified in both rasters: there is no transition to draw.")
    return rep.write(path)
