"""Tests of core.modis: MOD17A3HGF Npp_500m decoding, land codes and sanity checks."""

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import modis
from core.errors import InputError


def test_constants_match_the_mod17_user_guide():
    assert modis.LAND_CODES == {
        32761: "unclassified",
        32762: "urban or built-up",
        32763: "permanent wetland",
        32764: "permanent snow and ice",
        32765: "barren or sparsely vegetated",
        32766: "water",
        32767: "fill",
    }
    assert modis.VALID_MIN == -30000
    assert modis.VALID_MAX == 32700
    assert modis.DN_TO_G == 0.1
    assert modis.MAX_PLAUSIBLE_NPP == 3500.0


def test_decode_npp_hand_values():
    dn = np.array([0, 1, 12345, -30000, -30001, 32700, 32701, 32761, 32762, 32763, 32764, 32765, 32766, 32767])
    # DN x 0.1: 12345 -> 1234.5 g C m-2 yr-1 (1.2345 kg C m-2); -30000 -> -3000; 32700 -> 3270;
    # -30001 and 32701 are outside the valid range, 32761..32767 are land codes / fill.
    nan = np.nan
    expected = [0.0, 0.1, 1234.5, -3000.0, nan, 3270.0, nan, nan, nan, nan, nan, nan, nan, nan]
    for dtype in (np.int16, np.int32, np.float32, np.float64):
        out = modis.decode_npp(dn.astype(dtype))
        assert out.dtype == np.float64
        np.testing.assert_allclose(out, expected, rtol=0, atol=1e-9, equal_nan=True)


def test_decode_npp_int16_input_and_nan():
    dn = np.array([[5000, 32767], [-32768, 32766]], dtype=np.int16)  # -32768 is below -30000
    out = modis.decode_npp(dn)
    np.testing.assert_array_equal(np.isnan(out), [[False, True], [True, True]])
    assert out[0, 0] == pytest.approx(500.0)
    f = np.array([np.nan, 250.0])
    np.testing.assert_allclose(modis.decode_npp(f), [np.nan, 25.0], equal_nan=True)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=-32768, max_value=32767), min_size=1, max_size=50))
def test_decode_npp_property(values):
    dn = np.array(values, dtype=np.int16)
    out = modis.decode_npp(dn)
    for v, o in zip(values, out):
        if -30000 <= v <= 32700:
            assert o == pytest.approx(v * 0.1, abs=1e-9)
        else:
            assert np.isnan(o)


def test_land_code_mode_hand_values():
    nan = np.nan
    # five pixels, four years (time on axis 0)
    dn = np.array(
        [
            [32765, 32766, 100, 32767, nan],
            [32766, 32762, 200, 32767, nan],
            [32765, nan, 300, 32767, nan],
            [100, 32766, 400, 1, nan],
        ]
    )
    # pixel 0: barren x2, water x1 -> 32765; pixel 1: water x2, urban x1 -> 32766;
    # pixel 2: no code -> 0; pixel 3: only fill (not counted) -> 0; pixel 4: all NaN -> 0
    out = modis.land_code_mode(dn)
    assert out.dtype == np.int16
    np.testing.assert_array_equal(out, [32765, 32766, 0, 0, 0])


def test_land_code_mode_ties_go_to_the_lower_code():
    dn = np.array([[32766, 32761, 32764], [32762, 32766, 32763], [5, 5, 32767]])
    # pixel 0: water 1, urban 1 -> 32762; pixel 1: unclassified 1, water 1 -> 32761; pixel 2: snow 1, wetland 1 -> 32763
    np.testing.assert_array_equal(modis.land_code_mode(dn), [32762, 32761, 32763])


def _mode_reference(series):
    counts = Counter(int(v) for v in series if np.isfinite(v) and 32761 <= v <= 32766)
    if not counts:
        return 0
    best = max(counts.values())
    return min(c for c, n in counts.items() if n == best)


def test_land_code_mode_against_per_pixel_reference():
    rng = np.random.default_rng(7)
    choices = np.array([np.nan, 0, 1234, 32700, 32760, 32761, 32762, 32763, 32764, 32765, 32766, 32767])
    dn = rng.choice(choices, size=(6, 40, 50), p=[0.1, 0.1, 0.1, 0.05, 0.05] + [0.09] * 6 + [0.06])
    out = modis.land_code_mode(dn)
    assert out.shape == (40, 50)
    ref = np.array([[_mode_reference(dn[:, i, j]) for j in range(50)] for i in range(40)])
    np.testing.assert_array_equal(out, ref)
    assert (ref == 0).any() and (ref > 0).any()


def test_check_raw_dn_accepts_digital_numbers():
    modis.check_raw_dn(np.array([[0, -30000, 32700, 32761, 32767, np.nan]]))
    modis.check_raw_dn(np.array([1, 2], dtype=np.int16))
    modis.check_raw_dn(np.full((2, 2), np.nan))


def test_check_raw_dn_rejects_decoded_values():
    with pytest.raises(InputError, match="int16 digital numbers") as err:
        modis.check_raw_dn(np.array([123.4, 500.0]), name="INPUT")
    assert "INPUT" in str(err.value) and "123.4" in str(err.value)
    with pytest.raises(InputError, match="int16"):
        modis.check_raw_dn(np.array([40000.0]))


def test_check_decoded_npp():
    modis.check_decoded_npp(np.array([0.0, 3500.0, -20.0, np.nan]))
    modis.check_decoded_npp(np.full(3, np.nan))
    # the largest valid DN decodes to 3270, which passes
    modis.check_decoded_npp(modis.decode_npp(np.array([32700, 32767])))
    with pytest.raises(InputError, match="looks like raw MODIS numbers: decode it with modis_npp") as err:
        modis.check_decoded_npp(np.array([[1200.0, 12000.0]]), name="NPP")
    assert "Decode MODIS NPP" in str(err.value) and "NPP" in str(err.value)
    with pytest.raises(InputError):
        modis.check_decoded_npp(np.array([3500.5]))
