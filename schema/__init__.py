"""The MLflow schema: the one owner of what a trial run is called and what it holds.

Floor 0 (with ``compression``): ``trainables`` report these metric keys, ``tuning`` writes
runs through these names, ``reports`` and the CLI read them back. A config is stored whole
as JSON (``CONFIG_PARAM``) beside the flat params MLflow shows, so it comes back with its
types instead of through string guessing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent  # the checkout: default stores, data, results

# ---------------------------------------------------------------- metrics (per epoch)
# Every writer (trainables) and reader (tuning, reports, cli) uses these names; a bare string
# equal to one of them outside schema/ fails the house test.
EPOCH, TRAIN_LOSS = "epoch", "train_loss"
VAL_ACC, VAL_MCC, VAL_F1, VAL_MAJORITY = "val_acc", "val_mcc", "val_f1", "val_majority"
SNR_FWD_DB, SNR_BWD_DB = "snr_fwd_db", "snr_bwd_db"
BYTES_FWD, BYTES_BWD, RATIO = "bytes_fwd", "bytes_bwd", "ratio"
STEP_TIME, COMPRESS_TIME, BUFFER_MB = "step_time", "compress_time", "buffer_mb"
COMPILED, VAL_OVERLAP_DROPPED = "compiled", "val_overlap_dropped"
PEAK_MEM_MB = "peak_mem_mb"  # GPU: peak allocated by tensors; CPU: peak resident set growth
ACCURACY = (VAL_ACC, VAL_MCC, VAL_F1, VAL_MAJORITY)
# the last epoch evaluated again with every boundary off: the trained model without the link
VAL_ACC_CLEAN, VAL_MCC_CLEAN, VAL_F1_CLEAN = "val_acc_clean", "val_mcc_clean", "val_f1_clean"
CLEAN = {VAL_ACC: VAL_ACC_CLEAN, VAL_MCC: VAL_MCC_CLEAN, VAL_F1: VAL_F1_CLEAN}
# bytes per sample averaged over every epoch of the run (AQ-SGD's first sightings included);
# bytes_fwd / bytes_bwd are the epoch's own
BYTES_FWD_RUN, BYTES_BWD_RUN = "bytes_fwd_run", "bytes_bwd_run"
COST = (SNR_FWD_DB, SNR_BWD_DB, BYTES_FWD, BYTES_BWD, BYTES_FWD_RUN, BYTES_BWD_RUN, RATIO, STEP_TIME, COMPRESS_TIME)
COST += (BUFFER_MB,)
# the fraction of the training values that crossed compressed (not sent exactly), per direction:
# the epoch's own and over every epoch of the run. AQ-SGD's first sightings go exactly, `none`
# sends everything exactly; a row that sent most of its forward exactly carries no claim.
COMPRESSED_FWD, COMPRESSED_BWD = "compressed_fwd", "compressed_bwd"
COMPRESSED_FWD_RUN, COMPRESSED_BWD_RUN = "compressed_fwd_run", "compressed_bwd_run"
COST += (COMPRESSED_FWD, COMPRESSED_BWD, COMPRESSED_FWD_RUN, COMPRESSED_BWD_RUN)
METRICS = (EPOCH, TRAIN_LOSS, *ACCURACY, *CLEAN.values(), *COST, COMPILED, VAL_OVERLAP_DROPPED, PEAK_MEM_MB)
REPORTED = tuple(m for m in METRICS if m != EPOCH)  # what a report can rank or average

# ---------------------------------------------------------------- facts a trial logs (params)
# What reports need from a run and must not rebuild from today's defaults: reported by the
# trainable with its first epoch, logged once as params under these names.
FACT_BATCH_SIZE, FACT_CUTS, FACT_METRIC = "run.batch_size", "run.cuts", "run.metric"
FACTS = (FACT_BATCH_SIZE, FACT_CUTS, FACT_METRIC)
# where the run ran, reported the same way and logged as tags (runs pair within one machine)
TAG_DEVICE, TAG_DEVICE_NAME = "device", "device_name"
TAG_HOST, TAG_CPU_CAPABILITY, TAG_TORCH = "host", "cpu_capability", "torch_version"  # host: a short hash
WHERE = (TAG_DEVICE, TAG_DEVICE_NAME, TAG_HOST, TAG_CPU_CAPABILITY, TAG_TORCH)


# the validation metrics against the global step ({"step": [...], "val_acc": [...]}, every
# evaluation so far): reported with each epoch, logged as metric history and as this tag
CURVE = "curve"


def curve_key(metric: str) -> str:
    """The metric-history name of a curve's metric: curve.val_acc."""
    return f"{CURVE}.{metric}"


class UnknownMetric(KeyError):
    """A trainable reported a key the schema does not own."""


def check_reported(result: dict) -> None:
    """Every key a trainable reports is a metric or a fact of the schema: a new metric is
    added here first, never logged (or dropped) under a name nobody owns."""
    unknown = sorted(k for k in result if k not in METRICS and k not in FACTS and k not in WHERE and k != CURVE)
    if unknown:
        raise UnknownMetric(f"reported keys not in schema.METRICS/FACTS/WHERE: {', '.join(unknown)}")


# ---------------------------------------------------------------- tags
TAG_SWEEP = "sweep"
TAG_SPACE = "space"
TAG_CONFIG_ID = "config_id"
TAG_SEED = "seed"
TAG_TASK = "task"
TAG_TRIAL = "trial_id"
TAG_PLACEMENT = "placement"
TAG_ERROR = "error"
TAG_STOPPED = "stopped_early"  # "true" when a scheduler stopped the trial before its epochs
TAG_EPOCHS = "epochs_reached"
TAG_COMPILED = COMPILED  # "true" when torch.compile'd kernels ran, "false" for eager
TAG_SUMMARY = "compsweep.summary"
TAG_PARENT = "compsweep.parent"  # "true" on a config's parent run (its seeds' runs are its children)
TAG_MLFLOW_PARENT = "mlflow.parentRunId"  # MLflow's own nesting tag, on each seed's run
N_SEEDS = "n_seeds"  # a parent's metric: its finished children (distinct seeds)
SEED_STATS = ("mean", "std", "delta", "delta_ci_low", "delta_ci_high")


def seed_stat(stat: str, metric: str) -> str:
    """A parent run's metric over its children's final values: mean_val_acc, delta_ci_low_val_acc."""
    if stat not in SEED_STATS:
        raise KeyError(f"seed statistic {stat!r}: one of {', '.join(SEED_STATS)}")
    return f"{stat}_{metric}"


EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")  # the UI opens on runs
DESCRIBE = ("method", "bits", "split_bits", "prune_ratio", "iters", "rank")  # what a spec says of itself

CONFIG_PARAM = "config_json"
NOT_CONFIG = ("seed", "progress", "root", "model_dir")  # where data lives is not the setting


SPEC_KEYS = ("fwd", "bwd")  # compressor specs: hashed in their canonical form


def canonical_spec(spec) -> str:
    """``compression.canonical`` for what is read back: specs enter canonical (spaces and flags
    store them so); runs stored before that are made canonical here, and an unparsable spec (a run
    no check saw) is kept as given rather than failing a report."""
    import compression

    try:
        return compression.canonical(spec)
    except (compression.SpecError, TypeError):
        return str(spec)


def config_id(config: dict) -> str:
    """Hash of every param but the seed (and data/model paths), from their string forms, with
    specs canonical: ``uniform:b=8`` and ``uniform:b=8,range=minmax,round=nearest`` are one config."""
    items = {k: str(v) for k, v in config.items() if k not in NOT_CONFIG and v is not None}
    for k in SPEC_KEYS:
        if k in items:
            items[k] = canonical_spec(items[k])
    return hashlib.sha1(json.dumps(items, sort_keys=True).encode()).hexdigest()[:12]


def run_config_id(params: dict[str, str], tags: dict[str, str]) -> str:
    """A stored run's config_id as today's hash gives it (from its JSON config), so runs logged
    before specs were hashed canonically group with new runs of the same setting; a run
    without a JSON config keeps its tag."""
    if CONFIG_PARAM in params:
        return config_id(json.loads(params[CONFIG_PARAM]))
    return tags.get(TAG_CONFIG_ID, "")


def describe(config: dict) -> dict[str, str]:
    """The DESCRIBE columns of a config's forward spec, as its compressor states them (strings, as
    MLflow tags hold them; "" where the method has no such field)."""
    import compression

    spec = compression.parse_spec(config.get("fwd", "none"))
    said = compression.build(spec).describe()
    return {"method": spec.method, **{k: "" if said.get(k) is None else str(said[k]) for k in DESCRIBE[1:]}}


def config_label(fwd, bwd=None, placement=None, setting: str = "", code: bool = False) -> str:
    """A config as every line, legend and name writes it: the forward spec, the backward when one
    is set, the training setting in brackets, the cut after an @ (each only when given); ``code``
    puts the specs in Markdown backticks."""
    q = "`" if code else ""
    text = f"{q}{fwd or 'none'}{q}" + (f" / bwd {q}{bwd}{q}" if bwd else "")
    return text + (f" [{setting}]" if setting else "") + (f" @ {placement}" if placement else "")


def config_params(config: dict) -> dict[str, str]:
    """What a run stores as params: every field as a string, and the whole config as JSON."""
    shown = {k: str(v)[:6000] for k, v in sorted(config.items()) if k != "progress"}
    shown[CONFIG_PARAM] = json.dumps({k: v for k, v in config.items() if k != "progress"}, sort_keys=True)
    return shown


def config_from_params(params: dict[str, str]) -> dict:
    """A run's config with its types (the JSON param; older runs: numbers parsed back)."""
    if CONFIG_PARAM in params:
        return json.loads(params[CONFIG_PARAM])
    return {k: _typed(v) for k, v in params.items()}


def _typed(v: str):
    if v in ("None", ""):
        return None
    for conv in (int, float):
        try:
            return conv(v)
        except ValueError:
            pass
    return v


def default_tracking_uri() -> str:
    """An absolute sqlite store in the repo (trials run in their own working directories)."""
    store = REPO / "mlruns"
    store.mkdir(exist_ok=True)
    return f"sqlite:///{store / 'mlflow.db'}"


__all__ = [
    "CONFIG_PARAM",
    "COST",
    "CURVE",
    "DESCRIBE",
    "EXPERIMENT_KIND",
    "METRICS",
    "NOT_CONFIG",
    "REPO",
    "REPORTED",
    "config_from_params",
    "canonical_spec",
    "check_reported",
    "config_id",
    "config_label",
    "config_params",
    "default_tracking_uri",
    "describe",
    "run_config_id",
]
