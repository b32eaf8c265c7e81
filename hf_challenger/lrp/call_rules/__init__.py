"""Rules for functional calls, by what the call computes (see :mod:`.families`).

``HANDLERS`` maps a call name to its handler ``(mode, func, args, kwargs) -> result``; a handler
runs with the torch function mode off (its own calls are plain torch) and returns the value of the
call with the rule's backward attached. Calls named in :data:`.families.GRADIENT_CALLS` need no
handler (ordinary gradient), those in :data:`.families.NONLINEAR_CALLS` take the identity rule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import attention, normalisation, products
from .families import GRADIENT_CALLS, IN_PLACE_CALLS, NONLINEAR_CALLS, STATISTIC_CALLS
from .normalisation import is_fractional_power

Handler = Callable[..., Any]

HANDLERS: dict[str, Handler] = {**products.HANDLERS, **normalisation.HANDLERS, **attention.HANDLERS}

__all__ = [
    "GRADIENT_CALLS",
    "HANDLERS",
    "IN_PLACE_CALLS",
    "NONLINEAR_CALLS",
    "STATISTIC_CALLS",
    "Handler",
    "is_fractional_power",
]
