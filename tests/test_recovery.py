"""Recovery: a checkpoint save killed midway never blocks resuming; unreadable checkpoint files are
errors naming the file."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from data_fixtures import write_malicious_pickle

from hf_challenger.resume import CheckpointError

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

pytestmark = pytest.mark.usefixtures("one_thread")

#: Trains TinyConvNet for 6 steps saving every 2; with KILL_AT=N the process kills itself with SIGKILL
#: in the middle of writing checkpoint-N (model and optimizer written, trainer_state.json not yet).
SCRIPT = """
import os, signal, sys, torch
torch.set_num_threads(1)
from test_trainer_models import TinyConvNet, image_data
from hf_challenger.trainer import ChallengerTrainer
from hf_challenger.training_args import ChallengerTrainingArguments

class Killed(ChallengerTrainer):
    def _save_rng_state(self, output_dir):
        if self.state.global_step == int(os.environ.get("KILL_AT", "-1")):
            os.kill(os.getpid(), signal.SIGKILL)
        super()._save_rng_state(output_dir)

torch.manual_seed(0)
args = ChallengerTrainingArguments(
    output_dir=sys.argv[1], max_steps=6, save_strategy="steps", save_steps=2, per_device_train_batch_size=8,
    learning_rate=0.05, report_to="none", use_cpu=True, disable_tqdm=True, seed=11, challenger_top_k=3,
    challenger_num_features="0.2",
)
trainer = Killed(model=TinyConvNet(), args=args, train_dataset=image_data(rows=24))
trainer.train(resume_from_checkpoint=sys.argv[2] == "resume")
torch.save(trainer.model.state_dict(), os.path.join(sys.argv[1], "final.pt"))
"""


def run_script(out: Path, resume: bool, kill_at: int | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS)])}
    if kill_at is not None:
        env["KILL_AT"] = str(kill_at)
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, str(out), "resume" if resume else "fresh"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip


def test_a_save_killed_midway_is_skipped_with_a_warning_and_the_run_resumes_bit_identically(tmp_path):
    full = run_script(tmp_path / "full", resume=False)
    assert full.returncode == 0, full.stderr[-3000:]
    killed = run_script(tmp_path / "run", resume=False, kill_at=4)
    assert killed.returncode == -9
    partial = tmp_path / "run" / "checkpoint-4"
    assert (partial / "model.safetensors").is_file() and not (partial / "trainer_state.json").exists()
    for attempt in range(2):  # the incomplete folder never blocks, however often the run is restarted
        resumed = run_script(tmp_path / "run", resume=True)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert f"skipping the incomplete checkpoint {partial}: it has no trainer_state.json" in resumed.stderr
        expected = torch.load(tmp_path / "full" / "final.pt")
        got = torch.load(tmp_path / "run" / "final.pt")
        assert all(torch.equal(got[key], expected[key]) for key in expected)
        shutil.rmtree(tmp_path / "run" / "checkpoint-6")  # the next attempt resumes from 2 again
        (partial / "trainer_state.json").unlink(missing_ok=True)
        for path in (tmp_path / "run").glob("checkpoint-4/*"):
            if path.name != "model.safetensors":
                path.unlink()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ckpt")
    done = run_script(out, resume=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return out / "checkpoint-2"


def resume_error(folder: Path) -> str:
    from test_trainer_models import TinyConvNet, image_data

    from hf_challenger.trainer import ChallengerTrainer
    from hf_challenger.training_args import ChallengerTrainingArguments

    args = ChallengerTrainingArguments(
        output_dir=str(folder.parent), max_steps=6, per_device_train_batch_size=8, report_to="none", use_cpu=True,
        disable_tqdm=True, save_strategy="no",
    )  # fmt: skip
    trainer = ChallengerTrainer(model=TinyConvNet(), args=args, train_dataset=image_data(rows=24))
    with pytest.raises(CheckpointError) as error:
        trainer.train(resume_from_checkpoint=str(folder))
    return str(error.value)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: max(1, path.stat().st_size // 2)])


@pytest.mark.parametrize(
    ("name", "damage", "message"),
    [
        ("trainer_state.json", _truncate, r"its trainer_state.json cannot be read .*the save was interrupted"),
        ("model.safetensors", _truncate, r"model.safetensors: it is empty, truncated or not the file Trainer saved"),
        ("optimizer.pt", lambda p: p.write_bytes(b""), r"optimizer.pt: it is empty, truncated"),
        ("scheduler.pt", _truncate, r"scheduler.pt: it is empty, truncated"),
        ("optimizer.pt", write_malicious_pickle, r"optimizer.pt: torch's safe loader \(weights_only\) refuses"),
        ("rng_state.pth", write_malicious_pickle, r"rng_state.pth: torch's safe loader \(weights_only\) refuses"),
    ],
)
def test_truncated_or_hostile_checkpoint_files_are_named(checkpoint, tmp_path, name, damage, message):
    import data_fixtures

    runs_before = len(data_fixtures.PAYLOAD_RUNS)
    copy = tmp_path / "out" / "checkpoint-2"
    shutil.copytree(checkpoint, copy)
    damage(copy / name)
    text = resume_error(copy)
    assert str(copy) in text and "resume from another checkpoint" in text
    assert re.search(message, text), text
    assert len(data_fixtures.PAYLOAD_RUNS) == runs_before  # the hostile pickle never ran


def test_resume_true_without_a_complete_checkpoint_names_the_incomplete_ones(tmp_path):
    from hf_challenger.resume import last_complete_checkpoint

    (tmp_path / "checkpoint-3").mkdir()
    with pytest.warns(UserWarning, match="skipping the incomplete checkpoint .*checkpoint-3"):
        with pytest.raises(CheckpointError, match=r"no complete checkpoint-N folder .*incomplete, skipped: .*checkp"):
            last_complete_checkpoint(tmp_path)
    assert "checkpoint-9' is not a folder" in resume_error(tmp_path / "checkpoint-9")
