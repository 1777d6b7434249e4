"""The overlapped pipeline, measured, on the page: link-check's records
(``docs/results/link-measured.json``, written by ``link-check --schedule ... --record``) as a
results section, as the table in docs/link-check.md and as the README's summary, every number
computed here from the records and the runs (none typed by hand).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

import schema

from . import measured, table
from .link import parse_links

RECORDS = "link-measured.json"  # beside the page's runs.csv
START, END = "<!-- link-measured:start -->", "<!-- link-measured:end -->"  # the README's summary
DOC_START, DOC_END = "<!-- link-table:start -->", "<!-- link-table:end -->"  # docs/link-check.md's table
TTA_LINKS = "10mbit,100mbit"  # the links the README's time-to-target ratios are given at
NEAR = 0.10  # "within ±10% of the 1F1B estimate"


def load(out: Path) -> list[dict]:
    """The records beside the page, or none."""
    path = out / RECORDS
    return measured.load(path) if path.is_file() else []


def label(r: dict) -> str:
    """A record's method with its backward where it named one (as link-check --method takes it)."""
    return measured.method_label({"fwd": r["method"], "bwd": (r.get("config") or {}).get("bwd")})


def schedule_table(rows: list[dict]) -> str:
    """link-check's rows (or records: with the commit each was measured at)."""
    recorded = all("commit" in r for r in rows)
    head = ("| family | method | link | schedule, M | measured s | mean s | 1F1B estimate s | measured / estimate | "
            "overlapped s | serial s | unshaped s | stage s per micro-batch | bytes/step | goodput Mbit/s | steady |")
    head += " from the link's own compute: measured / estimate (bounds s) |"  # the compute of the same windows
    lines = [head + (" commit |" if recorded else ""), "|" + "---|" * (17 if recorded else 16)]
    for r in rows:
        lines.append(
            f"| {r['family']} | {label(r)} | {r['link']} | {r['schedule']}, "
            f"{r['microbatches']} | {r['measured_s']:.3f} | {_mean(r)} | {r['estimated_1f1b_s']:.3f} | "
            f"{r['measured_over_1f1b']:.2f} | {r['overlapped_s']:.3f} | {r['serial_s']:.3f} | {r['unshaped_s']:.3f} | "
            f"{' / '.join(f'{s:.4f}' for s in r['stage_s'])} | {r['bytes_per_step']:.0f} | {r['goodput_mbit']:.1f} | "
            f"{r['steady']} | {_own(r)} |" + (f" {r['commit']} |" if recorded else "")
        )
    return "\n".join(lines) + "\n"


def _mean(r: dict) -> str:
    return f"{r['mean_s']:.3f}" if "mean_s" in r else "(not kept)"


def _own(r: dict) -> str:
    if "measured_over_own" not in r:
        return "(not kept)"
    bounds = f" ({r['overlapped_own_s']:.3f}-{r['serial_own_s']:.3f})" if "serial_own_s" in r else ""
    return f"{r['measured_over_own']:.2f}{bounds}"


def verdict(records: list[dict]) -> str:
    """How many steps lie between the bounds and near the 1F1B estimate, played from each link's own
    windows' compute (where kept) and from the unshaped windows' compute, the far ones named."""
    n = len(records)
    own = [r for r in records if "within_bounds_own" in r]
    text = ""
    if own:
        text = (f"played from the compute of each link's own windows (kept for {len(own)} of {n} rows), "
                f"{_counts(own, '_own', 'own')}; from the unshaped windows' compute (what a report has), ")  # fmt: skip
    text += _counts(records, "", "1f1b")
    far = [r for r in records if abs(r["measured_over_1f1b"] - 1) > NEAR]
    if far:
        text += f" (outside ±{NEAR:.0%} there: " + ", ".join(
            f"{r['family']} {label(r)} at {r['link']} {r['measured_over_1f1b']:.2f}"
            + (f" ({r['measured_over_own']:.2f} on its own windows' compute)" if "measured_over_own" in r else "")
            for r in far) + ")"  # fmt: skip
    steady = sum(r["steady"] == "steady" for r in records)
    return text + f"; {steady} of {n} met the steady rule (three windows within 1%), the others say why not."


def _counts(rows: list[dict], suffix: str, key: str) -> str:
    inside = sum(bool(r[f"within_bounds{suffix}"]) for r in rows)
    near = sum(abs(r[f"measured_over_{key}"] - 1) <= NEAR for r in rows)
    return (f"{inside} of {len(rows)} mean steps lie between the pipeline's overlapped and serial bounds and "
            f"{near} of {len(rows)} are within ±{NEAR:.0%} of the 1F1B estimate")  # fmt: skip


def provenance(records: list[dict]) -> str:
    """Where and when the records were taken."""
    def join(key: str) -> str:
        return ", ".join(sorted({str(r.get(key, "")) for r in records}))

    how = sorted({f"{r['schedule']}, M={r['microbatches']}, "
                  f"{r['config'].get('placement') or 'the task default cuts'}" for r in records})  # fmt: skip
    return (f"{join('date')}, commit {join('commit')}, host {join(schema.TAG_HOST)}; {'; '.join(how)}; "
            "each stage a process with one thread in its own network namespace, consecutive ones joined by a "
            "tc-shaped veth pair")  # fmt: skip


def tta_rows(df: pd.DataFrame, records: list[dict], links: str = TTA_LINKS) -> list[dict]:
    """Every experiment's soonest compressed row over its ``none`` at measured steps, per link,
    beside the estimate's ratio (``measured.tta_ratios``)."""
    out = []
    lk = parse_links(links)
    done = df[df["status"] == "FINISHED"] if not df.empty else df
    for exp in sorted(set(done["experiment"])) if not done.empty else []:
        rep = table.build(done[done["experiment"] == exp], schema.VAL_ACC, links=lk, measured=records)
        out += [{"experiment": exp, **r} for r in measured.tta_ratios(rep.summary, lk)]
    return out


def tta_table(rows: list[dict]) -> str:
    lines = ["| experiment | task | setting | link | soonest compressed row (measured) | its steps to target | "
             "none's | measured time-to-target ratio | estimated (serial) ratio |", "|" + "---|" * 9]  # fmt: skip
    for r in rows:
        lines.append(f"| {r['experiment']} | {r['task']} | {r['setting'] or '(base)'} | {r['link']} | `{r['best']}` | "
                     f"{r['steps_to_target']:.0f} | {r['baseline_steps']:.0f} | {r['measured_ratio']:.2f} | "
                     f"{r['estimated_ratio']:.2f} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def section(df: pd.DataFrame, records: list[dict]) -> str:
    """The page's section: the records' table, the verdict, the measured time-to-target ratios."""
    if not records:
        return ""
    rows = tta_rows(df, records)
    ratios = tta_table(rows) if rows else "No sweep row shares a record's task, method, backward and setting.\n"
    return (
        "\n## The overlapped pipeline, measured\n\n"
        f"`sweep.py link-check --schedule 1f1b --netns S --record` ({provenance(records)}). The 1F1B estimate "
        "plays the schedule out from the stages' measured forward, backward and optimizer seconds and each "
        "cut's bytes (docs/link-check.md); the bounds are the same pipeline with nothing and with everything "
        f"overlapped.\n\n{schedule_table(records)}\n{verdict(records)}\n\n"
        "Time to target at the measured steady step (the row's steps to target x its record's step), the "
        "soonest compressed row over `none` of the same experiment, task and setting, beside the serial "
        f"estimate's ratio for the same two rows:\n\n{ratios}"
    )


def readme_block(df: pd.DataFrame, records: list[dict]) -> str:
    """The README's short form: the verdict and the time-to-target ratios per task and link."""
    if not records:
        return f"{START}\nNo link-check records yet (`docs/results/{RECORDS}`).\n{END}"
    rows = tta_rows(df, records)
    best: dict = {}
    for r in rows:  # per task and link: the soonest measured ratio over every experiment
        key = (r["task"], r["link"])
        if key not in best or r["measured_ratio"] < best[key]["measured_ratio"]:
            best[key] = r
    lines = [f"- {r['task']} at {r['link']}: `{r['best']}` ({r['experiment']}) reaches `none`'s target in "
             f"{r['measured_ratio']:.2f}x `none`'s time at measured steps; the serial estimate says "
             f"{r['estimated_ratio']:.2f}x." for r in best.values() if not math.isnan(r["measured_ratio"])]  # fmt: skip
    missing = sorted({t for t in ("fashion_mnist", "rotten_tomatoes") if all(k[0] != t for k in best)})
    if missing:
        lines.append(f"- No measured step pairs with a finished row of {', '.join(missing)}.")
    return (f"{START}\nGenerated by `python sweep.py results` from `docs/results/{RECORDS}` ({provenance(records)}):\n"
            f"- {verdict(records)}\n" + "\n".join(lines) + f"\n{END}")  # fmt: skip


def doc_block(records: list[dict]) -> str:
    """docs/link-check.md's table: where the records were taken, every row, the verdict."""
    if not records:
        return f"{DOC_START}\nNo records yet.\n{DOC_END}"
    return (f"{DOC_START}\nGenerated by `python sweep.py results` from `docs/results/{RECORDS}` "
            f"({provenance(records)}):\n\n{schedule_table(records)}\n{verdict(records)}\n{DOC_END}")


def update(readme: Path, df: pd.DataFrame, records: list[dict]) -> None:
    """The README's summary and docs/link-check.md's table (beside the README), regenerated."""
    replace_block(readme, readme_block(df, records))
    doc = readme.parent / "docs" / "link-check.md"
    if doc.is_file():
        replace_block(doc, doc_block(records), DOC_START, DOC_END)


def replace_block(path: Path, block: str, start: str = START, end: str = END) -> None:
    """Put the generated block between the file's markers (a file without them is left alone)."""
    text = path.read_text()
    if start in text and end in text:
        head, rest = text.split(start, 1)
        path.write_text(head + block + rest.split(end, 1)[1])
