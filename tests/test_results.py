"""The findings logic of reports.results on summaries made here (known answers)."""

import pandas as pd

from reports import results
from search_spaces.study import CV_CUT, NLP_BOTH, NLP_LAST


def summary(rows: dict) -> results.Results:
    recs = []
    for (placement, spec), (mean, std, extra) in rows.items():
        recs.append(
            {
                "config_id": f"{placement}|{spec}",
                "placement": placement,
                "fwd": spec,
                "val_acc_mean": mean,
                "val_acc_std": std,
                "n": 3,
                "snr_fwd_db": 30.0,
                "snr_bwd_db": 20.0,
                "bytes_fwd": 1000.0,
                "ratio": 0.25,
                "step_time": 0.1,
                "compress_time": extra.get("t", 0.001),
                "val_majority_mean": extra.get("maj", float("nan")),
            }
        )
    return results.Results(pd.DataFrame(recs), "val_acc")


def verdict(lines, prefix):
    line = next(ln for ln in lines if ln.startswith(f"- **{prefix}"))
    return line.split("*")[5] if line.count("*") >= 6 else line


def test_cv_findings_hold_when_the_numbers_say_so():
    cv = summary(
        {
            (CV_CUT, "none"): (0.90, 0.01, {}),
            (CV_CUT, "uniform:b=16"): (0.895, 0.01, {}),
            (CV_CUT, "uniform:b=10"): (0.60, 0.02, {}),
            (CV_CUT, "uniform:b=9"): (0.50, 0.02, {}),
            (CV_CUT, "sortquant:b=6,s=2"): (0.90, 0.01, {}),
            (CV_CUT, "sortquant:b=2,s=2"): (0.86, 0.01, {"t": 0.001}),
            (CV_CUT, "uniform:b=4"): (0.70, 0.01, {}),
            (CV_CUT, "kmeans:b=4,iters=20"): (0.865, 0.01, {"t": 0.01}),
            (CV_CUT, "topk:r=0.5"): (0.90, 0.01, {}),
            (CV_CUT, "topk:r=0.2"): (0.87, 0.005, {}),
        }
    )
    lines = results.finding_lines(cv, None)
    assert "*holds*" in lines[0] and "*holds*" in lines[1] and "*holds*" in lines[2] and "*holds*" in lines[3]
    assert "not testable here" in lines[4]  # NLP top-k: no NLP results


def test_findings_do_not_hold_when_nothing_collapses():
    cv = summary(
        {
            (CV_CUT, "none"): (0.80, 0.01, {}),
            (CV_CUT, "uniform:b=16"): (0.80, 0.01, {}),
            (CV_CUT, "uniform:b=10"): (0.80, 0.01, {}),
            (CV_CUT, "uniform:b=9"): (0.79, 0.01, {}),
        }
    )
    assert "*does not hold*" in results.finding_lines(cv, None)[0]


def test_nlp_collapse_to_majority_and_last_layer_ranking():
    nlp = summary(
        {
            (NLP_BOTH, "none"): (0.70, 0.01, {}),
            (NLP_BOTH, "uniform:b=10"): (0.70, 0.01, {}),
            (NLP_BOTH, "uniform:b=8"): (0.69, 0.01, {}),
            (NLP_BOTH, "uniform:b=4"): (0.55, 0.0, {"maj": 0.56}),
            (NLP_LAST, "uniform:b=6"): (0.60, 0.01, {}),
            (NLP_LAST, "sortquant:b=3,s=3"): (0.65, 0.01, {}),
            (NLP_LAST, "kmeans:b=6,iters=50"): (0.69, 0.01, {}),
            (NLP_LAST, "kmeans:b=6,iters=100"): (0.68, 0.01, {}),
        }
    )
    lines = results.finding_lines(None, nlp)
    assert "*holds*" in lines[-2] and "majority-class rate of 56.0%" in lines[-2]
    assert "*holds*" in lines[-1]
