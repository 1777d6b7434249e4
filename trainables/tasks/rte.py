"""GLUE RTE: entailment of a sentence pair (header: index, sentence1, sentence2, label)."""

from . import NLP_PLACEMENT, Task, glue
from .rotten_tomatoes import TRAINING

LABELS = {"entailment": 0, "not_entailment": 1}


def load(root, split):
    return glue.read(root, "rte", "RTE", split, ("sentence1", "sentence2"), "label", LABELS)


TASK = Task(
    name="rte",
    family="nlp",
    load=load,
    num_classes=2,
    data="--root GLUE folder with RTE/{train,dev}.tsv",
    majority=0.527,  # dev: 146 of 277 entailment
    placement=NLP_PLACEMENT,
    training=TRAINING,
)
