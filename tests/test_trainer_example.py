"""The README's "swap in Trainer" example, run as written (in a temporary directory)."""

from __future__ import annotations

import runpy
import textwrap

import torch

EXAMPLE = textwrap.dedent(
    """
    import torch
    from datasets import Dataset

    from hf_challenger import ChallengerTrainer, ChallengerTrainingArguments
    from hf_challenger.models import VGGConfig, VGGForImageClassification

    # Any dataset with "pixel_values" [3, 32, 32] and "labels"; random numbers keep the example self-contained.
    data = Dataset.from_dict(
        {"pixel_values": torch.randn(64, 3, 32, 32).tolist(), "labels": torch.randint(0, 10, (64,)).tolist()}
    ).with_format("torch")
    model = VGGForImageClassification(VGGConfig(depth=11, base_width=16, num_labels=10))

    args = ChallengerTrainingArguments(  # was: TrainingArguments
        output_dir="vgg11-challenger",
        num_train_epochs=1,
        per_device_train_batch_size=32,
        learning_rate=1e-3,
        logging_steps=1,
        report_to="none",
        challenger_top_k=5,  # attribute a class drawn from each row's top-5 logits
        challenger_num_features=0.05,  # change 5 % of each challenged image's features
        challenger_alpha=0.5,  # challenge A (first 25 % of a batch): x - alpha
        challenger_beta=0.5,  # challenge B (next 25 %): x + beta
    )
    trainer = ChallengerTrainer(model=model, args=args, train_dataset=data)  # was: Trainer
    trainer.train()
    print({k: v for k, v in trainer.state.log_history[0].items() if k.startswith("challenger_")})
    """
)


def test_readme_example_runs(tmp_path, monkeypatch, capsys) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        script = tmp_path / "example.py"
        script.write_text(EXAMPLE)
        monkeypatch.chdir(tmp_path)
        namespace = runpy.run_path(str(script))
    finally:
        torch.set_num_threads(threads)
    logs = namespace["trainer"].state.log_history[0]
    assert logs["challenger_challenged_rows"] == 0.5
    assert abs(logs["challenger_changed_share"] - 154 / 3072) < 1e-6  # round(0.05 * 3072) features per row
    assert "challenger_changed_share" in capsys.readouterr().out
