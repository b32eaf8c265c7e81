"""The parts of one Challenger step: target draw, feature selection, perturbation, baselines.

:class:`ChallengePlanner` composes them into one plan per micro-batch, which
:class:`~hf_challenger.ChallengerTrainer` applies; they are public for reuse and tests.
"""

from .adversarial import adversarial_delta
from .planner import ChallengePlan, ChallengePlanner
from .perturbation import RowEdit, candidate_std, challenge_shift
from .selection import candidate_mask, coin_flips, degenerate_rows, select_features
from .sites import InputSite, ModuleSite, attributed_module, input_embeddings, input_key_of, sequence_first
from .targets import draw_label_targets, draw_topk_targets

__all__ = [
    "ChallengePlan",
    "ChallengePlanner",
    "InputSite",
    "ModuleSite",
    "RowEdit",
    "adversarial_delta",
    "attributed_module",
    "candidate_mask",
    "candidate_std",
    "challenge_shift",
    "coin_flips",
    "degenerate_rows",
    "draw_label_targets",
    "draw_topk_targets",
    "input_embeddings",
    "input_key_of",
    "select_features",
    "sequence_first",
]
