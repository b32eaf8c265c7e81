"""``torch_compile=True``: the training forward and backward stay compiled, the attribution pass runs
eagerly on the original module, and the compiled graphs do not multiply with the steps."""

from __future__ import annotations

import pytest
import torch
from torch._dynamo.utils import counters
from transformers import TrainerCallback

from hf_challenger import ChallengerTrainer, ChallengerTrainingArguments
from test_trainer_models import DictDataset, text_data
from tiny_transformers import FAMILIES, IMAGE

STEPS = 5


class GraphCount(TrainerCallback):
    """Dynamo's count of distinct compiled graphs after each optimizer step."""

    def __init__(self) -> None:
        self.after_step: list[int] = []

    def on_step_end(self, args, state, control, **kwargs):
        self.after_step.append(counters["stats"]["unique_graphs"])


def image_data(rows: int = 24) -> DictDataset:
    gen = torch.Generator().manual_seed(0)
    return DictDataset(
        pixel_values=torch.randn(rows, 3, IMAGE, IMAGE, generator=gen), labels=torch.randint(0, 3, (rows,), generator=gen)
    )


def train(family: str, compiled: bool, tmp_path) -> tuple[torch.Tensor, list[int], list[dict]]:
    torch._dynamo.reset()
    counters.clear()
    model = FAMILIES[family].build("sdpa").train()
    text = FAMILIES[family].kind == "text"
    args = ChallengerTrainingArguments(
        output_dir=str(tmp_path / f"{family}-{compiled}"), max_steps=STEPS, per_device_train_batch_size=4,
        learning_rate=0.01, lr_scheduler_type="constant", report_to="none", save_strategy="no", logging_steps=1,
        disable_tqdm=True, seed=3, use_cpu=True, torch_compile=compiled, torch_compile_backend="aot_eager",
        challenger_attribution_target="embeddings" if text else "input", challenger_top_k=2,
    )  # fmt: skip
    data = text_data(rows=24, vocab=64) if text else image_data()
    trainer = ChallengerTrainer(model=model, args=args, train_dataset=data)
    graphs = GraphCount()
    trainer.add_callback(graphs)
    trainer.train()
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    return flat, graphs.after_step, [log for log in trainer.state.log_history if "loss" in log]


@pytest.mark.parametrize("family", ["bert", "vit"])
def test_compiled_training_matches_eager_and_does_not_recompile(family, tmp_path, one_thread) -> None:
    eager, _, eager_logs = train(family, False, tmp_path)
    compiled, graphs, logs = train(family, True, tmp_path)
    assert graphs[0] > 0  # the training step ran compiled
    assert graphs[1:] == [graphs[1]] * (STEPS - 1), graphs  # no new graph after the second step
    assert all(log["challenger_changed_share"] > 0 and log["challenger_mean_abs_relevance"] > 0 for log in logs)
    error = float((compiled - eager).norm() / eager.norm())
    assert error <= 1e-5, error
    assert [round(log["loss"], 4) for log in logs] == [round(log["loss"], 4) for log in eager_logs]
