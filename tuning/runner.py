"""The Tuner: grid or Optuna, local or on a cluster, resumable; one MLflow run per trial."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from schema import EPOCH, REPO, TAG_SPACE, TAG_SWEEP


def quiet_ray_env(address: str | None) -> None:
    """Set before ``import ray``: no usage stats, the old (quiet) output, no auth locally."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_TRAIN_V2_ENABLED", "0")
    if address is None:
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")


# ---------------------------------------------------------------- worker side
class TuneStateIO:
    """Per-epoch checkpoints through Ray Tune, so an interrupted trial resumes mid-run."""

    def __init__(self):
        self.dir: str | None = None

    def load(self) -> dict | None:
        import torch
        from ray import tune

        ckpt = tune.get_checkpoint()
        if ckpt is None:
            return None
        with ckpt.as_directory() as d:
            return torch.load(Path(d) / "state.pt", map_location="cpu", weights_only=False)

    def save(self, state: dict) -> None:
        import torch

        self.dir = tempfile.mkdtemp(prefix="compsweep-ckpt-")
        torch.save(state, Path(self.dir) / "state.pt")

    def report(self, metrics: dict) -> None:
        from ray import tune

        ckpt = tune.Checkpoint.from_directory(self.dir) if self.dir else None
        tune.report(dict(metrics), checkpoint=ckpt)
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


DETERMINISTIC = (ValueError, FloatingPointError, TypeError, KeyError)  # the same again on a retry


def tune_trainable(config: dict) -> None:
    """The Tune function trainable: the plain ``trainables.train`` with Tune's report.

    A failure that would repeat (a bad config, divergence, non-finite tensors: the trainables
    raise ConfigError, FloatingPointError or ValueError) is reported as the trial's last result
    (``trial_error``) and the trial ends there, so Tune's retries (``--retries``), which are
    for lost workers, never rerun it; the MLflow callback marks its run FAILED with the error."""
    import math

    from ray import tune

    import schema
    import trainables

    from .tracking import TRIAL_ERROR, trial_config

    io = TuneStateIO()
    try:
        trainables.train(trial_config(config), io.report, io)
    except DETERMINISTIC as e:
        msg = f"{type(e).__name__}: {e}".splitlines()[0][:2000]
        tune.report({**{k: math.nan for k in schema.REPORTED}, TRIAL_ERROR: msg})


class ExploreSampler:
    """Optuna define-by-run: the space's sample plus the fixed training config, nested.

    TPE can sample a point it has sampled before; the repeat gets the next free seed, so it
    adds a seed to that config instead of a duplicate (config, seed) run."""

    def __init__(self, sample, base: dict):
        self.sample, self.base = sample, base
        self.seen: dict[str, int] = {}

    def __call__(self, trial) -> dict:
        from schema import config_id

        cfg = {**self.base, **self.sample(trial)}
        cid = config_id(cfg)
        first = int(self.base.get("seed", 0))
        cfg["seed"] = first + self.seen.get(cid, 0)
        self.seen[cid] = self.seen.get(cid, 0) + 1
        return {"trial": cfg}


# ---------------------------------------------------------------- driver side
@dataclass
class Plan:
    name: str  # MLflow experiment
    space: str
    metric: str
    mode: str
    trials: list[dict] | None = None  # grid: every full trial config
    sampler: ExploreSampler | None = None  # Optuna
    num_samples: int = 1
    tracking_uri: str = ""
    storage: str = str(REPO / "ray_results")
    address: str | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_concurrent: int | None = None
    asha: bool = False
    max_epochs: int = 1
    retries: int = 0  # FailureConfig(max_failures): resumes a trial whose worker died
    objectives: list[tuple[str, str]] | None = None  # Optuna multi-objective: [(metric, mode), ...]
    verbose: int = 0  # Ray Tune's own reporting (1: its trial table)
    after_trial: Callable[[], None] | None = None  # after each trial ends (e.g. the parents' statistics)
    keep_checkpoints: bool = False  # a complete sweep deletes its trials' checkpoints (they serve --resume)

    @property
    def planned(self) -> int:
        return len(self.trials) if self.trials is not None else self.num_samples


def _init_ray(plan: Plan) -> None:
    import logging

    import ray

    if ray.is_initialized():
        return
    if plan.address:
        excludes = [".venv", ".git", "mlruns", "ray_results", "data", "docs", "**/__pycache__"]
        ray.init(
            address=plan.address,
            log_to_driver=False,
            logging_level=logging.ERROR,
            runtime_env={"working_dir": str(REPO), "excludes": excludes},
        )
    else:
        ray.init(
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
            object_store_memory=300 * 1024**2,
            configure_logging=True,
        )


def latest_file(plan: Plan) -> Path:
    return Path(plan.storage) / f"{plan.name}.latest.json"


def launch(plan: Plan, resume: bool = False) -> dict:
    """Run (or resume) the sweep; returns counts of planned/finished/failed and the sweep id."""
    quiet_ray_env(plan.address)
    from ray import tune

    Path(plan.storage).mkdir(parents=True, exist_ok=True)
    _init_ray(plan)
    trainable = tune.with_resources(tune_trainable, {"cpu": plan.cpus_per_trial, "gpu": plan.gpus_per_trial})
    if resume:
        info = json.loads(latest_file(plan).read_text())
        sweep_id, planned = info[TAG_SWEEP], info["planned"]
        tuner = tune.Tuner.restore(info["path"], trainable=trainable, resume_unfinished=True, resume_errored=False)
    else:
        sweep_id, planned = f"{plan.name}-{time.strftime('%Y%m%d-%H%M%S')}", plan.planned
        tuner = _new_tuner(plan, trainable, sweep_id)
        _write_latest(plan, sweep_id)
    tuner.fit()
    outcome = _outcome(plan, sweep_id, planned)
    if not plan.keep_checkpoints and outcome["finished"] + outcome["failed"] >= planned:
        outcome["freed_mb"] = drop_checkpoints(Path(plan.storage) / sweep_id)
    return outcome


def drop_checkpoints(sweep_dir: Path) -> float:
    """Delete the per-epoch checkpoints of a sweep with nothing left to resume (each holds the
    model and optimizer state: ~40 MB a CV trial); Tune's state, results and logs stay. MB freed."""
    freed = 0
    for ckpt in sweep_dir.glob("*/checkpoint_*"):
        if ckpt.is_dir():
            freed += sum(f.stat().st_size for f in ckpt.rglob("*") if f.is_file())
            shutil.rmtree(ckpt, ignore_errors=True)
    return freed / 2**20


def _concurrency(plan: Plan) -> int:
    """As many trials at once as the cluster's CPUs (and GPUs) fit, or --max-concurrent."""
    import ray

    total = ray.cluster_resources()
    fit = int(total.get("CPU", 1) // max(plan.cpus_per_trial, 1e-9))
    if plan.gpus_per_trial:
        fit = min(fit, int(total.get("GPU", 0) // plan.gpus_per_trial))
    return max(1, plan.max_concurrent or fit)


def _search(plan: Plan, concurrent: int) -> tuple[dict, object, int]:
    """(param_space, search_alg, num_samples): every grid row once, or Optuna's samples."""
    from ray import tune

    if plan.trials is not None:
        return {"trial": tune.grid_search(plan.trials)}, None, 1
    import optuna
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if plan.objectives:
        metric, mode = [m for m, _ in plan.objectives], [d for _, d in plan.objectives]
    else:
        metric, mode = plan.metric, plan.mode
    searcher = OptunaSearch(space=plan.sampler, metric=metric, mode=mode, seed=0)
    return {}, ConcurrencyLimiter(searcher, max_concurrent=concurrent), plan.num_samples


def _new_tuner(plan: Plan, trainable, sweep_id: str):
    from ray import tune
    from ray.tune import CheckpointConfig, FailureConfig, RunConfig, TuneConfig
    from ray.tune.schedulers import ASHAScheduler

    from schema.store import experiment_id, set_view

    from .progress import Progress
    from .tracking import MlflowTrialLogger

    exp = experiment_id(plan.tracking_uri, plan.name, metric=plan.metric)  # create it from the driver, once
    set_view(plan.tracking_uri, exp, plan.metric)  # the UI's seed-statistics view (older experiments too)
    callbacks = [
        MlflowTrialLogger(plan.tracking_uri, plan.name, {TAG_SWEEP: sweep_id, TAG_SPACE: plan.space}, plan.after_trial),
    ]
    concurrent = _concurrency(plan)
    callbacks.append(Progress(plan.planned, plan.metric, concurrent))
    param_space, search_alg, num_samples = _search(plan, concurrent)
    scheduler = None
    if plan.asha:
        scheduler = ASHAScheduler(time_attr=EPOCH, max_t=max(plan.max_epochs, 1), grace_period=1, reduction_factor=2)
    return tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=TuneConfig(
            metric=None if plan.objectives else plan.metric,
            mode=None if plan.objectives else plan.mode,
            num_samples=num_samples,
            search_alg=search_alg,
            scheduler=scheduler,
            max_concurrent_trials=concurrent,
            reuse_actors=True,
        ),
        run_config=RunConfig(
            name=sweep_id,
            storage_path=plan.storage,
            callbacks=callbacks,
            verbose=plan.verbose,  # Ray's trial table: off unless -v
            failure_config=FailureConfig(max_failures=plan.retries),
            checkpoint_config=CheckpointConfig(num_to_keep=1),
        ),
    )


def _write_latest(plan: Plan, sweep_id: str) -> None:
    """Where --resume finds the sweep: its id, its size and its Tune folder."""
    latest = latest_file(plan)
    tmp = latest.with_suffix(".tmp")
    tmp.write_text(
        json.dumps({TAG_SWEEP: sweep_id, "planned": plan.planned, "path": str(Path(plan.storage) / sweep_id)})
    )
    tmp.replace(latest)


def _outcome(plan: Plan, sweep_id: str, planned: int) -> dict:
    """Counts of this sweep's runs; runs cut short by an interruption are KILLED until --resume."""
    from schema.store import client, search

    runs = [r for r in search(plan.tracking_uri, plan.name, status=None) if r.data.tags.get(TAG_SWEEP) == sweep_id]
    finished = sum(r.info.status == "FINISHED" for r in runs)
    failed = sum(r.info.status == "FAILED" for r in runs)
    if finished + failed < planned:
        c = client(plan.tracking_uri)
        for r in runs:
            if r.info.status == "RUNNING":
                c.set_terminated(r.info.run_id, "KILLED")
    return {"sweep_id": sweep_id, "planned": planned, "finished": finished, "failed": failed}
