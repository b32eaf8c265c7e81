"""EpsilonLRP on transformers models: every family, the AttnLRP and CP-LRP rules, and no side effects."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from tiny_transformers import FAMILIES, MORE_FAMILIES, batch_for
from torch import nn

from hf_challenger.lrp import EpsilonLRP

TOLERANCE = 1e-6  # relative L2, float64
TARGETS = torch.tensor([0, 1, 2, 0])


def relative_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def as_double(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.double() if v.is_floating_point() else v for k, v in batch.items()}


def attributed_module(model: nn.Module, kind: str) -> nn.Module | None:
    return model.get_input_embeddings() if kind == "text" else None


@pytest.mark.parametrize("rule", ["attnlrp", "cp"])
@pytest.mark.parametrize("name", list(FAMILIES))
def test_every_family_is_attributed_and_padding_gets_no_relevance(name, rule):
    family = FAMILIES[name]
    model = family.build("eager").double()
    batch = as_double(batch_for(family))
    relevance = EpsilonLRP(model, epsilon=1e-9, attention_rule=rule).attribute(
        batch, TARGETS, at=attributed_module(model, family.kind)
    )
    expected = (4, 12, 32) if family.kind == "text" else (4, 3, 32, 32)
    assert relevance.shape == expected and relevance.dtype == torch.float64
    assert torch.isfinite(relevance).all() and (relevance.flatten(1).abs().sum(1) > 0).all()
    if family.kind == "text":  # padded positions (under attention_mask) reach no logit
        assert relevance[batch["attention_mask"] == 0].abs().max() == 0


@pytest.mark.parametrize("name", list(MORE_FAMILIES))
def test_further_families_are_attributed(name):
    """Qwen2, Mistral, Gemma, ALBERT, ELECTRA, DeBERTa-v2, ModernBERT, BEiT, DINOv2, RegNet."""
    family = MORE_FAMILIES[name]
    model = family.build("eager")
    batch = batch_for(family)
    relevance = EpsilonLRP(model).attribute(batch, TARGETS, at=attributed_module(model, family.kind))
    assert torch.isfinite(relevance).all() and (relevance.flatten(1).abs().sum(1) > 0).all()
    if family.kind == "text":
        assert relevance[batch["attention_mask"] == 0].abs().max() == 0


@pytest.mark.parametrize("rule", ["attnlrp", "cp"])
@pytest.mark.parametrize("name", [n for n, f in FAMILIES.items() if f.attention])
def test_eager_and_sdpa_attention_give_the_same_relevance(name, rule):
    family = FAMILIES[name]
    batch = as_double(batch_for(family))
    maps = []
    for implementation in ("eager", "sdpa"):
        model = family.build(implementation).double()
        assert model.config._attn_implementation == implementation
        maps.append(
            EpsilonLRP(model, epsilon=1e-9, attention_rule=rule).attribute(
                batch, TARGETS, at=attributed_module(model, family.kind)
            )
        )
    # eager softmax runs in float32 in some families, so "equal" is up to that precision
    assert relative_l2(maps[1], maps[0]) <= TOLERANCE


def zero_biases(model: nn.Module) -> nn.Module:
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("bias"):
                parameter.zero_()
    return model


CONSERVATION_SITES = {  # the tensor where every additive embedding input has been summed
    "bert": lambda m: m.bert.embeddings,
    "gpt2": lambda m: m.transformer.drop,
    "llama": lambda m: m.get_input_embeddings(),
    "vit": lambda m: m.vit.embeddings,
}


@pytest.mark.parametrize("name", list(CONSERVATION_SITES))
def test_cp_rule_with_zero_biases_conserves_the_explained_logit(name):
    family = FAMILIES[name]
    model = zero_biases(family.build("eager").double())
    batch = as_double(batch_for(family))
    at = CONSERVATION_SITES[name](model)
    relevance = EpsilonLRP(model, epsilon=1e-12, attention_rule="cp").attribute(batch, TARGETS, at=at)
    with torch.no_grad():
        logits = model(**batch).logits
    explained = logits.gather(1, TARGETS[:, None]).squeeze(1)
    rtol = 2e-6 if name == "llama" else 1e-8  # LlamaRMSNorm computes in float32 even in a float64 model
    torch.testing.assert_close(relevance.flatten(1).sum(1), explained, rtol=rtol, atol=1e-10)
    # AttnLRP lets relevance flow through softmax into q and k: it does not conserve.
    attnlrp = EpsilonLRP(model, epsilon=1e-12, attention_rule="attnlrp").attribute(batch, TARGETS, at=at)
    assert not torch.allclose(attnlrp.flatten(1).sum(1), explained, rtol=1e-3)


# --------------------------------------------------------------------------- the rules one by one


class GatedProduct(nn.Module):
    """``logit_c = sum_h head[c, h] * (act(a(x)) * b(x))_h``: a gated MLP without biases."""

    def __init__(self, activation: nn.Module | None) -> None:
        super().__init__()
        self.a = nn.Linear(5, 7, bias=False)
        self.b = nn.Linear(5, 7, bias=False)
        self.act = activation
        self.head = nn.Linear(7, 2, bias=False)

    def forward(self, x):
        gate = self.act(self.a(x)) if self.act is not None else self.a(x)
        return self.head(gate * self.b(x))


def grad_times_input(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, detach=None) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    model(x).gather(1, targets[:, None]).sum().backward()
    return x * x.grad


def test_attnlrp_splits_a_product_of_two_activations_half_and_half():
    torch.manual_seed(0)
    model = GatedProduct(None).double()
    x = torch.randn(6, 5, dtype=torch.float64)
    targets = torch.tensor([0, 1, 0, 1, 1, 0])
    relevance = EpsilonLRP(model, epsilon=1e-12).attribute(x, targets)
    # f is homogeneous of degree 2: x . grad f = 2 f, and the uniform rule halves it back to f.
    torch.testing.assert_close(relevance, 0.5 * grad_times_input(model, x, targets), rtol=1e-9, atol=1e-12)
    logits = model(x).gather(1, targets[:, None]).squeeze(1)
    torch.testing.assert_close(relevance.sum(1), logits.detach(), rtol=1e-9, atol=1e-12)


def test_cp_holds_the_gate_constant_and_attnlrp_applies_identity_then_halves():
    torch.manual_seed(1)
    model = GatedProduct(nn.SiLU()).double()
    x = torch.randn(6, 5, dtype=torch.float64)
    targets = torch.tensor([0, 1, 0, 1, 1, 0])
    with torch.no_grad():
        gate = F.silu(model.a(x))
    # cp: relevance = x * b^T (head_c * gate): all of the logit reaches x through b.
    expected_cp = x * ((model.head.weight[targets] * gate) @ model.b.weight)
    cp = EpsilonLRP(model, epsilon=1e-12, attention_rule="cp").attribute(x, targets)
    torch.testing.assert_close(cp, expected_cp.detach(), rtol=1e-9, atol=1e-12)
    logits = model(x).gather(1, targets[:, None]).squeeze(1).detach()
    torch.testing.assert_close(cp.sum(1), logits, rtol=1e-9, atol=1e-12)
    # attnlrp: the gate gets the identity rule (g * silu(z)/z), and both factors half the gradient.
    with torch.no_grad():
        z, up = model.a(x), model.b(x)
        upstream = model.head.weight[targets]
        through_gate = (0.5 * upstream * up * gate / z) @ model.a.weight
        through_up = (0.5 * upstream * gate) @ model.b.weight
    attnlrp = EpsilonLRP(model, epsilon=1e-12, attention_rule="attnlrp").attribute(x, targets)
    torch.testing.assert_close(attnlrp, x * (through_gate + through_up), rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(attnlrp.sum(1), logits, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    "activation",
    [nn.GELU(), nn.GELU(approximate="tanh"), nn.SiLU(), nn.Tanh(), nn.Sigmoid(), nn.Mish()],
    ids=lambda m: repr(m),
)
def test_identity_rule_passes_relevance_unchanged_and_is_finite_at_zero(activation):
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(4, 6), activation, nn.Linear(6, 3, bias=False)).double()
    with torch.no_grad():
        model[0].weight[0].zero_()  # pre-activation 0 = bias 0 exactly for unit 0
        model[0].bias[0] = 0.0
    x = torch.randn(5, 4, dtype=torch.float64)
    targets = torch.tensor([0, 1, 2, 0, 1])
    with torch.no_grad():
        z = model[0](x)
        y = activation(z)
        ratio = torch.where(z == 0, torch.zeros_like(z), y / torch.where(z == 0, torch.ones_like(z), z))
        upstream = model[2].weight[targets]
    # At z = 0 with f(0) = 0 the rule uses f'(0); the relevance of that unit is 0 either way.
    relevance = EpsilonLRP(model, epsilon=1e-12).attribute(x, targets)
    assert torch.isfinite(relevance).all()
    mask = torch.ones(6, dtype=torch.float64)
    mask[0] = 0.0
    expected = x * ((upstream * ratio * mask) @ model[0].weight)
    torch.testing.assert_close(relevance, expected, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(
    "norm",
    [nn.LayerNorm(6), nn.RMSNorm(6), nn.GroupNorm(2, 6)],
    ids=["layer_norm", "rms_norm", "group_norm"],
)
def test_normalisations_hold_their_statistic_constant(norm):
    torch.manual_seed(3)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
    model = nn.Sequential(nn.Linear(4, 6, bias=False), norm, nn.Linear(6, 2, bias=False)).double()
    x = torch.randn(5, 4, dtype=torch.float64)
    targets = torch.tensor([0, 1, 1, 0, 1])
    relevance = EpsilonLRP(model, epsilon=1e-12).attribute(x, targets)
    # Constant statistic, zero bias: the layer is linear, so relevance conserves the logit ...
    logits = model(x).gather(1, targets[:, None]).squeeze(1).detach()
    torch.testing.assert_close(relevance.sum(1), logits, rtol=1e-9, atol=1e-12)
    # ... and equals gradient x input of the same net with the statistic detached.
    x_grad = x.clone().requires_grad_(True)
    h = model[0](x_grad)
    if isinstance(norm, nn.GroupNorm):
        g = h.reshape(5, 2, 3)
        centred = g - g.mean(-1, keepdim=True)
        normed = (centred / (centred.pow(2).mean(-1, keepdim=True) + norm.eps).sqrt().detach()).reshape(5, 6)
    elif isinstance(norm, nn.LayerNorm):
        centred = h - h.mean(-1, keepdim=True)
        normed = centred / (centred.pow(2).mean(-1, keepdim=True) + norm.eps).sqrt().detach()
    else:
        eps = torch.finfo(torch.float64).eps if norm.eps is None else norm.eps
        normed = h / (h.pow(2).mean(-1, keepdim=True) + eps).sqrt().detach()
    model[2](normed * norm.weight).gather(1, targets[:, None]).sum().backward()
    torch.testing.assert_close(relevance, x * x_grad.grad, rtol=1e-9, atol=1e-12)


def test_hand_written_rms_norm_module_is_held_constant_like_the_functional_one():
    """Llama's RMSNorm (written out: pow, mean, rsqrt) and torch.nn.RMSNorm (F.rms_norm) agree."""
    from transformers.models.llama.modeling_llama import LlamaRMSNorm

    torch.manual_seed(4)
    hand = nn.Sequential(nn.Linear(4, 6, bias=False), LlamaRMSNorm(6, eps=1e-5), nn.Linear(6, 2)).double()
    functional = nn.Sequential(nn.Linear(4, 6, bias=False), nn.RMSNorm(6, eps=1e-5), nn.Linear(6, 2)).double()
    with torch.no_grad():
        hand[1].weight.uniform_(0.5, 1.5)
    functional.load_state_dict(hand.state_dict())
    x = torch.randn(3, 4, dtype=torch.float32).double()
    targets = torch.tensor([1, 0, 1])
    a = EpsilonLRP(hand, epsilon=1e-12).attribute(x, targets)
    b = EpsilonLRP(functional, epsilon=1e-12).attribute(x, targets)
    assert relative_l2(a, b) <= 1e-6  # LlamaRMSNorm computes in float32


# --------------------------------------------------------------------------- no side effects


def _training_step(model: nn.Module, batch: dict[str, torch.Tensor], seed: int) -> tuple[torch.Tensor, list]:
    model.train()
    torch.manual_seed(seed)  # dropout masks
    loss = model(**batch, labels=TARGETS).loss
    grads = torch.autograd.grad(loss, [p for p in model.parameters() if p.requires_grad])
    return loss.detach(), [g.clone() for g in grads]


@pytest.mark.parametrize("name", ["bert", "llama", "vit"])
def test_a_pass_changes_nothing_outside_itself(name):
    family = FAMILIES[name]
    model = family.build("sdpa")
    other = copy.deepcopy(model)
    batch = batch_for(family)
    functions = {n: getattr(F, n) for n in ("layer_norm", "gelu", "scaled_dot_product_attention", "softmax")}
    methods = {n: getattr(torch.Tensor, n) for n in ("__mul__", "__matmul__", "softmax")}
    torch_functions = {n: getattr(torch, n) for n in ("matmul", "softmax", "tanh", "rsqrt")}
    import transformers.activations as activations
    import transformers.integrations.sdpa_attention as sdpa
    import transformers.modeling_utils as modeling_utils

    library = {
        "sdpa_attention_forward": sdpa.sdpa_attention_forward,
        "GELUActivation.forward": activations.GELUActivation.forward,
        "ALL_ATTENTION_FUNCTIONS": dict(modeling_utils.ALL_ATTENTION_FUNCTIONS),
        "LayerNorm.forward": nn.LayerNorm.forward,
    }
    before = _training_step(model, batch, seed=5)
    with torch.no_grad():
        other_before = other.eval()(**batch).logits

    engine = EpsilonLRP(model, attention_rule="attnlrp")
    relevance = engine.attribute(batch, TARGETS, at=attributed_module(model, family.kind))
    assert torch.isfinite(relevance).all()
    assert all(p.grad is None for p in model.parameters())
    assert model.training  # the mode it was in
    assert torch._C._len_torch_function_stack() == 0

    after = _training_step(model, batch, seed=5)
    assert torch.equal(before[0], after[0])
    assert all(torch.equal(a, b) for a, b in zip(before[1], after[1]))
    assert {n: getattr(F, n) for n in functions} == functions
    assert {n: getattr(torch.Tensor, n) for n in methods} == methods
    assert {n: getattr(torch, n) for n in torch_functions} == torch_functions
    assert library == {
        "sdpa_attention_forward": sdpa.sdpa_attention_forward,
        "GELUActivation.forward": activations.GELUActivation.forward,
        "ALL_ATTENTION_FUNCTIONS": dict(modeling_utils.ALL_ATTENTION_FUNCTIONS),
        "LayerNorm.forward": nn.LayerNorm.forward,
    }
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in other.modules())
    with torch.no_grad():
        assert torch.equal(other.eval()(**batch).logits, other_before)


def test_bf16_model_is_attributed_in_float32_without_nan():
    family = FAMILIES["llama"]
    model = family.build("sdpa").to(torch.bfloat16)
    batch = batch_for(family)
    relevance = EpsilonLRP(model).attribute(batch, TARGETS, at=model.get_input_embeddings())
    assert relevance.dtype == torch.float32 and torch.isfinite(relevance).all()
    assert all(p.dtype == torch.bfloat16 for p in model.parameters())
    # The pass upcasts the weights: the same as attributing a float32 copy of the bf16 weights.
    upcast = copy.deepcopy(model).float()
    reference = EpsilonLRP(upcast).attribute(batch, TARGETS, at=upcast.get_input_embeddings())
    assert relative_l2(relevance, reference) <= 1e-5


def test_resnet_in_place_residual_after_batch_norm_uses_the_values_before_the_add():
    """ResNet adds the shortcut in place to a BatchNorm output; the epsilon rule needs the value before."""
    family = FAMILIES["resnet"]
    model = family.build("eager").double()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    batch = as_double(batch_for(family))
    engine = EpsilonLRP(model, epsilon=0.1)  # a large epsilon makes the scaling depend on z
    first = engine.attribute(batch, TARGETS)
    assert engine._snapshot  # the in-place residual outputs were found and are kept as copies
    copying_all = EpsilonLRP(model, epsilon=0.1)
    copying_all._snapshot = frozenset(name for name, _ in model.named_modules())
    torch.testing.assert_close(first, copying_all.attribute(batch, TARGETS), rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(engine.attribute(batch, TARGETS), first, rtol=0, atol=0)

    class Unaware(EpsilonLRP):  # what the engine would compute without the copies
        def _changed_in_place(self):
            return frozenset()

    assert relative_l2(Unaware(model, epsilon=0.1).attribute(batch, TARGETS), first) > 1e-3


@pytest.mark.parametrize("activation", [nn.GELU(), nn.Sigmoid()], ids=["gelu", "sigmoid"])
def test_identity_rule_folded_into_the_linear_before_it_equals_the_two_rules_apart(activation):
    """Linear -> activation: one factor f(z) / (z + eps sign z) == epsilon rule, then identity rule."""
    torch.manual_seed(5)
    folded = nn.Sequential(nn.Linear(4, 6), activation, nn.Linear(6, 3)).double()
    class NewTensor(nn.Module):  # x + 0: the activation's input is no longer the Linear's output
        def forward(self, x):
            return x + 0

    apart = nn.Sequential(nn.Linear(4, 6), NewTensor(), activation, nn.Linear(6, 3)).double()
    apart[0].load_state_dict(folded[0].state_dict())
    apart[3].load_state_dict(folded[2].state_dict())
    with torch.no_grad():
        for model in (folded, apart):
            model[0].weight[0].zero_()
            model[0].bias[0] = 0.0  # z = 0 exactly for unit 0: both must give it no relevance path
    x = torch.randn(5, 4, dtype=torch.float64)
    targets = torch.tensor([0, 1, 2, 0, 1])
    for epsilon in (1e-6, 0.3):  # a large epsilon makes the folding visible if it were wrong
        engine = EpsilonLRP(folded, epsilon=epsilon)
        a = engine.attribute(x, targets)
        b = EpsilonLRP(apart, epsilon=epsilon).attribute(x, targets)
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
