"""Rules for functional calls, by what the call computes (the README's rule table).

``HANDLERS`` maps a call name to its handler ``(mode, func, args, kwargs) -> result``; a handler runs
with the torch function mode off (its own calls are plain torch) and returns the value of the call
with the rule's backward attached. Calls named in :data:`.families.GRADIENT_CALLS` need no handler
(ordinary gradient). The in-place form of a call with a handler takes the same rule
(:func:`.products.handle_in_place`).

- (a) linear and structural calls: :mod:`.families` (ordinary gradient);
- (b) element-wise functions of one activation: :mod:`.elementwise` (identity rule);
- (c) products and quotients of two activations: :mod:`.products`;
- (d) normalising statistics: :mod:`.normalisation` (held constant);
- (e) softmax and attention written as one call: :mod:`.attention`;
- (g) everything else: :func:`.elementwise.unsupported`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import attention, elementwise, normalisation, products
from .elementwise import unsupported
from .families import GRADIENT_CALLS, IN_PLACE_CALLS, STATISTIC_CALLS, out_of_place
from .normalisation import detached, is_fractional_power
from .products import handle_in_place

Handler = Callable[..., Any]

HANDLERS: dict[str, Handler] = {
    **elementwise.HANDLERS,
    **products.HANDLERS,
    **normalisation.HANDLERS,
    **attention.HANDLERS,
}

# The rule class of each handled call (reported by EpsilonLRP.rules_met).
RULE_CLASS: dict[str, str] = {
    **dict.fromkeys(elementwise.HANDLERS, "identity"),
    **dict.fromkeys(products.HANDLERS, "product"),
    **dict.fromkeys(normalisation.HANDLERS, "statistic"),
    **dict.fromkeys(attention.HANDLERS, "attention"),
}
for _name in ("sum", "mean", "nansum", "nanmean"):
    RULE_CLASS[_name] = "linear"  # a reduction; constant only on a square (a second moment)
for _name in ("pow", "__rpow__", "float_power"):
    RULE_CLASS[_name] = "identity"  # element-wise of one activation
for _name in ("linalg_solve", "linalg_solve_triangular"):
    RULE_CLASS[_name] = "statistic"  # the matrix divisor held constant

__all__ = [
    "GRADIENT_CALLS",
    "HANDLERS",
    "IN_PLACE_CALLS",
    "RULE_CLASS",
    "STATISTIC_CALLS",
    "Handler",
    "detached",
    "handle_in_place",
    "is_fractional_power",
    "out_of_place",
    "unsupported",
]
