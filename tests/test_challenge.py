"""Unit tests of the parts of a Challenger step: target draw, selection, perturbation, attacks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hf_challenger.challenge import (
    InputSite,
    ModuleSite,
    RowEdit,
    adversarial_delta,
    attributed_module,
    candidate_mask,
    candidate_std,
    challenge_shift,
    coin_flips,
    draw_topk_targets,
    input_key_of,
    select_features,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_targets_are_uniform_over_each_rows_top_k() -> None:
    logits = torch.tensor([[0.0, 5.0, 4.0, -1.0, 3.0], [9.0, 1.0, 2.0, 3.0, 0.0]])
    draws = torch.stack([draw_topk_targets(logits, 3, gen(s)) for s in range(600)])
    assert set(draws[:, 0].tolist()) == {1, 2, 4} and set(draws[:, 1].tolist()) == {0, 3, 2}
    counts = torch.bincount(draws[:, 0], minlength=5)[[1, 2, 4]].float()
    assert (counts / 600 - 1 / 3).abs().max() < 0.07
    assert draw_topk_targets(logits, 1, gen()).tolist() == [1, 0]
    assert draw_topk_targets(logits, 3, gen(7)).dtype == torch.int64


def test_targets_reject_top_k_above_class_count() -> None:
    with pytest.raises(ValueError, match=r"top_k must be in \[1, 5\].*got 6"):
        draw_topk_targets(torch.zeros(2, 5), 6, gen())


def test_selection_takes_top_or_bottom_per_row() -> None:
    scores = torch.tensor([[5.0, -1.0, 3.0, 0.5, -4.0, 2.0], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]]).reshape(2, 2, 3)
    chosen = select_features(scores, 2, largest=torch.tensor([True, False]), generator=gen())
    assert chosen.shape == scores.shape and chosen.dtype == torch.bool
    assert chosen.reshape(2, -1)[0].nonzero().flatten().tolist() == [0, 2]  # 5.0, 3.0
    assert chosen.reshape(2, -1)[1].nonzero().flatten().tolist() == [0, 1]  # 1.0, 2.0


def test_ties_are_broken_at_random_not_by_index() -> None:
    scores = torch.zeros(1, 40)  # all relevance exactly zero
    picks = [select_features(scores, 4, generator=gen(s)).nonzero()[:, 1].tolist() for s in range(50)]
    assert all(len(p) == 4 for p in picks)
    assert sum(p == [0, 1, 2, 3] for p in picks) <= 1
    hits = torch.zeros(40)
    for p in picks:
        hits[p] += 1
    assert (hits > 0).sum() >= 30  # spread over the row
    # ties only among the bottom: the strict top stays chosen
    scores = torch.zeros(1, 10)
    scores[0, 7] = 1.0
    for s in range(10):
        assert select_features(scores, 2, generator=gen(s))[0, 7]


def test_excluded_features_are_never_chosen_and_short_rows_get_all_candidates() -> None:
    scores = torch.arange(12.0).reshape(2, 6)
    allowed = torch.tensor([[1, 1, 1, 1, 0, 0], [0, 1, 0, 0, 0, 0]], dtype=torch.bool)
    chosen = select_features(scores, 3, allowed, torch.tensor([True, True]), gen())
    assert chosen[0].nonzero().flatten().tolist() == [1, 2, 3]  # 4, 5 excluded although highest
    assert chosen[1].nonzero().flatten().tolist() == [1]  # only one candidate
    with pytest.raises(ValueError, match=r"num must be in \[1, 6\]"):
        select_features(scores, 7, generator=gen())


def test_candidate_mask_from_attention_and_user_mask() -> None:
    attention = torch.tensor([[1, 1, 0], [1, 0, 0]])
    allowed = candidate_mask(torch.Size([2, 3, 4]), attention_mask=attention)
    assert allowed.shape == (2, 3, 4) and allowed[0, :2].all() and not allowed[0, 2].any() and allowed.sum() == 12
    border = torch.ones(1, 4, 4, dtype=torch.bool)
    border[:, 0] = False
    allowed = candidate_mask(torch.Size([2, 1, 4, 4]), feature_mask=border)
    assert allowed.shape == (2, 1, 4, 4) and not allowed[:, :, 0].any() and allowed.sum() == 24
    assert candidate_mask(torch.Size([2, 5])) is None
    with pytest.raises(ValueError, match=r"attention_mask of shape \(2, 3\).*\(2, 7\)"):
        candidate_mask(torch.Size([2, 7]), attention_mask=attention)
    with pytest.raises(ValueError, match=r"feature_mask of shape \(3,\)"):
        candidate_mask(torch.Size([2, 5]), feature_mask=torch.ones(3, dtype=torch.bool))


def test_row_edit_changes_exactly_the_mask_by_alpha_and_beta() -> None:
    x = torch.randn(5, 2, 3)
    mask = torch.zeros(3, 2, 3, dtype=torch.bool)
    mask[0, 0, 1] = mask[1, 1, 2] = mask[2, 0, 0] = mask[2, 1, 1] = True
    shift = challenge_shift(2, 1, alpha=0.3, beta=0.7, like=x)
    assert shift.flatten().tolist() == pytest.approx([-0.3, -0.3, 0.7])
    out = RowEdit(3, shift, mask).apply(x)
    expected = x.clone()
    expected[0, 0, 1] = x[0, 0, 1] - 0.3
    expected[1, 1, 2] = x[1, 1, 2] - 0.3
    expected[2, 0, 0] = x[2, 0, 0] + 0.7
    expected[2, 1, 1] = x[2, 1, 1] + 0.7
    assert torch.equal(out, expected)
    assert torch.equal(out[3:], x[3:])  # clean rows bit-identical
    assert RowEdit(3, shift, mask).changed_share().item() == pytest.approx(4 / 18)
    with pytest.raises(ValueError, match="cannot edit"):
        RowEdit(3, shift, mask).apply(torch.zeros(2, 2, 3))


def test_std_units_scale_the_shift_by_the_candidates_std() -> None:
    """units="std": the masked features move by exactly alpha (beta) times the root mean squared
    deviation of the edited rows' candidate values, pooled; non-candidates do not enter it."""
    x = torch.randn(5, 2, 3, dtype=torch.float64, generator=gen(4))
    x[:3, 1] += 10.0  # non-candidates far off: an estimate that included them would be much larger
    candidates = torch.zeros(3, 2, 3, dtype=torch.bool)
    candidates[:, 0] = True
    mask = torch.zeros(3, 2, 3, dtype=torch.bool)
    mask[0, 0, 1] = mask[1, 0, 2] = mask[2, 0, 0] = True
    values = x[:3, 0].flatten().numpy()
    std = float(((values - values.mean()) ** 2).mean() ** 0.5)
    assert float(candidate_std(x[:3], candidates)) == pytest.approx(std, rel=1e-12)
    assert float(candidate_std(x[:3], None)) == pytest.approx(float(x[:3].flatten().numpy().std()), rel=1e-12)
    shift = challenge_shift(2, 1, alpha=0.3, beta=0.7, like=x)
    out = RowEdit(3, shift, mask, units="std", candidates=candidates).apply(x)
    delta = out - x
    assert torch.equal(delta != 0, torch.cat([mask, torch.zeros(2, 2, 3, dtype=torch.bool)]))
    assert delta[:3][mask].tolist() == pytest.approx([-0.3 * std, -0.3 * std, 0.7 * std], rel=1e-12)
    assert torch.equal(out[3:], x[3:])
    no_candidates = RowEdit(3, shift, mask, units="std", candidates=torch.zeros_like(candidates))
    assert torch.equal(no_candidates.apply(x), x)  # std 0 of an empty set: no change, no NaN


def test_coin_flips_are_fair() -> None:
    flips = coin_flips(4000, gen(3))
    assert flips.dtype == torch.bool and abs(flips.float().mean().item() - 0.5) < 0.04


def test_fgsm_and_pgd_on_a_linear_loss() -> None:
    weight = torch.tensor([[1.0, -2.0, 0.0, 3.0]])
    x = torch.zeros(1, 4)
    allowed = torch.tensor([[True, True, True, False]])

    def loss_of(edit):
        return (edit(x) * weight).sum()

    delta, mask = adversarial_delta(
        loss_of, lambda shape, device: allowed, epsilon=0.1, steps=1, step_size=0.1, random_start=False
    )
    assert torch.equal(mask, allowed)
    assert torch.allclose(delta, torch.tensor([[0.1, -0.1, 0.0, 0.0]]))  # sign(grad); 0-grad and excluded stay
    delta, _ = adversarial_delta(
        loss_of, lambda shape, device: None, epsilon=0.1, steps=8, step_size=0.03, random_start=True, generator=gen()
    )
    assert delta.abs().max() <= 0.1 + 1e-7
    assert torch.allclose(delta[0, [0, 1, 3]], torch.tensor([0.1, -0.1, 0.1]))  # pushed to the ball's edge


def test_module_site_hook_is_inert_outside_an_edit() -> None:
    embed = nn.Embedding(5, 2)
    site = ModuleSite(embed)
    ids = torch.tensor([[1, 2], [3, 4]])
    clean = embed(ids)
    with site.editing({}, lambda t: t + 1.0):
        assert torch.equal(embed(ids), clean + 1.0)
    assert torch.equal(embed(ids), clean)
    site.remove()
    assert not embed._forward_hooks


def test_input_site_refuses_token_ids() -> None:
    site = InputSite("input_ids")
    with pytest.raises(TypeError, match="attribution_target='embeddings'"):
        site.tensor({"input_ids": torch.tensor([[1, 2]])})
    with pytest.raises(KeyError, match="pixel_values"):
        InputSite("pixel_values").tensor({"x": torch.zeros(1)})


def test_selection_is_a_valid_top_n_under_heavy_ties() -> None:
    gen_scores = gen(9)
    scores = torch.randint(-3, 4, (64, 50), generator=gen_scores).float() * 0.5
    scores[scores == 0] = -0.0  # negative zeros tie with positive zeros
    scores[:, :5] = 0.0
    largest = coin_flips(64, gen(1))
    chosen = select_features(scores, 7, largest=largest, generator=gen(2))
    signed = torch.where(largest[:, None], scores, -scores)
    assert (chosen.sum(dim=1) == 7).all()
    low_in = torch.where(chosen, signed, torch.full_like(signed, float("inf"))).min(dim=1).values
    high_out = torch.where(~chosen, signed, torch.full_like(signed, float("-inf"))).max(dim=1).values
    assert (low_in >= high_out).all()  # nothing left out beats anything chosen


def test_zero_relevance_sign_does_not_bias_the_tie_break() -> None:
    scores = torch.zeros(1, 2)
    scores[0, 0] = -0.0
    picks = torch.stack([select_features(scores, 1, generator=gen(s))[0] for s in range(400)])
    assert 0.4 < picks[:, 0].float().mean() < 0.6


def test_stats_report_per_optimizer_step_and_reset() -> None:
    from hf_challenger.challenge.stats import ChallengerStats

    stats = ChallengerStats(torch.device("cpu"))
    stats.add_seconds(0.5)
    stats.add_seconds(1.5)
    stats.count_optimizer_step()
    stats.count_optimizer_step()
    stats.add("changed_share", torch.tensor(0.25))
    stats.add("changed_share", torch.tensor(0.75))
    stats.add("challenged_batches", 2)
    stats.add("rows", 8)
    stats.add("challenged_rows", 4)
    logs = stats.report(reduce=lambda t: t * 2, world_size=2)  # as if two processes reported the same
    assert logs["challenger_attribution_seconds"] == 1.0  # (2 s x 2 processes) / (2 steps x 2 processes)
    assert logs["challenger_changed_share"] == 0.5 and logs["challenger_challenged_rows"] == 0.5
    assert "challenger_mean_abs_relevance" not in logs
    assert stats.report(reduce=lambda t: t, world_size=1)["challenger_attribution_seconds"] == 0.0


def test_per_row_limit_keeps_each_rows_best() -> None:
    scores = torch.arange(24.0).reshape(3, 8)
    chosen = select_features(scores, 4, largest=torch.tensor([True, True, False]), limit=torch.tensor([4, 1, 2]))
    assert chosen.sum(dim=1).tolist() == [4, 1, 2]
    assert chosen[0].nonzero().flatten().tolist() == [4, 5, 6, 7]
    assert chosen[1].nonzero().flatten().tolist() == [7]
    assert chosen[2].nonzero().flatten().tolist() == [0, 1]


# --------------------------------------------------------------------------- sites


class _NoInputName(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))

    def forward(self, x):
        return self.body(x)


def test_input_key_of_prefers_the_given_key_then_main_input_name_then_the_sole_float_tensor():
    model = _NoInputName()
    batch = {"x": torch.zeros(2, 3), "labels": torch.zeros(2), "ids": torch.zeros(2, dtype=torch.long)}
    assert input_key_of(model, batch, {"labels"}) == "x"  # labels and integer tensors do not count
    assert input_key_of(model, batch, {"labels"}, key="other") == "other"
    model.main_input_name = "pixel_values"
    assert input_key_of(model, batch, {"labels"}) == "pixel_values"


def test_input_key_of_without_a_sole_float_tensor_names_the_candidates():
    batch = {"a": torch.zeros(2, 3), "b": torch.zeros(2, 3), "labels": torch.zeros(2)}
    with pytest.raises(ValueError, match=r"2 floating-point tensors besides the labels \(\['a', 'b'\]\)"):
        input_key_of(_NoInputName(), batch, {"labels"})


def test_attributed_module_resolves_input_embeddings_and_dotted_names():
    model = _NoInputName()
    assert attributed_module(model, "input") is None
    assert attributed_module(model, "body.0") is model.body[0]
    model.get_input_embeddings = lambda: model.body[0]
    assert attributed_module(model, "embeddings") is model.body[0]


def test_attributed_module_refuses_unknown_targets_naming_them():
    model = _NoInputName()
    with pytest.raises(ValueError, match=r"'body\.7' is neither .*submodules include: \['body', 'body\.0'"):
        attributed_module(model, "body.7")
    with pytest.raises(ValueError, match=r"_NoInputName has none .*set challenger_attribution_target"):
        attributed_module(model, "embeddings")
