"""ChallengerTrainer under engines that shard the parameters (2 gloo processes on CPU).

Usage: ``torchrun --nproc_per_node 2 tests/sharded_train.py {zero2,zero3,fsdp2} OUT_DIR``; launched by
tests/test_sharded.py.

- ``zero3`` / ``zero2``: DeepSpeed ZeRO-3 / ZeRO-2 through ``ChallengerTrainer.train()`` (Trainer's own
  DeepSpeed path, through accelerate), float32.
- ``fsdp2``: torch's ``fully_shard`` on every BERT layer, the embeddings and the root, float64; each
  step is planned by ``ChallengerTrainer.plan_challenge`` and trained with a plain optimizer loop.

Both ranks also hold an unsharded replica that trains as one process would on the same global
batch (both ranks' rows, each with its rank's edit). At every challenged micro-batch the
attribution is replayed on the replica with the same random state, so the sharded relevance,
challenged rows, features and shifts are compared with a one-process run's; after the last step the
gathered parameters are compared with the replica's. The number of parameter elements held
unsharded is recorded during the attribution pass and during training forwards. Rank 0 writes
``OUT_DIR/result.json``.
"""

from __future__ import annotations

import json
import os
import sys

import torch
import torch.distributed as dist
from transformers import AutoModelForSequenceClassification, BertConfig

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_trainer_models import text_data  # noqa: E402

from hf_challenger import ChallengerTrainer, ChallengerTrainingArguments  # noqa: E402
from hf_challenger.challenge import ChallengePlanner, ModuleSite  # noqa: E402
from hf_challenger.lrp import EpsilonLRP  # noqa: E402

STEPS, ROWS, LR = 3, 4, 0.05


def build(dtype: torch.dtype) -> torch.nn.Module:
    config = BertConfig(
        vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=64, num_labels=3, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )  # fmt: skip
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_config(config, attn_implementation="sdpa").to(dtype)


class ReplayingPlanner(ChallengePlanner):
    """Replays every attribution on the trainer's unsharded ``replica`` with the same random state."""

    trainer: Replaying

    def record_relevance(self, relevance, allowed, step):
        self.captured = relevance
        super().record_relevance(relevance, allowed, step)

    def lrp_edit(self, sub, n_a, n_b, step):
        state = self.generator.get_state()
        edit = super().lrp_edit(sub, n_a, n_b, step)
        sharded = self.captured
        grads = [name for name, p in self.bound_model.named_parameters() if p.grad is not None]
        saved = (self.lrp, self.at, self.generator, self.bound_model)
        generator = torch.Generator().manual_seed(0)
        generator.set_state(state)
        cfg, replica = self.config, self.trainer.replica
        self.lrp = EpsilonLRP(replica, cfg.epsilon, cfg.attention_rule, cfg.unknown_layers)
        self.at, self.generator = replica.get_input_embeddings(), generator
        self.bound_model = replica
        try:
            reference = super().lrp_edit(sub, n_a, n_b, step)
        finally:
            self.lrp, self.at, self.generator, self.bound_model = saved
        self.trainer.checks.append(
            {
                "relevance_error": float((sharded - self.captured).norm() / self.captured.norm()),
                "relevance_norm": float(self.captured.norm()),
                "same_features": torch.equal(edit.mask, reference.mask),
                "same_shift": torch.equal(edit.shift, reference.shift),
                "rows": edit.rows,
                "grads_after_pass": grads,
            }
        )
        self.trainer.edits.append(edit)
        return edit


class Replaying(ChallengerTrainer):
    """A trainer whose planner replays every attribution on ``replica`` (:class:`ReplayingPlanner`)."""

    replica: torch.nn.Module
    checks: list[dict]
    edits: list

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.challenger_planner.__class__ = ReplayingPlanner  # keeps the planner's bound site and engine
        self.challenger_planner.trainer = self


def replica_step(replica: torch.nn.Module, site: ModuleSite, inputs: dict, edit, optimizer) -> None:
    """One step of the one-process run: the mean loss over both ranks' rows, each with its edit."""
    batches = [None, None]
    dist.all_gather_object(batches, ({k: v for k, v in inputs.items()}, edit))
    losses = []
    for batch, row_edit in batches:
        with site.editing(batch, row_edit.apply):
            losses.append(replica(**batch).loss)
    optimizer.zero_grad()
    (sum(losses) / len(losses)).backward()
    optimizer.step()


class Census:
    """Largest number of parameter elements held unsharded at a module's entry, in and out of the pass."""

    def __init__(self, model: torch.nn.Module, trainer: ChallengerTrainer, held) -> None:
        self.most = {"pass": 0, "training": 0}
        self.total = sum(held(p, full=True) for p in model.parameters())

        def probe(module, args):
            engine = trainer.challenger_planner.lrp
            during = engine is not None and engine._state is not None
            count = sum(held(p) for p in model.parameters())
            key = "pass" if during else "training"
            self.most[key] = max(self.most[key], count)

        for module in model.modules():
            module.register_forward_pre_hook(probe)


def arguments(out: str, **extra) -> ChallengerTrainingArguments:
    return ChallengerTrainingArguments(
        output_dir=out, max_steps=STEPS, per_device_train_batch_size=ROWS, learning_rate=LR,
        lr_scheduler_type="constant", max_grad_norm=0.0, weight_decay=0.0, report_to="none",
        save_strategy="no", logging_steps=1, disable_tqdm=True, seed=5, average_tokens_across_devices=False,
        challenger_attribution_target="embeddings", challenger_top_k=2, **extra,
    )  # fmt: skip


def run_zero(out: str, stage: int) -> dict:
    from deepspeed.runtime.zero.partition_parameters import ZeroParamStatus

    replica = build(torch.float32)
    initial = {name: p.detach().clone() for name, p in replica.named_parameters()}
    config = {
        "zero_optimization": {
            "stage": stage, "stage3_param_persistence_threshold": 0, "stage3_prefetch_bucket_size": 0,
            "stage3_max_live_parameters": 0,
        },
        "train_micro_batch_size_per_gpu": "auto", "gradient_accumulation_steps": "auto",
        "optimizer": {"type": "SGD", "params": {"lr": "auto"}}, "zero_allow_untested_optimizer": True,
        "gradient_clipping": "auto",
    }  # fmt: skip
    model = build(torch.float32)
    trainer = Replaying(model=model, args=arguments(out, deepspeed=config), train_dataset=text_data(rows=32, vocab=64))
    trainer.replica, trainer.checks, trainer.edits = replica, [], []
    reference, site = replica, ModuleSite(replica.get_input_embeddings())
    optimizer = torch.optim.SGD(reference.parameters(), lr=LR)

    def held(p, full=False):
        if stage < 3:  # ZeRO-1/2 keep every parameter whole on every rank
            return p.numel()
        return p.ds_numel if full or p.ds_status == ZeroParamStatus.AVAILABLE else 0

    census: list[Census] = []
    plain_step = ChallengerTrainer.training_step

    def training_step(self, model, inputs, num_items_in_batch=None):
        if not census:
            census.append(Census(self.accelerator.unwrap_model(model), self, held))
        loss = plain_step(self, model, inputs, num_items_in_batch)
        replica_step(reference, site, self._prepare_inputs(inputs), self.edits[-1], optimizer)
        return loss

    Replaying.training_step = training_step
    trainer.train()
    import deepspeed

    inner = trainer.accelerator.unwrap_model(trainer.model_wrapped)
    with deepspeed.zero.GatheredParameters(list(inner.parameters()), enabled=stage == 3):
        gathered = {name: p.detach().clone() for name, p in inner.named_parameters()}
    return finish(trainer.checks, gathered, reference, census[0], initial)


def run_fsdp2(out: str) -> dict:
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor import DTensor

    mesh = init_device_mesh("cpu", (dist.get_world_size(),))
    reference = build(torch.float64)
    initial = {name: p.detach().clone() for name, p in reference.named_parameters()}
    model = build(torch.float64)
    for layer in model.bert.encoder.layer:
        fully_shard(layer, mesh=mesh)
    fully_shard(model.bert.embeddings, mesh=mesh)
    fully_shard(model, mesh=mesh)
    trainer = Replaying(model=model, args=arguments(out, use_cpu=True, ddp_backend="gloo"))
    trainer.replica, trainer.checks, trainer.edits = reference, [], []
    site = ModuleSite(reference.get_input_embeddings())
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    reference_optimizer = torch.optim.SGD(reference.parameters(), lr=LR)

    def held(p, full=False):
        if full:
            return p.numel()  # a DTensor's numel is its global size
        return 0 if isinstance(p, DTensor) else p.numel()

    census = Census(model, trainer, held)
    data = text_data(rows=ROWS * 2 * STEPS, vocab=64)
    rank = dist.get_rank()
    for step in range(STEPS):
        start = (2 * step + rank) * ROWS
        keys = ("input_ids", "attention_mask", "labels")
        batch = {key: torch.stack([torch.as_tensor(data[start + i][key]) for i in range(ROWS)]) for key in keys}
        inputs, edit = trainer.plan_challenge(model, batch)
        with trainer.challenger_planner.site.editing(inputs, edit) as edited:
            loss = model(**edited).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        replica_step(reference, site, inputs, trainer.edits[-1], reference_optimizer)
    gathered = {
        name: (p.full_tensor() if isinstance(p, DTensor) else p).detach().clone() for name, p in model.named_parameters()
    }
    result = finish(trainer.checks, gathered, reference, census, initial)
    result["bf16"] = bf16_relevance(mesh, batch)
    return result


def bf16_relevance(mesh, batch: dict) -> dict:
    """FSDP2 with bf16 compute weights (``param_dtype``): the pass's dtype and its distance to the
    relevance of the same float32 model unsharded."""
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    full = build(torch.float32).eval()
    model = build(torch.float32)
    policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    for layer in model.bert.encoder.layer:
        fully_shard(layer, mesh=mesh, mp_policy=policy)
    fully_shard(model, mesh=mesh, mp_policy=policy)
    inputs = {key: batch[key] for key in ("input_ids", "attention_mask")}
    targets = torch.tensor([0, 1, 2, 0])
    expected = EpsilonLRP(full).attribute(inputs, targets, at=full.get_input_embeddings())
    relevance = EpsilonLRP(model).attribute(inputs, targets, at=model.get_input_embeddings())
    return {"dtype": str(relevance.dtype), "error": float((relevance - expected).norm() / expected.norm())}


def finish(checks, gathered, reference, census, initial) -> dict:
    """Compare the gathered parameters with the one-process run's: the error relative to the size of
    the update that training made (all parameters flattened, float64)."""
    names = sorted(initial)
    references = dict(reference.named_parameters())

    def flat(tensors):
        return torch.cat([tensors[name].detach().reshape(-1).double() for name in names])

    ours, theirs, start = flat(gathered), flat(references), flat(initial)
    ranks = [torch.zeros_like(ours) for _ in range(2)]
    dist.all_gather(ranks, ours)
    return {
        "checks": checks,
        "update_error": float((ours - theirs).norm() / (theirs - start).norm()),
        "update_size": float((theirs - start).norm() / start.norm()),
        "ranks_equal": torch.equal(ranks[0], ranks[1]),
        "census": census.most,
        "total": census.total,
    }


def main() -> None:
    engine, out = sys.argv[1], sys.argv[2]
    torch.set_num_threads(1)
    if engine == "fsdp2":
        dist.init_process_group("gloo")
    result = run_fsdp2(out) if engine == "fsdp2" else run_zero(out, stage={"zero2": 2, "zero3": 3}[engine])
    result["world_size"] = dist.get_world_size()
    results = [None, None]
    dist.all_gather_object(results, result)
    if dist.get_rank() == 0:
        with open(os.path.join(out, "result.json"), "w", encoding="utf-8") as handle:
            json.dump(results, handle)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
