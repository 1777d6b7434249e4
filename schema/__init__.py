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
ACCURACY = ("val_acc", "val_mcc", "val_majority")
# the last epoch evaluated again with every boundary off: the trained model without the link
CLEAN = {"val_acc": "val_acc_clean", "val_mcc": "val_mcc_clean"}
COST = ("snr_fwd_db", "snr_bwd_db", "bytes_fwd", "bytes_bwd", "ratio", "step_time", "compress_time", "buffer_mb")
METRICS = ("epoch", "train_loss", *ACCURACY, *CLEAN.values(), *COST, "compiled", "val_overlap_dropped")
REPORTED = tuple(m for m in METRICS if m != "epoch")  # what a report can rank or average
SNR_METRICS = ("snr_fwd_db", "snr_bwd_db")

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
TAG_COMPILED = "compiled"  # "true" when torch.compile'd kernels ran, "false" for eager
TAG_SUMMARY = "compsweep.summary"
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")  # the UI opens on runs
DESCRIBE = ("method", "bits", "split_bits", "prune_ratio", "iters")

CONFIG_PARAM = "config_json"
NOT_CONFIG = ("seed", "progress", "root", "model_dir")  # where data lives is not the setting


def config_id(config: dict) -> str:
    """Hash of every param but the seed (and data/model paths), from their string forms."""
    items = {k: str(v) for k, v in config.items() if k not in NOT_CONFIG and v is not None}
    return hashlib.sha1(json.dumps(items, sort_keys=True).encode()).hexdigest()[:12]


def describe(config: dict) -> dict[str, str]:
    """Columns reports group by: method, bits (per value, as sent), split bits, prune ratio, iterations."""
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
    "DESCRIBE",
    "EXPERIMENT_KIND",
    "METRICS",
    "NOT_CONFIG",
    "REPO",
    "REPORTED",
    "config_from_params",
    "config_id",
    "config_params",
    "default_tracking_uri",
    "describe",
]
