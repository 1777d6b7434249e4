"""Trial runs as a table: one row per run (from MLflow, or from a runs.csv kept in the repo),
de-duplicated to one run per (experiment, config, seed), complete runs apart from those a
scheduler stopped early."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

import schema

KEYS = (schema.TAG_CONFIG_ID, "task", *schema.DESCRIBE, "placement", "fwd", "bwd")
RUN = ("experiment", *KEYS, "seed", "run_id", "status", "start_time", "end_time", schema.TAG_STOPPED, schema.TAG_EPOCHS)
RUN += ("batch_size", "cuts", schema.TAG_ERROR, *schema.WHERE, schema.CONFIG_PARAM)  # WHERE: "" = not recorded
RUN += (schema.CURVE,)  # JSON {"step": [...], metric: [...]}; "" for runs stored before it
COLUMNS = (*RUN, *schema.REPORTED)


# Runs logged before the trial logged its batch size and cuts (schema.FACTS) ran with these:
# the family defaults of that time, fixed here as history (not today's defaults), and one
# cut per comma-separated term of the placement.
LEGACY_BATCH_SIZE = {"cv": 64, "nlp": 32}


def legacy_cuts(placement: str) -> int:
    """The number of cut points a placement names (each comma-separated term is one)."""
    from trainables import placement as grammar

    return len(grammar.terms(placement))


def legacy_batch_size(task: str) -> int:
    import trainables

    try:
        return LEGACY_BATCH_SIZE[trainables.task(task).family]
    except trainables.ConfigError:
        return LEGACY_BATCH_SIZE["cv"]


def frame(runs, experiment: str = "") -> pd.DataFrame:
    """MLflow runs -> one row per run with the setting, the run's facts and its last metrics."""
    rows = []
    for r in runs:
        t, p, m = r.data.tags, r.data.params, r.data.metrics
        cfg = schema.config_from_params(p)
        row = {k: t.get(k, p.get(k, "")) for k in KEYS}
        row.update(
            experiment=experiment,
            config_id=schema.run_config_id(p, t),
            task=t.get(schema.TAG_TASK, cfg.get("task", "")),
            fwd=_canonical(cfg.get("fwd") or "none"),
            bwd=_canonical(cfg.get("bwd") or ""),
            seed=int(t.get(schema.TAG_SEED, -1)),
            run_id=r.info.run_id,
            status=r.info.status,
            start_time=int(r.info.start_time or 0),
            end_time=int(r.info.end_time or r.info.start_time or 0),
            stopped_early=t.get(schema.TAG_STOPPED, "false") == "true",
            epochs_reached=int(t.get(schema.TAG_EPOCHS, m.get(schema.EPOCH, 0)) or 0),
            batch_size=int(p.get(schema.FACT_BATCH_SIZE) or cfg.get("batch_size") or legacy_batch_size(row["task"])),
            cuts=int(p.get(schema.FACT_CUTS) or legacy_cuts(cfg.get("placement", row["placement"]))),
            error=t.get(schema.TAG_ERROR, ""),
        )
        row.update({k: t.get(k, "") for k in schema.WHERE})
        row[schema.CONFIG_PARAM] = json.dumps(cfg, sort_keys=True)
        row[schema.CURVE] = t.get(schema.CURVE, "")
        row.update({k: m.get(k, math.nan) for k in schema.REPORTED})
        rows.append(row)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _canonical(spec: str) -> str:
    return schema.canonical_spec(spec) if spec else ""


def from_mlflow(uri: str, experiment: str, status: str | None = None) -> pd.DataFrame:
    from schema.store import search

    return frame(search(uri, experiment, status), experiment)


def complete(df: pd.DataFrame, include_stopped: bool = False) -> tuple[pd.DataFrame, dict]:
    """FINISHED runs, one per (experiment, config_id, seed): the latest. Early-stopped runs are
    left out unless asked for. Returns the rows and what was dropped."""
    fin = df[df["status"] == "FINISHED"]
    stopped = fin[schema.TAG_STOPPED].astype(bool)
    kept = fin if include_stopped else fin[~stopped]
    kept = kept.sort_values("start_time", kind="stable")
    unique = kept.drop_duplicates(["experiment", schema.TAG_CONFIG_ID, "seed"], keep="last")
    return unique, {"duplicates": len(kept) - len(unique), "stopped": int(stopped.sum()) if not include_stopped else 0}


def write_csv(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    df.sort_values(["experiment", schema.TAG_CONFIG_ID, "seed", "start_time"]).to_csv(tmp, index=False)
    tmp.replace(path)


TEXT = (*schema.DESCRIBE[1:], "bwd", schema.TAG_ERROR, schema.CURVE)


def read_csv(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path, dtype=dict.fromkeys(TEXT, str))
    for k in TEXT:
        if k not in df.columns:  # a file written before the column existed
            df[k] = ""
        df[k] = df[k].fillna("").astype(str)
    df[schema.TAG_STOPPED] = df[schema.TAG_STOPPED].astype(bool)
    df["fwd"] = df["fwd"].map(lambda v: _canonical(v) or "none")
    df["bwd"] = df["bwd"].map(_canonical)
    has_json = df[schema.CONFIG_PARAM].notna()  # ids as today's (canonical) hash gives them
    df.loc[has_json, schema.TAG_CONFIG_ID] = [
        schema.config_id(json.loads(c)) for c in df.loc[has_json, schema.CONFIG_PARAM]
    ]
    return df.reindex(columns=list(COLUMNS))  # a metric added since the file was written: NaN


def merge(*frames: pd.DataFrame) -> pd.DataFrame:
    """Union of run tables, one row per run_id (the later source wins)."""
    frames = [f for f in frames if f is not None and not f.empty]
    if not frames:
        return pd.DataFrame(columns=list(COLUMNS))
    return pd.concat(frames, ignore_index=True).drop_duplicates("run_id", keep="last")
