"""Challenger's own training metrics, accumulated as tensors and read only at logging steps."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import Tensor

# Order of the running sums in ChallengerStats.sums.
_FIELDS = (
    "changed_share",
    "challenged_batches",
    "challenged_rows",
    "rows",
    "abs_relevance",
    "relevance_batches",
    "short_rows",
    "degenerate_rows",
)


class ChallengerStats:
    """Running sums over the micro-batches since the last log; no host sync while training.

    Reported by :meth:`report` (once per logging step, summed over processes by ``reduce``):

    - ``challenger_changed_share``: share of the challenged rows' features that were changed
      (mean over challenged micro-batches; for FGSM/PGD: the share of candidate features, all of
      which may move);
    - ``challenger_challenged_rows``: share of all training rows that were challenged;
    - ``challenger_attribution_seconds``: wall time per optimizer step (mean over processes) of
      the extra pass: the LRP attribution, or the FGSM/PGD gradient steps (0 for random selection).
      On CUDA it is measured with CUDA events, on CPU with ``time.perf_counter``;
    - ``challenger_mean_abs_relevance``: mean ``|relevance|`` over the candidate features
      (LRP selection only);
    - ``challenger_short_rows``: challenged rows that had fewer candidates than ``N``;
    - ``challenger_degenerate_rows``: challenged rows whose relevance was the same on all their
      candidates (all zero, e.g. a network whose BatchNorm statistics are still at their initial
      values): their top-N and bottom-N are one random draw (LRP selection only).
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._sums = torch.zeros(len(_FIELDS), dtype=torch.float64, device=device)
        self._seconds = 0.0
        self._events: list[tuple[torch.cuda.Event, torch.cuda.Event]] = []
        self._optimizer_steps = 0

    def count_optimizer_step(self) -> None:
        """Count one optimizer step (challenged or not) for the per-step attribution time."""
        self._optimizer_steps += 1

    def add(self, name: str, value: Tensor | float) -> None:
        """Add ``value`` (a 0-d tensor or a number) to the running sum ``name``."""
        index = _FIELDS.index(name)
        self._sums[index] += value.detach().to(self._sums.dtype) if torch.is_tensor(value) else float(value)

    def add_seconds(self, seconds: float) -> None:
        """Add host-measured attribution time."""
        self._seconds += seconds

    def add_events(self, start: torch.cuda.Event, end: torch.cuda.Event) -> None:
        """Add a CUDA-timed block; read at :meth:`report` (pairs that already finished are folded in
        early, without blocking, so the list stays short when nothing is logged)."""
        self._events.append((start, end))
        if len(self._events) > 64:
            done = [pair for pair in self._events if pair[1].query()]
            self._seconds += sum(first.elapsed_time(last) / 1000.0 for first, last in done)
            self._events = [pair for pair in self._events if pair not in done]

    def timed(self) -> _Timer:
        """Context manager that adds the duration of its block to the attribution time."""
        return _Timer(self)

    def report(self, reduce: Callable[[Tensor], Tensor], world_size: int) -> dict[str, float]:
        """Metrics since the last call (then reset). ``reduce`` sums a tensor over processes."""
        for _, end in self._events:
            end.synchronize()
        seconds = self._seconds + sum(start.elapsed_time(end) / 1000.0 for start, end in self._events)
        packed = torch.cat([self._sums, torch.tensor([seconds], dtype=torch.float64, device=self.device)])
        total = reduce(packed).tolist()
        sums = dict(zip(_FIELDS, total[:-1]))
        logs = {
            "challenger_changed_share": sums["changed_share"] / max(sums["challenged_batches"], 1.0),
            "challenger_challenged_rows": sums["challenged_rows"] / max(sums["rows"], 1.0),
            "challenger_attribution_seconds": total[-1] / max(self._optimizer_steps * world_size, 1),
            "challenger_short_rows": sums["short_rows"],
        }
        if sums["relevance_batches"] > 0:
            logs["challenger_degenerate_rows"] = sums["degenerate_rows"]
        if sums["relevance_batches"] > 0:
            logs["challenger_mean_abs_relevance"] = sums["abs_relevance"] / sums["relevance_batches"]
        self._sums.zero_()
        self._seconds = 0.0
        self._events.clear()
        self._optimizer_steps = 0
        return logs


class _Timer:
    """Times one block: CUDA events on a CUDA device (read later, no sync), else ``perf_counter``."""

    def __init__(self, stats: ChallengerStats) -> None:
        self.stats = stats
        self.cuda = stats.device.type == "cuda"

    def __enter__(self) -> _Timer:
        if self.cuda:
            self.start = torch.cuda.Event(enable_timing=True)
            self.start.record()
        else:
            self.start_s = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.cuda:
            end = torch.cuda.Event(enable_timing=True)
            end.record()
            self.stats.add_events(self.start, end)
        else:
            self.stats.add_seconds(time.perf_counter() - self.start_s)
