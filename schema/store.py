"""The MLflow store: a client, experiments (made as model-training experiments, so the UI
opens on the runs table), and the trial runs of an experiment. ``tuning`` writes through it,
``reports`` and the CLI read through it."""

from __future__ import annotations

from pathlib import Path

from . import (  # noqa: F401 (default_tracking_uri re-exported)
    EXPERIMENT_KIND,
    N_SEEDS,
    TAG_CONFIG_ID,
    TAG_PARENT,
    VAL_ACC,
    default_tracking_uri,
    seed_stat,
)


class StoreMissing(ValueError):
    """A reading command pointed at a store that is not there (one line: what and what is allowed)."""


SQLITE = "sqlite:///"


def existing(uri: str) -> str:
    """The URI of a store that exists, for commands that only read: a plain path becomes the
    sqlite store it names (a folder holding mlflow.db, or a .db file); a sqlite file that does not
    exist is refused, so a read never creates a store. Server URIs (http, https, databricks) pass."""
    if "://" not in uri:
        p = Path(uri).expanduser().resolve()
        db = p / "mlflow.db" if p.is_dir() else p
        if db.is_file():
            return f"{SQLITE}{db}"
        raise StoreMissing(
            f"--tracking-uri {uri!r}: a plain path with no MLflow store at {db}; give sqlite:///PATH/mlflow.db, "
            "a folder holding mlflow.db, or a server URL (http://HOST:PORT)"
        )
    if uri.startswith(SQLITE):
        db = Path(uri[len(SQLITE) :])
        if not db.is_file():
            raise StoreMissing(
                f"--tracking-uri {uri!r}: no MLflow store at {db} (a reading command creates none; run a sweep "
                "into it first, or point at the store a sweep wrote)"
            )
    return uri


def client(uri: str):
    import logging

    from mlflow.tracking import MlflowClient

    logging.getLogger("mlflow").setLevel(logging.WARNING)  # no "Creating tables" chatter
    return MlflowClient(tracking_uri=uri)


RUN_NAME_COLUMN = "tags.`mlflow.runName`"  # the UI's run-name column
VIEW_KEY = "compsweep"  # the shared view an experiment carries: its parents' seed statistics as columns
SHARED_VIEW_TAG, NOTE_TAG = "mlflow.sharedViewState.", "mlflow.note.content"


def view_url(exp_id: str) -> str:
    """The UI's route to an experiment's runs table in compsweep's view (append to the server URL)."""
    return f"#/experiments/{exp_id}/runs?viewStateShareKey={VIEW_KEY}"


def view_state(metric: str = VAL_ACC) -> dict:
    """The MLflow UI's view state (its shared-view format) that shows each config's parent run (one
    row a config; its seeds are in the experiment's default view) with its seed mean, std, N and
    paired delta as columns, best mean first, names wide enough to read."""
    cols = [seed_stat("mean", metric), seed_stat("std", metric), N_SEEDS, seed_stat("delta", metric),
            seed_stat("delta_ci_low", metric), seed_stat("delta_ci_high", metric)]  # fmt: skip
    keys = [f"metrics.`{c}`" for c in cols]
    return {"selectedColumns": keys, "columnOrder": [], "columnWidths": {RUN_NAME_COLUMN: 360}, "runsExpanded": {},
            "runsHiddenMode": "SHOW_ALL", "orderByKey": keys[0], "orderByAsc": False,
            "searchFilter": f"tags.`{TAG_PARENT}` = 'true'"}  # fmt: skip


def set_view(uri: str, exp_id: str, metric: str = VAL_ACC) -> None:
    """What compsweep can set for a newcomer in the MLflow UI: the shared view with the seed
    statistics, and the experiment's description (shown on its page) linking to it."""
    import json

    c = client(uri)
    c.set_experiment_tag(exp_id, SHARED_VIEW_TAG + VIEW_KEY, json.dumps(view_state(metric)))
    c.set_experiment_tag(
        exp_id,
        NOTE_TAG,
        f"compsweep sweep. **[Seed statistics per config]({view_url(exp_id)})**: one parent run a config with "
        f"columns {seed_stat('mean', metric)}, {seed_stat('std', metric)}, {N_SEEDS} (its seeds' runs are its "
        "children, in the experiment's runs table).",
    )


def experiment_id(uri: str, name: str, create: bool = True, metric: str = VAL_ACC) -> str | None:
    c = client(uri)
    exp = c.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    if not create:
        return None
    artifacts = None
    if uri.startswith("sqlite:///"):
        artifacts = (Path(uri[len("sqlite:///") :]).parent / "artifacts" / name).as_uri()
    exp_id = c.create_experiment(name, artifact_location=artifacts, tags=dict([EXPERIMENT_KIND]))
    set_view(uri, exp_id, metric)
    return exp_id


def search(uri: str, name: str, status: str | None = "FINISHED") -> list:
    """Trial runs (those with a config_id tag; summary and parent runs left out) of an experiment."""
    c = client(uri)
    exp = c.get_experiment_by_name(name)
    if exp is None:
        return []
    flt = f"attributes.status = '{status}'" if status else ""
    runs, token = [], None
    while True:
        page = c.search_runs([exp.experiment_id], flt, max_results=1000, page_token=token)
        runs += [r for r in page if TAG_CONFIG_ID in r.data.tags and TAG_PARENT not in r.data.tags]
        token = page.token
        if not token:
            return runs


def parents(uri: str, name: str) -> dict[str, str]:
    """config_id -> the run id of the config's parent run, in an experiment."""
    c = client(uri)
    exp = c.get_experiment_by_name(name)
    if exp is None:
        return {}
    found = c.search_runs([exp.experiment_id], f"tags.`{TAG_PARENT}` = 'true'", max_results=10000)
    return {r.data.tags[TAG_CONFIG_ID]: r.info.run_id for r in found if TAG_CONFIG_ID in r.data.tags}
