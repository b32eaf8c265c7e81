"""ChallengerTrainer under 2-process DDP (torchrun, gloo on CPU): see tests/ddp_train.py."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("ddp_train.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_process_ddp_runs_without_reducer_errors(tmp_path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
        "--master_port", str(free_port()), str(SCRIPT), str(tmp_path),
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=280)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    for marker in ("Expected to have finished reduction", "Reducer", "ranks diverged", "Traceback"):
        assert marker not in output, output[-4000:]
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["world_size"] == 2
    for name in ("image", "text", "bert"):
        logs = result[name]
        assert len(logs) == 3
        assert all(log["challenger_challenged_rows"] == 0.5 and log["challenger_changed_share"] > 0 for log in logs)
        assert all(log["challenger_mean_abs_relevance"] > 0 for log in logs)
