"""Tests of core.area: ellipsoidal cell areas, projected pixel areas in any linear unit, equal-area detection."""

import math

import numpy as np
import pytest
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from rasterio.crs import CRS
from scipy import integrate

from core import area
from core.errors import InputError

WGS84_A = 6378137.0
WGS84_F = 1 / 298.257223563
MODIS_SINU = "+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m +no_defs"


def quad_area(lat_north, lat_south, dlon_deg, a=WGS84_A, f=WGS84_F):
    """Independent oracle: integrate the ellipsoid's area element a^2 (1-e^2) cos(phi) / (1 - e^2 sin^2 phi)^2.

    The integration variable is an offset in degrees from one edge, so that thin rows keep their height exactly;
    rows above 45 degrees (after mirroring southern rows) are integrated in colatitude, where cos(phi) =
    sin(colatitude) has no rounding trouble next to the pole.
    """
    e2 = f * (2 - f)
    lo, hi = sorted((float(lat_south), float(lat_north)))
    if hi <= 0:
        lo, hi = -hi, -lo  # the area is symmetric about the equator
    k = math.pi / 180

    if lo >= 45:
        c0 = 90.0 - hi  # colatitude of the edge nearer the pole (exact)

        def element(w):  # w: degrees of colatitude from c0
            c = math.radians(c0 + w)
            return a * a * (1 - e2) * math.sin(c) / (1 - e2 * math.cos(c) ** 2) ** 2 * k

    else:

        def element(w):  # w: degrees of latitude from lo
            phi = math.radians(lo + w)
            return a * a * (1 - e2) * math.cos(phi) / (1 - e2 * math.sin(phi) ** 2) ** 2 * k

    value, _ = integrate.quad(element, 0.0, hi - lo, epsabs=0, epsrel=1e-13, limit=200)
    return value * math.radians(dlon_deg)


# -------------------------------------------------------------------------------------- geographic areas


def test_whole_globe_wgs84():
    total = area.geographic_row_areas(90.0, -90.0, 360.0, WGS84_A, WGS84_F)
    assert float(total) / 1e6 == pytest.approx(510_065_621.7, abs=0.1)


def test_half_degree_cell_at_the_equator_and_at_60n():
    eq = float(area.geographic_row_areas(0.5, 0.0, 0.5)) / 1e6
    assert round(eq, 1) == 3077.2
    north60 = float(area.geographic_row_areas(60.5, 60.0, 0.5)) / 1e6
    # about half (cos 60 = 0.5; the ellipsoid and the cell's height make it 0.5013)
    assert 0.49 < north60 / eq < 0.51
    assert north60 == pytest.approx(quad_area(60.5, 60.0, 0.5) / 1e6, rel=1e-10)
    # the order of the edges does not matter
    assert float(area.geographic_row_areas(60.0, 60.5, 0.5)) / 1e6 == pytest.approx(north60, rel=1e-15)


def test_against_numerical_integration():
    rng = np.random.default_rng(2)
    north = rng.uniform(-90, 90, 2000)
    height = rng.choice([1e-4, 1e-3, 0.01, 0.5, 5.0, 40.0], 2000)
    south = np.clip(north - height, -90, 90)
    # thin rows touching the poles, where a plain q(phi1) - q(phi2) loses ~1e-7 relative accuracy
    north[:3], south[:3] = 90.0, [90 - 1e-3, 90 - 1e-4, 90 - 4.5e-3]
    north[3:6], south[3:6] = [-90 + 1e-3, -90 + 1e-4, -89.0], -90.0
    dlon = 0.25
    out = area.geographic_row_areas(north, south, dlon)
    worst = max(abs(out[k] / quad_area(north[k], south[k], dlon) - 1) for k in range(2000))
    assert worst < 2e-11  # measured 3e-12 (the oracle's own accuracy)


def test_sphere():
    r = 6371007.181
    # whole sphere 4 pi R^2
    assert float(area.geographic_row_areas(90, -90, 360, r, 0.0)) == pytest.approx(4 * math.pi * r * r, rel=1e-14)
    # R^2 dlambda (sin 10 - sin 0) for a 1 x 10 degree band
    expected = r * r * math.radians(1.0) * math.sin(math.radians(10))
    assert float(area.geographic_row_areas(10, 0, 1.0, r, 0.0)) == pytest.approx(expected, rel=1e-14)
    # a tiny flattening is continuous with the sphere
    near = float(area.geographic_row_areas(10, 0, 1.0, r, 1e-12))
    assert near == pytest.approx(expected, rel=1e-9)


def test_latitudes_are_clipped_at_the_poles():
    a1 = area.geographic_row_areas(np.array([95.0, 100.0]), np.array([85.0, 95.0]), 1.0)
    np.testing.assert_allclose(a1[0], area.geographic_row_areas(90.0, 85.0, 1.0), rtol=1e-15)
    assert a1[1] == 0.0


@settings(max_examples=50, deadline=None)
@given(st.floats(-89, 89), st.floats(0.001, 1.0), st.floats(0.001, 1.0), st.floats(0.01, 10))
def test_areas_add_up_between_parallels(lat, h1, h2, dlon):
    south = max(lat - h1 - h2, -90.0)
    mid = lat - h1
    whole = area.geographic_row_areas(lat, south, dlon)
    parts = area.geographic_row_areas(lat, mid, dlon) + area.geographic_row_areas(mid, south, dlon)
    assert float(parts) == pytest.approx(float(whole), rel=1e-9, abs=1e-3)


def test_pixel_area_geographic_grid_sums_to_the_globe():
    t = Affine(0.5, 0, -180, 0, -0.5, 90)
    rows = area.pixel_area_m2(t, CRS.from_epsg(4326), 0, 360)
    assert rows.shape == (360, 1)
    assert rows.sum() * 720 / 1e6 == pytest.approx(510_065_621.7, abs=0.1)
    # row 179 spans 0.5 N .. 0 N
    assert round(rows[179, 0] / 1e6, 1) == 3077.2
    # blocks agree with the full grid, for CRS objects and WKT1 / WKT2 text
    for crs in (CRS.from_epsg(4326), CRS.from_epsg(4326).to_wkt(), CRS.from_epsg(4326).to_wkt(version="WKT2_2019")):
        np.testing.assert_allclose(area.pixel_area_m2(t, crs, 100, 7), rows[100:107], rtol=1e-15)


def test_pixel_area_uses_the_crs_ellipsoid_and_angular_unit():
    # EPSG:4807 NTF (Paris): Clarke 1880 (IGN) ellipsoid, coordinates in grads (1 grad = 0.9 degree)
    crs = CRS.from_epsg(4807)
    a, f = area.ellipsoid_of(crs)
    assert a == pytest.approx(6378249.2) and 1 / f == pytest.approx(293.4660212936269)
    t = Affine(1.0, 0, 0, 0, -1.0, 50.0)  # 1 x 1 grad cells from 50 grad = 45 degrees north
    out = area.pixel_area_m2(t, crs, 0, 2)
    expected = area.geographic_row_areas(np.array([45.0, 44.1]), np.array([44.1, 43.2]), 0.9, a, f)
    np.testing.assert_allclose(out[:, 0], expected, rtol=1e-12)
    assert out[0, 0] == pytest.approx(quad_area(45.0, 44.1, 0.9, a, f), rel=1e-9)


def test_sphere_geographic_wkt():
    wkt = (
        'GEOGCS["Unknown datum based upon the custom spheroid",DATUM["Not_specified_based_on_custom_spheroid",'
        'SPHEROID["Custom spheroid",6371007.181,0]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]]'
    )
    assert area.ellipsoid_of(wkt) == (6371007.181, 0.0)
    rows = area.pixel_area_m2(Affine(1, 0, 0, 0, -1, 90), wkt, 0, 180)
    assert rows.sum() * 360 == pytest.approx(4 * math.pi * 6371007.181**2, rel=1e-12)


def test_rotated_geographic_grid_and_missing_crs_are_errors():
    with pytest.raises(InputError, match="rotated"):
        area.pixel_area_m2(Affine(0.5, 0.1, 0, 0.1, -0.5, 0), CRS.from_epsg(4326), 0, 2)
    for missing in (None, "", CRS()):
        with pytest.raises(InputError, match="assign a CRS"):
            area.pixel_area_m2(Affine(1, 0, 0, 0, -1, 0), missing, 0, 2)


# --------------------------------------------------------------------------------------- projected areas


def test_modis_sinusoidal_pixel():
    size = 463.3127165694
    t = Affine(size, 0, -20015109.354, 0, -size, 10007554.677)
    for crs in (CRS.from_string(MODIS_SINU), CRS.from_string(MODIS_SINU).to_wkt()):
        out = area.pixel_area_m2(t, crs, 1000, 3)
        assert out.shape == (3, 1)
        np.testing.assert_allclose(out, 214_658.67, atol=0.005)  # 463.3127165694^2 = 214,658.6733
        assert area.is_equal_area(crs)
        assert area.area_warning(crs) is None
    assert area.ellipsoid_of(CRS.from_string(MODIS_SINU)) == (6371007.181, 0.0)


def test_feet_based_crs_comes_out_in_square_metres():
    t = Affine(100.0, 0, 6e6, 0, -100.0, 2e6)  # 100 ft x 100 ft pixels
    # EPSG:2227 NAD83 / California zone 3 in US survey feet (1200 / 3937 m): (100 x 0.3048006096)^2 = 929.0341 m2
    us = CRS.from_epsg(2227)
    for crs in (us, us.to_wkt(), us.to_wkt(version="WKT2_2019")):
        np.testing.assert_allclose(area.pixel_area_m2(t, crs, 0, 2), 929.0341161, rtol=1e-9)
    # international foot (0.3048 m): (30.48)^2 = 929.0304 m2, from hand-written WKT1 text
    wkt = (
        'PROJCS["NAD83 / test ft",GEOGCS["NAD83",DATUM["North_American_Datum_1983",'
        'SPHEROID["GRS 1980",6378137,298.257222101]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]],'
        'PROJECTION["Transverse_Mercator"],PARAMETER["latitude_of_origin",0],PARAMETER["central_meridian",-81],'
        'PARAMETER["scale_factor",0.9996],PARAMETER["false_easting",1640416.667],PARAMETER["false_northing",0],'
        'UNIT["foot",0.3048]]'
    )
    np.testing.assert_allclose(area.pixel_area_m2(t, wkt, 0, 1), 929.0304, rtol=1e-12)
    # a rotated projected grid keeps |det|: 30 x 30 m rotated 30 degrees
    c, s = math.cos(math.radians(30)), math.sin(math.radians(30))
    rot = Affine(30 * c, -30 * s, 0, 30 * s, 30 * c, 0)
    np.testing.assert_allclose(area.pixel_area_m2(rot, CRS.from_epsg(32633), 0, 1), 900.0, rtol=1e-12)


def test_wkt2_ellipsoid_in_feet_and_missing_ellipsoid():
    wkt2 = (
        'GEOGCRS["test",DATUM["test",ELLIPSOID["Clarke 1858",20926348,294.26,LENGTHUNIT["Clarke\'s foot",'
        '0.3047972654]]],PRIMEM["Greenwich",0,ANGLEUNIT["degree",0.0174532925199433]],'
        'CS[ellipsoidal,2],AXIS["latitude",north,ORDER[1],ANGLEUNIT["degree",0.0174532925199433]],'
        'AXIS["longitude",east,ORDER[2],ANGLEUNIT["degree",0.0174532925199433]]]'
    )
    a, f = area.ellipsoid_of(wkt2)
    assert a == pytest.approx(20926348 * 0.3047972654) and f == pytest.approx(1 / 294.26)
    assert area.ellipsoid_of('LOCAL_CS["nothing"]') == area.WGS84


# --------------------------------------------------------------------------------------- equal area, warning

EQUAL_AREA = [
    "EPSG:5070",
    "EPSG:3035",
    "EPSG:6933",
    "EPSG:8857",
    "ESRI:54009",
    "ESRI:54012",
    "ESRI:54010",
    "ESRI:54052",
    "ESRI:102003",
    MODIS_SINU,
]
NOT_EQUAL_AREA = ["EPSG:3857", "EPSG:3395", "EPSG:32633", "EPSG:2227", "EPSG:3034"]


@pytest.mark.parametrize("code", EQUAL_AREA)
def test_equal_area_projections(code):
    crs = CRS.from_user_input(code)
    for form in (
        crs,
        crs.to_wkt(),
        crs.to_wkt(version="WKT2_2019"),
        crs.to_wkt(version="WKT2_2019").replace('METHOD["', 'METHOD["x '),
    ):
        assert area.is_equal_area(form), form
        assert area.area_warning(form) is None
    assert area.is_equal_area(crs.to_wkt().lower().replace("projcs", "PROJCS"))  # case-insensitive names


@pytest.mark.parametrize("code", NOT_EQUAL_AREA)
def test_not_equal_area_projections_warn(code):
    crs = CRS.from_user_input(code)
    for form in (crs, crs.to_wkt(), crs.to_wkt(version="WKT2_2019")):
        assert not area.is_equal_area(form)
        msg = area.area_warning(form)
        assert msg and "not an equal-area" in msg and "distorted" in msg


def test_web_mercator_warning_names_the_crs():
    msg = area.area_warning(CRS.from_epsg(3857))
    assert "Pseudo-Mercator" in msg and "EPSG:3857" in msg and "cos^2" in msg
    utm = area.area_warning(CRS.from_epsg(32633))  # transverse Mercator: small error inside the zone, no cos^2
    assert "UTM zone 33N" in utm and "cos^2" not in utm and "central meridian" in utm
    msg2 = area.area_warning(CRS.from_epsg(3857).to_wkt(version="WKT2_2019"))
    assert "Pseudo-Mercator" in msg2 and "EPSG:3857" in msg2


def test_geographic_and_albers_give_no_warning():
    assert area.area_warning(CRS.from_epsg(4326)) is None
    assert area.area_warning(CRS.from_epsg(4326).to_wkt(version="WKT2_2019")) is None
    assert not area.is_equal_area(CRS.from_epsg(4326))
    assert area.area_warning(CRS.from_epsg(5070)) is None  # NAD83 / Conus Albers
    assert area.is_equal_area(
        'PROJCS["x",GEOGCS["y",SPHEROID["s",6378137,298.257223563]],'
        'PROJECTION["albers_conic_equal_area"],UNIT["metre",1]]'
    )
