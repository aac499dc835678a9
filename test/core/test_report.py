"""Tests of core.report: self-contained HTML, chart contents, atomic writes, and rendering in headless Chromium.

The Chromium tests open every report type in Debian's ``chromium`` (installed by scripts/setup.sh), find where
the browser laid out each chart (a measuring copy of the page reports the image rectangles), take a screenshot of
the real file and check that every chart area holds a rendered chart: many distinct colors, ink, and the same
picture as the embedded PNG.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread
from matplotlib.lines import Line2D
from matplotlib.patches import PathPatch, Rectangle
from scipy import ndimage

from core import report as rp
from core import zones as zn
from core.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
YEARS = list(range(2001, 2016))


# --------------------------------------------------------------------------------------------- sample data


def zonal_rows():
    rng = np.random.default_rng(42)
    t = np.arange(len(YEARS))[:, None, None]
    values = 150.0 + rng.normal(0.0, 20.0, (len(YEARS), 30, 40)) + 6.0 * t
    values[:, :, 20:] -= 12.0 * t  # the right half decreases
    values[rng.random(values.shape) < 0.05] = np.nan
    zones = np.zeros((30, 40), int)
    zones[:, 20:] = 1
    zones[20:, :] = 2
    area = np.linspace(2e5, 3e5, 30)[:, None]
    rows = zn.zonal_table(
        zn.zonal_partials(values, zones, 3, area, include_all=True), YEARS, ["north-west", "north-east", "south"], True
    )
    return rows, zn.zone_trends(rows, YEARS)


def class_rows():
    rng = np.random.default_rng(1)
    classes = rng.choice([1, 2, 3, 4], size=(4, 20, 30), p=[0.4, 0.3, 0.2, 0.1])
    zones = np.zeros((20, 30), int)
    zones[10:] = 1
    parts = zn.class_area_partials(classes, zones, 2, 1e6)
    labels = {1: "Carbon source", 2: "Low sink", 3: "Medium sink", 4: "High sink"}
    return zn.class_area_table(parts, [2001, 2005, 2010, 2015], ["east", "west"], labels)


def transition_rows():
    rng = np.random.default_rng(2)
    a = rng.choice([1, 2, 3, 4], size=(40, 40), p=[0.4, 0.3, 0.2, 0.1])
    b = np.where(rng.random(a.shape) < 0.7, a, rng.choice([1, 2, 3, 4, 5], size=a.shape))
    labels = {1: "forest", 2: "grassland", 3: "cropland", 4: "wetland", 5: "built-up"}
    return zn.transition_table(zn.transition_partials(a, b, 2.5e5), labels, labels)


def decay_report(path):
    t = np.arange(2000, 2016, dtype=float)
    q_pos = np.exp(-(t - 2000) / 6.0) + np.random.default_rng(0).normal(0, 0.02, t.size)
    q_neg = np.exp(-(t - 2000) / 2.5)
    rep = rp.Report("Carbon sink resilience")
    rep.add_paragraph("q(t) = N(t) / N(t') with t' = 2000; fit q = lambda exp(-(t - t')/tau).")
    fig = rp.decay_figure(
        t,
        {"positive trend": q_pos, "negative trend": q_neg},
        {"positive trend": np.exp(-(t - 2000) / 6.0), "negative trend": q_neg},
        title="Probability attenuation",
    )
    rep.add_figure(fig, "Observed q (points) and fitted decay (lines).")
    return rep.write(str(path))


def build_reports(tmp_path):
    rows, trends = zonal_rows()
    return {
        "zonal": rp.zonal_report(str(tmp_path / "zonal.html"), YEARS, rows, trends, "g C m-2 yr-1"),
        "class_area": rp.class_area_report(str(tmp_path / "classes.html"), class_rows()),
        "transition": rp.transition_report(str(tmp_path / "transitions.html"), transition_rows(), title="Land cover"),
        "decay": decay_report(tmp_path / "decay.html"),
    }


# ------------------------------------------------------------------------------------------------ helpers


class _Refs(HTMLParser):
    """Every tag and every attribute that can load something."""

    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.refs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "srcset", "data", "poster", "action", "background") and value is not None:
                self.refs.append((tag, name, value))


def embedded_pngs(text: str) -> list[np.ndarray]:
    return [imread(io.BytesIO(base64.b64decode(m))) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', text)]


def assert_self_contained(text: str) -> None:
    parser = _Refs()
    parser.feed(text)
    assert not {"script", "link", "iframe", "object", "embed", "base"} & set(parser.tags)
    assert parser.refs, "the report embeds no chart"
    for tag, name, value in parser.refs:
        assert tag == "img" and name == "src" and value.startswith("data:image/png;base64,"), (tag, name, value[:80])
    css = " ".join(re.findall(r"<style>(.*?)</style>", text, flags=re.S))
    assert "url(" not in css and "@import" not in css
    assert not re.search(r"(https?:|file:|ftp:)//", re.sub(r"<!DOCTYPE[^>]*>", "", text))


def distinct_colors(rgb: np.ndarray) -> int:
    q = np.round(rgb[..., :3] * 255).astype(np.int64)
    return int(np.unique(q[..., 0] * 65536 + q[..., 1] * 256 + q[..., 2]).size)


# --------------------------------------------------------------------------------------------- the documents


def test_every_report_is_one_self_contained_file_with_nonempty_charts(tmp_path):
    paths = build_reports(tmp_path)
    expected_figures = {"zonal": 1, "class_area": 1, "transition": 2, "decay": 1}
    for kind, path in paths.items():
        text = Path(path).read_text(encoding="utf-8")
        assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
        assert_self_contained(text)
        pngs = embedded_pngs(text)
        assert len(pngs) == expected_figures[kind], kind
        for img in pngs:
            assert img.shape[0] > 200 and img.shape[1] > 300
            assert distinct_colors(img) > 50, kind
            assert img[..., :3].std() > 0.05, kind
    assert sorted(os.listdir(tmp_path)) == ["classes.html", "decay.html", "transitions.html", "zonal.html"]


def test_report_tables_hold_the_rows_and_escape_text(tmp_path):
    rep = rp.Report("A <b>title</b> & more")
    rep.add_heading("Zones <script>")
    rep.add_paragraph("x < y & z")
    rows = [{"zone": "<script>alert(1)</script>", "mean": 12.345678, "n": 3, "p": float("nan")}]
    rep.add_table(rows, ["zone", "mean", "n", "p"], caption="cap")
    text = Path(rep.write(str(tmp_path / "r.html"))).read_text(encoding="utf-8")
    assert "<script" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<title>A &lt;b&gt;title&lt;/b&gt; &amp; more</title>" in text
    assert '<td class="num">12.35</td>' in text and '<td class="num">3</td>' in text
    assert '<td class="num">\u2013</td>' in text  # NaN shown as a dash
    many = [{"i": i} for i in range(30)]
    rep2 = rp.Report("t")
    rep2.add_table(many, max_rows=10)
    html_text = rep2.to_html()
    assert html_text.count("<tr>") == 11 and "First 10 of 30 rows shown" in html_text


def test_format_value():
    cases = {
        510_065_621.7: "510,065,621.7",
        3077.23: "3,077.2",
        12.345678: "12.35",
        0.04213: "0.04213",
        0.000123456: "0.000123",
        8.68e-10: "8.68e-10",
        0.0: "0",
        -2.5: "-2.5",
    }
    for v, text in cases.items():
        assert rp.format_value(v) == text
    assert rp.format_value(7) == "7" and rp.format_value(np.int64(7)) == "7"
    assert rp.format_value(float("nan")) == "\u2013" and rp.format_value(None) == ""
    assert rp.format_value(float("inf")) == "\u221e" and rp.format_value("forest") == "forest"


def test_write_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "report.html"
    target.write_text("old", encoding="utf-8")
    rep = rp.Report("new")
    rep.add_paragraph("hello")
    assert rep.write(str(target)) == str(target)
    assert "hello" in target.read_text(encoding="utf-8")
    assert os.listdir(tmp_path) == ["report.html"]  # no temporary file left

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(rp.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        rp.Report("newer").write(str(target))
    assert "hello" in target.read_text(encoding="utf-8")  # the old report is intact
    assert os.listdir(tmp_path) == ["report.html"]
    monkeypatch.undo()
    with pytest.raises(InputError, match="does not exist"):
        rep.write(str(tmp_path / "missing" / "r.html"))


def test_core_report_never_imports_pyplot():
    code = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "import numpy as np\n"
        "from core import report as rp\n"
        "r = rp.Report('t'); r.add_figure(rp.decay_figure([1, 2, 3], {'a': [1, 0.5, 0.25]}))\n"
        "r.to_html()\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code, str(ROOT)], check=True, timeout=120)


# ---------------------------------------------------------------------------------------------- the charts


def test_zone_series_figure_draws_the_sen_and_least_squares_lines():
    rows, trends = zonal_rows()
    series = zn.zone_series(rows, YEARS)
    by_zone = {t["zone"]: t for t in trends}
    fig = rp.zone_series_figure(YEARS, series, by_zone, "g C m-2 yr-1")
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["north-west", "north-east", "south", "all"]
    t = np.array(YEARS, dtype=float)
    for ax in axes:
        lines = [ln for ln in ax.get_lines() if isinstance(ln, Line2D)]
        assert len(lines) == 3
        obs, sen, ols = lines
        tr = by_zone[ax.get_title()]
        np.testing.assert_allclose(obs.get_ydata(), series[ax.get_title()])
        np.testing.assert_allclose(sen.get_ydata(), tr["sen_intercept"] + tr["sen_slope"] * (t - t[0]), rtol=1e-12)
        np.testing.assert_allclose(ols.get_ydata(), tr["ols_intercept"] + tr["ols_slope"] * (t - t[0]), rtol=1e-12)
        # the least-squares line passes through the centroid of the observed points
        ok = np.isfinite(series[ax.get_title()])
        assert np.mean(ols.get_ydata()[ok]) == pytest.approx(np.mean(series[ax.get_title()][ok]), rel=1e-9)
    # the north-west zone increases, the north-east one decreases (planted in zonal_rows)
    assert by_zone["north-west"]["sen_slope"] > 3 and by_zone["north-east"]["sen_slope"] < -3
    many = {f"z{i}": np.arange(3.0) for i in range(30)}
    fig = rp.zone_series_figure([1, 2, 3], many, None, max_zones=6)
    assert sum(ax.get_visible() for ax in fig.axes) == 6 and "first 6 of 30 zones" in fig._suptitle.get_text()


def test_class_share_bars_stack_to_100_per_zone_and_year():
    rows = class_rows()
    fig = rp.class_share_figure(rows, colors={1: "#d7191c"})
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["east", "west"]
    for ax in panels:
        bars = [p for p in ax.patches if isinstance(p, Rectangle)]
        assert len(bars) == 4 * 4  # 4 classes x 4 years
        tops = {}
        for b in bars:
            x = round(b.get_x() + b.get_width() / 2, 6)
            tops[x] = max(tops.get(x, 0.0), b.get_y() + b.get_height())
        assert len(tops) == 4 and all(v == pytest.approx(100.0) for v in tops.values())
        assert any(np.allclose(b.get_facecolor()[:3], (0xD7 / 255, 0x19 / 255, 0x1C / 255)) for b in bars)


def test_sankey_bands_are_proportional_to_the_transition_areas():
    rows = transition_rows()
    fig = rp.sankey_figure(rows)
    ax = fig.axes[0]
    bands = [p for p in ax.patches if isinstance(p, PathPatch)]
    boxes = [p for p in ax.patches if isinstance(p, Rectangle)]
    areas = sorted(r["area_km2"] for r in rows if r["area_km2"] > 0)
    left_ends, right_ends = [], []
    for band in bands:
        v = band.get_path().vertices
        left_ends.append(v[0, 1] - v[7, 1])  # the band's height where it leaves its from-box
        right_ends.append(v[3, 1] - v[4, 1])  # ... and where it enters its to-box
    np.testing.assert_allclose(sorted(left_ends), areas, rtol=1e-12)
    np.testing.assert_allclose(sorted(right_ends), areas, rtol=1e-12)
    fc, tc, m, _, _ = rp._transition_arrays(rows)
    heights = sorted(b.get_height() for b in boxes)
    expected = sorted([*m.sum(axis=1)[m.sum(axis=1) > 0], *m.sum(axis=0)[m.sum(axis=0) > 0]])
    np.testing.assert_allclose(heights, expected, rtol=1e-12)
    # every band starts inside a left box and ends inside a right box
    left = [(b.get_y(), b.get_y() + b.get_height()) for b in boxes if b.get_x() < 0.5]
    right = [(b.get_y(), b.get_y() + b.get_height()) for b in boxes if b.get_x() > 0.5]
    eps = 1e-9 * sum(areas)
    for band in bands:
        v = band.get_path().vertices
        assert any(lo - eps <= v[7, 1] and v[0, 1] <= hi + eps for lo, hi in left)
        assert any(lo - eps <= v[4, 1] and v[3, 1] <= hi + eps for lo, hi in right)
    with pytest.raises(InputError, match="no area"):
        rp.sankey_figure([{"from_class": 1, "to_class": 1, "area_km2": 0.0}])


def test_transition_matrix_table_rows_and_totals():
    rows = [
        {"from_class": 1, "to_class": 1, "area_km2": 5.0, "from_label": "forest", "to_label": "forest"},
        {"from_class": 1, "to_class": 2, "area_km2": 2.0, "from_label": "forest", "to_label": "crop"},
        {"from_class": 2, "to_class": 1, "area_km2": 1.0, "from_label": "crop", "to_label": "forest"},
        {"from_class": 2, "to_class": 2, "area_km2": 4.0, "from_label": "crop", "to_label": "crop"},
    ]
    table, columns = rp.transition_matrix_table(rows)
    assert columns == ["from \\ to (km2)", "1 forest", "2 crop", "total"]
    assert table[0] == {"from \\ to (km2)": "1 forest", "1 forest": 5.0, "2 crop": 2.0, "total": 7.0}
    assert table[1] == {"from \\ to (km2)": "2 crop", "1 forest": 1.0, "2 crop": 4.0, "total": 5.0}
    assert table[2] == {"from \\ to (km2)": "total", "1 forest": 6.0, "2 crop": 6.0, "total": 12.0}


def test_transition_report_without_any_transition(tmp_path):
    rows = zn.transition_table(zn.transition_partials(np.full((2, 2), np.nan), np.ones((2, 2)), 1.0))
    path = rp.transition_report(str(tmp_path / "t.html"), rows)
    text = Path(path).read_text(encoding="utf-8")
    assert "no transition to draw" in text and not embedded_pngs(text)


# ----------------------------------------------------------------------------------------- headless Chromium

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium package is not installed (scripts/setup.sh installs it): cannot render the reports",
)

_MEASURE = (
    "<script>window.addEventListener('load', function () {"
    "var r = Array.prototype.map.call(document.querySelectorAll('img.chart'), function (e) {"
    "var b = e.getBoundingClientRect(); return [b.left, b.top, b.width, b.height, e.complete && e.naturalWidth];});"
    "var p = document.createElement('pre'); p.id = 'measure';"
    "p.textContent = JSON.stringify({rects: r, height: document.documentElement.scrollHeight});"
    "document.body.appendChild(p);});</script>"
)


def _chromium(args, profile, timeout=120):
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def render(html_path: Path, work: Path) -> tuple[np.ndarray, list[list[float]]]:
    """Screenshot of the page (whole height) and the rectangles of its charts as Chromium laid them out."""
    measured = work / (html_path.stem + ".measure.html")
    measured.write_text(html_path.read_text(encoding="utf-8").replace("</body>", _MEASURE + "</body>"), "utf-8")
    out = _chromium(["--window-size=1200,2000", "--dump-dom", measured.as_uri()], work / "profile-m")
    found = re.search(r'<pre id="measure">(.*?)</pre>', out.stdout, flags=re.S)
    assert found, f"Chromium did not load the page: {out.stderr[-2000:]}"
    info = json.loads(found.group(1))
    height = int(min(max(info["height"], 600), 16000))
    png = work / (html_path.stem + ".png")
    out = _chromium([f"--screenshot={png}", f"--window-size=1200,{height}", html_path.as_uri()], work / "profile-s")
    assert png.exists(), f"Chromium wrote no screenshot: {out.stderr[-2000:]}"
    return imread(str(png)), info["rects"]


def _resize_nearest(img: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    rows = (np.arange(shape[0]) * img.shape[0] / shape[0]).astype(int)
    cols = (np.arange(shape[1]) * img.shape[1] / shape[1]).astype(int)
    return img[rows][:, cols]


def _gray(img: np.ndarray) -> np.ndarray:
    return img[..., :3].mean(axis=2)


@needs_chromium
def test_every_report_renders_nonempty_charts_in_headless_chromium(tmp_path):
    paths = build_reports(tmp_path)
    for kind, path in paths.items():
        work = tmp_path / f"render-{kind}"
        work.mkdir()
        shot, rects = render(Path(path), work)
        pngs = embedded_pngs(Path(path).read_text(encoding="utf-8"))
        assert len(rects) == len(pngs) > 0, kind
        for (left, top, width, height, natural), png in zip(rects, pngs):
            assert natural == png.shape[1], f"{kind}: the browser did not decode the chart"
            assert width > 300 and height > 200, (kind, width, height)
            # the image content inside its 1 px CSS border
            r0, c0 = int(round(top)) + 1, int(round(left)) + 1
            r1, c1 = int(round(top + height)) - 1, int(round(left + width)) - 1
            assert r1 <= shot.shape[0] and c1 <= shot.shape[1], f"{kind}: chart outside the screenshot"
            crop = shot[r0:r1, c0:c1, :3]
            # a chart, not a blank or uniform box
            assert distinct_colors(crop) > 40, kind
            ink = np.any(crop < 0.85, axis=2).mean()
            assert 0.01 < ink < 0.95, (kind, ink)
            # and the very chart that was embedded (the page may show it scaled to the layout width): compare
            # both pictures smoothed over a few pixels, so resampling differences do not matter
            ref = ndimage.gaussian_filter(_gray(_resize_nearest(png, crop.shape[:2])), 3.0)
            seen = ndimage.gaussian_filter(_gray(crop), 3.0)
            corr = np.corrcoef(seen.ravel(), ref.ravel())[0, 1]
            assert corr > 0.9, (kind, corr)
