"""GLUE CoLA: grammatical or not (no header: source, label, original label, sentence); the
study's task, ranked by Matthews correlation."""

from sklearn.metrics import matthews_corrcoef

from schema import VAL_MCC

from . import NLP_PLACEMENT, Task, glue
from .rotten_tomatoes import TRAINING


def load(root, split):
    return glue.read(root, "cola", "CoLA", split, (3,), 1, {"0": 0, "1": 1}, header=False, columns=4)


TASK = Task(
    name="cola",
    family="nlp",
    load=load,
    num_classes=2,
    data="--root GLUE folder with CoLA/{train,dev}.tsv",
    metric=VAL_MCC,
    scores={VAL_MCC: matthews_corrcoef},
    majority=0.691,  # dev: 721 of 1043 acceptable
    placement=NLP_PLACEMENT,
    training=TRAINING,
)
