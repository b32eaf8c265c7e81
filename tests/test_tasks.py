"""Task shapes decided when ChallengerTrainer is built: token classification, multiple choice and
regression refused with the reason; multi-label and single-label targets from the labels on request."""

from __future__ import annotations

import pytest
import torch
from test_trainer_models import TinyConvNet, image_data
from transformers import (
    BertConfig,
    BertForMultipleChoice,
    BertForSequenceClassification,
    BertForTokenClassification,
)

import hf_challenger.challenge.planner as planner_module
from hf_challenger.challenge import draw_label_targets
from hf_challenger.trainer import ChallengerTrainer
from hf_challenger.training_args import ChallengerTrainingArguments

pytestmark = pytest.mark.usefixtures("one_thread")


def args_for(tmp_path, **values) -> ChallengerTrainingArguments:
    base = dict(
        output_dir=str(tmp_path / "out"), max_steps=1, per_device_train_batch_size=8, report_to="none", use_cpu=True,
        save_strategy="no", disable_tqdm=True, challenger_top_k=1, challenger_num_features="4",
    )  # fmt: skip
    return ChallengerTrainingArguments(**{**base, **values})


def tiny_bert(cls, **config):
    settings = dict(vocab_size=30, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16)
    return cls(BertConfig(**settings, **config))


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (lambda: tiny_bert(BertForTokenClassification, num_labels=3), r"BertForTokenClassification with Challenger: "
         r"token classification: each row holds one label per token"),
        (lambda: tiny_bert(BertForMultipleChoice), r"BertForMultipleChoice with Challenger: multiple choice"),
        (lambda: tiny_bert(BertForSequenceClassification, num_labels=1), r"regression: there are no classes"),
        (lambda: tiny_bert(BertForSequenceClassification, num_labels=3, problem_type="regression"), r"regression"),
    ],
)
def test_task_shapes_challenger_cannot_train_are_refused_when_the_trainer_is_built(tmp_path, model, message):
    with pytest.raises(ValueError, match=message + r".*set challenger_enabled=False to train this model as Trainer"):
        ChallengerTrainer(model=model(), args=args_for(tmp_path, challenger_attribution_target="embeddings"))
    ChallengerTrainer(model=model(), args=args_for(tmp_path, challenger_enabled=False))  # plain Trainer: fine


def test_multi_label_classification_is_built(tmp_path):
    model = tiny_bert(BertForSequenceClassification, num_labels=3, problem_type="multi_label_classification")
    ChallengerTrainer(model=model, args=args_for(tmp_path, challenger_attribution_target="embeddings"))


def test_label_targets_are_the_class_or_a_positive_label_else_the_top_k():
    logits = torch.tensor([[0.0, 5.0, 1.0, 2.0]] * 3)
    gen = torch.Generator().manual_seed(0)
    assert draw_label_targets(torch.tensor([2, 0, 3]), logits, 1, gen).tolist() == [2, 0, 3]
    multi = torch.tensor([[0.0, 0.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    drawn = torch.stack([draw_label_targets(multi, logits, 1, gen) for _ in range(200)])
    assert set(drawn[:, 0].tolist()) == {2, 3}  # uniformly from the positives
    assert set(drawn[:, 1].tolist()) == {0}
    assert set(drawn[:, 2].tolist()) == {1}  # no positive label: the top-1 logit
    with pytest.raises(ValueError, match=r"labels shaped \[rows\] .* got \(3, 2\)"):
        draw_label_targets(torch.zeros(3, 2), logits, 1, gen)


def test_target_source_labels_attributes_each_rows_label(tmp_path, monkeypatch):
    drawn = []

    def recording(labels, logits, top_k, generator):
        drawn.append((labels.clone(), draw_label_targets(labels, logits, top_k, generator)))
        return drawn[-1][1]

    monkeypatch.setattr(planner_module, "draw_label_targets", recording)
    data = image_data(rows=8)
    trainer = ChallengerTrainer(
        model=TinyConvNet(), args=args_for(tmp_path, challenger_target_source="labels"), train_dataset=data
    )
    trainer.train()
    (labels, targets), = drawn
    assert labels.shape == (4,) and torch.equal(targets, labels)  # rows A and B attribute their own labels
    with pytest.raises(ValueError, match=r"challenger_target_source must be one of .*got 'truth'"):
        args_for(tmp_path, challenger_target_source="truth")
