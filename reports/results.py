"""docs/results/: one section per question, each from its own MLflow experiment (or from the
per-run data kept in docs/results/runs.csv), with tables, plots and claims with verdicts.

    python -m reports.results --out docs/results            # MLflow + runs.csv -> page, runs.csv
    python -m reports.results --from docs/results/runs.csv  # the page again, without MLflow
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

import search_spaces
from schema import default_tracking_uri

from . import claims as claimsmod
from . import runs, table
from .findings import CLAIMS
from .link import parse_links
from .stats import replicates

LINKS = parse_links("100mbit,1gbit")
METRIC = "val_acc"


@dataclass(frozen=True)
class Section:
    experiment: str
    title: str
    why: str
    spaces: tuple[tuple[str, str, int], ...]  # (space, task, seeds): one sweep each, in make order


SECTIONS = [
    Section(
        "results-collapse",
        "Why min-max uniform quantization collapses training",
        "The study saw uniform quantization collapse at bit widths where its error is small. We "
        "compress the forward only, the backward only, or both, then both with unbiased "
        "(stochastic) rounding, with a symmetric grid that has zero as a code (`range=absmax`), "
        "and with a clipped range (`clip=99.9`, still min-max). Two explanations predict different "
        "rows. If the damage is the rounding bias of the gradients, unbiased stochastic rounding "
        "removes it. If it is that a min-max grid has no code for zero, so the many exact-zero "
        "gradients (inactive units, padding) all come back as a non-zero value of the order of the "
        "step, then stochastic rounding does not help (it only makes that value random) and only a "
        "grid with zero as a code (absmax) does. Either way the backward alone should collapse and "
        "the forward alone should not. On NLP the two rows the collapse claim rests on (`none` and "
        "`uniform:b=4`) have 5 seeds (`python sweep.py rerun --name results-collapse --config-id "
        "c3e7e4c64850,2198ea32549d --seeds 5`), the others 3.",
        (("collapse", "fashion_mnist", 5), ("collapse-nlp", "rotten_tomatoes", 3)),
    ),
    Section(
        "results-cv224",
        "The study's CV claim at the study's cut sizes",
        "At 32 px our first cut is [B,32,16,16]; the study's was [B,32,112,112], 49 times more "
        "values per tensor and so a wider min-max range. EfficientNet-Lite0 at 224 px has the "
        "study's cut shapes. We test its uniform rows (16/10/9/8 bits) there, with the two fixes, "
        "on 640/320 images. The issue's other rows (4 bits, sort quantization 6+2 and 2+2, k-means) "
        "on 1000/500 images are the `cv224` space; at about 2.5 min a trial on this CPU they did not "
        "fit a sitting beside the other sweeps (`python sweep.py run --space cv224 --seeds 3 --name "
        "results-cv224-full` runs them).",
        (("cv224-uniform", "fashion_mnist", 3),),
    ),
    Section(
        "results-beyond",
        "Beyond the study: AQ-SGD delta compression and quantizers with an exact zero",
        "At 3 forward bits with an unbiased 8-bit backward (`uniform:b=8,round=stochastic`), the "
        "study's methods beside absmax, clipping, stochastic rounding and AQ-SGD (Wang et al., "
        "NeurIPS 2022), which sends each example's quantized change since the last epoch; plus "
        "AQ-SGD's own 3/6 and 2/4 forward/backward bits. The link columns turn bytes into the "
        "time of a batch at 100 Mbit/s and 1 Gbit/s. Read the delta rows with one caveat: "
        "validation runs through the same boundaries (split inference), and AQ-SGD keeps no "
        "per-example state for validation examples, so it sends them with its direct quantizer of "
        "the same bits (`uniform:b=B,range=absmax` for `delta:b=B`). A delta row's accuracy is therefore that of "
        "the trained model seen through direct 3-bit absmax at evaluation; compare it with the "
        "`uniform:b=3,range=absmax` row, not with `none`. The runs below predate `val_acc_clean` "
        "(the trained model evaluated with every boundary off); the next section reruns the "
        "delta rows with it.",
        (("beyond-cv", "fashion_mnist", 3), ("beyond-nlp", "rotten_tomatoes", 3)),
    ),
    Section(
        "results-aqsgd",
        "AQ-SGD judged by the model it trains",
        "The section above evaluates every row through its boundaries, which sends AQ-SGD's "
        "validation examples through its direct quantizer. Here its delta rows, the direct 3-bit "
        "quantizers beside them and the baseline run again, and each run's last epoch is also "
        "evaluated with every boundary off (`val_acc_clean`, the column *eval uncompressed*): "
        "the quality of the model that training produced, which is what AQ-SGD claims to keep. "
        "The claims below compare `val_acc_clean`; for `none` it equals `val_acc`.",
        (("aqsgd-cv", "fashion_mnist", 3), ("aqsgd-nlp", "rotten_tomatoes", 3)),
    ),
    Section(
        "results-cv",
        "The study's CV tables at 32 px",
        "The study's MobileNetV2 / CIFAR-10 rows on the embedded CV default at 32 px.",
        (("seed-cv", "fashion_mnist", 3),),
    ),
    Section(
        "results-nlp",
        "The study's NLP tables",
        "The study's RoBERTa-base / GLUE rows on MiniLM and Rotten Tomatoes.",
        (("seed-nlp", "rotten_tomatoes", 3),),
    ),
]


def collect(uri: str | None, csv: Path | None) -> pd.DataFrame:
    """Every run of the sections' experiments: runs.csv (if any) merged with what MLflow holds."""
    frames = []
    if csv is not None and csv.is_file():
        frames.append(runs.read_csv(csv))
    if uri is not None:
        for s in SECTIONS:
            frames.append(runs.from_mlflow(uri, s.experiment))
    return runs.merge(*frames)


def _setup(df: pd.DataFrame) -> str:
    cfg = json.loads(df.iloc[0]["config_json"])
    keep = ("model", "model_dir", "image_size", "limit_train", "limit_val", "epochs", "batch_size", "lr", "max_length")
    shown = ", ".join(f"{k}={cfg[k]}" for k in keep if cfg.get(k) not in (None, ""))
    return shown or "the task's defaults"


def _wall(df: pd.DataFrame) -> float:
    """Minutes the runs took, summed: a sweep runs one trial at a time, so this is its wall time
    without the gaps between sittings (a sweep resumed days later is not days long)."""
    if df.empty:
        return math.nan
    return float((df["end_time"] - df["start_time"]).clip(lower=0).sum()) / 60000


def plan() -> list[tuple[str, str, int]]:
    """The sweeps behind the page, in the order `make results` runs them: (experiment, space, seeds)."""
    return [(s.experiment, space, seeds) for s in SECTIONS for space, _, seeds in s.spaces]


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
    task: str, space: str, seeds: int, summary: pd.DataFrame, collapse: set = frozenset()
) -> tuple[list[str], dict[int, list[str]]]:
    """The space's rows not run or short of seeds (lines for the page), and the config ids of the
    short ones by the seeds they need (for `sweep.py rerun`)."""
    out: list[str] = []
    short: dict[int, list[str]] = {}
    keys = [
        claimsmod.Config(r["fwd"], r.get("bwd", ""), r.get("placement")).key(task)
        for r in search_spaces.get(space).rows
    ]
    several = len({placement for _, _, placement in keys}) > 1
    for fwd, bwd, placement in keys:
        need = max(seeds, COLLAPSE_SEEDS) if (fwd, bwd, placement) in collapse else seeds
        why = " (a collapse claim rests on it)" if need > seeds else ""
        label = f"`{fwd}`" + (f" / bwd `{bwd}`" if bwd else "") + (f" @ {placement}" if several else "")
        hit = summary[(summary["fwd"] == fwd) & (summary["bwd"] == bwd) & (summary["placement"] == placement)]
        if hit.empty:
            out.append(f"{label}: not run")
        elif int(hit.iloc[0]["n"]) < need:
            out.append(f"{label}: N={int(hit.iloc[0]['n'])} of {need}{why}")
            short.setdefault(need, []).append(str(hit.iloc[0]["config_id"]))
    return out, short


def _reproducibility(df: pd.DataFrame) -> str:
    """What the runs that repeat a (config, seed) in another experiment say about pairing."""
    rep = replicates(df, METRIC)
    if rep.empty:
        return ""
    same, diff = rep[rep["identical"]], rep[~rep["identical"]]
    text = (
        f"\n\n**Same seed, same config, another run.** {len(rep)} (config, seed) pairs finished in two "
        f"experiments: {len(same)} were identical (train loss equal to the last digit)"
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


def build(out: Path, df: pd.DataFrame) -> tuple[str, list[claimsmod.Verdict]]:
    out.mkdir(parents=True, exist_ok=True)
    verdicts_all: list[claimsmod.Verdict] = []
    body: list[str] = []
    for sec in SECTIONS:
        mine = df[df["experiment"] == sec.experiment]
        rep = table.build(mine, METRIC, links=LINKS)
        body.append(f"\n## {sec.title}\n\nExperiment `{sec.experiment}`. {sec.why}\n")
        sec_claims = [c for c in CLAIMS if c.experiment == sec.experiment]
        verdicts = [claimsmod.verdict(c, rep.summary, rep.runs) for c in sec_claims]
        verdicts_all += verdicts
        for space, task, seeds in sec.spaces:
            done = rep.runs[rep.runs["task"] == task]
            summary = rep.summary[rep.summary["task"] == task]
            body.append(f"\n### {task} (space `{space}`)\n")
            if done.empty:
                body.append(
                    f"\nNot run in this sitting: `{_run_command(space, seeds, sec.experiment)}` adds it "
                    "(and `make results` resumes).\n"
                )
                continue
            body.append(
                f"\nSetup: {_setup(done)}. {len(done)} finished runs, {_wall(done):.0f} min of wall time on this "
                f"2-core CPU (the runs' durations summed; one trial at a time with 2 threads).\n"
            )
            if space.startswith("cv224"):
                from trainables.check import cut_shapes

                cfg = json.loads(done.iloc[0]["config_json"])
                shapes = "; ".join(f"{n}: {s}" for n, s in cut_shapes(cfg))
                body.append(f"\nCut shapes per batch (measured on the model): {shapes}.\n")
            sub = table.Report(summary, rep.failed[rep.failed["task"] == task], done, rep.notes)
            body.append("\n" + table.render(sub, METRIC, "md"))
            plot = out / f"{sec.experiment}-{task}.png"
            table.plot(summary, METRIC, plot, title=f"{sec.experiment} / {task}: {METRIC}, mean ± std over seeds")
            body.append(f"\n![{sec.experiment} {task}]({plot.name})\n")
            missing, short = _missing(task, space, seeds, summary, _collapse_rows(sec.experiment, task))
            if missing:
                more = "".join(
                    f", `{claimsmod.rerun_line(sec.experiment, ids, n)} --cpus-per-trial 2` brings the short rows "
                    "to their seeds"
                    for n, ids in sorted(short.items())
                )
                body.append(
                    f"\nRows missing or short of {seeds} seeds ({COLLAPSE_SEEDS} where a collapse claim rests on "
                    f"them; the sessions ran out of time. `{_run_command(space, seeds, sec.experiment)}` runs the "
                    f"rows not run{more}): " + "; ".join(missing) + ".\n"
                )
        if verdicts:
            body.append("\n### Claims\n\n" + claimsmod.table(verdicts) + "\n")
            body.append("\n".join(f"- {claimsmod.fmt(v)}" for v in verdicts) + "\n")
    learned = [v for v in verdicts_all if v.decided]
    head = [
        "# Results\n",
        "Written by `python -m reports.results` from MLflow and `docs/results/runs.csv` (one row per "
        "finished run, every param and final metric; `python -m reports.results --from "
        "docs/results/runs.csv` rebuilds this page without MLflow). Mean ± sample std over distinct "
        "seeds; Δ is the paired difference to the same placement's `none` row over the seeds both "
        "have, with a Student-t 95% CI. A claim *matches* within ±1 point, *collapses* below -5 "
        "points; verdicts are *holds*, *does not hold*, or *inconclusive at N* (with the command "
        "that adds seeds). Step times are CPU seconds per batch on 2 cores, measured after the "
        "Boundary layout fix; `batch s @link` adds the bytes at that bandwidth (no overlap) and "
        "speed-up is against sending fp32 (`none`). The sweeps of this page ran one trial at a time "
        "while development (tests, benchmarks) shared the 2 cores for part of the time, so some rows' "
        "step times are inflated: compare times between rows with care, and take what compression "
        "costs a step from `python sweep.py bench --step`, which interleaves methods in one process."
        + _reproducibility(df)
        + "\n",
        "\n## What we learned\n\n",
        "\n".join(f"- {claimsmod.fmt(v)}" for v in learned) if learned else "Nothing decided yet.",
        "\n",
    ]
    text = "".join(head) + "".join(body)
    (out / "README.md").write_text(text)
    (out / "claims.md").write_text(claimsmod.table(verdicts_all))
    return text, verdicts_all


START, END = "<!-- results:start -->", "<!-- results:end -->"


def update_readme(readme: Path, out: Path, verdicts: list[claimsmod.Verdict]) -> None:
    """Replace the README's results block with the claims table and what we learned."""
    text = readme.read_text()
    if START not in text or END not in text:
        return
    rel = out.relative_to(readme.parent.resolve()) if out.is_absolute() else out
    learned = "\n".join(f"- {claimsmod.fmt(v)}" for v in verdicts if v.decided) or "Nothing decided yet."
    plots = sorted(p.name for p in out.glob("results-collapse-*.png"))
    img = f"\n\n![collapse]({rel}/{plots[0]})" if plots else ""
    block = (
        f"{START}\nWhat the data says (every claim, its numbers and the tables: [{rel}/README.md]"
        f"({rel}/README.md)):\n\n{learned}\n\n{claimsmod.table(verdicts)}{img}\n{END}"
    )
    head, rest = text.split(START, 1)
    readme.write_text(head + block + rest.split(END, 1)[1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--out", default="docs/results")
    p.add_argument("--from", dest="src", help="build from this runs.csv only (no MLflow)")
    p.add_argument("--tracking-uri", default=None)
    p.add_argument("--readme", default="README.md", help="README whose results block is replaced")
    p.add_argument("--plan", action="store_true", help="print the sweeps (experiment space seeds), one a line")
    a = p.parse_args(argv)
    if a.plan:
        print("\n".join(" ".join(map(str, sweep)) for sweep in plan()))
        return 0
    out = Path(a.out)
    if a.src:
        src = Path(a.src)
        if not src.is_file():
            print(f"reports.results: error: --from {a.src!r}: no such file")
            return 2
        df = runs.read_csv(src)
    else:
        df = collect(a.tracking_uri or default_tracking_uri(), out / "runs.csv")
        finished = df[df["status"] == "FINISHED"]
        runs.write_csv(finished, out / "runs.csv")
    _, verdicts = build(out, df)
    if a.readme and Path(a.readme).is_file():
        update_readme(Path(a.readme), out.resolve(), verdicts)
    print(f"wrote {out}/README.md ({len(df)} runs, {sum(v.decided for v in verdicts)} claims decided)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
