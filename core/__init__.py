"""Carbon Sink Toolbox core: the science and the raster engine.

Pure numpy / scipy / rasterio. Nothing in this package imports ``qgis``, ``PyQt`` or ``osgeo``
(``test/test_core_purity.py`` enforces it), so every function here can be used and tested without QGIS.

Conventions shared by every science module:

- Arrays carry time on the first axis: shape ``(T, ...)`` (the engine passes ``(T, rows, cols)`` blocks).
- Missing values are NaN (the engine turns each input's nodata into NaN before calling a core function).
- Functions return float64 arrays (the engine writes float32 with nodata = NaN) or small integer class codes.
- Bad input values raise :class:`core.errors.InputError` with a message that says what to fix.
- Degenerate pixels (constant, too short, all NaN) give NaN, never a crash or a RuntimeWarning flood.
"""

__version__ = "0.1.0"
