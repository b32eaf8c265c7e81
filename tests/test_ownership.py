"""One run per output folder (a lock naming its owner; a killed owner's lock taken over), distinct arms,
and results that record the settings each run used, overrides included."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_compare import write_tiny_recipe

from hf_challenger.cli import main
from hf_challenger.experiments.locks import LOCK_NAME, OutputFolderBusy, output_lock

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.usefixtures("one_thread")

HOLD = """
import sys, time
from hf_challenger.experiments.locks import output_lock
with output_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(300)
"""


@pytest.fixture
def recipe_path(tmp_path) -> Path:
    return write_tiny_recipe(tmp_path, tmp_path / "cache")


def test_a_folder_held_by_a_live_run_is_refused_naming_it_and_a_killed_runs_lock_is_taken_over(
    recipe_path, tmp_path, capsys
):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout.readline().strip() == "held"
        for argv in (
            ["compare", str(recipe_path), "--seeds", "1", "--output_dir", str(out)],
            ["train", str(recipe_path), "--arm", "base", "--output_dir", str(out)],
        ):
            with pytest.raises(SystemExit) as stop:
                main(argv)
            assert stop.value.code == 2
            error = capsys.readouterr().err
            assert f"the output folder {out} is in use by another run: pid {holder.pid} on host" in error
            assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]  # the refused run wrote nothing
        with pytest.raises(OutputFolderBusy, match=f"pid {holder.pid}"):
            with output_lock(out):
                pass
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    assert (out / LOCK_NAME).is_file()  # left behind by the killed run, but no longer held
    with pytest.warns(UserWarning, match=rf"taking over the lock of {out} left by pid {holder.pid} .*no longer running"):
        with output_lock(out) as lock:
            assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert not (out / LOCK_NAME).exists()  # released at the end


def test_repeated_arm_names_are_refused(recipe_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["compare", str(recipe_path), "--arms", "base,base", "--seeds", "1"])
    assert stop.value.code == 2
    assert "arms must be distinct (each arm's runs share one folder); ['base'] given more than once" in (
        capsys.readouterr().err
    )


def test_results_record_the_settings_used_and_which_were_overridden(recipe_path, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["compare", str(recipe_path), "--seeds", "1", "--output_dir", str(out), "--max_steps", "2",
            "--challenger_alpha", "0.5", "--arms", "base,challenger"]  # fmt: skip
    assert main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["recipe"]["training"]["max_steps"] == 4  # the recipe as written ...
    for run in results["runs"]:  # ... and what each run used
        assert run["training"]["max_steps"] == 2 and run["training"]["challenger_alpha"] == 0.5
        assert run["overridden"] == {
            "max_steps": {"used": 2, "recipe": 4},
            "challenger_alpha": {"used": 0.5, "recipe": 1.0},
        }
        saved = yaml.safe_load((Path(run["output_dir"]) / "recipe.yaml").read_text())
        assert saved["overridden"]["max_steps"] == {"used": 2, "recipe": 4}
    markdown = (out / "results.md").read_text()
    assert "Settings overridden on the command line" in markdown
    assert "- `max_steps`: 2 (recipe: 4), all arms" in markdown
    assert "- `challenger_alpha`: 0.5 (recipe: 1.0), all arms" in markdown
    assert not (out / LOCK_NAME).exists()
