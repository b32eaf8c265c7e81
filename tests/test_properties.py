"""Property-based checks of one Challenger step (hypothesis): random configurations and small batches.

For any configuration and batch drawn (batch size, fractions near 0, near 1 and summing to 1, counts
above the row size, tiny and full fractions, padding masks with empty rows, feature masks, both
selections, input and embedding targets), the planned edit of the attributed tensor must:

- leave every row after challenges A and B bit-identical;
- move each changed feature of a row in A by exactly -alpha and of a row in B by exactly +beta;
- change only allowed features (not padding, not outside ``feature_mask``), and exactly
  ``min(N_r, candidates_r)`` of them per row, with ``N_r`` the count or the row's fraction rounded
  half up (at least 1);
- never produce NaN or inf;
- give the same result for the same seed.

One trainer per target is reused; each example sets its config and reseeds the generator, so the
whole file runs in seconds.
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_trainer_models import TinyConvNet, TinyTextNet, image_data, text_data

from hf_challenger.config import ChallengerConfig
from hf_challenger.trainer import ChallengerTrainer
from hf_challenger.training_args import ChallengerTrainingArguments

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
EDGE_FRACTIONS = [0.0, 1e-9, 0.25, 0.5, 1.0 - 1e-9, 1.0]


@pytest.fixture(scope="module")
def trainers(tmp_path_factory):
    root = tmp_path_factory.mktemp("properties")
    torch.manual_seed(0)

    def make(model, data):
        args = ChallengerTrainingArguments(output_dir=str(root), report_to="none", use_cpu=True, disable_tqdm=True)
        return ChallengerTrainer(model=model, args=args, train_dataset=data)

    return {"input": make(TinyConvNet().eval(), image_data(rows=4)), "embeddings": make(TinyTextNet(), text_data(rows=4))}


@st.composite
def fractions(draw):
    a = draw(st.one_of(st.sampled_from(EDGE_FRACTIONS), st.floats(0.0, 1.0)))
    b = draw(st.one_of(st.sampled_from(EDGE_FRACTIONS + [1.0 - a]), st.floats(0.0, 1.0)))
    if a + b > 1.0:
        b = 1.0 - a
    return a, b


@st.composite
def configs(draw, features: int, classes: int):
    a, b = draw(fractions())
    num = draw(st.one_of(st.integers(1, features + 5), st.sampled_from([1e-9, 0.01, 0.5, 1.0]), st.floats(1e-6, 1.0)))
    return ChallengerConfig(
        top_k=draw(st.integers(1, classes)),
        num_features=num,
        alpha=draw(st.sampled_from([0.0, 0.01, 0.5, 3.0])),
        beta=draw(st.sampled_from([0.0, 0.02, 1.0, 6.0])),
        fraction_a=a,
        fraction_b=b,
        selection=draw(st.sampled_from(["lrp", "random"])),
        attribution_target=draw(st.just("input")),
    )


def plan(trainer: ChallengerTrainer, cfg: ChallengerConfig, batch: dict, seed: int, feature_mask=None):
    """The attributed tensor before and after the planned edit, and the number of rows A and B."""
    trainer.remove_challenger_hooks()
    trainer.challenger_config = cfg
    trainer.feature_mask = feature_mask
    trainer.challenger_generator.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # clamp / short-row / too-small warnings are expected here
        inputs, edit = trainer.plan_challenge(trainer.model, dict(batch))
    model = trainer.model
    clean = model.embed(inputs["input_ids"]).detach() if cfg.attribution_target == "embeddings" else inputs["pixel_values"]
    edited = clean if edit is None else edit(clean).detach()
    return clean, edited, cfg.rows(clean.shape[0])


def expected_counts(cfg: ChallengerConfig, candidates: list[int], total: int) -> list[int]:
    if isinstance(cfg.num_features, int):
        return [min(cfg.num_features, total, c) for c in candidates]
    return [min(max(1, math.floor(c * cfg.num_features + 0.5)), c) for c in candidates]


def check_invariants(cfg, clean, edited, rows, allowed) -> None:
    n_a, n_b = rows
    head = n_a + n_b
    assert torch.isfinite(edited).all()
    assert torch.equal(edited[head:], clean[head:])
    changed = edited != clean
    assert not changed[~allowed].any()  # only allowed features of the challenged rows
    for row in range(head):
        moved = changed[row]
        shift = -cfg.alpha if row < n_a else cfg.beta
        if moved.any():
            assert torch.equal(edited[row][moved], clean[row][moved] + torch.tensor(shift, dtype=clean.dtype))
        if shift != 0.0:
            total = clean[row].numel()
            want = expected_counts(cfg, [int(allowed[row].sum())], total)[0]
            assert int(moved.sum()) == want, (row, int(moved.sum()), want)
        else:
            assert not moved.any()


@SETTINGS
@given(data=st.data())
def test_image_step_invariants(trainers, data) -> None:
    trainer = trainers["input"]
    batch_size = data.draw(st.integers(1, 9), label="batch")
    cfg = data.draw(configs(features=3 * 8 * 8, classes=4), label="config")
    seed = data.draw(st.integers(0, 2**31 - 1), label="seed")
    generator = torch.Generator().manual_seed(seed)
    batch = {"pixel_values": torch.randn(batch_size, 3, 8, 8, generator=generator),
             "labels": torch.randint(0, 4, (batch_size,), generator=generator)}  # fmt: skip
    feature_mask = None
    if data.draw(st.booleans(), label="feature_mask"):
        feature_mask = torch.rand(3, 8, 8, generator=generator) < data.draw(st.sampled_from([0.0, 0.1, 0.7, 1.0]))
    clean, edited, rows = plan(trainer, cfg, batch, seed, feature_mask)
    allowed = torch.ones_like(clean, dtype=torch.bool) if feature_mask is None else feature_mask.expand_as(clean)
    check_invariants(cfg, clean, edited, rows, allowed)
    _, again, _ = plan(trainer, cfg, batch, seed, feature_mask)
    assert torch.equal(again, edited)  # same seed, same result


@SETTINGS
@given(data=st.data())
def test_text_step_invariants_with_padding(trainers, data) -> None:
    trainer = trainers["embeddings"]
    batch_size = data.draw(st.integers(1, 9), label="batch")
    length = data.draw(st.integers(3, 10), label="length")
    cfg = data.draw(configs(features=length * 6, classes=3), label="config")
    cfg = ChallengerConfig(**{**cfg.to_dict(), "attribution_target": "embeddings"})
    seed = data.draw(st.integers(0, 2**31 - 1), label="seed")
    generator = torch.Generator().manual_seed(seed)
    kept = data.draw(st.lists(st.integers(0, length), min_size=batch_size, max_size=batch_size), label="tokens")
    attention = (torch.arange(length)[None, :] < torch.tensor(kept)[:, None]).long()
    ids = torch.randint(1, 30, (batch_size, length), generator=generator) * attention
    batch = {"input_ids": ids, "attention_mask": attention, "labels": torch.randint(0, 3, (batch_size,), generator=generator)}
    clean, edited, rows = plan(trainer, cfg, batch, seed)
    allowed = attention.bool()[:, :, None].expand_as(clean)
    check_invariants(cfg, clean, edited, rows, allowed)
    _, again, _ = plan(trainer, cfg, batch, seed)
    assert torch.equal(again, edited)
