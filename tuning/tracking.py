"""MLflow: the store, config ids, and a driver-side Tune callback that logs in batches.

One MLflow run per trial, found again by its ``trial_id`` tag after a restore (so a resumed
sweep never makes a second run for a trial); params are the full trial config, metrics are
logged per epoch as steps, and a failed trial ends FAILED with its error as a tag.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from ray.tune import Callback

from reports.store import client, experiment_id
from reports.table import METRICS as REPORTED

NOT_CONFIG = ("seed", "progress", "root", "model_dir")  # where data lives is not the setting


NOT_CONFIG = ("seed", "progress", "root", "model_dir")  # where data lives is not the setting


def config_id(config: dict) -> str:
    """Hash of every param but the seed (and data/model paths), from their string forms."""
    items = {k: str(v) for k, v in config.items() if k not in NOT_CONFIG and v is not None}
    return hashlib.sha1(json.dumps(items, sort_keys=True).encode()).hexdigest()[:12]


def describe(config: dict) -> dict[str, str]:
    """Columns reports group by: method, bits, split bits, prune ratio, iterations."""
    import compression

    spec = compression.parse_spec(config.get("fwd", "none"))
    p = spec.params
    return {
        "method": spec.method,
        "bits": str(p["b"] + p.get("s", 0)) if "b" in p else ("32" if spec.method == "none" else ""),
        "split_bits": str(p["s"]) if "s" in p else "",
        "prune_ratio": str(p["r"]) if "r" in p else "",
        "iters": str(p.get("iters", "")),
    }


class MlflowTrialLogger(Callback):
    """Logs each trial as one MLflow run, from the driver, in batches."""

    def __init__(self, uri: str, experiment: str, tags: dict[str, str]):
        self.uri, self.experiment, self.tags = uri, experiment, tags
        self._runs: dict[str, str] = {}
        self._client = None
        self._exp_id = None

    def __getstate__(self):  # pickled with the Tuner: keep only what rebuilds the rest
        return {"uri": self.uri, "experiment": self.experiment, "tags": self.tags, "_runs": self._runs}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._client = None
        self._exp_id = None

    @property
    def c(self):
        if self._client is None:
            self._client = client(self.uri)
            self._exp_id = experiment_id(self.uri, self.experiment)
        return self._client

    def run_for(self, trial) -> str:
        from mlflow.entities import Param, RunTag

        if trial.trial_id in self._runs:
            return self._runs[trial.trial_id]
        c = self.c
        found = c.search_runs(
            [self._exp_id],
            f"tags.trial_id = '{trial.trial_id}' and tags.sweep = '{self.tags.get('sweep', '')}'",
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
                **describe(cfg),
                "config_id": config_id(cfg),
                "seed": str(cfg.get("seed", 0)),
                "task": str(cfg.get("task")),
                "trial_id": trial.trial_id,
                "placement": str(cfg.get("placement")),
            }
            run = c.create_run(self._exp_id, tags=tags, run_name=f"{cfg.get('fwd')} seed {cfg.get('seed')}")
            run_id = run.info.run_id
            params = [Param(k, str(v)[:6000]) for k, v in sorted(cfg.items()) if k != "progress"]
            for i in range(0, len(params), 100):
                c.log_batch(run_id, params=params[i : i + 100], tags=[RunTag("status", "running")])
        self._runs[trial.trial_id] = run_id
        return run_id

    # --- ray.tune.Callback hooks --------------------------------------
    def on_trial_start(self, iteration, trials, trial, **info):
        self.run_for(trial)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        from mlflow.entities import Metric

        run_id = self.run_for(trial)
        ts = int(time.time() * 1000)
        step = int(result.get("epoch", result.get("training_iteration", 0)))
        metrics = [
            Metric(k, float(v), ts, step) for k, v in result.items() if k in METRICS and isinstance(v, (int, float))
        ]
        self.c.log_batch(run_id, metrics=metrics)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.c.set_terminated(self.run_for(trial), "FINISHED")

    def on_trial_error(self, iteration, trials, trial, **info):
        run_id = self.run_for(trial)
        err = ""
        if getattr(trial, "error_file", None) and Path(trial.error_file).is_file():
            err = Path(trial.error_file).read_text()
        lines = [ln for ln in err.strip().splitlines() if ln.strip()]
        self.c.set_tag(run_id, "error", (lines[-1] if lines else "unknown error")[:5000])
        self.c.set_terminated(run_id, "FAILED")


METRICS = ("epoch", *REPORTED)  # what a trial result may carry to MLflow


def trial_config(config: dict) -> dict:
    """A Tune trial's config as the flat train() config (grid rows and Optuna samples nest it)."""
    return dict(config["trial"]) if "trial" in config else dict(config)
