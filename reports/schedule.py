"""A micro-batched pipeline's schedule and its steady step time, by event simulation.

``schedule`` is the order in which one stage runs its micro-batch forwards and backwards (the
pipeline benchmark runs exactly this order); ``step_s`` plays that order on every stage at once:
a stage runs its next operation when it is free and the activation (forward) or gradient
(backward) it needs has arrived; each cut is two one-way links (forward and backward), each
carrying one message at a time in the order its sender made them, a message arriving its
transfer time plus the latency after it started. Each stage ends a step with its optimizer
step. Several steps are played and the last one's length on stage 0 is returned: the steady
step, which a closed formula gets wrong where the link paces the schedule (1F1B's stage 0
waits for the round trip of a micro-batch's gradient before its next forward).
"""

from __future__ import annotations

SCHEDULES = ("gpipe", "1f1b")


def schedule(kind: str, rank: int, stages: int, m: int) -> list[tuple[str, int]]:
    """The order of one step's micro-batch forwards ("F", i) and backwards ("B", i) on a stage;
    every stage runs the forwards and the backwards each in micro-batch order, so what one
    stage sends is what its neighbour waits for next. GPipe: all forwards, then all backwards;
    1F1B: stage r runs S - r - 1 forwards, then alternates one forward and one backward, then
    the backwards left."""
    if kind == "gpipe":
        return [("F", i) for i in range(m)] + [("B", i) for i in range(m)]
    if kind != "1f1b":
        raise ValueError(f"schedule {kind!r}: one of {', '.join(SCHEDULES)}")
    warm = min(stages - rank - 1, m)
    out = [("F", i) for i in range(warm)]
    for i in range(m - warm):
        out += [("F", warm + i), ("B", i)]
    return out + [("B", i) for i in range(m - warm, m)]


def _send(free: list[float], j: int, ready: float, wire: float, latency: float) -> float:
    """A message on one-way link j, ready at ``ready``: when it arrives (the link busy meanwhile)."""
    start = max(free[j], ready)
    free[j] = start + wire
    return free[j] + latency


def step_s(kind: str, fwd_s: list[float], bwd_s: list[float], opt_s: list[float], wire_fwd: list[float],
           wire_bwd: list[float], latency: float, m: int, steps: int = 4) -> float:  # fmt: skip
    """The steady step of S = len(fwd_s) stages: ``fwd_s[r]``, ``bwd_s[r]`` one micro-batch's
    forward and backward work on stage r, ``opt_s[r]`` its optimizer step; ``wire_fwd[j]``,
    ``wire_bwd[j]`` one micro-batch's activation and gradient at cut j's rate."""
    stages = len(fwd_s)
    if not (len(bwd_s) == len(opt_s) == stages and len(wire_fwd) == len(wire_bwd) == stages - 1 and m >= 1):
        raise ValueError("step_s: one forward, backward and optimizer time a stage, one wire time a cut each way")
    orders = [schedule(kind, r, stages, m) for r in range(stages)]
    free = [0.0] * stages  # when each stage is next free
    link_f, link_b = [0.0] * (stages - 1), [0.0] * (stages - 1)
    ends = []  # stage 0's end of each step
    for _ in range(steps):
        act = [[None] * m for _ in range(stages)]  # when micro-batch i's activation reaches stage r
        grad = [[None] * m for _ in range(stages)]  # ... and its gradient
        for i in range(m):
            act[0][i] = 0.0
            grad[stages - 1][i] = 0.0  # the last stage's loss is its own
        pos = [0] * stages
        while any(pos[r] < len(orders[r]) for r in range(stages)):
            moved = False
            for r in range(stages):
                while pos[r] < len(orders[r]):
                    what, i = orders[r][pos[r]]
                    need = act[r][i] if what == "F" else grad[r][i]
                    if need is None:
                        break
                    end = max(free[r], need) + (fwd_s[r] if what == "F" else bwd_s[r])
                    free[r], pos[r], moved = end, pos[r] + 1, True
                    if what == "F" and r < stages - 1:
                        act[r + 1][i] = _send(link_f, r, end, wire_fwd[r], latency)
                    if what == "B" and r > 0:
                        grad[r - 1][i] = _send(link_b, r - 1, end, wire_bwd[r - 1], latency)
            if not moved:
                raise RuntimeError(f"schedule {kind!r} deadlocks at {stages} stages, {m} micro-batches")
        free = [f + o for f, o in zip(free, opt_s, strict=True)]
        ends.append(free[0])
    return ends[-1] - ends[-2] if steps > 1 else ends[0]
