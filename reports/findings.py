# ruff: noqa: E501  (a table of claims: one claim per line reads best)
"""The claims the results page tests, as data: the published study's, and ours on why uniform
quantization collapses and on what goes beyond the study. Margins: ``matches`` within 1 point
of accuracy, ``collapses`` a loss of more than 5 points."""

from __future__ import annotations

import schema
from search_spaces.beyond import AQ4, AQ6
from search_spaces.beyond import BWD as UNBIASED_BWD
from search_spaces.results import CAUSE_FACTORS
from search_spaces.study import CV_CUT, NLP_BOTH
from trainables.cv import RECIPES

from .claims import Claim
from .claims import Config as C

M, BIG = 0.01, 0.05
FM, RT = "fashion_mnist", "rotten_tomatoes"
NONE = C("none", "none")


def _both(spec: str) -> C:
    return C(spec, spec)


STUDY = [
    Claim("results-cv", FM, "CV: 16-bit uniform matches the baseline", C("uniform:b=16", "", CV_CUT), "matches",
          C("none", "", CV_CUT), M),
    Claim("results-cv", FM, "CV: 9-bit uniform collapses (default cut)", C("uniform:b=9", "", CV_CUT), "collapses",
          C("none", "", CV_CUT), BIG),
    Claim("results-cv", FM, "CV: sort quantization 6+2 matches the baseline", C("sortquant:b=6,s=2", "", CV_CUT),
          "matches", C("none", "", CV_CUT), M),
    Claim("results-cv", FM, "CV: top-k 50% matches the baseline", C("topk:r=0.5", "", CV_CUT), "matches",
          C("none", "", CV_CUT), M),
    Claim("results-nlp", RT, "NLP: 8-bit uniform matches the baseline", C("uniform:b=8", "", NLP_BOTH), "matches",
          C("none", "", NLP_BOTH), M),
    Claim("results-nlp", RT, "NLP: 4-bit uniform collapses", C("uniform:b=4", "", NLP_BOTH), "collapses",
          C("none", "", NLP_BOTH), BIG),
    Claim("results-cv224", FM, "CV at the study's cut size: 16-bit uniform matches the baseline", C("uniform:b=16"),
          "matches", C("none"), M),
    Claim("results-cv224", FM, "CV at the study's cut size: 10-bit uniform collapses", C("uniform:b=10"),
          "collapses", C("none"), BIG),
    Claim("results-cv224", FM, "CV at the study's cut size: 9-bit uniform collapses", C("uniform:b=9"),
          "collapses", C("none"), BIG),
]  # fmt: skip

COLLAPSE = [
    Claim("results-collapse", FM, "8-bit min-max uniform both ways collapses", _both("uniform:b=8"), "collapses", NONE, BIG),
    Claim("results-collapse", FM, "8 bits on the forward only matches the baseline", C("uniform:b=8", "none"), "matches", NONE, M),
    Claim("results-collapse", FM, "8 bits on the backward only collapses", C("none", "uniform:b=8"), "collapses", NONE, BIG),
    Claim("results-collapse", FM, "8 bits with stochastic (unbiased) rounding matches", _both("uniform:b=8,round=stochastic"),
          "matches", NONE, M),
    Claim("results-collapse", FM, "8 bits on a symmetric grid with zero as a code (absmax) matches",
          _both("uniform:b=8,range=absmax"), "matches", NONE, M),
    Claim("results-collapse", FM, "8-bit min-max with the range clipped at 99.9% still collapses", _both("uniform:b=8,clip=99.9"),
          "collapses", NONE, BIG),
    Claim("results-collapse", FM, "4-bit min-max uniform both ways collapses", _both("uniform:b=4"), "collapses", NONE, BIG),
    Claim("results-collapse", FM, "4 bits on the backward only collapses", C("none", "uniform:b=4"), "collapses", NONE, BIG),
    Claim("results-collapse", FM, "4 bits on the forward only collapses", C("uniform:b=4", "none"), "collapses", NONE, BIG),
    Claim("results-collapse", FM, "4 bits with stochastic (unbiased) rounding both ways still collapses",
          _both("uniform:b=4,round=stochastic"), "collapses", NONE, BIG),
    Claim("results-collapse", FM, "4 bits with stochastic rounding beats round-to-nearest",
          _both("uniform:b=4,round=stochastic"), "beats", _both("uniform:b=4"), M),
    Claim("results-collapse", FM, "4 bits absmax beats min-max", _both("uniform:b=4,range=absmax"), "beats", _both("uniform:b=4"), M),
    Claim("results-collapse", RT, "NLP: 4-bit min-max both ways collapses", _both("uniform:b=4"), "collapses", NONE, BIG),
    Claim("results-collapse", RT, "NLP: 4 bits with stochastic rounding beats round-to-nearest",
          _both("uniform:b=4,round=stochastic"), "beats", _both("uniform:b=4"), M),
    Claim("results-collapse", RT, "NLP: 4 bits absmax beats min-max", _both("uniform:b=4,range=absmax"), "beats",
          _both("uniform:b=4"), M),
    Claim("results-collapse", RT, "NLP: 6-bit min-max both ways matches the baseline", _both("uniform:b=6"), "matches", NONE, M),
    Claim("results-cv224", FM, "CV at the study's cut size: 8 bits stochastic matches the baseline",
          C("uniform:b=8,round=stochastic"), "matches", C("none"), M),
    Claim("results-cv224", FM, "CV at the study's cut size: 8-bit min-max collapses", C("uniform:b=8"),
          "collapses", C("none"), BIG),
    Claim("results-cv224", FM, "CV at the study's cut size: 8 bits absmax matches the baseline",
          C("uniform:b=8,range=absmax"), "matches", C("none"), M),
]  # fmt: skip

# AQ-SGD's claims are judged on the model it trains (AQSGD below, on val_acc_clean): through
# the boundaries, validation examples have no state and go through its direct quantizer.
BEYOND = [
    Claim("results-beyond", FM, "CV: at 3 bits, absmax beats min-max", C("uniform:b=3,range=absmax", UNBIASED_BWD), "beats",
          C("uniform:b=3", UNBIASED_BWD), M),
    Claim("results-beyond", FM, "CV: at 3 bits, k-means beats min-max", C("kmeans:b=3,iters=20", UNBIASED_BWD), "beats",
          C("uniform:b=3", UNBIASED_BWD), M),
]  # fmt: skip

# AQ-SGD judged by the model it trains: the last epoch evaluated with every boundary off
# (val_acc_clean), for delta and for the direct quantizers alike.
CLEAN = schema.VAL_ACC_CLEAN
AQSGD = [
    Claim("results-aqsgd", task, f"{name}: AQ-SGD delta at 3 bits, evaluated uncompressed, matches the baseline",
          C("delta:b=3", UNBIASED_BWD), "matches", NONE, M, CLEAN)
    for task, name in ((FM, "CV"), (RT, "NLP"))
] + [
    Claim("results-aqsgd", task, f"{name}: AQ-SGD 3/6 bits, evaluated uncompressed, matches the baseline",
          C("delta:b=3", AQ6), "matches", NONE, M, CLEAN)
    for task, name in ((FM, "CV"), (RT, "NLP"))
] + [
    Claim("results-aqsgd", task, f"{name}: at 3 bits, AQ-SGD delta trains a better model than direct absmax (both evaluated uncompressed)",
          C("delta:b=3", UNBIASED_BWD), "beats", C("uniform:b=3,range=absmax", UNBIASED_BWD), M, CLEAN)
    for task, name in ((FM, "CV"), (RT, "NLP"))
] + [
    Claim("results-aqsgd", FM, "CV: AQ-SGD 2/4 bits, evaluated uncompressed, matches the baseline", C("delta:b=2", AQ4),
          "matches", NONE, M, CLEAN),
    Claim("results-aqsgd", FM, "CV: at 3 bits, AQ-SGD delta trains a better model than direct min-max (both evaluated uncompressed)",
          C("delta:b=3", UNBIASED_BWD), "beats", C("uniform:b=3", UNBIASED_BWD), M, CLEAN),
]  # fmt: skip

# What in the legacy recipe turns the gradient collapse on: each factor set alone to finetune's
# value, on the legacy 32 px setting (search_spaces.results.CAUSE_FACTORS).
LEGACY = RECIPES["legacy"]


def _under(factor: str, fwd: str, bwd: str) -> C:
    """A row of the cause section under one factor: the resolved recipe keys it trained with."""
    change = CAUSE_FACTORS[factor]
    keys = {**LEGACY, **change}
    tag = ", ".join(f"{k}={v}" for k, v in change.items()) or "legacy"
    return C(fwd, bwd, setting=tuple(sorted(keys.items())), tag=tag)


CAUSE = [
    Claim("results-cause", FM, "Legacy recipe: 4 bits on the backward only collapses", _under("legacy", "none", "uniform:b=4"),
          "collapses", _under("legacy", "none", "none"), BIG),
    Claim("results-cause", FM, "Legacy recipe: 8 bits on the backward only collapses", _under("legacy", "none", "uniform:b=8"),
          "collapses", _under("legacy", "none", "none"), BIG),
    Claim("results-cause", FM, "Legacy recipe: 4-bit absmax both ways (zero a code) keeps within 5 points of none",
          _under("legacy", "uniform:b=4,range=absmax", "uniform:b=4,range=absmax"), "keeps", _under("legacy", "none", "none"), BIG),
] + [
    Claim("results-cause", FM, f"Changing {factor} alone removes the 4-bit backward collapse",
          _under(factor, "none", "uniform:b=4"), "keeps", _under(factor, "none", "none"), BIG)
    for factor in CAUSE_FACTORS if factor != "legacy"
]  # fmt: skip

# The study's CV claims at its scale (search_spaces.results.STUDY_SCALE; a GPU's section), per model.
STUDY_SCALE = [
    Claim("results-study-scale", FM, f"{name} at the study's scale: {text}", C(spec, setting=(("model", model),), tag=name),
          rel, C("none", setting=(("model", model),), tag=name), margin)
    for name, model in (("EfficientNet-Lite0", "efficientnet_lite0"), ("MobileNetV2", "mobilenet_v2"))
    for spec, text, rel, margin in (
        ("uniform:b=16", "16-bit uniform matches the baseline", "matches", M),
        ("uniform:b=9", "9-bit uniform collapses", "collapses", BIG),
        ("uniform:b=8,range=absmax", "8 bits absmax matches the baseline", "matches", M),
    )
]  # fmt: skip

# What came after the study (search_spaces.results.NEWER_CV / NEWER_NLP).
NEWER = [
    claim
    for task, name, b16 in ((FM, "CV", "bottleneck:r=2"), (RT, "NLP", "bottleneck:r=24"))
    for claim in (
        Claim("results-newer", task, f"{name}: fp8 (e4m3 forward, e5m2 backward) matches the baseline",
              C("fp8:fmt=e4m3"), "matches", NONE, M),
        Claim("results-newer", task, f"{name}: Hadamard-rotated tiles at 3 bits beat absmax at 3 bits",
              C("hadamard:b=3", AQ6), "beats", C("uniform:b=3,range=absmax", AQ6), M),
        Claim("results-newer", task, f"{name}: the learned bottleneck at 16x fewer bytes matches the baseline",
              C(b16), "matches", NONE, M),
    )
]  # fmt: skip

CLAIMS = STUDY + COLLAPSE + CAUSE + STUDY_SCALE + NEWER + BEYOND + AQSGD
