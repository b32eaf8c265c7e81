"""The non-finite policy: NaN/inf relevance stops training with an error naming the rows and the cause."""

from __future__ import annotations

import pytest
import torch
from test_trainer_models import DictDataset, TinyConvNet, image_data
from torch import nn
from torch.utils.data import SequentialSampler

from hf_challenger.challenge.finite import FiniteGuard, NonFiniteRelevanceError
from hf_challenger.trainer import ChallengerTrainer
from hf_challenger.training_args import ChallengerTrainingArguments


class InOrder(ChallengerTrainer):
    """Batches in dataset order, so a test knows where each row lands."""

    def _get_train_sampler(self, train_dataset=None):
        return SequentialSampler(train_dataset or self.train_dataset)


def make_args(tmp_path, **overrides) -> ChallengerTrainingArguments:
    values = dict(
        output_dir=str(tmp_path / "out"), max_steps=3, per_device_train_batch_size=8, learning_rate=0.1,
        report_to="none", use_cpu=True, save_strategy="no", logging_steps=1, disable_tqdm=True, seed=3,
        challenger_num_features="4", challenger_top_k=1,
    )  # fmt: skip
    values.update(overrides)
    return ChallengerTrainingArguments(**values)


def poisoned_images(row: int, value: float, rows: int = 16) -> DictDataset:
    data = image_data(rows=rows)
    data.columns["pixel_values"][row, 1, 2, 3] = value
    return data


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_input_in_a_challenged_row_is_an_error_naming_it(tmp_path, value) -> None:
    model = TinyConvNet()
    trainer = InOrder(model=model, args=make_args(tmp_path), train_dataset=poisoned_images(2, value))
    with pytest.raises(NonFiniteRelevanceError, match=r"step 0 .*row\(s\) \[2\] .*'pixel_values' holds NaN/inf in row\(s\) \[2\]"):
        trainer.train()
    assert len(model.seen) == 0  # stopped before the poisoned batch was trained on
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_non_finite_input_in_a_clean_row_stops_at_the_next_step_naming_the_weights(tmp_path) -> None:
    """Row 6 is not challenged (rows 0-3 are), so step 0 trains on it and its NaN reaches the weights;
    the next attribution then sees NaN relevance in every row and says the parameters are non-finite."""
    model = TinyConvNet()
    trainer = InOrder(model=model, args=make_args(tmp_path), train_dataset=poisoned_images(6, float("nan")))
    with pytest.raises(NonFiniteRelevanceError, match=r"step 1 .*row\(s\) \[0, 1, 2, 3\] .*parameter 'features\.0\.weight' is NaN/inf"):
        trainer.train()
    assert len(model.seen) == 1


def test_finite_data_trains_through(tmp_path) -> None:
    model = TinyConvNet()
    trainer = InOrder(model=model, args=make_args(tmp_path), train_dataset=image_data(rows=16))
    trainer.train()
    assert len(model.seen) == 3


def test_guard_says_when_only_the_attribution_overflowed() -> None:
    model = nn.Linear(3, 2)
    relevance = torch.tensor([[1.0, 2.0, 3.0], [float("inf"), 0.0, 0.0]])
    inputs = {"pixel_values": torch.ones(2, 3), "labels": torch.zeros(2, dtype=torch.long)}
    with pytest.raises(NonFiniteRelevanceError, match=r"step 7 .*row\(s\) \[1\] .*overflowed in float32.*challenger_epsilon"):
        FiniteGuard().check(relevance, 7, model, inputs)
    FiniteGuard().check(relevance[:1], 7, model, inputs)  # finite rows pass
    with torch.no_grad():
        model.bias[1] = float("nan")
    with pytest.raises(NonFiniteRelevanceError, match=r"parameter 'bias' is NaN/inf"):
        FiniteGuard().check(relevance, 7, model, inputs)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_cuda_the_error_comes_without_a_sync_and_names_the_bad_step(tmp_path) -> None:
    """On CUDA the flags are read once their copy has landed (at a later step or the logging step)."""
    model = TinyConvNet()
    args = make_args(tmp_path, use_cpu=False, max_steps=4, logging_steps=10, learning_rate=0.0)
    trainer = InOrder(model=model, args=args, train_dataset=poisoned_images(10, float("nan"), rows=32))
    with pytest.raises(NonFiniteRelevanceError, match=r"step 1 .*row\(s\) \[2\] "):
        trainer.train()
    assert not trainer._finite._pending


@pytest.mark.parametrize("perturbation", ["fgsm", "pgd"])
def test_adversarial_baselines_check_the_loss_of_their_attack(tmp_path, perturbation) -> None:
    """Their gradient can stay finite for a NaN input (ReLU masks it), so the attack's loss is checked."""
    model = TinyConvNet()
    args = make_args(tmp_path, challenger_perturbation=perturbation, challenger_adversarial_steps=2)
    trainer = InOrder(model=model, args=args, train_dataset=poisoned_images(1, float("nan")))
    with pytest.raises(NonFiniteRelevanceError, match=r"step 0 the FGSM/PGD attack's loss was NaN/inf: the batch's 'pixel_values' holds NaN/inf in row\(s\) \[1\]"):
        trainer.train()
    assert len(model.seen) == 0
