"""The grids behind docs/results (``make results``), one per question; each its own MLflow
experiment and page section.

- ``collapse`` / ``collapse-nlp``: why min-max uniform quantization collapses training.
  Compress forward only, backward only, or both; then both with unbiased (stochastic)
  rounding, with a symmetric grid that has zero as a code (absmax), and with a clipped range.
- ``cv224``: the study's CV claims at the study's cut sizes ([B,32,112,112] and
  [B,1280,7,7]: EfficientNet-Lite0 at 224 px).
- ``beyond-cv`` / ``beyond-nlp``: the ``beyond`` rows at 3 forward bits, and AQ-SGD's own
  3/6 and 2/4 settings (``beyond`` has 2, 3 and 4 bits).
- ``aqsgd-cv`` / ``aqsgd-nlp``: AQ-SGD judged by the model it trains. Its delta rows and the
  direct 3-bit quantizers beside them, run with ``val_acc_clean`` (the trained model evaluated
  with every boundary off), which the ``beyond`` runs predate.
"""

from __future__ import annotations

from trainables.tasks import CV_RECIPE
from trainables.tasks.fashion_mnist import TRAINING as CV_TRAINING
from trainables.tasks.rotten_tomatoes import TRAINING as NLP_TRAINING

from . import Space
from .beyond import AQ4, AQ6, BWD, REPEATED_CV_TRAINING, REPEATED_NLP_TRAINING
from .beyond import rows as beyond_rows


def collapse_rows(bits: tuple[int, ...], cv: bool) -> list[dict]:
    out = [{"fwd": "none", "bwd": "none"}]
    for b in bits:
        u = f"uniform:b={b}"
        if cv:
            out += [{"fwd": u, "bwd": "none"}, {"fwd": "none", "bwd": u}]
        out += [{"fwd": u, "bwd": u}]
        out += [{"fwd": f"{u},round=stochastic", "bwd": f"{u},round=stochastic"}]
        out += [{"fwd": f"{u},range=absmax", "bwd": f"{u},range=absmax"}]
        if cv:
            out += [{"fwd": f"{u},clip=99.9", "bwd": f"{u},clip=99.9"}]
    return out


COLLAPSE = Space(
    name="collapse",
    description="uniform 8 and 4 bits: forward only, backward only, both (nearest), both "
    "stochastic, both absmax, both clip 99.9; none. CV default",
    default_task="fashion_mnist",
    rows=collapse_rows((8, 4), cv=True),
    training=CV_TRAINING,
)
COLLAPSE_NLP = Space(
    name="collapse-nlp",
    description="uniform 6 and 4 bits both ways: nearest, stochastic, absmax; none. MiniLM on Rotten Tomatoes",
    default_task="rotten_tomatoes",
    rows=collapse_rows((6, 4), cv=False),
    training=NLP_TRAINING,
)
CV224_SPECS = (  # in the order a sitting that runs out of time should have them
    "none",
    "uniform:b=9",
    "uniform:b=16",
    "uniform:b=8,round=stochastic",
    "uniform:b=10",
    "uniform:b=8",
    "uniform:b=8,range=absmax",
)
CV224_MORE = ("uniform:b=4", "sortquant:b=6,s=2", "sortquant:b=2,s=2", "kmeans:b=4,iters=20")
CV224_TRAINING = {"model": "efficientnet_lite0", "recipe": CV_RECIPE, "image_size": 224, "batch_size": 32, "epochs": 2}
CV224 = Space(
    name="cv224",
    description="the study's CV rows at its cut sizes ([B,32,112,112], [B,1280,7,7]): "
    "EfficientNet-Lite0 at 224 px, batch 32, 1000/500 images",
    default_task="fashion_mnist",
    rows=[{"fwd": s} for s in CV224_SPECS + CV224_MORE],
    training={**CV224_TRAINING, "limit_train": 1000, "limit_val": 500},
)
# what make results runs in one sitting of a 2-core CPU: the uniform rows, 640/320 images
CV224_UNIFORM = Space(
    name="cv224-uniform",
    description="cv224's uniform rows (none, 16/10/9/8 bits, 8 stochastic, 8 absmax), 640/320 images",
    default_task="fashion_mnist",
    rows=[{"fwd": s} for s in CV224_SPECS],
    training={**CV224_TRAINING, "limit_train": 640, "limit_val": 320},
)
BEYOND_CV = Space(
    name="beyond-cv",
    description="the beyond rows at 3 forward bits (and AQ-SGD 3/6, 2/4), CV default",
    default_task="fashion_mnist",
    rows=beyond_rows((3,)),
    training=REPEATED_CV_TRAINING,
)
BEYOND_NLP = Space(
    name="beyond-nlp",
    description="the beyond rows at 3 forward bits (and AQ-SGD 3/6, 2/4), MiniLM on Rotten Tomatoes",
    default_task="rotten_tomatoes",
    rows=beyond_rows((3,)),
    training=REPEATED_NLP_TRAINING,
)
AQSGD_NLP_ROWS = [
    {"fwd": "none", "bwd": "none"},
    {"fwd": "delta:b=3", "bwd": BWD},
    {"fwd": "delta:b=3", "bwd": AQ6},
    {"fwd": "uniform:b=3,range=absmax", "bwd": BWD},  # the quantizer delta evaluates through
]
AQSGD_CV = Space(
    name="aqsgd-cv",
    description="AQ-SGD delta 3 bits (8-bit unbiased bwd), 3/6, 2/4; direct 3-bit absmax and min-max; none. "
    "CV default's steps over 2000 images x 3 epochs (delta sends two thirds as deltas)",
    default_task="fashion_mnist",
    rows=[*AQSGD_NLP_ROWS, {"fwd": "delta:b=2", "bwd": AQ4}, {"fwd": "uniform:b=3", "bwd": BWD}],
    training=REPEATED_CV_TRAINING,
)
AQSGD_NLP = Space(
    name="aqsgd-nlp",
    description="AQ-SGD delta 3 bits (8-bit unbiased bwd), 3/6; direct 3-bit absmax; none. MiniLM on Rotten "
    "Tomatoes, the NLP default's steps over 800 sentences x 3 epochs (delta sends two thirds as deltas)",
    default_task="rotten_tomatoes",
    rows=AQSGD_NLP_ROWS,
    training=REPEATED_NLP_TRAINING,
)
SPACES = (COLLAPSE, COLLAPSE_NLP, CV224, CV224_UNIFORM, BEYOND_CV, BEYOND_NLP, AQSGD_CV, AQSGD_NLP)


# ------------------------------------------------------------------ the collapse's cause
# The v2 collapse (legacy recipe, 4000 images at 32 px, 3 epochs) was backward-tied: 4-bit
# backward only -47.5 points. The finetune recipe at the same setting shows none of it. Which of
# the recipe's differences turns it off? One factor of legacy at a time, set to finetune's value.
LEGACY_TRAINING = {  # the setting the v2 collapse rows trained in (docs/results/v2/runs.csv)
    "model": "efficientnet_lite0",
    "recipe": "legacy",
    "image_size": 32,
    "epochs": 3,
    "limit_train": 4000,
    "limit_val": 1000,
}
CAUSE_FACTORS = {  # factor -> the override that sets it alone to finetune's value
    "legacy": {},
    "bn_momentum": {"bn_momentum": 0.1},
    "augment": {"augment": False},
    "optimizer": {"optimizer": "adamw"},  # at legacy's lr 0.01: the optimizer alone
    "lr": {"lr": 2e-3},  # SGD at finetune's lr
    "warmup": {"warmup": 0.05},
}
CAUSE_ROWS = (  # the rows the v2 collapse rests on; the first two are the claims' core
    {"fwd": "none", "bwd": "none"},
    {"fwd": "none", "bwd": "uniform:b=4"},
    {"fwd": "none", "bwd": "uniform:b=8"},
    {"fwd": "uniform:b=4,range=absmax", "bwd": "uniform:b=4,range=absmax"},
)


def cause_rows() -> list[dict]:
    """Every row under every factor, the core rows of every factor first (a sitting that runs
    out of time has what the claims need)."""
    return [{**row, **CAUSE_FACTORS[f]} for row in CAUSE_ROWS for f in CAUSE_FACTORS]


CAUSE = Space(
    name="cause",
    description="the v2 collapse's cause: legacy recipe at 32 px (4000 images, 3 epochs), one factor at a time "
    "set to finetune's (BN momentum, augmentation, optimizer, lr, warm-up); none, bwd-only 4 and 8 bits, "
    "4-bit absmax both ways",
    default_task="fashion_mnist",
    rows=cause_rows(),
    training=LEGACY_TRAINING,
)

# ------------------------------------------------------------------ the study's scale (a GPU's)
# The cv224 rows at the scale the study trained at: every Fashion-MNIST training image (60,000)
# at 224 px, batch 256 (the study's first cut [256,32,112,112]), 5 epochs: 1,170 optimizer steps,
# against the CPU sections' 40-186. Too long for a CPU; `make results-gpu` runs it on a GPU.
STUDY_SCALE_TRAINING = {
    "recipe": CV_RECIPE,
    "image_size": 224,
    "batch_size": 256,
    "epochs": 5,
    "limit_train": None,
    "limit_val": None,
}
STUDY_SCALE = tuple(
    Space(
        name=f"study-scale-{short}",
        description=f"cv224's rows at the study's scale on {model}: 60,000 images at 224 px, batch 256, 5 epochs "
        "(1,170 steps; a GPU's work)",
        default_task="fashion_mnist",
        rows=[{"fwd": s} for s in CV224_SPECS + CV224_MORE],
        training={**STUDY_SCALE_TRAINING, "model": model},
    )
    for short, model in (("effnet", "efficientnet_lite0"), ("mnv2", "mobilenet_v2"))
)

# ------------------------------------------------------------------ what came after the study
# FP8 (Transformer Engine's e4m3 forward / e5m2 backward), rotated low-bit tiles (TAH-Quant) beside
# absmax at the same bits, low rank (PowerSGD) and a learned bottleneck at 8x and 16x fewer bytes
# than fp32, AQ-SGD; the low-bit rows send their gradient as AQ-SGD's 6-bit fixed point. Ranks give
# 8x / 16x at each default's first cut: CV [64,32,32,32] (C=32; the head cut is small beside it),
# NLP [32,48,384] (low rank r(N + C) / (N C) with N = 1536 positions; the bottleneck r / C).
def newer_rows(lowrank: tuple[int, int], bottleneck: tuple[int, int]) -> list[dict]:
    rows = [{"fwd": "none", "bwd": "none"}, {"fwd": "fp8:fmt=e4m3"}, {"fwd": "fp8:fmt=e5m2"}]
    for b in (4, 3):
        rows += [{"fwd": f"uniform:b={b},range=absmax", "bwd": AQ6}, {"fwd": f"hadamard:b={b}", "bwd": AQ6}]
    rows += [{"fwd": f"lowrank:r={r}"} for r in lowrank] + [{"fwd": f"bottleneck:r={r}"} for r in bottleneck]
    return rows + [{"fwd": "delta:b=3", "bwd": AQ6}]


NEWER_CV = Space(
    name="newer-cv",
    description="fp8 e4m3/e5m2; absmax and hadamard at 4 and 3 bits (6-bit bwd); lowrank and bottleneck at 8x/16x; "
    "AQ-SGD 3/6; none. CV default's steps over 2000 images x 3 epochs",
    default_task="fashion_mnist",
    rows=newer_rows(lowrank=(4, 2), bottleneck=(4, 2)),
    training=REPEATED_CV_TRAINING,
)
NEWER_NLP = Space(
    name="newer-nlp",
    description="the newer-cv rows on MiniLM / Rotten Tomatoes (lowrank r=38/19, bottleneck r=48/24 for 8x/16x)",
    default_task="rotten_tomatoes",
    rows=newer_rows(lowrank=(38, 19), bottleneck=(48, 24)),
    training=NLP_TRAINING,
)
SPACES = (*SPACES, CAUSE, *STUDY_SCALE, NEWER_CV, NEWER_NLP)
