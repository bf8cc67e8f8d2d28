"""The one error calibration raises: bad or insufficient data, said in one paragraph."""

from __future__ import annotations


class CalibrationError(ValueError):
    """The data cannot give a calibration; the message names the file and the problem."""
