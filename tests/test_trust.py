"""Code in a checkpoint folder never runs unless the recipe opts in (``model.trust_remote_code``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from data_fixtures import write_bydate
from pretrained_fixtures import bydate_texts, write_tiny_bert

from hf_challenger.experiments.checkpoint import checkpoint_config
from hf_challenger.experiments.recipe import RecipeError, parse_recipe

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.usefixtures("one_thread")

CUSTOM_CONFIG = """
from pathlib import Path
from transformers import BertConfig

Path({marker!r}).write_text("custom code ran")


class EvilConfig(BertConfig):
    model_type = "evil-bert"
"""


def write_custom_code_checkpoint(folder: Path, news: Path, marker: Path) -> Path:
    """A tiny BERT whose config.json names a model type transformers does not know and points its
    ``auto_map`` at a Python file of the folder that writes ``marker`` when imported."""
    write_tiny_bert(folder, bydate_texts(news))
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "evil-bert"
    config["auto_map"] = {
        "AutoConfig": "configuration_evil.EvilConfig",
        "AutoModelForSequenceClassification": "modeling_evil.EvilModel",
    }
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "configuration_evil.py").write_text(CUSTOM_CONFIG.format(marker=str(marker)))
    (folder / "modeling_evil.py").write_text(
        "from transformers import BertForSequenceClassification\n"
        "from .configuration_evil import EvilConfig\n\n\n"
        "class EvilModel(BertForSequenceClassification):\n    config_class = EvilConfig\n"
    )
    return folder


@pytest.fixture(scope="module")
def news(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("news")
    write_bydate(root, per_group=6)
    return root


def recipe_of(checkpoint: Path, cache: Path, **model) -> dict:
    return {
        "name": "custom_code",
        "model": {"pretrained": str(checkpoint), **model},
        "data": {"benchmark": "20newsgroups", "options": {"max_length": 16, "validation_size": 3,
                                                           "cache_dir": str(cache)}},
        "training": {"max_steps": 1, "per_device_train_batch_size": 8, "report_to": "none", "use_cpu": True,
                     "save_strategy": "no", "challenger_attribution_target": "embeddings", "challenger_top_k": 2},
        "arms": {"base": {"challenger_enabled": False}},
    }  # fmt: skip


def test_custom_code_in_a_checkpoint_folder_never_runs_even_with_yes_on_stdin(news, tmp_path):
    marker = tmp_path / "ran.txt"
    checkpoint = write_custom_code_checkpoint(tmp_path / "evil", news, marker)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe_of(checkpoint, tmp_path / "c")))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "hf_challenger.cli", "train", str(path), "--arm", "base", "--data_dir", str(news),
         "--output_dir", str(tmp_path / "out")],
        input="y\n" * 50, capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert not marker.exists(), "the checkpoint's code ran"
    assert done.returncode != 0, done.stderr[-3000:]
    assert "ships its own Python code" in done.stderr and "model.trust_remote_code: true" in done.stderr
    assert "Do you wish to run the custom code" not in done.stdout + done.stderr  # never asked


def test_trust_remote_code_is_a_recipe_opt_in(news, tmp_path):
    marker = tmp_path / "ran.txt"
    checkpoint = write_custom_code_checkpoint(tmp_path / "evil", news, marker)
    refused = parse_recipe(recipe_of(checkpoint, tmp_path / "c"), source="r.yaml")
    assert refused.checkpoint.trust_remote_code is False
    with pytest.raises(RecipeError, match=r"r.yaml: could not load the config .*ships its own Python code .*model.trust_remote_code: true"):
        checkpoint_config(refused.checkpoint, {}, {}, "r.yaml")
    assert not marker.exists()
    trusted = parse_recipe(recipe_of(checkpoint, tmp_path / "c", trust_remote_code=True), source="r.yaml")
    assert trusted.to_dict()["model"]["trust_remote_code"] is True
    assert type(checkpoint_config(trusted.checkpoint, {}, {}, "r.yaml")).__name__ == "EvilConfig"
    assert marker.read_text() == "custom code ran"
    with pytest.raises(RecipeError, match=r"model.trust_remote_code must be true or false, got 'yes'"):
        parse_recipe(recipe_of(checkpoint, tmp_path / "c", trust_remote_code="yes"), source="r.yaml")


def test_the_model_card_of_a_trusted_checkpoint_says_how_to_load_it(news, tmp_path):
    import numpy as np

    from hf_challenger.experiments.results import RunResult
    from hf_challenger.experiments.summary import model_card

    run = RunResult(
        arm="base", seed=0, output_dir=str(tmp_path), metrics={"accuracy": 1.0}, validation={}, train_runtime=1.0,
        training={}, logits=np.zeros((1, 3)), labels=np.zeros(1),
    )  # fmt: skip
    checkpoint = tmp_path / "evil"
    trusted = parse_recipe(recipe_of(checkpoint, tmp_path / "c", trust_remote_code=True))
    assert 'from_pretrained("path/to/this/folder", trust_remote_code=True)' in model_card(trusted, run)
    plain = parse_recipe(recipe_of(checkpoint, tmp_path / "c"))
    assert 'from_pretrained("path/to/this/folder")' in model_card(plain, run) and "trust_remote" not in (
        model_card(plain, run).split("## Recipe")[0]
    )
