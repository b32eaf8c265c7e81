"""The error every part of the experiment machinery raises for a recipe that does not follow the
schema; it lives apart from the recipe reader so that the modules the reader uses (checkpoint
sections, building) can raise it without importing the reader."""

from __future__ import annotations


class RecipeError(ValueError):
    """A recipe file or mapping that does not follow the recipe schema."""
