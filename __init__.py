"""Carbon Sink Toolbox: a QGIS plugin. QGIS calls :func:`classFactory`; nothing else runs at import time."""


def classFactory(iface):  # noqa: N802 (QGIS's name)
    """Return the plugin instance (imported here so that ``core`` can be imported without QGIS)."""
    from .plugin import CarbonSinkPlugin

    return CarbonSinkPlugin(iface)
