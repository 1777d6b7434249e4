"""The published study's tables, as data: what each row set up and the value it reported.

Each table is a list of rows ``(placement, spec, setting as the study wrote it, published)``.
``search_spaces.seed_cv`` / ``seed_nlp`` take their rows from here; ``reports.findings`` states
the study's claims on them, and the page sets each claim's steps beside ``STUDY_STEPS``.
CV: MobileNetV2 fine-tuned on CIFAR-10 at 224 px (top-1). NLP: RoBERTa-base on GLUE CoLA
(Matthews correlation) and RTE (accuracy).
"""

from __future__ import annotations

CV_CUT = "first:1,last:1"  # the study's "first one last one"
NLP_BOTH, NLP_FIRST, NLP_LAST = "first:1,last:2", "first:1", "last:2"

CV_TABLES = {
    "CV: quantization and pruning (study table 1)": [
        (CV_CUT, "none", "No compression", "96.1%"),
        (CV_CUT, "uniform:b=16", "Quantization 16 bits", "96.0%"),
        (CV_CUT, "uniform:b=12", "Quantization 12 bits", "95.4%"),
        (CV_CUT, "uniform:b=11", "Quantization 11 bits", "91% / 10% / 91.3% / 84.5%"),
        (CV_CUT, "uniform:b=10", "Quantization 10 bits", "68%"),
        (CV_CUT, "uniform:b=9", "Quantization 9 bits", "68%"),
        (CV_CUT, "topk:r=0.5", "Prune 0.5", "96.1%"),
        (CV_CUT, "topk:r=0.2", "Prune 0.2", "95.2%"),
        (CV_CUT, "sortquant:b=6,s=2", "SortQuantization 8 bits", "95.6%"),
        (CV_CUT, "sortquant:b=2,s=2", "SortQuantization 4 bits", "95.3%"),
    ],
    "CV: sort quantization ablation (study table 3)": [
        (CV_CUT, "sortquant:b=2,s=2", "Sort Quantization 4 bits (2+2 as specified here)", "87.1%"),
        (CV_CUT, "sortquant:b=6,s=2", "Sort Quantization 8 bits (6+2)", "95.7%"),
        (CV_CUT, "sortquant:b=9,s=3", "Sort Quantization 12 bits (9+3)", "95.9%"),
        (CV_CUT, "sortquant:b=12,s=4", "Sort Quantization 16 bits (12+4)", "96.1%"),
    ],
    "CV: comparison with k-means at 4 bits (study table 4, 10 epochs)": [
        (CV_CUT, "none", "None", "94.21%"),
        (CV_CUT, "uniform:b=4", "Quantization 4 bits", "89.42%"),
        (CV_CUT, "sortquant:b=2,s=2", "Sort Quantization 4 bits (2+2)", "93.38%"),
        (CV_CUT, "kmeans:b=4,iters=20", "K-means 4 bits (20 iter)", "93.01%"),
        (CV_CUT, "kmeans:b=4,iters=50", "K-means 4 bits (50 iter)", "93.17%"),
    ],
}

NLP_TABLES = {
    "NLP: quantization and pruning, first:1,last:2 (study table 2)": [
        (NLP_BOTH, "none", "None", "CoLA 0.634±0.008 / RTE 78.4%±0.6"),
        (NLP_BOTH, "topk:r=0.5", "Prune 0.5", "CoLA 0.633±0.013 / RTE 79.3%±0.7"),
        (NLP_BOTH, "topk:r=0.2", "Prune 0.2", "-"),
        (NLP_BOTH, "uniform:b=16", "Quantization 16", "CoLA 0.632±0.010 / RTE 78.7%±0.7"),
        (NLP_BOTH, "uniform:b=10", "Quantization 10", "CoLA 0.635±0.014 / RTE 78.3%±1.1"),
        (NLP_BOTH, "uniform:b=8", "Quantization 8", "CoLA 0.644±0.001 / RTE 77.5%±0.8"),
        (NLP_BOTH, "uniform:b=6", "Quantization 6", "-"),
        (NLP_BOTH, "uniform:b=4", "Quantization 4", "CoLA 0 (acc 69.1%) / RTE 52.2%±0.1"),
        (NLP_BOTH, "sortquant:b=3,s=3", "Sort Quantization 6 bits", "RTE 79.5%±0.5"),
    ],
    "NLP: sort quantization ablation, first:1,last:2 (study table 3)": [
        (NLP_BOTH, "sortquant:b=2,s=2", "Sort Quantization 4 bits (2+2)", "RTE 52.2%"),
        (NLP_BOTH, "sortquant:b=6,s=2", "Sort Quantization 8 bits (6+2)", "RTE 79.7%"),
        (NLP_BOTH, "sortquant:b=9,s=3", "Sort Quantization 12 bits (9+3)", "RTE 79.7%"),
    ],
    "NLP: comparison with k-means at 6 bits (study table 4)": [
        (NLP_FIRST, "uniform:b=6", "first layer: Quantization 6", "RTE 77.5%±0.1"),
        (NLP_FIRST, "sortquant:b=3,s=3", "first layer: Sort Quantization 6 (3+3)", "RTE 78.1%±0.2"),
        (NLP_FIRST, "kmeans:b=6,iters=50", "first layer: K-means 6 (50 iter)", "RTE 52.7% / 53.6% (bug)"),
        (NLP_FIRST, "kmeans:b=6,iters=100", "first layer: K-means 6 (100 iter)", "RTE 55.1% (bug)"),
        (NLP_LAST, "uniform:b=6", "last two layers: Quantization 6", "CoLA 0.587±0.007 / RTE 52.2%"),
        (NLP_LAST, "sortquant:b=3,s=3", "last two layers: Sort Quantization 6 (3+3)", "CoLA 0.591±0.006 / RTE 75.0%"),
        (NLP_LAST, "kmeans:b=6,iters=50", "last two layers: K-means 6 (50 iter)", "RTE 79.4%"),
        (NLP_LAST, "kmeans:b=6,iters=100", "last two layers: K-means 6 (100 iter)", "CoLA 0.633±0.006"),
    ],
}


def rows(tables: dict) -> list[tuple[str, str]]:
    """Every distinct (placement, spec) of a set of tables, in first-seen order."""
    out: dict[tuple[str, str], None] = {}
    for table in tables.values():
        for placement, spec, _, _ in table:
            out[(placement, spec)] = None
    return list(out)


# The scale the study trained at (its README: CIFAR-10 at batch 256 for 10 or 40 epochs, the
# first cut [256,32,112,112]; RoBERTa at batch 8, 128 tokens, 20 epochs on RTE and CoLA), for the
# results page to set beside the steps our runs had.
CIFAR10_TRAIN, RTE_TRAIN, COLA_TRAIN = 50_000, 2_490, 8_551
STUDY_STEPS = {
    "cv": (CIFAR10_TRAIN // 256 * 10, CIFAR10_TRAIN // 256 * 40),
    "nlp": (RTE_TRAIN // 8 * 20, COLA_TRAIN // 8 * 20),
}
STUDY_RANGE_VALUES = {"cv": 256 * 32 * 112 * 112, "nlp": 8 * 128 * 768}  # one per-tensor range at the first cut


def study_scale(family: str) -> str:
    lo, hi = STUDY_STEPS[family]
    return f"the study: {lo:,}-{hi:,} steps"
