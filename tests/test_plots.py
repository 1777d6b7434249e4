"""The plots draw the table's numbers: points read back from the figure objects equal the report's
columns (no offset on a quantitative axis), one colour a config, ordered axes with a colour bar."""

import json

import matplotlib.pyplot as plt
import numpy as np
import pytest

from reports import columns as cols
from reports import plots, table
from reports.curves import tta_figure
from reports.link import parse_links
from reports.sweep_plots import category_order, parallel_figure
from tests.test_cost import LINKS, curve, noisy_store


def report():
    df = noisy_store()
    df.loc[df["fwd"] == "uniform:b=8", "bytes_fwd"] = 990.0  # close to top-k's: nothing may move either
    for fwd in ("none", "uniform:b=8", "topk:r=0.2"):
        for seed in range(5):
            df.loc[(df["fwd"] == fwd) & (df["seed"] == seed), "curve"] = curve([10, 20], [0.6, 0.7])
    return table.build(df, "val_acc", links=LINKS)


def test_every_point_is_drawn_at_the_tables_values_in_its_own_colour():
    rep = report()
    link = parse_links("100mbit")[0]
    fig = plots.figure(rep.summary, "val_acc", link=link)
    bits, wire, batch = fig.axes[:3]
    s = rep.summary.set_index("fwd")
    seen_colors = set()
    panels = ((bits, 32 * s["ratio"]), (wire, s[cols.BYTES_RUN.key]), (batch, s[cols.EST_BATCH.name(link.label)]))
    for ax, expect in panels:
        drawn = {}
        for container in ax.containers:  # one errorbar a config, labelled in the first panel only
            line = container.lines[0]
            drawn[len(drawn)] = (float(line.get_xdata()[0]), float(line.get_ydata()[0]), line.get_color())
        assert len(drawn) == len(s)
        for (x, y, color), (fwd, row) in zip(drawn.values(), s.iterrows(), strict=True):
            assert x == pytest.approx(float(expect[fwd]), rel=1e-12), (ax.get_xlabel(), fwd)
            assert y == pytest.approx(row["val_acc_mean"])
            seen_colors.add((fwd, color))
    assert len({c for _, c in seen_colors}) == len(s)  # one colour a config, the same in every panel
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == [plots.series_label(r, False) for _, r in rep.summary.iterrows()]
    plt.close(fig)


def test_the_tta_plot_gives_each_config_its_colour():
    rep = report()
    fig, drawn = tta_figure(rep.summary, rep.runs, "val_acc", LINKS[0])
    lines = fig.axes[0].get_lines()
    assert drawn == 3 and len({ln.get_color() for ln in lines}) == 3
    style = plots.config_colors(rep.summary)
    for line, (_, r) in zip(lines, rep.summary.iterrows(), strict=True):
        assert line.get_color() == style[r["config_id"]][0]
        est = r[cols.EST_BATCH.name(LINKS[0].label)]
        assert np.allclose(line.get_xdata(), np.array([10, 20]) * est)
    plt.close(fig)


def test_parallel_coordinates_order_numbers_by_value_and_draw_a_colour_bar():
    assert category_order(["8", "4", "32", "2", "", "converge"]) == ["2", "4", "8", "32", "converge", ""]
    rep = report()
    runs = rep.runs.copy()
    runs["bits"] = runs["fwd"].map({"none": "", "uniform:b=8": "8", "topk:r=0.2": ""})
    runs["config_json"] = [json.dumps({**json.loads(c), "lr": 0.001 * (i % 3 + 1)})
                           for i, c in enumerate(runs["config_json"])]  # fmt: skip
    fig = parallel_figure(rep.summary, runs, "val_acc")
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == "val_acc (seed mean)"  # the colour bar
    ticks = [t.get_text() for t in fig.axes[0].texts]
    assert ticks.index("8") < ticks.index("(none)")
    plt.close(fig)
