"""Two-process DDP run of ChallengerTrainer (gloo, CPU), launched by tests/test_trainer_ddp.py.

Usage: ``torchrun --nproc_per_node 2 tests/ddp_train.py OUT_DIR``. Trains the tiny image model
(input attribution, gradient accumulation so DDP's ``no_sync`` path runs) and the tiny text model
(embedding hook through the DDP wrapper) and a tiny BERT from transformers (the transformer rules
under DDP), checks that both ranks end with identical weights, and rank 0 writes ``OUT_DIR/result.json`` with the logged Challenger metrics.
"""

from __future__ import annotations

import json
import os
import sys

import torch
import torch.distributed as dist

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_trainer_models import TinyConvNet, TinyTextNet, image_data, text_data  # noqa: E402
from tiny_transformers import FAMILIES  # noqa: E402

from hf_challenger.trainer import ChallengerTrainer  # noqa: E402
from hf_challenger.training_args import ChallengerTrainingArguments  # noqa: E402


class Recording(ChallengerTrainer):
    """Keeps each micro-batch's clean model input (embedding output for text) as the data loader gave it."""

    clean: list[torch.Tensor]

    def training_step(self, model, inputs, num_items_in_batch=None):
        self.clean = getattr(self, "clean", [])
        base = model.module
        clean = inputs[base.main_input_name]
        if clean.dtype == torch.long and hasattr(base, "seen"):  # text: the clean embedding output, with this step's weights
            clean = base.get_input_embeddings()(clean)
        self.clean.append(clean.detach().clone())
        return super().training_step(model, inputs, num_items_in_batch)


def train(model: torch.nn.Module, data, out: str, **challenger) -> list[dict]:
    args = ChallengerTrainingArguments(
        output_dir=out,
        max_steps=3,
        per_device_train_batch_size=4,
        gradient_accumulation_steps=2,
        learning_rate=0.05,
        use_cpu=True,
        ddp_backend="gloo",
        ddp_find_unused_parameters=False,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
        seed=5,
        **challenger,
    )
    trainer = Recording(model=model, args=args, train_dataset=data)
    trainer.train()
    assert trainer.args.world_size == 2, trainer.args.world_size
    assert isinstance(trainer.model_wrapped, torch.nn.parallel.DistributedDataParallel)
    if hasattr(model, "seen"):  # the tiny test models record what their training forward saw
        assert len(model.seen) == len(trainer.clean) == 6  # 3 steps x 2 micro-batches on this rank
        for seen, clean in zip(model.seen, trainer.clean):
            changed = (seen != clean).reshape(len(seen), -1).any(dim=1)
            assert changed.tolist() == [True, True, False, False], changed  # rows A, B; clean rows intact
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    gathered = [torch.zeros_like(flat) for _ in range(2)]
    dist.all_gather(gathered, flat)
    assert torch.equal(gathered[0], gathered[1]), "ranks diverged"
    return [log for log in trainer.state.log_history if "loss" in log]


def main() -> None:
    out = sys.argv[1]
    torch.set_num_threads(1)
    torch.manual_seed(0)
    image_logs = train(TinyConvNet(), image_data(rows=32), out, challenger_num_features="5", challenger_top_k=2)
    text_logs = train(
        TinyTextNet(), text_data(rows=32), out, challenger_attribution_target="embeddings", challenger_top_k=2
    )
    bert_logs = train(
        FAMILIES["bert"].build("sdpa"), text_data(rows=32, vocab=64), out,
        challenger_attribution_target="embeddings", challenger_top_k=2,
    )  # fmt: skip
    if dist.get_rank() == 0:
        with open(os.path.join(out, "result.json"), "w", encoding="utf-8") as handle:
            logs = {"image": image_logs, "text": text_logs, "bert": bert_logs}
            json.dump({**logs, "world_size": dist.get_world_size()}, handle)
    dist.barrier()
    dist.destroy_process_group()  # a process group left alive can abort the interpreter at exit


if __name__ == "__main__":
    main()
