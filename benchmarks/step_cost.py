"""Cost of a ChallengerTrainer training step against a plain Trainer step, side by side in one run.

Networks (batch 32): a VGG11 on 32x32x3 images, fcn_wang on 12-lead, 1000-step ECG, a ViT-shaped
transformer (patch 4 on 32x32x3, hidden 192, 4 layers), a BERT-shaped one (hidden 256, 4 layers, 4
heads, 128 tokens, batch 16, challenged at the embedding output; AttnLRP rules), and the shape of
all-MiniLM-L6-v2 (6 layers, hidden 384, 12 heads, 64 tokens as its finetuning recipes, batch 16, std units). Arms:
``plain`` (``transformers.Trainer``), ``lrp`` (ChallengerTrainer, the method) and ``random``
(ChallengerTrainer with random selection: no attribution pass); on the MiniLM shape also ``cp``
(CP-LRP rules) and ``neftune`` (``Trainer`` with ``neftune_noise_alpha=5``), the finetuning arms.

Time: each arm has its own trainer; every repetition runs ``--steps`` optimizer steps of each arm in
a shuffled order (so machine noise hits all arms alike) and a callback times each step from
``on_step_begin`` to ``on_step_end`` (``training_step`` incl. the challenge, gradient clipping and
the optimizer step; data loading is outside). The first repetition is warm-up. The table gives
median step times and their ratio to the plain step.

Peak memory: ``tracemalloc`` does not see torch's allocations, so each (network, arm) runs in a fresh
subprocess that builds its trainer, resets the kernel's peak-RSS counter (``VmHWM``, by writing 5 to
``/proc/self/clear_refs``), runs ``--memory-steps`` steps and reports ``VmHWM`` minus the RSS just
before the steps: the extra resident memory the steps needed at their peak (activations, gradients,
optimizer state, attribution). Without ``clear_refs`` (non-Linux) it falls back to
``ru_maxrss`` and says so.

On CUDA (``--device cuda``) the steps are synchronised for timing and the memory column is
``torch.cuda.max_memory_allocated`` after a reset, minus what was allocated before the steps.

    python benchmarks/step_cost.py [--repeats 4] [--steps 3] [--batch-size 32] [--threads N]
                                   [--device cpu|cuda] [--cases vit,bert] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable

import torch
from torch import nn
from torch.utils.data import Dataset
from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.utils import logging as hf_logging

from hf_challenger.models import FCNWangConfig, FCNWangForECGClassification, VGGConfig, VGGForImageClassification
from hf_challenger.trainer import ChallengerTrainer
from hf_challenger.training_args import ChallengerTrainingArguments

ARMS = ("plain", "lrp", "random")
# The finetuning arms on the MiniLM shape: CP-LRP, and NEFTune (plain Trainer with embedding noise).
FINETUNE_ARMS = ("plain", "lrp", "cp", "random", "neftune")


def arms_of(case: str) -> tuple[str, ...]:
    return FINETUNE_ARMS if case.startswith("minilm") else ARMS


class RandomRows(Dataset):
    """``rows`` random examples: ``{key: tensor[i], "labels": labels[i]}`` (plus an all-ones mask for text)."""

    def __init__(self, key: str, inputs: torch.Tensor, labels: torch.Tensor) -> None:
        self.key, self.inputs, self.labels = key, inputs, labels

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        row = {self.key: self.inputs[index], "labels": self.labels[index]}
        if self.key == "input_ids":
            row["attention_mask"] = torch.ones_like(self.inputs[index])
        return row


def vgg11_case(rows: int) -> tuple[Callable[[], nn.Module], Dataset, int]:
    gen = torch.Generator().manual_seed(0)
    data = RandomRows(
        "pixel_values", torch.randn(rows, 3, 32, 32, generator=gen), torch.randint(0, 10, (rows,), generator=gen)
    )
    return lambda: VGGForImageClassification(VGGConfig(depth=11, num_channels=3, image_size=32, num_labels=10)), data, 5


def fcn_wang_case(rows: int) -> tuple[Callable[[], nn.Module], Dataset, int]:
    gen = torch.Generator().manual_seed(0)
    labels = (torch.rand(rows, 71, generator=gen) < 0.05).float()
    data = RandomRows("input_values", torch.randn(rows, 12, 1000, generator=gen), labels)
    return lambda: FCNWangForECGClassification(FCNWangConfig(num_labels=71)), data, 10


def vit_case(rows: int) -> tuple[Callable[[], nn.Module], Dataset, int]:
    from transformers import ViTConfig, ViTForImageClassification

    gen = torch.Generator().manual_seed(0)
    data = RandomRows(
        "pixel_values", torch.randn(rows, 3, 32, 32, generator=gen), torch.randint(0, 10, (rows,), generator=gen)
    )
    config = ViTConfig(
        image_size=32, patch_size=4, hidden_size=192, num_hidden_layers=4, num_attention_heads=3,
        intermediate_size=768, num_labels=10, attn_implementation="sdpa",
    )  # fmt: skip
    return lambda: ViTForImageClassification(config), data, 5


def bert_shaped(
    rows: int, hidden: int, layers: int, heads: int, tokens: int = 128
) -> tuple[Callable[[], nn.Module], Dataset, int]:
    """A randomly initialised BERT classifier (20 classes, intermediate 4 x hidden) on ``tokens`` random tokens."""
    from transformers import BertConfig, BertForSequenceClassification

    gen = torch.Generator().manual_seed(0)
    data = RandomRows(
        "input_ids", torch.randint(1000, 30000, (rows, tokens), generator=gen), torch.randint(0, 20, (rows,), generator=gen)
    )
    config = BertConfig(
        hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads, intermediate_size=4 * hidden,
        num_labels=20, attn_implementation="sdpa",
    )  # fmt: skip
    return lambda: BertForSequenceClassification(config), data, 10


def bert_case(rows: int) -> tuple[Callable[[], nn.Module], Dataset, int]:
    return bert_shaped(rows, hidden=256, layers=4, heads=4)


def minilm_case(rows: int) -> tuple[Callable[[], nn.Module], Dataset, int]:
    """The shape of all-MiniLM-L6-v2 (6 layers, hidden 384, 12 heads, WordPiece vocabulary of 30,522),
    randomly initialised (the step cost does not depend on the weights)."""
    return bert_shaped(rows, hidden=384, layers=6, heads=12, tokens=64)


CASES = {
    "vgg11 32x32": vgg11_case,
    "fcn_wang 12x1000": fcn_wang_case,
    "vit 32x32 p4": vit_case,
    "bert 128x256": bert_case,
    "minilm 64x384": minilm_case,
}
# Per-case overrides of the batch size and of the challenger arguments.
CASE_BATCH = {"bert 128x256": 16, "minilm 64x384": 16}
CASE_ARGS = {
    "bert 128x256": {"challenger_attribution_target": "embeddings"},
    "minilm 64x384": {"challenger_attribution_target": "embeddings", "challenger_perturbation_units": "std"},
}


class StepTimer(TrainerCallback):
    """Wall time of each optimizer step (``on_step_begin`` -> ``on_step_end``; CUDA synchronised)."""

    def __init__(self, cuda: bool) -> None:
        self.times: list[float] = []
        self.record = True
        self.cuda = cuda

    def on_step_begin(self, args, state, control, **kwargs):
        if self.cuda:
            torch.cuda.synchronize()
        self.start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if self.cuda:
            torch.cuda.synchronize()
        if self.record:
            self.times.append(time.perf_counter() - self.start)


def build_trainer(
    case: str, arm: str, batch_size: int, steps: int, out: str, cuda: bool = False
) -> tuple[Trainer, StepTimer]:
    torch.manual_seed(0)
    batch_size = CASE_BATCH.get(case, batch_size)
    make_model, data, top_k = CASES[case](rows=batch_size * max(steps, 1))
    common = dict(
        output_dir=out,
        max_steps=steps,
        per_device_train_batch_size=batch_size,
        learning_rate=1e-3,
        use_cpu=not cuda,
        report_to="none",
        save_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
        seed=0,
    )
    timer = StepTimer(cuda)
    if arm in ("plain", "neftune"):
        args = TrainingArguments(**common, neftune_noise_alpha=5.0 if arm == "neftune" else None)
        return Trainer(model=make_model(), args=args, train_dataset=data, callbacks=[timer]), timer
    rule = {"challenger_attention_rule": "cp"} if arm == "cp" else {}
    args = ChallengerTrainingArguments(
        **common,
        challenger_top_k=top_k,
        challenger_selection="random" if arm == "random" else "lrp",
        **rule,
        **CASE_ARGS.get(case, {}),
    )
    return ChallengerTrainer(model=make_model(), args=args, train_dataset=data, callbacks=[timer]), timer


def measure_time(batch_size: int, steps: int, repeats: int, out: str, cuda: bool) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    for case in CASES:
        trainers = {arm: build_trainer(case, arm, batch_size, steps, out, cuda) for arm in arms_of(case)}
        for repeat in range(repeats + 1):
            order = list(arms_of(case))
            random.Random(repeat).shuffle(order)
            for arm in order:
                trainer, timer = trainers[arm]
                timer.record = repeat > 0  # the first repetition is warm-up
                trainer.train()
            print(f"  {case}: repetition {repeat}/{repeats} done", file=sys.stderr, flush=True)
        results[case] = {arm: statistics.median(trainers[arm][1].times) for arm in arms_of(case)}
    return results


def rss_kb() -> int:
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def hwm_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("/proc/self/status has no VmHWM line")


def memory_probe(case: str, arm: str, batch_size: int, steps: int) -> dict[str, object]:
    """Peak extra RSS (KiB) of ``steps`` training steps; runs in its own process."""
    with tempfile.TemporaryDirectory() as out:
        trainer, _ = build_trainer(case, arm, batch_size, steps, out)
        before = rss_kb()
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
                handle.write("5")
            method = "VmHWM"
        except OSError:
            method = "ru_maxrss (peak RSS could not be reset; an upper bound)"
        trainer.train()
        peak = hwm_kb() if method == "VmHWM" else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"extra_kb": max(peak - before, 0), "method": method}


def measure_cuda_memory(batch_size: int, steps: int) -> dict[str, dict[str, float]]:
    """Peak extra CUDA memory (MiB) of ``steps`` steps per arm: ``max_memory_allocated`` after a reset."""
    results: dict[str, dict[str, float]] = {"_method": {"value": "torch.cuda.max_memory_allocated"}}
    for case in CASES:
        results[case] = {}
        for arm in arms_of(case):
            with tempfile.TemporaryDirectory() as out:
                trainer, _ = build_trainer(case, arm, batch_size, steps, out, cuda=True)
                trainer.model.to("cuda")
                torch.cuda.synchronize()
                before = torch.cuda.memory_allocated()
                torch.cuda.reset_peak_memory_stats()
                trainer.train()
                results[case][arm] = (torch.cuda.max_memory_allocated() - before) / 2**20
                del trainer
                torch.cuda.empty_cache()
    return results


def measure_memory(batch_size: int, steps: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    for case in CASES:
        results[case] = {}
        for arm in arms_of(case):
            command = [
                sys.executable, __file__, "--probe", case, arm, "--batch-size", str(batch_size),
                "--memory-steps", str(steps), "--threads", str(torch.get_num_threads()),
            ]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"memory probe {case}/{arm} failed:\n{done.stderr[-3000:]}")
            probe = json.loads(done.stdout.strip().splitlines()[-1])
            results[case][arm] = probe["extra_kb"] / 1024.0
            results.setdefault("_method", {})["value"] = probe["method"]
            print(f"  memory {case}/{arm}: {results[case][arm]:.0f} MiB", file=sys.stderr, flush=True)
    return results


def table(times: dict, memory: dict | None) -> str:
    lines = [
        "| network | arm | median step (s) | time vs plain | peak extra memory (MiB) | memory vs plain |",
        "|---|---|---|---|---|---|",
    ]
    for case in CASES:
        for arm in arms_of(case):
            step = times[case][arm]
            mem = f"{memory[case][arm]:.0f}" if memory else "-"
            mem_ratio = f"{memory[case][arm] / memory[case]['plain']:.2f}x" if memory else "-"
            lines.append(f"| {case} | {arm} | {step:.3f} | {step / times[case]['plain']:.2f}x | {mem} | {mem_ratio} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=4, help="timed repetitions per arm (after one warm-up)")
    parser.add_argument("--steps", type=int, default=3, help="optimizer steps per repetition")
    parser.add_argument("--memory-steps", type=int, default=2, help="steps in each memory probe")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--no-memory", action="store_true", help="skip the memory probes")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where the steps run")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--cases", help="comma-separated words; run only the networks whose name contains one")
    parser.add_argument("--json", help="also write the numbers to this file")
    parser.add_argument("--probe", nargs=2, metavar=("NETWORK", "ARM"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    for name in ("repeats", "steps", "memory_steps", "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    hf_logging.set_verbosity_error()
    warnings.filterwarnings("ignore")
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    if args.cases:
        wanted = [word.strip().lower() for word in args.cases.split(",")]
        for name in [n for n in CASES if not any(word in n for word in wanted)]:
            del CASES[name]
    if args.probe:
        print(json.dumps(memory_probe(args.probe[0], args.probe[1], args.batch_size, args.memory_steps)))
        return
    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    where = torch.cuda.get_device_name() if cuda else f"CPU, {torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, {where}; batch {args.batch_size}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as out:
        times = measure_time(args.batch_size, args.steps, args.repeats, out, cuda)
    if args.no_memory:
        memory = None
    elif cuda:
        memory = measure_cuda_memory(args.batch_size, args.memory_steps)
    else:
        memory = measure_memory(args.batch_size, args.memory_steps)
    print(table(times, memory))
    if memory:
        method = memory.pop("_method")["value"]
        where = (
            "per arm, minus the allocation before the steps"
            if cuda
            else "of a fresh process per arm, minus its RSS before the steps"
        )
        print(f"\nPeak memory: {method} {where}.")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"time_s": times, "peak_extra_mib": memory}, handle, indent=2)


if __name__ == "__main__":
    main()
