"""sweep.py link-check: the link model against a real shaped link.

For each method, the CV and NLP defaults run as a real pipeline (``benchmarks.pipeline``: one
process per stage over TCP). The stages sit either on the loopback of a network namespace this
command creates (``unshare --net``) or, with ``--netns``, in a namespace each, consecutive ones
joined by a veth pair (``benchmarks.netshape``); Linux traffic control shapes every link (tbf at
the rate, netem at the one-way delay where the kernel has it, else the senders add the delay).

Two ways to time it:

- serial (default; one batch at a time, nothing overlapped): unshaped steps and steps at each
  link interleaved (a busy machine slows them alike); the estimate for a link is the unshaped
  step time + the same run's bytes at the rate + 2 x delay x cuts, the serial model of
  ``reports.link``; ``measured_over_estimated`` = measured / estimated.
- ``--schedule gpipe|1f1b --microbatches M``: windows of ``--steps`` steps until three in a row
  have medians within 1% of each other (steady), unshaped and then at each link; the estimate
  is ``reports.link.pipeline_s`` (the schedule played out) from each stage's measured forward
  and backward seconds per micro-batch and optimizer seconds per step, unshaped, and each cut's
  bytes per micro-batch in each direction, beside the serial and overlapped bounds
  of the same pipeline (``reports.link.pipeline_bounds``).

``goodput_mbit`` is what a bulk TCP transfer gets through the shaped link.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys

from reports.measured import method_config, method_label

from .netshape import Loopback, VethChain, missing_tools, shape

METHODS = ("none", "uniform:b=8", "sortquant:b=2,s=2", "topk:r=0.2", "delta:b=3")
SCHEDULE_METHODS = ("none", "uniform:b=8", "topk:r=0.2", "delta:b=3", "fp8:fmt=e4m3", "hadamard:b=4", "lowrank:r=8")
INSIDE = "COMPSWEEP_LINK_CHECK_INSIDE"  # set in the namespace's child: do not unshare again
MEASURED_OVER_ESTIMATED = "measured_over_estimated"  # the JSON field: measured / serial estimate
# the training batches a check cycles through, once in its warm-up: every timed step sees its
# examples again, as training does from the second epoch (AQ-SGD sends deltas, not first sightings)
CYCLE = 8
STEADY_WINDOWS, STEADY_SPREAD = 3, 0.01  # steady: three windows whose medians agree within 1%
BUSY = ("busy_fwd_s", "busy_bwd_s", "busy_opt_s")  # a stage's record: forward, backward, optimizer seconds


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def stage_count(config: dict) -> int:
    from trainables import family, placement

    return len(placement.terms(family(config["task"]).resolve(config)["placement"])) + 1


class Pipeline:
    """The stage processes of one run: ``phase(n, delay)`` runs n steps and returns stage 0's
    record; ``close()`` ends the run and returns the later stages' records (per phase)."""

    def __init__(self, config: dict, schedule: str = "gpipe", microbatches: int = 1, threads: int = 0,
                 hosts: list[str] | None = None, wrap: list[list[str]] | None = None):  # fmt: skip
        stages = stage_count(config)
        hosts = hosts or ["127.0.0.1"] * stages
        ports = free_ports(stages)
        cmd = [sys.executable, "-m", "benchmarks.pipeline", "--stages", str(stages), "--config", json.dumps(config),
               "--schedule", schedule, "--microbatches", str(microbatches), "--threads", str(threads)]  # fmt: skip
        self.procs = []
        for r in reversed(range(stages)):  # the listeners first
            args = [*(wrap[r] if wrap else []), *cmd, "--rank", str(r)]
            if r > 0:
                args += ["--listen", f"{hosts[r]}:{ports[r]}"]
            if r < stages - 1:
                args += ["--connect", f"{hosts[r + 1]}:{ports[r + 1]}"]
            self.procs.append(subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        self.procs.reverse()

    def phase(self, n: int, delay: float = 0.0) -> dict:
        first = self.procs[0]
        first.stdin.write(f"run {n} {delay}\n")
        first.stdin.flush()
        line = first.stdout.readline()
        if not line:
            self.close()
        return json.loads(line)

    def close(self) -> list[dict]:
        first, records = self.procs[0], []
        try:
            if first.poll() is None:
                first.stdin.write("quit\n")
                first.stdin.close()
            for p in self.procs[1:]:
                line = p.stdout.readline()
                if line:
                    records.append(json.loads(line))
        finally:
            for p in self.procs:
                try:
                    p.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    p.kill()
        if any(p.returncode for p in self.procs):
            raise RuntimeError(f"a pipeline stage failed (exit codes {[p.returncode for p in self.procs]})")
        return records


def run_pipeline(config: dict, steps: list[int], between=None, delays: list[float] | None = None, **kw) -> dict:
    """Phases of ``steps[i]`` steps, ``between(i)`` called before phase i (the shaping); keywords
    as ``Pipeline``'s. Returns rank 0's step times, every stage's bytes and busy seconds per step
    per phase, and the last stage's losses."""
    pipe = Pipeline(config, **kw)
    out = {"step_s": [], "bytes": [], "busy_s": [], "losses": []}
    try:
        for i, n in enumerate(steps):
            if between is not None:
                between(i)
            line = pipe.phase(n, delays[i] if delays else 0.0)
            out["step_s"].append(line["step_s"])
            out["bytes"].append(line["bytes"])
            out["busy_s"].append([line["busy_s"] / max(n, 1)])
    finally:
        records = pipe.close()
    for rec in records:
        for i, ph in enumerate(rec["phases"][: len(steps)]):
            out["bytes"][i] += ph["bytes"]
            out["busy_s"][i].append(ph["busy_s"] / max(ph["steps"], 1))
        if rec["losses"] and rec["losses"][-1] is not None:
            out["losses"] = rec["losses"]
    return out


def simulate(config: dict, n: int, microbatches: int = 1) -> list[float]:
    """The one-process run of the same config (Boundary): the losses of its first n steps, each
    step M micro-batches whose gradients accumulate (each loss divided by M) before one
    optimizer step, as the pipeline runs them."""
    from benchmarks.pipeline import split
    from trainables import family

    loop = family(config["task"]).loop(config)
    losses, data = [], loop.batches()
    while len(losses) < n:
        try:
            x, y, ids = next(data)
        except StopIteration:
            data = loop.batches()
            continue
        loop.optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for xs, ys, ids_mb in zip(*(split(v, microbatches) for v in (x, y, ids)), strict=True):
            for b in loop.boundaries:
                b.set_batch_ids(ids_mb)
            loss = loop.loss_fn(xs, ys) / microbatches
            loss.backward()
            total += float(loss.detach())
        loop.optimizer.step()
        loop.scheduler.step()
        losses.append(total)
    return losses


def check_method(config: dict, links: list, steps: int, netem: bool = True, topo=None) -> list[dict]:
    """Serial (one batch at a time): a warm-up pass over the CYCLE batches, then ``steps`` rounds of one unshaped
    step and one step per link, interleaved (a busy machine slows all of them alike); a row per
    link. Without netem the senders add each link's delay before every message."""
    cuts = stage_count(config) - 1
    order = [None, *links]  # one round
    plan = [CYCLE] + [1] * (steps * len(order))
    at = [None] + [order[i % len(order)] for i in range(steps * len(order))]
    delays = [0.0 if (lk is None or netem) else lk.latency_s for lk in at]
    reshape = topo.shape if topo is not None else shape
    where = {"hosts": topo.hosts, "wrap": topo.wrap} if topo is not None else {}
    out = run_pipeline(config, plan, between=lambda i: reshape(at[i]), delays=delays, **where)
    reshape(None)
    times = {k: [t for i, t in enumerate(out["step_s"]) if i > 0 and at[i] is k][:steps] for k in order}
    sent = {k: [b for i, b in enumerate(out["bytes"]) if i > 0 and at[i] is k] for k in order}
    base = statistics.median(x for ts in times[None] for x in ts)
    rows = []
    for link in links:
        per_step = statistics.mean(sent[link])
        serial, overlap = bounds(base, per_step, link, cuts)
        measured = statistics.median(x for ts in times[link] for x in ts)
        rows.append({"method": method_label(config), "link": link.label, "measured_s": measured, "estimated_s": serial,
                     MEASURED_OVER_ESTIMATED: measured / serial, "estimated_overlap_s": overlap, "unshaped_s": base,
                     "bytes_per_step": per_step})  # fmt: skip
    return rows


def bounds(unshaped_s: float, bytes_per_step: float, link, cuts: int) -> tuple[float, float]:
    """report's link model on the pipeline's own numbers: the serial estimate (compute, then
    every byte, then the delays) and the pipelined one (the larger of compute and wire)."""
    from reports import link as model

    wire = model.wire_time(bytes_per_step, link)
    return model.serial_s(unshaped_s, wire, link, cuts), model.overlap_s(unshaped_s, wire, link, cuts)


def between(r: dict) -> bool:
    """The measured step lies between the pipelined and the serial estimate (10% slack each way)."""
    return 0.9 * r["estimated_overlap_s"] <= r["measured_s"] <= 1.1 * r["estimated_s"]


def steady(windows: list[list[float]]) -> bool:
    """The last three windows' median step times agree within 1% (max / min)."""
    if len(windows) < STEADY_WINDOWS:
        return False
    meds = [statistics.median(w) for w in windows[-STEADY_WINDOWS:]]
    return max(meds) / min(meds) - 1 <= STEADY_SPREAD


def until_steady(pipe: Pipeline, window: int, max_windows: int, delay: float) -> tuple[list[dict], str]:
    """Windows of ``window`` steps until steady or ``max_windows``: stage 0's records and why it stopped."""
    recs: list[dict] = []
    while len(recs) < max_windows:
        recs.append(pipe.phase(window, delay))
        if steady([r["step_s"] for r in recs]):
            return recs, "steady"
    meds = ", ".join(f"{statistics.median(r['step_s']):.3f}" for r in recs[-STEADY_WINDOWS:])
    return recs, f"not steady after {len(recs)} windows (last medians {meds} s)"


def check_schedule(config: dict, links: list, topo, schedule: str, m: int, window: int, max_windows: int,
                   netem: bool) -> list[dict]:  # fmt: skip
    """Micro-batched: the steady step unshaped and at each link; a row per link."""
    stages = stage_count(config)
    pipe = Pipeline(config, schedule, m, threads=1, hosts=topo.hosts, wrap=topo.wrap)
    phases: list[tuple] = []  # (link, stage 0's record, why it stopped) per timed phase, in order
    try:
        topo.shape(None)
        pipe.phase(CYCLE)  # warm-up (the later stages' phase 0): prefixes learnt, kernels compiled, examples seen
        for link in [None, *links]:
            topo.shape(link)
            recs, why = until_steady(pipe, window, max_windows, 0.0 if (link is None or netem) else link.latency_s)
            phases += [(link, r, why) for r in recs]
        topo.shape(None)
    finally:
        later = pipe.close()
    per: dict = {}
    for i, (link, rec, why) in enumerate(phases):
        stage_recs = [rec, *(lr["phases"][i + 1] for lr in later)]
        d = per.setdefault(link, {"why": why, "windows": [], "busy": [], "fwd": [], "bwd": []})
        d["windows"].append(rec["step_s"])
        d["busy"].append([[s[k] / max(s["steps"], 1) for k in BUSY] for s in stage_recs])
        d["fwd"].append([s["sent_fwd"] / max(s["steps"], 1) / m for s in stage_recs[:-1]])
        d["bwd"].append([s["sent_bwd"] / max(s["steps"], 1) / m for s in stage_recs[1:]])
    base = per[None]
    unshaped = _compute(base["busy"], stages, m)  # what the report's estimate has
    return [{**_link_row(per[link], link, schedule, m, stages, unshaped), "method": method_label(config),
             "unshaped_s": statistics.median(statistics.median(w) for w in base["windows"][-STEADY_WINDOWS:]),
             "steady_unshaped": base["why"]} for link in links]  # fmt: skip


def _link_row(d: dict, link, schedule: str, m: int, stages: int, unshaped: tuple) -> dict:
    """One link's row: its measured steady step beside the 1F1B estimate and the bounds played
    from the unshaped windows' compute (``unshaped``: what a report has) and from the compute of
    the link's own windows (``_own``: the same composition with the compute the step really had).
    The bounds are on throughput, so they hold the mean step of the windows whose mean compute
    made them (a median step can fall below a bound made of mean compute)."""
    from reports import link as model

    sent_f = [statistics.mean(w[j] for w in d["fwd"]) for j in range(stages - 1)]
    sent_b = [statistics.mean(w[j] for w in d["bwd"]) for j in range(stages - 1)]
    wf, wb = [model.wire_time(x, link) for x in sent_f], [model.wire_time(x, link) for x in sent_b]
    last = d["windows"][-STEADY_WINDOWS:]
    measured = statistics.median(statistics.median(w) for w in last)  # the steady step
    mean = statistics.mean(t for w in last for t in w)  # the same steps' throughput, as the compute is
    row = {"link": link.label, "schedule": schedule, "microbatches": m, "measured_s": measured, "mean_s": mean,
           "bytes_per_step": m * (sum(sent_f) + sum(sent_b)), "steady": d["why"]}  # fmt: skip
    for suffix, (f, b, o) in (("", unshaped), ("_own", _compute(d["busy"], stages, m))):
        stage_s = [fr + br + orr / m for fr, br, orr in zip(f, b, o, strict=True)]
        est = model.pipeline_s(schedule, f, b, o, wf, wb, link, m)
        serial, overlap = model.pipeline_bounds(stage_s, wf, wb, link, m)
        key = "1f1b" if not suffix else "own"  # measured_over_1f1b / measured_over_own, as records have them
        row |= {f"estimated_1f1b{suffix}_s": est, f"measured_over_{key}": measured / est,
                f"serial{suffix}_s": serial, f"overlapped{suffix}_s": overlap,
                f"within_bounds{suffix}": overlap <= mean <= serial, f"stage{suffix}_s": stage_s,
                f"stage_fwd{suffix}_s": f, f"stage_bwd{suffix}_s": b, f"stage_opt{suffix}_s": o}  # fmt: skip
    return row


def _compute(busy: list, stages: int, m: int) -> tuple[list[float], list[float], list[float]]:
    """Each stage's forward and backward seconds per micro-batch and optimizer seconds per step:
    means over a phase's last STEADY_WINDOWS windows (``busy``: per window, per stage, BUSY), so
    over the same steps as the measured mean step."""
    f, b, o = ([statistics.mean(w[r][k] for w in busy[-STEADY_WINDOWS:]) for r in range(stages)]
               for k in range(len(BUSY)))  # fmt: skip
    return [x / m for x in f], [x / m for x in b], o


def default_configs(families: list[str], placement: str | None = None) -> dict[str, dict]:
    """The CV and NLP defaults of the results (their tasks' sweep training) over CYCLE batches
    of training examples, cycled."""
    import trainables

    task = {"cv": "fashion_mnist", "nlp": "rotten_tomatoes"}
    out = {}
    for fam in families:
        t = trainables.task(task[fam])
        cfg = {**t.training, "task": t.name, "seed": 0, "epochs": 50, "limit_val": 32}
        batch = int(cfg.get("batch_size") or trainables.family(t.name).DEFAULTS["batch_size"])
        cfg["batch_size"], cfg["limit_train"] = batch, batch * CYCLE
        if placement:
            cfg["placement"] = placement
        out[fam] = cfg
    return out


def table(rows: list[dict]) -> str:
    head = ("| family | method | link | measured s | estimated s | measured / estimated | pipelined s | unshaped s "
            "| bytes/step | goodput Mbit/s |")  # fmt: skip
    lines = [head, "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['family']} | {r['method']} | {r['link']} | {r['measured_s']:.3f} | {r['estimated_s']:.3f} | "
            f"{r[MEASURED_OVER_ESTIMATED]:.2f} | {r['estimated_overlap_s']:.3f} | {r['unshaped_s']:.3f} | "
            f"{r['bytes_per_step']:.0f} | {r['goodput_mbit']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def run(links: list, methods: list[str], families: list[str], steps: int, opts: dict) -> list[dict]:
    """Inside the namespace: every (family, method, link) row, with the link's goodput."""
    configs = default_configs(families, opts.get("placement"))
    stages = {stage_count(c) for c in configs.values()}
    netns = opts.get("netns", 0)
    topo = VethChain(netns) if netns else Loopback(max(stages))
    try:
        goodput, netem = {}, True
        for link in links:
            netem &= topo.shape(link)
            goodput[link.label] = topo.goodput()
        topo.shape(None)
        if not netem:
            print("link-check: this kernel has no netem qdisc (sch_netem): tc shapes the rate, and each "
                  "stage's sender delays every message by the link's delay", file=sys.stderr)  # fmt: skip
        rows = []
        for fam, cfg in configs.items():
            for m in methods:
                run_cfg = {**cfg, **method_config(m)}
                if opts.get("schedule"):
                    got = check_schedule(run_cfg, links, topo, opts["schedule"], opts["microbatches"], steps,
                                         opts["windows"], netem)  # fmt: skip
                    key = "measured_over_1f1b"
                else:
                    got, key = check_method(run_cfg, links, steps, netem, topo), MEASURED_OVER_ESTIMATED
                for r in got:
                    rows.append({"family": fam, **r, "goodput_mbit": goodput[r["link"]]})
                    print(f"  {fam} {m} @ {r['link']}: ratio {r[key]:.2f}", file=sys.stderr, flush=True)
    finally:
        topo.close()
    return rows


def record(rows: list[dict], path: str, families: list[str], placement: str | None) -> None:
    """The rows as records ``report --measured`` reads: with the run's task and config, the date,
    the commit and the host."""
    import datetime
    from pathlib import Path

    import schema
    from schema import REPO
    from trainables.runtime import host_hash

    configs = default_configs(families, placement)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    where = {"date": datetime.date.today().isoformat(), "commit": commit.stdout.strip(),
             schema.TAG_HOST: host_hash()}  # fmt: skip
    out = [{**r, "task": configs[r["family"]]["task"], "method": method_config(r["method"])["fwd"],
            "config": {**configs[r["family"]], **method_config(r["method"])}, **where} for r in rows]  # fmt: skip
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(out, indent=1) + "\n")


def main(argv: list[str], links: list, methods: list[str], families: list[str], steps: int, fmt: str,
         opts: dict | None = None) -> int:  # fmt: skip
    """Re-runs itself in a new network namespace (as root; with --netns, in the host's, where it
    makes one namespace per stage), then prints the table or JSON."""
    opts = opts or {}
    if os.environ.get(INSIDE) != "1":
        why = missing_tools()
        if why:
            print(why, file=sys.stderr)
            return 2
        from schema import REPO

        cmd = [sys.executable, str(REPO / "sweep.py"), "link-check", *argv]
        if not opts.get("netns"):
            cmd = ["unshare", "--net", "--", *cmd]
        return subprocess.run(cmd, env={**os.environ, INSIDE: "1"}).returncode
    rows = run(links, methods, families, steps, opts)
    if opts.get("record"):
        record(rows, opts["record"], families, opts.get("placement"))
    if fmt == "json":
        print(json.dumps(rows, indent=1))
        return 0
    if opts.get("schedule"):
        from reports import linkpage

        print(linkpage.schedule_table(rows), end="")
        print(linkpage.verdict(rows))
        return 0
    print(table(rows), end="")
    off = [r for r in rows if abs(r[MEASURED_OVER_ESTIMATED] - 1) > 0.10]
    if off:
        print(f"{len(off)} of {len(rows)} ratios outside ±10%: " + ", ".join(
            f"{r['family']} {r['method']} @ {r['link']} ({r[MEASURED_OVER_ESTIMATED]:.2f})" for r in off))  # fmt: skip
        inside = sum(between(r) for r in off)
        print(f"{inside} of those {len(off)} lie between the pipelined and the serial estimate (±10%)")
    return 0
