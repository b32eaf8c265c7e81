"""Trainer features that must keep working under ChallengerTrainer: PEFT LoRA (also with
``modules_to_save``), gradient checkpointing (also with LoRA), and NEFTune together with Challenger."""

from __future__ import annotations

import pytest
import torch

from hf_challenger import ChallengerTrainer
from test_trainer_transformers import arguments, dataset
from tiny_transformers import FAMILIES

pytestmark = pytest.mark.usefixtures("one_thread")


def challenged_logs(trainer: ChallengerTrainer) -> list[dict]:
    logs = [log for log in trainer.state.log_history if "loss" in log]
    assert len(logs) == 2
    assert all(log["challenger_challenged_rows"] == 0.5 and log["challenger_changed_share"] > 0 for log in logs)
    assert all(log["challenger_mean_abs_relevance"] > 0 for log in logs)
    return logs


def snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("family, head", [("bert", "classifier"), ("llama", "score")])
@pytest.mark.parametrize("checkpointing", [False, True])
def test_peft_lora_trains_adapters_and_head_only(family, head, checkpointing, tmp_path) -> None:
    peft = pytest.importorskip("peft")
    base = FAMILIES[family].build("sdpa")
    targets = ["query", "value"] if family == "bert" else ["q_proj", "v_proj"]
    config = peft.LoraConfig(r=4, lora_alpha=8, target_modules=targets, modules_to_save=[head], task_type="SEQ_CLS")
    model = peft.get_peft_model(base, config)
    before = snapshot(model)
    args = arguments(tmp_path, "text", challenger_attribution_target="embeddings", gradient_checkpointing=checkpointing)
    trainer = ChallengerTrainer(model=model, args=args, train_dataset=dataset("text"))
    trainer.train()
    challenged_logs(trainer)
    after = snapshot(model)
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed, "nothing trained"
    assert all("lora_B" in name or "lora_A" in name or "modules_to_save" in name for name in changed), changed
    assert any("modules_to_save" in name for name in changed)  # the head copy trains
    assert not any(p.grad is not None and not p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("family", ["bert", "vit"])
def test_gradient_checkpointing(family, tmp_path) -> None:
    kind = FAMILIES[family].kind
    model = FAMILIES[family].build("sdpa")
    target = "embeddings" if kind == "text" else "input"
    args = arguments(tmp_path, kind, challenger_attribution_target=target, gradient_checkpointing=True)
    trainer = ChallengerTrainer(model=model, args=args, train_dataset=dataset(kind))
    trainer.train()
    assert model.is_gradient_checkpointing
    challenged_logs(trainer)


def test_neftune_with_challenger(tmp_path) -> None:
    """NEFTune's noise hook and Challenger's edit share the embedding output: both act in training,
    neither in the attribution pass (eval mode), and the run differs from Challenger alone."""
    results = []
    for alpha in (None, 5.0):
        model = FAMILIES["bert"].build("sdpa")
        args = arguments(tmp_path, "text", challenger_attribution_target="embeddings", neftune_noise_alpha=alpha)
        trainer = ChallengerTrainer(model=model, args=args, train_dataset=dataset("text"))
        trainer.train()
        results.append(challenged_logs(trainer))
    assert results[0][0]["challenger_mean_abs_relevance"] == results[1][0]["challenger_mean_abs_relevance"]
    assert results[0][0]["loss"] != results[1][0]["loss"]
