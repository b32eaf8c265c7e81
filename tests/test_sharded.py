"""The attribution pass under engines that shard parameters: DeepSpeed ZeRO-3 (through Trainer and
accelerate) and FSDP2 (torch's ``fully_shard``), 2 gloo processes on CPU; see tests/sharded_train.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from test_trainer_ddp import free_port

SCRIPT = Path(__file__).with_name("sharded_train.py")


def launch(engine: str, out: Path) -> list[dict]:
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", DS_ACCELERATOR="cpu")
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[1]), env.get("PYTHONPATH", "")])
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
        "--master_port", str(free_port()), str(SCRIPT), engine, str(out),
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=400)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "Traceback" not in output, output[-4000:]
    return json.loads((out / "result.json").read_text())


def check(results: list[dict], update_tolerance: float, sharded: bool = True) -> None:
    assert [r["world_size"] for r in results] == [2, 2]
    for rank in results:
        assert len(rank["checks"]) == 3  # one challenged micro-batch per step
        for step in rank["checks"]:
            # relevance of the sharded model = one-process relevance of the same rows
            assert step["relevance_norm"] > 0 and step["relevance_error"] <= 1e-6, step
            assert step["same_features"] and step["same_shift"] and step["rows"] == 2, step
            assert step["grads_after_pass"] == [], step  # the pass leaves no parameter .grad
        assert rank["ranks_equal"]
        # training moved the parameters, and the sharded run moved them as one process would
        assert rank["update_size"] > 1e-4
        assert rank["update_error"] <= update_tolerance, rank["update_error"]
        # the pass holds no more of the model at once than a training forward does, and not all of it
        assert rank["census"]["pass"] <= rank["census"]["training"], rank["census"]
        if sharded:
            assert rank["census"]["pass"] < rank["total"], rank["census"]


def test_fsdp2_fully_shard(tmp_path) -> None:
    results = launch("fsdp2", tmp_path)
    check(results, update_tolerance=1e-10)  # float64
    for rank in results:  # bf16 compute weights: the pass still runs in float32, near the float32 model
        assert rank["bf16"]["dtype"] == "torch.float32"
        assert 0 < rank["bf16"]["error"] < 2e-2, rank["bf16"]


def test_deepspeed_zero3_through_trainer(tmp_path) -> None:
    pytest.importorskip("deepspeed")
    check(launch("zero3", tmp_path), update_tolerance=1e-5)  # float32


def test_deepspeed_zero2_through_trainer(tmp_path) -> None:
    pytest.importorskip("deepspeed")
    check(launch("zero2", tmp_path), update_tolerance=1e-5, sharded=False)  # parameters stay whole
