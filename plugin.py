"""Plugin entry point: registers the Processing provider (also under ``qgis_process``, which has no GUI)."""

import sys

from qgis.core import QgsApplication


class CarbonSinkPlugin:
    """Keeps the constructor light: ``qgis_process`` loads the plugin too."""

    def __init__(self, iface):
        self.iface = iface
        self.provider = None

    def initProcessing(self):  # noqa: N802 (QGIS's name)
        from .algorithms.provider import CarbonSinkProvider

        if self.provider is None:
            self.provider = CarbonSinkProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):  # noqa: N802 (QGIS's name)
        self.initProcessing()

    def unload(self):
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
        # QGIS forgets only the modules it saw imported: drop all of ours, so a reload or an upgrade without
        # restarting QGIS runs the new code
        prefix = f"{__package__}."
        for name in [m for m in sys.modules if m.startswith(prefix)]:
            del sys.modules[name]
