"""ChallengerTrainer on stock transformers models (tiny random configs), as a user swaps it in for Trainer."""

from __future__ import annotations

import pytest
import torch
from test_trainer_models import DictDataset
from tiny_transformers import FAMILIES, IMAGE, NUM_LABELS, VOCAB
from torch import nn

from hf_challenger import ChallengerTrainer, ChallengerTrainingArguments
from hf_challenger.lrp import EpsilonLRP

ALPHA, BETA = 0.25, 0.5
ROWS, LENGTH = 16, 12


pytestmark = pytest.mark.usefixtures("one_thread")


def dataset(kind: str, seed: int = 0) -> DictDataset:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, NUM_LABELS, (ROWS,), generator=generator)
    if kind == "vision":
        return DictDataset(pixel_values=torch.randn(ROWS, 3, IMAGE, IMAGE, generator=generator), labels=labels)
    keep = 4 + torch.arange(ROWS) % (LENGTH - 4)  # right padding of 0..7 tokens
    mask = (torch.arange(LENGTH)[None, :] < keep[:, None]).long()
    ids = torch.randint(2, VOCAB, (ROWS, LENGTH), generator=generator) * mask
    return DictDataset(input_ids=ids, attention_mask=mask, labels=labels)


def arguments(tmp_path, kind: str, **overrides) -> ChallengerTrainingArguments:
    values = dict(
        output_dir=str(tmp_path / "out"),
        max_steps=2,
        per_device_train_batch_size=8,
        learning_rate=1e-3,
        report_to="none",
        use_cpu=True,
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
        seed=3,
        challenger_top_k=2,
        challenger_num_features="0.1",
        challenger_alpha=ALPHA,
        challenger_beta=BETA,
        challenger_attribution_target="embeddings" if kind == "text" else "input",
    )
    values.update(overrides)
    return ChallengerTrainingArguments(**values)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_every_family_trains_under_challenger_trainer(tmp_path, name):
    family = FAMILIES[name]
    model = family.build("sdpa" if family.attention else "eager")
    before = [p.detach().clone() for p in model.parameters()]
    trainer = ChallengerTrainer(model=model, args=arguments(tmp_path, family.kind), train_dataset=dataset(family.kind))
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logs) == 2 and all(torch.isfinite(torch.tensor(entry["loss"])) for entry in logs)
    assert all(entry["challenger_changed_share"] > 0 for entry in logs)
    assert all(entry["challenger_mean_abs_relevance"] > 0 for entry in logs)
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))


def record_training_inputs(trainer: ChallengerTrainer, kind: str, batch: dict) -> list[torch.Tensor]:
    """What the training forward sees: the edited embedding output (text) or pixel values (vision)."""
    model = trainer.model
    trainer.challenger_planner.bind(model, batch)  # the trainer's own hooks first, so the recorder sees their edit
    seen: list[torch.Tensor] = []
    if kind == "text":
        model.get_input_embeddings().register_forward_hook(
            lambda module, inputs, output: seen.append(output.detach().clone()) if model.training else None
        )
    else:
        model.register_forward_pre_hook(
            lambda module, args, kwargs: seen.append(kwargs["pixel_values"].detach().clone()) if module.training else None,
            with_kwargs=True,
        )
    return seen


@pytest.mark.parametrize("name", ["bert", "vit"])
def test_the_step_guarantees_hold_on_a_text_and_a_vision_transformer(tmp_path, name):
    family = FAMILIES[name]
    model = family.build("sdpa")
    data = dataset(family.kind)
    args = arguments(tmp_path, family.kind, max_steps=1, learning_rate=0.0, challenger_num_features="7")
    trainer = ChallengerTrainer(model=model, args=args, train_dataset=data)
    first = next(iter(trainer.get_train_dataloader()))
    seen = record_training_inputs(trainer, family.kind, first)
    buffers = {n: b.clone() for n, b in model.named_buffers()}

    trainer.train()
    batch = first
    if family.kind == "text":
        with torch.no_grad():
            clean = model.get_input_embeddings()(batch["input_ids"])
    else:
        clean = batch["pixel_values"]
    edited = seen[0]
    changed = edited != clean
    per_row = changed.flatten(1).sum(1)
    assert per_row[:2].tolist() == [7, 7] and per_row[2:4].tolist() == [7, 7]  # rows A = 0,1; B = 2,3
    assert per_row[4:].sum() == 0 and torch.equal(edited[4:], clean[4:])
    torch.testing.assert_close(edited[:2][changed[:2]], (clean[:2] - ALPHA)[changed[:2]], rtol=0, atol=1e-6)
    torch.testing.assert_close(edited[2:4][changed[2:4]], (clean[2:4] + BETA)[changed[2:4]], rtol=0, atol=1e-6)
    if family.kind == "text":  # padding is never challenged
        assert not changed[batch["attention_mask"] == 0].any()
    assert all(torch.equal(b, buffers[n]) for n, b in model.named_buffers())


def test_attribution_leaves_no_parameter_grad_and_no_batch_norm_update(tmp_path):
    family = FAMILIES["resnet"]
    model = family.build("eager").train()
    args = arguments(tmp_path, "vision", max_steps=1)
    trainer = ChallengerTrainer(model=model, args=args, train_dataset=dataset("vision"))
    batch = next(iter(trainer.get_train_dataloader()))
    trainer.challenger_planner.bind(model, batch)
    statistics = {n: b.clone() for n, b in model.named_buffers()}
    edit = trainer.challenger_planner.plan(model, batch, 0).edit
    assert callable(edit)
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(b, statistics[n]) for n, b in model.named_buffers())
    assert model.training and all(m.training for m in model.modules())


class PlainImageNet(nn.Module):
    """A user's own module: no ``main_input_name``, returns a dict with ``loss`` and ``logits``."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(3 * IMAGE * IMAGE, 16), nn.GELU(), nn.Linear(16, NUM_LABELS))

    def forward(self, pixel_values, labels=None):
        logits = self.body(pixel_values)
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return {"loss": loss, "logits": logits}


def test_a_plain_module_without_main_input_name_uses_the_sole_float_tensor(tmp_path):
    model = PlainImageNet()
    trainer = ChallengerTrainer(model=model, args=arguments(tmp_path, "vision", max_steps=1), train_dataset=dataset("vision"))
    trainer.train()
    assert trainer.challenger_planner.input_key == "pixel_values"
    assert trainer.state.log_history[0]["challenger_changed_share"] > 0


def test_a_plain_module_with_two_float_tensors_still_needs_the_input_key(tmp_path):
    data = dataset("vision")
    data.columns["extra"] = torch.randn(ROWS, 2)

    class TwoInputs(PlainImageNet):
        def forward(self, pixel_values, extra=None, labels=None):
            return super().forward(pixel_values, labels)

    trainer = ChallengerTrainer(model=TwoInputs(), args=arguments(tmp_path, "vision", max_steps=1), train_dataset=data)
    with pytest.raises(ValueError, match=r"2 floating-point tensors besides the labels \(\['extra', 'pixel_values'\]\).*challenger_input_key"):
        trainer.train()


def test_unknown_layers_and_attention_rule_are_training_arguments(tmp_path):
    class CumulativeProduct(nn.Module):  # no rule: a product of many activations
        def forward(self, x):
            return torch.cumprod(x, 1)

    class Odd(PlainImageNet):
        def __init__(self) -> None:
            super().__init__()
            self.body[2] = CumulativeProduct()

    args = arguments(tmp_path, "vision", max_steps=1, challenger_attention_rule="cp")
    with pytest.raises(Exception, match=r"call 'cumprod' .* module 'body.2' of type CumulativeProduct.*challenger_unknown_layers"):
        ChallengerTrainer(model=Odd(), args=args, train_dataset=dataset("vision")).train()
    args = arguments(tmp_path, "vision", max_steps=1, challenger_unknown_layers="gradient")
    trainer = ChallengerTrainer(model=Odd(), args=args, train_dataset=dataset("vision"))
    trainer.train()
    engine = trainer.challenger_planner.lrp
    assert engine.unknown_layers == "gradient" and engine.attention_rule == "attnlrp"
    with pytest.raises(ValueError, match="challenger_attention_rule must be one of 'attnlrp', 'cp'; got 'half'"):
        arguments(tmp_path, "vision", challenger_attention_rule="half")
    with pytest.raises(ValueError, match="challenger_unknown_layers must be one of 'error', 'gradient'; got 'skip'"):
        arguments(tmp_path, "vision", challenger_unknown_layers="skip")


# --------------------------------------------------------------------------- which embeddings


def zoo_family(model_type: str):
    from classification_zoo import families

    return next(f for f in families() if f.model_type == model_type)


@pytest.mark.parametrize("model_type", ["bart", "t5"])
def test_embeddings_of_an_encoder_decoder_are_the_encoders_own(model_type):
    from classification_zoo import batch, build

    from hf_challenger.challenge import attributed_module

    family = zoo_family(model_type)
    model = build(family)
    at = attributed_module(model, "embeddings")
    assert at is model.get_encoder().get_input_embeddings() and at is not model.get_input_embeddings()
    inputs = {k: v for k, v in batch(family, model, rows=4).items() if k != "labels"}
    relevance = EpsilonLRP(model).attribute(inputs, torch.tensor([0, 1, 2, 0]), at=at)
    assert relevance.shape == (4, 12, 32) and relevance.abs().sum() > 0


def test_sequence_first_embeddings_are_challenged_by_batch_row(tmp_path):
    """XLNet embeds its transposed ids: the output is [L, B, D]; rows A and B are still batch rows."""
    from classification_zoo import batch, build

    family = zoo_family("xlnet")
    model = build(family)
    rows = batch(family, model, rows=8)
    args = arguments(tmp_path, "text", max_steps=1, learning_rate=0.0, challenger_num_features="7")
    trainer = ChallengerTrainer(model=model, args=args, train_dataset=DictDataset(**rows))
    first = next(iter(trainer.get_train_dataloader()))  # the batch the step will see
    embedding = model.get_input_embeddings()
    seen = []
    embedding.register_forward_hook(lambda m, i, out: seen.append(out.detach().clone()) if model.training else None)
    trainer.train()
    with torch.no_grad():
        clean = embedding(first["input_ids"].T)  # [L, B, D], as XLNet calls it
    assert seen[0].shape == (12, 8, 32)
    changed = (seen[0] != clean).transpose(0, 1).flatten(1).sum(1)
    assert changed.tolist() == [7, 7, 7, 7, 0, 0, 0, 0]


def test_a_model_without_token_embeddings_is_refused_when_the_trainer_is_built(tmp_path):
    from classification_zoo import batch, build

    family = zoo_family("canine")
    model = build(family)
    data = DictDataset(**batch(family, model))
    with pytest.raises(ValueError, match=r"set challenger_attribution_target .*'canine.char_embeddings'"):
        ChallengerTrainer(model=model, args=arguments(tmp_path, "text"), train_dataset=data)
