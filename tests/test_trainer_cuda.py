"""ChallengerTrainer on a CUDA device (skipped without one): generator, events, bf16, hooks on GPU."""

from __future__ import annotations

import pytest
import torch
from test_trainer import LogCollector, Recording, check_exact_rows, make_args
from test_trainer_models import TinyConvNet, TinyTextNet, image_data, text_data

from hf_challenger.trainer import ChallengerTrainer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize("bf16", [False, True])
def test_lrp_step_on_cuda(tmp_path, bf16) -> None:
    model = TinyConvNet()
    collector = LogCollector()
    args = make_args(tmp_path, max_steps=2, use_cpu=False, bf16=bf16)
    trainer = Recording(model=model, args=args, train_dataset=image_data(), callbacks=[collector])
    trainer.train()
    assert trainer.challenger_generator.device.type == "cuda"
    for seen, clean in zip(model.seen, trainer.clean_batches):
        assert seen.is_cuda
        check_exact_rows(seen, clean["pixel_values"], 2, 2, 5)
    logs = [log for log in collector.logs if "loss" in log]
    assert all(log["challenger_attribution_seconds"] > 0 for log in logs)
    assert all(log["challenger_changed_share"] == pytest.approx(5 / 192) for log in logs)


@pytest.mark.parametrize("variant", [{}, {"challenger_selection": "random"}, {"challenger_perturbation": "pgd"}])
def test_text_variants_on_cuda(tmp_path, variant) -> None:
    model = TinyTextNet()
    args = make_args(
        tmp_path, max_steps=2, use_cpu=False, challenger_attribution_target="embeddings", challenger_top_k=2, **variant
    )
    trainer = Recording(model=model, args=args, train_dataset=text_data())
    trainer.train()
    for seen, batch in zip(model.seen, trainer.clean_batches):
        clean = model.embed(batch["input_ids"]).detach()
        assert torch.equal(seen[4:], clean[4:])
        assert not (seen != clean)[batch["attention_mask"] == 0].any()
        assert (seen != clean)[:4].any()


def test_generator_state_round_trips_through_a_checkpoint(tmp_path) -> None:
    args = make_args(tmp_path, max_steps=2, use_cpu=False, save_strategy="steps", save_steps=1)
    trainer = ChallengerTrainer(model=TinyConvNet(), args=args, train_dataset=image_data())
    trainer.train()
    state = trainer.challenger_generator.get_state()
    other = ChallengerTrainer(model=TinyConvNet(), args=make_args(tmp_path, use_cpu=False), train_dataset=image_data())
    other._load_rng_state(str(tmp_path / "out" / "checkpoint-2"))
    assert torch.equal(other.challenger_generator.get_state(), state)


def test_cuda_timing_folds_finished_events_without_logging() -> None:
    from hf_challenger.challenge.stats import ChallengerStats

    stats = ChallengerStats(torch.device("cuda"))
    x = torch.randn(256, 256, device="cuda")
    for _ in range(100):
        with stats.timed():
            x = x @ x.T / 256
    torch.cuda.synchronize()
    with stats.timed():
        x = x @ x.T / 256
    assert len(stats._events) <= 65
    report = stats.report(reduce=lambda t: t, world_size=1)
    assert report["challenger_attribution_seconds"] > 0 and not stats._events
