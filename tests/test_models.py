"""Tests of the paper's models: layers, shapes, losses, label checks, save/load through
the Auto classes, embedding handling, and that epsilon-LRP runs on each model."""

from __future__ import annotations

import importlib

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForAudioClassification,
    AutoModelForImageClassification,
    AutoModelForSequenceClassification,
)

import hf_challenger.models
from hf_challenger.lrp import EpsilonLRP
from hf_challenger.models import (
    ConcatPool1d,
    FCNWangConfig,
    FCNWangForECGClassification,
    TextCNNConfig,
    TextCNNForSequenceClassification,
    VGGConfig,
    VGGForImageClassification,
    register_auto_classes,
)
from hf_challenger.models.vgg import VGG_LAYERS

MULTI = "multi_label_classification"
SINGLE = "single_label_classification"


def tiny_vgg(**kwargs) -> VGGForImageClassification:
    options = dict(base_width=4, classifier_hidden_size=16, num_labels=5)
    options.update(kwargs)
    return VGGForImageClassification(VGGConfig(**options))


def tiny_text_cnn(**kwargs) -> TextCNNForSequenceClassification:
    options = dict(vocab_size=30, embedding_dim=6, num_filters=8, hidden_size=8, num_labels=4)
    options.update(kwargs)
    return TextCNNForSequenceClassification(TextCNNConfig(**options))


def tiny_fcn(**kwargs) -> FCNWangForECGClassification:
    options = dict(filters=(8, 12, 8), head_hidden_size=6, num_labels=5)
    options.update(kwargs)
    return FCNWangForECGClassification(FCNWangConfig(**options))


def token_batch(model: TextCNNForSequenceClassification, batch: int = 3, generator=None):
    length = model.config.min_sequence_length + 7
    ids = torch.randint(2, model.config.vocab_size, (batch, length), generator=generator)
    mask = torch.ones_like(ids)
    mask[0, length - 40 :] = 0
    ids[mask == 0] = 0
    return ids, mask


def warm_batch_norm(model: nn.Module, inputs: torch.Tensor) -> None:
    """Give BatchNorm non-trivial running statistics with a few train-mode forwards."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(inputs)
    model.eval()


# --------------------------------------------------------------------------- VGG


@pytest.mark.parametrize("depth", [11, 16])
def test_vgg_feature_stack_is_torchvision_configuration(depth):
    torchvision_vgg = pytest.importorskip("torchvision.models.vgg")
    assert list(VGG_LAYERS[depth]) == torchvision_vgg.cfgs["A" if depth == 11 else "D"]
    model = VGGForImageClassification(VGGConfig(depth=depth, num_channels=3))
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    widths = [item for item in VGG_LAYERS[depth] if item != "M"]
    assert [c.out_channels for c in convs] == widths
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.features) == 5
    linears = [m for m in model.classifier if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(512, 512), (512, 512), (512, 10)]


def test_vgg_defaults_are_unregularised():
    config = VGGConfig()
    assert (config.depth, config.num_channels, config.image_size, config.num_labels) == (11, 3, 32, 10)
    assert config.use_batch_norm is False and config.dropout == 0.0
    model = VGGForImageClassification(config)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert all(m.p == 0.0 for m in model.modules() if isinstance(m, nn.Dropout))
    assert model.main_input_name == "pixel_values"


@pytest.mark.parametrize("depth", [11, 16])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [28, 32])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_vgg_forward_shapes(depth, channels, size, batch_norm):
    model = tiny_vgg(depth=depth, num_channels=channels, image_size=size, use_batch_norm=batch_norm, dropout=0.3)
    convs = sum(isinstance(m, nn.Conv2d) for m in model.modules())
    assert convs == (8 if depth == 11 else 13)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == (convs if batch_norm else 0)
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.3, 0.3]
    out = model(torch.randn(2, channels, size, size))
    assert out.logits.shape == (2, 5) and out.loss is None
    assert model.features(torch.randn(2, channels, size, size)).shape == (2, 32, 1, 1)


def test_vgg_28_pixels_is_zero_padding_to_32():
    small = tiny_vgg(num_channels=1, image_size=28).eval()
    large = tiny_vgg(num_channels=1, image_size=32).eval()
    large.load_state_dict(small.state_dict())
    images = torch.randn(3, 1, 28, 28)
    torch.testing.assert_close(small(images).logits, large(F.pad(images, (2, 2, 2, 2))).logits)


def test_vgg_larger_images_give_a_larger_map():
    model = tiny_vgg(image_size=64)
    assert model.classifier[1].in_features == 32 * 2 * 2
    assert model(torch.randn(2, 3, 64, 64)).logits.shape == (2, 5)


def test_vgg_refuses_wrong_input_shape():
    model = tiny_vgg(num_channels=1, image_size=28)
    with pytest.raises(ValueError, match=r"\[batch, 1, 28, 28\].*\(2, 3, 28, 28\)"):
        model(torch.randn(2, 3, 28, 28))
    with pytest.raises(ValueError, match="got \\(2, 1, 32, 32\\)"):
        model(torch.randn(2, 1, 32, 32))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(depth=13), "depth=13"),
        (dict(num_channels=0), "num_channels"),
        (dict(image_size=27), "image_size=27"),
        (dict(dropout=1.0), "dropout"),
        (dict(use_batch_norm="yes"), "use_batch_norm"),
        (dict(problem_type="regression"), "regression"),
        (dict(num_labels=1), "num_labels=1"),
    ],
)
def test_vgg_config_refuses_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VGGConfig(**kwargs)


# --------------------------------------------------------------------------- losses


def test_single_label_loss_is_cross_entropy():
    model = tiny_vgg()
    labels = torch.tensor([0, 4, 2])
    out = model(torch.randn(3, 3, 32, 32), labels=labels)
    torch.testing.assert_close(out.loss, F.cross_entropy(out.logits, labels))


def test_multi_label_loss_is_binary_cross_entropy():
    model = tiny_vgg(problem_type=MULTI)
    labels = torch.tensor([[1, 0, 0, 1, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.float32)
    out = model(torch.randn(3, 3, 32, 32), labels=labels)
    p = torch.sigmoid(out.logits)
    by_hand = -(labels * p.log() + (1 - labels) * (1 - p).log()).mean()
    torch.testing.assert_close(out.loss, by_hand)
    bool_labels = model(torch.randn(3, 3, 32, 32), labels=labels.bool())
    assert bool_labels.loss.isfinite()


def test_loss_has_gradients_for_training():
    model = tiny_fcn()
    out = model(torch.randn(4, 12, 50), labels=(torch.rand(4, 5) > 0.5).float())
    out.loss.backward()
    assert model.head[-1].weight.grad is not None and model.head[-1].weight.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "labels, message",
    [
        (torch.tensor([[1.0, 0, 0, 0, 0]] * 2), "set config.problem_type='multi_label_classification'"),
        (torch.tensor([0, 5]), "label 5 is out of range.*\\[0, 4\\]"),
        (torch.tensor([-1, 2]), "label -1 is out of range"),
        (torch.tensor([0, 1, 2]), "shape \\[batch\\]=\\(2,\\).*\\(3,\\)"),
        (torch.tensor([[0], [1]]), "got \\(2, 1\\)"),
    ],
)
def test_single_label_refuses_bad_labels(labels, message):
    with pytest.raises(ValueError, match=message):
        tiny_vgg()(torch.randn(2, 3, 32, 32), labels=labels)


@pytest.mark.parametrize(
    "labels, message",
    [
        (torch.tensor([1, 3]), "\\(2, 5\\).*got \\(2,\\)"),
        (torch.ones(2, 4), "got \\(2, 4\\)"),
        (torch.full((2, 5), 2.0), "\\[0, 1\\].*2.0"),
        (torch.full((2, 5), float("nan")), "\\[0, 1\\]"),
    ],
)
def test_multi_label_refuses_bad_labels(labels, message):
    with pytest.raises(ValueError, match=message):
        tiny_fcn()(torch.randn(2, 12, 40), labels=labels)


def test_labels_must_be_a_tensor():
    with pytest.raises(TypeError, match="list"):
        tiny_vgg()(torch.randn(2, 3, 32, 32), labels=[0, 1])


# --------------------------------------------------------------------------- text CNN


def test_text_cnn_layers_match_the_keras_model():
    model = TextCNNForSequenceClassification(TextCNNConfig(vocab_size=50, embedding_dim=100, num_labels=20))
    convs = [m for m in model.modules() if isinstance(m, nn.Conv1d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.padding) for c in convs] == [
        (100, 128, (5,), (0,)),
        (128, 128, (5,), (0,)),
        (128, 128, (5,), (0,)),
    ]
    assert [m.kernel_size for m in model.modules() if isinstance(m, nn.MaxPool1d)] == [5, 5]
    assert sum(isinstance(m, nn.AdaptiveMaxPool1d) for m in model.modules()) == 1
    assert [(m.in_features, m.out_features) for m in linears] == [(128, 128), (128, 20)]
    assert model.embeddings.padding_idx == 0
    assert model.main_input_name == "input_ids"
    assert model.get_input_embeddings() is model.embeddings
    assert model.config.min_sequence_length == 149


def test_text_cnn_minimum_length_is_exact():
    model = TextCNNForSequenceClassification(TextCNNConfig(vocab_size=10, embedding_dim=4, num_filters=4, hidden_size=4))
    assert model(torch.randint(0, 10, (2, 149))).logits.shape == (2, 20)
    with pytest.raises(ValueError, match="length 148.*at least 149"):
        model(torch.randint(0, 10, (2, 148)))


def test_text_cnn_forward_and_loss():
    model = tiny_text_cnn()
    ids, mask = token_batch(model)
    labels = torch.tensor([0, 3, 1])
    out = model(ids, attention_mask=mask, labels=labels)
    assert out.logits.shape == (3, 4)
    torch.testing.assert_close(out.loss, F.cross_entropy(out.logits, labels))


def test_text_cnn_embedding_frozen_by_default():
    model = tiny_text_cnn()
    assert model.config.freeze_embeddings is True
    assert not model.embeddings.weight.requires_grad
    before = model.embeddings.weight.detach().clone()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=1.0)
    ids, mask = token_batch(model)
    model(ids, attention_mask=mask, labels=torch.tensor([0, 1, 2])).loss.backward()
    optimizer.step()
    assert model.embeddings.weight.grad is None
    assert torch.equal(model.embeddings.weight, before)
    assert tiny_text_cnn(freeze_embeddings=False).embeddings.weight.requires_grad


def test_text_cnn_loads_pretrained_vectors():
    vectors = torch.randn(30, 6)
    vectors[0] = 0.0
    model = TextCNNForSequenceClassification.from_embeddings(vectors, num_labels=3, num_filters=8, hidden_size=8)
    assert (model.config.vocab_size, model.config.embedding_dim, model.config.num_labels) == (30, 6, 3)
    assert torch.equal(model.embeddings.weight, vectors)
    assert not model.embeddings.weight.requires_grad
    numpy_vectors = torch.randn(30, 6).double().numpy()
    model.load_embedding_matrix(numpy_vectors)
    torch.testing.assert_close(model.embeddings.weight, torch.from_numpy(numpy_vectors).float())
    with pytest.raises(ValueError, match="vocab_size is taken from the embedding matrix"):
        TextCNNForSequenceClassification.from_embeddings(vectors, vocab_size=30)


@pytest.mark.parametrize(
    "matrix, message",
    [
        (torch.randn(31, 6), "shape \\(31, 6\\).*\\(30, 6\\)"),
        (torch.randn(30, 5), "shape \\(30, 5\\).*\\(30, 6\\)"),
        (torch.randn(30), "2-D float matrix"),
        (torch.zeros(30, 6, dtype=torch.long), "2-D float matrix"),
        (torch.full((30, 6), float("inf")), "NaN or infinite"),
    ],
)
def test_text_cnn_refuses_bad_embedding_matrix(matrix, message):
    model = tiny_text_cnn()
    before = model.embeddings.weight.detach().clone()
    with pytest.raises(ValueError, match=message):
        model.load_embedding_matrix(matrix)
    assert torch.equal(model.embeddings.weight, before)


def test_text_cnn_attention_mask_zeroes_padded_positions():
    model = tiny_text_cnn().eval()
    with torch.no_grad():
        model.embeddings.weight[0] = 5.0  # a non-zero padding row shows whether the mask acts
    ids, mask = token_batch(model)
    other = ids.clone()
    other[mask == 0] = 7  # whatever sits under the mask must not matter
    masked = model(ids, attention_mask=mask).logits
    torch.testing.assert_close(model(other, attention_mask=mask).logits, masked)
    assert not torch.allclose(model(ids).logits[0], masked[0])
    torch.testing.assert_close(model(ids).logits[1:], masked[1:])  # rows without padding


@pytest.mark.parametrize(
    "ids, mask, message",
    [
        (torch.randint(0, 30, (2, 160)).float(), None, "integer tensor"),
        (torch.randint(0, 30, (160,)), None, "integer tensor \\[batch, length\\]"),
        (torch.full((2, 160), 30), None, "input id 30 is out of range.*\\[0, 29\\]"),
        (torch.full((2, 160), -2), None, "input id -2 is out of range"),
        (torch.zeros(2, 160, dtype=torch.long), torch.ones(2, 150), "attention_mask.*\\(2, 150\\)"),
    ],
)
def test_text_cnn_refuses_bad_inputs(ids, mask, message):
    with pytest.raises(ValueError, match=message):
        tiny_text_cnn()(ids, attention_mask=mask)


def test_text_cnn_config_refuses_bad_values():
    with pytest.raises(ValueError, match="vocab_size.*at least 2"):
        TextCNNConfig(vocab_size=1)
    with pytest.raises(ValueError, match="kernel_size"):
        TextCNNConfig(kernel_size=0)
    with pytest.raises(ValueError, match="freeze_embeddings"):
        TextCNNConfig(freeze_embeddings=1)


# --------------------------------------------------------------------------- fcn_wang


def test_fcn_wang_layers_match_the_ptbxl_benchmark():
    model = FCNWangForECGClassification(FCNWangConfig())
    assert model.config.num_labels == 71 and model.config.problem_type == MULTI
    assert model.main_input_name == "input_values"
    convs = [m for m in model.encoder if isinstance(m, nn.Conv1d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0], c.padding[0], c.bias) for c in convs] == [
        (12, 128, 8, 3, None),
        (128, 256, 5, 2, None),
        (256, 128, 3, 1, None),
    ]
    assert [type(m) for m in model.encoder] == [nn.Conv1d, nn.BatchNorm1d, nn.ReLU] * 3
    assert [type(m) for m in model.head] == [
        ConcatPool1d, nn.Flatten, nn.BatchNorm1d, nn.Dropout, nn.Linear, nn.ReLU,
        nn.BatchNorm1d, nn.Dropout, nn.Linear,
    ]  # fmt: skip
    assert [type(m) for m in model.head[0].children()] == [nn.AdaptiveMaxPool1d, nn.AdaptiveAvgPool1d]
    assert [(m.in_features, m.out_features) for m in model.head if isinstance(m, nn.Linear)] == [(256, 128), (128, 71)]
    assert [m.p for m in model.head if isinstance(m, nn.Dropout)] == [0.25, 0.5]
    assert model(torch.randn(2, 12, 1000)).logits.shape == (2, 71)


def test_fcn_wang_concat_pool_is_max_then_mean():
    signal = torch.tensor([[[1.0, 5.0, 3.0], [-2.0, -4.0, 0.0]]])
    pooled = ConcatPool1d()(signal)
    assert torch.equal(pooled, torch.tensor([[[5.0], [0.0], [3.0], [-2.0]]]))


def test_fcn_wang_options_and_single_label():
    model = tiny_fcn(head_dropout=0.1, final_dropout=0.2, problem_type=SINGLE, num_labels=3)
    assert [m.p for m in model.head if isinstance(m, nn.Dropout)] == [0.1, 0.2]
    labels = torch.tensor([0, 2])
    out = model(torch.randn(2, 12, 2), labels=labels)
    assert out.logits.shape == (2, 3)
    torch.testing.assert_close(out.loss, F.cross_entropy(out.logits, labels))


def test_fcn_wang_refuses_bad_inputs_and_config():
    model = tiny_fcn()
    with pytest.raises(ValueError, match="\\[batch, 12, time\\].*\\(2, 8, 100\\)"):
        model(torch.randn(2, 8, 100))
    with pytest.raises(ValueError, match="1 time steps.*at least 2"):
        model(torch.randn(2, 12, 1))
    with pytest.raises(ValueError, match="equal length"):
        FCNWangConfig(filters=(8, 8), kernel_sizes=(3,))
    with pytest.raises(ValueError, match="final_dropout"):
        FCNWangConfig(final_dropout=-0.1)


# --------------------------------------------------------------------------- save / load


def round_trip(model: nn.Module, auto_class, inputs: dict, tmp_path):
    model.eval()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    assert not (tmp_path / "pytorch_model.bin").exists()
    loaded = auto_class.from_pretrained(tmp_path)
    assert type(loaded) is type(model)
    skip = {"_name_or_path", "name_or_path", "transformers_version"}
    saved = {k: v for k, v in model.config.to_diff_dict().items() if k not in skip}
    assert {k: v for k, v in loaded.config.to_diff_dict().items() if k not in skip} == saved
    assert not loaded.training
    with torch.no_grad():
        assert torch.equal(loaded(**inputs).logits, model(**inputs).logits)
    return loaded


@pytest.mark.parametrize("batch_norm", [False, True])
def test_vgg_round_trip_through_auto_class(batch_norm, tmp_path):
    model = tiny_vgg(depth=16, num_channels=1, image_size=28, use_batch_norm=batch_norm, dropout=0.5)
    images = torch.randn(4, 1, 28, 28)
    if batch_norm:
        warm_batch_norm(model, images)
    loaded = round_trip(model, AutoModelForImageClassification, {"pixel_values": images}, tmp_path)
    assert (loaded.config.depth, loaded.config.use_batch_norm, loaded.config.dropout) == (16, batch_norm, 0.5)
    assert AutoConfig.from_pretrained(tmp_path).model_type == "challenger-vgg"


def test_text_cnn_round_trip_keeps_frozen_embeddings(tmp_path):
    model = TextCNNForSequenceClassification.from_embeddings(
        torch.randn(30, 6), num_labels=4, num_filters=8, hidden_size=8, id2label={i: f"topic{i}" for i in range(4)}
    )
    ids, mask = token_batch(model)
    loaded = round_trip(
        model, AutoModelForSequenceClassification, {"input_ids": ids, "attention_mask": mask}, tmp_path
    )
    assert torch.equal(loaded.embeddings.weight, model.embeddings.weight)
    assert not loaded.embeddings.weight.requires_grad
    assert loaded.config.id2label[2] == "topic2"
    trainable = AutoModelForSequenceClassification.from_pretrained(tmp_path, freeze_embeddings=False)
    assert trainable.embeddings.weight.requires_grad


@pytest.mark.parametrize("problem_type", [None, SINGLE, MULTI])
def test_fcn_wang_round_trip_keeps_problem_type(problem_type, tmp_path):
    model = tiny_fcn(problem_type=problem_type)
    signals = torch.randn(4, 12, 30)
    warm_batch_norm(model, signals)
    loaded = round_trip(model, AutoModelForAudioClassification, {"input_values": signals}, tmp_path)
    assert loaded.config.problem_type == problem_type
    assert torch.equal(loaded.head[2].running_mean, model.head[2].running_mean)


def test_auto_classes_build_models_from_configs():
    assert type(AutoModelForImageClassification.from_config(VGGConfig(base_width=4))) is VGGForImageClassification
    text = AutoModelForSequenceClassification.from_config(TextCNNConfig(vocab_size=10))
    assert type(text) is TextCNNForSequenceClassification
    fcn = AutoModelForAudioClassification.from_config(FCNWangConfig())
    assert type(fcn) is FCNWangForECGClassification
    assert AutoConfig.for_model("challenger-text-cnn").__class__ is TextCNNConfig


def test_registration_is_idempotent():
    register_auto_classes()
    register_auto_classes()
    importlib.reload(hf_challenger.models)  # a second import runs the registration again
    importlib.reload(hf_challenger.models)
    assert hf_challenger.models.VGGConfig is VGGConfig
    assert type(AutoModelForImageClassification.from_config(VGGConfig(base_width=4))) is VGGForImageClassification
    assert type(AutoConfig.for_model("challenger-fcn-wang")) is FCNWangConfig


def test_text_cnn_trains_with_trainer(tmp_path):
    datasets = pytest.importorskip("datasets")
    from transformers import Trainer, TrainingArguments

    model = tiny_text_cnn()
    ids, mask = token_batch(model, batch=8, generator=torch.Generator().manual_seed(0))
    data = datasets.Dataset.from_dict(
        {"input_ids": ids.tolist(), "attention_mask": mask.tolist(), "labels": [0, 1, 2, 3] * 2}
    ).with_format("torch")
    embeddings = model.embeddings.weight.detach().clone()
    output = model.classifier[-1].weight.detach().clone()
    args = TrainingArguments(
        output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=4, learning_rate=0.1,
        report_to=[], save_strategy="no", use_cpu=True, disable_tqdm=True,
    )  # fmt: skip
    trainer = Trainer(model=model, args=args, train_dataset=data)
    assert torch.isfinite(torch.tensor(trainer.train().training_loss))
    assert torch.equal(model.embeddings.weight, embeddings)  # frozen
    assert not torch.equal(model.classifier[-1].weight, output)  # trained
    trainer.save_model(str(tmp_path / "final"))
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "final")
    assert torch.equal(loaded.classifier[-1].weight, model.classifier[-1].weight)


# --------------------------------------------------------------------------- LRP


def only_supported_leaves(model: nn.Module) -> None:
    """Every leaf is a module type the LRP engine knows, and none works in place."""
    leaves = [m for m in model.modules() if next(m.children(), None) is None]
    known = (
        nn.Conv1d, nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool1d,
        nn.MaxPool2d, nn.AdaptiveMaxPool1d, nn.AdaptiveAvgPool1d, nn.Dropout, nn.Flatten, nn.Embedding,
    )  # fmt: skip
    assert all(isinstance(m, known) for m in leaves), [type(m) for m in leaves]
    assert not any(getattr(m, "inplace", False) for m in leaves)


@pytest.mark.parametrize("size, batch_norm", [(28, True), (32, False)])
def test_lrp_runs_on_vgg(size, batch_norm):
    model = tiny_vgg(num_channels=1, image_size=size, use_batch_norm=batch_norm, dropout=0.5)
    images = torch.randn(3, 1, size, size)
    if batch_norm:
        warm_batch_norm(model, images)
    model.train()
    only_supported_leaves(model)
    relevance = EpsilonLRP(model).attribute(images, torch.tensor([0, 3, 4]))
    assert relevance.shape == images.shape
    assert relevance.isfinite().all() and relevance.abs().sum() > 0
    assert model.training  # mode restored


def test_lrp_on_vgg_conserves_the_logit_without_biases():
    model = tiny_vgg(image_size=28).double().eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                module.bias.zero_()
    images = torch.randn(2, 3, 28, 28, dtype=torch.float64)
    targets = torch.tensor([1, 2])
    relevance = EpsilonLRP(model, epsilon=1e-12).attribute(images, targets)
    logits = model(images).logits.gather(1, targets[:, None]).squeeze(1)
    torch.testing.assert_close(relevance.sum(dim=(1, 2, 3)), logits)


def test_lrp_runs_on_text_cnn_embeddings():
    model = tiny_text_cnn()
    only_supported_leaves(model)
    ids, mask = token_batch(model)
    lrp = EpsilonLRP(model)
    relevance = lrp.attribute(
        {"input_ids": ids, "attention_mask": mask}, torch.tensor([0, 1, 3]), at=model.get_input_embeddings()
    )
    assert relevance.shape == (*ids.shape, model.config.embedding_dim)
    assert relevance.isfinite().all() and relevance.abs().sum() > 0
    assert torch.all(relevance[mask == 0] == 0)  # padded positions carry no relevance
    plain = lrp.attribute(ids, torch.tensor([0, 1, 3]), at=model.get_input_embeddings())
    assert plain.shape == relevance.shape
    lrp.remove()


def test_lrp_runs_on_fcn_wang():
    model = tiny_fcn()
    signals = torch.randn(3, 12, 40)
    warm_batch_norm(model, signals)
    only_supported_leaves(model)
    relevance = EpsilonLRP(model).attribute({"input_values": signals}, torch.tensor([4, 0, 2]))
    assert relevance.shape == signals.shape
    assert relevance.isfinite().all() and relevance.abs().sum() > 0
