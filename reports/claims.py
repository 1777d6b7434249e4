"""Claims as data, each with a verdict from paired differences over seeds.

A claim compares config A with config B (same experiment, task and placement) on a metric:

- ``matches``: |A - B| <= margin. Holds when the 95% CI of the paired difference lies inside
  [-margin, +margin]; does not hold when it lies wholly outside; otherwise inconclusive.
- ``loses``: A < B. Holds when the CI lies below 0; does not hold when it lies at or above 0.
- ``beats``: A > B. Holds when the CI lies above 0; does not hold when it lies at or below 0.
- ``collapses``: A < B - margin (a loss larger than the margin, e.g. 5 points). Holds when
  the CI lies below -margin; does not hold when it lies above -margin.
- ``keeps``: A > B - margin (A keeps within the margin of B: no collapse). Holds when the CI
  lies above -margin; does not hold when it lies below.

Each outcome is a test: "the CI lies above c" is the one-sided t-test of mean > c at 2.5%,
its p-value doubled (``p_above``/``p_below``), so that a raw p < 0.05 is exactly the CI rule; a
claim's p is the smaller of its two outcomes' (``matches`` holds by two one-sided tests, TOST).
When every paired difference is the same (zero variance) the t-test degenerates; the exact
sign test takes over: all N differences on one side of c give p = 2^-(N-1).

Verdicts are decided after Holm-Bonferroni over a family (the claims of one section of the
page): a claim is decided when its Holm-adjusted p < 0.05; raw and adjusted p are shown. Rows
at the majority class (val_acc <= the validation majority rate + 0.5 point on every seed)
are floors, not findings: a claim whose two rows are both there is "untestable: both at the
majority class". A claim on a row whose compressor sent less than half its forward training
values compressed (AQ-SGD in its first epoch sends every example exactly) is "untestable:
compressor inactive". Below two paired seeds there is no test: inconclusive. An inconclusive
verdict states the seeds it needs: the smallest N at which, were the paired differences' mean
and spread what they are now, the test would decide even at Bonferroni's level (p x the
family's size < 0.05, which Holm never asks more than); with the ``sweep.py rerun
--config-id`` command that brings exactly its configs there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import stats as sps

import compression
import schema

from .stats import AT_FLOOR, difference, same_cut

RELATIONS = ("matches", "loses", "beats", "collapses", "keeps")
ALPHA = 0.05
UNTESTABLE = "untestable: both at the majority class"
INACTIVE = "untestable: compressor inactive"
ACTIVE = 0.5  # a row that sent less than this fraction of its forward values compressed carries no claim


@dataclass(frozen=True)
class Config:
    fwd: str
    bwd: str = ""  # "" = the default backward of the forward spec
    placement: str | None = None  # None: the task's default cut
    setting: tuple[tuple[str, object], ...] = ()  # training keys the run's resolved config must have
    tag: str = ""  # how a label names the setting (e.g. the one factor changed)

    def label(self) -> str:
        return schema.config_label(self.fwd, self.bwd, setting=self.tag, code=True)

    def trained(self, config_json: str, task: str) -> bool:
        """The run's config, resolved with its family's defaults, has this config's setting."""
        if not self.setting:
            return True
        import json

        import trainables

        try:
            cfg = trainables.family(task).resolve({**json.loads(config_json or "{}"), "task": task})
        except (ValueError, TypeError, trainables.ConfigError):
            return False
        return all(cfg.get(k) == v for k, v in self.setting)

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
    outcome: str | None = None  # what the test points to before correction: holds / does not hold
    p_raw: float = math.nan
    p_adj: float = math.nan  # Holm-adjusted within the family
    family: str = ""
    needs: int | None = None  # seeds that would decide it at the observed mean and spread (inconclusive only)
    steps: int | None = None  # the optimizer steps A's runs trained (the scale the verdict holds at)

    @property
    def decided(self) -> bool:
        return self.verdict in ("holds", "does not hold")


def _canon(spec: str) -> str:
    return schema.canonical_spec(spec) if spec else ""


def find(summary: pd.DataFrame, experiment: str, task: str, c: Config) -> pd.Series | None:
    fwd, bwd, placement = c.key(task)
    hit = summary[
        same_cut(summary, experiment, task, placement)
        & (summary["fwd"] == fwd)
        & (summary["bwd"].fillna("").map(_canon) == bwd)
    ]
    if c.setting and not hit.empty:
        hit = hit[[c.trained(j, task) for j in hit[schema.CONFIG_PARAM]]]
    return None if hit.empty else hit.iloc[0]


@lru_cache(maxsize=256)
def _steps(config_json: str, task: str) -> int | None:
    import json

    import trainables
    from trainables.scale import scale

    try:
        return scale({**json.loads(config_json or "{}"), "task": task}).steps
    except (ValueError, TypeError, KeyError, trainables.ConfigError):
        return None


def steps_of(config_json, task: str) -> int | None:
    """The optimizer steps a run of this config trained (None when its config is not known)."""
    return _steps(config_json, task) if isinstance(config_json, str) and config_json else None


def compressed_fraction(row: pd.Series, task: str) -> float:
    """The fraction of a row's forward training values that crossed compressed: as its runs
    logged it, or (runs before the metric) what its compressor sends in its config's epochs."""
    logged = row.get(schema.COMPRESSED_FWD_RUN, math.nan)
    if logged is not None and math.isfinite(float(logged)):
        return float(logged)
    import json

    import trainables

    try:
        cfg = trainables.family(task).resolve({**json.loads(row.get(schema.CONFIG_PARAM) or "{}"), "task": task})
        return 1.0 - compression.build(row["fwd"]).exact_fraction(int(cfg["epochs"]))
    except (ValueError, TypeError, KeyError, trainables.ConfigError):
        return math.nan


def inactive(row: pd.Series, task: str) -> bool:
    """A compressing row (not `none`) that sent less than ACTIVE of its forward compressed."""
    if compression.parse_spec(row["fwd"]).method == "none":
        return False
    frac = compressed_fraction(row, task)
    return math.isfinite(frac) and frac < ACTIVE


def p_above(diffs: np.ndarray, c: float) -> float:
    """Two-sided-equivalent p of "mean > c" (the 95% CI lies above c iff p < 0.05); the exact
    sign test when the differences have no spread."""
    n = len(diffs)
    if n < 2:
        return 1.0
    sem = float(sps.sem(diffs))
    if sem == 0.0 or not math.isfinite(sem):
        return min(1.0, 2.0 ** -(n - 1)) if bool(np.all(diffs > c)) else 1.0
    t = (float(np.mean(diffs)) - c) / sem
    return min(1.0, 2 * float(sps.t.sf(t, n - 1)))


def p_below(diffs: np.ndarray, c: float) -> float:
    return p_above(-diffs, -c)


def test(relation: str, diffs, margin: float) -> tuple[str, float]:
    """(the outcome the data points to, its p): the smaller p of holds and does not hold."""
    d = np.asarray(diffs, dtype=float)
    p = {
        "matches": (max(p_above(d, -margin), p_below(d, margin)), min(p_below(d, -margin), p_above(d, margin))),
        "loses": (p_below(d, 0.0), p_above(d, 0.0)),
        "beats": (p_above(d, 0.0), p_below(d, 0.0)),
        "collapses": (p_below(d, -margin), p_above(d, -margin)),
        "keeps": (p_above(d, -margin), p_below(d, -margin)),
    }
    if relation not in p:
        raise ValueError(f"relation {relation!r}: one of {', '.join(RELATIONS)}")
    hold, not_hold = p[relation]
    return ("holds", hold) if hold <= not_hold else ("does not hold", not_hold)


def holm(pvalues: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (NaN stays NaN and is not counted in the family)."""
    idx = [i for i, p in enumerate(pvalues) if not math.isnan(p)]
    order = sorted(idx, key=lambda i: pvalues[i])
    out, running = [math.nan] * len(pvalues), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * pvalues[i]))
        out[i] = running
    return out


MAX_SEEDS = 100  # beyond this an inconclusive claim's Δ sits on its margin: seeds will not settle it


def seeds_needed(relation: str, diffs, margin: float, family_size: int) -> int | None:
    """The smallest N (<= MAX_SEEDS) at which differences with today's mean and sample std
    would be decided with p x family_size < ALPHA; None when no N up to MAX_SEEDS does."""
    d = np.asarray(diffs, dtype=float)
    mean, sd = float(np.mean(d)), float(np.std(d, ddof=1)) if len(d) > 1 else 0.0
    for n in range(max(2, len(d)), MAX_SEEDS + 1):
        z = np.arange(n) - (n - 1) / 2
        z = z / np.std(z, ddof=1)  # mean 0, sample std 1: the sample is mean + sd * z exactly
        if test(relation, mean + sd * z, margin)[1] * family_size < ALPHA:
            return n
    return None


def verdict(claim: Claim, summary: pd.DataFrame, runs: pd.DataFrame, pair_across: bool = False) -> Verdict:
    """The claim's test before correction (verdicts() decides after Holm)."""
    ra = find(summary, claim.experiment, claim.task, claim.a)
    rb = find(summary, claim.experiment, claim.task, claim.b)
    if ra is None or rb is None:
        missing = " and ".join(c.label() for c, r in ((claim.a, ra), (claim.b, rb)) if r is None)
        return Verdict(claim, "not run", math.nan, math.nan, math.nan, 0, None, f"no finished runs of {missing}")
    ids = (ra[schema.TAG_CONFIG_ID], rb[schema.TAG_CONFIG_ID])
    steps = steps_of(ra.get(schema.CONFIG_PARAM), claim.task)
    d = difference(runs, claim.metric, (claim.experiment, ids[0]), (claim.experiment, ids[1]), pair_across)
    v = Verdict(claim, f"inconclusive at N={d['n']}", d["mean"], d["low"], d["high"], d["n"], ids,
                per_seed=tuple(d["diffs"]), note=d.get("note", ""), steps=steps)  # fmt: skip
    if bool(ra.get(AT_FLOOR)) and bool(rb.get(AT_FLOOR)):
        v.verdict = UNTESTABLE
        return v
    idle = [(c, r) for c, r in ((claim.a, ra), (claim.b, rb)) if inactive(r, claim.task)]
    if idle:
        v.verdict = INACTIVE
        v.note = "; ".join(
            f"{c.label()} sent {compressed_fraction(r, claim.task):.0%} of its forward values compressed "
            f"(the rest exactly), under the {ACTIVE:.0%} a claim needs" for c, r in idle
        )
        return v
    if d["n"] >= 2:
        v.outcome, v.p_raw = test(claim.relation, d["diffs"], claim.margin)
    return v


def verdicts(claims: list[Claim], summary: pd.DataFrame, runs: pd.DataFrame, family: str, **kw) -> list[Verdict]:
    """Every claim of one family, decided after Holm-Bonferroni over the family's tests."""
    out = [verdict(c, summary, runs, **kw) for c in claims]
    size = sum(not math.isnan(v.p_raw) for v in out)
    for v, p in zip(out, holm([v.p_raw for v in out]), strict=True):
        v.family, v.p_adj = family, p
        if v.outcome is not None and p < ALPHA:
            v.verdict = v.outcome
        elif v.outcome is not None:
            v.needs = seeds_needed(v.claim.relation, v.per_seed, v.claim.margin, size)
    return out


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
    rel = {"matches": f"matches (within ±{margin})", "collapses": f"collapses against (loses more than {margin})",
           "keeps": f"keeps within {margin} of"}  # fmt: skip
    head = f"{v.claim.a.label()} {rel.get(v.claim.relation, v.claim.relation)} {v.claim.b.label()}"
    if v.n == 0:
        return f"**{v.claim.text}** — *{v.verdict}*. {head}: {v.note or 'no seed pairs'}."
    ci = "no CI below 2 seeds" if math.isnan(v.low) else f"95% CI [{v.low * scale:+.1f}, {v.high * scale:+.1f}]"
    on = "" if v.claim.metric in (schema.VAL_ACC, schema.VAL_MCC) else f" on {v.claim.metric}"
    text = (
        f"**{v.claim.text}** — *{v.verdict}*. {head}: paired Δ{on} = {v.mean * scale:+.1f}{unit}, {ci}, "
        f"N = {v.n} seeds{_at(v)} ({v.claim.experiment}, {v.claim.task}){_p_text(v)}."
    )
    if v.per_seed:  # a collapse is often all-or-nothing per seed, which the mean alone hides
        text += " Per seed: " + ", ".join(f"{x * scale:+.1f}" for x in v.per_seed) + "."
    if v.note:
        text += f" {v.note[0].upper()}{v.note[1:]}."
    if v.decided or v.verdict in (UNTESTABLE, INACTIVE):
        return text
    if v.needs is not None:
        text += (
            f" At this mean and spread it needs N = {v.needs} seeds to be decided after correction: "
            f"`{rerun_command(v, v.needs)}`"
        )
    elif v.outcome is not None:
        text += f" No N up to {MAX_SEEDS} seeds decides it at this mean and spread: Δ sits on the margin."
    else:
        text += f" More seeds: `{rerun_command(v, max(v.n + 3, 5))}`"
    return text


def _at(v: Verdict) -> str:
    return f" at {v.steps} steps" if v.steps else ""


def short(v: Verdict) -> str:
    """One sentence: the claim, its verdict at the steps its runs had, Δ with its CI and N, and the
    study's own scale beside it (what a 'what we learned' list says)."""
    from search_spaces.study import study_scale
    from trainables import task

    scale, unit = (100, " pts") if _is_accuracy(v.claim) else (1, "")
    ci = "" if math.isnan(v.low) else f" [{v.low * scale:+.1f}, {v.high * scale:+.1f}]"
    delta = "" if math.isnan(v.mean) else f": Δ {v.mean * scale:+.1f}{unit}{ci}, N = {v.n}"
    try:
        study = f"; {study_scale(task(v.claim.task).family)}"
    except Exception:  # noqa: BLE001 - a task this checkout does not know: no study scale to give
        study = ""
    return f"{v.claim.text} — *{v.verdict}*{_at(v)}{delta}{study}."


def _p_text(v: Verdict) -> str:
    if math.isnan(v.p_raw):
        return ""
    where = f" over the {v.family} family" if v.family else ""
    return f"; p = {v.p_raw:.3g} for *{v.outcome}*, {v.p_adj:.3g} after Holm{where}"


def table(verdicts: list[Verdict]) -> str:
    lines = ["| claim | A | relation | B | Δ (A - B) | 95% CI | N | steps | p raw | p Holm | verdict |"]
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for v in verdicts:
        scale = 100 if _is_accuracy(v.claim) else 1
        ci = "" if math.isnan(v.low) else f"[{v.low * scale:+.1f}, {v.high * scale:+.1f}]"
        d = "" if math.isnan(v.mean) else f"{v.mean * scale:+.1f}"
        rel = v.claim.relation
        if rel in ("matches", "collapses", "keeps"):
            rel += f" ({v.claim.margin * scale:g})"
        p = ("", "") if math.isnan(v.p_raw) else (f"{v.p_raw:.3g}", f"{v.p_adj:.3g}")
        verdict = v.verdict
        if v.outcome is not None and not v.decided:
            verdict += f" (needs {v.needs})" if v.needs else f" (no N ≤ {MAX_SEEDS})"
        steps = str(v.steps) if v.steps else ""
        cells = [v.claim.text, v.claim.a.label(), rel, v.claim.b.label(), d, ci, str(v.n), steps, *p, verdict]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


__all__ = [
    "INACTIVE",
    "RELATIONS",
    "UNTESTABLE",
    "Claim",
    "Config",
    "Verdict",
    "fmt",
    "holm",
    "rerun_command",
    "rerun_line",
    "seeds_needed",
    "short",
    "steps_of",
    "table",
    "test",
    "verdict",
    "verdicts",
]
