"""ChallengerTrainer end to end on tiny CPU models: the step's guarantees and Trainer features."""

from __future__ import annotations

import copy
import os
import warnings

import pytest
import torch
from test_trainer_models import DictDataset, TinyConvNet, TinyTextNet, image_data, text_data
from transformers import Trainer, TrainerCallback, TrainingArguments

from hf_challenger.config import ChallengerConfig
from hf_challenger.lrp import EpsilonLRP
from hf_challenger.models import VGGConfig, VGGForImageClassification
from hf_challenger.trainer import ChallengerTrainer
from hf_challenger.training_args import ChallengerTrainingArguments

ALPHA, BETA = 0.3, 0.7


pytestmark = pytest.mark.usefixtures("one_thread")


def make_args(tmp_path, **overrides) -> ChallengerTrainingArguments:
    values = dict(
        output_dir=str(tmp_path / "out"),
        max_steps=1,
        per_device_train_batch_size=8,
        per_device_eval_batch_size=8,
        learning_rate=0.0,
        report_to="none",
        use_cpu=True,
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
        seed=11,
        challenger_num_features="5",
        challenger_top_k=1,
        challenger_alpha=ALPHA,
        challenger_beta=BETA,
    )
    values.update(overrides)
    return ChallengerTrainingArguments(**values)


class Recording(ChallengerTrainer):
    """Keeps a copy of every micro-batch as the data loader gave it."""

    def training_step(self, model, inputs, num_items_in_batch=None):
        self.clean_batches = getattr(self, "clean_batches", [])
        self.clean_batches.append({k: v.clone() for k, v in inputs.items()})
        return super().training_step(model, inputs, num_items_in_batch)


class LogCollector(TrainerCallback):
    def __init__(self) -> None:
        self.logs: list[dict] = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        self.logs.append(dict(logs or {}))


def check_exact_rows(seen: torch.Tensor, clean: torch.Tensor, n_a: int, n_b: int, per_row: list[int] | int):
    """Rows A moved by exactly -alpha, rows B by +beta, on ``per_row`` features; the rest bit-identical."""
    changed = seen != clean
    rows = changed.reshape(len(seen), -1).sum(dim=1)
    expected = per_row if isinstance(per_row, list) else [per_row] * (n_a + n_b)
    assert rows[: n_a + n_b].tolist() == expected
    assert rows[n_a + n_b :].sum() == 0 and torch.equal(seen[n_a + n_b :], clean[n_a + n_b :])
    assert torch.equal(seen[:n_a][changed[:n_a]], (clean[:n_a] - ALPHA)[changed[:n_a]])
    assert torch.equal(
        seen[n_a : n_a + n_b][changed[n_a : n_a + n_b]], (clean[n_a : n_a + n_b] + BETA)[changed[n_a : n_a + n_b]]
    )
    return changed


def test_exact_rows_and_features_follow_relevance(tmp_path) -> None:
    model = TinyConvNet()
    initial = copy.deepcopy(model)
    trainer = Recording(model=model, args=make_args(tmp_path), train_dataset=image_data())
    trainer.train()
    clean = trainer.clean_batches[0]["pixel_values"]
    seen = model.seen[0]
    changed = check_exact_rows(seen, clean, 2, 2, 5)
    # The changed features are each row's 5 highest or 5 lowest relevance for its argmax class (top_k=1).
    head = clean[:4]
    relevance = EpsilonLRP(initial).attribute(head, initial.eval()(head).logits.argmax(1)).reshape(4, -1)
    flags = []
    for row in range(4):
        chosen = set(changed[row].reshape(-1).nonzero().flatten().tolist())
        top = set(relevance[row].topk(5).indices.tolist())
        bottom = set((-relevance[row]).topk(5).indices.tolist())
        assert chosen in (top, bottom)
        flags.append(chosen == top)
    planner = trainer.challenger_planner
    assert planner.lrp is not None and planner.site is not None


def check_std_shift(seen: torch.Tensor, clean: torch.Tensor, allowed: torch.Tensor, per_row: int) -> float:
    """Rows A moved by exactly -alpha * std and rows B by +beta * std on ``per_row`` allowed features
    each, the clean half bit-identical; std: of the clean challenged rows' allowed values, pooled."""
    head = clean[:4].double()
    std = float(head[allowed].std(correction=0))
    changed = seen != clean
    assert changed.reshape(len(seen), -1).sum(dim=1).tolist() == [per_row] * 4 + [0] * (len(seen) - 4)
    assert not changed[:4][~allowed].any() and torch.equal(seen[4:], clean[4:])
    delta = (seen - clean)[:4].double()
    for rows, expected in ((slice(0, 2), -ALPHA * std), (slice(2, 4), BETA * std)):
        moved = delta[rows][changed[rows]]
        torch.testing.assert_close(moved, torch.full_like(moved, expected), rtol=0, atol=1e-6)
    return std


@pytest.mark.parametrize("selection", ["lrp", "random"])
def test_std_units_move_allowed_features_by_alpha_times_the_batch_std(tmp_path, selection) -> None:
    """perturbation_units="std": text at the embeddings, padding neither chosen nor in the estimate."""
    model = TinyTextNet()
    initial = copy.deepcopy(model)
    args = make_args(
        tmp_path, challenger_attribution_target="embeddings", challenger_perturbation_units="std",
        challenger_selection=selection, challenger_num_features="4",
    )  # fmt: skip
    trainer = Recording(model=model, args=args, train_dataset=text_data())
    trainer.train()
    batch = trainer.clean_batches[0]
    clean = initial.embed(batch["input_ids"]).detach()
    allowed = batch["attention_mask"][:4, :, None].bool().expand(-1, -1, clean.shape[-1])
    std = check_std_shift(model.seen[0], clean, allowed, 4)
    with_padding = float(clean[:4].double().std(correction=0))
    assert abs(with_padding - std) > 0.05 * std  # the check above tells the two estimates apart


def test_std_units_on_the_input_with_a_feature_mask(tmp_path) -> None:
    model = TinyConvNet()
    feature_mask = torch.ones(3, 8, 8, dtype=torch.bool)
    feature_mask[:, :, 0] = False
    data = image_data()
    data.columns["pixel_values"][:, :, :, 0] = 25.0  # excluded column, far off: must not enter the std
    args = make_args(tmp_path, challenger_perturbation_units="std")
    trainer = Recording(model=model, args=args, train_dataset=data, feature_mask=feature_mask)
    trainer.train()
    clean = trainer.clean_batches[0]["pixel_values"]
    std = check_std_shift(model.seen[0], clean, feature_mask.expand(4, -1, -1, -1), 5)
    assert 0.5 < std < 2.0  # the unit normal values, not the constant column


def test_engine_and_hooks_are_kept_across_steps(tmp_path) -> None:
    model = TinyTextNet()
    args = make_args(tmp_path, max_steps=3, challenger_attribution_target="embeddings", per_device_train_batch_size=4)
    trainer = ChallengerTrainer(model=model, args=args, train_dataset=text_data())
    trainer.train()
    engine, site = trainer.challenger_planner.lrp, trainer.challenger_planner.site
    hooks = len(model.embed._forward_hooks)
    trainer.args.max_steps = 6
    trainer.train()
    planner = trainer.challenger_planner
    assert planner.lrp is engine and planner.site is site and len(model.embed._forward_hooks) == hooks
    assert len(model.seen) == 3 + 6


def test_text_padding_never_challenged_and_short_rows(tmp_path) -> None:
    model = TinyTextNet()
    initial = copy.deepcopy(model)
    args = make_args(tmp_path, challenger_attribution_target="embeddings", challenger_num_features="20")
    trainer = Recording(model=model, args=args, train_dataset=text_data())
    with pytest.warns(UserWarning, match="fewer candidate features than num_features"):
        trainer.train()
    batch = trainer.clean_batches[0]
    clean = initial.embed(batch["input_ids"]).detach()
    keep = batch["attention_mask"].sum(dim=1)
    per_row = [min(20, int(k) * 6) for k in keep[:4]]
    changed = check_exact_rows(model.seen[0], clean, 2, 2, per_row)
    padding = batch["attention_mask"] == 0
    assert not changed[padding].any()
    short = sum(p < 20 for p in per_row)
    assert trainer.state.log_history[0]["challenger_short_rows"] == short


def test_attribution_leaves_no_trace(tmp_path) -> None:
    """No parameter .grad, no BatchNorm statistic change, module modes restored: lrp, fgsm, pgd."""
    batch = {k: v[:8] for k, v in image_data().columns.items()}
    for perturbation in ("challenger", "fgsm", "pgd"):
        model = TinyConvNet()
        model.train()
        model.features[5].eval()  # a mixed mode must survive too
        modes = {name: m.training for name, m in model.named_modules()}
        buffers = {name: b.clone() for name, b in model.named_buffers()}
        trainer = ChallengerTrainer(
            model=model, args=make_args(tmp_path, challenger_perturbation=perturbation), train_dataset=image_data()
        )
        trainer.challenger_planner.bind(model, batch)
        edit = trainer.challenger_planner.plan(model, batch, 0).edit
        assert callable(edit)
        assert all(p.grad is None for p in model.parameters())
        assert all(torch.equal(b, buffers[name]) for name, b in model.named_buffers())
        assert {name: m.training for name, m in model.named_modules()} == modes


def test_same_seed_same_run(tmp_path) -> None:
    def run(seed: int):
        torch.manual_seed(0)
        model = TinyConvNet()
        args = make_args(tmp_path, max_steps=3, learning_rate=0.05, seed=seed, challenger_top_k=3)
        ChallengerTrainer(model=model, args=args, train_dataset=image_data()).train()
        return [p.detach().clone() for p in model.parameters()], model.seen

    params_a, seen_a = run(3)
    params_b, seen_b = run(3)
    assert all(torch.equal(a, b) for a, b in zip(params_a, params_b))
    assert all(torch.equal(a, b) for a, b in zip(seen_a, seen_b))
    params_c, _ = run(4)
    assert not all(torch.equal(a, c) for a, c in zip(params_a, params_c))


def test_gradient_accumulation_splits_each_micro_batch(tmp_path) -> None:
    model = TinyConvNet()
    args = make_args(tmp_path, max_steps=2, per_device_train_batch_size=4, gradient_accumulation_steps=2)
    trainer = Recording(model=model, args=args, train_dataset=image_data())
    counted = []
    report = trainer.challenger_stats.report
    trainer.challenger_stats.report = lambda *a, **k: (
        counted.append(trainer.challenger_stats._optimizer_steps) or report(*a, **k)
    )
    trainer.train()
    assert len(model.seen) == 4 and trainer.state.global_step == 2
    assert counted == [1, 1]  # attribution time is per optimizer step, not per micro-batch
    for seen, clean in zip(model.seen, trainer.clean_batches):
        check_exact_rows(seen, clean["pixel_values"], 1, 1, 5)


def test_bf16_autocast_training_with_fp32_attribution(tmp_path) -> None:
    model = TinyConvNet()
    trainer = Recording(model=model, args=make_args(tmp_path, max_steps=2, bf16=True), train_dataset=image_data())
    trainer.train()
    assert model.autocast_in_train == [True, True]  # Trainer's autocast is intact
    assert model.autocast_in_eval == [False, False]  # the attribution forward ran without it
    for seen, clean in zip(model.seen, trainer.clean_batches):
        check_exact_rows(seen, clean["pixel_values"], 2, 2, 5)


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path) -> None:
    torch.manual_seed(0)
    init = TinyConvNet().state_dict()

    def trainer_for(out: str) -> ChallengerTrainer:
        model = TinyConvNet()
        model.load_state_dict(init)
        args = make_args(
            tmp_path, output_dir=str(tmp_path / out), max_steps=6, learning_rate=0.05, save_strategy="steps",
            save_steps=3, challenger_top_k=3, challenger_num_features="0.2",
        )  # fmt: skip
        return ChallengerTrainer(model=model, args=args, train_dataset=image_data(rows=24))

    full = trainer_for("full")
    full.train()
    expected = {k: v.clone() for k, v in full.model.state_dict().items()}
    checkpoint = tmp_path / "full" / "checkpoint-3"
    assert (checkpoint / "challenger_rng_state.pth").is_file()

    resumed = trainer_for("resumed")
    resumed.train(resume_from_checkpoint=str(checkpoint))
    got = resumed.model.state_dict()
    assert all(torch.equal(got[k], expected[k]) for k in expected)

    os.remove(checkpoint / "challenger_rng_state.pth")  # without it the challenges differ
    blind = trainer_for("blind")
    with pytest.warns(UserWarning, match="challenger_rng_state.pth not found"):
        blind.train(resume_from_checkpoint=str(checkpoint))
    assert not all(torch.equal(blind.model.state_dict()[k], expected[k]) for k in expected)


def test_evaluate_and_predict_never_challenge(tmp_path) -> None:
    model = TinyTextNet()
    args = make_args(tmp_path, challenger_attribution_target="embeddings", challenger_top_k=2)
    eval_data = text_data(rows=10, seed=5)
    trainer = ChallengerTrainer(model=model, args=args, train_dataset=text_data(), eval_dataset=eval_data)
    trainer.train()  # binds the embedding hook
    assert trainer.challenger_planner.site is not None
    metrics = trainer.evaluate()
    plain = Trainer(
        model=model,
        args=TrainingArguments(
            **{k: getattr(args, k) for k in ("output_dir", "use_cpu", "report_to", "per_device_eval_batch_size")}
        ),
    )
    assert metrics["eval_loss"] == plain.evaluate(eval_data)["eval_loss"]
    logits = trainer.predict(eval_data).predictions
    columns = eval_data.columns
    with torch.no_grad():
        direct = model.eval()(columns["input_ids"], columns["attention_mask"]).logits
    assert torch.allclose(torch.as_tensor(logits), direct, atol=0, rtol=0)
    assert len(model.seen) == 1  # only the training forward


def test_callbacks_see_the_challenger_metrics(tmp_path) -> None:
    collector = LogCollector()
    trainer = ChallengerTrainer(
        model=TinyConvNet(), args=make_args(tmp_path, max_steps=2), train_dataset=image_data(), callbacks=[collector]
    )
    trainer.train()
    train_logs = [log for log in collector.logs if "loss" in log]
    assert len(train_logs) == 2
    for log in train_logs:
        assert log["challenger_changed_share"] == pytest.approx(5 / 192)
        assert log["challenger_challenged_rows"] == 0.5
        assert log["challenger_attribution_seconds"] > 0
        assert log["challenger_mean_abs_relevance"] > 0
        assert log["challenger_short_rows"] == 0
    assert "challenger_changed_share" in trainer.state.log_history[0]


@pytest.mark.parametrize("schedule", [{"challenger_start_step": 2}, {"challenger_start_epoch": 1.0}])
def test_schedule_starts_challenging_later(tmp_path, schedule) -> None:
    model = TinyConvNet()
    trainer = Recording(
        model=model, args=make_args(tmp_path, max_steps=4, **schedule), train_dataset=image_data(rows=16)
    )
    trainer.train()
    pairs = list(zip(model.seen, (b["pixel_values"] for b in trainer.clean_batches)))
    assert [torch.equal(seen, clean) for seen, clean in pairs] == [True, True, False, False]
    for seen, clean in pairs[2:]:
        check_exact_rows(seen, clean, 2, 2, 5)


def test_random_selection_needs_no_attribution(tmp_path) -> None:
    model = TinyTextNet()
    args = make_args(
        tmp_path, max_steps=2, challenger_selection="random", challenger_attribution_target="embeddings",
        challenger_num_features="3",
    )  # fmt: skip
    trainer = Recording(model=model, args=args, train_dataset=text_data())
    trainer.train()
    assert trainer.challenger_planner.lrp is None
    initial_embed = model.embed  # lr = 0: unchanged
    for seen, batch in zip(model.seen, trainer.clean_batches):
        changed = check_exact_rows(seen, initial_embed(batch["input_ids"]).detach(), 2, 2, 3)
        assert not changed[batch["attention_mask"] == 0].any()
    assert trainer.state.log_history[0]["challenger_attribution_seconds"] == 0.0


@pytest.mark.parametrize("perturbation", ["fgsm", "pgd"])
def test_adversarial_baselines_perturb_the_same_rows(tmp_path, perturbation) -> None:
    model = TinyConvNet()
    eps = 0.05
    args = make_args(
        tmp_path, challenger_perturbation=perturbation, challenger_adversarial_epsilon=eps,
        challenger_adversarial_steps=3,
    )  # fmt: skip
    trainer = Recording(model=model, args=args, train_dataset=image_data())
    trainer.train()
    seen, clean = model.seen[0], trainer.clean_batches[0]["pixel_values"]
    diff = (seen - clean)[:4]
    assert torch.equal(seen[4:], clean[4:])
    assert diff.abs().max() <= eps + 1e-6
    if perturbation == "fgsm":
        moved = diff != 0
        assert moved.float().mean() > 0.5
        assert torch.allclose(diff[moved].abs(), torch.full_like(diff[moved], eps), atol=1e-6)
    else:
        assert diff.abs().mean() > eps / 4


def test_fgsm_on_embeddings_spares_padding(tmp_path) -> None:
    model = TinyTextNet()
    args = make_args(tmp_path, challenger_perturbation="fgsm", challenger_attribution_target="embeddings")
    trainer = Recording(model=model, args=args, train_dataset=text_data())
    trainer.train()
    batch = trainer.clean_batches[0]
    diff = model.seen[0] - model.embed(batch["input_ids"]).detach()
    assert diff[:4].abs().sum() > 0 and diff[4:].abs().sum() == 0
    assert diff[batch["attention_mask"] == 0].abs().sum() == 0


def test_one_row_batch_is_trained_unchallenged_with_a_warning(tmp_path) -> None:
    model = TinyConvNet(batch_norm=False)
    trainer = Recording(
        model=model, args=make_args(tmp_path, max_steps=2, per_device_train_batch_size=1), train_dataset=image_data()
    )
    with pytest.warns(UserWarning, match="1 row\\(s\\) is too small to split"):
        trainer.train()
    assert all(torch.equal(s, b["pixel_values"]) for s, b in zip(model.seen, trainer.clean_batches))
    assert trainer.state.log_history[0]["challenger_challenged_rows"] == 0.0


def test_two_row_batch_leaves_no_clean_row_and_warns(tmp_path) -> None:
    model = TinyConvNet(batch_norm=False)
    trainer = Recording(
        model=model, args=make_args(tmp_path, max_steps=2, per_device_train_batch_size=2), train_dataset=image_data()
    )
    with pytest.warns(UserWarning, match=r"2 row\(s\) splits 1/1/0 .*every row is challenged and none is left clean"):
        trainer.train()
    assert all(not torch.equal(s[1], b["pixel_values"][1]) for s, b in zip(model.seen, trainer.clean_batches))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 3 rows: 1/1/1, one clean row, no warning
        Recording(
            model=TinyConvNet(batch_norm=False), train_dataset=image_data(rows=6),
            args=make_args(tmp_path, max_steps=2, per_device_train_batch_size=3),
        ).train()  # fmt: skip


def test_num_features_above_the_row_size_is_clamped_with_a_warning(tmp_path) -> None:
    model = TinyConvNet()
    trainer = Recording(
        model=model, args=make_args(tmp_path, challenger_num_features="1000"), train_dataset=image_data()
    )
    with pytest.warns(UserWarning, match="num_features=1000 exceeds the 192 attributed features"):
        trainer.train()
    check_exact_rows(model.seen[0], trainer.clean_batches[0]["pixel_values"], 2, 2, 192)


def test_top_k_above_class_count_is_an_error(tmp_path) -> None:
    trainer = ChallengerTrainer(
        model=TinyConvNet(), args=make_args(tmp_path, challenger_top_k=5), train_dataset=image_data()
    )
    with pytest.raises(ValueError, match=r"top_k must be in \[1, 4\].*got 5"):
        trainer.train()


def test_feature_mask_excludes_marked_features(tmp_path) -> None:
    model = TinyConvNet()
    border = torch.zeros(3, 8, 8, dtype=torch.bool)
    border[:, 2:6, 2:6] = True  # only the centre may be challenged
    args = make_args(tmp_path, challenger_num_features="0.5")
    trainer = Recording(model=model, args=args, train_dataset=image_data(), feature_mask=border)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.train()
    changed = model.seen[0] != trainer.clean_batches[0]["pixel_values"]
    assert changed[:4].any() and not changed[:, ~border].any()


def test_disabled_is_plain_trainer_and_explicit_config_wins(tmp_path) -> None:
    torch.manual_seed(0)
    init = TinyConvNet().state_dict()
    finals = []
    for cls, extra in ((Trainer, {}), (ChallengerTrainer, {"challenger_enabled": False})):
        model = TinyConvNet()
        model.load_state_dict(init)
        args = make_args(tmp_path, max_steps=3, learning_rate=0.05, **extra)
        cls(model=model, args=args, train_dataset=image_data()).train()
        finals.append(model.state_dict())
    assert all(torch.equal(finals[0][k], finals[1][k]) for k in finals[0])
    config = ChallengerConfig(num_features=7, top_k=2)
    trainer = ChallengerTrainer(model=TinyConvNet(), args=make_args(tmp_path), challenger_config=config)
    assert trainer.challenger_config is config
    plain_args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none")
    assert ChallengerTrainer(model=TinyConvNet(), args=plain_args).challenger_config == ChallengerConfig()


def test_attributed_key_and_module_are_configurable(tmp_path) -> None:
    class Renamed(TinyConvNet):
        main_input_name = "input_ids"  # wrong on purpose: the explicit key must win

    model = Renamed()
    args = make_args(tmp_path, challenger_input_key="pixel_values")
    trainer = Recording(model=model, args=args, train_dataset=image_data())
    trainer.train()
    check_exact_rows(model.seen[0], trainer.clean_batches[0]["pixel_values"], 2, 2, 5)

    hidden = ChallengerTrainer(  # attribute and perturb the first convolution's output [B, 6, 8, 8]
        model=TinyConvNet(batch_norm=False),
        args=make_args(tmp_path, challenger_attribution_target="features.0"),
        train_dataset=image_data(),
    )
    hidden.train()
    assert hidden.state.log_history[0]["challenger_changed_share"] == pytest.approx(5 / 384)

    missing = ChallengerTrainer(
        model=TinyConvNet(), args=make_args(tmp_path, challenger_input_key="images"), train_dataset=image_data()
    )
    with pytest.raises(KeyError, match=r"no tensor under 'images' \(keys: \['labels', 'pixel_values'\]\)"):
        missing.train()
    with pytest.raises(ValueError, match=r"attribution_target 'encoder' is neither.*submodules include"):
        ChallengerTrainer(  # refused when the trainer is built, before any training
            model=TinyConvNet(),
            args=make_args(tmp_path, challenger_attribution_target="encoder"),
            train_dataset=image_data(),
        )


def test_model_card_records_the_challenger_settings(tmp_path) -> None:
    model = VGGForImageClassification(VGGConfig(depth=11, base_width=2, classifier_hidden_size=8, num_labels=4))
    data = DictDataset(pixel_values=torch.randn(8, 3, 32, 32), labels=torch.randint(0, 4, (8,)))
    trainer = ChallengerTrainer(model=model, args=make_args(tmp_path, challenger_alpha=0.125), train_dataset=data)
    trainer.train()
    trainer.create_model_card(model_name="tiny")
    card = (tmp_path / "out" / "README.md").read_text()
    assert "- challenger" in card and "## Challenger" in card
    assert "- alpha: 0.125" in card and "- num_features: 5" in card


def test_fractional_num_features_applies_to_each_rows_candidates(tmp_path) -> None:
    model = TinyTextNet()
    initial = copy.deepcopy(model)
    args = make_args(tmp_path, challenger_attribution_target="embeddings", challenger_num_features="0.1")
    trainer = Recording(model=model, args=args, train_dataset=text_data())
    trainer.train()
    batch = trainer.clean_batches[0]
    keep = batch["attention_mask"].sum(dim=1)
    per_row = [max(1, int(0.1 * int(k) * 6 + 0.5)) for k in keep[:4]]  # 6 embedding dims per token
    changed = check_exact_rows(model.seen[0], initial.embed(batch["input_ids"]).detach(), 2, 2, per_row)
    assert not changed[batch["attention_mask"] == 0].any()
    assert trainer.state.log_history[0]["challenger_short_rows"] == 0


def test_degenerate_relevance_is_counted_and_warned_about_once(tmp_path) -> None:
    """All-zero relevance (here: a zero classifier) makes top-N and bottom-N one random draw."""
    model = TinyConvNet()
    with torch.no_grad():
        model.classifier.weight.zero_()
    trainer = ChallengerTrainer(model=model, args=make_args(tmp_path, max_steps=2), train_dataset=image_data(16))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.train()
    messages = [str(w.message) for w in caught if "challenger_degenerate_rows" in str(w.message)]
    assert len(messages) == 1 and "at step 0 the relevance of challenged row(s) [0, 1, 2, 3]" in messages[0]
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert [entry["challenger_degenerate_rows"] for entry in logs] == [4, 4]

    healthy = ChallengerTrainer(model=TinyConvNet(), args=make_args(tmp_path, max_steps=2), train_dataset=image_data(16))
    healthy.train()
    assert [e["challenger_degenerate_rows"] for e in healthy.state.log_history if "loss" in e] == [0, 0]


def test_degenerate_rows_are_constant_over_their_candidates_only() -> None:
    from hf_challenger.challenge import degenerate_rows

    scores = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 5.0], [2.0, 2.0, 2.0], [0.0, 3.0, 0.0]])
    assert degenerate_rows(scores).tolist() == [True, False, True, False]
    allowed = torch.tensor([[True, True, True], [True, True, False], [False, False, False], [True, False, True]])
    assert degenerate_rows(scores, allowed).tolist() == [True, True, False, True]
