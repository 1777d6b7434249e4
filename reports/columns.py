"""The report's columns: one typed registry, the one place a column's name is built and read.

A column has a key (its name in the summary frame, the CSV and the JSON), a header for the
human table, a unit, a JSON type and a formatter. A per-link column (the batch estimate at a
link, the speed-up, time to target...) has one frame column per link: ``name(link)`` builds it
and nothing outside this module spells or parses such a name. The links a summary was built for
ride on the frame (``set_links`` / ``links_of``), not in its column names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

LINKS_ATTR = "links"


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    unit: str = ""
    kind: type = float  # its JSON type
    fmt: str = "{:.3f}"
    per_link: bool = False
    bound: str = ""  # "low" / "high": a CI bound of the per-link column of the same key

    def name(self, link: str | None = None) -> str:
        """The frame's column: the key, or key_<link>[_<bound>] for a per-link column."""
        if not self.per_link:
            return self.key
        if not link:
            raise ValueError(f"column {self.key!r} is per link: name a link")
        return f"{self.key}_{link}" + (f"_{self.bound}" if self.bound else "")

    def label(self, link: str | None = None) -> str:
        """The human table's header (@link for a per-link column)."""
        return f"{self.header} @{link}" if self.per_link else self.header

    def text(self, value) -> str:
        """The value as the human table shows it ('' for a missing one)."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ""
        return self.fmt.format(value)


# a config's statistics over its seeds (reports.stats): per metric, and the paired difference
def mean(metric: str) -> str:
    """The frame's column of a metric's seed mean."""
    return f"{metric}_mean"


def std(metric: str) -> str:
    """The frame's column of a metric's seed standard deviation."""
    return f"{metric}_std"


DELTA = Column("delta_mean", "Δ vs the baseline")
DELTA_LOW = Column("delta_ci_low", "Δ 95% CI low")
DELTA_HIGH = Column("delta_ci_high", "Δ 95% CI high")
N_PAIRED = Column("n_paired", "N paired", kind=int, fmt="{}")
N_ACROSS = Column("n_across", "seed pairs left out", kind=int, fmt="{}")

# costs behind the link model (reports.link)
COMPUTE_S = Column("compute_s", "compute s", "s")
COMPRESS_S = Column("compress_s", "compress s", "s", fmt="{:.4f}")
BYTES_RUN = Column("bytes_run", "bytes/sample run avg", "bytes", fmt="{:.0f}")
FWD_SHARE = Column("fwd_share", "forward share of bytes", fmt="{:.2f}")
# per link (reports.link, reports.tta)
EST_BATCH = Column("est_batch_s", "batch s", "s", per_link=True)
EST_OVERLAP = Column("est_batch_s_overlap", "batch s pipelined", "s", per_link=True)
EST_1F1B = Column("est_batch_s_1f1b", "batch s 1F1B", "s", per_link=True)
SPEEDUP = Column("speedup", "speed-up", "x", fmt="{:.2f}x", per_link=True)
TTA_S = Column("tta_s", "time to target s", "s", fmt="{:.1f}", per_link=True)
TTA_SPEEDUP = Column("tta_speedup", "tta speed-up", "x", fmt="{:.2f}x", per_link=True)
TTA_SPEEDUP_LOW = Column("tta_speedup", "tta speed-up CI low", "x", fmt="{:.2f}", per_link=True, bound="low")
TTA_SPEEDUP_HIGH = Column("tta_speedup", "tta speed-up CI high", "x", fmt="{:.2f}", per_link=True, bound="high")
STEP_MEASURED = Column("step_measured_s", "measured step s", "s", per_link=True)  # report --measured only
TTA_MEASURED = Column("tta_measured", "time to target s (measured step)", "s", fmt="{:.1f}", per_link=True)
PER_LINK = (EST_BATCH, EST_OVERLAP, EST_1F1B, SPEEDUP, TTA_S, TTA_SPEEDUP, TTA_SPEEDUP_LOW, TTA_SPEEDUP_HIGH)
# time to target (reports.tta)
STEPS = Column("steps_to_target", "steps to target", "steps", fmt="{:.0f}")
REACHED = Column("reached", "reached", kind=str, fmt="{}")
TARGET = Column("target", "target")


def set_links(frame: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    """Record the links the frame's per-link columns were built for."""
    frame.attrs[LINKS_ATTR] = list(dict.fromkeys([*frame.attrs.get(LINKS_ATTR, []), *labels]))
    return frame


def links_of(frame: pd.DataFrame) -> list[str]:
    """The links a summary's per-link columns are for, in the order they were added."""
    return list(frame.attrs.get(LINKS_ATTR, []))


def per_link_names(frame: pd.DataFrame) -> list[str]:
    """Every per-link column the frame should hold: each per-link column at each of its links."""
    return [c.name(lab) for lab in links_of(frame) for c in PER_LINK]


__all__ = [
    "BYTES_RUN",
    "DELTA",
    "DELTA_HIGH",
    "DELTA_LOW",
    "N_ACROSS",
    "N_PAIRED",
    "mean",
    "std",
    "COMPRESS_S",
    "COMPUTE_S",
    "EST_BATCH",
    "EST_OVERLAP",
    "EST_1F1B",
    "STEP_MEASURED",
    "TTA_MEASURED",
    "FWD_SHARE",
    "PER_LINK",
    "REACHED",
    "SPEEDUP",
    "STEPS",
    "TARGET",
    "TTA_S",
    "TTA_SPEEDUP",
    "TTA_SPEEDUP_HIGH",
    "TTA_SPEEDUP_LOW",
    "Column",
    "links_of",
    "per_link_names",
    "set_links",
]
