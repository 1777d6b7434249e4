"""What a sweep writes to MLflow beside its trial runs, from what the reports computed: each
config's parent run metrics (its seeds' statistics) and the experiment's one summary run (the
table and plots as artifacts). ``reports`` only computes and reads; the CLI hands its results
here (tuning writes runs, reports reads them)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import schema
from schema.store import client, experiment_id, parents


def write_parents(uri: str, name: str, values: dict[str, dict[str, float]]) -> int:
    """Each config's parent run gets its metrics (config_id -> {metric: value}); returns how many."""
    from mlflow.entities import Metric

    ids = parents(uri, name)
    c, ts, done = client(uri), int(time.time() * 1000), 0
    for cid, metrics in values.items():
        run_id = ids.get(cid)
        if run_id is None:
            continue
        c.log_batch(run_id, metrics=[Metric(k, v, ts, 0) for k, v in metrics.items()])
        c.set_terminated(run_id, "FINISHED")
        done += 1
    return done


def save_summary_run(uri: str, name: str, files: dict[str, str | Path]) -> str:
    """The experiment's one summary run, holding the table (and plots) as artifacts, made once
    and updated in place (``sweep.py run`` and ``rerun`` write it; reading commands never do).
    ``files``: artifact name -> text content, or a Path to copy."""
    c = client(uri)
    exp = experiment_id(uri, name, create=False)
    found = c.search_runs([exp], f"tags.`{schema.TAG_SUMMARY}` = 'true'", max_results=1)
    run = found[0] if found else c.create_run(exp, run_name="summary", tags={schema.TAG_SUMMARY: "true"})
    with tempfile.TemporaryDirectory() as d:
        for fname, content in files.items():
            p = Path(d) / fname
            if isinstance(content, Path):
                p.write_bytes(content.read_bytes())
            else:
                p.write_text(content)
            c.log_artifact(run.info.run_id, str(p))
    c.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id
