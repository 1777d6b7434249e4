"""Peak extra memory of one roundtrip, as a multiple of the input tensor's size.

Each spec runs in a fresh process, as in training (compile mode as set, default auto): one
warm-up call (imports, torch.compile), then the peak resident set is reset (Linux
``/proc/self/clear_refs``) and the growth of the peak during the next ``roundtrip`` call,
output included, is divided by the input's bytes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

CHILD = r"""
import gc, json, sys, torch
import compression

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024

shape, spec = json.loads(sys.argv[1]), sys.argv[2]
x = torch.randn(shape)
comp = compression.build(spec)
comp.roundtrip(x)  # warm-up: imports, lazy set-up, torch.compile
gc.collect()
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak resident set to the current one
before = status("VmRSS:")
out = comp.roundtrip(x)
print(json.dumps({"extra": (status("VmHWM:") - before) / (x.numel() * 4)}))
"""


def measure(shape, spec: str, compile_mode: str | None = None) -> float:
    env = dict(os.environ)
    if compile_mode is not None:
        env["COMPSWEEP_COMPILE"] = compile_mode
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(list(shape)), spec],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["extra"]


def run(shape=(256, 1280, 7, 7), specs=None) -> list[dict]:
    from rich.console import Console
    from rich.table import Table

    from .compressors import SPECS

    rows = [{"method": s, "extra": measure(shape, s)} for s in (specs or SPECS)]
    t = Table(title=f"peak extra memory of one roundtrip, x {list(shape)} fp32 (output included)")
    t.add_column("method")
    t.add_column("extra / tensor", justify="right")
    t.add_column("target ≤ 2x", justify="right")
    for r in rows:
        t.add_row(r["method"], f"{r['extra']:.2f}x", "ok" if r["extra"] <= 2 else f"over by {r['extra'] / 2:.1f}x")
    Console(width=150).print(t)
    return rows
