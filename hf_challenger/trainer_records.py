"""What ``ChallengerTrainer`` adds to ``Trainer``'s bookkeeping: the entry checks of ``train`` and its
data loader, the Challenger metrics in the logs (and the warnings read at logging steps), the
non-finite checks before saving and of the gradient norm, the model card section, and the Challenger
random state in checkpoints.

:class:`ChallengerRecords` is the base class of :class:`~hf_challenger.ChallengerTrainer`, which sets the
attributes it reads (``challenger_config``, ``challenger_enabled``, ``challenger_stats``,
``challenger_generator``, ``challenger_planner`` and the guards).
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import torch
from torch import nn
from transformers import Trainer

from .challenge.finite import GRAD_NORM
from .guards import load_generator_state, refuse_bad_label_column, refuse_empty_dataset
from .resume import resolve_resume

RNG_STATE_NAME = "challenger_rng_state"


class ChallengerRecords(Trainer):
    """Logging, checkpoint and entry-check overrides of ``Trainer`` for Challenger (see the module docstring)."""

    # ------------------------------------------------------------------ entry checks

    def train(self, resume_from_checkpoint: str | bool | None = None, *args: Any, **kwargs: Any) -> Any:
        """``Trainer.train``; ``resume_from_checkpoint=True`` skips incomplete checkpoints (warning), and the
        checkpoint's files are checked before resuming (:mod:`hf_challenger.resume`)."""
        return super().train(resolve_resume(resume_from_checkpoint, self.args.output_dir), *args, **kwargs)

    def get_train_dataloader(self):
        """``Trainer.get_train_dataloader``, refusing a training set without rows or with a label column that is
        not numeric (naming it)."""
        refuse_empty_dataset(self.train_dataset)
        refuse_bad_label_column(self.train_dataset, sorted(self._label_keys()))
        return super().get_train_dataloader()

    # ------------------------------------------------------------------ warnings

    def _warn_degenerate(self) -> None:
        """Warn once, at a logging step, about the first challenged rows with degenerate relevance."""
        planner = self.challenger_planner
        pending, planner.degenerate = planner.degenerate, []
        for step, rows in pending:
            if "degenerate" in self._warned:
                return
            indices = torch.nonzero(rows).flatten().tolist()
            if indices:
                self._warn_once(
                    "degenerate",
                    f"at step {step} the relevance of challenged row(s) {indices} was the same on all their "
                    "candidate features (e.g. all zero: BatchNorm statistics still at their initial values), so "
                    "their top-N and bottom-N were a random draw; counted in challenger_degenerate_rows",
                )
                planner.watch_degenerate = False  # warned: later rows are counted, not kept

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(f"ChallengerTrainer: {message}", UserWarning, stacklevel=3)

    # ------------------------------------------------------------------ logging and checkpoints

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """``Trainer.log``, with Challenger's metrics added to the training-loss logs."""
        self._finite.poll(wait=True)  # CUDA checks not yet read
        if self.challenger_enabled and "loss" in logs:
            stats = self.challenger_stats.report(
                lambda t: self.accelerator.reduce(t, reduction="sum"), max(self.args.world_size, 1)
            )
            self._warn_degenerate()
            if stats["challenger_short_rows"] > 0:
                self._warn_once(
                    "short",
                    f"{int(stats['challenger_short_rows'])} challenged row(s) had fewer candidate features than "
                    "num_features (padding / feature_mask); they were given all their candidates",
                )
            logs.update(stats)
        super().log(logs, start_time)

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """``Trainer.save_model`` (checkpoints too), after every pending non-finite check has been read."""
        self._finite.poll(wait=True)
        super().save_model(output_dir, _internal_call)

    def _get_grad_norm(self, model: nn.Module, grad_norm: Any = None) -> Any:
        """``Trainer``'s gradient norm of the step, checked to be finite before the optimizer steps (CPU) or
        a few steps later without a host sync (CUDA). Not under fp16, whose loss scaling skips such steps."""
        grad_norm = super()._get_grad_norm(model, grad_norm=grad_norm)
        if grad_norm is not None and not self.args.fp16:
            norm = grad_norm if torch.is_tensor(grad_norm) else torch.tensor(float(grad_norm))
            norm = norm.full_tensor() if hasattr(norm, "full_tensor") else norm  # a sharded (DTensor) norm
            self._finite.check_training(norm, self.state.global_step, self.model, {}, GRAD_NORM)  # NaN/inf: error
        return grad_norm

    def create_model_card(self, *args: Any, tags: str | list[str] | None = None, **kwargs: Any) -> None:
        """``Trainer.create_model_card``, tagged ``challenger`` and with a section of the method's settings."""
        tags = [tags] if isinstance(tags, str) else list(tags or [])
        if self.challenger_enabled and "challenger" not in tags:
            tags.append("challenger")
        super().create_model_card(*args, tags=tags, **kwargs)
        path = os.path.join(self.args.output_dir, "README.md")
        if not self.is_world_process_zero() or not os.path.isfile(path):
            return
        lines = ["", "## Challenger", ""]
        if self.challenger_enabled:
            lines.append("Trained with Challenger (Tomani & Cremers, arXiv 2205.15094) using hf-challenger:")
            lines.append("")
            lines += [f"- {name}: {value}" for name, value in self.challenger_config.to_dict().items()]
        else:
            lines.append("Challenger was disabled (`challenger_enabled=False`): plain training.")
        with open(path, "a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")

    def _rng_file(self, directory: str) -> str:
        suffix = f"_{self.args.process_index}" if self.args.world_size > 1 else ""
        return os.path.join(directory, f"{RNG_STATE_NAME}{suffix}.pth")

    def _save_rng_state(self, output_dir: str) -> None:
        super()._save_rng_state(output_dir)
        torch.save({"generator": self.challenger_generator.get_state()}, self._rng_file(output_dir))

    def _load_rng_state(self, checkpoint: str | None) -> None:
        super()._load_rng_state(checkpoint)
        if checkpoint is None:
            return
        path = self._rng_file(checkpoint)
        if not os.path.isfile(path):
            self._warn_once(
                "rng",
                f"{path} not found: Challenger's random draws after resuming will differ from an uninterrupted run",
            )
            return
        load_generator_state(path, self.challenger_generator)

