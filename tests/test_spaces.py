import optuna
import pytest

import compression
import search_spaces
from search_spaces import explore, seed_cv, seed_nlp


def specs(space, placement=None):
    return {r["fwd"] for r in space.rows if placement is None or r["placement"] == placement}


def test_names_and_validity():
    assert set(search_spaces.names()) == {
        "seed-cv",
        "seed-nlp",
        "explore",
        "demo",
        "beyond",
        "collapse",
        "collapse-nlp",
        "cv224",
        "cv224-uniform",
        "beyond-cv",
        "beyond-nlp",
        "aqsgd-cv",
        "aqsgd-nlp",
        "cause",
        "study-scale-effnet",
        "study-scale-mnv2",
        "newer-cv",
        "newer-nlp",
    }
    for name in search_spaces.names():
        search_spaces.get(name).validate()
    with pytest.raises(search_spaces.SpaceError, match="unknown"):
        search_spaces.get("nope")


def test_the_cause_space_changes_one_recipe_factor_at_a_time():
    from search_spaces.results import CAUSE_FACTORS, CAUSE_ROWS
    from trainables import cv

    sp = search_spaces.get("cause")
    configs = sp.grid(sp.base("fashion_mnist"), 1)
    assert len(configs) == len(CAUSE_ROWS) * len(CAUSE_FACTORS)
    legacy = cv.RECIPES["legacy"]
    for cfg in configs:
        resolved = cv.resolve(cfg)
        changed = {k for k in legacy if resolved[k] != legacy[k]}
        assert len(changed) <= 1 and resolved["image_size"] == 32 and resolved["epochs"] == 3
        assert changed <= set(cv.RECIPES["finetune"]) and all(resolved[k] == cv.RECIPES["finetune"][k] or k in
                                                              ("optimizer", "lr") for k in changed)  # fmt: skip


def test_a_space_with_an_inactive_compressor_is_refused_at_plan_time():
    from trainables import ConfigError
    from trainables.check import check_acts

    check_acts({"task": "fashion_mnist", "fwd": "delta:b=3", "epochs": 2})  # half as deltas: acts
    with pytest.raises(ConfigError, match=r"sends 100% of its forward values exactly.*at least 2 epochs"):
        check_acts({"task": "fashion_mnist", "fwd": "delta:b=3", "epochs": 1})
    check_acts({"task": "fashion_mnist", "fwd": "none", "epochs": 1})  # sends all exactly, compresses nothing
    for name in ("aqsgd-cv", "beyond-cv", "beyond"):  # their delta rows act in the CV default's steps
        sp = search_spaces.get(name)
        for cfg in sp.grid(sp.base("fashion_mnist"), 1):
            check_acts(cfg)


def test_seed_cv_has_the_study_rows():
    s = specs(seed_cv.SPACE, "first:1,last:1")
    assert {f"uniform:b={b}" for b in (16, 12, 11, 10, 9)} <= s
    assert {
        "none",
        "topk:r=0.5",
        "topk:r=0.2",
        "sortquant:b=6,s=2",
        "sortquant:b=9,s=3",
        "sortquant:b=12,s=4",
        "sortquant:b=2,s=2",
        "kmeans:b=4",
        "kmeans:b=4,iters=50",
    } <= {str(compression.parse_spec(x)) for x in s}


def test_seed_nlp_has_the_kmeans_comparison_rows():
    for placement in ("first:1", "last:2"):
        s = specs(seed_nlp.SPACE, placement)
        assert {"uniform:b=6", "sortquant:b=3,s=3", "kmeans:b=6,iters=50", "kmeans:b=6,iters=100"} <= s
    both = specs(seed_nlp.SPACE, "first:1,last:2")
    assert {
        "none",
        "uniform:b=16",
        "uniform:b=10",
        "uniform:b=8",
        "uniform:b=4",
        "uniform:b=6",
        "sortquant:b=3,s=3",
        "topk:r=0.5",
    } <= both


def test_explore_samples_only_valid_specs():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(300):
        t = study.ask()
        row = explore.sample(t)
        spec = compression.parse_spec(row["fwd"])  # raises on b+s > 16 etc.
        compression.Boundary(row["fwd"], row.get("bwd"))  # a valid pair (delta: a direct backward)
        seen.add(spec.method)
        seen |= {f"range={spec.params['range']}", f"round={spec.params['round']}"} if "range" in spec.params else set()
        if spec.params.get("clip", 100) < 100:
            seen.add("clip")
        assert row["placement"] in explore.PLACEMENTS
        study.tell(t, 0.0)
    assert {"uniform", "sortquant", "topk", "kmeans", "delta", "clip", "range=absmax", "round=stochastic"} <= seen


def test_beyond_rows():
    from search_spaces import beyond

    rows = beyond.SPACE.rows
    fwd = {(r["fwd"], r["bwd"]) for r in rows}
    for b in (2, 3, 4):
        for spec in (
            f"uniform:b={b}",
            f"uniform:b={b},round=stochastic",
            f"uniform:b={b},range=absmax",
            f"uniform:b={b},range=absmax,clip=99.9",
            f"sortquant:b={b - 1},s=1",
            f"kmeans:b={b},iters=20",
            f"delta:b={b}",
        ):
            assert (spec, beyond.BWD) in fwd
            assert str(compression.parse_spec(spec))  # canonical and valid
    assert ("delta:b=3", "uniform:b=6,range=absmax,round=stochastic") in fwd  # AQ-SGD's CoLA setting
    assert ("none", "none") in fwd and len(rows) == 24
    assert beyond.SPACE.training_for("rotten_tomatoes")["max_length"] == 48
    assert "image_size" not in beyond.SPACE.training_for("rotten_tomatoes")


def test_aqsgd_spaces_are_beyond_rows_with_the_same_training():
    # the AQ-SGD section reruns beyond's delta rows and the direct quantizers beside them; every
    # row must be one of beyond's, with its training, or the two sections compare different runs
    from search_spaces import beyond, results

    rows = {(r["fwd"], r["bwd"]) for r in beyond.SPACE.rows}
    for space, n in ((results.AQSGD_CV, 6), (results.AQSGD_NLP, 4)):
        mine = [(r["fwd"], r["bwd"]) for r in space.rows]
        assert len(set(mine)) == n and set(mine) <= rows
        assert ("delta:b=3", beyond.BWD) in mine and ("uniform:b=3,range=absmax", beyond.BWD) in mine
        task = space.default_task
        twin = {"fashion_mnist": results.BEYOND_CV, "rotten_tomatoes": results.BEYOND_NLP}[task]
        assert space.training_for(task) == twin.training_for(task)


def test_empty_grid_is_refused(tmp_path):
    p = tmp_path / "empty.json"
    p.write_text('{"rows": []}')
    with pytest.raises(search_spaces.SpaceError, match="no rows"):
        search_spaces.get(str(p))


def test_optuna_repeat_gets_the_next_free_seed():
    from tuning.runner import ExploreSampler

    sampler = ExploreSampler(lambda trial: {"fwd": "uniform:b=8", "placement": "first:1"}, {"task": "fashion_mnist"})
    seeds = [sampler(None)["trial"]["seed"] for _ in range(3)]
    assert seeds == [0, 1, 2]
    other = ExploreSampler(lambda trial: {"fwd": f"uniform:b={trial}", "placement": "first:1"}, {"seed": 0})
    assert [other(b)["trial"]["seed"] for b in (4, 5, 4)] == [0, 0, 1]


def test_specs_enter_canonical_once():
    import compression

    sp = search_spaces.get("aqsgd-nlp")  # its backward is written long-hand in beyond.py
    for cfg in sp.grid(sp.base("rotten_tomatoes"), 1):
        for key in ("fwd", "bwd"):
            if cfg.get(key):
                assert cfg[key] == compression.canonical(cfg[key])
    assert search_spaces.canonical_row({"fwd": "uniform:b=4,range=absmax,round=stochastic", "lr": 1}) == {
        "fwd": "uniform:b=4,round=stochastic,range=absmax", "lr": 1}
