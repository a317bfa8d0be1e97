"""The XGBoost surrogate: features by hand, metrics against scipy/sklearn, determinism, artifacts,
and a conservative quality floor on real NAS-Bench-101 CIFAR-10 data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import kendalltau, spearmanr
from sklearn.metrics import mean_squared_error, r2_score

from nas_assets.core.cost import SO2SAT_SHAPE, count_flops, count_parameters
from nas_assets.core.enumeration import enumerate_space
from nas_assets.core.space import CONV1X1, CONV3X3, MAXPOOL3X3, ArchSpec, InvalidSpecError
from nas_assets.core.surrogate import (
    FEATURE_SETS,
    Surrogate,
    SurrogateArtifactError,
    SurrogateConfig,
    evaluate_surrogate,
    feature_names,
    features_from_arrays,
    features_from_specs,
    fit_surrogate,
    learning_curve,
    regression_metrics,
    sparse_kendall_tau,
    specs_from_nb101_columns,
    tune_config,
)
from nas_assets.core.surrogate_features import COST_FEATURE_NAMES

REFERENCE_JSON = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "nb101_cifar10_1k.json"
#: Tiny models: these tests check plumbing, not quality (except the NB101 floor).
TINY = dict(n_estimators=20, max_depth=3, ensemble_size=3, nthread=1)

# input -> conv3x3 -> output, plus input -> output
TRIANGLE = ([[0, 1, 1], [0, 0, 1], [0, 0, 0]], ["input", CONV3X3, "output"])


@pytest.fixture(scope="module")
def small_space():
    return enumerate_space(max_vertices=5, workers=1)  # 2,532 cells, a fraction of a second


@pytest.fixture(scope="module")
def toy_data(small_space):
    """400 real cells with a seeded, learnable synthetic accuracy (fraction in [0, 1))."""
    rng = np.random.default_rng(0)
    idx = rng.choice(len(small_space), 400, replace=False)
    specs = [(small_space.matrix(i), small_space.ops(i)) for i in idx]
    cost = features_from_specs(specs, ("cost",))
    y = 0.80 + 0.02 * cost[:, 4] - 0.01 * cost[:, 6] + 0.005 * cost[:, 7] + rng.normal(0, 0.003, len(specs))
    return specs, y


@pytest.fixture(scope="module")
def nb101() -> tuple[list, np.ndarray]:
    if not REFERENCE_JSON.exists():
        pytest.fail(f"{REFERENCE_JSON} is missing: the tests need ../shared/reference beside the checkout")
    data = json.loads(REFERENCE_JSON.read_text())
    specs = specs_from_nb101_columns(data["adjacency"], data["operations"])
    return specs, np.asarray(data["108_final_validation_accuracy"])


# -- features -----------------------------------------------------------------------------------

def test_feature_lengths_per_set():
    for sets, width in [(("fla",), 289), (("adjacency",), 36), (("cost",), 9),
                        (("adjacency", "cost"), 45), (FEATURE_SETS, 334)]:
        x = features_from_specs([TRIANGLE], sets)
        assert x.shape == (1, width) and x.dtype == np.float32
        assert len(feature_names(sets)) == width


def test_features_of_a_hand_worked_cell():
    x = features_from_specs([TRIANGLE], FEATURE_SETS)[0]
    fla, adj, cost = x[:289], x[289:325], x[325:]
    # FLA slots: input 0, conv3x3_0 6, output 16
    assert set(np.flatnonzero(fla).tolist()) == {0 * 17 + 6, 6 * 17 + 16, 0 * 17 + 16}
    # adjacency: the output moves to vertex 6, so the edges are 0->1, 0->6, 1->6
    iu = list(zip(*np.triu_indices(7, k=1)))
    assert {iu[i] for i in np.flatnonzero(adj[:21])} == {(0, 1), (0, 6), (1, 6)}
    ops = adj[21:].reshape(5, 3)  # vertex 1..5 x (conv3x3, conv1x1, maxpool)
    assert ops[0].tolist() == [1, 0, 0] and ops[1:].sum() == 0
    names = feature_names(FEATURE_SETS)
    assert names[289 + 21] == "op1_conv3x3" and names[289 + 5] == "edge_0_6"
    spec = ArchSpec.from_spec(*TRIANGLE)
    expected = {
        "log_params": np.log(count_parameters(spec)), "log_flops": np.log(count_flops(spec)),
        "n_vertices": 3, "n_edges": 3, "n_conv3x3": 1, "n_conv1x1": 0, "n_maxpool3x3": 0,
        "depth": 2, "width": 2,
    }
    assert dict(zip(COST_FEATURE_NAMES, cost.tolist())) == pytest.approx(expected, rel=1e-6)


def test_cost_features_depth_width_and_shape():
    # chain input -> conv1x1 -> maxpool -> output: depth 3, width 1
    chain = (np.diag(np.ones(3, dtype=int), k=1), ["input", CONV1X1, MAXPOOL3X3, "output"])
    c = dict(zip(COST_FEATURE_NAMES, features_from_specs([chain], ("cost",))[0].tolist()))
    assert (c["depth"], c["width"], c["n_conv1x1"], c["n_maxpool3x3"]) == (3, 1, 1, 1)
    so2sat = features_from_specs([chain], ("cost",), shape=SO2SAT_SHAPE)[0]
    expected = np.log(count_parameters(ArchSpec.from_spec(*chain), SO2SAT_SHAPE))
    assert so2sat[0] == pytest.approx(expected, rel=1e-6)


def test_specs_and_arrays_give_identical_features(small_space):
    idx = np.random.default_rng(1).choice(len(small_space), 150, replace=False)
    specs = [(small_space.matrix(i), small_space.ops(i)) for i in idx]
    a = features_from_specs(specs, FEATURE_SETS)
    b = features_from_arrays(small_space.matrices[idx], small_space.labels[idx], small_space.n_vertices[idx],
                             FEATURE_SETS)
    assert np.array_equal(a, b)


def test_unpruned_spec_gets_the_features_of_its_pruned_cell():
    # vertex 2 (maxpool) dangles: it is pruned away
    m = [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]]
    dangling = (m, ["input", CONV3X3, MAXPOOL3X3, "output"])
    pruned = ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", CONV3X3, "output"])
    assert np.array_equal(features_from_specs([dangling], FEATURE_SETS),
                          features_from_specs([pruned], FEATURE_SETS))


def test_invalid_specs_raise_invalid_spec_error():
    with pytest.raises(InvalidSpecError, match="spec 1: input is not connected"):
        features_from_specs([TRIANGLE, ([[0, 0], [0, 0]], ["input", "output"])])
    with pytest.raises(InvalidSpecError, match="unknown op"):
        features_from_specs([([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv5x5", "output"])])
    with pytest.raises(ValueError, match="feature_sets"):
        features_from_specs([TRIANGLE], ("adjacency", "graph"))


def test_nb101_columns_drop_padding():
    adj = np.zeros((7, 7))
    adj[0, 1] = adj[1, 2] = adj[0, 2] = 1
    specs = specs_from_nb101_columns([adj], [[-1, 0, -2, -3, -3, -3, -3]])
    matrix, ops = specs[0]
    assert matrix.tolist() == TRIANGLE[0] and ops == TRIANGLE[1]


# -- metrics ------------------------------------------------------------------------------------

def test_metrics_match_scipy_and_sklearn():
    rng = np.random.default_rng(7)
    t = rng.uniform(0.85, 0.95, 60)
    p = t + rng.normal(0, 0.01, 60)
    m = regression_metrics(t, p)
    assert m["r2"] == pytest.approx(r2_score(t, p))
    assert m["kendall_tau"] == pytest.approx(kendalltau(t, p).statistic)
    assert m["spearman_rho"] == pytest.approx(spearmanr(t, p).statistic)
    assert m["rmse"] == pytest.approx(np.sqrt(mean_squared_error(t, p)))
    rounded = kendalltau(np.round(t * 1000), np.round(p * 1000)).statistic
    assert m["sparse_kendall_tau"] == pytest.approx(rounded)


def test_sparse_kendall_tau_rounds_both_sides_to_a_tenth_of_a_point():
    t = np.array([0.9301, 0.9304, 0.9312, 0.9400])
    p = np.array([0.9306, 0.9302, 0.9318, 0.9390])
    # raw: pair (0, 1) is discordant, the other 5 concordant -> (5 - 1) / 6
    assert kendalltau(t, p).statistic == pytest.approx(4 / 6)
    # rounded to 0.1 pp: targets 93.0, 93.0, 93.1, 94.0; predictions 93.1, 93.0, 93.2, 93.9 ->
    # pair (0, 1) becomes a tie in the targets; tau-b = 5 / sqrt((6 - 1) * 6)
    assert sparse_kendall_tau(t, p) == pytest.approx(5 / np.sqrt(30))
    # the same in percent units with a 0.1 resolution
    assert sparse_kendall_tau(100 * t, 100 * p, resolution=0.1) == pytest.approx(5 / np.sqrt(30))
    # NAS-Bench-301's code rounds the predictions only: the discordant pair stays
    assert sparse_kendall_tau(t, p, round_targets=False) == pytest.approx(4 / 6)


def test_metrics_refuse_mismatched_lengths():
    with pytest.raises(ValueError, match="equal length"):
        regression_metrics([0.1, 0.2, 0.3], [0.1, 0.2])


# -- fitting, prediction, determinism -----------------------------------------------------------

def test_same_seed_same_predictions_other_seed_differs(toy_data):
    specs, y = toy_data
    a = fit_surrogate(specs, y, seed=3, subsample=0.7, **TINY).predict(specs[:50])
    b = fit_surrogate(specs, y, seed=3, subsample=0.7, **TINY).predict(specs[:50])
    c = fit_surrogate(specs, y, seed=4, subsample=0.7, **TINY).predict(specs[:50])
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    assert (a[1] > 0).any()  # members differ, so the ensemble has a spread


def test_predict_arrays_equals_predict_and_sample_is_seeded(toy_data, small_space):
    specs, y = toy_data
    model = fit_surrogate(specs, y, **TINY)
    idx = np.arange(0, len(small_space), 7)
    mean, std = model.predict_arrays(small_space.matrices[idx], small_space.labels[idx],
                                     small_space.n_vertices[idx], chunk=100)  # several chunks
    ref = model.predict([(small_space.matrix(i), small_space.ops(i)) for i in idx])
    assert np.allclose(mean, ref[0], rtol=0, atol=1e-12) and np.allclose(std, ref[1], rtol=0, atol=1e-12)
    draw = model.sample(specs[:30], np.random.default_rng(5))
    assert np.array_equal(draw, model.sample(specs[:30], np.random.default_rng(5)))
    single = fit_surrogate(specs, y, **{**TINY, "ensemble_size": 1})
    assert np.array_equal(single.sample(specs[:30], 1), single.predict(specs[:30])[0])


def test_targets_and_config_are_validated(toy_data):
    specs, y = toy_data
    with pytest.raises(ValueError, match="fractions in \\[0, 1\\)"):
        fit_surrogate(specs, 100 * y, **TINY)
    fit_surrogate(specs[:50], 100 * y[:50], target_transform="none", **TINY)  # percent is fine without it
    with pytest.raises(ValueError, match="one value per spec"):
        fit_surrogate(specs, y[:-1], **TINY)
    with pytest.raises(TypeError, match="unknown SurrogateConfig field"):
        fit_surrogate(specs, y, n_trees=10)
    with pytest.raises(ValueError, match="subsample"):
        SurrogateConfig(subsample=0)


# -- artifacts ----------------------------------------------------------------------------------

def test_save_load_round_trip(toy_data, tmp_path):
    specs, y = toy_data
    model = fit_surrogate(specs, y, data_info={"table": "results@3"}, metrics={"kendall_tau": 0.5}, **TINY)
    path = model.save(tmp_path / "surrogate")
    files = sorted(p.name for p in path.iterdir())
    assert files == ["manifest.json", "member_0.ubj", "member_1.ubj", "member_2.ubj"]
    assert [p.name for p in tmp_path.iterdir()] == ["surrogate"]  # no temp dirs left behind
    loaded = Surrogate.load(path)
    for got, want in zip(loaded.predict(specs[:40]), model.predict(specs[:40])):
        assert np.array_equal(got, want)
    man = loaded.manifest
    assert man["format_version"] == 1 and man["feature_sets"] == list(FEATURE_SETS)
    assert man["data"]["n_train"] == len(specs) and man["data"]["table"] == "results@3"
    assert len(man["data"]["train_sha256"]) == 64 and man["metrics"] == {"kendall_tau": 0.5}
    assert man["versions"]["xgboost_module"] and loaded.config == model.config
    with pytest.raises(FileExistsError, match="overwrite=True"):
        model.save(path)
    model.save(path, overwrite=True)


def test_load_names_the_bad_file(toy_data, tmp_path):
    specs, y = toy_data
    path = fit_surrogate(specs[:100], y[:100], **TINY).save(tmp_path / "s")
    manifest = path / "manifest.json"
    good = manifest.read_text()

    manifest.write_text(good[:-20])
    with pytest.raises(SurrogateArtifactError, match=r"manifest\.json is not valid JSON"):
        Surrogate.load(path)
    manifest.write_text(good.replace('"format_version": 1', '"format_version": 99'))
    with pytest.raises(SurrogateArtifactError, match=r"manifest\.json: format_version 99"):
        Surrogate.load(path)
    manifest.write_text(good)
    (path / "member_1.ubj").write_bytes(b"garbage")
    with pytest.raises(SurrogateArtifactError, match=r"member_1\.ubj: sha256 differs"):
        Surrogate.load(path)
    (path / "member_1.ubj").unlink()
    with pytest.raises(SurrogateArtifactError, match=r"member_1\.ubj is missing"):
        Surrogate.load(path)
    manifest.unlink()
    with pytest.raises(SurrogateArtifactError, match=r"manifest\.json is missing"):
        Surrogate.load(path)
    with pytest.raises(FileNotFoundError, match="no surrogate artifact"):
        Surrogate.load(tmp_path / "nowhere")


# -- evaluation ---------------------------------------------------------------------------------

def test_evaluate_surrogate_reports_every_split(toy_data):
    specs, y = toy_data
    rep = evaluate_surrogate(specs, y, n_repeats=2, n_folds=3, seed=0, **TINY)
    assert len(rep["per_split"]) == 6 and {r["n_test"] for r in rep["per_split"]} == {133, 134}
    taus = [r["kendall_tau"] for r in rep["per_split"]]
    assert rep["mean"]["kendall_tau"] == pytest.approx(np.mean(taus))
    assert rep["std"]["kendall_tau"] == pytest.approx(np.std(taus, ddof=1))
    assert rep["mean"]["kendall_tau"] > 0.5  # the synthetic target is learnable
    again = evaluate_surrogate(specs, y, n_repeats=2, n_folds=3, seed=0, **TINY)
    assert again["per_split"][3]["rmse"] == rep["per_split"][3]["rmse"]
    rand = evaluate_surrogate(specs, y, n_repeats=2, train_fraction=0.75, seed=0, **TINY)
    assert [(r["n_train"], r["n_test"]) for r in rand["per_split"]] == [(300, 100)] * 2


def test_learning_curve_and_tuning(toy_data):
    specs, y = toy_data
    curve = learning_curve(specs, y, [50, 200], n_repeats=2, test_size=100, **TINY)
    assert curve["n_train"].tolist() == [50, 200] and (curve["n_test"] == 100).all()
    assert {"kendall_tau_mean", "kendall_tau_std", "rmse_mean", "fit_seconds_mean"} <= set(curve.columns)
    best, table = tune_config(specs[:200], y[:200], [{"max_depth": 1}, {"max_depth": 3}], n_folds=3,
                              config=SurrogateConfig(**TINY))
    assert best.max_depth in (1, 3) and len(table) == 2
    nested = evaluate_surrogate(specs[:200], y[:200], n_repeats=1, n_folds=2,
                                tune_candidates=[{"max_depth": 2}], tune_folds=2, **TINY)
    assert [r["chosen"] for r in nested["per_split"]] == [0, 0]


def test_nb101_quality_floor(nb101):
    """Conservative CI floor: the default config reaches τ ≈ 0.75 on 800/200 splits (see
    benchmarks/surrogate.py); fail only on a real regression."""
    specs, y = nb101
    rep = evaluate_surrogate(specs, y, n_repeats=3, train_fraction=0.8, seed=0)
    assert rep["mean"]["kendall_tau"] >= 0.65, rep["mean"]
    assert rep["mean"]["sparse_kendall_tau"] >= 0.65 and rep["mean"]["spearman_rho"] >= 0.8
