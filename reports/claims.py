"""Claims as data, each with a verdict from paired differences over seeds.

A claim compares config A with config B (same experiment, task and placement) on a metric:

- ``matches``: |A - B| <= margin. Holds when the 95% CI of the paired difference lies inside
  [-margin, +margin]; does not hold when it lies wholly outside; otherwise inconclusive.
- ``loses``: A < B. Holds when the CI lies below 0; does not hold when it lies at or above 0.
- ``beats``: A > B. Holds when the CI lies above 0; does not hold when it lies at or below 0.
- ``collapses``: A < B - margin (a loss larger than the margin, e.g. 5 points). Holds when
  the CI lies below -margin; does not hold when it lies above -margin.

Below two paired seeds there is no CI: inconclusive. An inconclusive verdict comes with the
``sweep.py rerun --config-id`` command that adds seeds to exactly the configs it rests on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

import compression
import schema

from .stats import difference, same_cut

RELATIONS = ("matches", "loses", "beats", "collapses")


@dataclass(frozen=True)
class Config:
    fwd: str
    bwd: str = ""  # "" = the default backward of the forward spec
    placement: str | None = None  # None: the task's default cut

    def label(self) -> str:
        return f"`{self.fwd}`" + (f" / bwd `{self.bwd}`" if self.bwd else "")

    def key(self, task: str) -> tuple[str, str, str]:
        """(fwd, bwd, placement) as a summary row holds them: canonical specs, the cut resolved."""
        from trainables import default_placement

        return _canon(self.fwd), _canon(self.bwd), self.placement or default_placement(task)


@dataclass(frozen=True)
class Claim:
    experiment: str
    task: str
    text: str
    a: Config
    relation: str
    b: Config
    margin: float = 0.01
    metric: str = schema.VAL_ACC
    source: str = "ours"  # "study" (the published study's claim) or "ours"


@dataclass
class Verdict:
    claim: Claim
    verdict: str
    mean: float
    low: float
    high: float
    n: int
    ids: tuple[str, str] | None
    note: str = ""
    per_seed: tuple[float, ...] = ()  # the paired differences, in seed order

    @property
    def decided(self) -> bool:
        return self.verdict in ("holds", "does not hold")


def _canon(spec: str) -> str:
    return str(compression.parse_spec(spec)) if spec else ""


def find(summary: pd.DataFrame, experiment: str, task: str, c: Config) -> pd.Series | None:
    fwd, bwd, placement = c.key(task)
    hit = summary[
        same_cut(summary, experiment, task, placement)
        & (summary["fwd"] == fwd)
        & (summary["bwd"].fillna("").map(_canon) == bwd)
    ]
    return None if hit.empty else hit.iloc[0]


def judge(relation: str, low: float, high: float, margin: float) -> str | None:
    """holds / does not hold, or None (inconclusive) for a CI [low, high]."""
    if math.isnan(low) or math.isnan(high):
        return None
    if relation == "matches":
        if -margin <= low and high <= margin:
            return "holds"
        if high < -margin or low > margin:
            return "does not hold"
    elif relation == "loses":
        if high < 0:
            return "holds"
        if low >= 0:
            return "does not hold"
    elif relation == "beats":
        if low > 0:
            return "holds"
        if high <= 0:
            return "does not hold"
    elif relation == "collapses":
        if high < -margin:
            return "holds"
        if low > -margin:
            return "does not hold"
    else:
        raise ValueError(f"relation {relation!r}: one of {', '.join(RELATIONS)}")
    return None


def verdict(claim: Claim, summary: pd.DataFrame, runs: pd.DataFrame) -> Verdict:
    ra = find(summary, claim.experiment, claim.task, claim.a)
    rb = find(summary, claim.experiment, claim.task, claim.b)
    if ra is None or rb is None:
        missing = " and ".join(c.label() for c, r in ((claim.a, ra), (claim.b, rb)) if r is None)
        return Verdict(claim, "not run", math.nan, math.nan, math.nan, 0, None, f"no finished runs of {missing}")
    d = difference(
        runs, claim.metric, (claim.experiment, ra[schema.TAG_CONFIG_ID]), (claim.experiment, rb[schema.TAG_CONFIG_ID])
    )
    v = judge(claim.relation, d["low"], d["high"], claim.margin)
    return Verdict(claim, v or f"inconclusive at N={d['n']}", d["mean"], d["low"], d["high"], d["n"],
                   (ra[schema.TAG_CONFIG_ID], rb[schema.TAG_CONFIG_ID]), per_seed=tuple(d["diffs"]))  # fmt: skip


def rerun_line(experiment: str, ids, seeds: int) -> str:
    """The command that brings these configs of an experiment to `seeds` seeds."""
    return f"python sweep.py rerun --name {experiment} --config-id {','.join(ids)} --seeds {seeds}"


def rerun_command(v: Verdict, seeds: int) -> str:
    return rerun_line(v.claim.experiment, v.ids, seeds) if v.ids else ""


def _is_accuracy(c: Claim) -> bool:
    """Accuracies (val_acc, val_acc_clean) print in points; MCC as it is."""
    return c.metric.startswith(schema.VAL_ACC)


def fmt(v: Verdict) -> str:
    scale, unit = (100, " pts") if _is_accuracy(v.claim) else (1, "")
    margin = f"{v.claim.margin * scale:g}{unit}"
    rel = {"matches": f"matches (within ±{margin})", "collapses": f"collapses against (loses more than {margin})"}
    head = f"{v.claim.a.label()} {rel.get(v.claim.relation, v.claim.relation)} {v.claim.b.label()}"
    if v.n == 0:
        return f"**{v.claim.text}** — *{v.verdict}*. {head}: {v.note}."
    ci = "no CI below 2 seeds" if math.isnan(v.low) else f"95% CI [{v.low * scale:+.1f}, {v.high * scale:+.1f}]"
    on = "" if v.claim.metric in (schema.VAL_ACC, schema.VAL_MCC) else f" on {v.claim.metric}"
    text = (
        f"**{v.claim.text}** — *{v.verdict}*. {head}: paired Δ{on} = {v.mean * scale:+.1f}{unit}, {ci}, "
        f"N = {v.n} seeds ({v.claim.experiment}, {v.claim.task})."
    )
    if v.per_seed:  # a collapse is often all-or-nothing per seed, which the mean alone hides
        text += " Per seed: " + ", ".join(f"{x * scale:+.1f}" for x in v.per_seed) + "."
    if not v.decided:
        text += f" More seeds: `{rerun_command(v, max(v.n + 3, 5))}`"
    return text


def table(verdicts: list[Verdict]) -> str:
    lines = ["| claim | A | relation | B | Δ (A - B) | 95% CI | N | verdict |", "|---|---|---|---|---|---|---|---|"]
    for v in verdicts:
        scale = 100 if _is_accuracy(v.claim) else 1
        ci = "" if math.isnan(v.low) else f"[{v.low * scale:+.1f}, {v.high * scale:+.1f}]"
        d = "" if math.isnan(v.mean) else f"{v.mean * scale:+.1f}"
        rel = v.claim.relation
        if rel in ("matches", "collapses"):
            rel += f" ({v.claim.margin * scale:g})"
        cells = [v.claim.text, v.claim.a.label(), rel, v.claim.b.label(), d, ci, str(v.n), v.verdict]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


__all__ = ["RELATIONS", "Claim", "Config", "Verdict", "fmt", "judge", "rerun_command", "rerun_line", "table", "verdict"]
