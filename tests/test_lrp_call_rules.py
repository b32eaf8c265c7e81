"""The rules by what a call computes (hf_challenger.lrp.call_rules), each checked against a hand derivation.

Every model here is bias-free where conservation is asserted, in float64, with epsilon -> 0.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hf_challenger.lrp import EpsilonLRP

RULES = ["attnlrp", "cp"]


def attribute(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, rule: str = "attnlrp") -> torch.Tensor:
    return EpsilonLRP(model, epsilon=1e-12, attention_rule=rule).attribute(x, targets)


def logit(model: nn.Module, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x).gather(1, targets[:, None]).squeeze(1)


class Lambda(nn.Module):
    """``head(f(a(x), b(x)))`` with bias-free linear maps ``a``, ``b`` (5 -> 6) and ``head`` (6 -> 3)."""

    def __init__(self, function, width: int = 6) -> None:
        super().__init__()
        self.function = function
        self.a = nn.Linear(5, width, bias=False)
        self.b = nn.Linear(5, width, bias=False)
        self.head = nn.Linear(width, 3, bias=False)

    def forward(self, x):
        return self.head(self.function(self.a(x), self.b(x)))


def make(function, seed: int = 0, width: int = 6) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    model = Lambda(function, width).double()
    x = torch.randn(4, 5, dtype=torch.float64)
    return model, x, torch.tensor([0, 1, 2, 0])


# --------------------------------------------------------------------------- (b) element-wise


@pytest.mark.parametrize(
    "function",
    [torch.exp, torch.log1p, torch.abs, lambda z: z**2, lambda z: 2.0**z, torch.erf, F.softplus, torch.square],
    ids=["exp", "log1p", "abs", "pow2", "rpow", "erf", "softplus", "square"],
)
def test_element_wise_functions_of_one_activation_take_the_identity_rule(function):
    model, x, targets = make(lambda a, b: function(a.abs() + 0.1 if function is torch.log1p else a))
    relevance = attribute(model, x, targets)
    with torch.no_grad():
        z = model.a(x)
        z = z.abs() + 0.1 if function is torch.log1p else z
        ratio = function(z) / z  # relevance passes unchanged: g_in = g_out * f(z) / z
        if function is torch.log1p:  # abs() before log1p: its own identity factor |a| / a
            ratio = ratio * model.a(x).abs() / model.a(x)
    expected = x * ((model.head.weight[targets] * ratio) @ model.a.weight)
    torch.testing.assert_close(relevance, expected, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("function", [torch.log, torch.sqrt, torch.reciprocal, torch.rsqrt], ids=lambda f: f.__name__)
def test_the_identity_rule_is_finite_where_the_function_is_singular_at_zero(function):
    model, x, targets = make(lambda a, b: function(a.relu() + 0.5) + function(a.relu()).nan_to_num(0, 0, 0))
    with torch.no_grad():
        model.a.weight[0].zero_()  # a_0 = 0 exactly: f(0) = -inf / 0 with slope inf
    relevance = EpsilonLRP(model, epsilon=1e-9).attribute(x, targets)
    assert torch.isfinite(relevance).all()


# --------------------------------------------------------------------------- (c) products and quotients


def test_quotient_of_two_activations_splits_half_and_half_in_attnlrp_and_holds_the_divisor_in_cp():
    model, x, targets = make(lambda a, b: a / b, seed=1)
    with torch.no_grad():
        a, b = model.a(x), model.b(x)
        upstream = model.head.weight[targets]
        through_a = 0.5 * upstream / b  # half of a's gradient
        through_b = 0.5 * upstream * a / b**2  # identity rule on 1/b: g_b = g_{1/b} * (1/b) / b
    attnlrp = attribute(model, x, targets, "attnlrp")
    expected = x * (through_a @ model.a.weight + through_b @ model.b.weight)
    torch.testing.assert_close(attnlrp, expected, rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(attnlrp.sum(1), logit(model, x, targets), rtol=1e-8, atol=1e-10)
    cp = attribute(model, x, targets, "cp")
    torch.testing.assert_close(cp, x * ((upstream / b) @ model.a.weight), rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(cp.sum(1), logit(model, x, targets), rtol=1e-8, atol=1e-10)


def test_a_constant_over_an_activation_is_element_wise():
    model, x, targets = make(lambda a, b: 2.0 / a, seed=2)
    with torch.no_grad():
        a = model.a(x)
        expected = x * ((model.head.weight[targets] * (2.0 / a) / a) @ model.a.weight)
    torch.testing.assert_close(attribute(model, x, targets), expected, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize(
    "pair",
    [
        (lambda a, b: torch.baddbmm(a[:, :1, None], a[:, :, None], b[:, None, :], alpha=0.5).sum(1),
         lambda a, b: (a[:, :1, None] + 0.5 * (a[:, :, None] @ b[:, None, :])).sum(1)),
        (lambda a, b: torch.addcmul(a, a, b, value=0.5), lambda a, b: a + 0.5 * (a * b)),
        (lambda a, b: torch.addcdiv(a, a, b), lambda a, b: a + a / b),
        (lambda a, b: F.glu(torch.cat([a, b], -1), -1), lambda a, b: a * torch.sigmoid(b)),
        (lambda a, b: torch.einsum("ri,ri->ri", a, b), lambda a, b: a * b),
    ],
    ids=["baddbmm", "addcmul", "addcdiv", "glu", "einsum"],
)
def test_fused_products_equal_their_written_out_form(pair, rule):
    fused, written = pair
    model, x, targets = make(fused, seed=3)
    reference = Lambda(written).double()
    reference.load_state_dict(model.state_dict())
    torch.testing.assert_close(attribute(model, x, targets, rule), attribute(reference, x, targets, rule))


@pytest.mark.parametrize("rule", RULES)
def test_glu_gate_is_held_constant_in_cp_so_relevance_conserves(rule):
    model, x, targets = make(lambda a, b: F.glu(torch.cat([a, b], -1), -1), seed=4)
    relevance = attribute(model, x, targets, rule)
    if rule == "cp":
        with torch.no_grad():
            gate = torch.sigmoid(model.b(x))
        expected = x * ((model.head.weight[targets] * gate) @ model.a.weight)
        torch.testing.assert_close(relevance, expected, rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(relevance.sum(1), logit(model, x, targets), rtol=1e-8, atol=1e-10)


# --------------------------------------------------------------------------- (f) in place


def renormalise_in_place(a, b):
    weights = torch.softmax(a, -1).topk(6, -1).values
    weights /= weights.sum(-1, keepdim=True)  # Mixtral's router
    weights = weights * b
    weights *= 2.0
    return weights


def renormalise(a, b):
    weights = torch.softmax(a, -1).topk(6, -1).values
    return (weights / weights.sum(-1, keepdim=True)) * b * 2.0


@pytest.mark.parametrize("rule", RULES)
def test_in_place_forms_take_the_rule_of_their_out_of_place_form(rule):
    model, x, targets = make(renormalise_in_place, seed=5)
    reference = Lambda(renormalise).double()
    reference.load_state_dict(model.state_dict())
    torch.testing.assert_close(attribute(model, x, targets, rule), attribute(reference, x, targets, rule))


def test_results_of_the_engine_rules_may_be_edited_in_place():
    """XLM multiplies the output of a layer norm by a mask in place; GELU and products likewise."""

    def in_place(a, b):
        h = F.layer_norm(a, (6,))
        h *= (b > 0).double()
        g = F.gelu(h)
        g += 1.0
        p = g * b
        p.mul_(0.5)
        return p

    def out_of_place(a, b):
        h = F.layer_norm(a, (6,)) * (b > 0).double()
        return (F.gelu(h) + 1.0) * b * 0.5

    model, x, targets = make(in_place, seed=6)
    reference = Lambda(out_of_place).double()
    reference.load_state_dict(model.state_dict())
    torch.testing.assert_close(attribute(model, x, targets), attribute(reference, x, targets))


# --------------------------------------------------------------------------- (d) statistics


class Scaler(nn.Module):
    """A hand-written standardisation whose class name does not end in Norm (as PatchTST's scalers)."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how

    def forward(self, x):
        centred = x - x.mean(-1, keepdim=True)
        if self.how == "second moment":
            scale = torch.sqrt((centred**2).mean(-1, keepdim=True) + 1e-5)
        elif self.how == "var":
            scale = torch.sqrt(x.var(-1, keepdim=True, unbiased=False) + 1e-5)
        else:  # "normalize": F.normalize of the centred rows, times sqrt(width)
            return F.normalize(centred, dim=-1) * x.shape[-1] ** 0.5
        return centred / scale


@pytest.mark.parametrize("how", ["second moment", "var", "normalize"])
def test_hand_written_statistics_are_held_constant_whatever_the_class_name(how):
    torch.manual_seed(7)
    model = nn.Sequential(nn.Linear(5, 6, bias=False), Scaler(how), nn.Linear(6, 3, bias=False)).double()
    reference = nn.Sequential(
        nn.Linear(5, 6, bias=False), nn.LayerNorm(6, eps=0.0 if how == "normalize" else 1e-5, elementwise_affine=False),
        nn.Linear(6, 3, bias=False),
    ).double()
    reference.load_state_dict(model.state_dict())
    x = torch.randn(4, 5, dtype=torch.float64)
    targets = torch.tensor([0, 1, 2, 0])
    relevance = attribute(model, x, targets)
    torch.testing.assert_close(relevance, attribute(reference, x, targets), rtol=1e-7, atol=1e-10)
    torch.testing.assert_close(relevance.sum(1), logit(model, x, targets), rtol=1e-7, atol=1e-10)


# --------------------------------------------------------------------------- (a) linear calls


@pytest.mark.parametrize(
    "function",
    [
        lambda a, b: torch.fft.fftn(a.reshape(-1, 2, 3)).real.reshape(-1, 6),
        lambda a, b: torch.roll(a, 1, -1).cumsum(-1),
        lambda a, b: torch.zeros_like(a).index_add_(1, torch.tensor([0, 0, 1, 2, 3, 5]), a),
        lambda a, b: F.fold(F.unfold(a.reshape(-1, 1, 2, 3), (2, 2)), (2, 3), (2, 2)).reshape(-1, 6),
        lambda a, b: a.unsqueeze_(1).squeeze(1),
    ],
    ids=["fftn", "roll-cumsum", "index_add_", "fold-unfold", "unsqueeze_"],
)
def test_linear_calls_keep_their_gradient_so_relevance_is_conserved(function):
    model, x, targets = make(function, seed=8)
    relevance = attribute(model, x, targets)
    x_grad = x.clone().requires_grad_(True)
    model(x_grad).gather(1, targets[:, None]).sum().backward()
    torch.testing.assert_close(relevance, x * x_grad.grad, rtol=1e-8, atol=1e-10)


# --------------------------------------------------------------------------- (e) attention in one call


class TorchAttention(nn.Module):
    def __init__(self, batch_first: bool, bias_kv: bool = False) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(8, 2, batch_first=batch_first, add_bias_kv=bias_kv)
        self.head = nn.Linear(8, 3)
        self.batch_first = batch_first

    def forward(self, x, mask=None):
        h = x if self.batch_first else x.transpose(0, 1)
        out = self.attention(h, h, h, key_padding_mask=mask)[0]
        out = out if self.batch_first else out.transpose(0, 1)
        return self.head(out.mean(1))


class WrittenAttention(nn.Module):
    """The same computation with separate projections and ``F.scaled_dot_product_attention``."""

    def __init__(self, source: TorchAttention) -> None:
        super().__init__()
        weights, biases = source.attention.in_proj_weight.chunk(3), source.attention.in_proj_bias.chunk(3)
        self.q, self.k, self.v = (nn.Linear(8, 8) for _ in range(3))
        for layer, w, b in zip((self.q, self.k, self.v), weights, biases):
            layer.weight.data, layer.bias.data = w.detach().clone(), b.detach().clone()
        self.out = source.attention.out_proj
        self.head = source.head

    def forward(self, x, mask=None):
        rows, length, _ = x.shape
        q, k, v = (layer(x).reshape(rows, length, 2, 4).transpose(1, 2) for layer in (self.q, self.k, self.v))
        allowed = None if mask is None else ~mask[:, None, None, :]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
        return self.head(self.out(out.transpose(1, 2).reshape(rows, length, 8)).mean(1))


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("batch_first", [True, False])
def test_multi_head_attention_in_one_call_is_decomposed_as_sdpa(batch_first, rule):
    torch.manual_seed(9)
    model = TorchAttention(batch_first).double()
    written = WrittenAttention(model).double()
    x = torch.randn(3, 5, 8, dtype=torch.float64)
    mask = torch.zeros(3, 5, dtype=torch.bool)
    mask[-1, -2:] = True  # padding
    targets = torch.tensor([0, 1, 2])
    inputs = {"x": x, "mask": mask}
    ours = EpsilonLRP(model, epsilon=1e-9, attention_rule=rule).attribute(inputs, targets, input_key="x")
    reference = EpsilonLRP(written, epsilon=1e-9, attention_rule=rule).attribute(inputs, targets, input_key="x")
    torch.testing.assert_close(ours, reference, rtol=1e-8, atol=1e-10)
    if rule == "cp":  # padded keys get no relevance (in AttnLRP their queries still take some)
        assert ours[-1, -2:].abs().max() == 0
    with torch.no_grad():
        torch.testing.assert_close(model(x, mask), written(x, mask))


def test_multi_head_attention_with_bias_kv_runs_and_returns_weights():
    torch.manual_seed(10)
    model = TorchAttention(True, bias_kv=True).double()
    x = torch.randn(2, 4, 8, dtype=torch.float64)
    relevance = EpsilonLRP(model).attribute(x, torch.tensor([0, 1]))
    assert torch.isfinite(relevance).all() and relevance.abs().sum() > 0


def test_element_wise_functions_of_tensor_constants_are_finite():
    """``c / x`` and ``x ** e`` with constant tensors ``c``, ``e``: f(0) is no single number (taken as 0)."""
    numerator = torch.linspace(1.0, 2.0, 6, dtype=torch.float64)
    exponent = torch.full((6,), 2.0, dtype=torch.float64)
    model, x, targets = make(lambda a, b: numerator / a + a ** exponent, seed=11)
    with torch.no_grad():
        a = model.a(x)
        ratio = (numerator / a) / a + a  # identity rule on each term: f(a) / a
    expected = x * ((model.head.weight[targets] * ratio) @ model.a.weight)
    torch.testing.assert_close(attribute(model, x, targets), expected, rtol=1e-8, atol=1e-10)
