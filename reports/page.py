"""docs/results/: one section per question, each from its own MLflow experiment (or from the
per-run data kept in docs/results/runs.csv), with tables, plots and claims with verdicts.
``sweep.py results`` drives it (cli/results.py)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pandas as pd

import schema
import search_spaces
import trainables
from schema import VAL_ACC

from . import claims as claimsmod
from . import estimate, facts, linkpage, plots, recipe, runs, stats, table
from .findings import CLAIMS
from .link import parse_links
from .sections import SECTIONS
from .stats import replicates
from .tta import soonest

METRIC = VAL_ACC


def collect(uri: str | None, csv: Path | None) -> pd.DataFrame:
    """Every run of the sections' experiments: runs.csv (if any) merged with what MLflow holds."""
    frames = []
    if csv is not None and csv.is_file():
        frames.append(runs.read_csv(csv))
    if uri is not None:
        for name in [s.experiment for s in SECTIONS] + list(recipe.EXPERIMENTS):
            frames.append(runs.from_mlflow(uri, name))
    return runs.merge(*frames)


def _setup(df: pd.DataFrame) -> str:
    cfg = json.loads(df.iloc[0]["config_json"])
    keep = ("model", "model_dir", "image_size", "limit_train", "limit_val", "epochs", "batch_size", "lr", "max_length")
    shown = ", ".join(f"{k}={cfg[k]}" for k in keep if cfg.get(k) not in (None, ""))
    if df.iloc[0]["task"] in trainables.task_names("cv"):  # a CV config that names no recipe ran before recipes
        shown += f", recipe={cfg.get('recipe') or 'legacy'}"
    return shown.lstrip(", ") or "the task's defaults"


def _scale(df: pd.DataFrame, brief: bool = False) -> str:
    """The scale of a sweep's runs (its first run's config; a sweep's rows share their setting but
    for the cause section's factors, which change no step count)."""
    from trainables.scale import scale

    task = df.iloc[0]["task"]
    try:
        sc = scale({**json.loads(df.iloc[0]["config_json"]), "task": task})
        return sc.brief() if brief else sc.text()
    except (ValueError, TypeError, KeyError, trainables.ConfigError):
        return "not known (the run stored no config)"


def _wall(df: pd.DataFrame) -> float:
    """Minutes the runs took, summed: a sweep runs one trial at a time, so this is its wall time
    without the gaps between sittings (a sweep resumed days later is not days long)."""
    if df.empty:
        return math.nan
    return float((df["end_time"] - df["start_time"]).clip(lower=0).sum()) / 60000


def _run_command(space: str, seeds: int, experiment: str) -> str:
    """The command that runs (or completes) one sweep of the page, as `make results` does."""
    return (
        f"python sweep.py run --space {space} --seeds {seeds} --name {experiment} --cpus-per-trial 2 "
        "--done-from docs/results/runs.csv"
    )


COLLAPSE_SEEDS = 5  # a row a collapse verdict rests on needs this many seeds (all-or-nothing per seed)


def _collapse_rows(experiment: str, task: str) -> set[tuple[str, str, str]]:
    """(fwd, bwd, placement) of the rows a `collapses` claim of this experiment and task rests on."""
    return {
        cfg.key(task)
        for c in CLAIMS
        if c.experiment == experiment and c.task == task and c.relation == "collapses"
        for cfg in (c.a, c.b)
    }


def _missing(
    task: str, space: str, seeds: int, summary: pd.DataFrame, collapse: set = frozenset(), hosted: dict | None = None
) -> tuple[list[str], dict[int, list[str]]]:
    """The space's rows not run, short of seeds, or with seeds on no recorded host (``hosted``:
    config id -> seeds on one; such runs pair with nothing), as lines for the page, and the
    config ids of the short ones by the seeds they need (for `sweep.py rerun`). Rows are found by
    config id, so rows that differ only in their training setting are told apart."""
    out: list[str] = []
    short: dict[int, list[str]] = {}
    sp = search_spaces.get(space)
    configs = sp.grid(sp.base(task), 1)
    several = len({c["placement"] for c in configs}) > 1
    base_setting = stats.setting_of(json.dumps(configs[0])) if configs else {}
    by_id = summary.set_index(schema.TAG_CONFIG_ID) if not summary.empty else summary
    for cfg in configs:
        key = claimsmod.Config(cfg["fwd"], cfg.get("bwd") or "", cfg["placement"]).key(task)
        fwd, bwd, placement = key
        need = max(seeds, COLLAPSE_SEEDS) if key in collapse else seeds
        why = " (a collapse claim rests on it)" if need > seeds else ""
        mine = stats.setting_of(json.dumps(cfg))
        changed = ", ".join(f"{k}={v}" for k, v in mine.items() if base_setting.get(k) != v)
        label = schema.config_label(fwd, bwd, placement if several else None, changed, code=True)
        cid = schema.config_id(cfg)
        if summary.empty or cid not in by_id.index:
            out.append(f"{label}: not run")
        elif int(by_id.loc[cid, "n"]) < need:
            out.append(f"{label}: N={int(by_id.loc[cid, 'n'])} of {need}{why}")
            short.setdefault(need, []).append(cid)
        elif hosted is not None and hosted.get(cid, 0) < int(by_id.loc[cid, "n"]):
            out.append(f"{label}: N={int(by_id.loc[cid, 'n'])}, {hosted.get(cid, 0)} on a recorded host")
    return out, short


def _reproducibility(df: pd.DataFrame) -> str:
    """What the runs that repeat a (config, seed) in another experiment say about pairing."""
    rep = replicates(df, METRIC)
    if rep.empty:
        return ""
    same, diff = rep[rep["identical"]], rep[~rep["identical"]]
    one = [stats.one_machine(a, b) for a, b in zip(rep["machine_a"], rep["machine_b"], strict=True)]
    one = pd.Series(one, index=rep.index, dtype=bool)
    unknown = (rep["machine_a"] == stats.UNRECORDED) | (rep["machine_b"] == stats.UNRECORDED)
    per_machine = "; ".join(
        f"{label}: {int(part['identical'].sum())} of {len(part)} identical"
        for label, part in (
            ("on one recorded host", rep[one]),
            ("on two recorded hosts", rep[~one & ~unknown]),
            ("with a host not recorded", rep[unknown]),
        )
        if len(part)
    )
    text = (
        f"\n\n**Same seed, same config, another run.** {len(rep)} (config, seed) pairs finished in two "
        f"experiments ({per_machine}; runs stored before hosts were recorded are not known to share a "
        f"machine and pair only with `--pair-across-machines`): {len(same)} were identical (train loss "
        "equal to the last digit)"
    )
    if not diff.empty:
        gap = (diff["a"] - diff["b"]).abs() * 100
        worst = diff.loc[gap.idxmax()]
        text += (
            f", {len(diff)} were not (|Δ {METRIC}| {gap.mean():.1f} pts on average, up to {gap.max():.1f}: "
            f"config `{worst['config_id']}` seed {int(worst['seed'])}, {worst['a']:.1%} in {worst['experiment_a']}, "
            f"{worst['b']:.1%} in {worst['experiment_b']})"
        )
    return text + (
        ". A run is deterministic on one machine (the same trial at two commits of this code gave the "
        "same loss to the last digit), but the CPU kernels it uses depend on the machine "
        "(`ATEN_CPU_CAPABILITY=avx2` instead of avx512 changes the first epoch's loss on this one), and "
        "a few epochs of fine-tuning amplify the rounding into differences the size of a seed's. "
        "Sweeps ran in several sittings, not all on the same machine: a pair of runs with the same "
        "seed always shares its initialisation and data order, and shares its arithmetic only when both ran "
        "on one machine. The paired CI stays valid; it is wider than it would be with exact pairs."
    )


def build(
    out: Path, df: pd.DataFrame, pair_across: bool = False, records: list[dict] | None = None
) -> tuple[str, list[claimsmod.Verdict]]:
    """The page (README.md and claims.md under ``out``, plots beside them) and every verdict;
    ``records``: link-check's (default: ``out``'s own, if any)."""
    out.mkdir(parents=True, exist_ok=True)
    verdicts_all: list[claimsmod.Verdict] = []
    body: list[str] = []
    for sec in SECTIONS:
        text, verdicts = _section(out, sec, df[df["experiment"] == sec.experiment], pair_across, df)
        body.append(text)
        verdicts_all += verdicts
    learned = [v for v in verdicts_all if v.decided]
    opening = [
        head() + _reproducibility(df) + "\n",
        "\n## What we learned\n\n",
        "\n".join(f"- {claimsmod.short(v)}" for v in learned) if learned else "Nothing decided yet.",
        "\n",
    ]
    records = linkpage.load(out) if records is None else records
    text = "".join(opening) + recipe.block(out, df) + "".join(body) + linkpage.section(df, records)
    (out / "README.md").write_text(text)
    (out / "claims.md").write_text(claimsmod.table(verdicts_all))
    return text, verdicts_all


def head() -> str:
    """The page's opening: how it is made and read; the margins and the cost model from their owners."""
    from .findings import BIG, M
    from .link import FORMULA

    return (
        "# Results\n"
        "Written by `python sweep.py results` from MLflow and `docs/results/runs.csv` (one row per "
        "finished run, every param and final metric, where it ran and its validation curve; `python "
        "sweep.py results --from docs/results/runs.csv` rebuilds this page without MLflow). Mean ± "
        "sample std over distinct seeds; Δ is the paired difference to the same placement's `none` row "
        "of the same training setting, over the seeds both have on one recorded machine (pairs not known "
        "to share a machine are left out and counted), with a Student-t 95% CI, and its own N where that "
        f"differs from the mean's. A claim *matches* within ±{M * 100:g} point, *collapses* below "
        f"-{BIG * 100:g} points. Each claim is a test (the CI rule as a p-value; the "
        "exact sign test when every difference is the same); a section's claims are one family, decided "
        "after Holm-Bonferroni: *holds* or *does not hold* when the adjusted p < 0.05, else "
        "*inconclusive at N* (with the seeds it needs and the command that adds them); *untestable* when "
        "both rows sit at the majority class on every seed (`floor` in the tables), or when a row's "
        "compressor sent less than half its forward values compressed. Every claim states the optimizer "
        "steps its runs had. Times are the cost model's, on each row's run-average bytes:\n\n"
        f"```\n{FORMULA}```\n\n`step s (own)` is the row's own measured time (the sweeps shared 2 cores "
        "with development at times)."
    )


def grid_ids(sec) -> set[tuple[str, str]]:
    """(task, config id) of every row of the section's sweeps as they are defined today."""
    out = set()
    for name, task, _ in sec.spaces:
        space = search_spaces.get(name)
        out |= {(task, schema.config_id(cfg)) for cfg in space.grid(space.base(task), 1)}
    return out


def current(sec, mine: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The section's runs of today's grid, and a line counting the runs of earlier settings left
    out (a changed recipe or setting gives every row a new config id; runs.csv keeps the old)."""
    if mine.empty:
        return mine, ""
    ids = grid_ids(sec)
    keep = [(t, c) in ids for t, c in zip(mine["task"], mine[schema.TAG_CONFIG_ID].astype(str), strict=True)]
    old = mine[[not k for k in keep]]
    old = old[old["status"] == "FINISHED"]
    if old.empty:
        return mine[keep], ""
    note = (
        f"\n{len(old)} finished runs of this experiment trained an earlier setting ({_earlier(sec, old)}) and "
        "are left out; `runs.csv` keeps them (and the archived pages `v2/`, `v3/` those of their time).\n"
    )
    return mine[keep], note


def _earlier(sec, old: pd.DataFrame) -> str:
    """The earlier runs' settings, each as the training keys where it differs from the first row
    of today's grid for its task (a key left to its default shows the default)."""
    now = {}
    for space, task, _ in sec.spaces:
        sp = search_spaces.get(space)
        now[task] = stats.setting_of(json.dumps(sp.grid(sp.base(task), 1)[0]))
    said: dict[str, None] = {}
    for task, cj in zip(old["task"], old[schema.CONFIG_PARAM].fillna(""), strict=True):
        mine, ref = stats.setting_of(cj), now.get(task, {})
        full = trainables.family(task).resolve({**mine, "task": task})
        base = trainables.family(task).resolve({**ref, "task": task})
        diff = [f"{k}={full.get(k)}" for k in sorted(set(mine) | set(ref)) if full.get(k) != base.get(k)]
        said[f"{task}: {', '.join(diff) or 'the same training, other rows'}"] = None
    return "; ".join(said)


def _section(
    out: Path, sec, mine: pd.DataFrame, pair_across: bool = False, df: pd.DataFrame | None = None
) -> tuple[str, list[claimsmod.Verdict]]:
    """One question: its tables and plots per sweep, then its claims and their verdicts (Holm
    over the section's claims), on the runs of today's grid."""
    mine, earlier = current(sec, mine)
    rep = table.build(mine, METRIC, links=parse_links(sec.links), pair_across=pair_across)
    why = facts.fill(sec.why, mine if df is None else df, out)  # ``df``: every run, for figures it cites
    parts = [f"\n## {sec.title}\n\nExperiment `{sec.experiment}`. {why}\n{earlier}"]
    mine_claims = [c for c in CLAIMS if c.experiment == sec.experiment]
    verdicts = claimsmod.verdicts(mine_claims, rep.summary, rep.runs, family=sec.experiment, pair_across=pair_across)
    for space, task, seeds in sec.spaces:
        parts.append(_sweep(out, sec.experiment, space, task, seeds, rep, sec.device))
        if sec.soonest and not rep.summary.empty:
            said = soonest(rep.summary[rep.summary["task"] == task], [lk.label for lk in parse_links(sec.links)])
            parts.append(f"\n{task}: {said}\n" if said else "")
    if verdicts:
        parts.append("\n### Claims\n\n" + claimsmod.table(verdicts) + "\n")
        parts.append("\n".join(f"- {claimsmod.fmt(v)}" for v in verdicts) + "\n")
    return "".join(parts), verdicts


def _sweep(out: Path, experiment: str, space: str, task: str, seeds: int, rep, device: str = "cpu") -> str:
    """One sweep's block: setup, cut shapes (224 px), table, plot, and the rows still missing."""
    done = rep.runs[rep.runs["task"] == task]
    summary = rep.summary[rep.summary["task"] == task]
    parts = [f"\n### {task} (space `{space}`)\n"]
    if done.empty and device != "cpu":
        from trainables.scale import scale

        sp = search_spaces.get(space)
        cfg = sp.grid(sp.base(task), 1)[0]
        trials, sc = len(sp.rows) * seeds, scale(cfg)
        parts.append(
            f"\nNot run: it needs a GPU (`make results-gpu` runs it where one is visible). Scale: "
            f"{sc.text()}. {trials} trials, {trials * sc.steps:,} optimizer steps in all: "
            f"{estimate.sweep_time(out, space, trials * sc.steps, device)}.\n"
        )
        return "".join(parts)
    if done.empty:
        parts.append(
            f"\nNot run in this sitting: `{_run_command(space, seeds, experiment)}` adds it "
            "(and `make results` resumes).\n"
        )
        return "".join(parts)
    parts.append(
        f"\nSetup: {_setup(done)}. Scale: {_scale(done)}. {len(done)} finished runs, {_wall(done):.0f} min of "
        f"wall time on this 2-core CPU (the runs' durations summed; one trial at a time with 2 threads).\n"
    )
    sub = table.for_task(rep, task)
    parts.append("\n" + table.render(sub, METRIC, "md"))
    plot = out / f"{experiment}-{task}.png"
    plots.plot(summary, METRIC, plot, title=f"{experiment} / {task}: {METRIC}, mean ± std over seeds")
    parts.append(f"\n![{experiment} {task}]({plot.name})\n")
    parts.append(_missing_line(experiment, space, task, seeds, summary, done))
    return "".join(parts)


def _missing_line(experiment: str, space: str, task: str, seeds: int, summary: pd.DataFrame, done=None) -> str:
    hosted = None
    if done is not None and not done.empty:
        on_host = done[done[schema.TAG_HOST].fillna("").astype(str) != ""]
        hosted = on_host.groupby(schema.TAG_CONFIG_ID)["seed"].nunique().to_dict()
    missing, short = _missing(task, space, seeds, summary, _collapse_rows(experiment, task), hosted)
    if not missing:
        return ""
    more = "".join(
        f", `{claimsmod.rerun_line(experiment, ids, n)} --cpus-per-trial 2` brings the short rows to their seeds"
        for n, ids in sorted(short.items())
    )
    return (
        f"\nRows missing or short of {seeds} seeds ({COLLAPSE_SEEDS} where a collapse claim rests on "
        f"them; the sessions ran out of time. `{_run_command(space, seeds, experiment)}` runs the "
        f"rows not run and again those run on no recorded host, which pair with nothing{more}): "
        + "; ".join(missing)
        + ".\n"
    )


START, END = "<!-- results:start -->", "<!-- results:end -->"


def overview(df: pd.DataFrame, verdicts: list[claimsmod.Verdict]) -> str:
    """One line a section: its scale and how its claims came out (the README's short form)."""
    lines = ["| section | scale of its runs | holds | does not hold | inconclusive | untestable | not run |"]
    lines.append("|---|---|---|---|---|---|---|")
    for sec in SECTIONS:
        mine, _ = current(sec, df[df["experiment"] == sec.experiment])
        mine = mine[mine["status"] == "FINISHED"] if not mine.empty else mine
        tasks = [task for _, task, _ in sec.spaces if not mine.empty and (mine["task"] == task).any()]
        scales = "; ".join(f"{task}: {_scale(mine[mine['task'] == task], brief=True)}" for task in tasks)
        vs = [v for v in verdicts if v.claim.experiment == sec.experiment]
        count = {k: sum(1 for v in vs if v.verdict.startswith(k)) for k in ("holds", "does not hold", "inconclusive",
                                                                             "untestable", "not run")}  # fmt: skip
        lines.append(f"| {sec.title} (`{sec.experiment}`) | {scales or 'not run'} | " + " | ".join(
            str(n) for n in count.values()) + " |")  # fmt: skip
    return "\n".join(lines) + "\n"


def readme_block(rel: Path, df: pd.DataFrame, verdicts: list[claimsmod.Verdict], plots: list[str]) -> str:
    """The README's results block: generated whole (no number in it is typed by hand)."""
    learned = "\n".join(f"- {claimsmod.short(v)}" for v in verdicts if v.decided) or "Nothing decided yet."
    img = f"\n\n![collapse]({rel}/{plots[0]})" if plots else ""
    runs_n = int((df["status"] == "FINISHED").sum()) if not df.empty else 0
    return (
        f"{START}\nGenerated by `python sweep.py results` from {runs_n} finished runs (`docs/results/runs.csv`); "
        f"every claim, its numbers and the tables: [{rel}/README.md]({rel}/README.md).\n\n"
        f"{overview(df, verdicts)}\nWhat the verdicts support, at the steps their runs had (every claim with its "
        f"numbers: [{rel}/claims.md]({rel}/claims.md)):\n\n{learned}{img}\n{END}"
    )


def update_readme(readme: Path, out: Path, verdicts: list[claimsmod.Verdict], df: pd.DataFrame | None = None) -> None:
    """Replace the README's results block with the generated one."""
    text = readme.read_text()
    if START not in text or END not in text:
        return
    rel = Path(os.path.relpath(out, readme.parent.resolve())) if out.is_absolute() else out  # ../ when outside
    plots = sorted(p.name for p in out.glob("results-collapse-*.png"))
    block = readme_block(rel, df if df is not None else pd.DataFrame(columns=list(runs.COLUMNS)), verdicts, plots)
    head, rest = text.split(START, 1)
    readme.write_text(head + block + rest.split(END, 1)[1])
