"""The README's "swap in Trainer" examples (VGG, BERT, a plain nn.Module), read from README.md and run as written."""

from __future__ import annotations

import runpy
from pathlib import Path

import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example(index: int = 0) -> str:
    """The ``index``-th python block after the README's "Swap in for `Trainer`" heading."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Swap in for `Trainer`") :]
    return section.split("```python\n")[index + 1].split("```", 1)[0]


def run_example(index: int, tmp_path, monkeypatch) -> dict:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        script = tmp_path / "example.py"
        script.write_text(readme_example(index))
        monkeypatch.chdir(tmp_path)
        return runpy.run_path(str(script))
    finally:
        torch.set_num_threads(threads)


def test_readme_transformers_example_runs(tmp_path, monkeypatch) -> None:
    namespace = run_example(1, tmp_path, monkeypatch)
    trainer = namespace["trainer"]
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logs) == 4 and all(entry["challenger_changed_share"] > 0 for entry in logs)
    assert type(trainer.model).__name__ == "BertForSequenceClassification"
    engine = trainer.challenger_planner.lrp
    assert engine is not None and engine.attention_rule == "attnlrp"


def test_readme_example_runs(tmp_path, monkeypatch, capsys) -> None:
    namespace = run_example(0, tmp_path, monkeypatch)
    logs = namespace["trainer"].state.log_history[0]
    assert logs["challenger_challenged_rows"] == 0.5
    assert abs(logs["challenger_changed_share"] - 154 / 3072) < 1e-6  # round(0.05 * 3072) features per row
    assert "challenger_changed_share" in capsys.readouterr().out


def test_readme_own_module_example_runs(tmp_path, monkeypatch) -> None:
    namespace = run_example(2, tmp_path, monkeypatch)
    trainer = namespace["trainer"]
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logs) == 3 and all(entry["challenger_changed_share"] > 0 for entry in logs)
    assert type(trainer.model).__name__ == "SignalNet" and trainer.challenger_planner.input_key == "signal"
