"""The MLflow callback's bookkeeping, driven by hand in the order Ray Tune calls its hooks."""

from __future__ import annotations

from types import SimpleNamespace

from mlflow.tracking import MlflowClient

import schema
from tuning.tracking import MlflowTrialLogger

CFG = {"task": "fashion_mnist", "model": "mobilenet_v2", "fwd": "uniform:b=6", "bwd": "none", "placement": "first:1",
       "seed": 0, "epochs": 3}  # fmt: skip


def _epoch(e: int, checkpoint: bool = True) -> dict:
    return {schema.EPOCH: e, "val_acc": 0.1 * e, "should_checkpoint": checkpoint}


def _history(uri: str, logger: MlflowTrialLogger, trial) -> list[int]:
    run_id = logger.run_for(trial)
    return sorted(int(m.value) for m in MlflowClient(uri).get_metric_history(run_id, schema.EPOCH))


def test_an_epoch_is_logged_once_its_checkpoint_is_saved_so_a_lost_worker_never_logs_it_twice(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    logger = MlflowTrialLogger(uri, "t", {schema.TAG_SWEEP: "s"})
    trial = SimpleNamespace(trial_id="a_1", config={"trial": CFG}, last_result=None)
    hooks = {"iteration": 0, "trials": [trial], "trial": trial}
    logger.on_trial_start(**hooks)
    logger.on_trial_result(**hooks, result=_epoch(1))
    assert _history(uri, logger, trial) == []  # Tune has not saved epoch 1's checkpoint yet
    logger.on_checkpoint(**hooks, checkpoint=None)
    assert _history(uri, logger, trial) == [1]
    logger.on_trial_result(**hooks, result=_epoch(2))
    logger.on_trial_recover(**hooks)  # the worker died before epoch 2's checkpoint was saved
    assert _history(uri, logger, trial) == [1]
    logger.on_trial_result(**hooks, result=_epoch(2))  # redone from epoch 1's checkpoint
    logger.on_checkpoint(**hooks, checkpoint=None)
    logger.on_trial_result(**hooks, result=_epoch(3))
    trial.last_result = _epoch(3)
    logger.on_trial_complete(**hooks)  # the trial ended: its last epoch is logged even before the save
    assert _history(uri, logger, trial) == [1, 2, 3]
    assert MlflowClient(uri).get_run(logger.run_for(trial)).info.status == "FINISHED"


def test_a_result_without_a_checkpoint_is_logged_at_once_after_the_ones_before_it(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    logger = MlflowTrialLogger(uri, "t", {schema.TAG_SWEEP: "s"})
    trial = SimpleNamespace(trial_id="b_1", config={"trial": CFG}, last_result=None)
    hooks = {"iteration": 0, "trials": [trial], "trial": trial}
    logger.on_trial_result(**hooks, result=_epoch(1))
    logger.on_trial_result(**hooks, result=_epoch(2, checkpoint=False))
    assert _history(uri, logger, trial) == [1, 2]
    trial.error_file = None
    logger.on_trial_result(**hooks, result=_epoch(3))
    logger.on_trial_error(**hooks)  # failed for good: the epoch it trained stays
    assert _history(uri, logger, trial) == [1, 2, 3]
