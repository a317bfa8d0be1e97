"""Range checks of numeric settings, one message format for every entry point.

A :class:`SettingError` names the setting by its field name (``stem_channels``); command-line
front ends print it under the option's spelling (``--stem-channels``) with :meth:`SettingError.as_option`.
"""

from __future__ import annotations

import math
import numbers
from typing import Any


class SettingError(ValueError):
    """A setting outside its allowed range.

    Attributes:
        name: the field name (``lr``, ``stem_channels``...).
        value: the value given.
        expected: the allowed range, in words.
    """

    def __init__(self, name: str, value: Any, expected: str) -> None:
        self.name, self.value, self.expected = name, value, expected
        super().__init__(f"{name} = {value!r}: expected {expected}")

    def as_option(self) -> str:
        """The message as a command line names it: ``--stem-channels -5: expected an integer >= 1``."""
        return f"--{self.name.replace('_', '-')} {self.value}: expected {self.expected}"


def require_int_at_least(name: str, value: Any, low: int) -> None:
    """Raise :class:`SettingError` unless ``value`` is an integer (not a bool) >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise SettingError(name, value, f"an integer >= {low}")


def require_positive_finite(name: str, value: Any) -> None:
    """Raise :class:`SettingError` unless ``value`` is a finite number > 0."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value)
            or value <= 0):
        raise SettingError(name, value, "a finite number > 0")
