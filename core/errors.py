"""Exceptions raised by the core, mapped to ``QgsProcessingException`` by ``algorithms/base.py``."""


class CarbonSinkError(Exception):
    """Base class of every error the toolbox raises on purpose."""


class InputError(CarbonSinkError, ValueError):
    """The input data or parameters are wrong; the message says what to fix."""


class Cancelled(CarbonSinkError):  # noqa: N818 (a cancel is not an error of the user)
    """The user cancelled the run; partial outputs have been removed."""
