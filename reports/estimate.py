"""A not-run sweep's time, estimated from a measured step: ``bench --step --setting SPACE
--record docs/results/steps.jsonl`` keeps the `none` step of a space's setting where it was
measured; the page multiplies the sweep's optimizer steps by the latest such step on the
device the section needs."""

from __future__ import annotations

import json
from pathlib import Path

import schema

FILE = "steps.jsonl"  # beside the page


def latest(out: Path, space: str, device: str) -> dict | None:
    """The latest record of ``space``'s step on ``device`` ("cuda" or "cpu"), or None."""
    path = out / FILE
    if not path.is_file():
        return None
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    mine = [x for x in lines if x.get(schema.TAG_SPACE) == space and x.get(schema.TAG_DEVICE) == device]
    return max(mine, key=lambda x: x.get("date", "")) if mine else None


def sweep_time(out: Path, space: str, steps: int, device: str = "cuda") -> str:
    """One sentence: the sweep's estimated time on the device from its measured step, or how to
    measure that step where none is recorded."""
    rec = latest(out, space, device)
    if rec is None:
        return (
            f"no {device.upper() if device == 'cuda' else device} step of this setting is recorded, so its time is "
            f"not estimated (`python sweep.py bench --step --setting {space} --device {device} --record "
            f"docs/results/{FILE}` measures and records one where it runs)"
        )
    hours = steps * float(rec["step_s"]) / 3600
    return (
        f"about {hours:.1f} h of {rec[schema.TAG_DEVICE_NAME]} time at `none`'s measured step "
        f"({float(rec['step_s']):.3f} s, "
        f"{rec['precision']}, {rec['date']}, commit {rec.get('commit') or '?'}, `docs/results/{FILE}`; training "
        "steps only: evaluation and the compressors' own time not counted)"
    )
