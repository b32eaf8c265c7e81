"""Small models and reference implementations (zennit, captum) for the LRP agreement tests."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def randomise_batch_norms(model: nn.Module, generator: torch.Generator) -> None:
    """Give every BatchNorm non-trivial affine parameters and running statistics, and ``eps = 0``.

    ``eps = 0`` makes zennit's SequentialMergeBatchNorm fold exactly (zennit 0.5.1 leaves the eps of a
    merged BatchNorm behind, which alone moves maps by ~2e-4).
    """
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            with torch.no_grad():
                m.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                m.bias.copy_(torch.randn(n, generator=generator) * 0.1)
                m.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            m.eps = 0.0


class VGGStyle(nn.Module):
    """VGG-style 2-D CNN on ``[B, 1, 16, 16]``: conv blocks, max and average pooling, dropout, MLP head.

    The flatten between features and classifier is a tensor op in ``forward`` (captum only accepts
    modules it has rules for).
    """

    def __init__(self, batch_norm: bool, num_classes: int = 10) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> list[nn.Module]:
            layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, padding=1)]
            if batch_norm:
                layers.append(nn.BatchNorm2d(cout))
            return [*layers, nn.ReLU(inplace=True)]

        self.features = nn.Sequential(
            *block(1, 8), nn.MaxPool2d(2), *block(8, 16), nn.AvgPool2d(2), *block(16, 16), nn.AdaptiveAvgPool2d(2)
        )
        self.classifier = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x).flatten(1))


class ConcatPool1d(nn.Module):
    """Adaptive max and average pooling to length 1, concatenated: ``[B, C, L] -> [B, 2C, 1]``."""

    def __init__(self) -> None:
        super().__init__()
        self.max = nn.AdaptiveMaxPool1d(1)
        self.avg = nn.AdaptiveAvgPool1d(1)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.max(x), self.avg(x)], dim=1)


def fcn_style(num_classes: int = 5) -> nn.Sequential:
    """fcn_wang-style 1-D CNN on ``[B, 12, 64]`` with BatchNorm and a concatenated-pooling head."""
    return nn.Sequential(
        nn.Conv1d(12, 16, 8, padding="same"),
        nn.BatchNorm1d(16),
        nn.ReLU(),
        nn.MaxPool1d(2),
        nn.Conv1d(16, 32, 5, padding="same"),
        nn.BatchNorm1d(32),
        nn.ReLU(),
        nn.AvgPool1d(2),
        nn.Conv1d(32, 16, 3, padding="same"),
        nn.BatchNorm1d(16),
        nn.LeakyReLU(0.1),
        ConcatPool1d(),
        nn.Flatten(),
        nn.BatchNorm1d(32),
        nn.Dropout(0.25),
        nn.Linear(32, 16),
        nn.ReLU(),
        nn.BatchNorm1d(16),
        nn.Dropout(0.5),
        nn.Linear(16, num_classes),
    )


class TextCNN(nn.Module):
    """Embedding ``[B, L] -> [B, L, D]`` then a 1-D CNN ``body`` over ``[B, L, D]``."""

    def __init__(self, vocab: int = 50, dim: int = 8, num_classes: int = 4) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim, padding_idx=0)
        self.body = TextCNNBody(dim, num_classes)

    def forward(self, input_ids: Tensor) -> Tensor:
        return self.body(self.embedding(input_ids))


class TextCNNBody(nn.Module):
    def __init__(self, dim: int, num_classes: int) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv1d(dim, 16, 3),
            nn.ReLU(),
            nn.MaxPool1d(2),
            nn.Conv1d(16, 16, 3),
            nn.ReLU(),
            nn.AdaptiveMaxPool1d(1),
            nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, num_classes))

    def forward(self, embedded: Tensor) -> Tensor:
        return self.head(self.convs(embedded.transpose(1, 2)))


def merged_batch_norms(model: nn.Module) -> set[nn.Module]:
    """BatchNorms that directly follow a Linear/Conv inside an ``nn.Sequential``."""
    merged = set()
    for module in model.modules():
        if isinstance(module, nn.Sequential):
            children = list(module.children())
            for before, after in zip(children, children[1:]):
                if isinstance(after, nn.modules.batchnorm._BatchNorm) and isinstance(
                    before, (nn.Linear, nn.Conv1d, nn.Conv2d)
                ):
                    merged.add(after)
    return merged


def zennit_epsilon(
    model: nn.Module, x: Tensor, targets: Tensor, epsilon: float, lone_batch_norm: str = "epsilon"
) -> Tensor:
    """zennit's Epsilon rule everywhere, BatchNorms after Linear/Conv merged by SequentialMergeBatchNorm.

    Output relevance is one-hot times the target logit (this project's convention). A BatchNorm that
    follows no Linear/Conv gets the Epsilon rule, or with ``lone_batch_norm="pass"`` passes relevance
    unchanged (a wrong treatment that still conserves relevance).
    """
    from zennit.canonizers import SequentialMergeBatchNorm
    from zennit.composites import NameMapComposite
    from zennit.rules import Epsilon, Pass

    merged = merged_batch_norms(model)
    epsilon_types = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d,
                     nn.AdaptiveAvgPool2d, nn.BatchNorm1d, nn.BatchNorm2d)
    eps_names, pass_names = [], []
    for name, module in model.named_modules():
        lone_pass = lone_batch_norm == "pass" and isinstance(module, nn.modules.batchnorm._BatchNorm)
        if isinstance(module, epsilon_types) and module not in merged and not lone_pass:
            eps_names.append(name)
        elif isinstance(module, (nn.ReLU, nn.LeakyReLU)) or (lone_pass and module not in merged):
            pass_names.append(name)
    composite = NameMapComposite(
        name_map=[(tuple(eps_names), Epsilon(epsilon)), (tuple(pass_names), Pass())],
        canonizers=[SequentialMergeBatchNorm()],
    )
    model.eval()
    x = x.detach().clone().requires_grad_(True)
    with composite.context(model) as modified:
        out = modified(x)
        onehot = torch.zeros_like(out).scatter_(1, targets[:, None], 1.0)
        (relevance,) = torch.autograd.grad(out, x, grad_outputs=onehot * out)
    return relevance.detach()


def captum_lrp(model: nn.Module, x: Tensor, targets: Tensor, epsilon: float) -> Tensor:
    """captum's LRP with its EpsilonRule on every linear layer (models without BatchNorm).

    captum also gives max pooling the epsilon rule, which differs from routing to the winners by a
    factor ``a / (a + eps)``: compare with a tiny ``epsilon``.
    """
    from captum.attr import LRP
    from captum.attr._utils.lrp_rules import EpsilonRule

    model.eval()
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
            module.rule = EpsilonRule(epsilon)
    relevance = LRP(model).attribute(x.detach().clone(), target=targets)
    for module in model.modules():
        if hasattr(module, "rule"):
            del module.rule
    return relevance.detach()
