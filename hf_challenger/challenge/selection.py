"""Step 4 of Challenger: which features of each row are challenged."""

from __future__ import annotations

import torch
from torch import Tensor


def candidate_mask(
    shape: torch.Size,
    attention_mask: Tensor | None = None,
    feature_mask: Tensor | None = None,
    device: torch.device | str | None = None,
) -> Tensor | None:
    """Features that may be challenged, as a bool tensor of ``shape`` (or ``None``: all may).

    Args:
        shape: shape of the attributed rows, ``[R, *F]``.
        attention_mask: ``[R, L]`` (or ``[R, L]``-prefixed) with 0 on padding. Applies when the
            attributed tensor starts with the same ``[R, L]`` (e.g. embeddings ``[R, L, D]``) and
            is broadcast over the remaining dimensions.
        feature_mask: user mask broadcastable to ``shape[1:]`` (one row) or to ``shape``;
            ``True``/nonzero = may be challenged (e.g. ``False`` on zero-padded image borders).
        device: device of the result.

    Raises:
        ValueError: when a mask cannot be aligned with ``shape`` (names both shapes).
    """
    allowed: Tensor | None = None
    if attention_mask is not None:
        lead = tuple(attention_mask.shape)
        if len(shape) < len(lead) or tuple(shape[: len(lead)]) != lead:
            raise ValueError(
                f"attention_mask of shape {lead} does not match the leading dimensions of the attributed "
                f"tensor of shape {tuple(shape)}"
            )
        view = lead + (1,) * (len(shape) - len(lead))
        allowed = attention_mask.to(device=device).bool().reshape(view).expand(shape)
    if feature_mask is not None:
        user = feature_mask.to(device=device).bool()
        try:
            user = user.expand(shape) if user.dim() == len(shape) else user.unsqueeze(0).expand(shape)
        except RuntimeError:
            raise ValueError(
                f"feature_mask of shape {tuple(feature_mask.shape)} does not broadcast to one row "
                f"{tuple(shape[1:])} or to the rows {tuple(shape)} of the attributed tensor"
            ) from None
        allowed = user if allowed is None else allowed & user
    return allowed


def select_features(
    scores: Tensor,
    num: int,
    allowed: Tensor | None = None,
    largest: Tensor | None = None,
    generator: torch.Generator | None = None,
    limit: Tensor | None = None,
) -> Tensor:
    """Per row, the ``num`` features with the highest (or lowest) score; ties broken at random.

    Ties are common (many features have exactly zero relevance) and are broken at random, never by
    position: each score (as float32, ``-0.0`` counted as ``+0.0``) is mapped to an order-preserving
    32-bit integer and extended by 32 random bits, and one ``topk`` over these 64-bit keys picks the
    features. Features outside ``allowed`` are never chosen; a row with fewer than ``num`` allowed
    features gets all of them. Vectorised, no host sync.

    Args:
        scores: ``[R, *F]`` relevance (or any score); flattened per row over all feature dims.
        num: ``N`` in ``[1, prod(F)]`` (the caller clamps).
        allowed: bool ``[R, *F]`` or ``None`` (all allowed).
        largest: bool ``[R]``: ``True`` takes the top-N of the row, ``False`` the bottom-N;
            ``None`` takes the top-N of every row.
        generator: source of the tie-breaking bits (on ``scores.device``).
        limit: int64 ``[R]``, optional per-row counts ``<= num``: row ``r`` keeps only its best
            ``limit[r]`` features (e.g. a fraction of that row's candidates).

    Returns:
        bool ``[R, *F]``, ``True`` on the chosen features.
    """
    rows = scores.shape[0]
    flat = scores.detach().reshape(rows, -1).float()
    total = flat.shape[1]
    if not 1 <= num <= total:
        raise ValueError(f"num must be in [1, {total}] (features per row); got {num}")
    if largest is not None:
        flat = torch.where(largest.reshape(rows, 1), flat, -flat)
    if allowed is not None:
        flat = flat.masked_fill(~allowed.reshape(rows, total), float("-inf"))
    bits = (flat + 0.0).view(torch.int32)  # + 0.0 turns -0.0 into +0.0, so both zeros tie
    ordered = torch.where(bits < 0, bits ^ 0x7FFFFFFF, bits).to(torch.int64)  # int order == float order
    tie_break = torch.randint(0, 2**32, (rows, total), generator=generator, device=flat.device, dtype=torch.int64)
    index = (ordered * 2**32 + tie_break).topk(num, dim=1, sorted=True).indices
    keep = torch.ones(rows, num, dtype=torch.bool, device=flat.device)
    if allowed is not None:
        keep = allowed.reshape(rows, total).gather(1, index)
    if limit is not None:
        keep = keep & (torch.arange(num, device=flat.device)[None, :] < limit.reshape(rows, 1))
    chosen = torch.zeros(rows, total, dtype=torch.bool, device=flat.device)
    chosen.scatter_(1, index, keep)
    return chosen.reshape(scores.shape)


def degenerate_rows(scores: Tensor, allowed: Tensor | None = None) -> Tensor:
    """Rows whose score is the same on all their candidate features (all zero, say), where top-N and
    bottom-N are the same random draw: bool ``[R]``, no host sync.

    ``scores`` ``[R, *F]``; ``allowed`` bool ``[R, *F]`` or ``None`` (all candidates). A row without
    candidates is not degenerate (nothing is chosen in it).
    """
    rows = scores.shape[0]
    flat = scores.detach().reshape(rows, -1)
    if allowed is None:
        return flat.amax(1) == flat.amin(1)
    mask = allowed.reshape(rows, -1)
    highest = flat.masked_fill(~mask, float("-inf")).amax(1)
    lowest = flat.masked_fill(~mask, float("inf")).amin(1)
    return (highest == lowest) & mask.any(1)


def coin_flips(rows: int, generator: torch.Generator | None = None, device: torch.device | str | None = None) -> Tensor:
    """Fair per-row coin: bool ``[rows]``, ``True`` = take the top-N, ``False`` = the bottom-N."""
    return torch.randint(0, 2, (rows,), generator=generator, device=device).bool()
