"""Classification metrics from a confusion matrix (rows = true class, columns = prediction).

Pure numpy, so the same code scores a training run, a DDP-reduced confusion matrix or a
stored result. Accumulating confusion matrices (and summing them across processes) is what
makes the metrics exact under data parallelism.
"""

from __future__ import annotations

import numpy as np


def overall_accuracy(confusion: np.ndarray) -> float:
    """Fraction of correct predictions ("micro" accuracy)."""
    total = confusion.sum()
    return float(np.trace(confusion) / total) if total else float("nan")


def per_class_accuracy(confusion: np.ndarray) -> np.ndarray:
    """Recall of each class; NaN for classes absent from the true labels."""
    support = confusion.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(confusion) / support, np.nan)


def macro_accuracy(confusion: np.ndarray) -> float:
    """Mean per-class recall over the classes present (balanced accuracy)."""
    recalls = per_class_accuracy(confusion)
    present = ~np.isnan(recalls)
    return float(recalls[present].mean()) if present.any() else float("nan")


def cohen_kappa(confusion: np.ndarray) -> float:
    """Cohen's kappa: agreement beyond chance, (p_o - p_e) / (1 - p_e)."""
    c = confusion.astype(np.float64)
    n = c.sum()
    if n == 0:
        return float("nan")
    p_o = np.trace(c) / n
    p_e = float((c.sum(axis=0) * c.sum(axis=1)).sum()) / (n * n)
    return float((p_o - p_e) / (1.0 - p_e)) if p_e < 1.0 else float("nan")


def summarize(confusion: np.ndarray, loss_sum: float, count: int) -> dict:
    """All recorded metrics of one split at one budget."""
    return {
        "overall_accuracy": overall_accuracy(confusion),
        "macro_accuracy": macro_accuracy(confusion),
        "kappa": cohen_kappa(confusion),
        "loss": float(loss_sum / count) if count else float("nan"),
        "per_class_accuracy": [None if np.isnan(v) else float(v) for v in per_class_accuracy(confusion)],
        "n_samples": int(count),
    }
