"""The driver-side Tune callback that logs every trial to MLflow in batches.

One MLflow run per trial, found again by its ``trial_id`` tag after a restore (so a resumed
sweep never makes a second run for a trial); params are the full trial config, metrics are
logged per epoch as steps, and a failed trial ends FAILED with its error as a tag.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ray.tune import Callback
from ray.tune.result import SHOULD_CHECKPOINT

import schema
from schema.store import client, experiment_id

TRIAL_ERROR = "trial_error"  # a trial's last result carries it when the trial failed for good


def curve_metrics(curve: dict | None, ts: int, after: int) -> list:
    """The curve's points past global step ``after`` as metric history (``curve.val_acc``
    against the global step), so the MLflow UI charts a run's validation metric over training."""
    from mlflow.entities import Metric

    if not curve:
        return []
    steps = curve["step"]
    return [
        Metric(schema.curve_key(k), float(v[i]), ts, int(steps[i]))
        for k, v in curve.items()
        if k != "step"
        for i in range(len(steps))
        if steps[i] > after
    ]


class MlflowTrialLogger(Callback):
    """Logs each trial as one MLflow run, from the driver, in batches."""

    def __init__(self, uri: str, experiment: str, tags: dict[str, str], after_trial=None):
        self.uri, self.experiment, self.tags = uri, experiment, tags
        self.after_trial = after_trial  # called (no arguments) after each trial ends
        self._runs: dict[str, str] = {}
        self._parents: dict[str, str] = {}  # config_id -> parent run id
        self._logged_facts: set[str] = set()
        self._curve_logged: dict[str, int] = {}  # run id -> last global step logged as history
        self._pending: dict[str, list] = {}  # trial id -> (result, ms) whose checkpoint Tune has not yet saved
        self._client = None
        self._exp_id = None

    def __getstate__(self):  # pickled with the Tuner: keep only what rebuilds the rest
        keep = ("uri", "experiment", "tags", "after_trial", "_runs")
        return {k: self.__dict__[k] for k in keep}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.__dict__.setdefault("after_trial", None)
        self._logged_facts = set()
        self._curve_logged = {}
        self._pending = {}
        self._parents = {}
        self._client = None
        self._exp_id = None

    @property
    def c(self):
        if self._client is None:
            self._client = client(self.uri)
            self._exp_id = experiment_id(self.uri, self.experiment)
        return self._client

    def run_for(self, trial) -> str:
        from mlflow.entities import Param

        if trial.trial_id in self._runs:
            return self._runs[trial.trial_id]
        c = self.c
        found = c.search_runs(
            [self._exp_id],
            f"tags.{schema.TAG_TRIAL} = '{trial.trial_id}' "
            f"and tags.{schema.TAG_SWEEP} = '{self.tags.get(schema.TAG_SWEEP, '')}'",
            max_results=1,
        )
        if found:  # a restored trial: the same run goes on
            run_id = found[0].info.run_id
            if found[0].info.status != "RUNNING":
                c.update_run(run_id, "RUNNING")
        else:
            cfg = trial_config(trial.config)
            tags = {
                **self.tags,
                **schema.describe(cfg),
                schema.TAG_CONFIG_ID: schema.config_id(cfg),
                schema.TAG_SEED: str(cfg.get("seed", 0)),
                schema.TAG_TASK: str(cfg.get("task")),
                schema.TAG_TRIAL: trial.trial_id,
                schema.TAG_PLACEMENT: str(cfg.get("placement")),
            }
            tags[schema.TAG_MLFLOW_PARENT] = self.parent_for(cfg, tags[schema.TAG_CONFIG_ID])
            run = c.create_run(self._exp_id, tags=tags, run_name=f"{cfg.get('fwd')} seed {cfg.get('seed')}")
            run_id = run.info.run_id
            params = [Param(k, v) for k, v in schema.config_params(cfg).items()]
            for i in range(0, len(params), 100):
                c.log_batch(run_id, params=params[i : i + 100])
        self._runs[trial.trial_id] = run_id
        return run_id

    def parent_for(self, cfg: dict, cid: str) -> str:
        """The config's parent run: found by its config_id (a resumed sweep or a rerun finds
        the one made before), else made, with the config's params and a readable name."""
        from mlflow.entities import Param

        if cid in self._parents:
            return self._parents[cid]
        c = self.c
        flt = f"tags.`{schema.TAG_PARENT}` = 'true' and tags.{schema.TAG_CONFIG_ID} = '{cid}'"
        found = c.search_runs([self._exp_id], flt, max_results=1)
        if found:
            self._parents[cid] = found[0].info.run_id
            return self._parents[cid]
        tags = {
            **schema.describe(cfg),
            schema.TAG_PARENT: "true",
            schema.TAG_CONFIG_ID: cid,
            schema.TAG_TASK: str(cfg.get("task")),
            schema.TAG_PLACEMENT: str(cfg.get("placement")),
        }
        run = c.create_run(self._exp_id, tags=tags, run_name=parent_name(cfg))
        shown = {k: v for k, v in schema.config_params(cfg).items() if k != schema.TAG_SEED}
        params = [Param(k, v) for k, v in shown.items()]
        for i in range(0, len(params), 100):
            c.log_batch(run.info.run_id, params=params[i : i + 100])
        self._parents[cid] = run.info.run_id
        return run.info.run_id

    def _after(self) -> None:
        """The plan's hook after a trial ended (the parents' seed statistics); a failing hook
        is reported and the sweep goes on."""
        if self.after_trial is None:
            return
        try:
            self.after_trial()
        except Exception as e:  # noqa: BLE001 - bookkeeping must not stop a sweep
            print(f"warning: updating the parent runs failed: {type(e).__name__}: {e}", flush=True)

    # --- ray.tune.Callback hooks --------------------------------------
    def on_trial_start(self, iteration, trials, trial, **info):
        self.run_for(trial)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        """An epoch that carries a checkpoint is logged once Tune has saved that checkpoint
        (``on_checkpoint``): Tune calls this hook before the save, and a worker lost in between
        restores the checkpoint before, so logging now would log that epoch twice."""
        self.run_for(trial)
        if TRIAL_ERROR in result:
            return  # the failure's placeholder result: on_trial_complete records it
        entry = (dict(result), int(time.time() * 1000))
        if result.get(SHOULD_CHECKPOINT):
            self._pending.setdefault(trial.trial_id, []).append(entry)
        else:
            self._flush(trial)
            self._log_result(trial, *entry)

    def on_checkpoint(self, iteration, trials, trial, checkpoint, **info):
        self._flush(trial)

    def on_trial_recover(self, iteration, trials, trial, **info):
        self._pending.pop(trial.trial_id, None)  # redone from the last saved checkpoint

    def _flush(self, trial) -> None:
        for entry in self._pending.pop(trial.trial_id, []):
            self._log_result(trial, *entry)

    def _log_result(self, trial, result: dict, ts: int) -> None:
        from mlflow.entities import Metric

        run_id = self.run_for(trial)
        step = int(result.get(schema.EPOCH, result.get("training_iteration", 0)))
        metrics = [
            Metric(k, float(v), ts, step)
            for k, v in result.items()
            if k in schema.METRICS and isinstance(v, (int, float))
        ]
        params, tags = self._facts(run_id, result)
        curve = result.get(schema.CURVE)
        if curve:  # the new points as history; the whole curve as a tag that reports read
            from mlflow.entities import RunTag

            metrics += curve_metrics(curve, ts, self._curve_logged.get(run_id, 0))
            self._curve_logged[run_id] = max(curve["step"])
            tags.append(RunTag(schema.CURVE, json.dumps(curve, separators=(",", ":"))))
        self.c.log_batch(run_id, metrics=metrics, params=params, tags=tags)

    def _facts(self, run_id: str, result: dict) -> tuple[list, list]:
        """schema.FACTS the trainable reports with every epoch, logged as params once per run,
        and where it ran (schema.WHERE) as tags."""
        from mlflow.entities import Param, RunTag

        if run_id in self._logged_facts:
            return [], []
        self._logged_facts.add(run_id)
        tags = [RunTag(k, str(result[k])) for k in schema.WHERE if k in result]
        if self.c.get_run(run_id).data.params.get(schema.FACT_BATCH_SIZE) is not None:
            return [], tags  # a restored trial logged its params before (it may run elsewhere now)
        return [Param(k, str(result[k])) for k in schema.FACTS if k in result], tags

    def on_trial_complete(self, iteration, trials, trial, **info):
        """FINISHED, with how far it got: a trial a scheduler (ASHA) stopped before its
        configured epochs is tagged stopped_early, and reports leave it out of the means."""
        from mlflow.entities import RunTag

        self._flush(trial)  # the trial ended: its last epochs will not be redone
        run_id = self.run_for(trial)
        last = trial.last_result or {}
        if TRIAL_ERROR in last:
            self.c.set_tag(run_id, schema.TAG_ERROR, str(last[TRIAL_ERROR])[:5000])
            self.c.set_terminated(run_id, "FAILED")
            self._after()
            return
        reached = int(last.get(schema.EPOCH, 0) or 0)
        planned = int(trial_config(trial.config).get("epochs", reached) or reached)
        tags = [
            RunTag(schema.TAG_EPOCHS, str(reached)),
            RunTag(schema.TAG_STOPPED, "true" if reached < planned else "false"),
            RunTag(schema.TAG_COMPILED, "true" if last.get(schema.COMPILED) else "false"),
        ]
        self.c.log_batch(run_id, tags=tags)
        self.c.set_terminated(run_id, "FINISHED")
        self._after()

    def on_trial_error(self, iteration, trials, trial, **info):
        self._flush(trial)  # failed for good (a retry is on_trial_recover): what it trained stays
        run_id = self.run_for(trial)
        err = ""
        if getattr(trial, "error_file", None) and Path(trial.error_file).is_file():
            err = Path(trial.error_file).read_text()
        lines = [ln for ln in err.strip().splitlines() if ln.strip()]
        self.c.set_tag(run_id, schema.TAG_ERROR, (lines[-1] if lines else "unknown error")[:5000])
        self.c.set_terminated(run_id, "FAILED")
        self._after()


def parent_name(cfg: dict) -> str:
    """A config in a few words, what tells it apart: `sortquant:b=2,s=2`, a backward that is not
    the default, and the cut when it is not the task's (cut and task are also the run's params)."""
    from trainables import default_placement

    cut = cfg.get("placement")
    shown = cut if cut != default_placement(cfg.get("task")) else None
    return schema.config_label(cfg.get("fwd"), cfg.get("bwd"), shown)


def trial_config(config: dict) -> dict:
    """A Tune trial's config as the flat train() config (grid rows and Optuna samples nest it)."""
    return dict(config["trial"]) if "trial" in config else dict(config)
