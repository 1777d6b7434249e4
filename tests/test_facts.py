"""reports/facts.py: the figures a section's prose cites come from the runs, and every name a
section's text uses is one the page can compute."""

import json
import string
from pathlib import Path

import pytest

from reports import facts, runs, sections
from tests.test_results import run_rows


def _setting_rows(recipe: str | None, accs: dict, experiment="results-collapse"):
    df = run_rows(accs, experiment=experiment, host="")
    cfg = {"limit_train": 4000, "epochs": 3, **({"recipe": recipe} if recipe else {})}
    df["config_json"] = [json.dumps({**json.loads(c), **cfg}) for c in df["config_json"]]
    return df


LEGACY = {
    ("none", "none"): [(0, 0.70), (1, 0.68), (2, 0.69)],
    ("none", "uniform:b=4"): [(0, 0.20), (1, 0.25), (2, 0.18)],
    ("none", "uniform:b=8"): [(0, 0.40), (1, 0.50), (2, 0.45)],
    ("uniform:b=4", "none"): [(0, 0.71), (1, 0.70), (2, 0.69)],  # not a backward-only row
}
FINETUNE = {
    ("none", "none"): [(0, 0.84), (1, 0.83)],
    ("none", "uniform:b=4"): [(0, 0.83), (1, 0.83)],
    ("none", "uniform:b=8"): [(0, 0.85), (1, 0.84)],
}


def test_the_v2_collapse_figures_are_the_runs_means(tmp_path: Path):
    (tmp_path / "v2").mkdir()
    runs.write_csv(_setting_rows(None, LEGACY), tmp_path / "v2" / "runs.csv")
    text = facts.v2_legacy_collapse(_setting_rows("finetune", FINETUNE), tmp_path)
    # 4 bits: 0.21 - 0.69 = -48.0 points; 8 bits: 0.45 - 0.69 = -24.0; finetune: -0.5 and +1.0
    assert "4-bit min-max on the gradient alone lost 48.0 points and 8-bit 24.0" in text
    assert "over 3 seeds" in text and "moves the same rows by -0.5 and +1.0 points (2 seeds" in text


def test_runs_of_another_setting_or_experiment_are_not_cited(tmp_path: Path):
    (tmp_path / "v2").mkdir()
    other = _setting_rows(None, LEGACY)
    other["config_json"] = [json.dumps({**json.loads(c), "epochs": 1}) for c in other["config_json"]]
    runs.write_csv(other, tmp_path / "v2" / "runs.csv")
    assert facts.v2_legacy_collapse(other.iloc[0:0], tmp_path).startswith("the v2 runs are not")
    runs.write_csv(_setting_rows(None, LEGACY, experiment="results-beyond"), tmp_path / "v2" / "runs.csv")
    assert facts.v2_legacy_collapse(other.iloc[0:0], tmp_path).startswith("the v2 runs are not")


def test_every_name_a_section_cites_is_a_fact_and_fills_on_no_runs(tmp_path: Path):
    empty = run_rows({}).iloc[0:0]
    for sec in sections.SECTIONS:
        names = {f for _, f, _, _ in string.Formatter().parse(sec.why) if f}
        assert names <= set(facts.FACTS), (sec.experiment, names - set(facts.FACTS))
        text = facts.fill(sec.why, empty, tmp_path)
        assert "{" not in text and "}" not in text


def test_an_unknown_name_says_which_names_exist(tmp_path: Path):
    with pytest.raises(KeyError, match="v2_legacy_collapse"):
        facts.fill("{no_such_figure}", run_rows({}), tmp_path)


def test_the_scale_figures_follow_the_spaces_and_the_study():
    assert facts.study_steps(None, None) == "1,950-7,800"  # 50,000 // 256 x 10 and x 40
    assert facts.study_range(None, None) == "102.8M"  # 256 x 32 x 112 x 112
    lo, hi = map(int, facts.cpu_steps(None, None).split("-"))
    assert lo == 40 and hi == 186  # cv224's 2 x 640 / 32 and the legacy 3 x 4000 / 64
    assert facts.delta_cv(None, None).startswith("93 steps over 2000 examples 3 times (2 in 3")
    assert facts.delta_nlp(None, None) == "75 steps over 800 examples 3 times"  # the NLP default's 74


def test_trial_minutes_is_the_median_on_a_recorded_host():
    df = run_rows({("none", "none"): [(0, 0.8), (1, 0.8), (2, 0.8)]}, experiment="results-cv224")
    df["end_time"] = df["start_time"] + [60_000, 120_000, 600_000]
    assert facts.trial_minutes(df, None) == "2.0"
    df["host"] = float("nan")
    assert facts.trial_minutes(df, None) == "(no finished run yet)"
