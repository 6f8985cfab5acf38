"""Binary detection metrics, written out by hand (no scikit-learn in the runtime).

Positive class = fake (label 1); scores are p_fake (or any monotone score).
"""

from __future__ import annotations

import numpy as np


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                np.ndarray]:
    """(fpr, tpr, thresholds), thresholds decreasing; predicted fake when score >= threshold.

    The first point is (0, 0) at threshold +inf; tied scores form one step.
    """
    y = np.asarray(labels, np.int64)
    s = np.asarray(scores, np.float64)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    distinct = np.r_[np.flatnonzero(np.diff(s)), y.size - 1]
    tps = np.cumsum(y)[distinct]
    fps = (1 + distinct) - tps
    pos, neg = max(int(y.sum()), 1), max(int((1 - y).sum()), 1)
    fpr = np.r_[0.0, fps / neg]
    tpr = np.r_[0.0, tps / pos]
    thresholds = np.r_[np.inf, s[distinct]]
    return fpr, tpr, thresholds


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve = P(score of a fake > score of a real), ties count half."""
    y = np.asarray(labels, np.int64)
    s = np.asarray(scores, np.float64)
    pos, neg = s[y == 1], s[y == 0]
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (pos.size * neg.size))


def equal_error_rate(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """(EER, threshold): where the false-positive and false-negative rates meet,
    linearly interpolated between the two ROC points that bracket the crossing."""
    y = np.asarray(labels, np.int64)
    if y.size == 0 or y.min() == y.max():
        return float("nan"), float("nan")
    fpr, tpr, thr = roc_curve(labels, scores)
    fnr = 1.0 - tpr
    diff = fnr - fpr  # decreasing from 1 to -1 along the curve
    i = int(np.flatnonzero(diff <= 0)[0])
    if diff[i] == 0 or i == 0:
        return float(fpr[i]), float(thr[i])
    w = diff[i - 1] / (diff[i - 1] - diff[i])
    eer = fpr[i - 1] + w * (fpr[i] - fpr[i - 1])
    threshold = thr[i] if not np.isfinite(thr[i - 1]) else thr[i - 1] + w * (thr[i] - thr[i - 1])
    return float(eer), float(threshold)


def binary_metrics(labels, scores, threshold: float = 0.5) -> dict:
    """AUC, accuracy, precision, recall, F1, EER and the confusion matrix at `threshold`.

    confusion_matrix is [[TN, FP], [FN, TP]] (rows: true real, true fake).
    """
    y = np.asarray(labels, np.int64)
    s = np.asarray(scores, np.float64)
    pred = (s >= threshold).astype(np.int64)
    tp = int(((pred == 1) & (y == 1)).sum())
    tn = int(((pred == 0) & (y == 0)).sum())
    fp = int(((pred == 1) & (y == 0)).sum())
    fn = int(((pred == 0) & (y == 1)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    eer, eer_threshold = equal_error_rate(y, s)
    return {
        "count": int(y.size), "fakes": int(y.sum()), "reals": int((1 - y).sum()),
        "threshold": float(threshold),
        "auc": roc_auc(y, s),
        "accuracy": (tp + tn) / y.size if y.size else float("nan"),
        "precision": precision, "recall": recall, "f1": f1,
        "eer": eer, "eer_threshold": eer_threshold,
        "confusion_matrix": [[tn, fp], [fn, tp]],
    }
