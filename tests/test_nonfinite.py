"""The non-finite policy: NaN/inf relevance, loss or gradient norm stops training with an error naming the
step, the rows and the cause; float knobs must be finite in the attributed tensor's dtype."""

from __future__ import annotations

import pytest
import torch
from test_trainer_models import DictDataset, TinyConvNet, image_data
from torch import nn
from torch.utils.data import SequentialSampler

from hf_challenger.challenge.finite import FiniteGuard, NonFiniteRelevanceError, NonFiniteTrainingError
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


@pytest.mark.parametrize("nan_filter", [True, False])
@pytest.mark.parametrize("enabled", [True, False])
def test_non_finite_input_in_a_clean_row_stops_at_its_step_naming_the_row(tmp_path, nan_filter, enabled) -> None:
    """Row 6 is not challenged (rows 0-3 are): its NaN loss stops training at that very step, before the
    optimizer steps or anything is saved, whatever logging_nan_inf_filter says and with Challenger disabled."""
    model = TinyConvNet()
    args = make_args(
        tmp_path, max_steps=1, save_strategy="steps", save_steps=1, logging_nan_inf_filter=nan_filter,
        challenger_enabled=enabled,
    )  # fmt: skip
    trainer = InOrder(model=model, args=args, train_dataset=poisoned_images(6, float("nan")))
    with pytest.raises(NonFiniteTrainingError, match=r"step 0 the training loss was NaN/inf: the batch's 'pixel_values' holds NaN/inf in row\(s\) \[6\]"):
        trainer.train()
    assert len(model.seen) == 1
    assert all(torch.isfinite(p).all() for p in model.parameters())  # the optimizer never stepped on it
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())  # nothing saved


def test_a_shift_that_overflows_the_gradient_stops_naming_the_gradient_norm(tmp_path) -> None:
    """alpha = beta = 1e30 are finite in float32 and the loss stays finite, but the gradient norm is inf."""
    model = TinyConvNet(batch_norm=False)
    args = make_args(tmp_path, challenger_alpha=1e30, challenger_beta=1e30, challenger_num_features="40")
    trainer = InOrder(model=model, args=args, train_dataset=image_data(rows=16))
    with pytest.raises(NonFiniteTrainingError, match=r"step 0 the (gradient norm|training loss) was NaN/inf: .*lower challenger_alpha"):
        trainer.train()
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_std_units_with_a_huge_finite_pixel_stop_naming_the_overflow(tmp_path) -> None:
    """One 3e38 pixel (finite in float32) makes the batch's std, and so the shift, inf."""
    model = TinyConvNet(batch_norm=False)
    args = make_args(tmp_path, challenger_perturbation_units="std")
    trainer = InOrder(model=model, args=args, train_dataset=poisoned_images(1, 3e38))
    with pytest.raises(NonFiniteTrainingError, match=r"step 0 the gradient norm was NaN/inf: .*overflowed.*too large"):
        trainer.train()
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("challenger_alpha", 1e39, r"challenger_alpha=1e\+39 is not finite in float32 \(the model's dtype, which its attributed tensor has\)"),
        ("challenger_beta", -1e39, None),
        ("challenger_epsilon", 1e39, r"challenger_epsilon=1e\+39 is not finite in float32 \(the attribution pass runs in float32\)"),
    ],
)
def test_float_knobs_must_be_finite_in_the_attributed_dtype(tmp_path, field, value, message) -> None:
    if message is None:  # beta must be >= 0 anyway: the config says so first
        with pytest.raises(ValueError, match="beta"):
            make_args(tmp_path, **{field: value})
        return
    with pytest.raises(ValueError, match=message):
        InOrder(model=TinyConvNet(), args=make_args(tmp_path, **{field: value}), train_dataset=image_data(rows=16))


def test_float_knobs_are_checked_against_a_float16_input(tmp_path) -> None:
    data = image_data(rows=16)
    data.columns["pixel_values"] = data.columns["pixel_values"].half()
    trainer = InOrder(model=TinyConvNet(), args=make_args(tmp_path, challenger_alpha=1e5), train_dataset=data)
    with pytest.raises(ValueError, match=r"challenger_alpha=100000 is not finite in float16 \(the dtype of the attributed tensor 'pixel_values'\); it must be at most 65504"):
        trainer.train()
    with pytest.raises(ValueError, match=r"challenger_alpha=100000 is not finite in float16 \(the model's dtype"):
        InOrder(model=TinyConvNet().half(), args=make_args(tmp_path, challenger_alpha=1e5), train_dataset=data)


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
