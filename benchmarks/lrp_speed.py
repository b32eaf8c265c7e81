"""Cost of one epsilon-LRP map, as a ratio to a plain forward+backward for the input gradient.

Side by side in one run on the paper's networks (batch 32): EpsilonLRP, zennit's Epsilon rule (with
SequentialMergeBatchNorm), captum's LRP, and a forward+backward that returns the gradient of the target
logits w.r.t. the attributed tensor. Two transformers (a BERT-shaped text model, hidden 256, 4 layers,
4 heads, 128 tokens, batch 16, attributed at the embedding output; a ViT-shaped one, patch 4 on 32x32,
hidden 192, 4 layers, batch 32) get EpsilonLRP with the AttnLRP and the CP-LRP rules (zennit and
captum have no rules for attention). Calls of the methods are interleaved in a shuffled order in
every repetition, so machine noise hits all of them alike; the table gives each method's median
time divided by the median forward+backward time.

    python benchmarks/lrp_speed.py [--repeats 15] [--warmup 3] [--batch-size 32] [--threads N] [--cases bert,vit]
                                   [--json out.json]
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from hf_challenger.lrp import EpsilonLRP, extract_logits
from hf_challenger.models import (
    FCNWangConfig,
    FCNWangForECGClassification,
    TextCNNConfig,
    TextCNNForSequenceClassification,
    VGGConfig,
    VGGForImageClassification,
)


@dataclass
class Case:
    """One network: the model, its (attributed) input, and targets ``[B]``."""

    name: str
    model: nn.Module
    inputs: Tensor
    targets: Tensor
    text: bool = False
    transformer: bool = False


class LogitsOnly(nn.Module):
    """``model(x).logits`` as a plain tensor, for zennit and captum.

    For text, the input is the embedding output ``[B, L, D]``: a forward hook swaps it in for the
    embedding module's output while the model runs on the token ids.
    """

    def __init__(self, model: nn.Module, token_ids: Tensor | None = None) -> None:
        super().__init__()
        self.model = model
        self.token_ids = token_ids
        self._embedded: Tensor | None = None
        if token_ids is not None:
            model.get_input_embeddings().register_forward_hook(lambda module, args, output: self._embedded)

    def forward(self, x: Tensor) -> Tensor:
        if self.token_ids is None:
            return extract_logits(self.model(x))
        self._embedded = x
        try:
            return extract_logits(self.model(self.token_ids))
        finally:
            self._embedded = None


def build_cases(batch_size: int) -> list[Case]:
    torch.manual_seed(0)
    cases = []
    vgg11 = VGGForImageClassification(VGGConfig(depth=11, num_channels=1, image_size=32, num_labels=10))
    cases.append(Case("VGG11, 1x32x32", vgg11, torch.randn(batch_size, 1, 32, 32), torch.randint(0, 10, (batch_size,))))
    vgg16 = VGGForImageClassification(
        VGGConfig(depth=16, num_channels=3, image_size=32, num_labels=10, use_batch_norm=True)
    )
    cases.append(Case("VGG16-BN, 3x32x32", vgg16, torch.randn(batch_size, 3, 32, 32), torch.randint(0, 10, (batch_size,))))
    fcn = FCNWangForECGClassification(FCNWangConfig(num_labels=71))
    cases.append(Case("fcn_wang, 12x1000", fcn, torch.randn(batch_size, 12, 1000), torch.randint(0, 71, (batch_size,))))
    text = TextCNNForSequenceClassification(TextCNNConfig(vocab_size=20000, embedding_dim=100, num_labels=20))
    ids = torch.randint(2, 20000, (batch_size, 400))
    cases.append(Case("text CNN, 400x100", text, ids, torch.randint(0, 20, (batch_size,)), text=True))
    cases += transformer_cases(batch_size)
    for case in cases:
        case.model.eval()
    return cases


def transformer_cases(batch_size: int) -> list[Case]:
    """The BERT-shaped (batch 16, 128 tokens) and ViT-shaped (batch ``batch_size``) models, sdpa attention."""
    from transformers import BertConfig, BertForSequenceClassification, ViTConfig, ViTForImageClassification

    torch.manual_seed(0)
    bert = BertForSequenceClassification(
        BertConfig(
            vocab_size=30522, hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024,
            num_labels=20, attn_implementation="sdpa",
        )
    )
    vit = ViTForImageClassification(
        ViTConfig(
            image_size=32, patch_size=4, num_channels=3, hidden_size=192, num_hidden_layers=4, num_attention_heads=3,
            intermediate_size=768, num_labels=10, attn_implementation="sdpa",
        )
    )
    return [
        Case("BERT-shaped, 128 tokens x 256", bert, torch.randint(1000, 30000, (16, 128)), torch.randint(0, 20, (16,)), text=True, transformer=True),
        Case("ViT-shaped, 3x32x32, patch 4", vit, torch.randn(batch_size, 3, 32, 32), torch.randint(0, 10, (batch_size,)), transformer=True),
    ]


def _attributed_input(case: Case) -> Tensor:
    if case.text:
        return case.model.get_input_embeddings()(case.inputs).detach()
    return case.inputs


def forward_backward(case: Case) -> Callable[[], Tensor]:
    """Gradient of the target logits w.r.t. the input (or the embedding output for text)."""
    wrapped = LogitsOnly(case.model, case.inputs if case.text else None).eval()
    attributed = _attributed_input(case)

    def run() -> Tensor:
        x = attributed.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(wrapped(x).gather(1, case.targets[:, None]).sum(), x)
        return grad

    return run


def epsilon_lrp(case: Case, attention_rule: str = "attnlrp") -> Callable[[], Tensor]:
    lrp = EpsilonLRP(case.model, epsilon=1e-6, attention_rule=attention_rule)
    at = case.model.get_input_embeddings() if case.text else None
    return lambda: lrp.attribute(case.inputs, case.targets, at=at)


def epsilon_lrp_cp(case: Case) -> Callable[[], Tensor] | None:
    """EpsilonLRP with CP-LRP's attention rule (transformers only; the CNNs have no attention)."""
    return epsilon_lrp(case, attention_rule="cp") if case.transformer else None


def zennit_epsilon(case: Case) -> Callable[[], Tensor]:
    """zennit's Epsilon on linear layers, average pooling and BatchNorm; hooks registered once, as ours."""
    from zennit.canonizers import SequentialMergeBatchNorm
    from zennit.composites import LayerMapComposite
    from zennit.rules import Epsilon, Pass
    from zennit.types import Activation, AvgPool, BatchNorm, Convolution, Linear

    if case.transformer:
        return None
    wrapped = LogitsOnly(case.model, case.inputs if case.text else None).eval()
    composite = LayerMapComposite(
        layer_map=[
            (Activation, Pass()),
            (Convolution, Epsilon(1e-6)),
            (Linear, Epsilon(1e-6)),
            (AvgPool, Epsilon(1e-6)),
            (BatchNorm, Epsilon(1e-6)),
        ],
        canonizers=[SequentialMergeBatchNorm()],
    )
    composite.register(wrapped)
    attributed = _attributed_input(case)

    def run() -> Tensor:
        x = attributed.detach().requires_grad_(True)
        out = wrapped(x)
        onehot = torch.zeros_like(out).scatter_(1, case.targets[:, None], 1.0)
        (relevance,) = torch.autograd.grad(out, x, grad_outputs=onehot * out)
        return relevance

    return run


def captum_lrp(case: Case) -> Callable[[], Tensor] | None:
    """captum's LRP where it supports the layers (it has no rule for Conv1d or BatchNorm1d).

    captum refuses ``nn.Flatten``; it gets captum's EpsilonRule, which is a reshape up to epsilon.
    """
    from captum.attr import LRP
    from captum.attr._utils.lrp_rules import EpsilonRule

    if case.transformer or any(isinstance(m, (nn.Conv1d, nn.BatchNorm1d)) for m in case.model.modules()):
        return None
    flattens = [m for m in case.model.modules() if isinstance(m, nn.Flatten)]
    wrapped = LogitsOnly(case.model, case.inputs if case.text else None).eval()
    lrp = LRP(wrapped)
    attributed = _attributed_input(case)

    def run() -> Tensor:
        for module in flattens:  # captum deletes the rules it finds after each call
            module.rule = EpsilonRule()
        return lrp.attribute(attributed.clone(), target=case.targets)

    return run


METHODS: dict[str, Callable[[Case], Callable[[], Tensor] | None]] = {
    "forward+backward": forward_backward,
    "EpsilonLRP": epsilon_lrp,
    "EpsilonLRP (CP)": epsilon_lrp_cp,
    "zennit Epsilon": zennit_epsilon,
    "captum LRP": captum_lrp,
}


def time_case(case: Case, repeats: int, warmup: int, rng: random.Random) -> dict[str, float]:
    """Median seconds per call of each method, calls interleaved in shuffled order."""
    # Each method hooks its own copy of the network, so no method's hooks touch another's runs.
    runners = {name: make(copy.deepcopy(case)) for name, make in METHODS.items()}
    runners = {name: run for name, run in runners.items() if run is not None}
    times: dict[str, list[float]] = {name: [] for name in runners}
    for repetition in range(warmup + repeats):
        order = list(runners)
        rng.shuffle(order)
        for name in order:
            start = time.perf_counter()
            runners[name]()
            elapsed = time.perf_counter() - start
            if repetition >= warmup:
                times[name].append(elapsed)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--cases", help="comma-separated words; run only the cases whose name contains one")
    parser.add_argument("--json", help="also write the medians and ratios to this file")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    rng = random.Random(0)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}, "
          f"median of {args.repeats} interleaved runs after {args.warmup} warm-up\n")
    names = list(METHODS)
    header = "| network | forward+backward (ms) | " + " | ".join(f"{n} / fwd+bwd" for n in names[1:]) + " |"
    print(header)
    print("|" + "---|" * (len(names) + 1))
    results = {}
    wanted = [word.strip().lower() for word in args.cases.split(",")] if args.cases else None
    for case in build_cases(args.batch_size):
        if wanted and not any(word in case.name.lower() for word in wanted):
            continue
        medians = time_case(case, args.repeats, args.warmup, rng)
        base = medians["forward+backward"]
        cells = [f"{medians[n] / base:.2f}x" if n in medians else "n/a" for n in names[1:]]
        print(f"| {case.name} | {base * 1e3:.1f} | " + " | ".join(cells) + " |", flush=True)
        results[case.name] = {"median_seconds": medians, "ratio": {n: medians[n] / base for n in medians}}
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
