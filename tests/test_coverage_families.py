"""Coverage: every classification model class of the installed transformers, plain Trainer vs ChallengerTrainer.

For each family of the sequence-, image-, audio- and time-series-classification mappings
(:mod:`classification_zoo`): ``ChallengerTrainer`` (attributing the token embeddings of token models,
the input tensor of the others) is built on a tiny random model and trains two challenged steps;
where it does not, plain ``Trainer`` trains one step on the same data. A family that ``Trainer`` trains must train under
``ChallengerTrainer`` too, or be refused when the trainer is built with an error naming what to set;
the refusals and the families not set up here are listed below, each with its reason, and the test
fails when the observed outcome of any family differs from that list. The table is printed (N/M).

    python tests/test_coverage_families.py          # the table in markdown, for the README
"""

from __future__ import annotations

import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate.state import AcceleratorState
from transformers import Trainer

sys.path.insert(0, str(Path(__file__).parent))

from classification_zoo import Family, batch, build, families  # noqa: E402
from test_trainer_models import DictDataset  # noqa: E402

from hf_challenger import ChallengerTrainer, ChallengerTrainingArguments  # noqa: E402
from hf_challenger.lrp import UnsupportedLayerError  # noqa: E402

# Families whose tiny model plain Trainer does not train here, and why.
NOT_SET_UP = {
    "layoutlmv2": "needs detectron2, not installed",
    "dinat": "needs natten, not installed",
    "timm_wrapper": "needs timm, not installed",
    "pp_lcnet": "its image-classification class returns no loss: plain Trainer cannot train it",
    "shieldgemma2": "needs prompts with image tokens from its processor; no tiny set-up written",
    "qwen3_5": "its sequence-classification class returns no loss: plain Trainer cannot train it",
}

# Families ChallengerTrainer refuses when it is built with the default target, and the setting its
# message names; with that setting they train (checked).
REFUSED = {
    "canine": ("no token embedding module (character hashing)", "canine.char_embeddings"),
    "perceiver": ("no token embedding module (get_input_embeddings() is the latent array)",
                  "perceiver.input_preprocessor.embeddings"),
    "reformer": ("reversible layers: no backward in eval mode", None),
}


@dataclass
class Outcome:
    family: Family
    status: str  # "trains", "refused", "not set up", "FAILS"
    detail: str = ""
    seconds: float = 0.0
    rules: frozenset[str] = frozenset()  # rule classes the calls of its last pass met


def arguments(tmp_path: Path, family: Family, challenger: bool, target: str | None = None, **extra):
    return ChallengerTrainingArguments(
        output_dir=str(tmp_path / family.model_type),
        max_steps=2 if challenger else 1,
        per_device_train_batch_size=4,
        learning_rate=1e-3,
        report_to="none",
        use_cpu=True,
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
        seed=0,
        challenger_enabled=challenger,
        challenger_top_k=2,
        challenger_num_features="0.1",
        challenger_alpha=0.1,
        challenger_beta=0.1,
        challenger_attribution_target=target or "input",
        **extra,
    )


def default_target(model: torch.nn.Module, rows: dict[str, torch.Tensor]) -> str:
    main = rows.get(model.main_input_name)
    return "embeddings" if main is not None and not main.is_floating_point() else "input"


def run_family(family: Family, tmp_path: Path) -> Outcome:
    """ChallengerTrainer first; plain Trainer only where it does not train (what plain Trainer does with
    the family decides whether that is a failure, or a family not set up here)."""
    start = time.perf_counter()
    try:
        model = build(family)
        rows = batch(family, model)
    except Exception as error:  # noqa: BLE001 - a failure to build is a reason to list
        return Outcome(family, "not set up", f"build: {type(error).__name__}: {error}"[:200])
    data = DictDataset(**rows)
    target = default_target(model, rows)
    try:
        trainer = ChallengerTrainer(model=model, args=arguments(tmp_path, family, True, target), train_dataset=data)
    except (ValueError, UnsupportedLayerError) as error:
        setting = REFUSED.get(family.model_type, (None, None))[1]
        if setting is None:
            return Outcome(family, "refused", str(error))
        trainer = ChallengerTrainer(model=build(family), args=arguments(tmp_path, family, True, setting), train_dataset=data)
        detail = f"refused for 'embeddings' ({error}); trains with challenger_attribution_target={setting!r}"
        return _train(trainer, family, "refused", detail, start)
    outcome = _train(trainer, family, "trains", target, start)
    if outcome.status == "FAILS":
        try:
            Trainer(model=build(family), args=arguments(tmp_path, family, False), train_dataset=data).train()
        except Exception as error:  # noqa: BLE001
            return Outcome(family, "not set up", f"plain Trainer: {type(error).__name__}: {error}"[:200])
    return outcome


def _train(trainer: ChallengerTrainer, family: Family, status: str, detail: str, start: float) -> Outcome:
    before = [p.detach().clone() for p in trainer.model.parameters()]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer.train()
        logs = [entry for entry in trainer.state.log_history if "loss" in entry]
        assert len(logs) == 2 and all(torch.isfinite(torch.tensor(entry["loss"])) for entry in logs), logs
        assert all(entry["challenger_changed_share"] > 0 for entry in logs), logs
        assert any(not torch.equal(a, p) for a, p in zip(before, trainer.model.parameters())), "no update"
    except Exception as error:  # noqa: BLE001
        return Outcome(family, "FAILS", f"{type(error).__name__}: {error}"[:300], time.perf_counter() - start)
    engine = trainer.challenger_planner.lrp
    rules = frozenset(engine.rules_met) if engine is not None else frozenset()
    return Outcome(family, status, detail, time.perf_counter() - start, rules)


def run_all(tmp_path: Path) -> list[Outcome]:
    import transformers

    transformers.logging.set_verbosity_error()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return [run_family(family, tmp_path) for family in families()]
    finally:
        torch.set_num_threads(threads)
        AcceleratorState._reset_state(reset_partial_state=True)  # later tests choose their own precision


def summary(outcomes: list[Outcome]) -> str:
    trains = [o for o in outcomes if o.status == "trains"]
    refused = [o for o in outcomes if o.status == "refused"]
    absent = [o for o in outcomes if o.status == "not set up"]
    failing = [o for o in outcomes if o.status == "FAILS"]
    trainable = len(outcomes) - len(absent)
    lines = [
        f"ChallengerTrainer trains {len(trains)}/{trainable} families that plain Trainer trains "
        f"({len(outcomes)} enumerated; {len(refused)} refused when the trainer is built, "
        f"{len(absent)} not set up, {len(failing)} failing)"
    ]
    lines += [f"  refused    {o.family.model_type}: {o.detail}" for o in refused]
    lines += [f"  not set up {o.family.model_type}: {o.detail}" for o in absent]
    lines += [f"  FAILS      {o.family.model_type}: {o.detail}" for o in failing]
    return "\n".join(lines)


def test_every_classification_family_trains_or_is_refused_with_a_reason(tmp_path, capsys):
    outcomes = run_all(tmp_path)
    with capsys.disabled():
        print("\n" + summary(outcomes))
    def having(status: str) -> set[str]:
        return {o.family.model_type for o in outcomes if o.status == status}

    assert not having("FAILS"), summary(outcomes)
    assert having("not set up") == set(NOT_SET_UP), summary(outcomes)
    assert having("refused") == set(REFUSED), summary(outcomes)
    for outcome in outcomes:
        if outcome.status == "refused":  # the message says what to set
            assert "challenger_attribution_target" in outcome.detail or "challenger_selection" in outcome.detail


def markdown(outcomes: list[Outcome]) -> str:
    """The README's support table: trained families grouped by kind and the rule classes their calls met."""
    order = ("linear", "identity", "product", "statistic", "attention", "in-place")
    groups: dict[tuple[str, str], list[str]] = {}
    for o in outcomes:
        if o.status in ("trains", "refused") and o.rules:
            rules = ", ".join(r for r in order if r in o.rules)
            name = o.family.model_type + (" (named target)" if o.status == "refused" else "")
            groups.setdefault((o.family.kind, rules), []).append(name)
    lines = ["| input | rule classes met by calls | families |", "|---|---|---|"]
    for (kind, rules), names in sorted(groups.items()):
        lines.append(f"| {kind} | {rules} | {', '.join(sorted(names))} |")
    return "\n".join(lines)


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        results = run_all(Path(directory))
    print(summary(results))
    print(markdown(results))
