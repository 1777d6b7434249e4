"""The MLflow store: where it is, experiments, and the FINISHED trial runs of a sweep."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def default_tracking_uri() -> str:
    """An absolute sqlite store in the repo (trials run in their own working directories)."""
    store = REPO / "mlruns"
    store.mkdir(exist_ok=True)
    return f"sqlite:///{store / 'mlflow.db'}"


def client(uri: str):
    import logging

    from mlflow.tracking import MlflowClient

    logging.getLogger("mlflow").setLevel(logging.WARNING)  # no "Creating tables" chatter
    return MlflowClient(tracking_uri=uri)


def experiment_id(uri: str, name: str, create: bool = True) -> str | None:
    c = client(uri)
    exp = c.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    if not create:
        return None
    artifacts = None
    if uri.startswith("sqlite:///"):
        artifacts = (Path(uri[len("sqlite:///") :]).parent / "artifacts" / name).as_uri()
    return c.create_experiment(name, artifact_location=artifacts)


def search(uri: str, name: str, status: str | None = "FINISHED") -> list:
    """Trial runs (those with a config_id tag; summary runs left out) of an experiment."""
    c = client(uri)
    exp = c.get_experiment_by_name(name)
    if exp is None:
        return []
    flt = f"attributes.status = '{status}'" if status else ""
    runs, token = [], None
    while True:
        page = c.search_runs([exp.experiment_id], flt, max_results=1000, page_token=token)
        runs += [r for r in page if "config_id" in r.data.tags]
        token = page.token
        if not token:
            return runs
