"""The error the engine raises for a model it cannot attribute."""

from __future__ import annotations


class UnsupportedLayerError(NotImplementedError):
    """A module or call the engine has no rule for took part in the attribution forward.

    A ``NotImplementedError`` (so a ``RuntimeError``), deliberately not a ``TypeError``: torch's binary
    operators (``Tensor.__pow__``, ``__truediv__`` ...) turn a ``TypeError`` raised inside them into
    ``NotImplemented``, and Python then reports a bare "unsupported operand type(s)", losing the
    message that names the module and the call.
    """
