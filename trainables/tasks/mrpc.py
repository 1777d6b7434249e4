"""GLUE MRPC: is a sentence pair a paraphrase (header: Quality, #1 ID, #2 ID, #1 String,
#2 String); scored by accuracy and F1 of the paraphrase class, as GLUE does."""

from sklearn.metrics import f1_score

from schema import VAL_F1

from . import NLP_PLACEMENT, Task, glue
from .rotten_tomatoes import TRAINING


def load(root, split):
    return glue.read(root, "mrpc", "MRPC", split, ("#1 String", "#2 String"), "Quality", {"0": 0, "1": 1})


TASK = Task(
    name="mrpc",
    family="nlp",
    load=load,
    num_classes=2,
    data="--root GLUE folder with MRPC/{train,dev}.tsv",
    scores={VAL_F1: lambda y, p: f1_score(y, p, zero_division=0.0)},
    majority=0.684,  # dev: 279 of 408 paraphrases
    placement=NLP_PLACEMENT,
    training=TRAINING,
)
