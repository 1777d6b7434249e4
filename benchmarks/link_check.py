"""sweep.py link-check: the link model against a real shaped link.

For each method, the CV and NLP defaults run as a real pipeline (``benchmarks.pipeline``: one
process per stage over TCP) inside a network namespace this command creates (``unshare --net``;
loopback at MTU 1500, ``tcp_slow_start_after_idle`` off). A phase without shaping measures the
pipeline's own step time and its bytes; then, per link, Linux traffic control shapes loopback
(``tc``: tbf at the rate, netem at the one-way delay) and a phase measures the step time again.
The estimate for a link is the unshaped step time + the same run's bytes at the link's rate +
2 x delay x cuts (each cut crossed once each way per step), the link model of ``reports.link``
with the pipeline's own compute. ``measured_over_estimated`` = measured / estimated;
``goodput_mbit`` is what a bulk TCP transfer gets through the shaped loopback (``benchmarks.netshape``).
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys

from .netshape import goodput_mbit, missing_tools, prepare_namespace, shape

METHODS = ("none", "uniform:b=8", "sortquant:b=2,s=2", "topk:r=0.2", "delta:b=3")
INSIDE = "COMPSWEEP_LINK_CHECK_INSIDE"  # set in the namespace's child: do not unshare again
MEASURED_OVER_ESTIMATED = "measured_over_estimated"  # the JSON field: measured / serial estimate


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def run_pipeline(
    config: dict,
    steps: list[int],
    between=None,
    host: str = "127.0.0.1",
    delays: list[float] | None = None,
    schedule: str = "gpipe",
    microbatches: int = 1,
    threads: int = 0,
    hosts: list[str] | None = None,
    wrap: list[list[str]] | None = None,
) -> dict:
    """One process per stage; phases of ``steps[i]`` steps, ``between(i)`` called before phase i
    (the shaping). Stage r listens on ``hosts[r]`` (default: all on ``host``) and runs under the
    command prefix ``wrap[r]`` (e.g. ``ip netns exec A``). Returns rank 0's step times, every
    stage's bytes and busy seconds per phase, and the last stage's losses."""
    from trainables import family, placement

    fam = family(config["task"])
    stages = len(placement.terms(fam.resolve(config)["placement"])) + 1
    hosts = hosts or [host] * stages
    ports = free_ports(stages)
    cmd = [sys.executable, "-m", "benchmarks.pipeline", "--stages", str(stages), "--config", json.dumps(config),
           "--schedule", schedule, "--microbatches", str(microbatches), "--threads", str(threads)]  # fmt: skip
    procs = []
    for r in reversed(range(stages)):  # the listeners first
        args = [*(wrap[r] if wrap else []), *cmd, "--rank", str(r)]
        if r > 0:
            args += ["--listen", f"{hosts[r]}:{ports[r]}"]
        if r < stages - 1:
            args += ["--connect", f"{hosts[r + 1]}:{ports[r + 1]}"]
        procs.append(subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
    procs.reverse()
    first, out = procs[0], {"step_s": [], "bytes": [], "busy_s": [], "losses": []}
    try:
        for i, n in enumerate(steps):
            if between is not None:
                between(i)
            delay = delays[i] if delays else 0.0
            first.stdin.write(f"run {n} {delay}\n")
            first.stdin.flush()
            line = json.loads(first.stdout.readline())
            out["step_s"].append(line["step_s"])
            out["bytes"].append(line["bytes"])
            out["busy_s"].append([line["busy_s"] / max(n, 1)])
        first.stdin.write("quit\n")
        first.stdin.close()
        for p in procs[1:]:
            rec = json.loads(p.stdout.readline())
            for i, ph in enumerate(rec["phases"][: len(steps)]):
                out["bytes"][i] += ph["bytes"]
                out["busy_s"][i].append(ph["busy_s"] / max(ph["steps"], 1))
            if rec["losses"] and rec["losses"][-1] is not None:
                out["losses"] = rec["losses"]
    finally:
        for p in procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
    if any(p.returncode for p in procs):
        raise RuntimeError(f"a pipeline stage failed (exit codes {[p.returncode for p in procs]})")
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


def check_method(config: dict, links: list, steps: int, netem: bool = True) -> list[dict]:
    """One method: two warm-up steps, then ``steps`` rounds of one unshaped step and one step
    per link, interleaved (a busy machine slows all of them alike); a row per link. Without
    netem the senders add each link's delay before every message (one-way latency per crossing)."""
    from trainables import family, placement

    cuts = len(placement.terms(family(config["task"]).resolve(config)["placement"]))
    order = [None, *links]  # one round
    plan = [2] + [1] * (steps * len(order))
    at = [None] + [order[i % len(order)] for i in range(steps * len(order))]
    delays = [0.0 if (lk is None or netem) else lk.latency_s for lk in at]
    out = run_pipeline(config, plan, between=lambda i: shape(at[i]), delays=delays)
    shape(None)
    times = {k: [t for i, t in enumerate(out["step_s"]) if i > 0 and at[i] is k][:steps] for k in order}
    sent = {k: [b for i, b in enumerate(out["bytes"]) if i > 0 and at[i] is k] for k in order}
    base = statistics.median(x for ts in times[None] for x in ts)
    rows = []
    for link in links:
        per_step = statistics.mean(sent[link])
        serial, overlap = bounds(base, per_step, link, cuts)
        measured = statistics.median(x for ts in times[link] for x in ts)
        rows.append({"method": config["fwd"], "link": link.label, "measured_s": measured, "estimated_s": serial,
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


def default_configs(families: list[str], steps: int) -> dict[str, dict]:
    """The CV and NLP defaults of the results (their tasks' sweep training), with enough
    training examples for the phases."""
    import trainables

    task = {"cv": "fashion_mnist", "nlp": "rotten_tomatoes"}
    out = {}
    for fam in families:
        t = trainables.task(task[fam])
        cfg = {**t.training, "task": t.name, "seed": 0, "epochs": 50, "limit_val": 32}
        batch = int(cfg.get("batch_size") or trainables.family(t.name).DEFAULTS["batch_size"])
        cfg["limit_train"] = batch * (2 + 3 * steps + 4)
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


def run(links: list, methods: list[str], families: list[str], steps: int) -> list[dict]:
    """Inside the namespace: every (family, method, link) row, with the link's goodput."""
    prepare_namespace()
    goodput, netem = {}, True
    for link in links:
        netem &= shape(link)
        goodput[link.label] = goodput_mbit(min(64 << 20, int(link.bits_per_s / 8 * 1.5)))
    shape(None)
    if not netem:
        print("link-check: this kernel has no netem qdisc (sch_netem): tc shapes the rate, and each "
              "stage sleeps the link's delay before every message it sends", file=sys.stderr)  # fmt: skip
    rows = []
    for fam, cfg in default_configs(families, steps).items():
        for m in methods:
            for r in check_method({**cfg, "fwd": m}, links, steps, netem):
                rows.append({"family": fam, **r, "goodput_mbit": goodput[r["link"]]})
                print(f"  {fam} {m} @ {r['link']}: ratio {r[MEASURED_OVER_ESTIMATED]:.2f}", file=sys.stderr, flush=True)
    return rows


def main(argv: list[str], links: list, methods: list[str], families: list[str], steps: int, fmt: str) -> int:
    """Re-runs itself in a new network namespace (as root), then prints the table or JSON."""
    if os.environ.get(INSIDE) != "1":
        why = missing_tools()
        if why:
            print(why, file=sys.stderr)
            return 2
        from schema import REPO

        cmd = ["unshare", "--net", "--", sys.executable, str(REPO / "sweep.py"), "link-check", *argv]
        return subprocess.run(cmd, env={**os.environ, INSIDE: "1"}).returncode
    rows = run(links, methods, families, steps)
    print(json.dumps(rows, indent=1) if fmt == "json" else table(rows), end="" if fmt != "json" else "\n")
    off = [r for r in rows if abs(r[MEASURED_OVER_ESTIMATED] - 1) > 0.10]
    if off and fmt != "json":
        print(f"{len(off)} of {len(rows)} ratios outside ±10%: " + ", ".join(
            f"{r['family']} {r['method']} @ {r['link']} ({r[MEASURED_OVER_ESTIMATED]:.2f})" for r in off))  # fmt: skip
        inside = sum(between(r) for r in off)
        print(f"{inside} of those {len(off)} lie between the pipelined and the serial estimate (±10%)")
    return 0
