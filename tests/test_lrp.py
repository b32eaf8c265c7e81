"""EpsilonLRP: agreement with zennit and captum, conservation, limits, and no side effects."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput

from hf_challenger.lrp import Attribution, EpsilonLRP, UnsupportedLayerError

from lrp_reference import TextCNN, VGGStyle, captum_lrp, fcn_style, randomise_batch_norms, zennit_epsilon

TOLERANCE = 1e-6  # relative L2, float64


def relative_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(1234)


def image_batch(generator: torch.Generator, rows: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(rows, 1, 16, 16, dtype=torch.float64, generator=generator)
    return x, torch.randint(0, 10, (rows,), generator=generator)


# --------------------------------------------------------------------------- agreement


@pytest.mark.parametrize("batch_norm", [False, True], ids=["plain", "batchnorm"])
def test_vgg_style_agrees_with_zennit(batch_norm, generator):
    model = VGGStyle(batch_norm).double()
    randomise_batch_norms(model, generator)
    x, targets = image_batch(generator)
    ours = EpsilonLRP(model, epsilon=1e-6).attribute(x, targets)
    reference = zennit_epsilon(copy.deepcopy(model), x, targets, epsilon=1e-6)
    assert ours.shape == x.shape and ours.dtype == torch.float64
    assert relative_l2(ours, reference) <= TOLERANCE


def test_vgg_style_agrees_with_captum(generator):
    model = VGGStyle(batch_norm=False).double()
    x, targets = image_batch(generator)
    ours = EpsilonLRP(model, epsilon=1e-9).attribute(x, targets)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # captum: "input did not require gradients"
        reference = captum_lrp(copy.deepcopy(model), x, targets, epsilon=1e-9)
    assert relative_l2(ours, reference) <= TOLERANCE


def test_fcn_style_with_merged_and_lone_batchnorm_agrees_with_zennit(generator):
    model = fcn_style().double()
    randomise_batch_norms(model, generator)
    x = torch.randn(6, 12, 64, dtype=torch.float64, generator=generator)
    targets = torch.randint(0, 5, (6,), generator=generator)
    ours = EpsilonLRP(model, epsilon=1e-6).attribute(x, targets)
    reference = zennit_epsilon(copy.deepcopy(model), x, targets, epsilon=1e-6)
    assert relative_l2(ours, reference) <= TOLERANCE


def test_agreement_test_catches_a_wrong_batchnorm_treatment(generator):
    """Relevance passed unchanged through a BatchNorm conserves, yet the maps are far off."""
    model = fcn_style().double()
    randomise_batch_norms(model, generator)
    with torch.no_grad():
        for module in (model[13], model[17]):  # the head's lone BatchNorms: make them matter
            module.weight.mul_(4.0)
            module.running_mean.add_(1.0)
    x = torch.randn(4, 12, 64, dtype=torch.float64, generator=generator)
    targets = torch.randint(0, 5, (4,), generator=generator)
    ours = EpsilonLRP(model, epsilon=1e-6).attribute(x, targets)
    right = zennit_epsilon(copy.deepcopy(model), x, targets, epsilon=1e-6)
    wrong = zennit_epsilon(copy.deepcopy(model), x, targets, epsilon=1e-6, lone_batch_norm="pass")
    assert relative_l2(ours, right) <= TOLERANCE
    assert relative_l2(ours, wrong) > 1e-2


def test_text_cnn_at_embedding_agrees_with_zennit(generator):
    model = TextCNN().double()
    input_ids = torch.randint(1, 50, (5, 20), generator=generator)
    targets = torch.randint(0, 4, (5,), generator=generator)
    ours = EpsilonLRP(model, epsilon=1e-6).attribute(input_ids, targets, at=model.embedding)
    embedded = model.embedding(input_ids).detach()
    reference = zennit_epsilon(copy.deepcopy(model.body), embedded, targets, epsilon=1e-6)
    assert ours.shape == (5, 20, 8)
    assert relative_l2(ours, reference) <= TOLERANCE


def test_mapping_inputs_and_model_output_forms(generator):
    class Wrapped(nn.Module):
        main_input_name = "input_ids"

        def __init__(self, form: str) -> None:
            super().__init__()
            self.net = TextCNN().double()
            self.form = form

        def get_input_embeddings(self) -> nn.Module:
            return self.net.embedding

        def forward(self, input_ids, attention_mask=None, labels=None):
            logits = self.net(input_ids)
            if self.form == "tuple":
                return (logits, "extra")
            if self.form == "dict":
                return {"logits": logits}
            return SequenceClassifierOutput(logits=logits)

    input_ids = torch.randint(1, 50, (3, 12), generator=generator)
    batch = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids), "labels": torch.zeros(3).long()}
    targets = torch.tensor([0, 3, 1])
    results = []
    for form in ("tuple", "dict", "model_output"):
        torch.manual_seed(0)
        model = Wrapped(form)
        results.append(EpsilonLRP(model).attribute(batch, targets, at=model.get_input_embeddings()))
    assert torch.equal(results[0], results[1]) and torch.equal(results[0], results[2])


# --------------------------------------------------------------------------- properties


def bias_free(model: nn.Module) -> nn.Module:
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)) and module.bias is not None:
            module.bias = None
    return model


def test_conservation_on_bias_free_net(generator):
    model = bias_free(VGGStyle(batch_norm=False)).double().eval()
    x, targets = image_batch(generator)
    relevance = EpsilonLRP(model, epsilon=1e-12).attribute(x, targets)
    logit = model(x).gather(1, targets[:, None]).squeeze(1)
    torch.testing.assert_close(relevance.sum(dim=(1, 2, 3)), logit, rtol=1e-9, atol=1e-12)


def test_equals_gradient_times_input_as_epsilon_vanishes(generator):
    model = bias_free(VGGStyle(batch_norm=False)).double().eval()
    model.features[4] = nn.MaxPool2d(2)  # a pure ReLU/max-pool net: no averaging layer
    model.features[-1] = nn.AdaptiveMaxPool2d(2)
    x, targets = image_batch(generator)
    relevance = EpsilonLRP(model, epsilon=1e-14).attribute(x, targets)
    x_grad = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x_grad).gather(1, targets[:, None]).sum(), x_grad)
    assert relative_l2(relevance, grad * x) <= 1e-9


def test_attribute_with_logits_draws_from_same_forward(generator):
    model = VGGStyle(batch_norm=True).double()
    randomise_batch_norms(model, generator)
    x, _ = image_batch(generator)
    result = EpsilonLRP(model).attribute_with_logits(x, lambda logits: logits.argmax(dim=1))
    assert isinstance(result, Attribution)
    torch.testing.assert_close(result.logits, model.eval()(x))
    assert torch.equal(result.targets, result.logits.argmax(dim=1))
    assert torch.equal(result.relevance, EpsilonLRP(model).attribute(x, result.targets))


# --------------------------------------------------------------------------- no side effects


def test_no_grad_no_batchnorm_update_modes_restored(generator):
    model = VGGStyle(batch_norm=True).double()
    randomise_batch_norms(model, generator)
    model.train()
    model.classifier[2].eval()  # a mixed-mode model must come back exactly as it was
    modes = {name: m.training for name, m in model.named_modules()}
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    first = next(model.parameters())
    first.grad = torch.full_like(first, 7.0)  # an existing gradient stays as it was
    lrp = EpsilonLRP(model)
    x, targets = image_batch(generator)
    one = lrp.attribute(x, targets)
    two = lrp.attribute(x, targets)

    assert torch.equal(one, two)
    assert torch.equal(first.grad, torch.full_like(first, 7.0))
    assert all(p.grad is None for p in list(model.parameters())[1:])
    assert all(torch.equal(b, buffers[name]) for name, b in model.named_buffers())
    assert {name: m.training for name, m in model.named_modules()} == modes
    assert all(m.inplace for m in model.modules() if isinstance(m, nn.ReLU) and m in model.features)


def test_hooks_exist_only_during_a_pass(generator):
    model = VGGStyle(batch_norm=False).double()
    x, targets = image_batch(generator)

    def count(module: nn.Module) -> int:
        return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in module.modules())

    during: list[int] = []
    model.classifier.register_forward_hook(lambda *_: during.append(count(model)))
    lrp = EpsilonLRP(model)
    assert count(model) == 1  # only the probe above
    plain = model.eval()(x)
    first = lrp.attribute(x, targets)
    assert during[-1] > 1 + len(list(model.modules()))  # the engine's hooks were on during the pass
    assert count(model) == 1
    assert torch.equal(lrp.attribute(x, targets), first)
    assert count(model) == 1
    assert torch.equal(model(x), plain)


def test_under_autocast_computes_in_float32(generator):
    model = VGGStyle(batch_norm=True)
    randomise_batch_norms(model, generator)
    x, targets = image_batch(generator)
    x = x.float()
    expected = EpsilonLRP(model).attribute(x, targets)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under = EpsilonLRP(model).attribute(x, targets)
    assert under.dtype == torch.float32
    assert torch.equal(under, expected)


def test_half_precision_model_attributes_in_float32(generator):
    model = VGGStyle(batch_norm=False)
    x, targets = image_batch(generator)
    reference_model = copy.deepcopy(model).to(torch.bfloat16).float()
    model = model.to(torch.bfloat16)
    relevance = EpsilonLRP(model).attribute(x.float(), targets)
    assert relevance.dtype == torch.float32
    assert all(p.dtype == torch.bfloat16 for p in model.parameters())
    torch.testing.assert_close(relevance, EpsilonLRP(reference_model).attribute(x.float(), targets))


def test_accelerate_mixed_precision_forward_is_bypassed(generator):
    from accelerate import Accelerator

    model = VGGStyle(batch_norm=True)
    randomise_batch_norms(model, generator)
    x, targets = image_batch(generator)
    expected = EpsilonLRP(model).attribute(x.float(), targets)
    prepared = Accelerator(mixed_precision="bf16", cpu=True).prepare(model)
    assert "_original_forward" in prepared.__dict__  # forward now enters autocast itself
    patched = prepared.forward
    relevance = EpsilonLRP(prepared).attribute(x.float(), targets)
    assert relevance.dtype == torch.float32
    assert torch.equal(relevance, expected)
    assert prepared.forward is patched  # and the wrapper is back afterwards


def test_layer_outputs_are_freed_without_the_garbage_collector(generator):
    """No reference cycle keeps the pass's activations alive after it returns."""
    import gc
    import weakref

    model = VGGStyle(batch_norm=True).double()
    randomise_batch_norms(model, generator)
    lrp = EpsilonLRP(model)
    outputs: list[weakref.ref] = []
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.BatchNorm2d, nn.Linear)):
            module.register_forward_hook(lambda m, i, out: outputs.append(weakref.ref(out)))
    x, targets = image_batch(generator)
    gc.disable()
    try:
        relevance = lrp.attribute(x, targets)
        assert outputs and all(ref() is None for ref in outputs)
    finally:
        gc.enable()
    assert relevance.shape == x.shape


def test_ddp_wrapped_model_uses_inner_module(tmp_path, generator):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        model = VGGStyle(batch_norm=False).double()
        ddp = nn.parallel.DistributedDataParallel(model)
        x, targets = image_batch(generator)
        lrp = EpsilonLRP(ddp)
        assert lrp.model is model
        relevance = lrp.attribute(x, targets)
        assert all(p.grad is None for p in model.parameters())
        # The DDP wrapper still trains normally afterwards: no reducer state was touched.
        ddp(x).sum().backward()
        assert all(p.grad is not None for p in model.parameters())
        assert torch.equal(relevance, EpsilonLRP(model).attribute(x, targets))
    finally:
        dist.destroy_process_group()


# --------------------------------------------------------------------------- errors


class CumulativeProduct(nn.Module):
    def forward(self, x):
        return torch.cumprod(x, 1)


class SelfPower(nn.Module):
    def forward(self, x):
        return x ** x.tanh()  # a power of two activations: no rule


def test_unknown_call_is_refused_with_its_module_path_and_the_fallback():
    model = nn.Sequential(nn.Linear(4, 8), CumulativeProduct(), nn.Linear(8, 3))
    x = torch.randn(2, 4)
    with pytest.raises(UnsupportedLayerError, match=r"call 'cumprod' .* module '1' of type CumulativeProduct.*unknown_layers='gradient'"):
        EpsilonLRP(model).attribute(x, torch.tensor([0, 1]))
    relevance = EpsilonLRP(model, unknown_layers="gradient").attribute(x, torch.tensor([0, 1]))
    # "gradient": relevance flows through cumprod as its gradient, so this is gradient x input at eps -> 0.
    x_grad = x.clone().requires_grad_(True)
    model(x_grad).gather(1, torch.tensor([[0], [1]])).sum().backward()
    reference = EpsilonLRP(model, epsilon=1e-12, unknown_layers="gradient").attribute(x, torch.tensor([0, 1]))
    assert relevance.shape == x.shape
    torch.testing.assert_close(reference, x * x_grad.grad, rtol=1e-4, atol=1e-6)


def test_an_error_inside_an_operator_is_not_swallowed_by_the_operator_protocol():
    """Tensor.__pow__ turns a TypeError raised inside it into "unsupported operand type(s)"."""
    model = nn.Sequential(nn.Linear(4, 8), SelfPower(), nn.Linear(8, 3))
    with pytest.raises(UnsupportedLayerError, match=r"call 'pow' \(a power of two activations\) .* module '1' of type SelfPower"):
        EpsilonLRP(model).attribute(torch.rand(2, 4), torch.tensor([0, 1]))
    assert not issubclass(UnsupportedLayerError, TypeError) and issubclass(UnsupportedLayerError, NotImplementedError)


def test_unknown_layer_below_at_is_allowed_and_integer_input_needs_at():
    model = TextCNN()
    ids = torch.randint(1, 50, (2, 10))
    with pytest.raises(TypeError, match="at=model.get_input_embeddings"):
        EpsilonLRP(model).attribute(ids, torch.tensor([0, 1]))
    assert EpsilonLRP(model).attribute(ids, torch.tensor([0, 1]), at=model.embedding).shape == (2, 10, 8)


@pytest.mark.parametrize(
    ("targets", "error", "message"),
    [
        (torch.tensor([0.0, 1.0]), TypeError, "int64 tensor shaped"),
        (torch.tensor([[0, 1]]), TypeError, "int64 tensor shaped"),
        (torch.tensor([0, 1, 2]), ValueError, "3 rows but the batch has 2"),
        (torch.tensor([0, 3]), ValueError, r"targets must lie in \[0, 2\].*\[3\]"),
    ],
)
def test_bad_targets(targets, error, message):
    model = nn.Sequential(nn.Linear(4, 3))
    with pytest.raises(error, match=message):
        EpsilonLRP(model).attribute(torch.randn(2, 4), targets)


def test_bad_construction_arguments():
    with pytest.raises(ValueError, match="epsilon must be a finite number > 0, got 0"):
        EpsilonLRP(nn.Linear(2, 2), epsilon=0)
    with pytest.raises(ValueError, match="epsilon must be a finite number > 0, got inf"):
        EpsilonLRP(nn.Linear(2, 2), epsilon=float("inf"))
    with pytest.raises(ValueError, match="attention_rule must be 'attnlrp' or 'cp', got 'half'"):
        EpsilonLRP(nn.Linear(2, 2), attention_rule="half")
    with pytest.raises(ValueError, match="unknown_layers must be 'error' or 'gradient', got 'skip'"):
        EpsilonLRP(nn.Linear(2, 2), unknown_layers="skip")
    with pytest.raises(ValueError, match="at= must be a submodule"):
        EpsilonLRP(nn.Linear(2, 2)).attribute(torch.randn(1, 2), torch.tensor([0]), at=nn.Linear(2, 2))


def test_functional_in_place_change_of_a_hooked_output_uses_its_values_before_the_change():
    """``torch.relu_`` on a Linear output: the epsilon rule needs z before the change (kept as a copy)."""

    class InPlace(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(4, 8)
            self.b = nn.Linear(8, 2)

        def forward(self, x):
            return self.b(torch.relu_(self.a(x)))

    class OutOfPlace(InPlace):
        def forward(self, x):
            return self.b(torch.relu(self.a(x)))

    torch.manual_seed(0)
    in_place = InPlace().double()
    out_of_place = OutOfPlace().double()
    out_of_place.load_state_dict(in_place.state_dict())
    x = torch.randn(5, 4, dtype=torch.float64)
    targets = torch.tensor([0, 1, 0, 1, 1])
    engine = EpsilonLRP(in_place, epsilon=0.5)  # a large epsilon: the scaling depends on z's values
    expected = EpsilonLRP(out_of_place, epsilon=0.5).attribute(x, targets)
    for _ in range(2):  # the first call learns that 'a' is changed in place; both must be right
        torch.testing.assert_close(engine.attribute(x, targets), expected, rtol=1e-12, atol=1e-12)
