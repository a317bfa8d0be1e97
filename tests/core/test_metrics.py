"""Metric math against hand-computed confusion matrices and scikit-learn."""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import balanced_accuracy_score, cohen_kappa_score

from nas_assets.core.classification import (
    cohen_kappa,
    macro_accuracy,
    overall_accuracy,
    per_class_accuracy,
    summarize,
)

# rows = true class, columns = predicted
CONF = np.array([[5, 1, 0], [2, 3, 0], [0, 0, 4]])


def test_hand_computed_values():
    assert overall_accuracy(CONF) == 12 / 15
    assert np.allclose(per_class_accuracy(CONF), [5 / 6, 3 / 5, 1.0])
    assert math.isclose(macro_accuracy(CONF), (5 / 6 + 3 / 5 + 1) / 3)
    # p_o = 0.8, p_e = (6*7 + 5*4 + 4*4) / 15^2 = 78/225
    p_e = 78 / 225
    assert math.isclose(cohen_kappa(CONF), (0.8 - p_e) / (1 - p_e))


def test_macro_trails_micro_on_imbalanced_data():
    conf = np.array([[90, 0], [8, 2]])  # majority class always right, minority mostly wrong
    assert overall_accuracy(conf) == 0.92
    assert macro_accuracy(conf) == (1.0 + 0.2) / 2
    assert cohen_kappa(conf) < macro_accuracy(conf) < overall_accuracy(conf)


def test_agrees_with_sklearn_on_random_labels():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 17, 5000)
    p = np.where(rng.random(5000) < 0.6, y, rng.integers(0, 17, 5000))
    conf = np.bincount(y * 17 + p, minlength=17 * 17).reshape(17, 17)
    assert math.isclose(macro_accuracy(conf), balanced_accuracy_score(y, p))
    assert math.isclose(cohen_kappa(conf), cohen_kappa_score(y, p))


def test_absent_class_is_nan_and_excluded_from_macro():
    conf = np.array([[3, 1, 0], [0, 0, 0], [1, 0, 1]])
    acc = per_class_accuracy(conf)
    assert np.isnan(acc[1])
    assert math.isclose(macro_accuracy(conf), (0.75 + 0.5) / 2)
    out = summarize(conf, loss_sum=3.0, count=6)
    assert out["per_class_accuracy"][1] is None and out["loss"] == 0.5 and out["n_samples"] == 6


def test_empty_confusion_is_nan_not_an_error():
    empty = np.zeros((3, 3), int)
    assert math.isnan(overall_accuracy(empty)) and math.isnan(cohen_kappa(empty))
