"""QGIS Processing algorithms of the Carbon Sink Toolbox (thin wrappers around ``core``)."""
