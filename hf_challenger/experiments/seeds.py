"""The seeds of a comparison, parsed without importing torch (the command line checks them first)."""

from __future__ import annotations

from collections.abc import Sequence


def parse_seeds(value: str | int | Sequence[int]) -> list[int]:
    """Seeds from ``N`` (-> ``0..N-1``), ``"0,3,7"`` or a sequence; refuses negatives and duplicates."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = [int(part) for part in text.split(",")] if "," in text else int(text)
        except ValueError:
            raise ValueError(
                f"seeds must be a count N (seeds 0..N-1) or a comma list like 0,3,7; got {text!r}"
            ) from None
    if isinstance(value, bool):
        raise TypeError(f"seeds must be a count or a list of integers, got {value!r}")
    if isinstance(value, int):
        if value < 1:
            raise ValueError(f"the number of seeds must be >= 1, got {value}")
        return list(range(value))
    seeds = list(value)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise ValueError(f"seeds must be integers >= 0, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {seeds!r}")
    return seeds
