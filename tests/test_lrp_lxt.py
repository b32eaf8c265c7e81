"""Agreement with lxt's AttnLRP / CP-LRP on tiny float64 BERT, GPT-2 and Llama (committed references).

The references were made once with lxt 2.1 under transformers 4.52.4 in a separate environment
(``tests/fixtures/lxt/make_lxt_references.py``; see the README there); lxt is never imported here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import transformers
from safetensors.torch import load_file

from hf_challenger.lrp import EpsilonLRP

FIXTURES = Path(__file__).parent / "fixtures" / "lxt"
CASES = sorted(path.stem for path in FIXTURES.glob("*.json"))
TOLERANCE = 1e-6  # relative L2


def load_case(case: str, attn_implementation: str | None = None):
    meta = json.loads((FIXTURES / f"{case}.json").read_text())
    data = load_file(FIXTURES / f"{case}.safetensors")
    weights = load_file(FIXTURES / meta["weights_file"])
    config = transformers.AutoConfig.for_model(meta["model_type"], **meta["config_kwargs"])
    model_class = getattr(transformers, meta["model_class"])
    model = model_class._from_config(
        config, attn_implementation=attn_implementation or meta["attn_implementation"], dtype=torch.float64
    ).eval()
    model.load_state_dict({k[len("model.") :]: v for k, v in weights.items() if k.startswith("model.")}, strict=True)
    return meta, data, model


def test_all_references_are_present():
    assert {"bert_eager", "bert_sdpa", "gpt2", "gpt2_cp", "llama", "llama_cp"} <= set(CASES)


@pytest.mark.parametrize("case", CASES)
def test_relevance_agrees_with_lxt(case):
    meta, data, model = load_case(case)
    inputs = {"input_ids": data["input_ids"], "attention_mask": data["attention_mask"]}
    # Llama runs parts of its forward in float32 whatever the model dtype (eager softmax, rotary
    # table), and which parts has changed across transformers releases: its logits agree with the
    # reference's to float32 precision only. The others agree to float64 precision.
    close = 1e-6 if meta["model_type"] == "llama" else 1e-12
    with torch.no_grad():
        torch.testing.assert_close(model(**inputs).logits, data["logits"], rtol=close, atol=close)
    engine = EpsilonLRP(model, epsilon=1e-12, attention_rule=meta["attention_rule"])
    relevance = engine.attribute(inputs, data["targets"], at=model.get_input_embeddings())
    reference = data["relevance"]
    error = float((relevance - reference).norm() / reference.norm())
    assert error <= TOLERANCE, f"{case}: relative L2 error {error:.2e}"
    # The references differ from gradient x input by far more than the tolerance: the rules matter.
    embeddings = model.get_input_embeddings()(data["input_ids"]).detach().requires_grad_(True)
    logits = model(inputs_embeds=embeddings, attention_mask=data["attention_mask"]).logits
    logits.gather(1, data["targets"][:, None]).sum().backward()
    plain = embeddings.detach() * embeddings.grad
    assert float((plain - reference).norm() / reference.norm()) > 100 * TOLERANCE


@pytest.mark.parametrize("case", ["gpt2", "gpt2_cp", "llama", "llama_cp"])
def test_sdpa_attention_agrees_with_the_eager_reference(case):
    meta, data, model = load_case(case, attn_implementation="sdpa")
    inputs = {"input_ids": data["input_ids"], "attention_mask": data["attention_mask"]}
    engine = EpsilonLRP(model, epsilon=1e-12, attention_rule=meta["attention_rule"])
    relevance = engine.attribute(inputs, data["targets"], at=model.get_input_embeddings())
    reference = data["relevance"]
    # Llama's eager softmax runs in float32 (transformers), sdpa in float64: float32-level agreement.
    assert float((relevance - reference).norm() / reference.norm()) <= TOLERANCE
