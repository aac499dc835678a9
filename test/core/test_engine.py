"""The block engine, stacks and writer: alignment, years, blocks, threads, cancel, errors, bounded memory."""

from __future__ import annotations

import hashlib
import os
import threading
import tracemalloc
from functools import partial

import numpy as np
import pytest
import rasterio
from hypothesis import given, settings
from hypothesis import strategies as st
from rasterio.transform import from_origin
from support import write_raster

from core.engine import Block, Result, block_windows, run_blocks
from core.errors import Cancelled, InputError
from core.series import valid_mean
from core.stack import Grid, check_aligned, check_same_years, open_series, resolve_years
from core.writer import OutputSpec, OutputTransaction

GEO = from_origin(100.0, 45.0, 0.1, 0.1)
write = partial(write_raster, transform=GEO)


def digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def read(path):
    with rasterio.open(path) as ds:
        return ds.read(), ds.profile, ds.descriptions, ds.tags()


@pytest.fixture
def stack(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.normal(300, 50, (6, 70, 90)).astype("float32")
    data[:, :5, :5] = -9999.9  # nodata that float32 cannot store exactly
    data[2, 10, 10] = np.nan
    multi = write(tmp_path / "multi.tif", data, nodata=-9999.9, descriptions=[str(2000 + i) for i in range(6)])
    files = [write(tmp_path / f"single_{2000 + i}.tif", data[i], nodata=-9999.9) for i in range(6)]
    return data, multi, files


def test_reader_masks_nodata_and_nan(stack):
    data, multi, _ = stack
    series = open_series("NPP", [multi])
    out = {}

    def keep(block):
        out[block.index] = block.data["NPP"]
        return {}

    run_blocks([series], keep, None, max_pixels=1000)
    full = np.full(data.shape, np.nan)
    windows = block_windows(series.grid, series.block_shape, 1000)
    for i, w in enumerate(windows):
        full[:, w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width] = out[i]
    assert np.isnan(full[:, :5, :5]).all()
    assert np.isnan(full[2, 10, 10])
    ok = ~np.isnan(full)
    assert ok.sum() == data.size - 6 * 25 - 1
    np.testing.assert_array_equal(full[ok], data.astype(float)[ok])


def _nep_like(block: Block):
    x = block.data["INPUT"]
    return Result(
        {"OUTPUT": x * 2.0 - 1.0, "MEAN": valid_mean(x, 2)}, partial=np.nansum(x * block.area_m2(), axis=(1, 2))
    )


def _run(paths, out_dir, threads=1, max_pixels=None, name="out"):
    series = open_series("INPUT", paths)
    years = resolve_years(series)
    with OutputTransaction(series.grid, "test", {"x": 1}) as tx:
        tx.add(OutputSpec("OUTPUT", str(out_dir / f"{name}.tif"), [str(y) for y in years], units="g C m-2 yr-1"))
        tx.add(OutputSpec("MEAN", str(out_dir / f"{name}_mean.tif"), ["mean"]))
        total = run_blocks([series], _nep_like, tx, merge=np.add, threads=threads, max_pixels=max_pixels)
        tx.commit()
    return total


def test_list_and_multiband_give_identical_results(stack, tmp_path):
    _, multi, files = stack
    a = _run([multi], tmp_path, name="a", max_pixels=900)
    b = _run(files, tmp_path, name="b", max_pixels=900)
    # Windows follow each file's own strips, so block sums are added in another grouping: equal to rounding.
    np.testing.assert_allclose(a, b, rtol=1e-13)
    ra, rb = read(tmp_path / "a.tif"), read(tmp_path / "b.tif")
    np.testing.assert_array_equal(ra[0], rb[0])
    assert ra[2] == rb[2] == tuple(str(y) for y in range(2000, 2006))


def test_one_and_two_threads_identical(stack, tmp_path):
    _, multi, _ = stack
    a = _run([multi], tmp_path, threads=1, name="t1", max_pixels=500)
    b = _run([multi], tmp_path, threads=2, name="t2", max_pixels=500)
    np.testing.assert_array_equal(a, b)  # partial sums merged in window order: bit-identical
    np.testing.assert_array_equal(read(tmp_path / "t1.tif")[0], read(tmp_path / "t2.tif")[0])
    np.testing.assert_array_equal(read(tmp_path / "t1_mean.tif")[0], read(tmp_path / "t2_mean.tif")[0])


def test_output_format(stack, tmp_path):
    data, multi, _ = stack
    _run([multi], tmp_path, name="fmt")
    values, profile, descriptions, tags = read(tmp_path / "fmt.tif")
    assert profile["dtype"] == "float32" and np.isnan(profile["nodata"])
    assert profile["tiled"] and profile["compress"] == "deflate"
    assert tags["ALGORITHM"] == "test" and tags["UNITS"] == "g C m-2 yr-1" and "TOOLBOX_VERSION" in tags
    assert descriptions[0] == "2000"
    expected = np.where(np.isnan(data.astype(float)) | (data == np.float32(-9999.9)), np.nan, data * 2.0 - 1.0)
    np.testing.assert_allclose(values, expected.astype("float32"), equal_nan=True)
    leftovers = [f for f in os.listdir(tmp_path) if ".part" in f]
    assert leftovers == []


def test_misaligned_inputs_are_refused_naming_the_file(tmp_path):
    a = open_series("NPP", [write(tmp_path / "npp.tif", np.zeros((2, 10, 10), "float32"))])
    shifted = write(
        tmp_path / "rh_shifted.tif", np.zeros((2, 10, 10), "float32"), transform=from_origin(100.05, 45.0, 0.1, 0.1)
    )
    bigger = write(tmp_path / "rh_bigger.tif", np.zeros((2, 11, 10), "float32"))
    other_crs = write(tmp_path / "rh_utm.tif", np.zeros((2, 10, 10), "float32"), crs="EPSG:32647")
    for path, words in [(shifted, "origin or pixel size"), (bigger, "size is 10 x 11"), (other_crs, "EPSG:32647")]:
        with pytest.raises(InputError, match=os.path.basename(path)) as err:
            check_aligned([a, open_series("RH", [path])])
        assert words in str(err.value) and "Align" in str(err.value)
    with pytest.raises(InputError, match="rh_bigger"):  # within one list of files too
        open_series(
            "RH",
            [
                write(tmp_path / "rh_2000.tif", np.zeros((10, 10), "float32")),
                write(tmp_path / "rh_bigger_2001.tif", np.zeros((11, 10), "float32")),
            ],
        )


def test_mixed_list_is_refused(tmp_path):
    one = write(tmp_path / "a.tif", np.zeros((10, 10), "float32"))
    three = write(tmp_path / "b.tif", np.zeros((3, 10, 10), "float32"))
    with pytest.raises(InputError, match=r"'b.tif' has 3 bands.*ONE multiband raster .* or SEVERAL single-band"):
        open_series("NPP", [one, three])


def test_years(tmp_path):
    d = np.zeros((3, 4, 4), "float32")
    plain = open_series("NPP", [write(tmp_path / "plain.tif", d)])
    with pytest.raises(InputError, match="set FIRST_YEAR"):
        resolve_years(plain)
    assert list(resolve_years(plain, 1999)) == [1999, 2000, 2001]
    described = open_series("NPP", [write(tmp_path / "d.tif", d, descriptions=["NPP 2001", "NPP 2002", "2004"])])
    assert list(resolve_years(described)) == [2001, 2002, 2004]  # a missing year keeps its real position
    modis = [write(tmp_path / f"MOD17A3HGF.A{y}001.h25v05.061.2022123456789.tif", d[0]) for y in (2010, 2011)]
    assert list(resolve_years(open_series("NPP", modis))) == [2010, 2011]
    unordered = open_series("NPP", [write(tmp_path / f"npp_{y}.tif", d[0]) for y in (2003, 2002)])
    with pytest.raises(InputError, match="not strictly increasing"):
        resolve_years(unordered)
    months = np.zeros((24, 2, 2), "float32")
    monthly = open_series(
        "T",
        [write(tmp_path / "t.tif", months, descriptions=[f"{y}-{m:02d}" for y in (2000, 2001) for m in range(1, 13)])],
    )
    assert list(resolve_years(monthly, monthly=True)) == [2000, 2001]
    with pytest.raises(InputError, match="not a multiple of 12"):
        resolve_years(open_series("T", [write(tmp_path / "t23.tif", months[:23])]), 2000, monthly=True)
    rh = open_series("RH", [plain.paths[0]])
    with pytest.raises(InputError, match="RH has 2 years of data but NPP has 3"):
        check_same_years(plain, np.array([1, 2, 3]), rh, np.array([1, 2]))
    with pytest.raises(InputError, match="RH covers 2001-2003 but NPP covers 2000-2002"):
        check_same_years(plain, np.array([2000, 2001, 2002]), rh, np.array([2001, 2002, 2003]))


def _no_leftovers(folder):
    return [f for f in os.listdir(folder) if f.startswith(".") or f.startswith("out")]


def test_cancel_leaves_no_output_and_inputs_untouched(stack, tmp_path):
    _, multi, _ = stack
    before = digest(multi)
    out_dir = tmp_path / "cancel"
    out_dir.mkdir()
    series = open_series("INPUT", [multi])
    calls = []

    def cancelled():
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(Cancelled):
        with OutputTransaction(series.grid) as tx:
            tx.add(OutputSpec("OUTPUT", str(out_dir / "out.tif"), ["a"] * 6))
            run_blocks(
                [series], lambda b: {"OUTPUT": b.data["INPUT"]}, tx, max_pixels=300, threads=2, is_cancelled=cancelled
            )
            tx.commit()
    assert _no_leftovers(out_dir) == []
    assert digest(multi) == before


def test_error_leaves_no_output_and_keeps_existing_file(stack, tmp_path):
    _, multi, _ = stack
    out_dir = tmp_path / "error"
    out_dir.mkdir()
    (out_dir / "out.tif").write_bytes(b"previous result")
    series = open_series("INPUT", [multi])

    def failing(block):
        if block.index == 2:
            raise InputError("bad value in block 2")
        return {"OUTPUT": block.data["INPUT"]}

    with pytest.raises(InputError, match="block 2"):
        with OutputTransaction(series.grid) as tx:
            tx.add(OutputSpec("OUTPUT", str(out_dir / "out.tif"), ["a"] * 6))
            run_blocks([series], failing, tx, max_pixels=300, threads=2)
            tx.commit()
    assert sorted(os.listdir(out_dir)) == ["out.tif"]
    assert (out_dir / "out.tif").read_bytes() == b"previous result"


def test_memory_stays_bounded_on_a_stack_four_times_the_budget(tmp_path):
    budget_mb = 4
    # 24 bands x 350 x 500 float32 = 16.8 MB on disk, 33.6 MB as float64 in memory: 8x the 4 MB budget
    data = np.random.default_rng(0).normal(0, 1, (24, 350, 500)).astype("float32")
    path = write(tmp_path / "big.tif", data, tiled=True, blockxsize=256, blockysize=256)
    del data
    series = open_series("INPUT", [path])
    seen = []
    lock = threading.Lock()

    def compute(block):
        with lock:
            seen.append(block.data["INPUT"].nbytes)
        return {"OUTPUT": np.nanmean(block.data["INPUT"], axis=0)}

    tracemalloc.start()
    with OutputTransaction(series.grid) as tx:
        tx.add(OutputSpec("OUTPUT", str(tmp_path / "mean.tif"), ["mean"]))
        # np.nanmean copies its input and makes a mask: declare that scratch so the budget covers it
        run_blocks([series], compute, tx, memory_mb=budget_mb, threads=2, scratch_bytes_per_pixel=8 * 24 + 24)
        tx.commit()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(seen) > 8
    assert max(seen) * 2 <= budget_mb * 2**20  # two threads' input blocks fit in the budget
    assert peak < 1.25 * budget_mb * 2**20, f"peak {peak / 2**20:.1f} MB for a {budget_mb} MB budget"


@settings(max_examples=60, deadline=None)
@given(
    height=st.integers(1, 700),
    width=st.integers(1, 700),
    bh=st.sampled_from([1, 16, 128, 256, 512]),
    bw=st.sampled_from([16, 256, 512, 10_000]),
    max_pixels=st.integers(1, 300_000),
)
def test_windows_tile_the_grid_within_budget(height, width, bh, bw, max_pixels):
    grid = Grid(width, height, GEO, None)
    bw = min(bw, width) if bw < 10_000 else width
    windows = block_windows(grid, (bh, bw), max_pixels)
    cover = np.zeros((height, width), int)
    for w in windows:
        assert w.width * w.height <= max(max_pixels, 1)
        cover[w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width] += 1
    assert (cover == 1).all()
    if width * min(bh, height) <= max_pixels and height > 1:
        # full-width windows whose heights are whole input blocks (but the last)
        assert all(w.width == width for w in windows)
        assert all(w.height % min(bh, height) == 0 for w in windows[:-1])
    elif bw < width and min(bh, height) * bw <= max_pixels:
        # a tiled input whose row of tiles does not fit: windows of whole tiles (but at the edges)
        assert all(w.height == min(bh, height) or w.row_off + w.height == height for w in windows)
        assert all(w.width % bw == 0 or w.col_off + w.width == width for w in windows)
