"""GLUE SST-2: sentiment of single sentences (header: sentence, label 0/1)."""

from . import NLP_PLACEMENT, Task, glue
from .rotten_tomatoes import TRAINING


def load(root, split):
    return glue.read(root, "sst2", "SST-2", split, ("sentence",), "label", {"0": 0, "1": 1})


TASK = Task(
    name="sst2",
    family="nlp",
    load=load,
    num_classes=2,
    data="--root GLUE folder with SST-2/{train,dev}.tsv",
    majority=0.509,  # dev: 444 of 872 positive
    placement=NLP_PLACEMENT,
    training=TRAINING,
)
