"""What the driver shows while a sweep runs: one line per finished trial (config, seed, metric,
minutes) and, on a terminal, one rich progress bar with trials finished / running / failed of
the total, the elapsed time and an ETA from the finished trials' durations and the
concurrency; elsewhere (a log file, CI, nohup), a heartbeat line at least every ``HEARTBEAT_S``
while trials run, so progress is told from a hang. Ray's own trial table is off unless asked
for (``-v``)."""

from __future__ import annotations

import statistics
import sys
import time

from ray.tune import Callback

from schema import config_label

from .tracking import TRIAL_ERROR, trial_config

HEARTBEAT_S = 60.0  # without a terminal, the longest silence while trials run


def eta_s(durations: list[float], remaining: int, running_for: list[float], concurrency: int) -> float | None:
    """Seconds left: the trials not finished times the median finished duration, less what the
    running ones have done, spread over the concurrency; None before any trial finished."""
    if not durations:
        return None
    typical = statistics.median(durations)
    work = remaining * typical - sum(min(t, typical) for t in running_for)
    return max(0.0, work) / max(concurrency, 1)


def fmt_min(seconds: float | None) -> str:
    return "?" if seconds is None else f"{seconds / 60:.1f} min"


def label(cfg: dict) -> str:
    """A trial as its line names it: forward spec, the backward one when the config sets it,
    cut and seed (two rows of one space differ in any of these)."""
    return f"{config_label(cfg.get('fwd'), cfg.get('bwd'), cfg.get('placement'))} seed={cfg.get('seed')}"


class Progress(Callback):
    def __init__(self, total: int, metric: str, concurrency: int, bar: bool | None = None, clock=time.time):
        self.total, self.metric, self.concurrency = total, metric, concurrency
        self.bar = sys.stdout.isatty() if bar is None else bar
        self.done = self.failed = 0
        self.started: dict[str, float] = {}
        self.durations: list[float] = []
        self.clock = clock
        self.t0 = self.last_line = clock()
        self._live = None

    def __getstate__(self):  # pickled with the Tuner: the live display and the clock stay behind
        return {**self.__dict__, "_live": None, "clock": None}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.clock = self.clock or time.time

    def _status(self) -> tuple[str, str]:
        now = self.clock()
        running = [now - t for t in self.started.values()]
        left = self.total - self.done - self.failed
        eta = eta_s(self.durations, left, running, self.concurrency)
        counts = f"{self.done} finished, {len(running)} running, {self.failed} failed of {self.total}"
        return counts, fmt_min(eta)

    def _refresh(self) -> None:
        if not self.bar:
            return
        from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bar

        counts, eta = self._status()
        if self._live is None:
            self._live = Bar(TextColumn("trials"), BarColumn(), TextColumn("{task.fields[counts]}"),
                             TimeElapsedColumn(), TextColumn("ETA {task.fields[eta]}"))  # fmt: skip
            self._live.start()
            self._task = self._live.add_task("trials", total=self.total, counts=counts, eta=eta)
        self._live.update(self._task, completed=self.done + self.failed, counts=counts, eta=eta)

    def _line(self, trial, what: str) -> None:
        took = self.clock() - self.started.pop(trial.trial_id, self.clock())
        if what == "done":
            self.done += 1
            self.durations.append(took)
        else:
            self.failed += 1
        cfg = trial_config(trial.config)
        value = (trial.last_result or {}).get(self.metric)
        shown = f"{self.metric}={value:.4f}" if isinstance(value, (int, float)) else ""
        line = (f"[{self.done + self.failed}/{self.total}] {what:8s} {label(cfg)} "
                f"{shown} {took / 60:.1f} min; ETA {self._status()[1]}")  # fmt: skip
        self._print(line)
        self._refresh()

    def _print(self, line: str) -> None:
        self.last_line = self.clock()
        if self._live is not None:
            self._live.console.print(line)
        else:
            print(line, flush=True)

    def heartbeat(self) -> None:
        """Without a terminal: a line when nothing was printed for HEARTBEAT_S."""
        if self.bar or self.clock() - self.last_line < HEARTBEAT_S:
            return
        counts, eta = self._status()
        self._print(f"[{(self.clock() - self.t0) / 60:.1f} min] {counts}; ETA {eta}")

    def on_step_begin(self, iteration, trials, **info):
        self.heartbeat()

    def on_trial_start(self, iteration, trials, trial, **info):
        self.started.setdefault(trial.trial_id, self.clock())
        if not self.bar:
            self._print(f"[{(self.clock() - self.t0) / 60:.1f} min] started {label(trial_config(trial.config))}")
        self._refresh()

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._line(trial, "FAILED" if TRIAL_ERROR in (trial.last_result or {}) else "done")

    def on_trial_error(self, iteration, trials, trial, **info):
        self._line(trial, "FAILED")

    def on_experiment_end(self, trials, **info):
        if self._live is not None:
            self._live.stop()
            self._live = None
